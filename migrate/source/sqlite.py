"""The embedded SQLite copy of a dump, behind the same ``Source`` interface as MariaDB.

Checks run unchanged on it: SQLite accepts backtick-quoted names and ``?`` markers,
text columns carry ``COLLATE NOCASE`` where MySQL compared case-insensitively, and the
few MySQL functions the checks use (CONCAT) are registered here.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from decimal import Decimal
from pathlib import Path
from typing import Any

from pymysql import converters

from migrate.errors import BadInput, DumpError, SchemaError
from migrate.identifiers import Prefix, check_identifier
from migrate.source.base import Row, Source

META_TABLES = ("_dm_meta", "_dm_tables")


def _pymysql_like(convert: Any) -> Any:
    return lambda raw: convert(raw.decode("utf-8"))


# Declared SQLite types of MySQL columns pymysql returns as Python objects, not as text.
CONVERTERS = {
    "DM_DECIMAL_TEXT": lambda raw: Decimal(raw.decode("ascii")),
    "DM_DATETIME_TEXT": _pymysql_like(converters.convert_datetime),
    "DM_TIMESTAMP_TEXT": _pymysql_like(converters.convert_datetime),
    "DM_DATE_TEXT": _pymysql_like(converters.convert_date),
    "DM_TIME_TEXT": _pymysql_like(converters.convert_timedelta),
}
for _name, _convert in CONVERTERS.items():
    sqlite3.register_converter(_name, _convert)


def _concat(*parts: Any) -> Any:
    """MySQL CONCAT: NULL if any argument is NULL, bytes if any argument is bytes."""
    if any(p is None for p in parts):
        return None
    if any(isinstance(p, bytes) for p in parts):
        return b"".join(p if isinstance(p, bytes) else str(p).encode("utf-8") for p in parts)
    return "".join(str(p) for p in parts)


def _regexp(pattern: str | None, value: Any) -> int | None:
    """MySQL REGEXP on a *_ci column: case-insensitive search."""
    if pattern is None or value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return 1 if re.search(pattern, str(value), re.I) else 0


def connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    """A connection with the MySQL-compatibility functions and converters installed.

    It may be handed to another thread (a side-by-side audit does), never shared
    by two at once.
    """
    uri = f"{path.resolve().as_uri()}?mode={'ro' if readonly else 'rw'}"
    conn = sqlite3.connect(
        uri,
        uri=True,
        detect_types=sqlite3.PARSE_DECLTYPES,
        isolation_level=None,
        check_same_thread=False,
    )
    conn.create_function("concat", -1, _concat, deterministic=True)
    conn.create_function("regexp", 2, _regexp, deterministic=True)
    return conn


class SQLiteSource(Source):
    """A Drupal database held in one SQLite file built from a dump."""

    dialect = "sqlite"

    def __init__(self, path: Path, prefix: Prefix, *, label: str = "", writable: bool = False):
        super().__init__(prefix)
        self.path = Path(path)
        self.label = label or str(path)
        self.writable = writable
        self._conn = connect(self.path, readonly=not writable)
        self._names: set[str] | None = None

    def _stream(self, sql: str, params: Sequence[Any]) -> Iterator[Row]:
        cursor = self._cursor(sql, params)
        try:
            while batch := cursor.fetchmany(1000):
                yield from batch
        finally:
            # a stream abandoned by an error may be closed after its connection
            with suppress(sqlite3.ProgrammingError):
                cursor.close()

    def _run(self, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        self._idle(sql)
        return self._cursor(sql, params)

    def _cursor(self, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        try:
            return self._conn.execute(self.sql(sql), tuple(params))
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                raise SchemaError(
                    f"{self.label}: missing table: {exc} (not in the dump, or not loaded: "
                    "see --all-tables)"
                ) from None
            raise
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from None

    def table_names(self) -> set[str]:
        if self._names is None:
            found = self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            self._names = {name for (name,) in found if name not in META_TABLES}
        return set(self._names)

    def columns(self, table: str) -> list[str]:
        name = self.prefix.apply(check_identifier(table, "table name"))
        return [row[1] for row in self._conn.execute(f'PRAGMA table_info("{name}")')]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        if not self.writable:
            raise BadInput(
                f"{self.label}: the dump cache is read-only; write to a copy (SQLiteSource.copy)"
            )
        return self._run(sql, params).rowcount

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
        self._names = None

    def table_engine(self, table: str) -> str | None:
        name = self.prefix.apply(check_identifier(table, "table name"))
        row = self._conn.execute("SELECT engine FROM _dm_tables WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def charset(self) -> str | None:
        """The collation the dump declared for the node table, as MariaDB would report it."""
        row = self._conn.execute(
            "SELECT collation FROM _dm_tables WHERE name = ?", (self.prefix.apply("node"),)
        ).fetchone()
        return row[0] if row else None

    def dump_tables(self) -> list[tuple[str, str | None, bool, int]]:
        """Every table the dump declared: (name, engine, data loaded?, rows loaded)."""
        return [
            (name, engine, bool(loaded), rows)
            for name, engine, loaded, rows in self._conn.execute(
                "SELECT name, engine, loaded, rows FROM _dm_tables ORDER BY name"
            )
        ]

    def meta(self) -> dict[str, str]:
        """What the cache records about its dump: path, sha256, loader version, selection."""
        try:
            return dict(self._conn.execute("SELECT key, value FROM _dm_meta"))
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from None

    def _damaged(self, exc: sqlite3.DatabaseError) -> Exception:
        """A damaged SQLite copy as a one-line error with the cure; other errors as they are."""
        if "malformed" in str(exc) or "not a database" in str(exc):
            return DumpError(
                f"{self.label}: its SQLite copy {self.path} is damaged ({exc});"
                " run the same command with --refresh to rebuild it"
            )
        return exc

    def copy(self, dest: Path) -> SQLiteSource:
        """A writable copy (for repairs), leaving the shared cache untouched."""
        target = sqlite3.connect(dest)
        try:
            self._conn.backup(target)
        finally:
            target.close()
        return SQLiteSource(dest, self.prefix, label=self.label, writable=True)

    def close(self) -> None:
        self._conn.close()
