"""Shared test fixtures: real MariaDB databases loaded from the real Drupal 7 dumps.

Each database gets a unique name (``dm_test_<hex>``) and is dropped afterwards;
no test touches any other database. Without a reachable MariaDB the tests fail
and say how to start it: they never skip silently.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pymysql
import pytest

from migrate.config import ConnectionSpec, from_url

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
BROKEN_DUMP = FIXTURES / "drupal7-broken.sql.gz"
CLEAN_DUMP = FIXTURES / "drupal7-clean.sql.gz"
CORE_FIELDS_DUMP = FIXTURES / "drupal7-core-fields.sql.gz"
"""Drupal core's Drupal 7 migration fixture: 61 fields of 22 types (see its NOTES.md)."""
SERVER_URL = os.environ.get("TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/mysql")
START_HINT = (
    "start it with: start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd"
    " (or set TEST_MYSQL_URL=mysql://user:pass@host:port/mysql)"
)


def _server() -> ConnectionSpec:
    return from_url(SERVER_URL)


def connect(spec: ConnectionSpec, database: str | None = None) -> pymysql.connections.Connection:
    """A plain autocommit connection for a test's own set-up and checks."""
    return pymysql.connect(
        host=spec.host,
        port=spec.port,
        user=spec.user,
        password=spec.password,
        unix_socket=spec.unix_socket,
        database=database if database is not None else spec.database,
        charset="utf8mb4",
        autocommit=True,
    )


def run_sql(spec: ConnectionSpec, *statements: str) -> None:
    """Change a test database behind the toolkit's back (inject breakage, edit a row)."""
    conn = connect(spec)
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def query(spec: ConnectionSpec, sql: str) -> list[tuple[Any, ...]]:
    """Rows straight from MariaDB, to compare with what the toolkit read."""
    conn = connect(spec)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()


def _admin() -> pymysql.connections.Connection:
    return connect(_server(), database="")


@pytest.fixture(scope="session")
def mariadb() -> ConnectionSpec:
    """The server the tests use; fails loudly when it is down."""
    try:
        _admin().close()
    except pymysql.err.MySQLError as exc:
        pytest.fail(f"MariaDB is not reachable at {_server().safe_url} ({exc}); {START_HINT}")
    if shutil.which("mariadb") is None and shutil.which("mysql") is None:
        pytest.fail(
            "the mariadb client is needed to load fixtures (apt-get install mariadb-client)"
        )
    return _server()


class Databases:
    """Creates uniquely named databases loaded from SQL and drops them all at the end."""

    def __init__(self, server: ConnectionSpec) -> None:
        self.server = server
        self.created: list[str] = []

    def create(self, sql: Path | str | None = None) -> ConnectionSpec:
        name = f"dm_test_{uuid.uuid4().hex[:12]}"
        conn = _admin()
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        conn.close()
        self.created.append(name)
        if sql is not None:
            self.load(name, sql)
        return replace(self.server, database=name)

    def load(self, name: str, sql: Path | str) -> None:
        client = shutil.which("mariadb") or shutil.which("mysql") or "mariadb"
        cmd = [
            client,
            f"--host={self.server.host}",
            f"--port={self.server.port}",
            f"--user={self.server.user}",
            "--default-character-set=utf8mb4",
            name,
        ]
        env = {**os.environ, "MYSQL_PWD": self.server.password}
        if isinstance(sql, Path):
            opener = gzip.open if sql.read_bytes()[:2] == b"\x1f\x8b" else open
            with opener(sql, "rb") as fh:
                data = fh.read()
        else:
            data = sql.encode("utf-8")
        done = subprocess.run(cmd, input=data, env=env, capture_output=True, check=False)
        if done.returncode:
            raise RuntimeError(f"loading into {name} failed: {done.stderr.decode()[:500]}")

    def drop_all(self) -> None:
        conn = _admin()
        with conn.cursor() as cur:
            for name in self.created:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


@pytest.fixture(scope="session")
def databases(mariadb: ConnectionSpec) -> Iterator[Databases]:
    dbs = Databases(mariadb)
    yield dbs
    dbs.drop_all()


@pytest.fixture(scope="session")
def broken_db(databases: Databases) -> ConnectionSpec:
    """The broken site, shared by every test that only reads."""
    return databases.create(BROKEN_DUMP)


@pytest.fixture(scope="session")
def clean_db(databases: Databases) -> ConnectionSpec:
    """The site before anything broke, shared by every test that only reads."""
    return databases.create(CLEAN_DUMP)


@pytest.fixture(scope="session")
def core_fields_db(databases: Databases) -> ConnectionSpec:
    """Drupal core's field-variety fixture, shared by every test that only reads."""
    return databases.create(CORE_FIELDS_DUMP)


@pytest.fixture
def broken_db_rw(databases: Databases) -> ConnectionSpec:
    """A private copy of the broken site for a test that writes."""
    return databases.create(BROKEN_DUMP)


@pytest.fixture
def new_database(databases: Databases) -> Callable[..., ConnectionSpec]:
    """Make an empty (or SQL-loaded) database for a test."""
    return databases.create


@pytest.fixture(scope="session")
def ground_truth() -> dict[str, Any]:
    return json.loads((FIXTURES / "ground-truth.json").read_text(encoding="utf-8"))


def url_of(spec: ConnectionSpec) -> str:
    """The DSN of a test database, password included, for CLI tests."""
    secret = f":{spec.password}" if spec.password else ""
    return f"mysql://{spec.user}{secret}@{spec.host}:{spec.port}/{spec.database}"


@pytest.fixture(scope="session")
def hugo_fixture_site(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The repaired fixture exported to Hugo and built once (see tests/export/hugo_site.py)."""
    from hugo_site import build_fixture_site

    return build_fixture_site(databases, tmp_path_factory.mktemp("hugo-fixture-site"))
