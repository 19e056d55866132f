"""From a --dump: apply writes a repaired copy, a SQL patch and a whole repaired dump."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

from click.testing import CliRunner
from conftest import BROKEN_DUMP, Databases, url_of

from migrate import api
from migrate.cli import main
from migrate.source import DumpSpec


def test_dump_patch_loads_and_repairs(databases: Databases, tmp_path: Path) -> None:
    spec = api.source_spec(dump=BROKEN_DUMP, cache_dir=tmp_path / "cache")
    assert isinstance(spec, DumpSpec)
    plan = api.plan_repair(spec)
    out = tmp_path / "out"
    report = api.apply_repair(spec, plan, yes=True, out=out)
    assert report.before["taxonomy.dangling_field_ref"] == 331
    left = {c: n for c, n in report.after.items() if n}
    assert left == {"breadcrumb.notice_pages": 3}, left  # 35, 43, 44: a web-server rule
    patch = out / "repair.sql"
    assert (out / "repaired.sqlite").exists() and (out / "journal.jsonl").exists()
    assert "DELETE FROM `cache_menu`" in patch.read_text(encoding="utf-8")
    target = databases.create(BROKEN_DUMP)
    databases.load(target.database, patch)
    audit = api.audit(target, ["taxonomy.*", "links.*"])
    assert {r.id: r.count for r in audit.checks if r.count} == {}


def test_dump_apply_writes_a_whole_repaired_dump(databases: Databases, tmp_path: Path) -> None:
    spec = api.source_spec(dump=BROKEN_DUMP, cache_dir=tmp_path / "cache")
    out = tmp_path / "out"
    api.apply_repair(spec, api.plan_repair(spec), yes=True, out=out)
    repaired = out / "repaired.sql.gz"
    assert not (out / "repaired.sql.gz.partial").exists()
    target = databases.create(repaired)
    audit = api.audit(target, ["taxonomy.*", "links.*"])
    assert {r.id: r.count for r in audit.checks if r.count} == {}


def test_repaired_dump_audits_from_the_file_as_from_mariadb(
    databases: Databases, tmp_path: Path
) -> None:
    # The patch's UPDATEs and DELETEs are applied by the dump reader itself.
    spec = api.source_spec(dump=BROKEN_DUMP, cache_dir=tmp_path / "cache")
    out = tmp_path / "out"
    api.apply_repair(spec, api.plan_repair(spec), yes=True, out=out)
    repaired = out / "repaired.sql.gz"
    from_file = api.audit(
        api.source_spec(dump=repaired, cache_dir=tmp_path / "cache"), ["taxonomy.*", "links.*"]
    )
    assert {r.id: r.count for r in from_file.checks if r.count} == {}
    target = databases.create(repaired)
    reports = []
    cache = str(tmp_path / "cache")
    for source in (["--db", url_of(target)], ["--dump", str(repaired), "--cache-dir", cache]):
        options = ["--format", "json", "--fail-on", "never"]
        result = CliRunner().invoke(main, ["audit", *source, *options], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        reports.append(json.loads(result.output))
    server, dump = reports
    assert server.pop("source") != dump.pop("source")
    assert server == dump


def _prefixed_copy(dump: Path, dest: Path, prefix: str) -> Path:
    """The fixture as a site installed with a table prefix: every table statement renamed."""
    import gzip
    import re

    statement = re.compile(
        rb"^((?:/\*!40000 )?(?:ALTER TABLE|CREATE TABLE|DROP TABLE IF EXISTS|INSERT INTO"
        rb"|LOCK TABLES) `)",
        re.M,
    )
    with gzip.open(dump, "rb") as fh:
        data = statement.sub(rb"\1" + prefix.encode(), fh.read())
    dest.write_bytes(gzip.compress(data, mtime=0))
    return dest


def test_offline_repair_of_a_prefixed_dump_loads_and_audits_clean(
    databases: Databases, tmp_path: Path
) -> None:
    dump = _prefixed_copy(BROKEN_DUMP, tmp_path / "dr.sql.gz", "dr_")
    cache = str(tmp_path / "cache")
    runner = CliRunner()
    planned = runner.invoke(
        main,
        [
            "repair",
            "plan",
            "--dump",
            str(dump),
            "--cache-dir",
            cache,
            "-o",
            str(tmp_path / "p.json"),
        ],
    )
    assert planned.exit_code == 0, planned.output
    script = runner.invoke(
        main,
        ["repair", "plan", "--dump", str(dump), "--cache-dir", cache, "--sql"],
    )
    assert script.exit_code == 0, script.output
    tables = set(re.findall(r"(?:INSERT INTO|UPDATE|DELETE FROM) `([a-z0-9_]+)`", script.output))
    assert tables and all(t.startswith("dr_") for t in tables), tables
    out = tmp_path / "out"
    applied = runner.invoke(
        main,
        [
            "repair",
            "apply",
            str(tmp_path / "p.json"),
            "--dump",
            str(dump),
            "--cache-dir",
            cache,
            "--out",
            str(out),
            "--yes",
        ],
    )
    assert applied.exit_code == 0, applied.output
    patch = (out / "repair.sql").read_text(encoding="utf-8")
    assert "DELETE FROM `dr_cache_menu`" in patch and "`taxonomy_term_data`" not in patch
    # Loaded by the mariadb client, the repaired dump is a clean site under its prefix.
    target = databases.create(out / "repaired.sql.gz")
    prefixed = api.source_spec(db=url_of(target) + "?prefix=dr_")
    audit = api.audit(prefixed, ["taxonomy.*", "links.*", "breadcrumb.*"])
    # Clean of all a database change fixes; the dropped tags' URLs need the web server.
    assert {r.id: r.count for r in audit.checks if r.count} == {"breadcrumb.notice_pages": 3}
    notices = audit.result("breadcrumb.notice_pages").findings
    assert {f.entity.to_dict()["fix"] for f in notices} == {"web_server_rule"}
    assert audit.result("taxonomy.dangling_field_ref").count == 0
    # The "to go back" hint is a command that works: it removes what the repair wrote.
    hint = next(line for line in applied.output.splitlines() if "To go back" in line)
    command = hint.split("To go back: ", 1)[1]
    digest = hashlib.sha256(dump.read_bytes()).hexdigest()
    subprocess.run(["sh", "-c", command], check=True)
    assert not any(out.iterdir()) and hashlib.sha256(dump.read_bytes()).hexdigest() == digest
