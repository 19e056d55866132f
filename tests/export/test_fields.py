"""Every field value of Drupal core's field fixture, typed, in every target, and read back.

The fixture (``fixtures/drupal7-core-fields.sql.gz``) is the Drupal 7 database
Drupal core tests its own migrations with: 61 fields of 22 types, translations,
a private file. Source counts here come straight from MariaDB, never from the
toolkit.
"""

from __future__ import annotations

import gzip
import json
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import CORE_FIELDS_DUMP, Databases, query, url_of
from export_helpers import by_key, cli, run_export, run_hugo_export
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
        # JSONL holds them; WXR and Hugo have no place for them yet and say so
        assert row["found"] == (n if target == "jsonl" else 0)
        assert bool(row["note"]) == (target != "jsonl")


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
    for page in (exports["hugo"] / "content").rglob("index.md"):
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
    assert {u["what"].split(":")[0] for u in report["unaccounted"]} == {"comments"}
    # everything else that was written reads back whole
    assert all(c["reconciled"] for c in report["counts"] if c["what"] != "comments")


def test_cli_exits_9_in_one_line_when_the_read_back_misses_something(
    core_fields_db: ConnectionSpec, tmp_path: Path
) -> None:
    """Hugo pages hold no comments yet: the CLI says so and never says "all counts reconcile"."""
    out = tmp_path / "site"
    proc = cli("export", "--db", url_of(core_fields_db), "--to", "hugo", "--out", str(out))
    stdout, stderr = proc.communicate(timeout=300)
    report = _report(out)
    [comments] = [c for c in report["counts"] if c["what"] == "comments"]
    assert comments["source"] == 4
    if report["reconciled"]:
        assert proc.returncode == 0 and b"all counts reconcile" in stdout
        return
    errors = [line for line in stderr.decode().splitlines() if not line.startswith("{")]
    assert proc.returncode == 9
    assert len(errors) == 1 and "not in the output" in errors[0]
    assert b"all counts reconcile" not in stdout
    assert comments["found"] + comments["unaccounted"] == comments["source"]
