"""Hostile sites for the paths, HTML and bundle cases: the fixture edited by SQL, on a copy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pymysql

from migrate import api
from migrate.config import ConnectionSpec

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
BROKEN_DUMP = FIXTURES / "drupal7-broken.sql.gz"
OLD_URL = "http://www.example.edu.vn"


def db_url(spec: ConnectionSpec) -> str:
    """The CLI's --db for a test database (the password, if any, included)."""
    secret = f":{spec.password}" if spec.password else ""
    return f"mysql://{spec.user}{secret}@{spec.host}:{spec.port}/{spec.database}"


def execute(spec: ConnectionSpec, sql: str, params: tuple[Any, ...] = ()) -> None:
    """One statement, its values bound (hostile text never goes through quoting by hand)."""
    conn = pymysql.connect(
        host=spec.host,
        port=spec.port,
        user=spec.user,
        password=spec.password,
        database=spec.database,
        charset="utf8mb4",
        autocommit=True,
    )
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
    finally:
        conn.close()


def php_string(text: str) -> str:
    """A PHP-serialized string, as Drupal stores a variable."""
    return f's:{len(text.encode("utf-8"))}:"{text}";'


def set_variable(spec: ConnectionSpec, name: str, text: str) -> None:
    execute(
        spec,
        "REPLACE INTO variable (name, value) VALUES (%s, %s)",
        (name, php_string(text).encode("utf-8")),
    )


def make_files_dir(spec: ConnectionSpec, root: Path) -> dict[str, int]:
    """A stand-in sites/default/files with every public file at its recorded size."""
    with api.connect(spec) as site:
        rows = site.source.rows("SELECT uri, filesize FROM {file_managed} ORDER BY fid")
    made: dict[str, int] = {}
    for uri, size in rows:
        rel = str(uri).removeprefix("public://")
        if str(uri) == rel or ".." in rel or rel.startswith("/"):
            continue
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(i % 251 for i in range(int(size))))
        made[rel] = int(size)
    return made
