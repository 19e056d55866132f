"""Apply on a private copy of the broken site: zero findings, nothing valid lost, names right."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import connect, scalar, valid_references

from migrate import api
from migrate.config import ConnectionSpec
from migrate.errors import PreconditionFailed
from migrate.repair.planner import redirect_hash

MAPPING = Path(__file__).resolve().parents[2] / "mappings" / "drupal7-vn.yml"


@pytest.mark.parametrize("mapping", [None, MAPPING], ids=["default", "fixture-mapping"])
def test_apply_repairs_everything(
    broken_db_rw: ConnectionSpec,
    ground_truth: dict[str, Any],
    tmp_path: Path,
    mapping: Path | None,
) -> None:
    before_refs = valid_references(broken_db_rw)
    plan = api.plan_repair(broken_db_rw, mapping)
    report = api.apply_repair(broken_db_rw, plan, yes=True, journal=tmp_path / "j.jsonl")
    assert report.before["taxonomy.dangling_field_ref"] == 331
    # What still warns is only what a web-server rule fixes (no redirect module here).
    left = {c: n for c, n in report.after.items() if n and c != "breadcrumb.notice_pages"}
    assert report.after and not left, report.after
    still = api.audit(broken_db_rw, ["breadcrumb.notice_pages"]).result("breadcrumb.notice_pages")
    assert still.count == report.after["breadcrumb.notice_pages"]
    assert all(f.entity.to_dict()["fix"] == "web_server_rule" for f in still.findings)
    assert {f.entity.to_dict()["tid"] for f in still.findings} == {r.tid for r in plan.redirects}
    again = api.audit(broken_db_rw, ["taxonomy.*", "links.*"])
    assert {r.id: r.count for r in again.checks if r.count} == {}
    assert before_refs <= valid_references(broken_db_rw)
    clean = {t["tid"]: t["name_in_clean_db"] for t in ground_truth["deleted_terms"]}
    restored = [d for d in plan.decisions if d.action == "restore"]
    assert restored
    for d in restored:
        name = scalar(broken_db_rw, f"SELECT name FROM taxonomy_term_data WHERE tid = {d.tid}")
        assert name == clean[d.tid]
    assert scalar(broken_db_rw, "SELECT machine_name FROM taxonomy_vocabulary WHERE vid = 4") == (
        "chuyen_de"
    )
    assert report.caches["cache_field"] > 0


def test_precondition_failure_writes_nothing(broken_db_rw: ConnectionSpec, tmp_path: Path) -> None:
    plan = api.plan_repair(broken_db_rw)
    op = next(o for o in plan.operations if o.table == "field_data_field_tags")
    conn = connect(broken_db_rw)
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE field_data_field_tags SET bundle = 'page' WHERE entity_id = %s AND delta = %s",
            (op.key["entity_id"], op.key["delta"]),
        )
    conn.close()
    count = scalar(broken_db_rw, "SELECT COUNT(*) FROM field_data_field_tags")
    with pytest.raises(PreconditionFailed, match=r"field_data_field_tags \(.*\): row changed"):
        api.apply_repair(broken_db_rw, plan, yes=True, journal=tmp_path / "j.jsonl")
    assert scalar(broken_db_rw, "SELECT COUNT(*) FROM field_data_field_tags") == count
    assert scalar(broken_db_rw, "SELECT COUNT(*) FROM taxonomy_term_data WHERE tid = 5") == 0
    assert not (tmp_path / "j.jsonl").exists()


def test_cycle_is_reported_then_broken_at_named_edge(
    broken_db_rw: ConnectionSpec, tmp_path: Path
) -> None:
    conn = connect(broken_db_rw)
    with conn.cursor() as cur:
        cur.execute("UPDATE taxonomy_term_hierarchy SET parent = 7 WHERE tid = 6")
    conn.close()
    untouched = api.plan_repair(broken_db_rw)
    assert any("cycle" in note and "break=" in note for note in untouched.notes)
    plan = api.plan_repair(broken_db_rw, strategies=["break=6:7", "reparent=6:1"])
    edge = [op for op in plan.operations if op.reason.startswith("break 6")]
    assert [(op.kind, op.key, op.after) for op in edge] == [
        ("update", {"tid": 6, "parent": 7}, {"parent": 1})
    ]
    report = api.apply_repair(broken_db_rw, plan, yes=True, journal=tmp_path / "j.jsonl")
    assert report.after["taxonomy.orphan_hierarchy"] == 0
    assert scalar(broken_db_rw, "SELECT parent FROM taxonomy_term_hierarchy WHERE tid = 6") == 1


REDIRECT_TABLE = """CREATE TABLE redirect (
  rid int unsigned NOT NULL AUTO_INCREMENT, hash varchar(64) NOT NULL,
  type varchar(64) NOT NULL, uid int unsigned NOT NULL DEFAULT 0,
  source varchar(255) NOT NULL, source_options text NOT NULL,
  redirect varchar(255) NOT NULL, redirect_options text NOT NULL,
  language varchar(12) NOT NULL DEFAULT 'und', status_code smallint NOT NULL,
  count int unsigned NOT NULL DEFAULT 0, access int NOT NULL DEFAULT 0,
  PRIMARY KEY (rid), UNIQUE KEY hash (hash)) ENGINE=InnoDB DEFAULT CHARSET=utf8"""


def test_remap_turns_old_alias_into_redirect(broken_db_rw: ConnectionSpec, tmp_path: Path) -> None:
    conn = connect(broken_db_rw)
    with conn.cursor() as cur:
        cur.execute(REDIRECT_TABLE)
        cur.execute(
            "INSERT INTO system (filename, name, type, owner, status, bootstrap,"
            " schema_version, weight, info) VALUES ('sites/all/modules/redirect/redirect.module',"
            " 'redirect', 'module', '', 1, 0, 7000, 0, 'a:0:{}')"
        )
    conn.close()
    mapping = tmp_path / "map.csv"
    mapping.write_text("tid,action,target\n43,remap,tags: thể thao\n", encoding="utf-8")
    plan = api.plan_repair(broken_db_rw, mapping)
    api.apply_repair(broken_db_rw, plan, yes=True, journal=tmp_path / "j.jsonl")
    row = connect(broken_db_rw).cursor()
    row.execute("SELECT source, redirect, language, hash FROM redirect WHERE source LIKE '%43%'")
    # The term's own path and feed, and its old alias, all go to the replacement.
    assert set(row.fetchall()) >= {
        ("taxonomy/term/43", "taxonomy/term/46", "und", redirect_hash("taxonomy/term/43", "und")),
        ("taxonomy/term/43/feed", "taxonomy/term/46/feed", "und",
         redirect_hash("taxonomy/term/43/feed", "und")),
    }  # fmt: skip
    row.execute("SELECT source, redirect, language, hash FROM redirect WHERE source LIKE 'tu-%'")
    assert set(row.fetchall()) >= {
        ("tu-khoa/olympic", "taxonomy/term/46", "und",
         "g-36tdOHFOmXMSizT0rDSp3GMcuD2qYTbHyIsbh-upE"),
    }  # fmt: skip
    assert (
        scalar(broken_db_rw, "SELECT COUNT(*) FROM url_alias WHERE alias = 'tu-khoa/olympic'") == 0
    )
    assert (
        scalar(broken_db_rw, "SELECT COUNT(*) FROM field_data_field_tags WHERE field_tags_tid = 43")
        == 0
    )


def test_drop_parent_term_moves_menu_children_and_restored_children_up(
    broken_db_rw: ConnectionSpec, tmp_path: Path
) -> None:
    conn = connect(broken_db_rw)
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO menu_links (menu_name, mlid, plid, link_path, router_path, link_title,"
            " options, module, hidden, external, has_children, expanded, weight, depth,"
            " customized, p1, p2, p3, updated) VALUES ('main-menu', 900, 271, 'node/5',"
            " 'node/%%', 'Child', 'a:0:{}', 'menu', 0, 0, 0, 0, 0, 3, 1, 264, 271, 900, 0)"
        )
        cur.execute("UPDATE menu_links SET has_children = 1 WHERE mlid = 271")
    conn.close()
    plan = api.plan_repair(broken_db_rw, strategies=["9=drop"])
    assert any("body link(s) to tid 9 stay broken" in note for note in plan.notes)
    report = api.apply_repair(broken_db_rw, plan, yes=True, journal=tmp_path / "j.jsonl")
    left = {check: n for check, n in report.after.items() if n}
    # tid 9's URL (and those of the tags the default drops) warn until the web server
    # redirects them; the plan holds those rules.
    assert left.pop("breadcrumb.notice_pages") == 4
    assert {r.tid for r in plan.redirects} == {9, 35, 43, 44}
    assert left == {"links.broken_term_routes": 5}  # body links to /taxonomy/term/9
    child = connect(broken_db_rw).cursor()
    child.execute("SELECT plid, depth, p1, p2, p3 FROM menu_links WHERE mlid = 900")
    assert child.fetchone() == (264, 2, 264, 900, 0)
    for tid in (10, 11):
        parent = scalar(
            broken_db_rw, f"SELECT parent FROM taxonomy_term_hierarchy WHERE tid = {tid}"
        )
        assert parent == 0
