"""Supporting checks: authors, current revisions, aliases and text formats a migration needs."""

from __future__ import annotations

from conftest import run_sql

from migrate import api


def test_content_checks_find_injected_breakage(broken_db_rw):
    run_sql(
        broken_db_rw,
        "UPDATE node SET uid = 999 WHERE nid = 5",
        "UPDATE node SET vid = 9999 WHERE nid = 6",
        "INSERT INTO url_alias (source, alias, language) VALUES ('node/77777', 'ghost', 'und')",
        "INSERT INTO url_alias (source, alias, language) VALUES ('node/1', 'ghost', 'und')",
        "UPDATE field_data_body SET body_format = 'word_paste' WHERE entity_id = 8",
    )
    report = api.audit(broken_db_rw, ["content.*"])
    found = {r.id: [f.entity.to_dict() for f in r.findings] for r in report.checks}
    assert [(e["nid"], e["uid"]) for e in found["content.missing_author"]] == [(5, 999)]
    assert [(e["nid"], e["vid"]) for e in found["content.missing_current_revision"]] == [(6, 9999)]
    assert [e["source"] for e in found["content.alias_to_missing_node"]] == ["node/77777"]
    assert [(e["alias"], e["rows"]) for e in found["content.duplicate_alias"]] == [("ghost", 2)]
    assert [(e["nid"], e["format"]) for e in found["content.unknown_text_format"]] == [
        (8, "word_paste")
    ]
    report.close()


def test_the_fixtures_have_no_content_problems(broken_db, clean_db):
    for spec in (broken_db, clean_db):
        report = api.audit(spec, ["content.*"])
        assert report.total == 0
        report.close()
