"""A fixture dump as a site to test against: in a throwaway MariaDB database, or read directly.

With a server URL, each dump is loaded with the ``mariadb`` client into a database
of its own (``dm_site_<hex>``), dropped by ``close``; without one, the embedded
dump reader opens it, cached in a folder of the test run. Either way the results
are the library's own typed records.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import pymysql

from migrate import api
from migrate.audit import AuditReport
from migrate.config import ConnectionSpec, from_url
from migrate.errors import BadInput, ConnectionFailed
from migrate.export.engine import ExportOptions, ExportSummary
from migrate.export.reader import Selection
from migrate.export.redirects import normalize_path
from migrate.repair.operations import Plan
from migrate.source import DumpSpec, SourceSpec
from migrate.source.dump import open_dump


@dataclass
class ExportBundle:
    """An export's directory, its summary, and its records read back by key."""

    out: Path
    summary: ExportSummary
    nodes: dict[int, dict[str, Any]] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, out: Path, summary: ExportSummary) -> ExportBundle:
        bundle = cls(out, summary)
        for record in _records(out / "nodes"):
            bundle.nodes[int(record["nid"])] = record
        if (out / "state.sqlite").exists():
            bundle.redirects = api.redirects(out, "csv").map.as_dict()
        return bundle

    def redirect_for(self, old: str) -> str | None:
        """Where an old URL (``/path``, ``path``, ``?q=path``) now leads, if anywhere."""
        return self.redirects.get(normalize_path(old))


def _records(folder: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(folder.glob("batch-*.jsonl")) if folder.is_dir() else []:
        with path.open("rb") as fh:
            for line in fh:
                if line.strip():
                    yield orjson.loads(line)


class DrupalSite:
    """One fixture dump, opened for the toolkit; ``close`` drops what it created."""

    def __init__(self, dump: Path, workdir: Path, server: ConnectionSpec | None = None) -> None:
        self.dump = Path(dump)
        if not self.dump.is_file():
            raise BadInput(f"{self.dump}: no such fixture dump")
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.server = server
        self.database: str | None = None
        self._repaired: dict[str, DrupalSite] = {}
        cache = workdir / "dump-cache"
        reader = open_dump(self.dump, cache_dir=cache)
        prefix = reader.prefix
        reader.close()
        self.spec: SourceSpec
        if server is None:
            self.spec = DumpSpec(self.dump, prefix, cache)
        else:
            self.database = f"dm_site_{uuid.uuid4().hex[:12]}"
            _create(server, self.database)
            self.spec = replace(server, database=self.database, prefix=prefix)
            _load(self.spec, self.dump)

    @property
    def backend(self) -> str:
        return "mariadb" if self.database else "dump"

    def audit(self, checks: tuple[str, ...] = ("*",)) -> AuditReport:
        return api.audit(self.spec, checks)

    def repair_plan(self, mapping: Path | None = None, strategies: tuple[str, ...] = ()) -> Plan:
        return api.plan_repair(self.spec, mapping, strategies)

    def repaired(self, plan: Plan) -> DrupalSite:
        """The site after ``plan``, applied to a copy (this site is left as it is).

        One copy per distinct plan, closed with this site.
        """
        same = {**plan.to_dict(), "created": ""}  # the same plan made twice differs only there
        key = hashlib.sha256(json.dumps(same, sort_keys=True).encode("utf-8")).hexdigest()
        if key not in self._repaired:
            out = self.workdir / f"repaired-{key[:12]}"
            if self.server is None:
                api.apply_repair(self.spec, plan, yes=True, out=out)
                copy = DrupalSite(out / "repaired.sql.gz", out / "site", None)
            else:
                copy = DrupalSite(self.dump, out, self.server)
                self._repaired[key] = copy  # dropped with this site even if the apply fails
                api.apply_repair(copy.spec, plan, yes=True, journal=out / "journal.jsonl")
            self._repaired[key] = copy
        return self._repaired[key]

    def export(
        self, to: str = "jsonl", *, include_unpublished: bool = True, **options: Any
    ) -> ExportBundle:
        """Export into a new folder; every node, published or not, unless told otherwise."""
        out = self.workdir / f"export-{to}-{uuid.uuid4().hex[:8]}"
        selection = options.pop("selection", Selection(include_unpublished=include_unpublished))
        options.setdefault("workers", 0)
        summary = api.export(self.spec, out, ExportOptions(to=to, selection=selection, **options))
        return ExportBundle.read(out, summary)

    def close(self) -> None:
        for copy in self._repaired.values():
            copy.close()
        self._repaired.clear()
        if self.server is not None and self.database is not None:
            _admin(self.server, f"DROP DATABASE IF EXISTS `{self.database}`")
            self.database = None


def server_from_url(url: str) -> ConnectionSpec:
    """The server a test run may create databases on (the URL's database, if any, is not used)."""
    parts = urlsplit(url)
    if not parts.path.strip("/"):
        url = urlunsplit(parts._replace(path="/mysql"))
    return replace(from_url(url), database="")


def _admin(server: ConnectionSpec, statement: str) -> None:
    try:
        conn = pymysql.connect(
            host=server.host,
            port=server.port,
            user=server.user,
            password=server.password,
            unix_socket=server.unix_socket,
            charset="utf8mb4",
            autocommit=True,
        )
    except pymysql.err.MySQLError as exc:
        raise ConnectionFailed(f"{server.safe_url}: cannot connect ({exc.args[-1]})") from None
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def _create(server: ConnectionSpec, name: str) -> None:
    _admin(server, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")


def _load(spec: ConnectionSpec, dump: Path) -> None:
    """Load a dump with the ``mariadb`` client, as a developer would."""
    client = shutil.which("mariadb") or shutil.which("mysql")
    if client is None:
        raise BadInput("loading a fixture into MariaDB needs the mariadb client on PATH")
    cmd = [client, f"--user={spec.user}", "--default-character-set=utf8mb4"]
    if spec.unix_socket:
        cmd.append(f"--socket={spec.unix_socket}")
    else:
        cmd += [f"--host={spec.host}", f"--port={spec.port}"]
    env = {**os.environ, "MYSQL_PWD": spec.password}
    with dump.open("rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    with opener(dump, "rb") as fh:
        sql = fh.read()  # a fixture: small by design
    done = subprocess.run(
        [*cmd, spec.database], input=sql, env=env, capture_output=True, check=False
    )
    if done.returncode:
        first = done.stderr.decode("utf-8", "replace").strip().splitlines()[:1]
        raise BadInput(f"{dump}: the mariadb client could not load it: {' '.join(first)}")
