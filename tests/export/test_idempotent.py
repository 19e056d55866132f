"""Re-running an export skips what is unchanged, updates with --update, adds what is new."""

from __future__ import annotations

from pathlib import Path

from conftest import run_sql
from export_helpers import bundle_files, by_key, run_export

from migrate import api
from migrate.config import ConnectionSpec
from migrate.export.state import StateStore


def test_second_run_writes_nothing(broken_db: ConnectionSpec, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    first = run_export(broken_db, out, batch_size=64)
    before = bundle_files(out)
    second = run_export(broken_db, out, batch_size=64)
    assert second.batches == 0
    assert dict(second.added) == {}
    assert dict(second.updated) == {}
    assert second.unchanged == first.added
    assert bundle_files(out) == before
    assert second.reconciliation is not None and second.reconciliation.reconciled


def test_changed_items_need_update_and_new_ones_are_added(
    broken_db_rw: ConnectionSpec, tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    run_export(broken_db_rw, out, batch_size=64)
    run_sql(
        broken_db_rw,
        "UPDATE node SET title = 'Tiêu đề mới', changed = changed + 10 WHERE nid = 5",
        "UPDATE field_data_body SET body_value = '<p>Nội dung mới</p>' WHERE entity_id = 7",
        "INSERT INTO node (nid, vid, type, language, title, uid, status, created, changed,"
        " comment, promote, sticky, tnid, translate) VALUES"
        " (500, 500, 'page', 'und', 'Trang mới', 1, 1, 1500000000, 1500000000, 0, 0, 0, 0, 0)",
        "INSERT INTO node_revision (nid, vid, uid, title, log, timestamp, status, comment,"
        " promote, sticky) VALUES (500, 500, 1, 'Trang mới', '', 1500000000, 1, 0, 0, 0)",
    )

    without = run_export(broken_db_rw, out, batch_size=64)
    assert without.not_updated["node"] == 2
    assert without.added["node"] == 1
    nodes = by_key(out, "node", "nid")
    assert nodes[5]["title"] != "Tiêu đề mới"
    assert nodes[500]["title"] == "Trang mới"
    assert nodes[500]["path"] == "/page/trang-moi/"
    with StateStore(out, create=False) as state:
        reasons = {i: r for k, i, s, r in state.events() if k == "node" and s == "not_updated"}
    assert "use --update" in reasons["5"]

    updated = run_export(broken_db_rw, out, batch_size=64, update=True)
    assert updated.updated["node"] == 2
    assert "node" not in updated.added
    nodes = by_key(out, "node", "nid")
    assert len(nodes) == 219
    assert nodes[5]["title"] == "Tiêu đề mới"
    assert nodes[7]["body"]["value"] == "<p>Nội dung mới</p>"
    assert nodes[5]["slug"] != "tieu-de-moi", "a slug once given is kept (stable URLs)"
    assert updated.highwater is not None and updated.highwater >= 1500000000
    assert updated.reconciliation is not None and updated.reconciliation.reconciled

    report = api.status(out)
    assert report.counts["node"] == 219
    assert report.highwater == updated.highwater

    since = run_export(broken_db_rw, out, batch_size=64, changed_since=True)
    assert since.nodes_read == 1
    assert since.batches == 0
