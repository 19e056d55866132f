"""The journal: before-images written (and fsynced) before each change, and undo from them.

One JSON object per line. The header names the database the apply ran on
(server address and instance, database, table prefix; never credentials) or,
for a dump, the dump and its repaired copy. Each ``op`` record holds every
column of the rows an operation is about to change; a ``commit`` record
follows each committed batch with the fingerprint of each of its row sets as
the batch left them, and ``finished`` holds them all as the whole apply left
them. After a crash, op records of a batch without its commit were rolled
back by the database (transactional tables) or may have happened
(non-transactional ones, or a commit whose record was never written), so undo
replays every record idempotently: remove what the operation may have left,
then put the before-image back.

A journal file is untrusted input: every record is checked on reading, its
tables and columns must exist in the site, and undo refuses (nothing written)
a journal of another database or prefix, and any row changed after the apply.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from migrate.durable import fsync_dir
from migrate.errors import BadInput, PreconditionFailed, StateError
from migrate.identifiers import Prefix
from migrate.repair import sql
from migrate.repair.operations import (
    check_name,
    check_row,
    check_schema,
    decode_row,
    encode_row,
    fingerprint,
    read_rows,
)
from migrate.source.base import Source

JOURNAL_FORMAT = "drupal-migrate-journal"
JOURNAL_VERSION = 2
"""Version 2 records the target and the row states; version 1 journals are refused."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_cache(table: str) -> bool:
    """Drupal's cache bins: rebuilt by every page view, so their rows are never compared."""
    return table == "cache" or table.startswith("cache_")


def _prefix(prefix: Prefix) -> dict[str, Any]:
    return {"default": prefix.default, "per_table": dict(sorted(prefix.per_table.items()))}


def target_of(source: Source) -> dict[str, Any]:
    """What identifies the data an apply changes: never a user name or password."""
    from migrate.source.mysql import MySQLSource
    from migrate.source.sqlite import SQLiteSource

    if isinstance(source, MySQLSource):
        spec = source.spec
        address = f"socket {spec.unix_socket}" if spec.unix_socket else f"{spec.host}:{spec.port}"
        found = source.one("SELECT @@hostname, @@port, DATABASE()")
        host, port, database = found if found else ("", 0, spec.database)
        return {
            "kind": "mysql",
            "server": address,
            "instance": f"{host}:{port}",
            "database": str(database),
            "prefix": _prefix(source.prefix),
        }
    if isinstance(source, SQLiteSource):
        return {
            "kind": "dump",
            "dump": source.label,
            "copy": str(Path(source.path).resolve()),
            "prefix": _prefix(source.prefix),
        }
    raise StateError(f"{source.label}: cannot journal changes to this kind of source")


def describe_target(target: dict[str, Any]) -> str:
    """One phrase naming a target, for refusals."""
    prefix = target.get("prefix") or {}
    shown = f"prefix {prefix.get('default', '')!r}" + (
        f" (per table {prefix['per_table']})" if prefix.get("per_table") else ""
    )
    if target.get("kind") == "dump":
        return f"a repaired copy of dump {target.get('dump')} ({target.get('copy')}), {shown}"
    return (
        f"database {target.get('database')!r} on server {target.get('server')}"
        f" ({target.get('instance')}), {shown}"
    )


def row_state(source: Source, table: str, key: dict[str, Any], new_key: dict[str, Any]) -> str:
    """The fingerprint of every row an operation's key (and its key after) selects."""
    rows = read_rows(source, table, key)
    if new_key != key:
        rows += read_rows(source, table, new_key)
    return fingerprint(rows)


@dataclass(frozen=True)
class Touched:
    """A journaled row set, as the writer remembers it to fingerprint it later."""

    seq: int
    table: str
    key: dict[str, Any]
    new_key: dict[str, Any]


class JournalWriter:
    """Appends records and fsyncs each one before the caller may touch the database."""

    def __init__(
        self,
        path: Path,
        *,
        source: Source,
        plan: str,
        operations: int,
        transactional: bool,
    ) -> None:
        if path.exists():
            raise StateError(f"{path}: journal already exists; refusing to overwrite it")
        target = target_of(source)
        self.path = path
        try:
            self._fh: TextIO = path.open("x", encoding="utf-8")
        except OSError as exc:
            raise StateError(f"{path}: cannot write the journal ({exc.strerror})") from None
        self.seq = 0
        self.touched: list[Touched] = []
        self._write(
            {
                "type": "header",
                "format": JOURNAL_FORMAT,
                "version": JOURNAL_VERSION,
                "source": source.label,
                "target": target,
                "plan": plan,
                "operations": operations,
                "transactional": transactional,
                "started": _now(),
            }
        )
        fsync_dir(path.parent)

    def _write(self, record: dict[str, Any]) -> None:
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def before(
        self,
        batch: int,
        index: int,
        table: str,
        key: dict[str, Any],
        new_key: dict[str, Any],
        rows: list[dict[str, Any]],
    ) -> None:
        self.seq += 1
        self.touched.append(Touched(self.seq, table, key, new_key))
        self._write(
            {
                "type": "op",
                "seq": self.seq,
                "batch": batch,
                "index": index,
                "table": table,
                "key": encode_row(key),
                "new_key": encode_row(new_key),
                "rows": [encode_row(r) for r in rows],
            }
        )

    def states(self, source: Source, since: int = 0) -> dict[str, str]:
        """Fingerprints of the row sets of records after ``since`` (cache bins left out)."""
        return {
            str(t.seq): row_state(source, t.table, t.key, t.new_key)
            for t in self.touched
            if t.seq > since and not is_cache(t.table)
        }

    def commit(self, batch: int, state: dict[str, str]) -> None:
        self._write({"type": "commit", "batch": batch, "at": _now(), "state": state})

    def mark(self, kind: str, **data: Any) -> None:
        self._write({"type": kind, "at": _now(), **data})

    def close(self) -> None:
        self._fh.close()


@dataclass
class JournalRecord:
    seq: int
    table: str
    key: dict[str, Any]
    new_key: dict[str, Any]
    rows: list[dict[str, Any]]
    batch: int

    def describe(self) -> str:
        key = ", ".join(f"{k}={v!r}" for k, v in self.key.items())
        return f"{self.table} ({key})"


@dataclass
class Journal:
    """A journal read back: its header and the op records undo must reverse."""

    path: Path
    header: dict[str, Any]
    records: list[JournalRecord]
    committed: dict[int, dict[str, str]]
    undone: bool
    finished: dict[str, str] | None
    extra: list[dict[str, Any]] = field(default_factory=list)

    @property
    def transactional(self) -> bool:
        return bool(self.header.get("transactional"))

    @property
    def target(self) -> dict[str, Any]:
        return dict(self.header["target"])

    def to_reverse(self) -> Iterator[JournalRecord]:
        """Every record, newest first: replay is idempotent, so a batch that was rolled
        back (or committed just before a crash, its commit record unwritten) is safe."""
        yield from reversed(self.records)


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadInput(f"{what} is not an object")
    return value


def _int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadInput(f"{what} is not an integer")
    return value


def _states(value: Any) -> dict[str, str]:
    state = _object(value, "state")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in state.items()):
        raise BadInput("state must map record numbers to fingerprints")
    return state


def _header(record: Any) -> dict[str, Any]:
    if not isinstance(record, dict) or record.get("format") != JOURNAL_FORMAT:
        raise BadInput("not a drupal-migrate journal")
    if record.get("version") != JOURNAL_VERSION:
        raise BadInput(
            f"journal version {record.get('version')!r} records no database to check"
            f" (expected {JOURNAL_VERSION}); undo refused: restore its before-images by hand"
        )
    target = _object(record.get("target"), "target")
    prefix = _object(target.get("prefix"), "target prefix")
    if not isinstance(prefix.get("default"), str):
        raise BadInput("target prefix is not text")
    _object(prefix.get("per_table"), "target prefix per table")
    if target.get("kind") not in ("mysql", "dump"):
        raise BadInput(f"unknown target kind {target.get('kind')!r}")
    return record


def _op(record: dict[str, Any], where: str) -> JournalRecord:
    table = check_name(record.get("table"), "table", where)
    rows = record.get("rows")
    if not isinstance(rows, list):
        raise BadInput(f"{where}: rows is not a list")
    return JournalRecord(
        _int(record.get("seq"), f"{where}: seq"),
        table,
        decode_row(check_row(record.get("key"), "key", where, empty=False)),
        decode_row(check_row(record.get("new_key"), "new_key", where, empty=False)),
        [decode_row(check_row(r, "row", where)) for r in rows],
        _int(record.get("batch"), f"{where}: batch"),
    )


def _add(journal: Journal, rec: dict[str, Any]) -> None:
    kind = rec.get("type")
    if kind == "op":
        journal.records.append(_op(rec, "op record"))
    elif kind == "commit":
        journal.committed[_int(rec.get("batch"), "batch")] = _states(rec.get("state"))
    elif kind == "undone":
        journal.undone = True
    elif kind == "finished":
        journal.finished = _states(rec.get("state"))
    else:
        journal.extra.append(rec)


def read_journal(path: Path) -> Journal:
    """Parse and check a journal; a torn last line (killed mid-write) is ignored.

    Anything else malformed is a one-line StateError naming the line.
    """
    try:
        lines = path.read_bytes().decode("utf-8").splitlines()
    except OSError as exc:
        raise StateError(f"{path}: cannot read journal ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise StateError(f"{path}: not a drupal-migrate journal (not UTF-8 text)") from None
    parsed: list[tuple[int, Any]] = []
    for number, text in enumerate(lines, 1):
        try:
            parsed.append((number, json.loads(text)))
        except (json.JSONDecodeError, RecursionError):
            if number == len(lines) and number > 1:
                break
            raise StateError(f"{path}:{number}: corrupt journal record (not JSON)") from None
    if not parsed:
        raise StateError(f"{path}: not a drupal-migrate journal (empty)")
    try:
        journal = Journal(path, _header(parsed[0][1]), [], {}, False, None)
    except BadInput as exc:
        raise StateError(f"{path}:1: {exc.message}") from None
    for line, record in parsed[1:]:
        try:
            _add(journal, _object(record, "record"))
        except BadInput as exc:
            raise StateError(f"{path}:{line}: {exc.message}") from None
    return journal


def undo_record(source: Source, record: JournalRecord) -> None:
    """Put one record's rows back, whether or not its operation had happened."""
    for key in [record.key] if record.new_key == record.key else [record.key, record.new_key]:
        source.execute(*sql.bound(sql.delete(key), record.table))
    for row in record.rows:
        source.execute(*sql.bound(sql.insert(row), record.table))


def append_mark(path: Path, kind: str, **data: Any) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"type": kind, "at": _now(), **data}, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


@dataclass
class UndoReport:
    journal: Path
    records: int
    tables: list[str]
    complete: bool
    verified: int = 0
    unverified: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "journal": str(self.journal),
            "records": self.records,
            "tables": self.tables,
            "apply_was_complete": self.complete,
            "rows_verified": self.verified,
            "rows_not_compared": self.unverified,
            "notes": self.notes,
        }


def check_target(journal: Journal, source: Source, *, force: bool) -> list[str]:
    """Refuse a journal of another database; ``force`` accepts only another address or
    database name for the same prefix (the row states are compared all the same)."""
    recorded = journal.target
    here = target_of(source)
    where = f"{journal.path}: journal of {describe_target(recorded)}"
    if recorded["kind"] != here["kind"] or recorded.get("prefix") != here.get("prefix"):
        raise StateError(f"{where}, not of {describe_target(here)}; nothing written")
    if recorded["kind"] == "dump":
        if recorded.get("copy") != here.get("copy"):
            raise StateError(f"{where}, not of {describe_target(here)}; nothing written")
        return []
    same_server = recorded.get("server") == here["server"] or (
        recorded.get("instance") == here["instance"]
    )
    same_database = recorded.get("database") == here["database"]
    if same_server and same_database:
        return []
    if not force:
        raise StateError(
            f"{where}, not of {describe_target(here)}; nothing written (--force accepts"
            " another server or database name when every journaled row is as the apply"
            " left it)"
        )
    return [f"--force: journal of {describe_target(recorded)}, undone on {describe_target(here)}"]


def _changed(source: Source, records: list[JournalRecord], states: dict[str, str]) -> list[str]:
    """The row sets whose fingerprint is not the recorded one (cache bins not compared)."""
    found = []
    for record in records:
        expected = states.get(str(record.seq))
        if expected is None or is_cache(record.table):
            continue
        now = read_rows(source, record.table, record.key)
        if record.new_key != record.key:
            now += read_rows(source, record.table, record.new_key)
        if fingerprint(now) != expected:
            found.append(f"{record.describe()} ({len(now)} row(s) now)")
    return found


def _refuse(path: Path, changed: list[str]) -> PreconditionFailed:
    more = f" (and {len(changed) - 3} more)" if len(changed) > 3 else ""
    return PreconditionFailed(
        f"{path}: changed after the apply, undo would overwrite it; nothing written:"
        f" {'; '.join(changed[:3])}{more}"
    )


def undo_journal(source: Source, path: Path, *, force: bool = False) -> UndoReport:
    """Restore every row the journal touched, in one transaction, only on the database it
    belongs to and only where no row changed after the apply; refuse to undo twice."""
    journal = read_journal(path)
    if journal.undone:
        raise StateError(f"{path}: this journal was already undone")
    notes = check_target(journal, source, force=force)
    check_schema(
        source,
        (
            (
                f"{path}: record {r.seq}",
                r.table,
                {*r.key, *r.new_key, *(c for x in r.rows for c in x)},
            )
            for r in journal.records
        ),
        StateError,
    )
    records = list(journal.to_reverse())
    if journal.finished is not None:
        # Every row set as the whole apply left it: checked before anything is written.
        changed = _changed(source, records, journal.finished)
        if changed:
            raise _refuse(path, changed)
        with source.transaction():
            for record in records:
                undo_record(source, record)
        verified = sum(1 for r in records if str(r.seq) in journal.finished)
    else:
        verified = _undo_unfinished(source, journal, records)
        notes.append(
            "the apply had not finished (stopped, or the journal is cut short): undid the"
            f" {len(records)} change(s) it journaled; those of its last, unconfirmed batch"
            " were restored without comparing"
        )
    append_mark(path, "undone", records=len(records))
    return UndoReport(
        path,
        len(records),
        sorted({r.table for r in records}),
        journal.finished is not None,
        verified,
        len(records) - verified,
        notes,
    )


def _undo_unfinished(source: Source, journal: Journal, records: list[JournalRecord]) -> int:
    """Batch by batch, newest first: each committed batch's row sets must be as its commit
    left them once the later batches are undone; a difference rolls everything back."""
    verified = 0
    by_batch: dict[int, list[JournalRecord]] = {}
    for record in records:
        by_batch.setdefault(record.batch, []).append(record)
    with source.transaction():
        batch: int | None = None
        for record in records:
            if record.batch != batch:
                batch = record.batch
                states = journal.committed.get(batch)
                if states is not None:
                    mine = by_batch[batch]
                    changed = _changed(source, mine, states)
                    if changed:
                        raise _refuse(journal.path, changed)
                    verified += sum(1 for r in mine if str(r.seq) in states)
            undo_record(source, record)
    return verified
