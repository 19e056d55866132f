"""Every field value of Drupal core's field fixture, typed, in every target, and read back.

The fixture (``fixtures/drupal7-core-fields.sql.gz``) is the Drupal 7 database
Drupal core tests its own migrations with: 61 fields of 22 types, translations,
a private file. Source counts here come straight from MariaDB, never from the
toolkit.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import CORE_FIELDS_DUMP, Databases, query, url_of
from export_helpers import by_key, hugo_node_pages, run_export, run_hugo_export
from lxml import etree

from migrate.config import ConnectionSpec
from migrate.errors import Unaccounted
from migrate.export import _REGISTRY, register_writer
from migrate.export.jsonl import JsonlWriter
from migrate.export.records import NodeRecord

WP = "{http://wordpress.org/export/1.2/}"
CORE_TYPES = {
    "text", "text_long", "text_with_summary", "list_text", "list_integer", "list_float",
    "list_boolean", "number_integer", "number_float", "date", "datetime", "datestamp", "email",
    "telephone", "phone", "link_field", "entityreference", "node_reference", "user_reference",
    "file", "image", "taxonomy_term_reference",
}  # fmt: skip


def _source_values(spec: ConnectionSpec) -> dict[str, int]:
    """Rows of every node field's data table, counted by MariaDB itself."""
    counts: dict[str, int] = {}
    for (name,) in query(spec, "SELECT field_name FROM field_config WHERE deleted = 0"):
        where = "entity_type = 'node' AND deleted = 0"
        if name == "body":
            where += " AND (LENGTH(body_value) > 0 OR LENGTH(body_summary) > 0)"
        ((n,),) = query(spec, f"SELECT COUNT(*) FROM field_data_{name} WHERE {where}")
        if n:
            counts[str(name)] = int(n)
    return counts


@pytest.fixture(scope="module")
def exports(
    core_fields_db: ConnectionSpec, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fields")
    outs = {to: root / to for to in ("jsonl", "wxr", "hugo")}
    run_export(core_fields_db, outs["jsonl"], batch_size=4)
    run_export(core_fields_db, outs["wxr"], to="wxr", batch_size=4)
    run_hugo_export(core_fields_db, outs["hugo"], batch_size=4)
    return outs


def _report(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "reconciliation.json").read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("target", ["jsonl", "wxr", "hugo"])
def test_every_field_value_is_read_back_from_each_target(
    exports: dict[str, Path], core_fields_db: ConnectionSpec, target: str
) -> None:
    report = _report(exports[target])
    table = {f["field"]: f for f in report["fields"] if f["entity"] == "node"}
    source = _source_values(core_fields_db)
    assert {name: table[name]["source"] for name in source} == source
    assert {name: table[name]["found"] for name in source} == source
    assert all(f["reconciled"] for f in report["fields"])
    types_with_values = {table[name]["type"] for name in source}
    assert types_with_values == CORE_TYPES
    [nodes] = [c for c in report["counts"] if c["what"] == "nodes"]
    assert nodes["source"] == nodes["found"] == 11
    others = {(f["entity"], f["field"]): f for f in report["fields"] if f["entity"] != "node"}
    expected = {
        ("comment", "field_integer"): "comment",
        ("comment", "subject_field"): "comment",
        ("term", "description_field"): "taxonomy_term",
        ("term", "name_field"): "taxonomy_term",
        ("user", "field_integer"): "user",
        ("user", "field_reference"): "user",
    }
    for (entity, name), drupal_type in expected.items():
        ((n,),) = query(
            core_fields_db,
            f"SELECT COUNT(*) FROM field_data_{name}"
            f" WHERE entity_type = '{drupal_type}' AND deleted = 0",
        )
        row = others[(entity, name)]
        assert row["source"] == n > 0
        # every target holds comment and term fields; only JSONL has a place for user fields
        carried = entity != "user" or target == "jsonl"
        assert row["found"] == (n if carried else 0)
        assert bool(row["note"]) == (not carried)
    [bodies] = [f for f in report["fields"] if f["field"] == "comment_body"]
    assert bodies["source"] == bodies["found"] == 4


def test_values_are_typed(exports: dict[str, Path]) -> None:
    nodes = by_key(exports["jsonl"], "node", "nid")

    def values(nid: int, field: str) -> list[dict[str, Any]]:
        return [v for v in nodes[nid]["fields"] if v["field"] == field]

    [date] = values(1, "field_date")
    # stored 2015-01-20 04:15:00 UTC; tz_handling "site", the site is America/Chicago
    assert date["item"] == {
        "value": "2015-01-19T22:15:00-06:00",
        "end": None,
        "timezone": "America/Chicago",
    }
    assert values(1, "field_date_without_time")[0]["item"]["value"] == "2015-01-20"
    assert values(1, "field_float_list")[0]["item"] == {"key": 3.1416, "label": "Pi"}
    assert values(1, "field_integer_list")[0]["item"] == {"key": 7, "label": "9"}
    assert [v["item"]["value"] for v in values(1, "field_email")] == [
        "default@example.com",
        "another@example.com",
    ]
    assert {v["language"]: v["item"]["value"] for v in values(1, "title_field")} == {
        "en": "An English Node",
        "fr": "A French Node",
        "is": "An Icelandic Node",
    }
    [link] = values(1, "field_link")
    assert link["item"]["url"] == "http://google.com"
    assert link["item"]["attributes"] == {"title": "Click Here"}
    assert values(2, "field_link")[0]["item"]["url"] == "/"
    [ref] = values(2, "field_reference")
    assert ref["item"] == {"entity": "node", "id": 5, "url": nodes[5]["path"]}
    assert values(2, "field_user_reference")[0]["item"] == {"entity": "user", "id": 3, "url": None}
    [image] = values(1, "field_images")
    assert image["item"]["alt"] == "alt text" and image["item"]["url"] == "/files/cube.jpeg"
    terms = by_key(exports["jsonl"], "term", "tid")
    assert any(v["field"] == "name_field" for t in terms.values() for v in t["fields"])
    authors = by_key(exports["jsonl"], "author", "uid")
    [ref] = [v for v in authors[2]["fields"] if v["field"] == "field_reference"]
    assert ref["item"] == {"entity": "node", "id": 3, "url": nodes[3]["path"]}
    comment_values = [v for c in nodes[1]["comments"] for v in c["fields"]]
    assert {v["field"] for v in comment_values} >= {"field_integer"}
    [private] = values(1, "field_private_file")
    assert private["item"]["url"] is None
    assert any("field_private_file[0]" in p["detail"] for p in nodes[1]["problems"])


def test_wxr_has_one_postmeta_per_value(exports: dict[str, Path]) -> None:
    meta: list[tuple[str, str]] = []
    for path in sorted(exports["wxr"].glob("wxr-*.xml")):
        for item in etree.parse(str(path)).iter("item"):
            pairs = [
                (m.findtext(f"{WP}meta_key") or "", m.findtext(f"{WP}meta_value") or "")
                for m in item.iter(f"{WP}postmeta")
            ]
            if ("_drupal_nid", "1") in pairs:
                meta = pairs
    assert [v for k, v in meta if k == "field_field_email"] == [
        "default@example.com",
        "another@example.com",
    ]
    [date] = [json.loads(v) for k, v in meta if k == "field_field_date"]
    assert date["value"] == "2015-01-19T22:15:00-06:00"
    titles = [json.loads(v) for k, v in meta if k == "field_title_field"]
    assert sorted(t["language"] for t in titles) == ["en", "fr", "is"]
    [image] = [json.loads(v) for k, v in meta if k == "field_field_images"]
    attachments = {
        m.findtext(f"{WP}meta_value"): item.findtext(f"{WP}post_id")
        for path in sorted(exports["wxr"].glob("wxr-*.xml"))
        for item in etree.parse(str(path)).iter("item")
        for m in item.iter(f"{WP}postmeta")
        if m.findtext(f"{WP}meta_key") == "_drupal_fid"
    }
    assert str(image["wp_id"]) == attachments[str(image["fid"])]


def test_hugo_front_matter_holds_the_fields(exports: dict[str, Path]) -> None:
    for page in hugo_node_pages(exports["hugo"]).values():
        head = page.read_text(encoding="utf-8").split("+++")[1]
        data = tomllib.loads(head)
        if data.get("drupal_nid") == 1:
            break
    else:
        pytest.fail("node 1 has no page")
    fields = data["params"]["fields"]
    assert [v["value"] for v in fields["field_email"]] == [
        "default@example.com",
        "another@example.com",
    ]
    assert fields["field_date"][0]["value"] == "2015-01-19T22:15:00-06:00"
    assert fields["field_float_list"][0] == {
        "language": "und",
        "delta": 0,
        "key": 3.1416,
        "label": "Pi",
    }


UNKNOWN_FIELD = """
INSERT INTO field_config (id, field_name, type, module, active, storage_type, storage_module,
  storage_active, locked, data, cardinality, translatable, deleted)
  VALUES (900, 'field_geo', 'geofield', 'geofield', 1, 'field_sql_storage', 'field_sql_storage',
  1, 0, 'a:0:{}', 1, 0, 0);
INSERT INTO field_config_instance (id, field_id, field_name, entity_type, bundle, data, deleted)
  VALUES (900, 900, 'field_geo', 'node', 'article', 'a:0:{}', 0);
CREATE TABLE field_data_field_geo (entity_type varchar(128), bundle varchar(128),
  deleted tinyint, entity_id int unsigned, revision_id int unsigned, language varchar(32),
  delta int unsigned, field_geo_lat decimal(18,12), field_geo_lon decimal(18,12),
  field_geo_geom blob);
INSERT INTO field_data_field_geo VALUES
  ('node', 'article', 0, 2, 11, 'und', 0, 21.028511, 105.804817, x'00ff10');
"""


def test_an_unknown_field_type_keeps_its_raw_columns_and_says_so(
    databases: Databases, tmp_path: Path
) -> None:
    spec = databases.create(gzip.decompress(CORE_FIELDS_DUMP.read_bytes()).decode() + UNKNOWN_FIELD)
    out = tmp_path / "b"
    summary = run_export(spec, out)
    assert summary.reconciliation is not None and summary.reconciliation.reconciled
    node = by_key(out, "node", "nid")[2]
    [geo] = [v for v in node["fields"] if v["field"] == "field_geo"]
    assert geo["type"] == "geofield"
    assert geo["item"] == {
        "columns": {"lat": "21.028511000000", "lon": "105.804817000000", "geom": "base64:AP8Q"}
    }
    assert any("'geofield'" in p["detail"] for p in node["problems"])
    [row] = [f for f in summary.reconciliation.fields if f.field == "field_geo"]
    assert row.source == row.found == 1


@pytest.fixture
def lossy_writer() -> Iterator[str]:
    """A JSONL writer that silently drops every comment: what reconciliation must catch."""

    @register_writer("lossy-test")
    class LossyWriter(JsonlWriter):
        takes_encoded = False
        reads_back_as = "jsonl"

        def write_batch(self, batch_no: int, records: Any) -> Any:
            kept = [replace(r, comments=()) if isinstance(r, NodeRecord) else r for r in records]
            return super().write_batch(batch_no, kept)

    yield "lossy-test"
    _REGISTRY.pop("lossy-test")


def test_a_writer_that_drops_comments_fails_the_export(
    lossy_writer: str, broken_db: ConnectionSpec, tmp_path: Path, ground_truth: dict[str, Any]
) -> None:
    out = tmp_path / "lossy"
    with pytest.raises(Unaccounted) as raised:
        run_export(broken_db, out, to=lossy_writer)
    assert raised.value.exit_code == 9
    report = _report(out)
    assert report["reconciled"] is False
    [comments] = [c for c in report["counts"] if c["what"] == "comments"]
    assert comments["source"] == ground_truth["counts_broken"]["comments"]
    assert comments["found"] == 0
    commented = {str(nid) for (nid,) in query(broken_db, "SELECT DISTINCT nid FROM comment")}
    assert {u["id"] for u in report["unaccounted"]} == commented
    # the comments and, with them, their body values
    assert {u["what"].split(":")[0] for u in report["unaccounted"]} == {
        "comments",
        "comment.field",
    }
    [bodies] = [f for f in report["fields"] if f["field"] == "comment_body"]
    assert bodies["found"] == 0 and bodies["unaccounted"] == bodies["source"] > 0
    # everything else that was written reads back whole
    assert all(c["reconciled"] for c in report["counts"] if c["what"] != "comments")


LOSSY_CLI = """
import sys
from dataclasses import replace
from migrate.export import register_writer
from migrate.export.jsonl import JsonlWriter
from migrate.export.records import NodeRecord
from migrate.cli import run


@register_writer("lossy-cli")
class Lossy(JsonlWriter):
    takes_encoded = False
    reads_back_as = "jsonl"

    def write_batch(self, batch_no, records):
        node = NodeRecord
        kept = [replace(r, fields=r.fields[1:]) if isinstance(r, node) else r for r in records]
        return super().write_batch(batch_no, kept)


sys.argv = ["drupal-migrate", *sys.argv[1:]]
run()
"""


def test_cli_exits_9_in_one_line_when_the_read_back_misses_something(
    core_fields_db: ConnectionSpec, tmp_path: Path
) -> None:
    """The real CLI over a writer that drops each node's first field value: one line, exit 9."""
    script = tmp_path / "lossy_cli.py"
    script.write_text(LOSSY_CLI, encoding="utf-8")
    out = tmp_path / "lossy"
    args = ["export", "--db", url_of(core_fields_db), "--to", "lossy-cli", "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        timeout=300,
        check=False,
    )
    report = _report(out)
    assert report["reconciled"] is False
    errors = [line for line in proc.stderr.decode().splitlines() if not line.startswith("{")]
    assert proc.returncode == 9, proc.stderr.decode()
    assert len(errors) == 1 and "not in the output" in errors[0], errors
    assert b"all counts reconcile" not in proc.stdout
    lost = [f for f in report["fields"] if not f["reconciled"]]
    assert lost and sum(f["found"] + f["unaccounted"] - f["source"] for f in lost) == 0
    assert report["unaccounted_total"] == sum(f["unaccounted"] for f in lost)


def _wxr_comment_meta(out: Path) -> dict[str, list[tuple[str, str]]]:
    """cid → its ``wp:commentmeta`` pairs, read from every WXR file."""
    found: dict[str, list[tuple[str, str]]] = {}
    for path in sorted(out.glob("wxr-*.xml")):
        for c in etree.parse(str(path)).iter(f"{WP}comment"):
            found[c.findtext(f"{WP}comment_id") or ""] = [
                (m.findtext(f"{WP}meta_key") or "", m.findtext(f"{WP}meta_value") or "")
                for m in c.iter(f"{WP}commentmeta")
            ]
    return found


def test_comment_and_term_fields_are_in_wxr_and_hugo(exports: dict[str, Path]) -> None:
    meta = _wxr_comment_meta(exports["wxr"])
    integers = [json.loads(v) for k, v in meta["1"] if k == "field_field_integer"]
    assert {"language": "en", "delta": 0, "value": 1000000} in integers
    termmeta = [
        (m.findtext(f"{WP}meta_key"), json.loads(m.findtext(f"{WP}meta_value") or "{}"))
        for path in sorted(exports["wxr"].glob("wxr-*.xml"))
        for m in etree.parse(str(path)).iter(f"{WP}termmeta")
        if (m.findtext(f"{WP}meta_key") or "").startswith("field_")  # not _drupal_tid & co.
    ]
    assert any(k == "field_name_field" and v["value"] for k, v in termmeta)
    pages = [
        tomllib.loads(p.read_text(encoding="utf-8").split("+++")[1])
        for p in (exports["hugo"] / "content").rglob("*.md")
    ]
    comments = [c for page in pages for c in page.get("params", {}).get("comments", ())]
    [first] = [c for c in comments if c["cid"] == 1]
    assert {"language": "en", "delta": 0, "value": 1000000} in first["fields"]["field_integer"]
    terms = [page for page in pages if "drupal_tid" in page]
    assert any("name_field" in t.get("params", {}).get("fields", {}) for t in terms)


TWO_LANGUAGE_COMMENT = """
INSERT INTO field_data_comment_body VALUES
  ('comment', 'comment_node_article', 0, 2, 2, 'fr', 0, 'TNG est meilleur.', 'filtered_html'),
  ('comment', 'comment_node_article', 0, 2, 2, 'en', 0, 'TNG is better (en).', 'filtered_html');
"""


@pytest.mark.parametrize("target", ["jsonl", "wxr"])
def test_a_comment_with_bodies_in_several_languages_is_one_comment(
    databases: Databases, tmp_path: Path, target: str
) -> None:
    """Comment 2 (language en) has bodies in und, fr and en: one comment, the en body shown."""
    dump = gzip.decompress(CORE_FIELDS_DUMP.read_bytes()).decode()
    spec = databases.create(dump + TWO_LANGUAGE_COMMENT)
    out = tmp_path / target
    summary = run_export(spec, out, to=target)
    assert summary.reconciliation is not None and summary.reconciliation.reconciled
    [bodies] = [f for f in summary.reconciliation.fields if f.field == "comment_body"]
    assert bodies.source == bodies.found == 6
    if target == "jsonl":
        [comment] = [c for c in by_key(out, "node", "nid")[2]["comments"]]
        assert comment["cid"] == 2
        assert "TNG is better (en)." in comment["body"]["value"]
        others = {
            v["language"]: v["item"]["value"]
            for v in comment["fields"]
            if v["field"] == "comment_body"
        }
        assert set(others) == {"und", "fr"} and "meilleur" in others["fr"]
    else:
        meta = _wxr_comment_meta(out)
        contents = [
            c.findtext(f"{WP}comment_content")
            for path in sorted(out.glob("wxr-*.xml"))
            for c in etree.parse(str(path)).iter(f"{WP}comment")
        ]
        assert len(contents) == 4
        bodies_meta = [json.loads(v) for k, v in meta["2"] if k == "field_comment_body"]
        assert sorted(b["language"] for b in bodies_meta) == ["fr", "und"]
