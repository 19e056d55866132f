"""MariaDB helpers for the plan and journal cases (tests/conftest.py is shadowed here).

The hostile folder has its own ``conftest``, so ``from conftest import`` finds
that one; these are the few things the repair cases need from the top-level
one, reached through its fixtures or rebuilt from the same settings.
"""

from __future__ import annotations

from typing import Any, Protocol

import pymysql
from harness import REPO

from migrate.config import ConnectionSpec

BROKEN_DUMP = REPO / "fixtures" / "drupal7-broken.sql.gz"
CLEAN_DUMP = REPO / "fixtures" / "drupal7-clean.sql.gz"


class Databases(Protocol):
    """The ``databases`` fixture of tests/conftest.py."""

    def create(self, sql: Any = None) -> ConnectionSpec: ...

    def load(self, name: str, sql: Any) -> None: ...


def url_of(spec: ConnectionSpec) -> str:
    secret = f":{spec.password}" if spec.password else ""
    return f"mysql://{spec.user}{secret}@{spec.host}:{spec.port}/{spec.database}"


def connect(spec: ConnectionSpec, database: str | None = None) -> Any:
    return pymysql.connect(
        host=spec.host,
        port=spec.port,
        user=spec.user,
        password=spec.password,
        database=spec.database if database is None else database,
        charset="utf8mb4",
        autocommit=True,
    )


def execute(spec: ConnectionSpec, *statements: str) -> list[tuple[Any, ...]]:
    """Run statements behind the toolkit's back; the rows of the last one."""
    conn = connect(spec)
    rows: list[tuple[Any, ...]] = []
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
                rows = list(cur.fetchall())
    finally:
        conn.close()
    return rows


def table_checksums(spec: ConnectionSpec) -> dict[str, int]:
    """CHECKSUM TABLE of every table of the database."""
    tables = [r[0] for r in execute(spec, "SHOW TABLES")]
    rows = execute(spec, "CHECKSUM TABLE " + ", ".join(f"`{t}`" for t in tables))
    return {str(name).split(".")[-1]: value for name, value in rows}
