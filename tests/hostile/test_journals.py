"""Hostile journals and undo on the wrong database: refused in one line, nothing written.

A real apply of the fixture's default plan gives the journal; each case edits
it (or not) and runs the real ``repair undo`` against a private MariaDB copy:
another database, another prefix, a garbled or truncated file, injected names,
rows changed after the apply. Each checks the exit code, the one line and
``CHECKSUM TABLE`` of every table before and after. Issue 16's case (a journal
undone on a healthy site deleted 5 terms) is the first. Then what must work:
undo after Drupal rebuilt its caches, through another address, under another
database name with ``--force``, after a crash, and the dump path.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from harness import assert_no_traceback, assert_one_line_error, run_cli
from plans_support import (
    BROKEN_DUMP,
    CLEAN_DUMP,
    Databases,
    connect,
    execute,
    table_checksums,
    url_of,
)

from migrate import api
from migrate.config import ConnectionSpec

Lines = list[dict[str, Any]]


@dataclass(frozen=True)
class Applied:
    """A private copy with the default plan applied, its journal, and its tables after."""

    spec: ConnectionSpec
    journal: Lines
    after: dict[str, int]


@pytest.fixture(scope="module")
def applied(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Applied:
    spec = databases.create(BROKEN_DUMP)
    journal = tmp_path_factory.mktemp("journal") / "journal.jsonl"
    api.apply_repair(spec, api.plan_repair(spec), yes=True, journal=journal, batch_size=50)
    lines = [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines()]
    return Applied(spec, lines, table_checksums(spec))


@pytest.fixture(scope="module")
def healthy(databases: Databases) -> ConnectionSpec:
    """The site before anything broke: what issue 16's wrong undo deleted terms from."""
    return databases.create(CLEAN_DUMP)


Edit = Callable[[Lines], bytes]


def _text(lines: Lines) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines).encode("utf-8")


def _same(lines: Lines) -> bytes:
    return _text(lines)


def _header(**changes: Any) -> Edit:
    def edit(lines: Lines) -> bytes:
        head = {**lines[0], **changes}
        return _text([{k: v for k, v in head.items() if v is not None}, *lines[1:]])

    return edit


def _target(**changes: Any) -> Edit:
    return lambda lines: _header(target={**lines[0]["target"], **changes})(lines)


def _op(field: str, value: Any, table: str | None = None) -> Edit:
    """Change one field of the first op record (of ``table``, when given)."""

    def edit(lines: Lines) -> bytes:
        out = [dict(r) for r in lines]
        first = next(r for r in out if r["type"] == "op" and (table is None or r["table"] == table))
        first[field] = value(first) if callable(value) else value
        return _text(out)

    return edit


def _record(kind: str, field: str, value: Any) -> Edit:
    def edit(lines: Lines) -> bytes:
        out = [dict(r) for r in lines]
        next(r for r in out if r["type"] == kind)[field] = value
        return _text(out)

    return edit


def _line(number: int, raw: bytes) -> Edit:
    def edit(lines: Lines) -> bytes:
        parts = _text(lines).splitlines(keepends=True)
        parts[number - 1] = raw + b"\n"
        return b"".join(parts)

    return edit


def _raw(data: bytes) -> Edit:
    return lambda lines: data


def _row_column(record: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [dict(r) for r in record["rows"]]
    rows[0]["tid`) VALUES (1); DROP TABLE node; -- "] = 1
    return rows


# (id, database: "applied" | "healthy", edit, extra options, exit code, text of the one line)
CASES: list[tuple[str, str, Edit, list[str], int, str]] = [
    ("another-database", "healthy", _same, [], 8, "not of database"),
    ("another-database-forced", "healthy", _same, ["--force"], 7, "changed after the apply"),
    ("another-prefix", "applied", _target(prefix={"default": "dr_", "per_table": {}}), [], 8,
     "prefix 'dr_'"),
    ("per-table-prefix", "applied", _target(prefix={"default": "", "per_table": {"node": "x_"}}),
     ["--force"], 8, "per table"),
    ("database-renamed", "applied", _target(database="production"), [], 8, "'production'"),
    ("a-dump-journal", "applied", _target(kind="dump", dump="site.sql.gz", copy="/x"), ["--force"],
     8, "repaired copy of dump"),
    ("version-1", "applied", _header(version=1, target=None), [], 8, "journal version 1"),
    ("no-target", "applied", _header(target=None), [], 8, "target is not an object"),
    ("target-kind", "applied", _target(kind="oracle"), [], 8, "unknown target kind"),
    ("not-a-journal", "applied", _header(format="something-else"), [], 8, "not a drupal-migrate"),
    ("header-list", "applied", _line(1, b'["drupal-migrate-journal"]'), [], 8, ":1: not a drupal"),
    ("empty", "applied", _raw(b""), [], 8, "empty"),
    ("not-utf8", "applied", _raw(b"\xff\xfe\x00garbage"), [], 8, "not UTF-8"),
    ("cut-in-header", "applied", lambda lines: _text(lines)[:40], [], 8, ":1: corrupt"),
    ("garbled-middle", "applied", _line(3, b'{"type": "op", "seq": '), [], 8, ":3: corrupt"),
    ("nested-deep", "applied", _line(2, b"[" * 100_000), [], 8, ":2: corrupt"),
    ("record-list", "applied", _line(2, b"[1, 2]"), [], 8, ":2: record is not an object"),
    ("table-injection", "applied", _op("table", "node` WHERE 1=1 -- "), [], 8, "not a valid name"),
    ("key-injection", "applied", _op("key", {"nid` >= 0 OR `nid": 0}), [], 8, "not a valid name"),
    ("row-injection", "applied", _op("rows", _row_column, "field_data_field_tags"), [], 8,
     "not a valid name"),
    ("key-string", "applied", _op("key", "nid = 5"), [], 8, "key must be an object"),
    ("key-empty", "applied", _op("new_key", {}), [], 8, "new_key is empty"),
    ("rows-not-list", "applied", _op("rows", {"nid": 1}), [], 8, "rows is not a list"),
    ("seq-text", "applied", _op("seq", "1"), [], 8, "seq is not an integer"),
    ("unknown-table", "applied", _op("table", "no_such_table"), [], 8, "does not exist"),
    ("unknown-column", "applied", _op("key", {"colour": 1}), [], 8, "'colour' is not a column"),
    ("commit-batch-text", "applied", _record("commit", "batch", "1"), [], 8, "batch is not an"),
    ("finished-state", "applied", _record("finished", "state", [1]), [], 8, "state is not an"),
    ("state-values", "applied", _record("finished", "state", {"1": 2}), [], 8, "state must map"),
    ("already-undone", "applied", lambda lines: _text([*lines, {"type": "undone"}]), [], 8,
     "already undone"),
    ("on-a-dump", "applied", _same, ["--dump", str(BROKEN_DUMP)], 2, "undo it with --db"),
]  # fmt: skip


def _run_undo(journal: Path, spec: ConnectionSpec, extra: list[str], cwd: Path) -> Any:
    source = [] if "--dump" in extra else ["--db", url_of(spec)]
    return run_cli("repair", "undo", str(journal), *source, *extra, cwd=cwd)


@pytest.mark.parametrize(
    ("database", "edit", "extra", "code", "words"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_hostile_journal_is_refused_and_nothing_written(
    applied: Applied,
    healthy: ConnectionSpec,
    guarded: Any,
    database: str,
    edit: Edit,
    extra: list[str],
    code: int,
    words: str,
) -> None:
    spec = applied.spec if database == "applied" else healthy
    guarded.out.mkdir()
    journal = guarded.out / "journal.jsonl"
    journal.write_bytes(edit(applied.journal))
    before = table_checksums(spec)
    done = _run_undo(journal, spec, extra, guarded.out)
    assert_one_line_error(done, code, words)
    assert table_checksums(spec) == before
    assert journal.read_bytes() == edit(applied.journal)  # not even marked


# (id, table, WHERE of the rows the edit touches, the edit); each inside a journaled row set
CHANGES: list[tuple[str, str, str, str]] = [
    ("term-renamed", "taxonomy_term_data", "tid = 5", "UPDATE {t} SET name = 'edited' WHERE {w}"),
    ("hierarchy-row-gone", "taxonomy_term_hierarchy", "tid = 5", "DELETE FROM {t} WHERE {w}"),
    (
        "field-row-edited",
        "field_data_field_tags",
        "entity_id = 38 AND delta = 0",
        "UPDATE {t} SET field_tags_tid = field_tags_tid + 1000 WHERE {w}",
    ),
    (
        "index-row-added",
        "taxonomy_index",
        "nid = 21 AND tid = 99",
        "INSERT INTO {t} (nid, tid, sticky, created) VALUES (21, 99, 0, 0)",
    ),
]


@pytest.mark.parametrize(
    ("table", "where", "change"), [c[1:] for c in CHANGES], ids=[c[0] for c in CHANGES]
)
def test_a_row_changed_after_the_apply_is_named_and_nothing_written(
    applied: Applied, guarded: Any, table: str, where: str, change: str
) -> None:
    spec = applied.spec
    guarded.out.mkdir()
    journal = guarded.out / "journal.jsonl"
    journal.write_bytes(_text(applied.journal))
    kept = execute(spec, f"SELECT * FROM {table} WHERE {where}")
    execute(spec, change.format(t=table, w=where))
    try:
        changed = table_checksums(spec)
        done = _run_undo(journal, spec, [], guarded.out)
        assert_one_line_error(done, 7, "changed after the apply")
        assert table in done.stderr and "nothing written" in done.stderr
        assert table_checksums(spec) == changed
    finally:
        execute(spec, f"DELETE FROM {table} WHERE {where}")
        conn = connect(spec)
        with conn.cursor() as cur:
            for row in kept:
                cur.execute(f"INSERT INTO {table} VALUES ({', '.join(['%s'] * len(row))})", row)
        conn.close()
    assert table_checksums(spec) == applied.after


def _apply_cli(spec: ConnectionSpec, out: Path, journal: Path) -> None:
    plan = out / "plan.json"
    made = run_cli("repair", "plan", "--db", url_of(spec), "-o", str(plan), cwd=out)
    assert made.code == 0, made.stderr
    done = run_cli(
        "repair", "apply", str(plan), "--db", url_of(spec), "--yes", "--journal", str(journal),
        "--batch-size", "60", cwd=out,
    )  # fmt: skip
    assert done.code == 0, done.stderr


def test_undo_after_caches_rebuilt_through_another_address(
    broken_db_rw: ConnectionSpec, guarded: Any
) -> None:
    """Cache bins are not compared; the same server reached as localhost is the same server."""
    spec = broken_db_rw
    before = table_checksums(spec)
    guarded.out.mkdir()
    journal = guarded.out / "journal.jsonl"
    _apply_cli(spec, guarded.out, journal)
    cleared = next(
        r
        for r in map(json.loads, journal.read_text().splitlines())
        if str(r.get("table")).startswith("cache_")
    )  # a cache entry the apply cleared, that Drupal rebuilds on the next page view
    execute(
        spec,
        f"INSERT INTO {cleared['table']} (cid, data, expire, created, serialized)"
        f" VALUES ('{cleared['key']['cid']}', 'rebuilt after the repair', 0, 1, 0)",
    )
    done = _run_undo(journal, replace(spec, host="localhost"), [], guarded.out)
    assert_no_traceback(done)
    assert done.code == 0, done.stderr
    assert "not compared" in done.stdout
    assert table_checksums(spec) == before


def test_force_accepts_another_database_name_only_when_rows_match(
    databases: Databases, guarded: Any
) -> None:
    """The journal's database moved to another name; its apply was cut short (crash path)."""
    old = databases.create(BROKEN_DUMP)
    before = table_checksums(old)
    guarded.out.mkdir()
    journal = guarded.out / "journal.jsonl"
    _apply_cli(old, guarded.out, journal)
    moved = databases.create()
    tables = [r[0] for r in execute(old, "SHOW TABLES")]
    execute(
        old,
        "RENAME TABLE "
        + ", ".join(f"`{old.database}`.`{t}` TO `{moved.database}`.`{t}`" for t in tables),
    )
    lines = journal.read_text(encoding="utf-8").splitlines(keepends=True)
    assert '"type": "finished"' in lines[-1]
    journal.write_text("".join(lines[:-1]), encoding="utf-8")  # as if killed before the end
    refused = _run_undo(journal, moved, [], guarded.out)
    assert_one_line_error(refused, 8, "--force accepts")
    # A row of an early batch edited: found once the later batches are undone, rolled back.
    execute(moved, "UPDATE taxonomy_term_data SET name = 'edited' WHERE tid = 5")
    edited = table_checksums(moved)
    forced = _run_undo(journal, moved, ["--force"], guarded.out)
    assert_one_line_error(forced, 7, "taxonomy_term_data (tid=5)")
    assert table_checksums(moved) == edited
    execute(moved, "UPDATE taxonomy_term_data SET name = 'Tin Công đoàn' WHERE tid = 5")
    done = _run_undo(journal, moved, ["--force", "--format", "json"], guarded.out)
    assert done.code == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["apply_was_complete"] is False and report["rows_verified"] > 300
    assert table_checksums(moved) == before


def test_dump_journal_is_not_undone_on_a_database(applied: Applied, guarded: Any) -> None:
    guarded.out.mkdir()
    plan = guarded.out / "plan.json"
    env = {"DRUPAL_MIGRATE_CACHE": str(guarded.out / "cache")}
    dump = ["--dump", str(BROKEN_DUMP)]
    made = run_cli("repair", "plan", *dump, "-o", str(plan), cwd=guarded.out, env=env)
    assert made.code == 0, made.stderr
    out = guarded.out / "repaired"
    done = run_cli(
        "repair", "apply", str(plan), *dump, "--out", str(out), "--yes", cwd=guarded.out, env=env
    )
    assert done.code == 0, done.stderr
    journal = out / "journal.jsonl"
    header = json.loads(journal.read_text(encoding="utf-8").splitlines()[0])
    assert header["target"]["kind"] == "dump" and header["target"]["dump"] == str(BROKEN_DUMP)
    on_dump = run_cli("repair", "undo", str(journal), *dump, cwd=guarded.out, env=env)
    assert_one_line_error(on_dump, 2, "a dump is never changed")
    before = table_checksums(applied.spec)
    on_db = _run_undo(journal, applied.spec, ["--force"], guarded.out)
    assert_one_line_error(on_db, 8, "repaired copy of dump")
    assert table_checksums(applied.spec) == before
