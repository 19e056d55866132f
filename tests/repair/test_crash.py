"""A real apply killed with SIGKILL mid-way: undo still restores identical tables."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import url_of
from helpers import CACHE_TABLES, checksums, connect

from migrate import api
from migrate.config import ConnectionSpec


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["InnoDB", "MyISAM"])
def test_kill_mid_apply_then_undo(
    broken_db_rw: ConnectionSpec, tmp_path: Path, engine: str
) -> None:
    if engine == "MyISAM":
        conn = connect(broken_db_rw)
        with conn.cursor() as cur:
            cur.execute("ALTER TABLE field_revision_field_tags ENGINE=MyISAM")
        conn.close()
    plan_file = tmp_path / "plan.json"
    plan = api.plan_repair(broken_db_rw)
    plan_file.write_text(plan.to_json(), encoding="utf-8")
    tables = plan.tables() + CACHE_TABLES
    before = checksums(broken_db_rw, tables)
    journal = tmp_path / "journal.jsonl"
    cmd = [
        sys.executable, "-m", "migrate", "repair", "apply", str(plan_file), "--yes",
        "--db", url_of(broken_db_rw), "--journal", str(journal), "--batch-size", "7",
    ]  # fmt: skip
    if engine == "MyISAM":
        cmd.append("--allow-non-transactional")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.exists() and journal.read_text(encoding="utf-8").count('"type": "op"') >= 60:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "apply finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    text = journal.read_text(encoding="utf-8")
    assert '"type": "finished"' not in text
    assert checksums(broken_db_rw, tables) != before  # some batches were committed
    api.undo_repair(broken_db_rw, journal)
    assert checksums(broken_db_rw, tables) == before
