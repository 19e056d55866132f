"""The hostile suite's own guard catches what it must (a guard that never fires proves nothing)."""

from __future__ import annotations

from pathlib import Path

from harness import CliResult, TreeGuard, assert_one_line_error, run_cli


def test_guard_sees_a_change_outside_out_and_ignores_out(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    guard = TreeGuard(tmp_path, out)
    (out / "inside.txt").write_text("fine", encoding="utf-8")
    assert guard.changes() == []
    (tmp_path / "a.txt").write_text("y", encoding="utf-8")
    (tmp_path / "b.txt").symlink_to("/etc/hostname")
    assert guard.changes() == ["changed a.txt", "created b.txt"]


def test_one_line_error_rejects_a_traceback() -> None:
    crashed = CliResult(1, "", "Traceback (most recent call last):\n  boom\nValueError: x\n")
    try:
        assert_one_line_error(crashed, 1)
    except AssertionError:
        return
    raise AssertionError("a traceback passed as a one-line error")


def test_a_missing_dump_is_one_line(tmp_path: Path) -> None:
    result = run_cli("audit", "--dump", str(tmp_path / "nope.sql.gz"))
    assert_one_line_error(result, 2, "nope.sql.gz")
