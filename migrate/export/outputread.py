"""The output side of the reconciliation: what the output holds, read back into SQLite.

``read_output`` parses the output with the target's reader (``migrate.export.readback``)
into a SQLite file of its own: tables ``found``, ``parts`` and ``listed``, one row
per item (and part) and the output file it came from, then ``sum_*``: the same summed
over the files. The reconciliation attaches that file and copies the sums into its
scratch database.

For a read-back that reads file by file, the file is a cache kept between runs:
only the files whose bytes changed are parsed again. For any other, it is made
afresh and removed after use.

A big output is read by a process of its own (``OutputReading``) while this
one loads the source side from the database: at 100k nodes each side takes
about 15 s, and on two cores they overlap. The reading process is a fresh
interpreter running this module (``python -m``), not a fork: it shares no
database connection, holds none of this process's memory, and never re-runs the
caller's main script (as multiprocessing's spawn would).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migrate.errors import MigrateError, StateError
from migrate.export.fingerprint import code_digest
from migrate.export.readback import Listed, ReadBack, readback_for, registered_name
from migrate.export.redirects import normalize_path

READBACK_CACHE = ".readback-cache.sqlite"
"""Items read back per output file, by the digest of its bytes (kept between runs)."""
READBACK_ONCE = ".readback.sqlite"
"""Items read back from an output read as a whole (made afresh, removed after use)."""
READ_APART_ITEMS = 5000
"""Outputs of at least this many items are read back by a process of their own: below
it, starting one (~0.3 s) costs more than the overlap saves."""

_TABLES = """
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
    CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, digest TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS found (path TEXT, kind TEXT, key TEXT);
    CREATE INDEX IF NOT EXISTS found_path ON found (path);
    CREATE TABLE IF NOT EXISTS parts (path TEXT, kind TEXT, key TEXT, part TEXT, n INTEGER);
    CREATE INDEX IF NOT EXISTS parts_path ON parts (path);
    CREATE TABLE IF NOT EXISTS listed (path TEXT, kind TEXT, key TEXT, reason TEXT);
    CREATE INDEX IF NOT EXISTS listed_path ON listed (path);
"""
_SUMS = """
    BEGIN;
    DROP TABLE IF EXISTS sum_found;
    DROP TABLE IF EXISTS sum_parts;
    DROP TABLE IF EXISTS sum_listed;
    CREATE TABLE sum_found (kind TEXT, key TEXT, n INTEGER, PRIMARY KEY (kind, key))
        WITHOUT ROWID;
    INSERT INTO sum_found SELECT kind, key, COUNT(*) FROM found GROUP BY kind, key;
    CREATE TABLE sum_parts (kind TEXT, key TEXT, part TEXT, n INTEGER,
        PRIMARY KEY (kind, key, part)) WITHOUT ROWID;
    INSERT INTO sum_parts SELECT kind, key, part, SUM(n) FROM parts GROUP BY kind, key, part;
    CREATE TABLE sum_listed (kind TEXT, key TEXT, reason TEXT, PRIMARY KEY (kind, key))
        WITHOUT ROWID;
    INSERT OR IGNORE INTO sum_listed SELECT kind, key, reason FROM listed;
    COMMIT;
"""
"""Every item and part summed over the files, in the comparison's key order: made here,
in the reading process, so the comparison only copies them."""
_FLUSH_ROWS = 20000


@dataclass(frozen=True, slots=True)
class OutputRead:
    """Where ``read_output`` put the items, and what it took."""

    path: Path
    files_parsed: int | None
    """Files parsed (the others' items came from the cache); None: read as a whole."""
    seconds: float
    """Wall time of the reading itself, wherever it ran."""


class _Rows:
    """Rows of one file (or of a whole output), flushed to SQLite in chunks."""

    def __init__(self, db: sqlite3.Connection, path: str) -> None:
        self.db = db
        self.path = path
        self.found: list[tuple[str, str, str]] = []
        self.parts: list[tuple[str, str, str, str, int]] = []
        self.listed: list[tuple[str, str, str, str]] = []

    def add(self, item: Any) -> None:
        key = normalize_path(item.key) if item.kind == "redirect" else item.key
        if isinstance(item, Listed):
            self.listed.append((self.path, item.kind, key, item.reason))
            return
        self.found.append((self.path, item.kind, key))
        self.parts.extend((self.path, item.kind, key, p, n) for p, n in item.parts if n)
        if len(self.found) + len(self.parts) >= _FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        self.db.executemany("INSERT INTO found VALUES (?, ?, ?)", self.found)
        self.db.executemany("INSERT INTO parts VALUES (?, ?, ?, ?, ?)", self.parts)
        self.db.executemany("INSERT INTO listed VALUES (?, ?, ?, ?)", self.listed)
        self.found, self.parts, self.listed = [], [], []


def _open(path: Path, fresh: bool) -> sqlite3.Connection:
    if fresh:
        path.unlink(missing_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -4000;"
        + _TABLES
        + "BEGIN;"
    )
    return db


def read_output(
    readback: ReadBack, out_dir: Path, outputs: list[tuple[str, str]] | None
) -> OutputRead:
    """Read the output back into its SQLite file (see the module docstring).

    ``outputs``: each output file's path and blake2b digest (``reconcile.output_digests``)
    for a file-wise read-back, else None. Touches nothing but that file and reads
    nothing but the output: it may run in a process of its own.
    """
    started = time.monotonic()
    if outputs is None:
        path = out_dir / READBACK_ONCE
        db = _open(path, fresh=True)
    else:
        path = out_dir / READBACK_CACHE
        db = _open(path, fresh=False)
    try:
        parsed = None
        if outputs is None:
            rows = _Rows(db, "")
            for item in readback.items(out_dir):
                rows.add(item)
            rows.flush()
        else:
            parsed = _refresh(db, readback, out_dir, outputs)
        db.execute("COMMIT")
        db.executescript(_SUMS)
    finally:
        db.close()
    return OutputRead(path, parsed, time.monotonic() - started)


def _refresh(
    db: sqlite3.Connection, readback: ReadBack, out_dir: Path, outputs: list[tuple[str, str]]
) -> int:
    """Parse the files whose bytes are not those the cache holds items of; drop files gone.

    Cached items are what parsing the same bytes again would give: the cache is
    emptied whenever the package's code changes.
    """
    assert readback.read_file is not None
    code = code_digest()
    row = db.execute("SELECT value FROM meta WHERE key = 'code'").fetchone()
    if row is None or row[0] != code:
        for table in ("files", "found", "parts", "listed"):
            db.execute(f"DELETE FROM {table}")
        db.execute("INSERT OR REPLACE INTO meta VALUES ('code', ?)", (code,))
    known = dict(db.execute("SELECT path, digest FROM files"))
    parsed = 0
    for rel, digest in outputs:
        if known.pop(rel, None) == digest:
            continue
        data = (out_dir / rel).read_bytes()  # what is parsed is what is recorded
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        parsed += 1
        for table in ("found", "parts", "listed"):
            db.execute(f"DELETE FROM {table} WHERE path = ?", (rel,))
        rows = _Rows(db, rel)
        for item in readback.read_file(data):
            rows.add(item)
        rows.flush()
        db.execute("INSERT OR REPLACE INTO files VALUES (?, ?)", (rel, digest))
    for rel in known:  # files gone from the output
        for table in ("files", "found", "parts", "listed"):
            db.execute(f"DELETE FROM {table} WHERE path = ?", (rel,))
    return parsed


def _reply(request: dict[str, Any]) -> dict[str, Any]:
    """Run one request of ``OutputReading`` in the reading process: ``read_output``'s
    outcome, or the one-line error a ``MigrateError`` carries."""
    importlib.import_module(request["module"])  # the module that registers the reader
    readback = readback_for(request["reader"])
    try:
        read = read_output(readback, Path(request["out_dir"]), request["outputs"])
    except MigrateError as exc:
        return {"error": str(exc)}
    except OSError as exc:
        return {"error": f"reading the output back failed: {exc}"}
    return {"path": str(read.path), "files_parsed": read.files_parsed, "seconds": read.seconds}


class OutputReading:
    """``read_output`` under way: for an output of at least ``READ_APART_ITEMS`` items
    read by a registered reader, in a process of its own (a fresh interpreter running
    this module, so nothing of this process is shared or re-run); else here, when
    ``result`` is asked for."""

    def __init__(
        self,
        readback: ReadBack,
        out_dir: Path,
        outputs: list[tuple[str, str]] | None,
        items: int,
    ) -> None:
        self.args = (readback, out_dir, outputs)
        self.process: subprocess.Popen[bytes] | None = None
        name = registered_name(readback)
        if items < READ_APART_ITEMS or name is None:
            return
        request = {
            "reader": name,
            "module": readback.items.__module__,
            "out_dir": str(out_dir),
            "outputs": outputs,
        }
        root = str(Path(__file__).resolve().parents[2])  # this very package, wherever it is
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request).encode())
        self.process.stdin.close()
        self.process.stdin = None  # sent: ``communicate`` has only the replies to read

    def result(self) -> OutputRead:
        if self.process is None:
            return read_output(*self.args)
        process, self.process = self.process, None
        out, err = process.communicate()
        code = process.returncode
        try:
            reply = json.loads(out)
        except ValueError:
            last = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            if code == 0 or not err.strip():
                raise StateError(
                    f"the process reading the output back ended early (exit {code})"
                ) from None
            raise RuntimeError(
                f"reading the output back failed (exit {code}): {last[0]}\n"
                + err.decode("utf-8", "replace")
            ) from None
        if "error" in reply:
            raise StateError(str(reply["error"]))
        return OutputRead(Path(reply["path"]), reply["files_parsed"], float(reply["seconds"]))

    def close(self) -> None:
        """Stop the reading process if it still runs (the reconciliation was cut short)."""
        if self.process is not None:
            self.process.kill()
            self.process.communicate()
            self.process = None


def main() -> None:
    """The reading process: one JSON request on stdin, one JSON reply on stdout."""
    reply = _reply(json.loads(sys.stdin.buffer.read()))
    sys.stdout.write(json.dumps(reply))


if __name__ == "__main__":
    main()
