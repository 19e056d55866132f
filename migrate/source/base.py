"""The one interface every reader of a Drupal database goes through.

SQL in this project is written the way Drupal writes it: table names in braces
(``SELECT nid FROM {node}``) and values as ``?`` placeholders. A source expands
the braces to the validated, prefixed, quoted table name and binds the values,
so no check, reader or writer ever builds a table name by hand and the same
query text runs on MariaDB and on the embedded SQLite copy of a dump.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from migrate.errors import MigrateError
from migrate.identifiers import Prefix, check_identifier

_BRACED = re.compile(r"\{([^{}]*)\}")

Row = tuple[Any, ...]


class StreamOpen(MigrateError):
    """A query was issued on a source while one of its streams was still being read.

    On MariaDB the stream is an unbuffered server-side result: a second query on
    the same connection makes pymysql read and discard the rest of it, so rows
    would vanish without a word. Every source refuses instead, on every backend,
    so the mistake shows in any test rather than only against a live server.
    """


class Source(ABC):
    """A Drupal 7 database to read (and, for repairs, to write)."""

    dialect: str = ""
    label: str = ""

    def __init__(self, prefix: Prefix) -> None:
        self.prefix = prefix
        self._streaming: str | None = None

    def _idle(self, sql: str) -> None:
        """Refuse ``sql`` while a stream is open (see ``StreamOpen``)."""
        if self._streaming is not None:
            raise StreamOpen(
                f"{self.label}: query {_brief(sql)!r} issued while the stream"
                f" {_brief(self._streaming)!r} is still open; read it to the end first"
                " (or collect what it needs and query afterwards)"
            )

    def table(self, name: str) -> str:
        """The quoted, prefixed name of a Drupal table."""
        return self.prefix.quoted(check_identifier(name, "table name"))

    def sql(self, text: str) -> str:
        """Expand ``{table}`` to quoted prefixed names and ``?`` to the driver's marker."""
        return self._placeholders(_BRACED.sub(lambda m: self.table(m.group(1)), text))

    def _placeholders(self, text: str) -> str:
        return text

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """All rows of a small result."""
        return list(self.stream(sql, params))

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.one(sql, params)
        return row[0] if row else None

    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[Row]:
        """Rows one at a time without holding the result in memory.

        Until the iterator is exhausted (or closed) any other query on this source
        raises ``StreamOpen``: the engine never loses the rest of a stream to it.
        """
        self._idle(sql)
        self._streaming = sql
        try:
            yield from self._stream(sql, params)
        finally:
            self._streaming = None

    @abstractmethod
    def _stream(self, sql: str, params: Sequence[Any]) -> Iterator[Row]:
        """The backend's unguarded stream (``stream`` adds the one-stream-at-a-time check)."""

    @abstractmethod
    def table_names(self) -> set[str]:
        """Physical table names present (with their prefixes)."""

    @abstractmethod
    def columns(self, table: str) -> list[str]:
        """Column names of a Drupal table (unprefixed name)."""

    def has_table(self, name: str) -> bool:
        return self.prefix.apply(check_identifier(name, "table name")) in self.table_names()

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a write statement inside the current transaction; return rows affected."""

    @abstractmethod
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction: committed on success, rolled back on any error."""

    def has_function(self, name: str) -> bool:
        """Whether this source's SQL offers the function ``name`` (see MySQLSource)."""
        return False

    def table_engine(self, table: str) -> str | None:
        """Storage engine of a table, where the backend has such a notion."""
        return None

    def charset(self) -> str | None:
        """The character set the site's tables are stored in, where known."""
        return None

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _brief(sql: str) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= 80 else text[:77] + "..."
