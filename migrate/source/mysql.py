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


def _driver_sql(text: str) -> str:
    def swap(m: re.Match[str]) -> str:
        tok = m.group(0)
        return "%s" if tok == "?" else "%%" if tok == "%" else tok.replace("%", "%%")

    return _MARKER.sub(swap, text)


class MySQLSource(Source):
    dialect = "mysql"

    def __init__(self, spec: ConnectionSpec, *, readonly: bool = True) -> None:
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
        if readonly:
            self._run("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")

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
        try:
            with self.conn.cursor() as cur:
                return int(cur.execute(statement, tuple(params)))
        except pymysql.err.MySQLError as exc:
            raise self._sql_error(exc) from None

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            with self.conn.cursor() as cur:
                cur.execute(self.sql(sql), tuple(params))
                return list(cur.fetchall())
        except pymysql.err.MySQLError as exc:
            raise self._sql_error(exc) from None

    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[Row]:
        cur = self.conn.cursor(pymysql.cursors.SSCursor)
        try:
            cur.execute(self.sql(sql), tuple(params))
            while batch := cur.fetchmany(2000):
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
