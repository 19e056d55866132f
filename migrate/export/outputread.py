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
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from migrate.errors import MigrateError, StateError
from migrate.export.fingerprint import code_digest
from migrate.export.readback import (
    WHOLE,
    Fingerprint,
    Listed,
    Part,
    ReadBack,
    combine_fingerprints,
    readback_for,
    registered_name,
)
from migrate.export.redirects import normalize_path

READBACK_CACHE = ".readback-cache.sqlite"
"""Items read back per output file, by the digest of its bytes (kept between runs)."""
READBACK_ONCE = ".readback.sqlite"
"""Items read back from an output read as a whole (made afresh, removed after use)."""
READ_APART_ITEMS = 5000
"""Outputs of at least this many items are read back by a process of their own: below
it, starting one (~0.3 s) costs more than the overlap saves."""
FINGERPRINT_APART_ITEMS = 50_000
"""Outputs of at least this many items are fingerprinted by processes of their own: a
fingerprint costs ~25 µs an item (Hugo) where a reading costs ~100, so below it the
processes' start (~0.5 s, the package imported) costs more than they save."""
MAX_PARTS = 4
"""Reading processes at most for an output whose reader reads it in parts (one per CPU)."""

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

    paths: tuple[Path, ...]
    """One SQLite file, or one per part of an output read in parts."""
    files_parsed: int | None
    """Files parsed (the others' items came from the cache); None: read as a whole."""
    seconds: float
    """Wall time of the reading itself, wherever it ran."""
    fingerprint: str | None = None
    """A whole-output reader's ``ReadBack.fingerprint`` of what it read, from the very
    bytes it parsed (None for a file-wise reader: its files' digests stand for it)."""
    outputs: tuple[tuple[str, str], ...] | None = None
    """A file-wise reader's files as read: each one's path in the output and the
    blake2b digest of the bytes its items came from (None: read as a whole)."""


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
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise StateError(f"{path}: not a file; move it away and run again")
    if fresh:
        path.unlink(missing_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.executescript(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -4000;"
            + _TABLES
            + "BEGIN;"
        )
    except sqlite3.Error:
        db.close()
        raise
    return db


def part_path(out_dir: Path, part: Part) -> Path:
    """Where one part of an output read in parts is read into (``READBACK_ONCE`` when whole)."""
    return out_dir / (READBACK_ONCE if part == WHOLE else f".readback.{part.index}.sqlite")


def remove_scratch(out_dir: Path) -> None:
    """Remove what reading an output as a whole (or in parts) left: derived data."""
    (out_dir / READBACK_ONCE).unlink(missing_ok=True)
    for index in range(MAX_PARTS):
        part_path(out_dir, Part(index, MAX_PARTS)).unlink(missing_ok=True)


def read_output(
    readback: ReadBack,
    out_dir: Path,
    outputs: list[tuple[str, str]] | None,
    part: Part = WHOLE,
) -> OutputRead:
    """Read the output back into its SQLite file (see the module docstring).

    ``outputs``: for a file-wise read-back, each output file's path and blake2b digest
    (``reconcile.output_digests``), or None: the files are listed and digested here,
    as they are read (those in ``ReadBack.settled_first`` first, when ``part`` waits).
    A whole-output reader takes None (and the output's fingerprint, when it has one).
    ``part``: the share of it this call reads, for a reader with
    ``ReadBack.read_part``. Touches nothing but that file and reads
    nothing but the output: it may run in a process of its own. The cache is derived
    data: one SQLite cannot read (damaged, not a database) is made again.
    """
    whole = not readback.file_wise
    path = part_path(out_dir, part) if whole else out_dir / READBACK_CACHE
    for attempt in (1, 2):
        try:
            fresh = whole or attempt == 2
            return _read(readback, out_dir, outputs, part, path, fresh)
        except sqlite3.DatabaseError as exc:
            if attempt == 2 or isinstance(exc, sqlite3.OperationalError):
                raise StateError(f"{path}: cannot read the output back into it ({exc})") from None
    raise AssertionError("unreachable")


def _read(
    readback: ReadBack,
    out_dir: Path,
    outputs: list[tuple[str, str]] | None,
    part: Part,
    path: Path,
    fresh: bool,
) -> OutputRead:
    started = time.monotonic()
    db = _open(path, fresh)
    try:
        parsed = None
        summed: str | None = None
        seen = None
        if not readback.file_wise:
            seen = Fingerprint(out_dir) if readback.fingerprint is not None else None
            rows = _Rows(db, "")
            items = (
                readback.items(out_dir, seen)
                if readback.read_part is None
                else readback.read_part(out_dir, seen, part)
            )
            for item in items:
                rows.add(item)
            rows.flush()
        else:
            outputs, parsed = _refresh(db, readback, out_dir, outputs, part)
            # The sums made for these very files (and code) stand; else they are made
            # again, and vouched for only once complete (a reader stopped half-way, when
            # the last comparison is kept, leaves none to trust).
            summed = hashlib.blake2b(repr((code_digest(), outputs)).encode()).hexdigest()
            row = db.execute("SELECT value FROM meta WHERE key = 'summed'").fetchone()
            if parsed == 0 and row is not None and row[0] == summed:
                summed = None
            else:
                db.execute("DELETE FROM meta WHERE key = 'summed'")
        db.execute("COMMIT")
        if parsed is None or summed is not None:
            db.executescript(_SUMS)
        if summed is not None:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('summed', ?)", (summed,))
    finally:
        db.close()
    return OutputRead(
        (path,),
        parsed,
        time.monotonic() - started,
        seen.hexdigest() if seen is not None else None,
        None if outputs is None else tuple(outputs),
    )


def _refresh(
    db: sqlite3.Connection,
    readback: ReadBack,
    out_dir: Path,
    outputs: list[tuple[str, str]] | None,
    part: Part,
) -> tuple[list[tuple[str, str]], int]:
    """Parse the files whose bytes are not those the cache holds items of; drop files gone.

    ``outputs`` None: list the files here, digesting each as it is read; a reading
    that waits (``part``) reads ``ReadBack.settled_first`` before the wait, and after
    it only what is new there or changed since (a file replaced has a new inode).
    Returns the files as read, with their digests, and how many were parsed.

    Cached items are what parsing the same bytes again would give: the cache is
    emptied whenever the package's code changes.
    """
    assert readback.read_file is not None and readback.files is not None
    read_file, files = readback.read_file, readback.files
    code = code_digest()
    row = db.execute("SELECT value FROM meta WHERE key = 'code'").fetchone()
    if row is None or row[0] != code:
        for table in ("files", "found", "parts", "listed"):
            db.execute(f"DELETE FROM {table}")
        db.execute("INSERT OR REPLACE INTO meta VALUES ('code', ?)", (code,))
    cached: dict[str, str] = dict(db.execute("SELECT path, digest FROM files"))
    parsed = 0

    def take(rel: str, digest: str | None) -> str:
        """The file at ``rel`` in the cache; its digest (None: not known until read)."""
        nonlocal parsed
        if digest is not None and cached.get(rel) == digest:
            return digest
        data = (out_dir / rel).read_bytes()  # what is parsed is what is recorded
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        if cached.get(rel) == digest:
            return digest
        parsed += 1
        for table in ("found", "parts", "listed"):
            db.execute(f"DELETE FROM {table} WHERE path = ?", (rel,))
        rows = _Rows(db, rel)
        for item in read_file(data):
            rows.add(item)
        rows.flush()
        db.execute("INSERT OR REPLACE INTO files VALUES (?, ?)", (rel, digest))
        cached[rel] = digest
        return digest

    def listing() -> Iterator[tuple[str, os.stat_result]]:
        for path in files(out_dir):
            yield path.relative_to(out_dir).as_posix(), path.stat()

    if outputs is not None:
        read = [(rel, take(rel, digest)) for rel, digest in outputs]
    else:
        early: dict[str, tuple[int, int, int]] = {}
        first = readback.settled_first
        if first is not None and part.wait is not None:
            for path in files(out_dir):
                rel = path.relative_to(out_dir).as_posix()
                if rel.split("/", 1)[0] != first:
                    continue
                st = path.stat()  # before the read: a file replaced meanwhile is read again
                take(rel, None)
                early[rel] = (st.st_ino, st.st_size, st.st_mtime_ns)
            part.settled()
        read = []
        for rel, st in listing():
            same = early.get(rel) == (st.st_ino, st.st_size, st.st_mtime_ns)
            read.append((rel, cached[rel] if same else take(rel, None)))
    for rel in set(cached).difference(rel for rel, _ in read):  # files gone from the output
        for table in ("files", "found", "parts", "listed"):
            db.execute(f"DELETE FROM {table} WHERE path = ?", (rel,))
    return read, parsed


def _fingerprint_here(
    readback: ReadBack, out_dir: Path, outputs: object = None, part: Part = WHOLE
) -> OutputRead:
    """``OutputReading.fingerprint_only``'s work for one part, in this process."""
    if readback.fingerprint is None:
        raise StateError(f"the {registered_name(readback)} read-back takes no fingerprint")
    started = time.monotonic()
    seen = readback.fingerprint(out_dir, part)
    return OutputRead((), None, time.monotonic() - started, seen)


def _reply(request: dict[str, Any]) -> dict[str, Any]:
    """Run one request of ``OutputReading`` in the reading process: ``read_output``'s
    outcome, or the one-line error a ``MigrateError`` carries."""
    importlib.import_module(request["module"])  # the module that registers the reader
    readback = readback_for(request["reader"])
    index, count = request["part"]
    part = Part(int(index), int(count), wait=_await_release if request.get("hold") else None)
    try:
        if request.get("fingerprint_only"):
            read = _fingerprint_here(readback, Path(request["out_dir"]), None, part)
        else:
            read = read_output(readback, Path(request["out_dir"]), request["outputs"], part)
    except MigrateError as exc:
        return {"error": str(exc)}
    except OSError as exc:
        return {"error": f"reading the output back failed: {exc}"}
    return {
        "path": str(read.paths[0]) if read.paths else None,
        "files_parsed": read.files_parsed,
        "seconds": read.seconds,
        "fingerprint": read.fingerprint,
        "outputs": read.outputs,
    }


class OutputReading:
    """``read_output`` under way: for an output of at least ``READ_APART_ITEMS`` items
    read by a registered reader, in processes of their own (one per CPU, up to
    ``MAX_PARTS``, when the reader reads in parts; else one); else here, when
    ``result`` is asked for.

    With ``fingerprint_only`` (and at least ``FINGERPRINT_APART_ITEMS`` items), the
    processes only take the reader's ``ReadBack.fingerprint`` of the output, in parts
    (``OutputRead.fingerprint``): what a re-run compares with the kept comparison's
    before it reads anything.
    """

    def __init__(
        self,
        readback: ReadBack,
        out_dir: Path,
        outputs: list[tuple[str, str]] | None,
        items: int,
        hold: bool = False,
        fingerprint_only: bool = False,
    ) -> None:
        """``hold``: the run is still writing outside ``ReadBack.settled_first``; the
        processes read that folder now and the rest once ``release`` is called."""
        self.args = (readback, out_dir, outputs)
        self.fingerprint_only = fingerprint_only
        self.processes: list[_ReadingProcess] = []
        name = registered_name(readback)
        least = FINGERPRINT_APART_ITEMS if fingerprint_only else READ_APART_ITEMS
        if items < least or name is None:
            return
        count = 1
        if outputs is None and (readback.read_part is not None or fingerprint_only):
            count = max(1, min(os.cpu_count() or 1, MAX_PARTS))
        try:
            for index in range(count):
                request = {
                    "reader": name,
                    "module": readback.items.__module__,
                    "out_dir": str(out_dir),
                    "outputs": outputs,
                    "part": [index, count],
                    "hold": hold,
                    "fingerprint_only": fingerprint_only,
                }
                self.processes.append(_ReadingProcess(request))
        except BaseException:
            self.close()
            raise

    @property
    def started(self) -> bool:
        """Whether processes are reading (else ``result`` reads here, when asked)."""
        return bool(self.processes)

    def release(self) -> None:
        """The output is complete: a held reading may read the rest of it."""
        for process in self.processes:
            process.release()

    def result(self) -> OutputRead:
        if not self.processes:
            if self.fingerprint_only:
                return _fingerprint_here(*self.args)
            return read_output(*self.args)
        self.release()
        try:
            reads = [process.result() for process in self.processes]
        finally:
            self.close()
        prints = [r.fingerprint for r in reads]
        return OutputRead(
            tuple(path for r in reads for path in r.paths),
            reads[0].files_parsed,
            max(r.seconds for r in reads),
            None if None in prints else combine_fingerprints(p for p in prints if p),
            reads[0].outputs,  # a file-wise reader reads in one process
        )

    def close(self) -> None:
        """Stop the reading processes still running (the reconciliation was cut short)."""
        for process in self.processes:
            process.close()
        self.processes = []


class _ReadingProcess:
    """One reading process: a fresh interpreter running this module (nothing of this
    process is shared or re-run). It gets its request as one line on stdin, answers
    on a pipe of its own (so a ``sitecustomize`` that prints cannot garble the
    answer), and ends as soon as its stdin closes: when this process ends, however it
    ends, the reader does too.
    """

    def __init__(self, request: dict[str, Any]) -> None:
        root = str(Path(__file__).resolve().parents[2])  # this very package, wherever it is
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.released = not request.get("hold")  # only a held reader waits for it
        self.replies, answer = os.pipe()
        # A file, not a pipe: a chatty reader cannot block on it. Closed by ``close``.
        self.errors: IO[bytes] | None = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(answer)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=self.errors,
                env=env,
                pass_fds=(answer,),
            )
        finally:
            os.close(answer)
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request).encode() + b"\n")
        self.process.stdin.flush()  # stdin stays open: its end is the reader's signal to stop

    def release(self) -> None:
        """Let a held reader read the rest of the output (once; idempotent)."""
        if self.process is not None and self.process.stdin is not None and not self.released:
            self.released = True
            try:
                self.process.stdin.write(RELEASE)
                self.process.stdin.flush()
            except BrokenPipeError:  # it ended: ``result`` says how
                pass

    def result(self) -> OutputRead:
        assert self.process is not None
        with os.fdopen(self.replies, "rb") as replies:
            self.replies = -1
            out = replies.read()
        code = self.process.wait()
        try:
            reply = json.loads(out)
        except ValueError:
            raise self._failure(code) from None
        if "error" in reply:
            raise StateError(str(reply["error"]))
        return OutputRead(
            () if reply["path"] is None else (Path(reply["path"]),),
            reply["files_parsed"],
            float(reply["seconds"]),
            reply["fingerprint"],
            None if reply["outputs"] is None else tuple((r, d) for r, d in reply["outputs"]),
        )

    def _failure(self, code: int) -> Exception:
        """No answer: killed (a one-line error), or a bug (its traceback, as a bug)."""
        assert self.errors is not None
        self.errors.seek(0)
        err = self.errors.read().decode("utf-8", "replace").strip()
        if code < 0 or not err:
            return StateError(f"the process reading the output back ended early (exit {code})")
        return RuntimeError(f"reading the output back failed (exit {code}):\n{err}")

    def close(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            if self.process.stdin is not None:
                with suppress(BrokenPipeError):  # it ended before reading all we wrote
                    self.process.stdin.close()
            self.process = None
        if self.replies >= 0:
            os.close(self.replies)
            self.replies = -1
        if self.errors is not None:
            self.errors.close()
            self.errors = None


RELEASE = b"release\n"
"""The line a held reading process waits for on stdin before it reads the rest."""
_RELEASED = threading.Event()


def _await_release() -> None:
    _RELEASED.wait()


def _watch_parent() -> None:
    """Note the release; end this process when the one that asked is gone (its end of
    stdin closes)."""
    for line in sys.stdin.buffer:
        if line == RELEASE:
            _RELEASED.set()
    os._exit(3)


def main() -> None:
    """The reading process: one JSON request line on stdin, one JSON reply on the pipe
    whose descriptor is the first argument."""
    request = json.loads(sys.stdin.buffer.readline())
    threading.Thread(target=_watch_parent, daemon=True).start()
    reply = json.dumps(_reply(request)).encode()
    with os.fdopen(int(sys.argv[1]), "wb") as answer:
        answer.write(reply)


if __name__ == "__main__":
    main()
