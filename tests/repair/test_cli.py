"""The repair commands as an operator types them."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from conftest import url_of

from migrate.cli import main
from migrate.config import ConnectionSpec


def test_plan_summary_apply_needs_yes_and_undo(
    broken_db_rw: ConnectionSpec, tmp_path: Path
) -> None:
    runner = CliRunner()
    db = url_of(broken_db_rw)
    plan = tmp_path / "plan.json"
    done = runner.invoke(main, ["repair", "plan", "--db", db, "-o", str(plan)])
    assert done.exit_code == 0, done.output
    assert "tid 5 'Tin Công đoàn' → restore (name recovered; evidence:" in done.output
    assert "menu_links" in done.output and json.loads(plan.read_text())["operations"]
    refused = runner.invoke(main, ["repair", "apply", str(plan), "--db", db])
    assert refused.exit_code == 2 and "pass -y/--yes" in refused.output
    journal = tmp_path / "j.jsonl"
    applied = runner.invoke(
        main, ["repair", "apply", str(plan), "--db", db, "--yes", "--journal", str(journal)]
    )
    assert applied.exit_code == 0, applied.output
    assert "taxonomy.dangling_field_ref  331     0" in applied.output
    assert "Cleared cache entries: cache_field:" in applied.output
    undone = runner.invoke(main, ["repair", "undo", str(journal), "--db", db])
    assert undone.exit_code == 0 and "Restored" in undone.output


def test_recover_json_and_bad_strategy(broken_db: ConnectionSpec, clean_db: ConnectionSpec) -> None:
    runner = CliRunner()
    done = runner.invoke(
        main,
        [
            "recover",
            "--db",
            url_of(broken_db),
            "--compare-db",
            url_of(clean_db),
            "--format",
            "json",
        ],
    )
    assert done.exit_code == 0, done.output
    terms = {t["tid"]: t for t in json.loads(done.output)["terms"]}
    assert terms[9]["outcome"] == "exact" and terms[35]["outcome"] == "no evidence"
    bad = runner.invoke(main, ["repair", "plan", "--db", url_of(broken_db), "--strategy", "5=burn"])
    assert bad.exit_code == 2 and "TID=ACTION" in bad.output
