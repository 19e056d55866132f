"""The export, status and rollback commands: options, output, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from conftest import run_sql, url_of
from export_helpers import BASE_URL

from migrate.cli import main
from migrate.config import ConnectionSpec


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_export_status_rollback(broken_db: ConnectionSpec, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    code, stdout, stderr = _invoke(
        "export",
        "--db",
        url_of(broken_db),
        "--out",
        str(out),
        "--types",
        "page",
        "--ids",
        "1-10,15",
        "--batch-size",
        "7",
        "--base-url",
        BASE_URL,
    )
    assert code == 0, stderr
    assert "all counts reconcile" in stdout
    assert "not in --ids" in stdout and "type article not in --types" in stdout
    progress = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert progress and progress[-1]["done"] == progress[-1]["total"]

    code, stdout, _ = _invoke("status", str(out), "--format", "json")
    assert code == 0
    report = json.loads(stdout)
    assert report["writer"] == "jsonl"
    assert set(report["nodes_by_type"]) == {"page"}
    assert report["runs"][0]["status"] == "complete"

    code, stdout, _ = _invoke("status", str(out))
    assert code == 0 and "Runs:" in stdout and "Highwater" in stdout

    code, stdout, _ = _invoke("rollback", str(out), "--all")
    assert code == 0 and "Rolled back" in stdout
    assert not list(out.glob("nodes/*.jsonl"))


def test_export_json_summary_and_limit(broken_db: ConnectionSpec, tmp_path: Path) -> None:
    code, stdout, stderr = _invoke(
        "export",
        "--db",
        url_of(broken_db),
        "--out",
        str(tmp_path / "b"),
        "--limit",
        "10",
        "--format",
        "json",
    )
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["added"]["node"] == 10
    assert summary["reconciliation"]["reconciled"] is True
    reasons = {r["reason"] for r in summary["reconciliation"]["left_out"] if r["kind"] == "node"}
    assert any("--limit" in r for r in reasons)


def test_bad_input_exit_codes(broken_db: ConnectionSpec, tmp_path: Path) -> None:
    db = url_of(broken_db)
    code, _, stderr = _invoke("export", "--db", db, "--out", str(tmp_path / "x"), "--ids", "5-a")
    assert code == 2 and "--ids" in stderr
    code, _, stderr = _invoke("export", "--db", db, "--out", str(tmp_path / "x"), "--to", "nope")
    assert code == 2
    mapping = tmp_path / "map.yml"
    mapping.write_text("content_types:\n  article: post\nvocabularies: [oops\n", encoding="utf-8")
    code, _, stderr = _invoke(
        "export", "--db", db, "--out", str(tmp_path / "y"), "--mapping", str(mapping)
    )
    assert code == 2 and f"{mapping}:" in stderr
    code, _, stderr = _invoke("status", str(tmp_path / "not-an-export"))
    assert code == 8
    code, _, stderr = _invoke("rollback", str(tmp_path / "y"))
    assert code in (2, 8)


def test_mapping_renames_types_and_vocabularies(broken_db: ConnectionSpec, tmp_path: Path) -> None:
    mapping = tmp_path / "map.yml"
    mapping.write_text(
        "# fixture mapping\ncontent_types:\n  article: post\n"
        "vocabularies:\n  chuyen_muc: category\n",
        encoding="utf-8",
    )
    out = tmp_path / "b"
    code, _, stderr = _invoke(
        "export",
        "--db",
        url_of(broken_db),
        "--out",
        str(out),
        "--mapping",
        str(mapping),
        "--ids",
        "21",
    )
    assert code == 0, stderr
    [node] = [json.loads(line) for p in out.glob("nodes/*.jsonl") for line in p.open()]
    assert node["target_type"] == "post" and node["path"].startswith("/post/")
    vocabularies = [json.loads(line) for p in out.glob("vocabularies/*.jsonl") for line in p.open()]
    assert {v["machine_name"]: v["target"] for v in vocabularies}["chuyen_muc"] == "category"
    terms = [json.loads(line) for p in out.glob("terms/*.jsonl") for line in p.open()]
    assert any(t["path"].startswith("/category/") for t in terms)


def test_many_reasons_to_leave_out_are_summed_up(
    broken_db_rw: ConnectionSpec, tmp_path: Path
) -> None:
    """An unpublished node's alias is one reason each: a big site printed thousands of lines."""
    run_sql(
        broken_db_rw,
        "UPDATE node SET status = 0 WHERE nid IN (SELECT * FROM (SELECT CAST(SUBSTRING("
        "source, 6) AS UNSIGNED) FROM url_alias WHERE source LIKE 'node/%' LIMIT 30) x)",
    )
    out = tmp_path / "bundle"
    code, stdout, stderr = _invoke("export", "--db", url_of(broken_db_rw), "--out", str(out))
    assert code == 0, stderr
    shown = [line for line in stdout.splitlines() if " left out (" in line]
    assert len(shown) == 20
    [more] = [line for line in stdout.splitlines() if "more reasons" in line]
    report = json.loads((out / "reconciliation.json").read_text(encoding="utf-8"))
    assert f"… {len(report['left_out']) - 20:,} more reasons" in more


def test_an_error_quoting_a_damaged_file_is_one_line(
    broken_db: ConnectionSpec, tmp_path: Path
) -> None:
    """lxml quotes the text it choked on (a body's HTML, newlines and all): still one line."""
    db, out = url_of(broken_db), tmp_path / "wxr"
    code, _, stderr = _invoke("export", "--db", db, "--out", str(out), "--to", "wxr")
    assert code == 0, stderr
    first = sorted(out.glob("wxr-*.xml"))[0]
    data = first.read_bytes()
    start = data.index(b"<content:encoded><![CDATA[", len(data) // 2)
    first.write_bytes(data[: data.index(b"\n", start) + 1])  # cut inside a body's CDATA
    code, _, stderr = _invoke("export", "--db", db, "--out", str(out), "--to", "wxr")
    assert code == 8, stderr
    errors = [line for line in stderr.splitlines() if not line.startswith('{"event"')]
    assert len(errors) == 1 and errors[0].startswith("drupal-migrate: error: "), stderr
    assert first.name in errors[0] and "CData section not finished" in errors[0]


def test_a_kept_comparison_says_so(broken_db: ConnectionSpec, tmp_path: Path) -> None:
    """An unchanged re-run keeps the last comparison and reads nothing: the text says
    that, not that the output was read back."""
    args = [
        "export",
        "--db",
        url_of(broken_db),
        "--out",
        str(tmp_path / "b"),
        "--base-url",
        BASE_URL,
    ]
    code, first, stderr = _invoke(*args)
    assert code == 0, stderr
    assert "the output read back from disk in" in first and "kept from run" not in first
    code, again, stderr = _invoke(*args, "--update")
    assert code == 0, stderr
    assert "Reconciliation (kept from run 1:" in again and "read back from disk" not in again
    assert "all counts reconcile" in again
