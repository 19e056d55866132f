"""Every statement a repair runs or prints, rendered here, from one function per operation.

The applier and ``undo`` run these with bound parameters (``?``); a SQL script
(``repair plan --sql``, the patch of a dump repair) has no parameters, so the
same statement gets each value written as a MySQL literal: strings escaped for
the default (backslash-escaping) SQL mode, which the script sets, and bytes as
hex literals. Identifiers are checked again here, whatever checked them before:
only ``a-z0-9_`` ever reaches the text, so a ``?`` in it is always a marker.
"""

from __future__ import annotations

import gzip
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pymysql.converters import escape_string

from migrate.identifiers import Prefix, check_identifier
from migrate.source.dump import open_dump_bytes

if TYPE_CHECKING:
    from migrate.repair.operations import Operation, Plan


@dataclass(frozen=True)
class Statement:
    """SQL with ``?`` markers and the values bound to them; ``{table}`` stands for the table."""

    text: str
    params: tuple[Any, ...]

    def inline(self, table: str) -> str:
        """The statement with the quoted table name and every value as a literal (scripts)."""
        head, *rest = self.text.replace("{table}", table).split("?")
        if len(rest) != len(self.params):
            raise ValueError(f"{len(rest)} markers for {len(self.params)} values")
        parts = [head]
        for value, tail in zip(self.params, rest, strict=True):
            parts += [literal(value), tail]
        return "".join(parts) + ";"


def _column(name: str) -> str:
    return f"`{check_identifier(name, 'column name')}`"


def where(key: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """``a = ? AND b = ?`` selecting the rows of ``key`` (``1 = 1``: every row)."""
    return " AND ".join(f"{_column(c)} = ?" for c in key) or "1 = 1", tuple(key.values())


def select(key: dict[str, Any]) -> Statement:
    clause, params = where(key)
    return Statement(f"SELECT * FROM {{table}} WHERE {clause}", params)


def insert(row: dict[str, Any]) -> Statement:
    columns = ", ".join(_column(c) for c in row)
    marks = ", ".join("?" for _ in row)
    return Statement(f"INSERT INTO {{table}} ({columns}) VALUES ({marks})", tuple(row.values()))


def update(key: dict[str, Any], values: dict[str, Any]) -> Statement:
    sets = ", ".join(f"{_column(c)} = ?" for c in values)
    clause, params = where(key)
    return Statement(f"UPDATE {{table}} SET {sets} WHERE {clause}", (*values.values(), *params))


def delete(key: dict[str, Any]) -> Statement:
    clause, params = where(key)
    return Statement(f"DELETE FROM {{table}} WHERE {clause}", params)


def render(op: Operation) -> Statement:
    """The one statement of an operation, for the applier and for scripts alike."""
    if op.kind == "insert":
        return insert(op.after)
    if op.kind == "update":
        return update(op.key, op.after)
    if op.kind == "delete":
        return delete(op.key)
    raise ValueError(f"unknown operation kind {op.kind!r}")


def bound(statement: Statement, table: str) -> tuple[str, list[Any]]:
    """Text and parameters for ``Source.execute``/``rows`` (which expand ``{table}``)."""
    check_identifier(table, "table name")
    return statement.text.replace("{table}", "{" + table + "}"), list(statement.params)


def literal(value: Any) -> str:
    """One value as a MySQL literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        return f"X'{raw.hex()}'" if raw else "''"
    return "'" + escape_string(str(value)) + "'"


def _name(prefix: Prefix, table: str) -> str:
    return prefix.quoted(check_identifier(table, "table name"))


def statement(op: Operation, prefix: Prefix) -> str:
    """One operation as a script line: the applier's statement with its values inlined."""
    return render(op).inline(_name(prefix, op.table))


def render_sql(plan: Plan, prefix: Prefix, extra: Iterable[Operation] = (), title: str = "") -> str:
    """The whole plan as one transaction; ``extra`` adds e.g. the cache clearing of an apply."""
    lines = [
        f"-- drupal-migrate repair {title or 'plan'} for {plan.source} ({plan.created})",
        "-- Review before running. Preconditions are not checked by this script:",
        "-- run it only on the database the plan was made from, unchanged since.",
        "SET NAMES utf8mb4;",
        "SET SESSION sql_mode = REPLACE(@@SESSION.sql_mode, 'NO_BACKSLASH_ESCAPES', '');",
        "START TRANSACTION;",
    ]
    last = ""
    for op in [*plan.operations, *extra]:
        if op.reason != last:
            lines.append(f"-- {op.reason}")
            last = op.reason
        lines.append(statement(op, prefix))
    lines.append("COMMIT;")
    return "\n".join(lines) + "\n"


def write_repaired_dump(original: Path, patch: str, dest: Path) -> None:
    """A whole repaired dump: the original, unchanged, then the patch (gzip, atomic).

    Loading it into an empty database gives the repaired site in one step, and
    the untouched original stays the record of what the site was.
    """
    partial = dest.with_name(dest.name + ".partial")
    with open_dump_bytes(original) as (stream, _position), partial.open("wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
            shutil.copyfileobj(stream, out, 1 << 20)
            out.write(b"\n-- drupal-migrate: the repair, applied on top of the dump above\n")
            out.write(patch.encode("utf-8"))
        raw.flush()
        os.fsync(raw.fileno())
    partial.replace(dest)
