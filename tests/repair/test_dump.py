"""From a --dump: apply writes a repaired copy, a SQL patch and a whole repaired dump."""

from __future__ import annotations

import json
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
    assert all(n == 0 for n in report.after.values()), report.after
    patch = out / "repair.sql"
    assert (out / "repaired.sqlite").exists() and (out / "journal.jsonl").exists()
    assert "DELETE FROM `cache_page`" in patch.read_text(encoding="utf-8")
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
