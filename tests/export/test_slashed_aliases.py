"""Aliases spelled with a leading or trailing slash lose no redirect, from MariaDB or a dump.

The redirect stream used to check each slashed alias with a second query on the
connection that was still streaming ``url_alias``; pymysql then read and threw
away the rest of the unbuffered result, so every alias after the first slashed
one vanished (from MariaDB only). The same SQL text is loaded into MariaDB and
read as a dump here, and both must give every alias.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from conftest import BROKEN_DUMP, Databases, query
from export_helpers import records, run_export

from migrate import api
from migrate.config import ConnectionSpec
from migrate.errors import MigrateError
from migrate.source.base import StreamOpen

SLASHED = """
UPDATE `url_alias` SET `alias` = 'tin-tuc/tin-dang-uy/' WHERE `pid` = 2;
UPDATE `url_alias` SET `alias` = '/tin-tuc/tin-doan-hoi' WHERE `pid` = 6;
INSERT INTO `url_alias` VALUES (900,'node/212','/tin-tuc/tin-dang-uy/','und');
INSERT INTO `url_alias` VALUES (901,'node/213','/mot-bai-moi/','und');
"""


@pytest.fixture(scope="module")
def slashed_sql(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("slashed") / "slashed.sql"
    path.write_bytes(gzip.decompress(BROKEN_DUMP.read_bytes()) + SLASHED.encode())
    return path


def _redirects(out: Path) -> dict[str, dict[str, object]]:
    return {r["source"]: r for r in records(out, "redirect")}


def test_slashed_aliases_give_the_same_redirects_from_mariadb_and_the_dump(
    slashed_sql: Path, databases: Databases, tmp_path: Path
) -> None:
    db = databases.create(slashed_sql)
    from_db = tmp_path / "db"
    run_export(db, from_db, workers=0)
    from_dump = tmp_path / "dump"
    run_export(api.source_spec(dump=slashed_sql, cache_dir=tmp_path / "cache"), from_dump)

    db_redirects, dump_redirects = _redirects(from_db), _redirects(from_dump)
    assert len(db_redirects) == len(dump_redirects)
    assert db_redirects == dump_redirects

    # every alias row lands, slashes cut, the first row of each cut spelling winning
    rows = query(db, "SELECT pid, source, alias FROM url_alias ORDER BY pid")
    first: dict[str, str] = {}
    for _, source, alias in rows:
        first.setdefault(str(alias).strip("/"), str(source))
    exported = {f"node/{r['nid']}" for r in records(from_db, "node")}
    exported |= {f"taxonomy/term/{r['tid']}" for r in records(from_db, "term")}
    expected = {alias for alias, source in first.items() if source in exported}
    aliases = {s for s, r in db_redirects.items() if r["origin"] == "alias"}
    assert aliases == expected
    assert "mot-bai-moi" in aliases and "tin-tuc/tin-doan-hoi" in aliases
    # the later row of a cut spelling (node 212's) does not replace the first (term 2's)
    assert first["tin-tuc/tin-dang-uy"] == "taxonomy/term/2"
    assert db_redirects.get("tin-tuc/tin-dang-uy", {}).get("entity") != "node"


def test_a_query_while_a_stream_is_open_is_refused(broken_db: ConnectionSpec) -> None:
    with api.connect(broken_db) as site:
        stream = site.source.stream("SELECT pid FROM {url_alias} ORDER BY pid")
        next(stream)
        with pytest.raises(StreamOpen, match="still open"):
            site.source.rows("SELECT 1")
        assert issubclass(StreamOpen, MigrateError)
        rest = list(stream)
        assert len(rest) + 1 == len(query(broken_db, "SELECT pid FROM url_alias"))
        assert site.source.scalar("SELECT COUNT(*) FROM {url_alias}") == len(rest) + 1
