"""The audit never writes: it runs with a SELECT-only account and leaves every table unchanged."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pymysql
import pytest
from click.testing import CliRunner
from conftest import _admin, url_of

from migrate.cli import main


def _checksums(database: str) -> dict[str, int]:
    conn = _admin()
    with conn.cursor() as cur:
        cur.execute(f"SHOW TABLES FROM `{database}`")
        tables = [r[0] for r in cur.fetchall()]
        cur.execute("CHECKSUM TABLE " + ", ".join(f"`{database}`.`{t}`" for t in tables))
        sums = {name: value for name, value in cur.fetchall()}
    conn.close()
    return sums


@pytest.fixture
def select_only(broken_db):
    user = f"dm_ro_{uuid.uuid4().hex[:10]}"
    password = uuid.uuid4().hex
    conn = _admin()
    with conn.cursor() as cur:
        for host in ("localhost", "%"):
            cur.execute(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY '{password}'")
            cur.execute(f"GRANT SELECT ON `{broken_db.database}`.* TO '{user}'@'{host}'")
    conn.close()
    yield replace(broken_db, user=user, password=password)
    conn = _admin()
    with conn.cursor() as cur:
        for host in ("localhost", "%"):
            cur.execute(f"DROP USER IF EXISTS '{user}'@'{host}'")
    conn.close()


def test_audit_with_a_select_only_account_changes_nothing(broken_db, select_only):
    with pytest.raises(pymysql.err.OperationalError):
        conn = pymysql.connect(
            host=select_only.host,
            port=select_only.port,
            user=select_only.user,
            password=select_only.password,
            database=select_only.database,
        )
        try:
            with conn.cursor() as cur:
                cur.execute("DELETE FROM watchdog")
        finally:
            conn.close()
    before = _checksums(broken_db.database)
    for fmt in ("table", "json"):
        result = CliRunner().invoke(
            main, ["audit", "--db", url_of(select_only), "--format", fmt, "--fail-on", "never"]
        )
        assert result.exit_code == 0, result.output
    assert "taxonomy.dangling_field_ref" in result.output
    assert _checksums(broken_db.database) == before


def test_side_by_side_with_a_select_only_account_settles_for_one_connection(broken_db, select_only):
    """Aligning snapshots needs LOCK TABLES; without it the audit says so and goes on."""
    before = _checksums(broken_db.database)
    runs = [
        CliRunner().invoke(
            main,
            ["audit", "--db", url_of(select_only), "--format", "json", "--fail-on", "never", *jobs],
        )
        for jobs in ((), ("--jobs", "2"))
    ]
    assert [r.exit_code for r in runs] == [0, 0]
    assert runs[1].stdout == runs[0].stdout
    assert "note: ran on 1 connection instead of 2: could not READ-lock" in runs[1].stderr
    assert select_only.password not in runs[1].stderr
    assert _checksums(broken_db.database) == before
