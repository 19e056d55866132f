"""What every hostile-input case asserts, in one place.

A hostile case runs the real CLI in a subprocess (no in-process shortcuts, so a
traceback or a stray print is seen exactly as a user sees it) and checks three
things: the documented exit code, a one-line message on stderr, and that no file
outside the output folder was created, changed or removed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class CliResult:
    """What a user saw: the exit code and both streams, decoded."""

    code: int
    stdout: str
    stderr: str


def run_cli(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    stdin: str | None = None,
) -> CliResult:
    """Run ``python -m migrate ARGS`` as a user would; never raises on a non-zero exit."""
    full_env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(REPO), **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "migrate", *args],
        cwd=cwd,
        env=full_env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def error_lines(result: CliResult) -> list[str]:
    """The non-empty lines of stderr (progress bars are not drawn when piped)."""
    return [line for line in result.stderr.splitlines() if line.strip()]


def assert_one_line_error(result: CliResult, code: int, contains: str = "") -> None:
    """The exit code is ``code``; stderr is one line, no traceback, naming ``contains``."""
    lines = error_lines(result)
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.code == code, f"exit {result.code}, expected {code}: {result.stderr[-1000:]}"
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {lines[:5]}"
    assert contains.lower() in lines[0].lower(), f"{contains!r} not in {lines[0]!r}"


def assert_no_traceback(result: CliResult) -> None:
    """A correct result may warn, but never crashes."""
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr[
        -2000:
    ]


@dataclass(frozen=True)
class Entry:
    """One path's fingerprint: kind, content digest or link target, and mode."""

    kind: str
    digest: str
    mode: int


def snapshot(root: Path, skip: tuple[Path, ...] = ()) -> dict[str, Entry]:
    """Every path under ``root`` (links not followed), except those under ``skip``."""
    skipped = tuple(p.resolve() for p in skip)
    found: dict[str, Entry] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        if any(here.resolve() == s or s in here.resolve().parents for s in skipped):
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            path = here / name
            if any(path.absolute() == s for s in skipped):
                continue
            st = path.lstat()
            rel = str(path.relative_to(root))
            if path.is_symlink():
                found[rel] = Entry("link", os.readlink(path), st.st_mode)
            elif path.is_dir():
                found[rel] = Entry("dir", "", st.st_mode)
            else:
                found[rel] = Entry(
                    "file", hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mode
                )
    return found


class TreeGuard:
    """Fingerprints a tree before a run, to prove nothing outside ``out`` moved."""

    def __init__(self, root: Path, out: Path) -> None:
        self.root = root
        self.out = out
        self.before = snapshot(root, skip=(out,))

    def changes(self) -> list[str]:
        after = snapshot(self.root, skip=(self.out,))
        changed = [f"changed {p}" for p in self.before if p in after and after[p] != self.before[p]]
        changed += [f"removed {p}" for p in self.before if p not in after]
        changed += [f"created {p}" for p in after if p not in self.before]
        return sorted(changed)

    def assert_unchanged(self) -> None:
        assert self.changes() == [], self.changes()[:20]
