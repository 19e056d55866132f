"""The repair commands as an operator types them."""

from __future__ import annotations

import json
import os
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


def test_the_go_back_hint_after_a_database_repair_works_as_printed(
    broken_db_rw: ConnectionSpec, tmp_path: Path
) -> None:
    """The printed undo names the database (undo refuses another one) and runs as it is."""
    import shlex
    import subprocess
    import sys

    from conftest import query

    db = url_of(broken_db_rw)
    terms_before = query(broken_db_rw, "SELECT tid, vid, name FROM taxonomy_term_data ORDER BY tid")
    plan = tmp_path / "plan.json"
    runner = CliRunner()
    assert runner.invoke(main, ["repair", "plan", "--db", db, "-o", str(plan)]).exit_code == 0
    journal = tmp_path / "journal.jsonl"
    applied = runner.invoke(
        main, ["repair", "apply", str(plan), "--db", db, "--yes", "--journal", str(journal)]
    )
    assert applied.exit_code == 0, applied.output
    assert query(broken_db_rw, "SELECT tid FROM taxonomy_term_data ORDER BY tid") != [
        (t,) for t, _, _ in terms_before
    ]
    # The URLs only the web server can stop are named, with the rules files that stop them.
    rules = [tmp_path / "plan.redirects.nginx.conf", tmp_path / "plan.redirects.apache.conf"]
    assert all(p.is_file() for p in rules)
    still = next(line for line in applied.output.splitlines() if "still show the" in line)
    assert "term(s) 35, 43, 44" in still and all(str(p) in still for p in rules)
    hint = next(line for line in applied.output.splitlines() if line.startswith("To go back: "))
    words = shlex.split(hint.removeprefix("To go back: "))
    assert words[:3] == ["drupal-migrate", "repair", "undo"] and "--db" in words
    env = {k: v for k, v in os.environ.items() if k != "DRUPAL_DB_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "migrate", *words[1:]],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Restored" in done.stdout
    after = query(broken_db_rw, "SELECT tid, vid, name FROM taxonomy_term_data ORDER BY tid")
    assert after == terms_before
