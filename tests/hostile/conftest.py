"""Fixtures of the hostile-input suite: a guarded temporary tree around the output folder."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness import TreeGuard


@dataclass(frozen=True)
class Guarded:
    """``root`` holds ``out`` (the only place a run may write) and ``victim`` files beside it."""

    root: Path
    out: Path
    victim: Path


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[Guarded]:
    """A temp tree with victim files outside ``out``; fails the test if any of them changed."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "victim.txt").write_text("must survive\n", encoding="utf-8")
    (victim / "secret.txt").write_text("must never be published\n", encoding="utf-8")
    out = tmp_path / "out"
    guard = TreeGuard(tmp_path, out)
    yield Guarded(tmp_path, out, victim)
    guard.assert_unchanged()
