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
