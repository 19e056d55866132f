"""field_collection and paragraphs items: nested records in every target, read back per field.

The site is Drupal core's field fixture plus the tables field_collection 7.x-1.x and
paragraphs 7.x-1.x create (written here from their hook_schema definitions) and a
few items: two collections on node 2, one holding a collection of its own, and
three paragraphs on node 5 (one whose host names an older revision and holds a
public and a private image, one archived, one whose item row is gone).
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import CORE_FIELDS_DUMP, Databases, query, run_sql
from export_helpers import by_key, hugo_node_pages, records, run_export
from hugo_build import build_hugo
from lxml import etree
from site_helpers import html_pages

from migrate import api
from migrate.config import ConnectionSpec
from migrate.errors import Unaccounted
from migrate.export import _REGISTRY, register_writer
from migrate.export.fields import FieldValue, NestedItem
from migrate.export.jsonl import JsonlWriter
from migrate.export.records import NodeRecord

WP = "{http://wordpress.org/export/1.2/}"

MODULE_TABLES = """
CREATE TABLE field_collection_item (
  item_id int NOT NULL AUTO_INCREMENT, revision_id int NOT NULL,
  field_name varchar(32) NOT NULL, archived int NOT NULL DEFAULT 0,
  PRIMARY KEY (item_id));
CREATE TABLE field_collection_item_revision (
  revision_id int NOT NULL AUTO_INCREMENT, item_id int NOT NULL,
  PRIMARY KEY (revision_id), KEY item_id (item_id));
CREATE TABLE paragraphs_bundle (
  bundle varchar(32) NOT NULL, name varchar(255) NOT NULL DEFAULT '',
  label varchar(255) NOT NULL DEFAULT '', description mediumtext, locked tinyint NOT NULL DEFAULT 0,
  PRIMARY KEY (bundle));
CREATE TABLE paragraphs_item (
  item_id int NOT NULL AUTO_INCREMENT, revision_id int NOT NULL, bundle varchar(32) NOT NULL,
  field_name varchar(32) NOT NULL, archived int NOT NULL DEFAULT 0,
  PRIMARY KEY (item_id));
CREATE TABLE paragraphs_item_revision (
  revision_id int NOT NULL AUTO_INCREMENT, item_id int NOT NULL,
  PRIMARY KEY (revision_id), KEY item_id (item_id));
"""


def _host_tables(name: str) -> str:
    """The data and revision tables of a field_collection or paragraphs field."""
    columns = (
        "entity_type varchar(128) NOT NULL DEFAULT '', bundle varchar(128) NOT NULL DEFAULT '',"
        " deleted tinyint NOT NULL DEFAULT 0, entity_id int unsigned NOT NULL,"
        " revision_id int unsigned, language varchar(32) NOT NULL DEFAULT '',"
        f" delta int unsigned NOT NULL, {name}_value int, {name}_revision_id int"
    )
    return "".join(
        f"CREATE TABLE {prefix}_{name} ({columns},"
        f" PRIMARY KEY (entity_type, deleted, entity_id, {key}language, delta));\n"
        for prefix, key in (("field_data", ""), ("field_revision", "revision_id, "))
    )


def _both(table: str, rows: str, revision_only: str = "") -> str:
    """The same rows into a field's data and revision tables (older revisions: revision only)."""
    out = f"INSERT INTO field_data_{table} VALUES {rows};\n"
    out += f"INSERT INTO field_revision_{table} VALUES {rows}"
    return out + (f", {revision_only};\n" if revision_only else ";\n")


SITE = (
    MODULE_TABLES
    + _host_tables("field_fc")
    + _host_tables("field_fc_inner")
    + _host_tables("field_para")
    + """
INSERT INTO field_config (id, field_name, type, module, active, storage_type, storage_module,
  storage_active, locked, data, cardinality, translatable, deleted) VALUES
  (901, 'field_fc', 'field_collection', 'field_collection', 1, 'field_sql_storage',
   'field_sql_storage', 1, 0, 'a:0:{}', -1, 0, 0),
  (902, 'field_fc_inner', 'field_collection', 'field_collection', 1, 'field_sql_storage',
   'field_sql_storage', 1, 0, 'a:0:{}', -1, 0, 0),
  (903, 'field_para', 'paragraphs', 'paragraphs', 1, 'field_sql_storage',
   'field_sql_storage', 1, 0, 'a:0:{}', -1, 0, 0);
INSERT INTO field_config_instance (field_id, field_name, entity_type, bundle, data, deleted)
  VALUES (901, 'field_fc', 'node', 'article', 'a:0:{}', 0),
         (902, 'field_fc_inner', 'field_collection_item', 'field_fc', 'a:0:{}', 0),
         (903, 'field_para', 'node', 'article', 'a:0:{}', 0);
INSERT INTO field_config_instance (field_id, field_name, entity_type, bundle, data, deleted)
  SELECT id, field_name, e, b, 'a:0:{}', 0 FROM field_config
  JOIN (SELECT 'field_integer' AS f, 'field_collection_item' AS e, 'field_fc' AS b
        UNION ALL SELECT 'field_link', 'field_collection_item', 'field_fc_inner'
        UNION ALL SELECT 'field_integer', 'paragraphs_item', 'text_block'
        UNION ALL SELECT 'field_text', 'paragraphs_item', 'text_block'
        UNION ALL SELECT 'field_images', 'paragraphs_item', 'text_block') i ON i.f = field_name;
INSERT INTO field_collection_item VALUES (1, 1, 'field_fc', 0), (2, 3, 'field_fc', 0),
  (3, 4, 'field_fc_inner', 0);
INSERT INTO field_collection_item_revision VALUES (1, 1), (2, 2), (3, 2), (4, 3);
INSERT INTO paragraphs_bundle VALUES ('text_block', 'Text block', 'Text block', NULL, 0);
INSERT INTO paragraphs_item VALUES (10, 11, 'text_block', 'field_para', 0),
  (12, 12, 'text_block', 'field_para', 1);
INSERT INTO paragraphs_item_revision VALUES (10, 10), (11, 10), (12, 12);
"""
    + _both(
        "field_fc",
        "('node', 'article', 0, 2, 11, 'und', 0, 1, 1),"
        " ('node', 'article', 0, 2, 11, 'und', 1, 2, 3)",
    )
    + _both("field_fc_inner", "('field_collection_item', 'field_fc', 0, 2, 3, 'und', 0, 3, 4)")
    + _both(
        "field_para",
        "('node', 'article', 0, 5, 14, 'und', 0, 10, 10),"
        " ('node', 'article', 0, 5, 14, 'und', 1, 12, NULL),"
        " ('node', 'article', 0, 5, 14, 'und', 2, 99, 99)",
    )
    + _both(
        "field_integer",
        "('field_collection_item', 'field_fc', 0, 1, 1, 'und', 0, 11),"
        " ('field_collection_item', 'field_fc', 0, 2, 3, 'und', 0, 23),"
        " ('field_collection_item', 'field_fc', 0, 2, 3, 'und', 1, 24),"
        " ('paragraphs_item', 'text_block', 0, 10, 11, 'und', 0, 1011)",
        "('field_collection_item', 'field_fc', 0, 2, 2, 'und', 0, 22),"
        " ('paragraphs_item', 'text_block', 0, 10, 10, 'und', 0, 1010)",
    )
    + _both(
        "field_text",
        "('paragraphs_item', 'text_block', 0, 10, 11, 'und', 0, 'New paragraph text', NULL),"
        " ('paragraphs_item', 'text_block', 0, 12, 12, 'und', 0, 'Archived paragraph', NULL)",
        "('paragraphs_item', 'text_block', 0, 10, 10, 'und', 0, 'Old paragraph text', NULL)",
    )
    + _both(
        "field_images",
        "('paragraphs_item', 'text_block', 0, 10, 10, 'und', 0, 1, 'In a paragraph', '', 93, 93),"
        " ('paragraphs_item', 'text_block', 0, 10, 10, 'und', 1, 3, 'Private', '', NULL, NULL)",
    )
    + _both(
        "field_link",
        "('field_collection_item', 'field_fc_inner', 0, 3, 4, 'und', 0, 'node/2', 'Back', NULL)",
    )
)

NESTED_VALUES = {
    ("field_collection_item", "field_integer"): 3,
    ("field_collection_item", "field_fc_inner"): 1,
    ("field_collection_item", "field_link"): 1,
    ("paragraphs_item", "field_integer"): 1,
    ("paragraphs_item", "field_text"): 2,
    ("paragraphs_item", "field_images"): 2,
}
"""Values of the item revisions the hosts name (revision 2 of collection 2 and revision 11
of paragraph 10 are not named by any host)."""


@pytest.fixture(scope="module")
def nested_db(databases: Databases) -> ConnectionSpec:
    return databases.create(gzip.decompress(CORE_FIELDS_DUMP.read_bytes()).decode() + SITE)


@pytest.fixture(scope="module")
def exports(nested_db: ConnectionSpec, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("nested")
    outs = {to: root / to for to in ("jsonl", "wxr", "hugo")}
    for to, out in outs.items():
        summary = run_export(nested_db, out, to=to, batch_size=4)
        assert summary.reconciliation is not None and summary.reconciliation.reconciled
    return outs


def _report(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "reconciliation.json").read_text(encoding="utf-8"))
    return data


def test_the_site_has_what_the_modules_store(nested_db: ConnectionSpec) -> None:
    """The source side, from MariaDB itself: hosts point at items, items hold values."""
    ((hosts,),) = query(nested_db, "SELECT COUNT(*) FROM field_data_field_para")
    ((items,),) = query(nested_db, "SELECT COUNT(*) FROM paragraphs_item")
    assert (hosts, items) == (3, 2)


@pytest.mark.parametrize("target", ["jsonl", "wxr", "hugo"])
def test_every_nested_value_is_read_back(exports: dict[str, Path], target: str) -> None:
    report = _report(exports[target])
    table = {(f["entity"], f["field"]): f for f in report["fields"]}
    for key, n in NESTED_VALUES.items():
        assert (table[key]["source"], table[key]["found"]) == (n, n), key
    assert table[("node", "field_fc")]["found"] == 2
    assert table[("node", "field_para")]["found"] == 3
    assert report["reconciled"] is True


def _nested_values(out: Path) -> dict[int, list[dict[str, Any]]]:
    """Each node's field_collection and paragraphs values, items and their values included."""
    nested = ("field_collection", "paragraphs")
    return {
        nid: [v for v in node["fields"] if v["type"] in nested]
        for nid, node in by_key(out, "node", "nid").items()
    }


def _mysqldump(spec: ConnectionSpec, dest: Path) -> Path:
    """The database as mariadb-dump writes it: the tables' real shapes and INSERTs."""
    client = shutil.which("mariadb-dump") or shutil.which("mysqldump")
    assert client, "mariadb-dump is needed"
    server = (f"--host={spec.host}", f"--port={spec.port}", f"--user={spec.user}")
    done = subprocess.run(
        [client, *server, "--default-character-set=utf8mb4", str(spec.database)],
        capture_output=True,
        check=False,
        env={"MYSQL_PWD": spec.password},
    )
    assert done.returncode == 0, done.stderr.decode()[:500]
    dest.write_bytes(done.stdout)
    return dest


def test_a_dump_gives_the_nested_items_mariadb_gives(
    nested_db: ConnectionSpec, exports: dict[str, Path], tmp_path: Path
) -> None:
    """``--dump`` (the SQLite dump cache) reads the items' tables like MariaDB does."""
    dump = _mysqldump(nested_db, tmp_path / "nested.sql")
    out = tmp_path / "dump"
    summary = run_export(api.source_spec(dump=dump, cache_dir=tmp_path / "cache"), out)
    assert summary.reconciliation is not None and summary.reconciliation.reconciled
    from_dump, from_db = _nested_values(out), _nested_values(exports["jsonl"])
    assert sum(len(v) for v in from_db.values()) == 5  # 2 collections on node 2, 3 paragraphs
    assert from_dump == from_db
    table = {(f["entity"], f["field"]): (f["source"], f["found"]) for f in _report(out)["fields"]}
    assert {key: table[key] for key in NESTED_VALUES} == {
        k: (n, n) for k, n in NESTED_VALUES.items()
    }


def test_jsonl_holds_items_as_typed_nested_values(exports: dict[str, Path]) -> None:
    nodes = by_key(exports["jsonl"], "node", "nid")

    def values(nid: int, name: str) -> list[dict[str, Any]]:
        return [v for v in nodes[nid]["fields"] if v["field"] == name]

    first, second = values(2, "field_fc")
    assert first["item"]["entity"] == "field_collection_item"
    assert first["item"]["bundle"] == "field_fc"
    assert [(v["field"], v["item"]) for v in first["item"]["fields"]] == [
        ("field_integer", {"value": 11})
    ]
    # the revision the host names (3), not the older one (2)
    ints = [v["item"]["value"] for v in second["item"]["fields"] if v["field"] == "field_integer"]
    assert ints == [23, 24]
    [inner] = [v for v in second["item"]["fields"] if v["field"] == "field_fc_inner"]
    assert inner["type"] == "field_collection" and inner["item"]["id"] == 3
    [link] = inner["item"]["fields"]
    assert link["item"]["url"] == nodes[2]["path"]  # node/2 rewritten like a body link
    old, archived, missing = values(5, "field_para")
    assert old["item"]["revision_id"] == 10
    assert {
        v["field"]: v["item"]["value"] for v in old["item"]["fields"] if "value" in v["item"]
    } == {"field_integer": 1010, "field_text": "Old paragraph text"}
    assert archived["item"]["archived"] is True and archived["item"]["bundle"] == "text_block"
    assert missing["item"]["fields"] == [] and missing["item"]["bundle"] is None
    assert any("paragraphs_item 99 does not exist" in p["detail"] for p in nodes[5]["problems"])


def test_nested_items_validate_against_the_bundle_schema(exports: dict[str, Path]) -> None:
    schema = json.loads((exports["jsonl"] / "bundle.schema.json").read_text("utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    for line in records(exports["jsonl"]):
        errors = list(validator.iter_errors(line))
        assert not errors, f"{line['kind']}: {errors[0].message}"


def test_wxr_and_hugo_hold_the_items(exports: dict[str, Path]) -> None:
    meta = [
        (m.findtext(f"{WP}meta_key"), m.findtext(f"{WP}meta_value") or "")
        for path in sorted(exports["wxr"].glob("wxr-*.xml"))
        for item in etree.parse(str(path)).iter("item")
        for m in item.iter(f"{WP}postmeta")
    ]
    collections = [json.loads(v) for k, v in meta if k == "field_field_fc"]
    assert [c["id"] for c in collections] == [1, 2]
    inner = collections[1]["fields"]["field_fc_inner"][0]
    assert inner["entity"] == "field_collection_item" and inner["fields"]["field_link"]
    for page in hugo_node_pages(exports["hugo"]).values():
        data = tomllib.loads(page.read_text(encoding="utf-8").split("+++")[1])
        if data.get("drupal_nid") == 5:
            break
    else:
        pytest.fail("node 5 has no page")
    paragraphs = data["params"]["fields"]["field_para"]
    assert paragraphs[0]["fields"]["field_text"][0]["value"] == "Old paragraph text"
    assert paragraphs[1]["archived"] is True


def _wxr_meta(out: Path, key: str) -> list[str]:
    return [
        m.findtext(f"{WP}meta_value") or ""
        for path in sorted(out.glob("wxr-*.xml"))
        for item in etree.parse(str(path)).iter("item")
        for m in item.iter(f"{WP}postmeta")
        if m.findtext(f"{WP}meta_key") == key
    ]


def test_an_image_in_a_paragraph_names_its_wordpress_attachment(exports: dict[str, Path]) -> None:
    [attachment] = [
        item.findtext(f"{WP}post_id")
        for path in sorted(exports["wxr"].glob("wxr-*.xml"))
        for item in etree.parse(str(path)).iter("item")
        if item.findtext(f"{WP}post_type") == "attachment"
        and ("1" in [m.findtext(f"{WP}meta_value") for m in item.iter(f"{WP}postmeta")])
    ]
    paragraphs = [json.loads(v) for v in _wxr_meta(exports["wxr"], "field_field_para")]
    public, private = paragraphs[0]["fields"]["field_images"]
    assert (public["fid"], str(public["wp_id"])) == (1, attachment)
    assert private["fid"] == 3 and "wp_id" not in private  # a private file has no attachment


def test_a_nested_image_without_its_attachment_id_is_unaccounted(
    nested_db: ConnectionSpec, tmp_path: Path
) -> None:
    """The read-back checks the ``wp_id`` inside items: one taken out of the file is caught."""
    out = tmp_path / "wxr"
    run_export(nested_db, out, to="wxr")
    edited = 0
    for path in sorted(out.glob("wxr-*.xml")):
        tree = etree.parse(str(path))
        for meta in tree.iter(f"{WP}postmeta"):
            if meta.findtext(f"{WP}meta_key") == "field_field_para":
                value = meta.find(f"{WP}meta_value")
                data = json.loads(value.text or "")
                for image in data["fields"].get("field_images", ()):
                    edited += image.pop("wp_id", None) is not None
                value.text = etree.CDATA(json.dumps(data))
        tree.write(str(path), xml_declaration=True, encoding="UTF-8")
    assert edited == 1
    with pytest.raises(Unaccounted):
        run_export(nested_db, out, to="wxr")
    [row] = [f for f in _report(out)["fields"] if not f["reconciled"]]
    assert (row["entity"], row["field"], row["entities_that_differ"]) == (
        "paragraphs_item",
        "field_images",
        "5",
    )


@pytest.fixture
def flat_writer() -> Iterator[str]:
    """A JSONL writer that keeps each item but drops its own values: what must be caught."""

    def flat(value: FieldValue) -> FieldValue:
        item = value.item
        return (
            replace(value, item=replace(item, fields=())) if isinstance(item, NestedItem) else value
        )

    @register_writer("flat-test")
    class FlatWriter(JsonlWriter):
        takes_encoded = False
        reads_back_as = "jsonl"

        def write_batch(self, batch_no: int, records: Any) -> Any:
            kept = [
                replace(r, fields=tuple(map(flat, r.fields))) if isinstance(r, NodeRecord) else r
                for r in records
            ]
            return super().write_batch(batch_no, kept)

    yield "flat-test"
    _REGISTRY.pop("flat-test")


def test_a_writer_that_drops_item_values_fails_the_export(
    flat_writer: str, nested_db: ConnectionSpec, tmp_path: Path
) -> None:
    out = tmp_path / "flat"
    with pytest.raises(Unaccounted):
        run_export(nested_db, out, to=flat_writer)
    report = _report(out)
    lost = {(f["entity"], f["field"]) for f in report["fields"] if not f["reconciled"]}
    assert lost == set(NESTED_VALUES)
    assert {u["id"] for u in report["unaccounted"]} == {"2", "5"}


def test_a_changed_value_deep_in_an_item_rebuilds_its_node(
    databases: Databases, tmp_path: Path
) -> None:
    """Re-runs skip unchanged nodes on their fingerprint: an item's values are part of it."""
    spec = databases.create(gzip.decompress(CORE_FIELDS_DUMP.read_bytes()).decode() + SITE)
    out = tmp_path / "bundle"
    first = run_export(spec, out)
    nodes = len(by_key(out, "node", "nid"))
    run_sql(
        spec,
        "UPDATE field_revision_field_link SET field_link_title = 'Back again'"
        " WHERE entity_type = 'field_collection_item' AND revision_id = 4",
    )
    second = run_export(spec, out, update=True)
    assert first.reconciliation is not None and second.reconciliation is not None
    assert second.reconciliation.reconciled
    assert second.updated["node"] == 1 and second.unchanged["node"] == nodes - 1
    fields = by_key(out, "node", "nid")[2]["fields"]
    [collection] = [v for v in fields if v["field"] == "field_fc" and v["item"]["id"] == 2]
    [inner] = [v for v in collection["item"]["fields"] if v["field"] == "field_fc_inner"]
    assert inner["item"]["fields"][0]["item"]["title"] == "Back again"


def test_the_built_hugo_page_shows_items_as_lists_of_fields(
    exports: dict[str, Path], tmp_path: Path
) -> None:
    """Read what a visitor gets: hugo builds the site; items are nested lists, not JSON."""
    public = tmp_path / "public"
    build = build_hugo(exports["hugo"], public)
    assert build.returncode == 0, build.stderr
    pages = {p: p.read_text(encoding="utf-8") for p in html_pages(public)}
    assert not [p for p, text in pages.items() if '{"entity"' in text or "&#34;entity" in text]
    [page] = [text for text in pages.values() if "Old paragraph text" in text]
    fields = etree.HTML(page).xpath("//section[@class='fields']")[0]
    # the first such <dd> in document order is the paragraph's; the text's own is inside it
    para = next(dd for dd in fields.iter("dd") if "Old paragraph text" in "".join(dd.itertext()))
    assert para.find("span[@class='item']") is not None and para.find("dl") is not None
    collection = [text for text in pages.values() if "field_fc_inner" in text]
    assert collection, "the collection inside a collection is shown by its field's name"
    inner = etree.HTML(collection[0]).xpath("//section[@class='fields']//dd/dl//dd/dl")
    assert inner, "an item inside an item nests again"
