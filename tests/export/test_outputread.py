"""The output read back by a process of its own (a big output) proves what reading it here does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from export_helpers import run_export

from migrate.config import ConnectionSpec
from migrate.errors import StateError, Unaccounted
from migrate.export import outputread

TIMINGS = ("read_back_seconds", "output_seconds")


def _report(out: Path) -> dict[str, Any]:
    data = json.loads((out / "reconciliation.json").read_text(encoding="utf-8"))
    for key in TIMINGS:
        data.pop(key)
    return dict(data)


@pytest.fixture
def apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every output, however small, read back by a spawned process."""
    monkeypatch.setattr(outputread, "READ_APART_ITEMS", 0)


@pytest.mark.parametrize("to", ["jsonl", "wxr", "hugo"])
def test_reading_apart_gives_the_same_reconciliation(
    to: str, broken_db: ConnectionSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = run_export(broken_db, tmp_path / "here", to=to).reconciliation
    monkeypatch.setattr(outputread, "READ_APART_ITEMS", 0)
    there = run_export(broken_db, tmp_path / "apart", to=to).reconciliation
    assert here is not None and there is not None
    assert here.reconciled and there.reconciled
    assert _report(tmp_path / "here") == _report(tmp_path / "apart")
    assert there.output_seconds > 0
    assert not list((tmp_path / "apart").glob(".readback.sqlite*"))


def test_a_line_lost_is_still_found_when_read_apart(
    apart: None, broken_db: ConnectionSpec, tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    run_export(broken_db, out)
    batch = sorted((out / "nodes").glob("batch-*.jsonl"))[0]
    lines = batch.read_bytes().splitlines(keepends=True)
    lost = json.loads(lines[0])["nid"]
    batch.write_bytes(b"".join(lines[1:]))
    with pytest.raises(Unaccounted):
        run_export(broken_db, out)
    report = json.loads((out / "reconciliation.json").read_text(encoding="utf-8"))
    assert {
        "kind": "node",
        "id": str(lost),
        "what": "not in the output and no reason given",
    } in report["unaccounted"]


@pytest.mark.parametrize("where", ["here", "apart"])
def test_an_unreadable_output_is_one_error_wherever_it_is_read(
    where: str, broken_db: ConnectionSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "hugo"
    run_export(broken_db, out, to="hugo")
    if where == "apart":
        monkeypatch.setattr(outputread, "READ_APART_ITEMS", 0)
    page = next(out.glob("content/**/index.md"))
    page.write_text("+++\ntitle = [unclosed\n+++\nbody\n", encoding="utf-8")
    with pytest.raises(StateError, match="front matter is not valid TOML"):
        run_export(broken_db, out, to="hugo")


def test_a_damaged_wxr_file_from_an_earlier_run_is_one_error(
    broken_db: ConnectionSpec, tmp_path: Path
) -> None:
    out = tmp_path / "wxr"
    run_export(broken_db, out, to="wxr")
    first = sorted(out.glob("wxr-*.xml"))[0]
    first.write_bytes(first.read_bytes()[:-200])
    with pytest.raises(StateError, match=f"{first.name}: not well-formed XML"):
        run_export(broken_db, out, to="wxr")
