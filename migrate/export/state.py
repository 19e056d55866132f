"""The export state store: one SQLite file in the output directory.

It is what makes an export resumable, idempotent and reversible: ``runs`` (with
their options, cursor and highwater), ``batches`` (a batch is ``complete`` only
after the writer made its output durable), ``items`` (the id map: source kind +
id → target, content hash, batch), ``events`` (skipped and failed items with
their reasons), ``slugs`` (stable target URLs, assigned once) and ``aliases`` (a
per-run snapshot of url_alias used to rewrite body links without holding it in
memory). A lock file keeps two exports from writing the same directory.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migrate.errors import StateError

STATE_FILE = "state.sqlite"
LOCK_FILE = ".export.lock"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY,
    status TEXT NOT NULL,
    writer TEXT NOT NULL,
    source TEXT NOT NULL,
    options TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL,
    cursor TEXT NOT NULL DEFAULT '{}',
    highwater INTEGER,
    message TEXT
);
CREATE TABLE IF NOT EXISTS batches (
    batch_no INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL,
    phase TEXT NOT NULL,
    status TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL,
    first_key TEXT,
    last_key TEXT,
    added INTEGER NOT NULL DEFAULT 0,
    updated INTEGER NOT NULL DEFAULT 0,
    message TEXT
);
CREATE TABLE IF NOT EXISTS items (
    kind TEXT NOT NULL,
    source_id TEXT NOT NULL,
    num INTEGER,
    target TEXT NOT NULL,
    hash TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT,
    batch_no INTEGER NOT NULL,
    run_id INTEGER NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (kind, source_id)
);
CREATE INDEX IF NOT EXISTS items_batch ON items (batch_no);
CREATE INDEX IF NOT EXISTS items_num ON items (kind, num);
CREATE TABLE IF NOT EXISTS events (
    run_id INTEGER NOT NULL,
    batch_no INTEGER,
    kind TEXT NOT NULL,
    source_id TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS slugs (
    kind TEXT NOT NULL,
    source_id INTEGER NOT NULL,
    scope TEXT NOT NULL,
    slug TEXT NOT NULL,
    path TEXT NOT NULL,
    PRIMARY KEY (kind, source_id),
    UNIQUE (kind, scope, slug)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS aliases (alias TEXT PRIMARY KEY, source TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS node_buckets (bucket INTEGER PRIMARY KEY, digest TEXT NOT NULL)
    WITHOUT ROWID;
"""


_BUCKETS_KEY = "node_buckets_key"
_IN_CHUNK = 500
"""Values per ``IN (...)`` list: well under SQLite's bound-parameter limit."""


def _select_in(
    db: sqlite3.Connection, sql: str, values: Sequence[Any], head: tuple[Any, ...] = ()
) -> Iterator[Any]:
    """Rows of ``sql`` whose ``{marks}`` is an IN list over ``values``, in chunks.

    ``head`` holds the parameters bound before the list.
    """
    for start in range(0, len(values), _IN_CHUNK):
        chunk = values[start : start + _IN_CHUNK]
        yield from db.execute(sql.format(marks=",".join("?" * len(chunk))), (*head, *chunk))


@dataclass(frozen=True)
class Run:
    run_id: int
    status: str
    writer: str
    source: str
    options: dict[str, Any]
    fingerprint: str
    started: float
    finished: float | None
    cursor: dict[str, Any]
    highwater: int | None
    message: str | None


@dataclass(frozen=True)
class Batch:
    batch_no: int
    run_id: int
    phase: str
    status: str
    started: float
    finished: float | None
    first_key: str | None
    last_key: str | None
    added: int
    updated: int
    message: str | None


@dataclass(frozen=True)
class ItemRow:
    kind: str
    source_id: str
    target: str
    hash: str
    batch_no: int


class StateStore:
    """The SQLite state of one export directory (see the module docstring)."""

    def __init__(self, out_dir: Path, *, create: bool = True, read_only: bool = False) -> None:
        """``read_only``: only read (``status``), which works on a folder one cannot write."""
        self.out_dir = out_dir
        self.path = path = out_dir / STATE_FILE
        self._lock_fd: int | None = None
        if not path.exists() and not create:
            raise StateError(f"{out_dir}: not an export directory (no {STATE_FILE})")
        if read_only and not os.access(out_dir, os.W_OK):
            # immutable: SQLite neither locks nor needs the WAL's -shm file, which it could
            # not create here; nothing writes to a folder no one can write to
            uri = f"{path.resolve().as_uri()}?immutable=1"
            try:
                self.db = sqlite3.connect(uri, uri=True, isolation_level=None)
                found = self.meta("schema_version")
            except sqlite3.Error as exc:
                raise StateError(f"{path}: cannot read the export state ({exc})") from None
            if found != str(SCHEMA_VERSION):
                raise StateError(
                    f"{path}: state schema {found}, this version needs {SCHEMA_VERSION}"
                )
            return
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(_SCHEMA)
            self._unique_paths()
            self._source_columns()
            found = self.meta("schema_version")
        except (OSError, sqlite3.Error) as exc:
            if out_dir.is_dir() and not os.access(out_dir, os.W_OK):
                raise StateError(
                    f"{out_dir}: the folder is not writable (read-only or no permission);"
                    " choose another --out or make it writable"
                ) from None
            raise StateError(f"{path}: cannot open the export state ({exc})") from None
        if found is None:
            self.set_meta("schema_version", str(SCHEMA_VERSION))
        elif found != str(SCHEMA_VERSION):
            raise StateError(f"{path}: state schema {found}, this version needs {SCHEMA_VERSION}")

    # ------------------------------------------------------------------ plumbing

    def lock(self) -> None:
        """Take the directory's exclusive lock; another live export makes this fail."""
        fd = os.open(self.out_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StateError(f"{self.out_dir}: another export is running in it") from None
        self._lock_fd = fd

    def close(self) -> None:
        self.db.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _tx(self) -> _Transaction:
        return _Transaction(self.db)

    def _unique_paths(self) -> None:
        """No two items of a kind get one URL (a target whose URLs ignore the content type
        or vocabulary, like WordPress's, would otherwise rename one and break its links).

        A state written before this index, holding such a pair already, keeps working.
        """
        with suppress(sqlite3.IntegrityError):
            self.db.execute("CREATE UNIQUE INDEX IF NOT EXISTS slugs_path ON slugs (kind, path)")

    def _source_columns(self) -> None:
        """``items.source_fp`` and ``items.deps`` (added after schema 1 was released).

        A state written before them gains them empty: its nodes are rebuilt once.
        """
        have = {str(r[1]) for r in self.db.execute("PRAGMA table_info(items)")}
        for column in ("source_fp", "deps"):
            if column not in have:
                self.db.execute(f"ALTER TABLE items ADD COLUMN {column} TEXT")

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def delete_meta(self, key: str) -> None:
        self.db.execute("DELETE FROM meta WHERE key = ?", (key,))

    # ------------------------------------------------------------------ runs

    def last_run(self) -> Run | None:
        row = self.db.execute("SELECT * FROM runs ORDER BY run_id DESC LIMIT 1").fetchone()
        return None if row is None else _run(row)

    def runs(self) -> list[Run]:
        return [_run(r) for r in self.db.execute("SELECT * FROM runs ORDER BY run_id")]

    def start_run(self, writer: str, source: str, options: dict[str, Any], fingerprint: str) -> Run:
        with self._tx():
            cur = self.db.execute(
                "INSERT INTO runs (status, writer, source, options, fingerprint, started)"
                " VALUES ('running', ?, ?, ?, ?, ?)",
                (writer, source, json.dumps(options, sort_keys=True), fingerprint, time.time()),
            )
        run = self.run(int(cur.lastrowid or 0))
        assert run is not None
        return run

    def run(self, run_id: int) -> Run | None:
        row = self.db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else _run(row)

    def reopen_run(self, run_id: int) -> None:
        self.db.execute("UPDATE runs SET status = 'running' WHERE run_id = ?", (run_id,))

    def end_run(self, run_id: int, status: str, message: str | None = None) -> None:
        self.db.execute(
            "UPDATE runs SET status = ?, finished = ?, message = ? WHERE run_id = ?",
            (status, time.time(), message, run_id),
        )

    def save_cursor(
        self, run_id: int, cursor: dict[str, Any], highwater: int | None = None
    ) -> None:
        self.db.execute(
            "UPDATE runs SET cursor = ?, highwater = MAX(COALESCE(highwater, 0), ?)"
            " WHERE run_id = ?",
            (json.dumps(cursor), highwater or 0, run_id),
        )

    def last_highwater(self) -> int | None:
        row = self.db.execute(
            "SELECT MAX(highwater) FROM runs WHERE status = 'complete'"
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    # ------------------------------------------------------------------ batches

    def unfinished_batches(self) -> list[Batch]:
        return [
            _batch(r)
            for r in self.db.execute(
                "SELECT * FROM batches WHERE status = 'running' ORDER BY batch_no"
            )
        ]

    def forget_batch(self, batch_no: int) -> None:
        """Drop an interrupted batch (its output was discarded) so its number is reused."""
        with self._tx():
            self.db.execute("DELETE FROM events WHERE batch_no = ?", (batch_no,))
            self.db.execute("DELETE FROM batches WHERE batch_no = ?", (batch_no,))

    def next_batch_no(self) -> int:
        row = self.db.execute("SELECT MAX(batch_no) FROM batches").fetchone()
        return int(row[0] or 0) + 1

    def begin_batch(self, run_id: int, phase: str, first_key: str, last_key: str) -> int:
        with self._tx():
            batch_no = self.next_batch_no()
            self.db.execute(
                "INSERT INTO batches (batch_no, run_id, phase, status, started, first_key,"
                " last_key) VALUES (?, ?, ?, 'running', ?, ?, ?)",
                (batch_no, run_id, phase, time.time(), first_key, last_key),
            )
        return batch_no

    def fail_batch(self, batch_no: int, message: str) -> None:
        self.db.execute(
            "UPDATE batches SET status = 'failed', finished = ?, message = ? WHERE batch_no = ?",
            (time.time(), message, batch_no),
        )

    def complete_batch(
        self,
        run_id: int,
        batch_no: int,
        written: Sequence[tuple[str, str, int | None, str, str, str]],
        updated: int,
        cursor: dict[str, Any],
        highwater: int | None,
        events: Sequence[tuple[str, str, str, str]] = (),
        sources: Sequence[tuple[int, str, str]] = (),
    ) -> None:
        """Record a durable batch: id map rows, batch status, cursor and highwater, atomically.

        ``written`` rows are (kind, source_id, num, target, hash, detail-json); ``events``
        are (kind, source_id, status, reason) of items the batch skipped or failed;
        ``sources`` are the built nodes' fingerprints (``put_sources``).
        """
        with self._tx():
            for kind, source_id, status, reason in events:
                self.add_event(run_id, batch_no, kind, source_id, status, reason)
            self.db.executemany(
                "INSERT OR REPLACE INTO items (kind, source_id, num, target, hash, status,"
                " batch_no, run_id, detail) VALUES (?, ?, ?, ?, ?, 'exported', ?, ?, ?)",
                [(k, s, n, t, h, batch_no, run_id, d) for k, s, n, t, h, d in written],
            )
            self.put_sources(sources)
            self.db.execute(
                "UPDATE batches SET status = 'complete', finished = ?, added = ?, updated = ?"
                " WHERE batch_no = ?",
                (time.time(), len(written) - updated, updated, batch_no),
            )
            self.db.execute(
                "UPDATE runs SET cursor = ?, highwater = MAX(COALESCE(highwater, 0), ?)"
                " WHERE run_id = ?",
                (json.dumps(cursor), highwater or 0, run_id),
            )

    def batches(self, nos: Iterable[int] | None = None) -> list[Batch]:
        rows = self.db.execute("SELECT * FROM batches ORDER BY batch_no").fetchall()
        wanted = None if nos is None else set(nos)
        return [_batch(r) for r in rows if wanted is None or r[0] in wanted]

    def mark_rolled_back(self, batch_nos: Sequence[int]) -> None:
        """Forget the batches' items, and every record of inputs that vouched for them."""
        with self._tx():
            self.db.execute("DELETE FROM meta WHERE key = 'redirect_inputs'")
            self.forget_buckets()
            for no in batch_nos:
                self.db.execute("DELETE FROM items WHERE batch_no = ?", (no,))
                self.db.execute(
                    "UPDATE batches SET status = 'rolled_back', finished = ? WHERE batch_no = ?",
                    (time.time(), no),
                )

    # ------------------------------------------------------------------ items

    def hashes(self, kind: str, keys: Sequence[str]) -> dict[str, ItemRow]:
        return {
            source_id: ItemRow(kind, source_id, target, digest, batch_no)
            for source_id, target, digest, batch_no in _select_in(
                self.db,
                "SELECT source_id, target, hash, batch_no FROM items"
                " WHERE kind = ? AND source_id IN ({marks})",
                keys,
                (kind,),
            )
        }

    def put_sources(self, sources: Sequence[tuple[int, str, str]]) -> None:
        """Store (nid, source fingerprint, lookups it depended on) of nodes just built.

        Called inside the transaction that records the node's item, so a fingerprint
        never outlives the item it vouches for (rollback deletes both).
        """
        self.db.executemany(
            "UPDATE items SET source_fp = ?, deps = ? WHERE kind = 'node' AND source_id = ?",
            [(fp, deps, str(nid)) for nid, fp, deps in sources],
        )

    def sources(self, nids: Sequence[int]) -> dict[int, tuple[str, str]]:
        """(fingerprint, lookups) of those of ``nids`` exported with one."""
        return {
            int(n): (str(fp), str(deps or ""))
            for n, fp, deps in _select_in(
                self.db,
                "SELECT num, source_fp, deps FROM items WHERE kind = 'node'"
                " AND source_fp IS NOT NULL AND num IN ({marks})",
                nids,
            )
        }

    def alias_sources(self, aliases: Sequence[str]) -> dict[str, str]:
        """The snapshot's source of each of ``aliases`` that is one."""
        return dict(
            _select_in(
                self.db, "SELECT alias, source FROM aliases WHERE alias IN ({marks})", aliases
            )
        )

    def node_slug_paths(self, nids: Sequence[int]) -> dict[int, str]:
        """Target path of each of ``nids`` that has a slug (exported or not)."""
        return {
            int(n): str(p)
            for n, p in _select_in(
                self.db,
                "SELECT source_id, path FROM slugs WHERE kind = 'node' AND source_id IN ({marks})",
                nids,
            )
        }

    def exported_paths_digest(self) -> str:
        """A digest of every exported node's id and target path, in nid order."""
        h = hashlib.blake2b(digest_size=16)
        for num, path in self.db.execute(
            "SELECT i.num, s.path FROM items i JOIN slugs s ON s.kind = 'node'"
            " AND s.source_id = i.num WHERE i.kind = 'node' ORDER BY i.num"
        ):
            h.update(f"{num}\x1f{path}\x1e".encode())
        return h.hexdigest()

    def slugs_digest(self, kind: str) -> str:
        """A digest of every slug path of ``kind``, exported or not (what links resolve to)."""
        h = hashlib.blake2b(digest_size=16)
        for source_id, path in self.db.execute(
            "SELECT source_id, path FROM slugs WHERE kind = ? ORDER BY source_id", (kind,)
        ):
            h.update(f"{source_id}\x1f{path}\x1e".encode())
        return h.hexdigest()

    def node_buckets(self, key: str) -> dict[int, str]:
        """The bucket digests stored under ``key`` (``Reader.node_buckets``), else none."""
        if self.meta(_BUCKETS_KEY) != key:
            return {}
        return {
            int(b): str(d) for b, d in self.db.execute("SELECT bucket, digest FROM node_buckets")
        }

    def forget_buckets(self) -> None:
        self.db.execute("DELETE FROM node_buckets")
        self.db.execute("DELETE FROM meta WHERE key = ?", (_BUCKETS_KEY,))

    def put_buckets(self, key: str, digests: dict[int, str]) -> None:
        """Store the digests of buckets whose every selected node is as its item says."""
        with self._tx():
            self.forget_buckets()
            self.db.executemany("INSERT INTO node_buckets VALUES (?, ?)", digests.items())
            self.set_meta(_BUCKETS_KEY, key)

    def vouched(self, nids: Sequence[int]) -> set[int]:
        """Those of ``nids`` whose item carries a source fingerprint (built as it is)."""
        return {
            int(n)
            for (n,) in _select_in(
                self.db,
                "SELECT num FROM items WHERE kind = 'node' AND source_fp IS NOT NULL"
                " AND num IN ({marks})",
                nids,
            )
        }

    def copy_events(self, from_run: int, to_run: int, kind: str) -> None:
        """Record for ``to_run`` what ``from_run`` skipped of ``kind`` (same inputs, same skips)."""
        self.db.execute(
            "INSERT INTO events (run_id, batch_no, kind, source_id, status, reason)"
            " SELECT ?, NULL, kind, source_id, status, reason FROM events"
            " WHERE run_id = ? AND kind = ? AND status = 'skipped' ORDER BY rowid",
            (to_run, from_run, kind),
        )

    def items_of_batches(self, batch_nos: Sequence[int]) -> list[ItemRow]:
        rows: list[ItemRow] = []
        for no in batch_nos:
            rows.extend(
                ItemRow(k, s, t, h, b)
                for k, s, t, h, b in self.db.execute(
                    "SELECT kind, source_id, target, hash, batch_no FROM items"
                    " WHERE batch_no = ? ORDER BY kind, num, source_id",
                    (no,),
                )
            )
        return rows

    def item_counts(self) -> dict[str, int]:
        return {
            k: int(n) for k, n in self.db.execute("SELECT kind, COUNT(*) FROM items GROUP BY kind")
        }

    def kind_progress(self) -> dict[str, tuple[int, int, float | None]]:
        """Per kind: items exported, ids failed and not exported since, when the last batch
        that wrote one of them finished (``status``'s drush-like table)."""
        found: dict[str, tuple[int, int, float | None]] = {}
        for kind, n, last in self.db.execute(
            "SELECT i.kind, COUNT(*), MAX(b.finished) FROM items i"
            " LEFT JOIN batches b ON b.batch_no = i.batch_no GROUP BY i.kind"
        ):
            found[str(kind)] = (int(n), 0, None if last is None else float(last))
        for kind, n in self.db.execute(
            "SELECT e.kind, COUNT(DISTINCT e.source_id) FROM events e WHERE e.status = 'failed'"
            " AND NOT EXISTS (SELECT 1 FROM items i WHERE i.kind = e.kind"
            " AND i.source_id = e.source_id) GROUP BY e.kind"
        ):
            done, _, last = found.get(str(kind), (0, 0, None))
            found[str(kind)] = (done, int(n), last)
        return found

    def node_details(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """Exported nodes in nid order with their detail counts (for reconciliation)."""
        for num, detail in self.db.execute(
            "SELECT num, detail FROM items WHERE kind = 'node' ORDER BY num"
        ):
            yield int(num), json.loads(detail)

    def node_detail_counts(self, key: str) -> Iterator[tuple[int, int]]:
        """Exported nodes in nid order with one detail count (0 when absent), read in SQL."""
        if not key.isidentifier():
            raise ValueError(f"bad detail key {key!r}")
        for num, count in self.db.execute(
            f"SELECT num, COALESCE(json_extract(detail, '$.{key}'), 0) FROM items"
            " WHERE kind = 'node' ORDER BY num"
        ):
            yield int(num), int(count)

    def add_event(
        self, run_id: int, batch_no: int | None, kind: str, source_id: str, status: str, reason: str
    ) -> None:
        self.db.execute(
            "INSERT INTO events (run_id, batch_no, kind, source_id, status, reason)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (run_id, batch_no, kind, source_id, status, reason),
        )

    def events(self, run_id: int | None = None) -> list[tuple[str, str, str, str]]:
        sql = "SELECT kind, source_id, status, reason FROM events"
        params: tuple[Any, ...] = ()
        if run_id is not None:
            sql += " WHERE run_id = ?"
            params = (run_id,)
        return [tuple(r) for r in self.db.execute(sql + " ORDER BY rowid", params)]

    def slugged(self, kind: str, ids: Sequence[int]) -> set[int]:
        marks = ",".join("?" * len(ids))
        return {
            int(r[0])
            for r in self.db.execute(
                f"SELECT source_id FROM slugs WHERE kind = ? AND source_id IN ({marks})",
                (kind, *ids),
            )
        }

    def claim_slug(self, kind: str, source_id: int, scope: str, slug: str, path: str) -> bool:
        try:
            self.db.execute(
                "INSERT INTO slugs (kind, source_id, scope, slug, path) VALUES (?, ?, ?, ?, ?)",
                (kind, source_id, scope, slug, path),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    def slug_of(self, kind: str, source_id: int) -> tuple[str, str] | None:
        row = self.db.execute(
            "SELECT slug, path FROM slugs WHERE kind = ? AND source_id = ?", (kind, source_id)
        ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    def node_paths(self, after: int, limit: int) -> list[tuple[int, str]]:
        """Exported nodes after nid ``after`` with their target paths, in nid order."""
        return [
            (int(n), str(p))
            for n, p in self.db.execute(
                "SELECT i.num, s.path FROM items i JOIN slugs s ON s.kind = 'node'"
                " AND s.source_id = i.num WHERE i.kind = 'node' AND i.num > ?"
                " ORDER BY i.num LIMIT ?",
                (after, limit),
            )
        ]

    def exported_nodes(self, nids: Sequence[int]) -> set[int]:
        """Those of ``nids`` that are in the bundle, read from the (kind, num) index alone."""
        return {
            int(n)
            for (n,) in _select_in(
                self.db, "SELECT num FROM items WHERE kind = 'node' AND num IN ({marks})", nids
            )
        }

    def exported_node_paths(self, nids: Sequence[int]) -> dict[int, str]:
        """Target paths of those of ``nids`` that are in the bundle.

        Asks the slug table and only the (kind, num) index of the id map, never its
        rows: at 1M nodes those lookups are random, and half as many pages is twice
        as fast.
        """
        return {
            int(n): str(p)
            for n, p in _select_in(
                self.db,
                "SELECT s.source_id, s.path FROM slugs s WHERE s.kind = 'node'"
                " AND s.source_id IN ({marks}) AND EXISTS"
                " (SELECT 1 FROM items i WHERE i.kind = 'node' AND i.num = s.source_id)",
                nids,
            )
        }

    def replace_aliases(self, pairs: Iterable[tuple[str, str]]) -> None:
        with self._tx():
            self.db.execute("DELETE FROM aliases")
            self.db.executemany(
                "INSERT OR IGNORE INTO aliases (alias, source) VALUES (?, ?)", pairs
            )

    def transaction(self) -> _Transaction:
        return self._tx()


class StateLookup:
    """A read-only connection for target paths and aliases (used by node builders).

    Separate from ``StateStore`` so builders in worker processes can read the
    slugs and aliases the main process committed before the node phase.
    """

    def __init__(self, path: Path) -> None:
        try:
            self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StateError(f"{path}: cannot open the export state ({exc})") from None

    def slug_of(self, kind: str, source_id: int) -> tuple[str, str] | None:
        row = self.db.execute(
            "SELECT slug, path FROM slugs WHERE kind = ? AND source_id = ?", (kind, source_id)
        ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read transaction around a batch's lookups.

        SQLite then takes its WAL read lock once per batch instead of once per query
        (about a quarter of the cost of a link lookup); what is read here, slugs and
        aliases, was committed before the node phase and does not change during it.
        """
        self.db.execute("BEGIN")
        try:
            yield
        finally:
            self.db.execute("COMMIT")

    def slugs_of(self, kind: str, ids: Sequence[int]) -> dict[int, tuple[str, str]]:
        """(slug, path) of each of ``ids`` that has one: one query for a batch of nodes."""
        return {
            int(i): (str(s), str(p))
            for i, s, p in _select_in(
                self.db,
                "SELECT source_id, slug, path FROM slugs WHERE kind = ? AND source_id IN ({marks})",
                ids,
                (kind,),
            )
        }

    def path_of(self, kind: str, source_id: int) -> str | None:
        found = self.slug_of(kind, source_id)
        return None if found is None else found[1]

    def alias_source(self, alias: str) -> str | None:
        row = self.db.execute("SELECT source FROM aliases WHERE alias = ?", (alias,)).fetchone()
        return None if row is None else str(row[0])

    def close(self) -> None:
        self.db.close()


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


def _run(row: Sequence[Any]) -> Run:
    return Run(
        run_id=int(row[0]),
        status=str(row[1]),
        writer=str(row[2]),
        source=str(row[3]),
        options=json.loads(row[4]),
        fingerprint=str(row[5]),
        started=float(row[6]),
        finished=None if row[7] is None else float(row[7]),
        cursor=json.loads(row[8] or "{}"),
        highwater=None if row[9] is None else int(row[9]),
        message=row[10],
    )


def _batch(row: Sequence[Any]) -> Batch:
    return Batch(*row)
