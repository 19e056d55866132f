"""The real ``hugo`` on an exported site, for every test directory (tests/ is on the path)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def build_hugo(site: Path, dest: Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """``hugo`` (Debian's) on an exported site; fails the test when hugo is missing."""
    hugo = shutil.which("hugo")
    if hugo is None:
        pytest.fail("hugo is needed for this test (apt-get install hugo; .ci/run installs it)")
    return subprocess.run(
        [hugo, "--buildDrafts", "--source", str(site), "--destination", str(dest)],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
