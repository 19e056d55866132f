"""Helpers shared by the export tests: run an export, read a bundle back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from migrate import api
from migrate.config import ConnectionSpec
from migrate.export.engine import ExportOptions, ExportSummary
from migrate.export.reader import Selection

BASE_URL = "http://www.example.edu.vn"
ROOT = Path(__file__).resolve().parents[2]


def run_export(spec: ConnectionSpec, out: Path, **options: Any) -> ExportSummary:
    selection = Selection(
        include_unpublished=options.pop("include_unpublished", True),
        types=options.pop("types", ()),
        ids=options.pop("ids", ()),
        limit=options.pop("limit", None),
    )
    options.setdefault("base_url", BASE_URL)
    return api.export(spec, out, ExportOptions(selection=selection, **options))


def run_hugo_export(spec: Any, out: Path, **options: Any) -> None:
    """A Hugo export, which must reconcile like any other (``Unaccounted`` fails the test)."""
    run_export(spec, out, to="hugo", **options)


def bundle_files(out: Path) -> dict[str, bytes]:
    """Every JSONL file of a bundle, by path relative to the bundle."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.glob("*/*.jsonl"))}


def records(out: Path, kind: str | None = None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted(out.glob("*/*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            data = json.loads(line)
            if kind is None or data["kind"] == kind:
                found.append(data)
    return found


def by_key(out: Path, kind: str, key: str) -> dict[Any, dict[str, Any]]:
    items = records(out, kind)
    keyed = {r[key]: r for r in items}
    assert len(keyed) == len(items), f"duplicate {kind} records in the bundle"
    return keyed


def cli(*args: str, **kw: Any) -> subprocess.Popen[bytes]:
    """Start ``python -m migrate ...`` as a real subprocess."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "migrate", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kw,
    )


def hugo_node_pages(out: Path) -> dict[str, Path]:
    """A Hugo export's node pages by URL folder under ``content``: ``a/b.md`` (a page
    without images) and ``a/b/index.md`` (a bundle) both answer at ``/a/b/``."""
    pages: dict[str, Path] = {}
    for path in sorted((out / "content").rglob("*.md")):
        if path.name == "_index.md":
            continue
        folder = path.parent if path.name == "index.md" else path.with_suffix("")
        pages[folder.relative_to(out / "content").as_posix()] = path
    return pages


def hugo_node_page(out: Path, folder: str) -> Path:
    """The page answering at ``/<folder>/`` (``hugo_node_pages``)."""
    leaf = out / "content" / f"{folder}.md"
    return leaf if leaf.is_file() else out / "content" / folder / "index.md"
