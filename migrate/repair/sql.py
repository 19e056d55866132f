"""A plan as a SQL script, for admins who can only paste into phpMyAdmin.

A script file has no bound parameters, so every value is written as a MySQL
literal here: strings escaped for the default (backslash-escaping) SQL mode,
which the script sets, and bytes as hex literals.
"""

from __future__ import annotations

import gzip
import os
import shutil
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from pymysql.converters import escape_string

from migrate.identifiers import Prefix, check_identifier
from migrate.repair.operations import Operation, Plan
from migrate.source.dump import open_dump_bytes


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
    return "`" + prefix.apply(check_identifier(table, "table name")) + "`"


def _where(key: dict[str, Any]) -> str:
    parts = [f"`{check_identifier(c)}` = {literal(v)}" for c, v in key.items()]
    return " AND ".join(parts) or "1 = 1"


def statement(op: Operation, prefix: Prefix) -> str:
    table = _name(prefix, op.table)
    if op.kind == "insert":
        cols = ", ".join(f"`{check_identifier(c)}`" for c in op.after)
        vals = ", ".join(literal(v) for v in op.after.values())
        return f"INSERT INTO {table} ({cols}) VALUES ({vals});"
    if op.kind == "update":
        sets = ", ".join(f"`{check_identifier(c)}` = {literal(v)}" for c, v in op.after.items())
        return f"UPDATE {table} SET {sets} WHERE {_where(op.key)};"
    return f"DELETE FROM {table} WHERE {_where(op.key)};"


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
