"""The journal: before-images written (and fsynced) before each change, and undo from them.

One JSON object per line. The header names the source and plan; each ``op``
record holds every column of the rows an operation is about to change; a
``commit`` record follows each committed batch. After a crash, op records of
a batch without its commit were rolled back by the database (transactional
tables), so undo skips them; on non-transactional tables they may or may not
have happened, so undo replays every record idempotently: remove what the
operation may have left, then put the before-image back.
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
from migrate.errors import StateError
from migrate.repair.operations import decode_row, encode_row, where
from migrate.source.base import Source

JOURNAL_FORMAT = "drupal-migrate-journal"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class JournalWriter:
    """Appends records and fsyncs each one before the caller may touch the database."""

    def __init__(self, path: Path, *, source: str, plan: str, transactional: bool) -> None:
        if path.exists():
            raise StateError(f"{path}: journal already exists; refusing to overwrite it")
        self.path = path
        self._fh: TextIO = path.open("x", encoding="utf-8")
        self.seq = 0
        self._write(
            {
                "type": "header",
                "format": JOURNAL_FORMAT,
                "version": 1,
                "source": source,
                "plan": plan,
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

    def commit(self, batch: int) -> None:
        self._write({"type": "commit", "batch": batch, "at": _now()})

    def mark(self, kind: str, **data: Any) -> None:
        self._write({"type": kind, "at": _now(), **data})

    def close(self) -> None:
        self._fh.close()


@dataclass
class JournalRecord:
    table: str
    key: dict[str, Any]
    new_key: dict[str, Any]
    rows: list[dict[str, Any]]
    batch: int


@dataclass
class Journal:
    """A journal read back: its header and the op records undo must reverse."""

    path: Path
    header: dict[str, Any]
    records: list[JournalRecord]
    committed: set[int]
    undone: bool
    finished: bool
    extra: list[dict[str, Any]] = field(default_factory=list)

    @property
    def transactional(self) -> bool:
        return bool(self.header.get("transactional"))

    def to_reverse(self) -> Iterator[JournalRecord]:
        """Every record, newest first: replay is idempotent, so a batch that was rolled
        back (or committed just before a crash, its commit record unwritten) is safe."""
        yield from reversed(self.records)


def read_journal(path: Path) -> Journal:
    """Parse a journal; a torn last line (killed mid-write) is ignored, anything else refused."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise StateError(f"{path}: cannot read journal ({exc.strerror})") from None
    parsed: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                break
            raise StateError(f"{path}:{number}: corrupt journal record") from None
    if not parsed or parsed[0].get("format") != JOURNAL_FORMAT:
        raise StateError(f"{path}: not a drupal-migrate journal")
    journal = Journal(path, parsed[0], [], set(), False, False)
    for rec in parsed[1:]:
        kind = rec.get("type")
        if kind == "op":
            journal.records.append(
                JournalRecord(
                    rec["table"],
                    decode_row(rec["key"]),
                    decode_row(rec["new_key"]),
                    [decode_row(r) for r in rec["rows"]],
                    int(rec["batch"]),
                )
            )
        elif kind == "commit":
            journal.committed.add(int(rec["batch"]))
        elif kind == "undone":
            journal.undone = True
        elif kind == "finished":
            journal.finished = True
        else:
            journal.extra.append(rec)
    return journal


def insert_row(source: Source, table: str, row: dict[str, Any]) -> None:
    columns = ", ".join(f"`{c}`" for c in row)
    marks = ", ".join("?" for _ in row)
    source.execute(f"INSERT INTO {{{table}}} ({columns}) VALUES ({marks})", list(row.values()))


def delete_rows(source: Source, table: str, key: dict[str, Any]) -> int:
    clause, params = where(key)
    return source.execute(f"DELETE FROM {{{table}}} WHERE {clause}", params)


def undo_record(source: Source, record: JournalRecord) -> None:
    """Put one record's rows back, whether or not its operation had happened."""
    delete_rows(source, record.table, record.key)
    if record.new_key != record.key:
        delete_rows(source, record.table, record.new_key)
    for row in record.rows:
        insert_row(source, record.table, row)


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "journal": str(self.journal),
            "records": self.records,
            "tables": self.tables,
            "apply_was_complete": self.complete,
        }


def undo_journal(source: Source, path: Path) -> UndoReport:
    """Restore every row the journal touched, in one transaction; refuse to undo twice."""
    journal = read_journal(path)
    if journal.undone:
        raise StateError(f"{path}: this journal was already undone")
    records = list(journal.to_reverse())
    with source.transaction():
        for record in records:
            undo_record(source, record)
    append_mark(path, "undone", records=len(records))
    return UndoReport(path, len(records), sorted({r.table for r in records}), journal.finished)
