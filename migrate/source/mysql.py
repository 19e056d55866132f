"""A live MariaDB/MySQL Drupal database over pymysql.

Read-only sources run every query inside one ``CONSISTENT SNAPSHOT, READ ONLY``
transaction so that figures taken from a live site agree with each other and a
SELECT-only account is enough.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pymysql
import pymysql.cursors

from migrate.config import ConnectionSpec
from migrate.errors import ConnectionFailed, MigrateError, SchemaError
from migrate.source.base import Row, Source, check_identifier

_MARKER = re.compile(r"'(?:[^'\\]|\\.)*'|\?|%")

_NO_SUCH_TABLE = 1146
_ACCESS_DENIED = (1044, 1045, 1698)
_UNKNOWN_DB = 1049
_CANNOT_CONNECT = (2002, 2003, 2005, 2006, 2013)
_READ_ONLY = (1792, 1142, 1227)
LOCK_WAIT = 1
"""Seconds a parallel audit may wait for writers before it settles for one connection."""
STREAM_BATCH = 100


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
            )
        except pymysql.err.OperationalError as exc:
            raise self._connect_error(exc) from None
        if readonly and snapshot:
            self.begin_snapshot()

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
            with self.conn.cursor() as cur:
                cur.execute(self.sql(sql), tuple(params))
                return list(cur.fetchall())
        except pymysql.err.MySQLError as exc:
            raise self._sql_error(exc) from None

    def _stream(self, sql: str, params: Sequence[Any]) -> Iterator[Row]:
        cur = self.conn.cursor(pymysql.cursors.SSCursor)
        try:
            cur.execute(self.sql(sql), tuple(params))
            # Rows come off the socket one at a time; a small batch only amortises the
            # call, and keeps a stream of large bodies from holding thousands at once.
            while batch := cur.fetchmany(STREAM_BATCH):
                yield from batch
        except pymysql.err.MySQLError as exc:
            raise self._sql_error(exc) from None
        finally:
            cur.close()

    def table_names(self) -> set[str]:
        if self._tables is None:
            self._tables = {r[0] for r in self.rows("SHOW TABLES")}
        return self._tables

    def columns(self, table: str) -> list[str]:
        return [r[0] for r in self.rows(f"SHOW COLUMNS FROM {{{check_identifier(table)}}}")]

    def table_engine(self, table: str) -> str | None:
        return self.scalar(
            "SELECT ENGINE FROM information_schema.TABLES"
            " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
            (self.prefix.apply(check_identifier(table)),),
        )

    def charset(self) -> str | None:
        return self.scalar(
            "SELECT TABLE_COLLATION FROM information_schema.TABLES"
            " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
            (self.prefix.apply("node"),),
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
                self.conn.rollback()
            self.conn.close()
