"""`drupal-migrate run`: the whole job from a profile, confirmation, dry run, resume, sites."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from child_signals import default_sigint
from click.testing import CliRunner
from conftest import BROKEN_DUMP, CLEAN_DUMP

from migrate import api
from migrate.cli import main
from migrate.pipeline import JOURNAL, read_journal
from migrate.progress import progress_for


def cli(cwd: Path, *args: str, stdin: str | None = None):
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)
    finally:
        os.chdir(old)


@pytest.fixture
def profiled(tmp_path: Path) -> Path:
    """A folder with the profile `init` writes for the bundled broken dump."""
    result = cli(tmp_path, "init", "--dump", str(BROKEN_DUMP), "--site", "vn")
    assert result.exit_code == 0, result.output
    return tmp_path


def test_init_then_run_yes_does_the_whole_job(profiled):
    result = cli(profiled, "run", "--yes", "--workers", "0")
    assert result.exit_code == 0, result.output
    out = profiled / "drupal-migrate-output/vn"
    before = json.loads((out / "audit.json").read_text())
    after = json.loads((out / "audit-after.json").read_text())
    assert before["summary"]["by_severity"]["error"] > 0
    assert after["summary"]["by_severity"]["error"] == 0
    assert after["summary"]["findings"] < before["summary"]["findings"] / 10
    assert (out / "repaired/repaired.sql.gz").is_file()
    # the export is of the repaired site: no reference to an unloadable term is left
    rec = json.loads((out / "export-jsonl/reconciliation.json").read_text())
    assert rec["reconciled"]
    assert not [item for item in rec["left_out"] if item["kind"] == "term"]
    counts = {c["what"]: c for c in rec["counts"]}
    nodes = [
        json.loads(line)
        for batch in (out / "export-jsonl/nodes").glob("batch-*.jsonl")
        for line in batch.read_text(encoding="utf-8").splitlines()
    ]
    assert len(nodes) == counts["nodes"]["found"] > 0
    assert not [n for n in nodes if n.get("problems")]
    assert (out / "redirects-jsonl.nginx.conf").read_text().count(";") > 100
    page = (out / "summary.html").read_text(encoding="utf-8")
    for link in ("audit.html", "plan.json", JOURNAL, "export-jsonl", "reconciliation.json"):
        assert f'href="{link}' in page or f'href="export-jsonl/{link}' in page, link
    assert "<script" not in page
    assert "zcat repaired/repaired.sql.gz | mariadb" in page
    assert "redirects-jsonl.nginx.conf" in result.output.split("Next (in ")[1]
    _, done = read_journal(out)
    assert list(done) == [
        "audit",
        "plan",
        "apply",
        "audit-after",
        "export-jsonl",
        "redirects-jsonl",
        "reconcile",
    ]
    again = cli(profiled, "run", "--yes")
    assert again.exit_code == 0
    assert again.output.count("done earlier") == 7


def test_dry_run_stops_after_the_plan(profiled):
    result = cli(profiled, "run", "--dry-run")
    assert result.exit_code == 0, result.output
    out = profiled / "drupal-migrate-output/vn"
    assert (out / "plan.json").is_file()
    assert not (out / "repaired").exists() and not (out / "export-jsonl").exists()
    assert "Dry run" in result.output
    assert "not run" in (out / "summary.html").read_text(encoding="utf-8")
    again = cli(profiled, "run", "--dry-run", "--format", "json")
    (data,) = json.loads(again.stdout)
    assert data["stopped_after"] == "plan" and data["site"] == "vn"
    assert [s["step"] for s in data["steps"]] == ["audit", "plan"]
    assert all(s["resumed"] for s in data["steps"])


def test_not_a_terminal_needs_yes_and_nothing_is_changed(profiled):
    result = cli(profiled, "run")
    assert result.exit_code == 2
    assert "pass -y/--yes" in result.output
    assert not (profiled / "drupal-migrate-output/vn/repaired").exists()


def test_an_interrupted_run_resumes_at_the_step_it_stopped(profiled):
    site = api.load_site(profiled / "drupal-migrate.toml", None)
    assert site is not None
    seen: list[str] = []

    def stop_at_export(title: str, number: int, total: int, record: object) -> None:
        seen.append(title)
        if title == "Export to jsonl" and record is None:
            raise KeyboardInterrupt

    common = {"confirm": lambda plan: True, "progress": progress_for, "workers": 0}
    with pytest.raises(KeyboardInterrupt):
        api.run_pipeline(site, notify=stop_at_export, **common)  # type: ignore[arg-type]
    _, done = read_journal(site.out)
    assert list(done) == ["audit", "plan", "apply", "audit-after"]
    # a line cut by a crash is ignored, its step redone
    with (site.out / JOURNAL).open("a") as fh:
        fh.write('{"event": "done", "step": "export-js')
    result = api.run_pipeline(site, notify=lambda *a: None, **common)  # type: ignore[arg-type]
    resumed = {r.step: r.resumed for r in result.records}
    assert resumed == {
        "audit": True,
        "plan": True,
        "apply": True,
        "audit-after": True,
        "export-jsonl": False,
        "redirects-jsonl": False,
        "reconcile": False,
    }
    assert result.ok


def test_a_changed_profile_is_not_resumed_silently(profiled):
    assert cli(profiled, "run", "--dry-run").exit_code == 0
    profile = profiled / "drupal-migrate.toml"
    profile.write_text(
        profile.read_text().replace('targets = ["jsonl"]', 'targets = ["hugo"]'), encoding="utf-8"
    )
    result = cli(profiled, "run", "--dry-run")
    assert result.exit_code == 8 and "--restart" in result.output
    assert cli(profiled, "run", "--dry-run", "--restart").exit_code == 0


def test_ctrl_c_prints_one_line_and_the_same_command_resumes(profiled, tmp_path):
    env = {**os.environ, "DRUPAL_MIGRATE_CACHE": str(tmp_path / "cache"), "NO_COLOR": "1"}
    command = [sys.executable, "-m", "migrate", "run", "--yes", "--workers", "0"]
    proc = subprocess.Popen(
        command,
        cwd=profiled,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert line.startswith("[1/7] Audit"), line
    proc.send_signal(signal.SIGINT)  # the dump is being loaded into a fresh cache
    rest = proc.stderr.read()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=60)
    assert proc.returncode == 130, rest
    assert rest.strip().splitlines()[-1] == (
        "drupal-migrate: interrupted: run the same command again to resume"
    ), rest
    assert "Traceback" not in rest
    again = subprocess.run(command, cwd=profiled, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "Done." in again.stdout, again.stderr


def test_all_sites_runs_each_and_prints_one_table(tmp_path):
    (tmp_path / "drupal-migrate.toml").write_text(
        f'[sites.broken]\ndump = "{BROKEN_DUMP}"\n[sites.clean]\ndump = "{CLEAN_DUMP}"\n',
        encoding="utf-8",
    )
    result = cli(tmp_path, "run", "--all-sites", "--yes", "--workers", "0")
    assert result.exit_code == 0, result.output
    table = result.output[result.output.index("site ") :]
    assert "broken" in table and "clean" in table
    for name in ("broken", "clean"):
        assert (tmp_path / f"drupal-migrate-output/{name}/summary.html").is_file()
    clean = json.loads((tmp_path / "drupal-migrate-output/clean/audit.json").read_text())
    assert clean["summary"]["by_severity"]["error"] == 0


def test_the_confirmation_reads_as_a_summary_on_a_terminal(profiled):
    """Through a pseudo-terminal: the plan in words, the question, and "n" changes nothing."""
    script = "import pty,sys; sys.exit(pty.spawn([sys.executable,'-m','migrate','run']) >> 8)"
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=profiled,
        input=b"n\n",
        capture_output=True,
        timeout=300,
        env={**os.environ, "NO_COLOR": "1"},
    )
    text = done.stdout.decode()
    assert "Repair plan for site vn" in text
    assert re.search(r"[\d,]+ operations on \d+ tables: [\d,]+ \w+", text), text
    assert re.search(r"term \d+: (restore|drop|remap) ", text), text
    assert "Apply this repair? [y/N]" in text
    assert "{'" not in text and "not confirmed" in text
    assert done.returncode == 2
    assert not (profiled / "drupal-migrate-output/vn/repaired").exists()


def test_wxr_target_then_validate_wxr_from_the_profile(tmp_path):
    (tmp_path / "drupal-migrate.toml").write_text(
        f'[sites.wp]\ndump = "{BROKEN_DUMP}"\ntargets = ["wxr"]\nredirects = "csv"\n'
        'old_urls = ["http://www.example.edu.vn"]\ntimezone = "Asia/Ho_Chi_Minh"\n',
        encoding="utf-8",
    )
    result = cli(tmp_path, "run", "-y", "--workers", "0")
    assert result.exit_code == 0, result.output
    out = tmp_path / "drupal-migrate-output/wp"
    assert list((out / "export-wxr").glob("wxr-*.xml"))
    assert (out / "redirects-wxr.csv").read_text(encoding="utf-8").count("\n") > 100
    checked = cli(tmp_path, "validate-wxr")
    assert checked.exit_code == 0, checked.output
    assert "WXR file(s) OK" in checked.output


def test_run_without_a_profile_says_how_to_write_one(tmp_path):
    result = cli(tmp_path, "run")
    assert result.exit_code == 2
    assert "drupal-migrate init --dump FILE" in result.output
    (tmp_path / "drupal-migrate.toml").write_text("[sites.empty]\ntargets = ['jsonl']\n")
    result = cli(tmp_path, "run")
    assert result.exit_code == 2 and "names no source" in result.output


def test_all_sites_goes_on_after_a_site_fails(tmp_path):
    (tmp_path / "drupal-migrate.toml").write_text(
        f'[sites.gone]\ndump = "missing.sql.gz"\n[sites.clean]\ndump = "{CLEAN_DUMP}"\n',
        encoding="utf-8",
    )
    result = cli(tmp_path, "run", "--all-sites", "-y", "--workers", "0")
    assert result.exit_code == 2
    assert "site gone: " in result.output and "missing.sql.gz" in result.output
    assert (tmp_path / "drupal-migrate-output/clean/summary.html").is_file()
    table = result.output[result.output.rindex("  site ") :]
    assert re.search(r"gone\s+error: ", table) and re.search(r"clean\s+ok\s", table)
