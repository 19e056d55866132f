"""The output read back by a process of its own (a big output) proves what reading it here does."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import query, run_sql
from export_helpers import hugo_node_pages, run_export

from migrate.config import ConnectionSpec
from migrate.errors import StateError, Unaccounted
from migrate.export import engine, outputread
from migrate.export.readback import WHOLE, Part, readback_for
from migrate.export.reconcile import Comparison, Reconciliation

TIMINGS = ("read_back_seconds", "output_seconds")


def _report(out: Path) -> dict[str, Any]:
    data = json.loads((out / "reconciliation.json").read_text(encoding="utf-8"))
    for key in TIMINGS:
        data.pop(key)
    return dict(data)


@pytest.fixture
def apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every output, however small, read back (and fingerprinted) by spawned processes."""
    monkeypatch.setattr(outputread, "READ_APART_ITEMS", 0)
    monkeypatch.setattr(outputread, "FINGERPRINT_APART_ITEMS", 0)


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
    page = next(iter(hugo_node_pages(out).values()))
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


@pytest.mark.parametrize("where", ["here", "apart"])
def test_a_damaged_cache_is_made_again(
    where: str, broken_db: ConnectionSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "bundle"
    run_export(broken_db, out)
    if where == "apart":
        monkeypatch.setattr(outputread, "READ_APART_ITEMS", 0)
    (out / outputread.READBACK_CACHE).write_bytes(b"not a database at all\n" * 100)
    batch = sorted((out / "nodes").glob("batch-*.jsonl"))[0]
    lines = batch.read_bytes().splitlines(keepends=True)
    batch.write_bytes(b"".join(lines[1:]))
    with pytest.raises(Unaccounted):  # the lost line, found by parsing every file again
        run_export(broken_db, out)
    batch.write_bytes(b"".join(lines))
    rec = run_export(broken_db, out).reconciliation
    assert rec is not None and rec.reconciled


def test_a_cache_that_is_not_a_file_is_one_error(
    apart: None, broken_db: ConnectionSpec, tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    run_export(broken_db, out)
    batch = sorted((out / "nodes").glob("batch-*.jsonl"))[0]
    batch.write_bytes(batch.read_bytes() + b"\n")  # a changed file: the cache is needed
    cache = out / outputread.READBACK_CACHE
    cache.unlink()
    cache.mkdir()
    with pytest.raises(StateError, match="not a file; move it away"):
        run_export(broken_db, out)
    assert cache.is_dir()


def test_a_printing_sitecustomize_does_not_garble_the_answer(
    apart: None,
    broken_db: ConnectionSpec,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text('print("sitecustomize loaded")\n', encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(site))
    rec = run_export(broken_db, tmp_path / "bundle").reconciliation
    assert rec is not None and rec.reconciled and rec.output_seconds > 0


@pytest.mark.parametrize("where", ["here", "apart"])
def test_an_out_folder_whose_name_is_not_utf8(
    where: str, broken_db: ConnectionSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if where == "apart":
        monkeypatch.setattr(outputread, "READ_APART_ITEMS", 0)
    out = Path(os.fsdecode(os.fsencode(tmp_path) + b"/b\xe0i vi\xfft"))
    rec = run_export(broken_db, out).reconciliation
    assert rec is not None and rec.reconciled


SLOW_READER = """
import time
from migrate.export.readback import ReadBack, register_readback

def items(out_dir, seen=None):
    time.sleep(120)
    yield from ()

register_readback("slow-test", ReadBack(items))
"""
EXPORT_KILLED = """
import os, sys, time
from pathlib import Path
import slow_reader
from migrate.export.readback import readback_for
from migrate.export.outputread import OutputReading
reading = OutputReading(readback_for("slow-test"), Path(sys.argv[1]), None, 10**9)
print(reading.processes[0].process.pid, flush=True)
time.sleep(1)
os._exit(0)  # gone without a word, as a killed export would be
"""


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie has ended: it only waits to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_the_reader_ends_when_the_export_process_is_gone(tmp_path: Path) -> None:
    (tmp_path / "slow_reader.py").write_text(SLOW_READER, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", EXPORT_KILLED, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    )
    pid = int(done.stdout.split()[0])
    deadline = time.monotonic() + 20
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(pid), "the reading process outlived the export by 20 s"


@pytest.mark.parametrize("to", ["wxr", "hugo"])
def test_the_first_run_reads_its_whole_output_once(
    apart: None,
    to: str,
    broken_db: ConnectionSpec,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reading process hands back the fingerprint of the bytes it parsed: the output
    is digested only on a re-run that may keep the comparison, once, by processes of
    their own taken from the re-run's start (``early_fingerprint``), and what they
    digest is what the reader did (the re-run keeps it)."""
    readback = readback_for(to)
    digests: list[str] = []
    fingerprint = readback.fingerprint
    assert fingerprint is not None

    def counted(out_dir: Path, part: Part = WHOLE) -> str:
        digests.append(fingerprint(out_dir, part))
        return digests[-1]

    readings: list[bool] = []
    init = outputread.OutputReading.__init__

    def spied(self: outputread.OutputReading, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        readings.append(self.fingerprint_only)

    monkeypatch.setattr(readback, "fingerprint", counted)
    monkeypatch.setattr(outputread.OutputReading, "__init__", spied)
    out = tmp_path / to
    first = run_export(broken_db, out, to=to)
    assert first.reconciliation is not None and first.reconciliation.reconciled
    assert digests == [] and readings == [False]
    readings.clear()
    again = run_export(broken_db, out, to=to, update=True)
    assert again.reconciliation is not None and again.reconciliation.same_as_run == first.run_id
    assert digests == [] and readings == [True]  # in the processes, not here


@pytest.mark.parametrize("parts", [2, 3])
def test_an_output_read_in_parts_gives_what_reading_it_whole_does(
    apart: None,
    parts: int,
    broken_db: ConnectionSpec,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Hugo pages are shared among one reading process per CPU: the parts' items and
    fingerprints, put together, are the whole output's (a re-run then keeps the
    comparison), and every part's scratch file is gone afterwards."""
    out = tmp_path / "hugo"
    monkeypatch.setattr(outputread.os, "cpu_count", lambda: 1)
    whole = run_export(broken_db, tmp_path / "whole", to="hugo").reconciliation
    monkeypatch.setattr(outputread.os, "cpu_count", lambda: parts)
    first = run_export(broken_db, out, to="hugo")
    assert first.reconciliation is not None and whole is not None
    assert _report(out) == _report(tmp_path / "whole")
    assert not list(out.glob(".readback*.sqlite"))
    again = run_export(broken_db, out, to="hugo", update=True)
    assert again.reconciliation is not None and again.reconciliation.same_as_run == first.run_id


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size)
        for p in folder.rglob("*")
        if p.is_file()
    }


@pytest.mark.parametrize(("to", "settled"), [("hugo", "content"), ("jsonl", "nodes")])
def test_a_first_run_reads_its_pages_while_it_writes_its_redirects(
    apart: None,
    to: str,
    settled: str,
    broken_db: ConnectionSpec,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reading starts when the node phase ends, and no later phase writes a page:
    what the early reading saw of the folder it reads first is what the export leaves.
    A re-run, which has a comparison to keep, starts none."""
    from migrate.export import engine

    out = tmp_path / to
    started: list[dict[str, tuple[int, int]]] = []
    early = engine.early_reading

    def noted(*args: Any) -> outputread.OutputReading | None:
        reading = early(*args)
        if reading is not None:
            started.append(_files(out / settled))
        return reading

    monkeypatch.setattr(engine, "early_reading", noted)
    first = run_export(broken_db, out, to=to)
    assert first.reconciliation is not None and first.reconciliation.reconciled
    assert len(started) == 1 and started[0] == _files(out / settled)
    redirects = [c for c in first.reconciliation.counts if c.what == "redirects"]
    assert redirects and redirects[0].found > 0
    again = run_export(broken_db, out, to=to, update=True)
    assert again.reconciliation is not None and again.reconciliation.same_as_run == first.run_id
    assert len(started) == 1


def test_a_held_reading_reads_what_lies_outside_content_only_once_released(
    broken_db: ConnectionSpec, tmp_path: Path
) -> None:
    """A redirect page written after the reading started is read (the reading's
    fingerprint is the finished output's): the first part waits for ``release``."""
    out = tmp_path / "hugo"
    run_export(broken_db, out, to="hugo")
    readback = readback_for("hugo")
    assert readback.fingerprint is not None
    reading = outputread.OutputReading(readback, out, None, 10**9, hold=True)
    try:
        assert reading.started
        time.sleep(1.0)  # the pages are read by now, or being read
        late = out / "static" / "written-late" / "index.html"
        late.parent.mkdir(parents=True)
        late.write_text("<!doctype html>", encoding="utf-8")
        read = reading.result()
    finally:
        reading.close()
        outputread.remove_scratch(out)
    assert read.fingerprint == readback.fingerprint(out)


def test_a_held_jsonl_reading_reads_files_written_or_replaced_after_it_started(
    broken_db: ConnectionSpec, tmp_path: Path
) -> None:
    """A file-wise reading that lists its files itself reads ``nodes`` first, then,
    once released, every file written since and any node file replaced since (which
    no phase should do): the files it hands back are the finished output's."""
    from migrate.export.reconcile import output_digests

    out = tmp_path / "jsonl"
    run_export(broken_db, out)
    (out / outputread.READBACK_CACHE).unlink()  # every file is parsed again
    readback = readback_for("jsonl")
    reading = outputread.OutputReading(readback, out, None, 10**9, hold=True)
    try:
        assert reading.started
        time.sleep(1.0)  # the node files are read by now, or being read
        late = out / "redirects" / "batch-999999.jsonl"
        late.write_text('{"kind": "redirect", "source": "written-late"}\n', encoding="utf-8")
        batch = sorted((out / "nodes").glob("batch-*.jsonl"))[0]
        lines = batch.read_bytes().splitlines(keepends=True)
        lost = str(json.loads(lines[0])["nid"])
        replaced = batch.with_name("replaced.tmp")
        replaced.write_bytes(b"".join(lines[1:]))
        replaced.replace(batch)
        read = reading.result()
    finally:
        reading.close()
    assert read.outputs == tuple(output_digests(readback, out) or ())
    cache = sqlite3.connect(out / outputread.READBACK_CACHE)
    try:
        found = set(cache.execute("SELECT kind, key FROM sum_found"))
    finally:
        cache.close()
    assert ("redirect", "written-late") in found
    assert ("node", lost) not in found


def test_a_rerun_that_writes_does_not_use_the_fingerprint_taken_at_its_start(
    apart: None, broken_db_rw: ConnectionSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fingerprint taken from a re-run's start is of the output before its batches:
    a run that writes one compares with the output as it is at its end."""
    out = tmp_path / "hugo"
    run_export(broken_db_rw, out, to="hugo")
    [(nid,)] = query(broken_db_rw, "SELECT MIN(entity_id) FROM field_data_body")
    run_sql(
        broken_db_rw,
        f"UPDATE field_data_body SET body_value = '<p>Mới</p>' WHERE entity_id = {nid}",
    )
    passed: list[outputread.OutputReading | None] = []
    compare = engine.reconcile

    def spied(job: Comparison) -> Reconciliation:
        passed.append(job.fingerprinting)
        return compare(job)

    monkeypatch.setattr(engine, "reconcile", spied)
    again = run_export(broken_db_rw, out, to="hugo", update=True)
    assert again.batches >= 1 and again.updated["node"] == 1
    assert passed == [None]
    assert again.reconciliation is not None and again.reconciliation.reconciled
    assert again.reconciliation.same_as_run is None


@pytest.mark.parametrize("to", ["wxr", "hugo"])
def test_a_small_output_is_fingerprinted_here(
    to: str, broken_db: ConnectionSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under ``FINGERPRINT_APART_ITEMS`` a re-run digests its output in its own process,
    once: starting processes (~0.5 s) would cost more than it saves."""
    readback = readback_for(to)
    fingerprint = readback.fingerprint
    assert fingerprint is not None
    digests: list[str] = []

    def counted(out_dir: Path, part: Part = WHOLE) -> str:
        assert part == WHOLE
        digests.append(fingerprint(out_dir, part))
        return digests[-1]

    monkeypatch.setattr(readback, "fingerprint", counted)
    first = run_export(broken_db, tmp_path / to, to=to)
    again = run_export(broken_db, tmp_path / to, to=to, update=True)
    assert again.reconciliation is not None and first.reconciliation is not None
    assert again.reconciliation.same_as_run == first.run_id
    assert len(digests) == 1
