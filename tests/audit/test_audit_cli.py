"""`drupal-migrate audit`: every format, --check selection, --fail-on exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from conftest import url_of

from migrate.audit import FindingStore
from migrate.audit.content import MissingAuthor
from migrate.audit.findings import Finding, Severity
from migrate.cli import main

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "migrate/audit/audit.schema.json").read_text()
)


def audit(*args: str):
    return CliRunner().invoke(main, ["audit", *args], catch_exceptions=False)


def test_table_is_the_default_and_errors_fail(broken_db):
    result = audit("--db", url_of(broken_db))
    assert result.exit_code == 1
    assert re.search(r"error\s+331\s+taxonomy\.dangling_field_ref", result.output)
    assert re.search(r"error\s+17\s+breadcrumb\.notice_pages", result.output)
    assert "fix: " in result.output
    assert "findings:" in result.output.splitlines()[1]
    assert result.output.splitlines()[-1].startswith("  drupal-migrate repair plan --db")


@pytest.mark.parametrize(("level", "code"), [("error", 1), ("warning", 1), ("never", 0)])
def test_fail_on_levels_on_the_broken_site(broken_db, level, code):
    assert audit("--db", url_of(broken_db), "--fail-on", level).exit_code == code


def test_fail_on_warning_without_errors(broken_db):
    result = audit("--db", url_of(broken_db), "--check", "taxonomy.index_*", "--fail-on", "error")
    assert result.exit_code == 0
    result = audit("--db", url_of(broken_db), "--check", "taxonomy.index_*", "--fail-on", "warning")
    assert result.exit_code == 1


@pytest.mark.parametrize("level", ["error", "warning"])
def test_clean_site_exits_zero(clean_db, level):
    assert audit("--db", url_of(clean_db), "--fail-on", level).exit_code == 0


def test_json_is_complete_and_valid(broken_db, tmp_path):
    out = tmp_path / "audit.json"
    result = audit("--db", url_of(broken_db), "--format", "json", "--output", str(out))
    assert result.exit_code == 1
    data = json.loads(out.read_text(encoding="utf-8"))
    jsonschema.validate(data, SCHEMA)
    counts = {c["id"]: c["count"] for c in data["checks"]}
    assert counts["taxonomy.dangling_field_ref"] == 331
    assert counts["links.broken_term_routes"] == 40
    assert all(len(c["findings"]) == c["count"] for c in data["checks"])
    assert data["summary"]["findings"] == sum(counts.values())
    assert [c["id"] for c in data["checks"]] == sorted(counts)


def test_json_on_stdout_is_stable(broken_db):
    first = audit("--db", url_of(broken_db), "--format", "json", "--fail-on", "never")
    second = audit("--db", url_of(broken_db), "--format", "json", "--fail-on", "never")
    assert first.exit_code == 0
    assert first.output == second.output
    json.loads(first.output)


def test_check_globs_select(broken_db):
    result = audit(
        "--db",
        url_of(broken_db),
        "--format",
        "json",
        "--check",
        "taxonomy.*",
        "--check",
        "links.broken_term_routes",
        "--fail-on",
        "never",
    )
    ids = [c["id"] for c in json.loads(result.output)["checks"]]
    assert ids == sorted(ids)
    assert "links.broken_term_routes" in ids
    assert all(i.startswith("taxonomy.") or i == "links.broken_term_routes" for i in ids)


def test_unknown_check_is_bad_input(broken_db):
    result = CliRunner().invoke(main, ["audit", "--db", url_of(broken_db), "--check", "nope.*"])
    assert result.exit_code == 2
    assert "matches no check" in result.output


def test_list_checks():
    result = audit("--list-checks")
    assert result.exit_code == 0
    for check_id in (
        "taxonomy.dangling_field_ref",
        "links.broken_term_routes",
        "breadcrumb.notice_pages",
        "content.missing_author",
    ):
        assert check_id in result.output


def test_html_report_is_self_contained(broken_db, tmp_path):
    out = tmp_path / "report.html"
    result = audit(
        "--db",
        url_of(broken_db),
        "--format",
        "html",
        "--output",
        str(out),
        "--base-url",
        "https://new.example.edu.vn/",
        "--fail-on",
        "never",
    )
    assert result.exit_code == 0
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<svg" in page and "<style>" in page
    assert "<script" not in page and "<link" not in page
    assert not re.search(r"""(src|href)=["']https?://(?!new\.example\.edu\.vn/)""", page)
    assert 'href="https://new.example.edu.vn/node/56"' in page
    assert "Kiểm định chất lượng giáo dục" in page
    checks = json.loads(
        audit("--db", url_of(broken_db), "--format", "json", "--fail-on", "never").output
    )["checks"]
    assert page.count("<details id=") == len([c for c in checks if c["count"]])
    assert all(c["id"] in page for c in checks)


def test_html_escapes_database_text(tmp_path):
    from migrate.audit import AuditReport, CheckResult
    from migrate.report.html import write_html

    result = CheckResult("x.y", "t", Severity.ERROR, "d")
    entity = MissingAuthor(nid=1, uid=9, title="<i>")
    result.store.add(Finding("x.y", Severity.ERROR, "<b>bad</b>", entity))
    result.by_severity = {"error": 1, "warning": 0, "notice": 0}
    out = tmp_path / "r.html"
    with out.open("w", encoding="utf-8") as fh:
        write_html(AuditReport("<src>", None, [result]), fh)
    page = out.read_text(encoding="utf-8")
    assert "<b>bad" not in page and "&lt;b&gt;bad" in page and "&lt;i&gt;" in page


def test_large_results_spill_to_disk_and_come_back_in_order(monkeypatch):
    monkeypatch.setattr(FindingStore, "LIMIT", 2)
    store = FindingStore()
    made = [
        Finding("a.b", Severity.WARNING, f"m{i}", MissingAuthor(nid=i, uid=0, title=None))
        for i in range(5)
    ]
    for finding in made:
        store.add(finding)
    assert store.count == 5
    assert [f.message for f in store] == [f.message for f in made]
    assert [f.entity for f in store] == [f.entity for f in made]  # typed records come back
    assert all(isinstance(f.entity, MissingAuthor) for f in store)
    store.close()


def test_dump_and_server_give_the_same_json(broken_db, tmp_path):
    from conftest import BROKEN_DUMP

    server = audit("--db", url_of(broken_db), "--format", "json", "--fail-on", "never")
    dump = audit(
        "--dump",
        str(BROKEN_DUMP),
        "--cache-dir",
        str(tmp_path),
        "--format",
        "json",
        "--fail-on",
        "never",
    )
    assert dump.exit_code == 0, dump.output
    first, second = json.loads(server.output), json.loads(dump.output)
    assert first.pop("source") != second.pop("source")
    assert first == second
