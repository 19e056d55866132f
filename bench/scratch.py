"""Scratch MariaDB databases for the benchmarks: the server, a connection, loading a dump.

The server is the one the tests use (``TEST_MYSQL_URL``, default root on
127.0.0.1:3306); each benchmark creates its own ``dm_bench_*`` databases and
drops them.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pymysql

from migrate.config import ConnectionSpec, from_url

SERVER_URL = os.environ.get("TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/mysql")


def server(database: str | None = None) -> ConnectionSpec:
    spec = from_url(SERVER_URL)
    return replace(spec, database=database) if database else spec


def connect(database: str | None = None) -> pymysql.connections.Connection:
    """An autocommit connection, to ``database`` or to none."""
    spec = server()
    return pymysql.connect(
        host=spec.host,
        port=spec.port,
        user=spec.user,
        password=spec.password,
        unix_socket=spec.unix_socket,
        database=database,
        charset="utf8mb4",
        autocommit=True,
    )


def load(database: str, dump: Path) -> None:
    """Pipe a dump (plain or gzip) into the mariadb client without holding it in memory."""
    spec = server(database)
    client = shutil.which("mariadb") or shutil.which("mysql") or "mariadb"
    with dump.open("rb") as probe:
        opener = gzip.open if probe.read(2) == b"\x1f\x8b" else open
    cmd = [client, f"--host={spec.host}", f"--port={spec.port}", f"--user={spec.user}"]
    cmd += ["--default-character-set=utf8mb4", database]
    env = {**os.environ, "MYSQL_PWD": spec.password}
    with (
        opener(dump, "rb") as fh,
        subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as proc,
    ):
        assert proc.stdin is not None
        shutil.copyfileobj(fh, proc.stdin, 1 << 20)
        proc.stdin.close()
        err = proc.stderr.read() if proc.stderr else b""
    if proc.returncode:
        raise SystemExit(f"loading {dump} failed: {err.decode()[:500]}")
