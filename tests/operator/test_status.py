"""`status` reads like `drush migrate:status`: per kind Total / Exported / Unprocessed / Failed /
Last exported, with dates rather than Unix timestamps."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner
from conftest import BROKEN_DUMP

from migrate.cli import main


def test_status_is_a_drush_like_table(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    out = tmp_path / "bundle"
    runner = CliRunner()
    export = runner.invoke(
        main,
        ["export", "--dump", str(BROKEN_DUMP), "-o", str(out), "--limit", "40", "--workers", "0"],
    )
    assert export.exit_code == 0, export.output
    rec = json.loads((out / "reconciliation.json").read_text(encoding="utf-8"))
    nodes = next(c for c in rec["counts"] if c["what"] == "nodes")

    data = json.loads(runner.invoke(main, ["status", str(out), "--format", "json"]).output)
    kinds = {k["kind"]: k for k in data["kinds"]}
    assert list(kinds)[:5] == ["vocabulary", "term", "author", "file", "node"]
    node = kinds["node"]
    assert node["total"] == nodes["source"] == 218
    assert node["exported"] == nodes["found"] == 40
    assert node["unprocessed"] == 178 and node["failed"] == 0
    assert isinstance(node["last_exported"], float)

    text = runner.invoke(main, ["status", str(out)]).output
    lines = text.splitlines()
    assert max(len(line) for line in lines if str(out) not in line) <= 100
    header = next(line for line in lines if line.strip().startswith("kind"))
    assert header.split() == [
        "kind",
        "total",
        "exported",
        "unprocessed",
        "failed",
        "last",
        "exported",
    ]
    row = next(line for line in lines if line.strip().startswith("node "))
    assert re.fullmatch(r"\s*node\s+218\s+40\s+178\s+0\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row), row
    assert not re.search(r"\b1[0-9]{9}(\.\d+)?\b", text)  # no Unix timestamps anywhere
