"""The JSONL bundle: schema-valid, clean bodies, rewritten links, nothing dropped silently."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import BROKEN_DUMP
from export_helpers import BASE_URL, bundle_files, by_key, records, run_export

from migrate import api
from migrate.config import ConnectionSpec
from migrate.source.mysql import MySQLSource


@pytest.fixture(scope="module")
def bundle(broken_db: ConnectionSpec, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("jsonl") / "bundle"
    run_export(broken_db, out, revisions="all", batch_size=60)
    return out


def _bodies(node: dict[str, Any]) -> list[str]:
    texts = []
    if node["body"]:
        texts += [node["body"]["value"], node["body"]["summary"]]
    texts += [c["body"]["value"] for c in node["comments"] if c["body"]]
    texts += [r["body"]["value"] for r in node["revisions"] if r["body"]]
    return texts


def test_every_line_validates_against_the_schema(bundle: Path) -> None:
    schema = json.loads(
        resources.files("migrate.export").joinpath("bundle.schema.json").read_text("utf-8")
    )
    assert json.loads((bundle / "bundle.schema.json").read_text("utf-8")) == schema
    validator = jsonschema.Draft202012Validator(schema)
    lines = records(bundle)
    assert len(lines) == 3 + 42 + 5 + 142 + 218 + 520
    for line in lines:
        errors = list(validator.iter_errors(line))
        assert not errors, f"{line['kind']}: {errors[0].message}"
    kinds = {line["kind"] for line in lines}
    assert kinds == {"vocabulary", "term", "author", "file", "node", "redirect"}


def test_word_debris_is_gone(bundle: Path, broken_db: ConnectionSpec, ground_truth: Any) -> None:
    source = MySQLSource(broken_db)
    dirty = {
        int(nid)
        for (nid,) in source.rows(
            "SELECT entity_id FROM {field_data_body} WHERE body_value LIKE ? OR body_value LIKE ?",
            ("%mso-%", "%<o:p>%"),
        )
    }
    source.close()
    assert len(dirty) >= ground_truth["counts_broken"]["bodies_with_ms_word_markup"]
    nodes = by_key(bundle, "node", "nid")
    for nid in dirty:
        for text in _bodies(nodes[nid]):
            assert "mso-" not in text and "<o:p" not in text.lower(), nid
            assert "[if gte mso" not in text and "MsoNormal" not in text, nid


def test_links_to_nodes_are_rewritten(bundle: Path, ground_truth: Any) -> None:
    nodes = by_key(bundle, "node", "nid")
    paths = {n["path"] for n in nodes.values()}
    node_link = re.compile(r"""href="([^"]*(?:node/\d+|index\.php\?q=node)[^"]*)\"""")
    linking = 0
    for node in nodes.values():
        body = node["body"]["value"] if node["body"] else ""
        assert not node_link.findall(body), (node["nid"], node_link.findall(body))
        targets = re.findall(r'href="(/(?:article|page)/[^"#?]*)', body)
        if targets:
            linking += 1
            assert set(targets) <= paths, node["nid"]
        assert BASE_URL + "/node/" not in body
    assert linking >= ground_truth["counts_broken"]["bodies_linking_node_paths"]


def test_dangling_term_references_are_problems_not_dropped(bundle: Path, ground_truth: Any) -> None:
    nodes = by_key(bundle, "node", "nid")
    current = [
        r for r in ground_truth["broken_field_references"] if r["table"].startswith("field_data_")
    ]
    assert (
        len(current) == ground_truth["broken_field_references_summary"]["rows_in_field_data_tables"]
    )
    for ref in current:
        node = nodes[ref["nid"]]
        wanted = f"{ref['field']}[{ref['delta']}]: term {ref['missing_tid']}:"
        details = [p["detail"] for p in node["problems"] if p["kind"] == "dangling_term_ref"]
        assert any(d.startswith(wanted) for d in details), (ref["nid"], wanted, details)
        assert ref["missing_tid"] not in {t["tid"] for t in node["terms"]}
    problems = sum(
        1 for n in nodes.values() for p in n["problems"] if p["kind"] == "dangling_term_ref"
    )
    assert problems == len(current)
    old_only = ground_truth["broken_field_references_summary"][
        "node_field_tid_triples_only_in_old_revisions"
    ]
    for nid, field, tid in old_only:
        revision_problems = [p["detail"] for r in nodes[nid]["revisions"] for p in r["problems"]]
        assert any(d.startswith(field) and f"term {tid}:" in d for d in revision_problems)


def test_terms_come_parents_first_with_paths(bundle: Path) -> None:
    seen: set[int] = set()
    for term in records(bundle, "term"):
        assert set(term["parents"]) <= seen, term["tid"]
        seen.add(term["tid"])
        assert term["path"].startswith(f"/{term['vocabulary']}/")
    tuyen_sinh = [t for t in records(bundle, "term") if t["name"] == "Tuyển sinh"]
    assert tuyen_sinh and tuyen_sinh[0]["problems"], "its deleted parent 9 must be reported"


def test_authors_carry_no_secrets(bundle: Path) -> None:
    authors = records(bundle, "author")
    assert len(authors) == 5
    for author in authors:
        assert author["email"] is None
        assert "pass" not in author and "password" not in json.dumps(author)


def test_files_and_images_are_attached(bundle: Path) -> None:
    nodes = by_key(bundle, "node", "nid")
    images = [f for n in nodes.values() for f in n["files"] if f["field"] == "field_image"]
    assert images and all(f["mime"].startswith("image/") and f["url"] for f in images)
    assert any(f["alt"] for f in images)
    node21 = nodes[21]["files"][0]
    assert node21["uri"] == "public://field/image/IMG_20121010_8979.jpg"
    assert node21["url"] == "/files/field/image/IMG_20121010_8979.jpg"
    files = by_key(bundle, "file", "fid")
    assert (
        files[1]["public_url"]
        == BASE_URL + "/sites/default/files/field/image/IMG_20121010_8979.jpg"
    )


def test_comments_are_threaded(bundle: Path) -> None:
    nodes = by_key(bundle, "node", "nid")
    replies = 0
    for node in nodes.values():
        cids = [c["cid"] for c in node["comments"]]
        for comment in node["comments"]:
            if comment["pid"]:
                replies += 1
                assert cids.index(comment["pid"]) < cids.index(comment["cid"])
    assert replies > 0


def test_redirects_cover_aliases_and_node_paths(bundle: Path) -> None:
    redirects = by_key(bundle, "redirect", "source")
    nodes = by_key(bundle, "node", "nid")
    for nid, node in nodes.items():
        assert redirects[f"node/{nid}"]["target"] == node["path"]
        for alias in node["aliases"]:
            assert redirects[alias]["target"] == node["path"]
    assert "tu-khoa/olympic" not in redirects


def test_same_bundle_without_workers_and_from_the_dump(
    bundle: Path, broken_db: ConnectionSpec, tmp_path: Path
) -> None:
    serial = tmp_path / "serial"
    run_export(broken_db, serial, revisions="all", batch_size=60, workers=0)
    assert bundle_files(serial) == bundle_files(bundle)

    from migrate.export import engine
    from migrate.export.engine import ExportOptions
    from migrate.export.reader import Selection

    dumped = tmp_path / "dumped"
    spec = api.source_spec(dump=BROKEN_DUMP, cache_dir=tmp_path / "cache")
    with api.connect(spec) as site:
        engine.export(
            site,
            dumped,
            ExportOptions(
                selection=Selection(include_unpublished=True),
                revisions="all",
                batch_size=60,
                base_url=BASE_URL,
            ),
        )
    assert bundle_files(dumped) == bundle_files(bundle)


def test_lines_are_what_the_stdlib_encoder_writes(bundle: Path) -> None:
    """orjson writes the lines; the bundle format is json.dumps compact, UTF-8, kind first."""
    from migrate.export.records import Body, NodeRecord, Problem, detail_json, encode, to_dict

    tricky = "".join(chr(i) for i in range(0x80)) + 'đ\u2028\u2029\U0001f600\ufffd"\\'
    record = NodeRecord(
        nid=1, vid=2, type="bài \"viết\"", target_type="post", language="vi", title=tricky,
        slug="s", path="/p/", status=1, promote=0, sticky=0, created=3, changed=4, author=5,
        body=Body(tricky, "", None), problems=(Problem("k", tricky),), cleaning={tricky: 1},
    )  # fmt: skip
    stdlib = json.dumps(to_dict(record), ensure_ascii=False, separators=(",", ":"))
    assert encode(record) == stdlib.encode("utf-8")
    counts = ("comments", "revisions", "aliases", "terms", "files", "problems")
    detail = {"type": record.type, "status": 1, "changed": 4} | {k: 0 for k in counts}
    assert detail_json(record) == json.dumps(detail | {"revisions": 1, "problems": 1})
    for data_file in bundle_files(bundle).values():
        for line in data_file.splitlines():
            data = json.loads(line)
            assert json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode() == line


def test_a_record_json_cannot_hold_is_a_migrate_error() -> None:
    from migrate.errors import MigrateError
    from migrate.export.records import AuthorRecord, encode

    with pytest.raises(MigrateError, match="author 7"):
        encode(AuthorRecord(7, "lone \ud800 surrogate", "x", 0, 1))


def test_batch_ids_are_read_as_a_range_when_dense() -> None:
    from migrate.export.reader import _id_filter

    assert _id_filter("nid", [3, 4, 5, 6]) == ("nid BETWEEN ? AND ?", [3, 6], None)
    sql, params, keep = _id_filter("nid", [3, 4, 6, 7, 8])
    assert (sql, params, keep) == ("nid BETWEEN ? AND ?", [3, 8], frozenset({3, 4, 6, 7, 8}))
    assert _id_filter("nid", [1, 50, 99]) == ("nid IN (?,?,?)", [1, 50, 99], None)
