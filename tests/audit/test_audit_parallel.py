"""`audit --jobs N`: checks side by side on aligned snapshots, the same report as one connection."""

from __future__ import annotations

import json

from click.testing import CliRunner
from conftest import BROKEN_DUMP, connect, url_of

from migrate.cli import main
from migrate.source import open_sources


def audit_json(*args: str) -> tuple[dict, str]:
    result = CliRunner().invoke(
        main, ["audit", *args, "--format", "json", "--fail-on", "never"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads(result.stdout), result.stderr


def test_three_connections_give_the_report_of_one(broken_db):
    one, _ = audit_json("--db", url_of(broken_db))
    three, notes = audit_json("--db", url_of(broken_db), "--jobs", "3")
    assert three == one
    assert notes == ""
    assert one["summary"]["findings"] > 0


def test_a_dump_is_read_side_by_side_too(tmp_path):
    args = ("--dump", str(BROKEN_DUMP), "--cache-dir", str(tmp_path))
    one, _ = audit_json(*args)
    two, notes = audit_json(*args, "--jobs", "2")
    assert two == one
    assert notes == ""


def test_a_busy_writer_makes_it_settle_for_one_connection(broken_db_rw):
    """A transaction that holds a table past the lock wait must not stall the audit."""
    reference, _ = audit_json("--db", url_of(broken_db_rw))
    writer = connect(broken_db_rw)
    try:
        with writer.cursor() as cur:
            cur.execute("START TRANSACTION")
            cur.execute("UPDATE variable SET name = name WHERE name = 'site_name'")
        report, notes = audit_json("--db", url_of(broken_db_rw), "--jobs", "2")
    finally:
        writer.rollback()
        writer.close()
    assert report == reference
    assert "ran on 1 connection instead of 2" in notes
    assert "Lock wait timeout" in notes


def test_aligned_snapshots_ignore_later_commits(broken_db_rw):
    sources, why = open_sources(broken_db_rw, 2)
    try:
        assert why is None and len(sources) == 2
        count = "SELECT COUNT(*) FROM {variable}"
        before = [source.scalar(count) for source in sources]
        writer = connect(broken_db_rw)
        with writer.cursor() as cur:
            cur.execute("INSERT INTO variable (name, value) VALUES ('dm_probe', 'b:1;')")
        writer.commit()
        writer.close()
        assert [source.scalar(count) for source in sources] == before
    finally:
        for source in sources:
            source.close()
