"""An unchanged re-run keeps the last comparison only when the disk and the source prove it.

Issue 19 goal 1: a re-run over an unchanged site does not parse and compare
everything again. It digests the source tables and every output file; when both
are those of the last comparison that reconciled, that comparison stands
(``same_as_run``). A claim the earlier run wrote is never taken on trust: a file
deleted or cut short since, or a source row changed since, makes the comparison
run again, and what is missing is unaccounted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import BROKEN_DUMP, query, run_sql
from export_helpers import BASE_URL, by_key, hugo_node_pages, run_export

from migrate import api
from migrate.config import ConnectionSpec
from migrate.errors import Unaccounted
from migrate.export import engine
from migrate.export.engine import ExportOptions, ExportSummary
from migrate.export.reader import Reader, Selection
from migrate.export.state import StateStore
from migrate.schema import Drupal7
from migrate.source.mysql import MySQLSource


def _report(out: Path) -> dict[str, object]:
    data = json.loads((out / "reconciliation.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _unaccounted_kinds(out: Path) -> set[str]:
    report = _report(out)
    listed = report["unaccounted"]
    assert isinstance(listed, list)
    return {str(u["kind"]) for u in listed}


def test_unchanged_rerun_keeps_the_comparison_and_says_which(
    broken_db: ConnectionSpec, tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    first = run_export(broken_db, out, batch_size=64)
    assert first.reconciliation is not None and first.reconciliation.same_as_run is None
    again = run_export(broken_db, out, batch_size=64, update=True)
    rec = again.reconciliation
    assert rec is not None and rec.reconciled
    assert rec.same_as_run == first.run_id and rec.run == again.run_id
    assert rec.files_parsed == 0
    assert rec.counts == first.reconciliation.counts
    assert rec.fields == first.reconciliation.fields
    assert _report(out)["same_as_run"] == first.run_id


@pytest.mark.parametrize("damage", ["delete", "truncate", "cut mid-line"])
@pytest.mark.parametrize("folder", ["nodes", "redirects"])
def test_a_damaged_output_file_is_not_reported_as_reconciled(
    broken_db: ConnectionSpec, tmp_path: Path, damage: str, folder: str
) -> None:
    """A file the re-run does not rewrite, damaged since the last run: the claim is checked."""
    out = tmp_path / "bundle"
    run_export(broken_db, out, batch_size=64)
    kept = run_export(broken_db, out, batch_size=64, update=True)
    assert kept.reconciliation is not None and kept.reconciliation.same_as_run is not None
    path = sorted((out / folder).glob("batch-*.jsonl"))[0]
    if damage == "delete":
        path.unlink()
    elif damage == "truncate":
        path.write_bytes(b"")
    else:
        data = path.read_bytes()
        path.write_bytes(data[: data.index(b"\n") + 10])
    kind = {"nodes": "node", "redirects": "redirect"}[folder]
    try:
        summary: ExportSummary | None = run_export(broken_db, out, batch_size=64, update=True)
    except Unaccounted:
        summary = None
    if summary is None:
        assert _report(out)["same_as_run"] is None
        assert kind in _unaccounted_kinds(out)
    else:  # the run rewrote what was damaged: then it is on disk again
        rec = summary.reconciliation
        assert rec is not None and rec.reconciled and rec.same_as_run is None
        assert path.is_file() and path.stat().st_size > 0


def _add_a_comment(spec: ConnectionSpec) -> None:
    """A published comment on the first published node, written straight to the source."""
    run_sql(
        spec,
        "INSERT INTO comment (pid, nid, uid, subject, hostname, created, changed, status,"
        " thread, name, mail, homepage, language)"
        " SELECT 0, nid, 0, 'x', '', 1, 1, 1, '99/', 'a', '', '', 'und' FROM node"
        " WHERE status = 1 ORDER BY nid LIMIT 1",
    )


def test_a_source_change_not_written_is_compared_again(
    broken_db_rw: ConnectionSpec, tmp_path: Path
) -> None:
    """Without ``--update`` a changed node is not rewritten: the comparison sees the change."""
    out = tmp_path / "bundle"
    run_export(broken_db_rw, out, batch_size=64)
    _add_a_comment(broken_db_rw)
    with pytest.raises(Unaccounted):
        run_export(broken_db_rw, out, batch_size=64)
    report = _report(out)
    assert report["same_as_run"] is None
    assert "node" in _unaccounted_kinds(out)


def test_unchanged_rerun_from_the_dump_keeps_the_comparison(tmp_path: Path) -> None:
    """The dump's SQLite cache: the tables are digested here, row by row."""
    out = tmp_path / "bundle"
    spec = api.source_spec(dump=BROKEN_DUMP, cache_dir=tmp_path / "cache")
    options = ExportOptions(
        selection=Selection(include_unpublished=True), batch_size=64, base_url=BASE_URL
    )
    with api.connect(spec) as site:
        first = engine.export(site, out, options)
        again = engine.export(site, out, options)
    assert again.reconciliation is not None and again.reconciliation.reconciled
    assert again.reconciliation.same_as_run == first.run_id


def _a_body(spec: ConnectionSpec) -> int:
    [(nid,)] = query(
        spec,
        "SELECT entity_id FROM field_data_body WHERE entity_type = 'node' AND delta = 0"
        " AND LENGTH(body_value) > 0 ORDER BY entity_id LIMIT 1",
    )
    return int(nid)


def _edit_body(spec: ConnectionSpec, nid: int, text: str) -> None:
    run_sql(
        spec,
        f"UPDATE field_data_body SET body_value = '{text}'"
        f" WHERE entity_type = 'node' AND entity_id = {nid} AND delta = 0",
    )


def test_a_body_edit_alone_rebuilds_that_node_only(
    broken_db_rw: ConnectionSpec, tmp_path: Path
) -> None:
    """Its bucket's digest moves, the lookups' do not: the bucket's nodes are checked one
    by one and only the edited one is rebuilt; the others' buckets are vouched for."""
    out = tmp_path / "bundle"
    first = run_export(broken_db_rw, out, batch_size=64)
    nodes = first.added["node"]
    same = run_export(broken_db_rw, out, batch_size=64, update=True)
    assert same.unchanged["node"] == nodes and same.batches == 0
    nid = _a_body(broken_db_rw)
    _edit_body(broken_db_rw, nid, "<p>Sửa một lần</p>")
    second = run_export(broken_db_rw, out, batch_size=64, update=True)
    assert dict(second.updated) == {"node": 1}
    assert second.unchanged["node"] == nodes - 1
    assert second.reconciliation is not None and second.reconciliation.reconciled
    assert by_key(out, "node", "nid")[nid]["body"]["value"] == "<p>Sửa một lần</p>"
    third = run_export(broken_db_rw, out, batch_size=64, update=True)
    assert third.batches == 0 and third.unchanged["node"] == nodes


def test_a_change_left_without_update_is_written_by_the_next_update(
    broken_db_rw: ConnectionSpec, tmp_path: Path
) -> None:
    """A node reported changed (no ``--update``) keeps its old item: its bucket is not
    vouched for, so the next run with ``--update`` still finds and writes it."""
    out = tmp_path / "bundle"
    first = run_export(broken_db_rw, out, batch_size=64)
    nid = _a_body(broken_db_rw)
    _edit_body(broken_db_rw, nid, "<p>Chưa ghi</p>")
    left = run_export(broken_db_rw, out, batch_size=64)
    assert dict(left.not_updated) == {"node": 1}
    written = run_export(broken_db_rw, out, batch_size=64, update=True)
    assert dict(written.updated) == {"node": 1}
    assert written.unchanged["node"] == first.added["node"] - 1
    assert by_key(out, "node", "nid")[nid]["body"]["value"] == "<p>Chưa ghi</p>"


def test_after_a_rollback_the_rerun_puts_the_items_back(
    broken_db: ConnectionSpec, tmp_path: Path
) -> None:
    """Rolled-back items are not vouched for by a bucket or a redirect digest."""
    out = tmp_path / "bundle"
    first = run_export(broken_db, out, batch_size=64)
    run_export(broken_db, out, batch_size=64, update=True)
    nodes = by_key(out, "node", "nid")
    redirects = by_key(out, "redirect", "source")
    api.rollback(out, all=True)
    assert not list(out.glob("*/batch-*.jsonl"))
    again = run_export(broken_db, out, batch_size=64, update=True)
    assert again.added == first.added
    assert again.reconciliation is not None and again.reconciliation.reconciled
    assert again.reconciliation.same_as_run is None
    assert by_key(out, "node", "nid") == nodes
    assert by_key(out, "redirect", "source") == redirects


def test_a_redirect_left_without_update_is_written_by_the_next_update(
    broken_db_rw: ConnectionSpec, tmp_path: Path
) -> None:
    """A term's alias moved to another term, a run without ``--update``: the redirect
    phase's inputs are not recorded, so the next run with ``--update`` rebuilds and
    writes it."""
    out = tmp_path / "bundle"
    run_export(broken_db_rw, out, batch_size=64)
    before = by_key(out, "redirect", "source")["tin-tuc"]
    run_sql(broken_db_rw, "UPDATE url_alias SET source = 'taxonomy/term/6' WHERE alias = 'tin-tuc'")
    left = run_export(broken_db_rw, out, batch_size=64)
    assert left.not_updated["redirect"] == 1
    assert by_key(out, "redirect", "source")["tin-tuc"] == before
    written = run_export(broken_db_rw, out, batch_size=64, update=True)
    assert written.updated["redirect"] == 1
    moved = by_key(out, "redirect", "source")["tin-tuc"]
    assert moved["target"] == by_key(out, "redirect", "source")["taxonomy/term/6"]["target"]
    assert moved["target"] != before["target"]
    again = run_export(broken_db_rw, out, batch_size=64, update=True)
    assert again.batches == 0 and dict(again.updated) == {}
    assert again.reconciliation is not None and again.reconciliation.reconciled


def test_the_server_is_asked_once_which_hash_it_has(broken_db: ConnectionSpec) -> None:
    """CRC32C is MariaDB 10.8+; the probe answers per server and leaves the snapshot usable."""
    with MySQLSource(broken_db) as source:
        assert source.has_function("CRC32C") is True
        assert source.has_function("NO_SUCH_HASH") is False
        assert source.scalar("SELECT COUNT(*) FROM {node}") > 0
        # MySQL's 1 KB default would cut a node's digest short after ~50 rows.
        assert source.scalar("SELECT @@SESSION.group_concat_max_len") == 16777216


def test_without_crc32c_the_digests_still_find_the_one_edited_body(
    broken_db_rw: ConnectionSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MySQL and older MariaDB: the row hashes fall back to MD5, with the same results."""
    monkeypatch.setattr(MySQLSource, "has_function", lambda self, name: name != "CRC32C")
    out = tmp_path / "bundle"
    first = run_export(broken_db_rw, out, batch_size=64)
    nodes = first.added["node"]
    same = run_export(broken_db_rw, out, batch_size=64, update=True)
    assert same.unchanged["node"] == nodes and same.batches == 0
    assert same.reconciliation is not None and same.reconciliation.same_as_run == first.run_id
    nid = _a_body(broken_db_rw)
    _edit_body(broken_db_rw, nid, "<p>Không có CRC32C</p>")
    second = run_export(broken_db_rw, out, batch_size=64, update=True)
    assert dict(second.updated) == {"node": 1}
    assert by_key(out, "node", "nid")[nid]["body"]["value"] == "<p>Không có CRC32C</p>"


def test_after_a_failed_comparison_update_writes_the_change(
    broken_db_rw: ConnectionSpec, tmp_path: Path
) -> None:
    """Exit 9 for a comment added without --update; the same command with --update then
    rewrites that node and reconciles (it used to resume the failed run and change nothing)."""
    out = tmp_path / "bundle"
    run_export(broken_db_rw, out, batch_size=64)
    _add_a_comment(broken_db_rw)
    for _ in range(2):
        with pytest.raises(Unaccounted):
            run_export(broken_db_rw, out, batch_size=64)
    fixed = run_export(broken_db_rw, out, batch_size=64, update=True)
    assert dict(fixed.updated) == {"node": 1}
    assert fixed.reconciliation is not None and fixed.reconciliation.reconciled


def _damage_wxr(out: Path) -> None:
    """Take the first post out of the first WXR file (the file stays well-formed)."""
    path = sorted(out.glob("wxr-*.xml"))[0]
    data = path.read_bytes()
    start = data.index(b"<item>")
    while b"<wp:post_type><![CDATA[post]]>" not in data[start : data.index(b"</item>", start)]:
        start = data.index(b"<item>", start + 1)
    end = data.index(b"</item>", start) + len(b"</item>")
    path.write_bytes(data[:start] + data[end:])


def _damage_hugo(out: Path) -> None:
    """A node's page removed."""
    page = next(iter(hugo_node_pages(out).values()))
    page.unlink()


def _damage_hugo_media(out: Path) -> None:
    """A media copy removed: the read-back only looks that it is there."""
    next(p for p in sorted((out / "static" / "files").rglob("*")) if p.is_file()).unlink()


def _some_files(spec: ConnectionSpec, root: Path) -> Path:
    """A files folder holding the first five public files (the others are reported missing)."""
    for uri, size in query(
        spec,
        "SELECT uri, filesize FROM file_managed WHERE uri LIKE 'public://%' ORDER BY fid LIMIT 5",
    ):
        path = root / str(uri).removeprefix("public://")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * int(size))
    return root


@pytest.mark.parametrize(
    ("to", "damage"), [("wxr", _damage_wxr), ("hugo", _damage_hugo), ("hugo", _damage_hugo_media)]
)
def test_whole_output_targets_keep_the_comparison_until_their_output_changes(
    broken_db: ConnectionSpec, tmp_path: Path, to: str, damage: object
) -> None:
    """WXR and Hugo are read as a whole: their reader's fingerprint of all it reads stands
    for the files' digests. Unchanged, the re-run keeps the comparison; one post, page or
    media copy gone, and the comparison runs again and finds it."""
    out, files = tmp_path / to, _some_files(broken_db, tmp_path / "files")
    first = run_export(broken_db, out, to=to, files_dir=files)
    again = run_export(broken_db, out, to=to, files_dir=files, update=True)
    assert again.reconciliation is not None and again.reconciliation.reconciled
    assert first.reconciliation is not None
    assert again.reconciliation.same_as_run == first.run_id
    assert again.reconciliation.counts == first.reconciliation.counts
    assert callable(damage)
    damage(out)
    with pytest.raises(Unaccounted):
        run_export(broken_db, out, to=to, files_dir=files, update=True)
    assert _report(out)["same_as_run"] is None


def test_digests_on_twin_connections_are_those_of_the_export_s_own(
    broken_db: ConnectionSpec, tmp_path: Path
) -> None:
    """The whole-table digests taken on other connections of the snapshot (as
    ``api.export`` opens them) and on the export's own are the same: a run either
    way keeps every node and the comparison the other checked."""
    out = tmp_path / "bundle"
    options = ExportOptions(
        selection=Selection(include_unpublished=True), batch_size=64, base_url=BASE_URL
    )
    sources, why = MySQLSource.snapshots(broken_db, 1 + engine.DIGEST_CONNECTIONS)
    try:
        assert why is None and len(sources) == 1 + engine.DIGEST_CONNECTIONS
        site = Drupal7(sources[0])
        first = engine.export(site, out, options, twins=sources[1:])
        alone = engine.export(site, out, options)
        again = engine.export(site, out, options, twins=sources[1:])
    finally:
        for source in sources:
            source.close()
    for run in (alone, again):
        rec = run.reconciliation
        assert rec is not None and rec.reconciled and rec.same_as_run == first.run_id
        assert run.unchanged["node"] == first.added["node"] and not run.updated


def test_the_aliases_are_loaded_again_only_when_url_alias_changed(
    broken_db_rw: ConnectionSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state's snapshot of url_alias is kept while the table's digest is the same."""
    loads: list[int] = []
    load = Reader.load_aliases

    def counted(reader: Reader) -> None:
        loads.append(1)
        load(reader)

    monkeypatch.setattr(Reader, "load_aliases", counted)
    out = tmp_path / "bundle"
    run_export(broken_db_rw, out, batch_size=64)
    run_export(broken_db_rw, out, batch_size=64, update=True)
    assert len(loads) == 1
    run_sql(broken_db_rw, "UPDATE url_alias SET alias = 'doan-hoi-moi' WHERE alias = 'doan-hoi'")
    again = run_export(broken_db_rw, out, batch_size=64, update=True)
    assert len(loads) == 2
    assert again.reconciliation is not None and again.reconciliation.reconciled
    with StateStore(out) as state:
        assert state.alias_sources(["doan-hoi", "doan-hoi-moi"]) == {"doan-hoi-moi": "node/8"}
