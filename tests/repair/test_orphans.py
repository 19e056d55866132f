"""Field rows and menu links of nodes that no longer exist: reported, removed, undoable."""

from __future__ import annotations

from pathlib import Path

from conftest import run_sql
from helpers import scalar

from migrate import api
from migrate.config import ConnectionSpec


def test_rows_of_deleted_nodes_are_reported_removed_and_restored_by_undo(
    broken_db_rw: ConnectionSpec, tmp_path: Path
) -> None:
    # Node 6 (category: the vanished tid 2) deleted with raw SQL, with a menu link to it.
    run_sql(
        broken_db_rw,
        "INSERT INTO menu_links (menu_name, mlid, plid, link_path, router_path, link_title,"
        " options, module, hidden, external, has_children, expanded, weight, depth,"
        " customized, p1, updated) VALUES ('main-menu', 901, 0, 'node/6', 'node/%', 'Old',"
        " 'a:0:{}', 'menu', 0, 0, 0, 0, 0, 1, 1, 901, 0)",
        "DELETE FROM node WHERE nid = 6",
        "DELETE FROM node_revision WHERE nid = 6",
    )
    tables = ["field_data_body", "field_revision_body", "field_data_field_chuyen_muc"]
    before = {
        t: scalar(broken_db_rw, f"SELECT COUNT(*) FROM {t} WHERE entity_id = 6") for t in tables
    }
    assert all(before.values())
    found = api.audit(broken_db_rw, ["content.orphan_node_rows"]).result("content.orphan_node_rows")
    by_table = {f.entity.to_dict()["table"]: f.entity.to_dict() for f in found.findings}
    assert {t: by_table[t]["rows"] for t in tables} == before
    assert by_table["menu_links"]["mlids"] == [901]
    plan = api.plan_repair(broken_db_rw)
    report = api.apply_repair(broken_db_rw, plan, yes=True, journal=tmp_path / "j.jsonl")
    assert report.before["content.orphan_node_rows"] == found.count
    assert report.after["content.orphan_node_rows"] == 0
    assert not any(
        scalar(broken_db_rw, f"SELECT COUNT(*) FROM {t} WHERE entity_id = 6") for t in tables
    )
    assert scalar(broken_db_rw, "SELECT COUNT(*) FROM menu_links WHERE mlid = 901") == 0
    api.undo_repair(broken_db_rw, tmp_path / "j.jsonl")
    after_undo = {
        t: scalar(broken_db_rw, f"SELECT COUNT(*) FROM {t} WHERE entity_id = 6") for t in tables
    }
    assert after_undo == before
    assert scalar(broken_db_rw, "SELECT COUNT(*) FROM menu_links WHERE mlid = 901") == 1
