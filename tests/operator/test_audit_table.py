"""The audit table an admin reads in a terminal: 100 columns, worst first, colour only on a TTY."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import BROKEN_DUMP

from migrate import api
from migrate.audit.findings import Severity
from migrate.cli import main
from migrate.report.table import id_ranges, render_audit, use_colour

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def report():
    rep = api.audit(api.source_spec(dump=BROKEN_DUMP))
    yield rep
    rep.close()


def test_fits_100_columns_through_the_cli(monkeypatch, report):
    monkeypatch.setenv("COLUMNS", "100")
    result = CliRunner().invoke(main, ["audit", "--dump", str(BROKEN_DUMP)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert not ANSI.search(result.output)  # not a terminal: no colour
    totals = report.by_severity()
    assert lines[1].startswith(
        f"{report.total} findings: {totals['error']} errors, {totals['warning']} warnings,"
    )
    assert lines[-2:] == [
        "Next, plan the repair (read-only):",
        f"  drupal-migrate repair plan --dump {BROKEN_DUMP} -o plan.json",
    ]


def test_narrow_terminal_still_fits(report):
    text = render_audit(report, width=72)
    assert max(len(line) for line in text.splitlines()) <= 72


def test_sorted_by_severity_then_count_and_clean_checks_folded(report):
    text = render_audit(report, width=100)
    rows = re.findall(r"^  (error|warning|notice)\s+([\d,]+)\s+(\S+)", text, re.M)
    ranks = [(-Severity(sev).rank, -int(n.replace(",", ""))) for sev, n, _ in rows]
    assert ranks == sorted(ranks)
    assert [r[2] for r in rows][:2] == ["taxonomy.dangling_field_ref", "links.broken_term_routes"]
    clean = [r.id for r in report.checks if not r.count]
    assert clean and all(check not in {r[2] for r in rows} for check in clean)
    folded = re.search(r"No findings \((\d+) checks\):((?:.|\n)*?)\n\n", text)
    assert folded and int(folded.group(1)) == len(clean)
    assert all(check in folded.group(2) for check in clean)


def test_colour_on_a_terminal_only_and_never_with_no_color(report, monkeypatch):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_colour(Tty()) and not use_colour(io.StringIO())
    coloured = render_audit(report, width=100, colour=True)
    assert "\x1b[31m" in coloured  # errors in red
    assert max(len(ANSI.sub("", line)) for line in coloured.splitlines()) <= 100
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_colour(Tty())


def test_a_real_terminal_gets_colour_unless_no_color(tmp_path):
    """Through a pseudo-terminal, as an admin's shell runs it."""
    script = (
        "import pty,sys; sys.exit(pty.spawn([sys.executable,'-m','migrate','audit','--dump',"
        f"{str(BROKEN_DUMP)!r},'--check','taxonomy.unloadable_term']))"
    )
    for no_color, expect in (("", True), ("1", False)):
        env = {"NO_COLOR": no_color, "COLUMNS": "100", "PATH": "/usr/bin:/bin"}
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, env=env, timeout=120
        ).stdout.decode()
        assert "4 findings: 4 errors" in ANSI.sub("", out)
        assert bool(ANSI.search(out)) is expect, out


def test_id_ranges_collapse_long_lists():
    ids = list(range(1, 1102))
    assert id_ranges(ids) == "1-1101 (1,101 ids)"
    scattered = id_ranges([1, 2, 3, 7, 9, 10, *range(20, 60, 2)], limit=4)
    assert scattered == "1-3, 7, 9-10, 20, … (26 ids)"


def test_loading_a_dump_has_its_own_labelled_bar(tmp_path):
    """On a terminal the first read of a dump shows a bar of its own; the second has none."""
    script = (
        "import pty,sys; sys.exit(pty.spawn([sys.executable,'-m','migrate','inspect','--dump',"
        f"{str(BROKEN_DUMP)!r}]))"
    )
    env = {"DRUPAL_MIGRATE_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    runs = [
        subprocess.run([sys.executable, "-c", script], capture_output=True, env=env, timeout=120)
        for _ in range(2)
    ]
    first, second = (ANSI.sub("", r.stdout.decode()) for r in runs)
    assert f"Loading {BROKEN_DUMP.name} into the cache" in first
    assert "100%" in first
    assert "Loading" not in second and "Drupal core:" in second


def test_export_text_collapses_a_long_id_list():
    from migrate.cli import _ranges_text

    text = _ranges_text(",".join(str(i) for i in range(1, 2202, 2)), 1101)
    assert text == "1, 3, 5, 7, 9, 11, 13, 15, 17, 19, … (1,101 ids, all in reconciliation.json)"
