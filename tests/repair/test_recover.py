"""Recovered names of deleted terms, checked against the clean fixture."""

from __future__ import annotations

from typing import Any

from migrate import api
from migrate.config import ConnectionSpec


def test_recovered_names_match_clean_fixture(
    broken_db: ConnectionSpec, clean_db: ConnectionSpec, ground_truth: dict[str, Any]
) -> None:
    report = api.recover(broken_db, clean_db)
    clean = {t["tid"]: t["name_in_clean_db"] for t in ground_truth["deleted_terms"]}
    terms = report.recovery.terms
    assert set(clean) <= set(terms)
    outcome = {tid: report.outcome(terms[tid]) for tid in clean}
    exact = {tid for tid, o in outcome.items() if o == "exact"}
    assert exact == {2, 5, 9, 10, 11, 44, 51, 52, 53}
    assert outcome[35] == "no evidence"
    assert outcome[43] == "differs"  # only the lower-case slug survives
    for tid in exact:
        assert terms[tid].name("low") == clean[tid]
    # names trusted enough to restore are never wrong
    for tid, term in terms.items():
        if term.name() is not None:
            assert term.name() == clean[tid]
    assert terms[10].parents == [9] and terms[2].parents == [1]
    assert terms[11].alias == "tin-tuc/tin-dao-tao/sau-dai-hoc"
    vocab = report.recovery.vocabularies[4]
    assert (vocab.machine_name, vocab.name) == ("chuyen_de", "Chuyên đề")


def test_watchdog_names_a_term_with_high_confidence(broken_db_rw: ConnectionSpec) -> None:
    from helpers import connect

    name = "hội thảo"
    variables = f'a:1:{{s:5:"%term";s:{len(name.encode())}:"{name}";}}'
    conn = connect(broken_db_rw)
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO watchdog (uid, type, message, variables, severity, link, location,"
            " referer, hostname, timestamp) VALUES (1, 'taxonomy', 'Created new term %%term.',"
            " %s, 5, '<a href=\"/taxonomy/term/35/edit\">edit</a>', '', '', '', 1)",
            (variables,),
        )
    conn.close()
    term = api.recover(broken_db_rw).recovery.terms[35]
    assert term.name() == "hội thảo" and term.name_confidence == "high"
    plan = api.plan_repair(broken_db_rw)
    assert {d.tid: d.action for d in plan.decisions}[35] == "restore"


def test_weights_come_from_menus_and_from_the_order_an_options_widget_stored(
    broken_db: ConnectionSpec, clean_db: ConnectionSpec
) -> None:
    from conftest import query

    terms = api.recover(broken_db).recovery.terms
    clean = dict(query(clean_db, "SELECT tid, weight FROM taxonomy_term_data"))
    # Menu links keep the weight of 2, 5, 9; node 88 stores 10 before 11 through an
    # options widget, which lists "Đại học chính quy" before "Sau đại học" only if
    # 11 is heavier (by name alone it would come first): the lowest such weight is 1.
    for tid in (2, 5, 9, 10, 11):
        assert terms[tid].weight == clean[tid], tid
    order = [e for e in terms[11].evidence if e.source == "field order"]
    assert order and order[0].confidence == "low" and "node 88" in order[0].detail
    assert not [e for e in terms[10].evidence if e.source == "field order"]


def test_a_dump_and_its_database_give_the_same_evidence_and_decisions(
    broken_db: ConnectionSpec, tmp_path
) -> None:
    from conftest import BROKEN_DUMP

    dump = api.source_spec(dump=BROKEN_DUMP, cache_dir=tmp_path / "cache")
    assert api.recover(dump).to_dict() == api.recover(broken_db).to_dict()
    decisions = {d.tid: d for d in api.plan_repair(broken_db).decisions}
    assert [d.to_dict() for d in api.plan_repair(dump).decisions] == [
        d.to_dict() for d in decisions.values()
    ]
    # One threshold, stated: a weak name is shown as weak, never as "no name recovered".
    assert decisions[43].action == "drop" and decisions[43].name == "olympic"
    assert "low-confidence" in decisions[43].reason and "no name" not in decisions[43].reason
    assert decisions[35].reason.startswith("no name recovered")


_PAGE = """<!DOCTYPE html><html><head><title>Tin Công đoàn | Trường</title></head><body>
<div id="breadcrumb"><h2 class="element-invisible">You are here</h2><div class="breadcrumb">
<a href="/">Trang chủ</a> » <a href="/tin-tuc">Tin tức</a></div></div>
<h1 class="title" id="page-title">Tin Công đoàn</h1>
<div class="term-listing-heading"><div id="taxonomy-term-5" class="taxonomy-term">
<div class="content"><div class="taxonomy-term-description"><p>Chuyên mục Tin Công đoàn</p>
</div></div></div></div></body></html>"""


def _php_page(body: bytes) -> bytes:
    """What drupal_page_set_cache() stores: serialize(array) with a gzipped body."""

    def s(raw: bytes) -> bytes:
        return b's:%d:"%s";' % (len(raw), raw)

    return (
        b"a:4:{"
        + s(b"path") + s(b"taxonomy/term/5")
        + s(b"body") + s(body)
        + s(b"title") + s("Tin Công đoàn".encode())
        + s(b"headers") + b"a:0:{}"
        + b"}"
    )  # fmt: skip


def test_cached_pages_and_filter_cache_restore_descriptions_as_they_were(
    broken_db_rw: ConnectionSpec, clean_db: ConnectionSpec, tmp_path
) -> None:
    import gzip
    import hashlib

    from conftest import query
    from helpers import connect

    # The term page of 5, cached before the deletion, and the filter cache of 2's
    # description (check_markup() keys it by format and the text's sha256).
    text = "<p>Chuyên mục Tin Đảng ủy</p>"
    conn = connect(broken_db_rw)
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO cache_page (cid, data, expire, created, serialized)"
            " VALUES (%s, %s, 0, 0, 1)",
            (
                "http://www.example.edu.vn/taxonomy/term/5",
                _php_page(gzip.compress(_PAGE.encode("utf-8"))),
            ),
        )
        cur.execute(
            "INSERT INTO cache_filter (cid, data, expire, created, serialized)"
            " VALUES (%s, %s, 0, 0, 0)",
            (f"filtered_html::{hashlib.sha256(text.encode()).hexdigest()}", text + "\n"),
        )
    conn.close()
    terms = api.recover(broken_db_rw).recovery.terms
    page = [e for e in terms[5].evidence if e.source == "cache_page"]
    assert {(e.name, e.parent, e.confidence) for e in page if e.name or e.parent} == {
        ("Tin Công đoàn", None, "high"),
        (None, 1, "medium"),
    }
    assert terms[2].described() is not None and terms[2].described().confidence == "high"
    assert terms[9].described() is None  # only the pattern, which restores nothing
    plan = api.plan_repair(broken_db_rw)
    api.apply_repair(broken_db_rw, plan, yes=True, journal=tmp_path / "j.jsonl")
    sql = (
        "SELECT tid, name, description, format, weight FROM taxonomy_term_data WHERE tid IN (2, 5)"
    )
    clean = {r[0]: r for r in query(clean_db, sql)}
    repaired = {r[0]: r for r in query(broken_db_rw, sql)}
    assert repaired[2] == clean[2]
    assert repaired[5][:2] == clean[5][:2] and repaired[5][3:] == clean[5][3:]
    assert repaired[5][2].strip() == clean[5][2].strip()  # the rendered text, as shown
