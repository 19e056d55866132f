"""Counts read back from the bundle reconcile with the ground truth of both fixtures."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import query, run_sql
from export_helpers import by_key, records, run_export

from migrate.config import ConnectionSpec
from migrate.errors import Unaccounted
from migrate.export.reconcile import Count, Reconciliation


@pytest.fixture(params=["broken", "clean"])
def exported(
    request: pytest.FixtureRequest, tmp_path: Path, ground_truth: dict[str, Any]
) -> tuple[Path, Reconciliation, dict[str, Any]]:
    spec: ConnectionSpec = request.getfixturevalue(f"{request.param}_db")
    out = tmp_path / "bundle"
    summary = run_export(spec, out, revisions="all", batch_size=40)
    assert summary.reconciliation is not None
    return out, summary.reconciliation, ground_truth[f"counts_{request.param}"]


def _count(rec: Reconciliation, what: str) -> Count:
    found = rec.count(what)
    assert found is not None, what
    return found


def test_nodes_revisions_comments_files_reconcile(exported: Any) -> None:
    out, rec, truth = exported
    assert rec.reconciled and rec.unaccounted == []
    nodes = _count(rec, "nodes")
    assert nodes.source == nodes.found == truth["nodes"] == 218
    found_by_type = {t: sum(c.values()) for t, c in rec.nodes_by_type["found"].items()}
    assert found_by_type == truth["nodes_by_type"]
    published = sum(c.get("published", 0) for c in rec.nodes_by_type["found"].values())
    assert published == truth["nodes_published"]
    assert _count(rec, "revisions").found == truth["node_revisions"] == 244
    assert _count(rec, "comments").found == truth["comments"] == 46
    assert _count(rec, "files").found == truth["file_managed"] == 142
    assert _count(rec, "authors").found == truth["users"]
    assert _count(rec, "node aliases").found == truth["url_aliases_node"]
    assert all(c.reconciled for c in rec.counts)
    assert {f.field for f in rec.fields} >= {"body", "field_image"}
    assert all(f.source == f.found for f in rec.fields)

    nodes_in_bundle = by_key(out, "node", "nid")
    assert len(nodes_in_bundle) == 218
    assert sum(len(n["revisions"]) for n in nodes_in_bundle.values()) == 244
    assert sum(len(n["comments"]) for n in nodes_in_bundle.values()) == 46
    assert len(by_key(out, "file", "fid")) == 142
    multi = sum(1 for n in nodes_in_bundle.values() if len(n["revisions"]) > 1)
    assert multi == truth["nodes_with_multiple_revisions"]
    on_disk = json.loads((out / "reconciliation.json").read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(rec.to_dict()))


def test_terms_reconcile_per_vocabulary(exported: Any) -> None:
    out, rec, truth = exported
    expected = {name: v["terms"] for name, v in truth["vocabularies"].items()}
    assert rec.terms_by_vocabulary["found"] == rec.terms_by_vocabulary["source"] == expected
    in_bundle = Counter(t["vocabulary"] for t in records(out, "term"))
    assert dict(in_bundle) == expected
    terms = _count(rec, "terms")
    assert terms.found + terms.left_out == terms.source == truth["terms_total_rows"]
    assert _count(rec, "vocabularies").found == len(truth["vocabularies"])
    assert _count(rec, "term parents").reconciled
    redirects = _count(rec, "redirects")
    assert redirects.found + redirects.left_out == redirects.source


def test_unloadable_terms_are_listed_with_a_reason(
    broken_db: ConnectionSpec, tmp_path: Path
) -> None:
    rec = run_export(broken_db, tmp_path / "b").reconciliation
    assert rec is not None
    [terms] = [item for item in rec.left_out if item.kind == "term"]
    assert terms.ids == "51-53" and terms.count == 3
    assert "vocabulary 4 does not exist" in terms.reason


def test_default_export_explains_the_unpublished_nodes(
    broken_db: ConnectionSpec, tmp_path: Path, ground_truth: dict[str, Any]
) -> None:
    rec = run_export(broken_db, tmp_path / "b", include_unpublished=False).reconciliation
    assert rec is not None and rec.reconciled
    nodes = _count(rec, "nodes")
    assert nodes.found == ground_truth["counts_broken"]["nodes_published"]
    [why] = [item for item in rec.left_out if item.kind == "node"]
    assert why.count == nodes.left_out == ground_truth["counts_broken"]["nodes_unpublished"]
    assert "unpublished" in why.reason
    assert "current revisions" in _count(rec, "revisions").note


def test_a_rerun_names_what_changed_on_the_live_site_since_the_bundle_was_written(
    broken_db_rw: ConnectionSpec, tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    rec = run_export(broken_db_rw, out).reconciliation
    assert rec is not None and rec.reconciled
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
    with pytest.raises(Unaccounted, match=f"node {commented}: comments"):
        run_export(broken_db_rw, out)
    report = json.loads((out / "reconciliation.json").read_text(encoding="utf-8"))
    assert report["gone_from_source"]["node"] == str(gone)
    ((now,),) = query(broken_db_rw, f"SELECT COUNT(*) FROM comment WHERE nid = {commented}")
    what = f"comments: {now} in the source, {now - 1} in the output"
    assert report["unaccounted"] == [{"kind": "node", "id": str(commented), "what": what}]
    assert report["reconciled"] is False and report["unaccounted_total"] == 1


def _second_parent(spec: ConnectionSpec) -> tuple[int, int]:
    """Give a term that has a parent a second one: a root term of its vocabulary."""
    rows = query(
        spec,
        "SELECT h.tid, r.tid FROM taxonomy_term_hierarchy h"
        " JOIN taxonomy_term_data d ON d.tid = h.tid"
        " JOIN taxonomy_term_data r ON r.vid = d.vid AND r.tid NOT IN (h.tid, h.parent)"
        " JOIN taxonomy_term_hierarchy rh ON rh.tid = r.tid AND rh.parent = 0"
        " WHERE h.parent > 0 ORDER BY h.tid, r.tid LIMIT 1",
    )
    tid, other = (int(v) for v in rows[0])
    run_sql(spec, f"INSERT INTO taxonomy_term_hierarchy (tid, parent) VALUES ({tid}, {other})")
    return tid, other


@pytest.mark.parametrize("to", ["jsonl", "wxr", "hugo"])
def test_every_parent_of_a_term_is_read_back(
    to: str, broken_db_rw: ConnectionSpec, tmp_path: Path
) -> None:
    """A Drupal term may have several parents. WordPress keeps one in its hierarchy and a
    Hugo taxonomy none, so WXR term meta and Hugo front matter carry all of them, and
    the read-back counts them there; a parent taken out of the output is unaccounted."""
    tid, other = _second_parent(broken_db_rw)
    out = tmp_path / to
    rec = run_export(broken_db_rw, out, to=to).reconciliation
    assert rec is not None and rec.reconciled
    parents = _count(rec, "term parents")
    assert parents.source == parents.found > 11 and not parents.note
    if to == "jsonl":
        return
    if to == "wxr":
        pattern = rb"<wp:termmeta><wp:meta_key><!\[CDATA\[_drupal_parents\]\]>.*?</wp:termmeta>"
        files = sorted(out.glob("wxr-*.xml"))
    else:
        pattern = rb"(?m)^drupal_parents = .*\n"
        files = [
            p
            for p in out.glob("content/**/_index.md")
            if b"drupal_tid = %d\n" % tid in p.read_bytes()
        ]
    texts = {path: path.read_bytes() for path in files}
    assert any(str(other).encode() in m for t in texts.values() for m in re.findall(pattern, t))
    for path, text in texts.items():
        path.write_bytes(re.sub(pattern, b"", text))
    with pytest.raises(Unaccounted, match="parents"):
        run_export(broken_db_rw, out, to=to)
