"""A table a check reads is missing: the check says so, it never reports a quiet 0.

Every table each check declares (``reads``), on a private copy of the broken site, is
taken away and the check run through the real CLI: no traceback, exit 1 (an error
finding), and the JSON names the table under that check with ``kind: table_missing``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from conftest import BROKEN_DUMP, query, run_sql, url_of
from harness import assert_no_traceback, assert_one_line_error, run_cli

from migrate.audit import available_checks
from migrate.config import ConnectionSpec

# A field group stands for its first table on the broken site (the body field for text).
GROUP_TABLE = {
    "@term_data": "field_data_field_chuyen_muc",
    "@term_revision": "field_revision_field_chuyen_muc",
    "@text_data": "field_data_body",
    "@text_revision": "field_revision_body",
    "@node_fields": "field_revision_body",
}
CASES = [
    (spec.id, GROUP_TABLE.get(read, read)) for spec in available_checks() for read in spec.reads
]


@pytest.fixture(scope="module")
def site(databases) -> ConnectionSpec:
    """One private copy of the broken site; each case hides one table and puts it back."""
    return databases.create(BROKEN_DUMP)


@pytest.fixture
def hidden(site: ConnectionSpec, request: pytest.FixtureRequest) -> Iterator[str]:
    table = request.param
    run_sql(site, f"RENAME TABLE `{table}` TO `dm_hidden_{table}`")
    try:
        yield table
    finally:
        run_sql(site, f"RENAME TABLE `dm_hidden_{table}` TO `{table}`")


def _audit_json(site: ConnectionSpec, *args: str) -> tuple[int, dict]:
    result = run_cli("audit", "--db", url_of(site), "--format", "json", *args)
    assert_no_traceback(result)
    return result.code, json.loads(result.stdout)


def test_every_check_that_reads_a_table_declares_it():
    declared = {check for check, _ in CASES}
    assert len(CASES) >= 20
    # Only checks on tables every Drupal 7 site must have (verified on connect) declare none.
    assert {s.id for s in available_checks()} - declared == {
        "content.missing_current_revision",
        "taxonomy.orphan_hierarchy",
        "taxonomy.unloadable_term",
    }


def test_the_field_groups_stand_for_real_tables(site):
    tables = {name for (name,) in query(site, "SHOW TABLES")}
    assert set(GROUP_TABLE.values()) <= tables


@pytest.mark.parametrize(
    ("check", "hidden"), CASES, indirect=["hidden"], ids=[f"{c}-{t}" for c, t in CASES]
)
def test_a_missing_table_is_reported_not_counted_as_zero(site, check, hidden):
    code, report = _audit_json(site, "--check", check)
    assert code == 1  # an error finding: the documented "findings at --fail-on" exit
    (result,) = report["checks"]
    assert result["id"] == check
    missing = [f for f in result["findings"] if f["entity"].get("kind") == "table_missing"]
    assert [f["entity"]["table"] for f in missing] == [hidden]
    assert missing[0]["severity"] == "error" and hidden in missing[0]["message"]
    assert result["count"] == len(result["findings"]) >= 1


@pytest.mark.parametrize(
    ("table", "checks"),
    [("taxonomy_index", "taxonomy.index_*"), ("menu_links", "links.*")],
)
def test_dropped_for_good_shows_in_the_table_too(broken_db_rw, table, checks):
    run_sql(broken_db_rw, f"DROP TABLE `{table}`")
    result = run_cli("audit", "--db", url_of(broken_db_rw), "--check", checks)
    assert_no_traceback(result)
    assert result.code == 1
    assert f"table {table} is missing" in result.stdout


def test_repair_plan_refuses_when_a_table_it_needs_is_missing(broken_db_rw, guarded):
    run_sql(broken_db_rw, "DROP TABLE `taxonomy_index`")
    plan = guarded.out / "plan.json"
    result = run_cli("repair", "plan", "--db", url_of(broken_db_rw), "-o", str(plan))
    assert_one_line_error(result, 5, "taxonomy_index")
    assert not plan.exists()


def test_a_clean_site_reports_no_missing_table(clean_db):
    code, report = _audit_json(clean_db, "--fail-on", "never")
    kinds = {f["entity"].get("kind") for c in report["checks"] for f in c["findings"]}
    assert "table_missing" not in kinds and code == 0
