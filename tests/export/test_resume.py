"""Kill a real export with SIGKILL in the middle of its node batches, resume, compare."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from conftest import url_of
from export_helpers import BASE_URL, bundle_files, by_key, cli

from migrate.config import ConnectionSpec


def _args(spec: ConnectionSpec, out: Path) -> list[str]:
    return [
        "export",
        "--db",
        url_of(spec),
        "--out",
        str(out),
        "--batch-size",
        "3",
        "--include-unpublished",
        "--revisions",
        "all",
        "--base-url",
        BASE_URL,
        "--format",
        "json",
    ]


def test_sigkill_mid_batch_then_resume_equals_an_uninterrupted_run(
    broken_db: ConnectionSpec, tmp_path: Path
) -> None:
    reference = tmp_path / "reference"
    done = cli(*_args(broken_db, reference))
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err.decode()

    victim = tmp_path / "victim"
    proc = cli(*_args(broken_db, victim))
    deadline = time.monotonic() + 120
    while not list((victim / "nodes").glob("batch-*.jsonl")):
        assert proc.poll() is None, "the export finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    written_before = len(list((victim / "nodes").glob("batch-*.jsonl")))
    assert 0 < written_before < 218 // 3, "the kill must land in the middle of the nodes"

    resumed = cli(*_args(broken_db, victim))
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err.decode()
    summary = json.loads(out)
    assert summary["resumed"] is True
    assert summary["reconciliation"]["reconciled"] is True

    assert bundle_files(victim) == bundle_files(reference)
    nodes = by_key(victim, "node", "nid")
    assert sorted(nodes) == sorted(by_key(reference, "node", "nid"))
    assert len(nodes) == 218
    assert not list(victim.glob("*/.*.tmp"))
