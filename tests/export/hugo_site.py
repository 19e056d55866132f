"""The Hugo fixture site (``hugo_fixture_site`` in tests/conftest.py): built once per session.

It is the repaired fixture with every file present.

The site is what a user gets by following the README (repair plan, repair apply,
export --to hugo with --files-dir, hugo), so the visitor-facing tests (pages,
links, redirects through nginx and Apache) all look at the same real build.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from conftest import BROKEN_DUMP, Databases
from export_helpers import ROOT, run_export
from hugo_build import build_hugo

from migrate import api
from migrate.config import ConnectionSpec

MAPPING = ROOT / "mappings" / "drupal7-vn.yml"


@dataclass(frozen=True)
class HugoSite:
    spec: ConnectionSpec
    export: Path
    public: Path
    files: Path
    plan: Path
    build: subprocess.CompletedProcess[str]


def make_files_dir(spec: ConnectionSpec, root: Path, skip: int = 0) -> dict[str, int]:
    """A stand-in sites/default/files: every public file (but the first ``skip``) at its size."""
    with api.connect(spec) as site:
        rows = site.source.rows("SELECT uri, filesize FROM {file_managed} ORDER BY fid")
    made: dict[str, int] = {}
    for uri, size in rows[skip:]:
        rel = str(uri).removeprefix("public://")
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(i % 251 for i in range(int(size))))
        made[rel] = int(size)
    return made


def _cli(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "migrate", *args], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def build_fixture_site(databases: Databases, root: Path) -> HugoSite:
    """Repair plan + apply on the broken dump, load it, export with every file, build."""
    plan = root / "plan.json"
    _cli("repair", "plan", "--dump", str(BROKEN_DUMP), "--mapping", str(MAPPING), "-o", str(plan))
    repaired = root / "repaired"
    _cli("repair", "apply", str(plan), "--dump", str(BROKEN_DUMP), "--out", str(repaired), "--yes")
    spec = databases.create(repaired / "repaired.sql.gz")
    files = root / "files"
    make_files_dir(spec, files)
    out = root / "site"
    run_export(spec, out, to="hugo", files_dir=files)
    public = root / "public"
    return HugoSite(spec, out, public, files, plan, build_hugo(out, public))
