"""A live MariaDB/MySQL Drupal database over pymysql.

Read-only sources run every query inside one ``CONSISTENT SNAPSHOT, READ ONLY``
transaction so that figures taken from a live site agree with each other and a
SELECT-only account is enough.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pymysql
import pymysql.cursors

from migrate.config import ConnectionSpec
from migrate.errors import ConnectionFailed, MigrateError, SchemaError
from migrate.source.base import Row, Source, check_identifier
from migrate.source.text import decode_binary_text, holds_text

_MARKER = re.compile(r"'(?:[^'\\]|\\.)*'|\?|%")

_NO_SUCH_TABLE = 1146
_ACCESS_DENIED = (1044, 1045, 1698)
_UNKNOWN_DB = 1049
_CANNOT_CONNECT = (2002, 2003, 2005, 2006, 2013)
_READ_ONLY = (1792, 1142, 1227)
LOCK_WAIT = 1
"""Seconds a parallel audit may wait for writers before it settles for one connection."""
STREAM_BATCH = 100
_BINARY_CHARSET = 63
_STRING_TYPES = frozenset({249, 250, 251, 252, 253, 254})
"""pymysql field types of (VAR)CHAR/TEXT and (VAR)BINARY/BLOB columns."""


def _driver_sql(text: str) -> str:
    def swap(m: re.Match[str]) -> str:
        tok = m.group(0)
        return "%s" if tok == "?" else "%%" if tok == "%" else tok.replace("%", "%%")

    return _MARKER.sub(swap, text)


class MySQLSource(Source):
    dialect = "mysql"

    def __init__(
        self, spec: ConnectionSpec, *, readonly: bool = True, snapshot: bool = True
    ) -> None:
        super().__init__(spec.prefix)
        self.spec = spec
        self.label = spec.safe_url
        self.readonly = readonly
        self._tables: set[str] | None = None
        self._charsets: dict[tuple[str, str], str] | None = None
        self._functions: dict[str, bool] = {}
        try:
            self.conn = pymysql.connect(
                host=spec.host,
                port=spec.port,
                user=spec.user,
                password=spec.password,
                database=spec.database,
                unix_socket=spec.unix_socket,
                charset="utf8mb4",
                autocommit=False,
                connect_timeout=10,
                # MySQL's 1 KB default would silently cut a GROUP_CONCAT: a node's digest
                # would miss its later rows, a term list its later tags.
                init_command="SET SESSION group_concat_max_len = 16777216",
            )
        except pymysql.err.OperationalError as exc:
            raise self._connect_error(exc) from None
        if readonly and snapshot:
            self.begin_snapshot()

    def has_function(self, name: str) -> bool:
        """Whether the server knows this one-argument SQL function; asked once per name.

        Servers differ: CRC32C came in MariaDB 10.8 and MySQL has none, while Drupal 7
        sites run on both and on versions a decade older.
        """
        name = check_identifier(name.lower(), "function name")
        if name not in self._functions:
            try:
                self.rows(f"SELECT {name}('')")
                self._functions[name] = True
            except MigrateError:
                self._functions[name] = False
        return self._functions[name]

    def begin_snapshot(self) -> None:
        self._run("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")

    @classmethod
    def snapshots(cls, spec: ConnectionSpec, count: int) -> tuple[list[MySQLSource], str | None]:
        """Read-only connections whose snapshots see exactly the same data.

        InnoDB cannot share one snapshot between connections, so the site's tables
        are READ-locked (from one more connection, for at most LOCK_WAIT seconds of
        waiting) while every connection starts its snapshot: no commit can fall
        between them. Without the LOCK TABLES privilege, or when writers hold the
        tables longer, this gives one connection and says why.
        """
        sources = [cls(spec, snapshot=False) for _ in range(count)]
        try:
            why = sources[0]._locked_snapshots(sources) if count > 1 else None
        except BaseException:
            for source in sources:
                source.close()
            raise
        if why is not None:
            for source in sources[1:]:
                source.close()
            sources = sources[:1]
            sources[0].begin_snapshot()
        return sources, why

    def _locked_snapshots(self, sources: list[MySQLSource]) -> str | None:
        """Start every source's snapshot under a READ lock; None, or why it could not."""
        tables = sorted(
            str(name)
            for name, kind in self.rows("SHOW FULL TABLES")
            if kind == "BASE TABLE" and self._belongs_to_site(str(name))
        )
        if not tables:
            return "the site has no tables to lock"
        locker = MySQLSource(self.spec, snapshot=False)
        try:
            locker._run(f"SET SESSION lock_wait_timeout = {LOCK_WAIT}")
            try:
                locker._run(
                    "LOCK TABLES "
                    + ", ".join(f"`{check_identifier(t, 'table name')}` READ" for t in tables)
                )
            except MigrateError as exc:
                return f"could not READ-lock the site's tables to align snapshots ({exc})"
            for source in sources:
                source.begin_snapshot()
            locker._run("UNLOCK TABLES")
        finally:
            locker.close()
        return None

    def _belongs_to_site(self, name: str) -> bool:
        prefixes = {self.prefix.default, *self.prefix.per_table.values()}
        return any(name.startswith(p) for p in prefixes)

    def _connect_error(self, exc: pymysql.err.OperationalError) -> MigrateError:
        code = exc.args[0] if exc.args else 0
        where = self.spec.safe_url
        if code in _ACCESS_DENIED:
            return ConnectionFailed(f"{where}: access denied (check user and password)")
        if code == _UNKNOWN_DB:
            return ConnectionFailed(f"{where}: unknown database {self.spec.database!r}")
        if code in _CANNOT_CONNECT:
            return ConnectionFailed(f"{where}: cannot connect (is the server running?)")
        return ConnectionFailed(f"{where}: connection failed (MySQL error {code})")

    def _sql_error(self, exc: pymysql.err.MySQLError) -> MigrateError:
        code = exc.args[0] if exc.args else 0
        text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
        if code == _NO_SUCH_TABLE:
            return SchemaError(f"{self.label}: missing table: {text}")
        if code in _READ_ONLY:
            return MigrateError(f"{self.label}: the account may not write: {text}")
        if code in _CANNOT_CONNECT:
            return ConnectionFailed(f"{self.label}: connection lost")
        return MigrateError(f"{self.label}: MySQL error {code}: {text}")

    def _placeholders(self, text: str) -> str:
        return _driver_sql(text)

    def _run(self, statement: str, params: Sequence[Any] = ()) -> int:
        self._idle(statement)
        try:
            with self.conn.cursor() as cur:
                return int(cur.execute(statement, tuple(params)))
        except pymysql.err.MySQLError as exc:
            raise self._sql_error(exc) from None

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self._idle(sql)
        try:
            self._load_charsets()
            with self.conn.cursor() as cur:
                cur.execute(self.sql(sql), tuple(params))
                found = list(cur.fetchall())
                text = self._binary_text(cur)
        except pymysql.err.MySQLError as exc:
            raise self._sql_error(exc) from None
        return [self._decoded(row, text) for row in found] if text else found

    def _stream(self, sql: str, params: Sequence[Any]) -> Iterator[Row]:
        cur = self.conn.cursor(pymysql.cursors.SSCursor)
        try:
            self._load_charsets()
            cur.execute(self.sql(sql), tuple(params))
            text = self._binary_text(cur)
            # Rows come off the socket one at a time; a small batch only amortises the
            # call, and keeps a stream of large bodies from holding thousands at once.
            while batch := cur.fetchmany(STREAM_BATCH):
                if text:
                    batch = [self._decoded(row, text) for row in batch]
                yield from batch
        except pymysql.err.MySQLError as exc:
            raise self._sql_error(exc) from None
        finally:
            cur.close()

    def _binary_text(self, cur: Any) -> list[tuple[int, str, str, str, str | None]]:
        """Result columns read from a binary column that holds text (see ``source.text``).

        pymysql returns such columns as bytes and says where each came from only in
        its field packets: (index, table, column, first column's name, table charset).
        """
        result = getattr(cur, "_result", None)
        fields = getattr(result, "fields", None) or []
        found = []
        for index, fld in enumerate(fields):
            if fld.charsetnr != _BINARY_CHARSET or fld.type_code not in _STRING_TYPES:
                continue
            table, column = str(fld.org_table or ""), str(fld.org_name or "")
            if not table or not holds_text(self._drupal_names(fld), column):
                continue
            key = next((f.name for i, f in enumerate(fields) if i != index), "")
            found.append((index, table, column, str(key), self._table_charset(fld)))
        return found

    def _drupal_names(self, fld: Any) -> list[str]:
        """The Drupal table a result column came from, its prefix taken off."""
        db = fld.db.decode("utf-8") if isinstance(fld.db, bytes) else str(fld.db or "")
        where = (None if db in ("", self.spec.database) else db, str(fld.org_table))
        named = [t for t in self.prefix.per_table if self.prefix.location(t) == where]
        database, _, default = self.prefix.default.rpartition(".")
        if (database or None) == where[0] and where[1].startswith(default):
            named.append(where[1][len(default) :])
        return named

    def _load_charsets(self) -> None:
        """Each table's declared charset, read once before the first query's result is open."""
        if self._charsets is None:
            with self.conn.cursor() as cur:
                cur.execute(
                    "SELECT TABLE_SCHEMA, TABLE_NAME, CCSA.CHARACTER_SET_NAME"
                    " FROM information_schema.TABLES T JOIN"
                    " information_schema.COLLATION_CHARACTER_SET_APPLICABILITY CCSA"
                    " ON CCSA.COLLATION_NAME = T.TABLE_COLLATION"
                    " WHERE TABLE_SCHEMA = DATABASE()"
                )
                self._charsets = {(str(s), str(t)): str(c) for s, t, c in cur.fetchall()}

    def _table_charset(self, fld: Any) -> str | None:
        db = fld.db.decode("utf-8") if isinstance(fld.db, bytes) else str(fld.db or "")
        return (self._charsets or {}).get((db or self.spec.database, str(fld.org_table)))

    @staticmethod
    def _decoded(row: Row, text: list[tuple[int, str, str, str, str | None]]) -> Row:
        values = list(row)
        for index, table, column, key, charset in text:
            raw = values[index]
            if isinstance(raw, bytes):
                other = next((v for i, v in enumerate(row) if i != index), None)
                where = f"{key}={other!r}" if key else "?"
                values[index] = decode_binary_text(
                    raw, table=table, column=column, row=where, charset=charset
                )
        return tuple(values)

    def table_names(self) -> set[str]:
        if self._tables is None:
            tables = {str(r[0]) for r in self.rows("SHOW TABLES")}
            # A per-table prefix may name another database ('users' => 'shared_db.').
            for database in sorted(self._other_databases()):
                listed = self.rows(f"SHOW TABLES FROM `{database}`")
                tables.update(f"{database}.{r[0]}" for r in listed)
            self._tables = tables
        return self._tables

    def _other_databases(self) -> set[str]:
        values = (self.prefix.default, *self.prefix.per_table.values())
        return {v.rpartition(".")[0] for v in values if "." in v}

    def columns(self, table: str) -> list[str]:
        return [r[0] for r in self.rows(f"SHOW COLUMNS FROM {{{check_identifier(table)}}}")]

    def table_engine(self, table: str) -> str | None:
        database, name = self.prefix.location(check_identifier(table))
        return self.scalar(
            "SELECT ENGINE FROM information_schema.TABLES"
            " WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?",
            (database, name),
        )

    def charset(self) -> str | None:
        database, name = self.prefix.location("node")
        return self.scalar(
            "SELECT TABLE_COLLATION FROM information_schema.TABLES"
            " WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?",
            (database, name),
        )

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        if self.readonly:
            raise MigrateError(f"{self.label}: opened read-only; refusing to write")
        return self._run(self.sql(sql), params)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self.readonly:
            raise MigrateError(f"{self.label}: opened read-only; refusing to write")
        self.conn.begin()
        try:
            yield
        except BaseException:
            self.conn.rollback()
            raise
        self.conn.commit()

    def close(self) -> None:
        if self.conn.open:
            if self.readonly:
                # A Ctrl-C mid-packet leaves the protocol out of step; the server
                # rolls back a read-only snapshot on disconnect anyway.
                with contextlib.suppress(pymysql.err.MySQLError):
                    self.conn.rollback()
            self.conn.close()
