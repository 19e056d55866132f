"""Schema discovery: Drupal 7 recognised, other Drupals named, bad data reported."""

from __future__ import annotations

from dataclasses import replace

import pytest

from migrate.errors import NotDrupal7, SchemaError
from migrate.identifiers import Prefix
from migrate.schema import Drupal7
from migrate.source.mysql import MySQLSource

DRUPAL6_TABLES = """
CREATE TABLE system (filename varchar(255), name varchar(255), type varchar(255),
  status int, schema_version smallint);
INSERT INTO system VALUES ('modules/system/system.module','system','module',1,6055);
CREATE TABLE term_data (tid int, vid int, name varchar(255));
CREATE TABLE term_node (nid int, vid int, tid int);
"""

DRUPAL6_WITHOUT_SYSTEM = """
CREATE TABLE term_data (tid int, vid int, name varchar(255));
CREATE TABLE term_node (nid int, vid int, tid int);
"""

DRUPAL8_TABLES = """
CREATE TABLE config (collection varchar(255), name varchar(255), data longblob);
CREATE TABLE key_value (collection varchar(128), name varchar(128), value longblob);
"""


def open_site(spec):  # type: ignore[no-untyped-def]
    return Drupal7(MySQLSource(spec))


def test_drupal7_fixture_is_recognised(broken_db) -> None:  # type: ignore[no-untyped-def]
    site = open_site(broken_db)
    assert site.core_version == "7.105"
    assert 7000 <= site.schema_version <= 7999


def test_drupal6_is_named(new_database) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotDrupal7, match="Drupal 6"):
        open_site(new_database(DRUPAL6_WITHOUT_SYSTEM))
    with pytest.raises(NotDrupal7, match="looks like Drupal 6"):
        open_site(new_database(DRUPAL6_TABLES))


def test_drupal8_is_named(new_database) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotDrupal7, match="Drupal 8 or later"):
        open_site(new_database(DRUPAL8_TABLES))


def test_term_reference_fields_discovered_from_field_config(broken_db) -> None:  # type: ignore[no-untyped-def]
    fields = {f.field_name: f for f in open_site(broken_db).term_reference_fields}
    assert set(fields) == {"field_tags", "field_chuyen_muc", "field_don_vi", "field_chuyen_de"}
    muc = fields["field_chuyen_muc"]
    assert muc.storage.data_table == "field_data_field_chuyen_muc"
    assert muc.storage.revision_table == "field_revision_field_chuyen_muc"
    assert muc.storage.column("tid") == "field_chuyen_muc_tid"
    assert muc.allowed_vocabularies == ("chuyen_muc",)
    assert muc.cardinality == -1
    assert muc.bundles == (("node", "article"), ("node", "page"))
    assert fields["field_chuyen_de"].allowed_vocabularies == ("chuyen_de",)


def test_text_and_file_fields_discovered(broken_db) -> None:  # type: ignore[no-untyped-def]
    site = open_site(broken_db)
    assert site.fields["body"].storage.columns == {
        "value": "body_value",
        "summary": "body_summary",
        "format": "body_format",
    }
    assert site.fields["field_image"].type == "image"
    assert site.fields["field_tep_dinh_kem"].storage.column("fid") == "field_tep_dinh_kem_fid"


def test_variables_and_formats_are_decoded(broken_db) -> None:  # type: ignore[no-untyped-def]
    site = open_site(broken_db)
    assert site.variable("taxonomy_breadcrumb_home") == "Trang chủ"
    assert site.variable("no_such_variable", "dflt") == "dflt"
    filtered = site.text_formats["filtered_html"]
    html = filtered.filter("filter_html")
    assert html is not None and "<strong>" in html.settings["allowed_html"]
    assert filtered.filter("filter_html_escape") is None


def test_malformed_serialized_value_names_table_and_row(broken_db_rw) -> None:  # type: ignore[no-untyped-def]
    writer = MySQLSource(broken_db_rw, readonly=False)
    with writer.transaction():
        writer.execute(
            "UPDATE {field_config} SET data = ? WHERE field_name = ?",
            (b'a:2:{s:8:"settings";a:1:{s:3:"x', "field_tags"),
        )
    writer.close()
    with pytest.raises(SchemaError, match=r"field_config row id=\d+ \(field_tags\): malformed"):
        _ = open_site(broken_db_rw).fields


def test_invalid_utf8_in_serialized_value_is_reported(broken_db_rw) -> None:  # type: ignore[no-untyped-def]
    writer = MySQLSource(broken_db_rw, readonly=False)
    with writer.transaction():
        writer.execute(
            "UPDATE {variable} SET value = ? WHERE name = ?", (b's:2:"\xff\xfe";', "site_name")
        )
    writer.close()
    with pytest.raises(
        SchemaError, match="variable 'site_name': serialized PHP holds invalid UTF-8"
    ):
        open_site(broken_db_rw).variable("site_name")


def test_table_prefix_is_used_for_every_table(databases, broken_db) -> None:  # type: ignore[no-untyped-def]
    spec = databases.create()
    with MySQLSource(broken_db) as src:
        tables = sorted(src.table_names())
    databases.load(
        spec.database,
        "".join(
            f"CREATE TABLE `site_{t}` LIKE `{broken_db.database}`.`{t}`;"
            f" INSERT INTO `site_{t}` SELECT * FROM `{broken_db.database}`.`{t}`;"
            for t in tables
        ),
    )
    prefixed = replace(spec, prefix=Prefix("site_"))
    site = Drupal7(MySQLSource(prefixed))
    assert site.core_version == "7.105"
    assert len(site.term_reference_fields) == 4
    with pytest.raises(NotDrupal7, match="no system table"):
        Drupal7(MySQLSource(spec))
