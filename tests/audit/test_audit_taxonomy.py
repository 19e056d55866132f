"""Taxonomy checks find exactly the ground truth on the broken site and nothing on the clean one."""

from __future__ import annotations

from typing import Any

import audit_fixtures
from conftest import query, run_sql

from migrate.audit import AuditReport

broken_report = audit_fixtures.broken_report
clean_report = audit_fixtures.clean_report


def _entities(report: AuditReport, check_id: str, **match: Any) -> list[dict[str, Any]]:
    return [
        f.entity.to_dict()
        for f in report.result(check_id).findings
        if all(f.entity.to_dict().get(k) == v for k, v in match.items())
    ]


def test_every_dangling_field_row_is_found_exactly(broken_report, ground_truth):
    expected = {
        (r["table"], r["nid"], r["vid"], r["field"], r["language"], r["delta"], r["missing_tid"])
        for r in ground_truth["broken_field_references"]
    }
    found = {
        (e["table"], e["nid"], e["vid"], e["field"], e["language"], e["delta"], e["tid"])
        for e in _entities(broken_report, "taxonomy.dangling_field_ref")
    }
    assert found == expected
    assert broken_report.result("taxonomy.dangling_field_ref").count == 331


def test_dangling_rows_split_by_table_revision_and_status(broken_report, ground_truth):
    rows = _entities(broken_report, "taxonomy.dangling_field_ref")
    assert sum(e["table"].startswith("field_data_") for e in rows) == 157
    assert sum(e["table"].startswith("field_revision_") for e in rows) == 174
    assert len({e["nid"] for e in rows}) == 121
    truth = {
        (r["table"], r["vid"], r["field"], r["delta"]): r
        for r in ground_truth["broken_field_references"]
    }
    for e in rows:
        expected = truth[(e["table"], e["vid"], e["field"], e["delta"])]
        assert e["current"] == expected["is_current_revision"]
        assert e["status"] == expected["node_status"]
        assert e["bundle"] == expected["bundle"]
        state = expected["term_state"].replace("term_row_present_but_", "")
        assert e["kind"] == state


def test_old_revision_rows_are_warnings_current_ones_errors(broken_report):
    for finding in broken_report.result("taxonomy.dangling_field_ref").findings:
        assert finding.severity.value == (
            "error" if finding.entity.to_dict()["current"] else "warning"
        )
        assert finding.hint


def test_references_only_in_old_revisions_are_reported_apart(broken_report, ground_truth):
    expected = {
        tuple(t)
        for t in ground_truth["broken_field_references_summary"][
            "node_field_tid_triples_only_in_old_revisions"
        ]
    }
    found = {
        (e["nid"], e["field"], e["tid"])
        for e in _entities(broken_report, "taxonomy.old_revision_only_ref")
    }
    assert found == expected


def test_terms_of_a_missing_vocabulary_are_unloadable(broken_report, ground_truth):
    terms = {
        (e["tid"], e["vid"])
        for e in _entities(broken_report, "taxonomy.unloadable_term", kind="vocabulary_missing")
    }
    assert terms == {
        (r["tid"], r["vid"]) for r in ground_truth["terms_whose_vocabulary_is_missing"]
    }
    fields = _entities(
        broken_report, "taxonomy.unloadable_term", kind="field_allows_missing_vocabulary"
    )
    assert [(e["field"], e["vocabulary"]) for e in fields] == [
        (r["field_name"], r["allowed_vocabulary_machine_name"])
        for r in ground_truth["field_config_referencing_missing_vocabulary"]
    ]


def test_dangling_hierarchy_rows(broken_report, ground_truth):
    rows = [
        e
        for e in _entities(broken_report, "taxonomy.orphan_hierarchy")
        if e["kind"] in ("term_unloadable", "parent_unloadable")
    ]
    assert {(e["tid"], e["parent"]) for e in rows} == {
        (r["tid"], r["parent"]) for r in ground_truth["dangling_hierarchy_rows"]
    }
    assert len(rows) == 7


def test_children_of_a_vanished_parent_are_unreachable_from_the_root(broken_report):
    unreachable = _entities(broken_report, "taxonomy.orphan_hierarchy", kind="unreachable")
    assert [e["tid"] for e in unreachable] == [3, 4]
    assert not _entities(broken_report, "taxonomy.orphan_hierarchy", kind="cycle")
    assert not _entities(broken_report, "taxonomy.orphan_hierarchy", kind="no_hierarchy_row")


def test_index_rows_for_unloadable_terms(broken_report, ground_truth):
    found = {(e["nid"], e["tid"]) for e in _entities(broken_report, "taxonomy.index_dangling")}
    assert found == {(r["nid"], r["tid"]) for r in ground_truth["taxonomy_index_orphans"]}
    assert len(found) == 59
    assert not _entities(broken_report, "taxonomy.index_dangling", kind="node_missing")


def test_index_matches_what_core_would_build(broken_report, clean_report):
    assert broken_report.result("taxonomy.index_stale").count == 0
    assert clean_report.result("taxonomy.index_stale").count == 0


def test_no_reference_points_at_a_vocabulary_the_field_does_not_allow(broken_report):
    assert broken_report.result("taxonomy.wrong_vocabulary").count == 0


def test_clean_site_has_no_taxonomy_findings(clean_report):
    for result in clean_report.checks:
        if result.id.startswith("taxonomy."):
            assert result.count == 0, result.id


def test_stale_index_rows_are_found(broken_db_rw):
    from migrate import api

    run_sql(
        broken_db_rw,
        "DELETE FROM taxonomy_index WHERE nid = 1 AND tid = 19",
        "INSERT INTO taxonomy_index (nid, tid, sticky, created) VALUES (1, 20, 0, 0)",
        "INSERT INTO taxonomy_index (nid, tid, sticky, created) VALUES (31, 1, 0, 0)",
    )
    referenced = {
        r[0]
        for r in query(
            broken_db_rw,
            "SELECT field_chuyen_muc_tid FROM field_data_field_chuyen_muc WHERE entity_id = 1",
        )
    }
    assert 19 in referenced and 20 not in referenced
    report = api.audit(broken_db_rw, ["taxonomy.index_stale"])
    found = {(e["nid"], e["tid"], e["kind"]) for e in _entities(report, "taxonomy.index_stale")}
    assert found == {
        (1, 19, "missing_row"),
        (1, 20, "not_in_current_revision"),
        (31, 1, "unpublished_node"),
    }


def test_reference_to_a_vocabulary_the_field_does_not_allow(broken_db_rw):
    from migrate import api

    run_sql(
        broken_db_rw,
        "INSERT INTO field_data_field_tags (entity_type, bundle, deleted, entity_id,"
        " revision_id, language, delta, field_tags_tid)"
        " SELECT 'node', type, 0, nid, vid, 'und', 9, 1 FROM node WHERE nid = 1",
    )
    report = api.audit(broken_db_rw, ["taxonomy.wrong_vocabulary"])
    found = [
        (e["nid"], e["field"], e["delta"], e["tid"], e["vocabulary"])
        for e in _entities(report, "taxonomy.wrong_vocabulary")
    ]
    assert found == [(1, "field_tags", 9, 1, "chuyen_muc")]
