"""Counts in the bundle reconcile with the ground truth of both fixtures."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import query, run_sql
from export_helpers import by_key, records, run_export

from migrate.config import ConnectionSpec


@pytest.fixture(params=["broken", "clean"])
def exported(
    request: pytest.FixtureRequest, tmp_path: Path, ground_truth: dict[str, Any]
) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    spec: ConnectionSpec = request.getfixturevalue(f"{request.param}_db")
    out = tmp_path / "bundle"
    summary = run_export(spec, out, revisions="all", batch_size=40)
    return out, summary.reconciliation, ground_truth[f"counts_{request.param}"]


def test_nodes_revisions_comments_files_reconcile(exported: Any) -> None:
    out, rec, truth = exported
    assert rec["reconciled"] is True
    nodes = rec["nodes"]
    assert nodes["source"] == nodes["exported"] == truth["nodes"] == 218
    exported_by_type = {t: sum(c.values()) for t, c in nodes["exported_by_type"].items()}
    assert exported_by_type == truth["nodes_by_type"]
    published = sum(c.get("published", 0) for c in nodes["exported_by_type"].values())
    assert published == truth["nodes_published"]
    assert rec["revisions"]["exported"] == truth["node_revisions"] == 244
    assert rec["comments"]["exported"] == truth["comments"] == 46
    assert rec["files"]["exported"] == truth["file_managed"] == 142
    assert rec["authors"]["exported"] == truth["users"]
    assert rec["aliases"]["node"]["exported"] == truth["url_aliases_node"]

    nodes_in_bundle = by_key(out, "node", "nid")
    assert len(nodes_in_bundle) == 218
    assert sum(len(n["revisions"]) for n in nodes_in_bundle.values()) == 244
    assert sum(len(n["comments"]) for n in nodes_in_bundle.values()) == 46
    assert len(by_key(out, "file", "fid")) == 142
    multi = sum(1 for n in nodes_in_bundle.values() if len(n["revisions"]) > 1)
    assert multi == truth["nodes_with_multiple_revisions"]
    on_disk = json.loads((out / "reconciliation.json").read_text(encoding="utf-8"))
    assert on_disk == rec


def test_terms_reconcile_per_vocabulary(exported: Any) -> None:
    out, rec, truth = exported
    expected = {name: v["terms"] for name, v in truth["vocabularies"].items()}
    assert rec["terms"]["by_vocabulary"] == expected
    in_bundle = Counter(t["vocabulary"] for t in records(out, "term"))
    assert dict(in_bundle) == expected
    assert rec["terms"]["exported"] + len(rec["terms"]["not_exported"]) == truth["terms_total_rows"]
    assert rec["vocabularies"]["exported"] == len(truth["vocabularies"])
    term_aliases = rec["aliases"]["term"]
    assert term_aliases["source"] == truth["url_aliases_term"]
    assert term_aliases["exported"] + term_aliases["not_exported"] == term_aliases["source"]


def test_unloadable_terms_are_listed_with_a_reason(
    broken_db: ConnectionSpec, tmp_path: Path
) -> None:
    rec = run_export(broken_db, tmp_path / "b").reconciliation
    missing = {item["tid"]: item["reason"] for item in rec["terms"]["not_exported"]}
    assert set(missing) == {51, 52, 53}
    assert all("vocabulary 4 does not exist" in why for why in missing.values())


def test_default_export_explains_the_unpublished_nodes(
    broken_db: ConnectionSpec, tmp_path: Path, ground_truth: dict[str, Any]
) -> None:
    rec = run_export(broken_db, tmp_path / "b", include_unpublished=False).reconciliation
    assert rec["reconciled"] is True
    nodes = rec["nodes"]
    assert nodes["exported"] == ground_truth["counts_broken"]["nodes_published"]
    [why] = nodes["not_exported"]
    assert why["count"] == ground_truth["counts_broken"]["nodes_unpublished"]
    assert "unpublished" in why["reason"]
    assert rec["revisions"]["exported"] == nodes["exported"]
    assert "current revisions" in rec["revisions"]["note"]


def test_a_rerun_names_what_changed_on_the_live_site_since_the_bundle_was_written(
    broken_db_rw: ConnectionSpec, tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    assert run_export(broken_db_rw, out).reconciliation["reconciled"] is True
    (gone,), (commented,) = query(
        broken_db_rw, "SELECT MIN(nid) FROM node UNION ALL SELECT MAX(nid) FROM node"
    )
    (cid,) = query(broken_db_rw, "SELECT MAX(cid) + 1 FROM comment")[0]
    run_sql(
        broken_db_rw,
        f"DELETE FROM node WHERE nid = {gone}",
        "INSERT INTO comment (cid, pid, nid, uid, subject, hostname, created, changed,"
        " status, thread, name, mail, homepage, language)"
        f" VALUES ({cid}, 0, {commented}, 0, 'mới', '', 1, 1, 1, '99/', 'khách', '', '', 'und')",
    )
    rec = run_export(broken_db_rw, out).reconciliation
    assert rec["nodes"]["in_bundle_but_gone_from_source"] == str(gone)
    assert rec["nodes"]["reconciled"] is True
    assert rec["comments"]["nodes_that_differ"] == str(commented)
    assert rec["comments"]["exported"] + 1 == rec["comments"]["source_for_exported_nodes"]
    assert rec["reconciled"] is False
