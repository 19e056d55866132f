"""Text stored in binary columns, decoded in one place for every source.

A charset migration often leaves text columns as ``VARBINARY``/``BLOB``/``LONGBLOB``
(the usual latin1 → binary → utf8 round trip, stopped half way). Both drivers then
hand back ``bytes``, which would reach every target as ``b'…'`` and crash any regex.
Drupal itself declares a few columns binary on purpose (serialized PHP, gzipped cached
pages): those stay bytes. Every other binary column is text and is decoded here, by
the MariaDB reader (``migrate.source.mysql``) as rows arrive and by the dump loader
(``migrate.source.dump``) as rows are stored, so both sources give the same ``str``.

Decoding: UTF-8 (what Drupal 7 writes), else the table's declared charset when that
is latin1 (what such a table held before the conversion); mojibake in the decoded text
is repaired later, by the export cleaner, like in any other text. Bytes that decode in
neither are a ``SchemaError`` naming the table, the row and the column: the value
cannot be read correctly, and guessing would change what the site says.
"""

from __future__ import annotations

from collections.abc import Iterable

from migrate.errors import SchemaError

TOOLKIT_TABLES = frozenset(
    {
        "node",
        "node_revision",
        "node_type",
        "users",
        "comment",
        "field_config",
        "field_config_instance",
        "taxonomy_vocabulary",
        "taxonomy_term_data",
        "taxonomy_term_hierarchy",
        "taxonomy_index",
        "taxonomy_breadcrumb_term",
        "taxonomy_breadcrumb_vocabulary",
        "url_alias",
        "menu_links",
        "menu_custom",
        "variable",
        "system",
        "filter",
        "filter_format",
        "file_managed",
        "file_usage",
        "watchdog",
        "redirect",
        "search_dataset",
        "cache_page",
        "cache_filter",
        "field_collection_item",
        "field_collection_item_revision",
        "paragraphs_item",
        "paragraphs_item_revision",
        "paragraphs_bundle",
    }
)
"""Drupal tables the toolkit reads, unprefixed (a dump loads these; cache_page and
cache_filter are evidence of what a deleted term's page and description were)."""
TOOLKIT_TABLE_PREFIXES = (
    "field_data_",
    "field_revision_",
    "field_deleted_data_",
    "field_deleted_revision_",
)

_CACHE_COLUMNS = frozenset({"data"})
FIELD_TEXT_COLUMNS = (
    "_value",
    "_summary",
    "_format",
    "_title",
    "_alt",
    "_description",
    "_url",
    "_email",
)
"""Column name endings of core's (and link/email's) text field columns in field tables."""
BINARY_BY_DESIGN: frozenset[tuple[str, str]] = frozenset(
    {
        ("actions", "parameters"),
        ("batch", "batch"),
        ("ctools_object_cache", "data"),
        ("field_config", "data"),
        ("field_config_instance", "data"),
        ("filter", "settings"),
        ("image_effects", "data"),
        ("menu_links", "options"),
        ("menu_router", "access_arguments"),
        ("menu_router", "load_functions"),
        ("menu_router", "page_arguments"),
        ("menu_router", "to_arg_functions"),
        ("queue", "data"),
        ("rdf_mapping", "mapping"),
        ("redirect", "redirect_options"),
        ("redirect", "source_options"),
        ("sessions", "session"),
        ("system", "info"),
        ("users", "data"),
        ("variable", "value"),
        ("watchdog", "variables"),
    }
)
"""(table, column) pairs Drupal 7 core (and redirect/ctools) declare as blobs on purpose."""

_MYSQL_LATIN1 = {
    i: b.decode("cp1252")
    for i in range(0x80, 0xA0)
    if (b := bytes([i])) not in (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")
}


def mysql_latin1(raw: bytes) -> str:
    """MySQL's latin1 is Windows-1252 with the five undefined bytes passed through."""
    return raw.decode("latin-1").translate(_MYSQL_LATIN1)


def holds_text(readings: Iterable[str], column: str) -> bool:
    """Whether a binary column holds text: a Drupal table the toolkit reads (any of the
    unprefixed ``readings`` of its name), not a column Drupal declares binary on purpose.

    Other tables (contrib, or anything a dump holds) keep their bytes as the server
    gives them: their blobs may really be binary.
    """
    column = column.lower()
    for table in readings:
        table = table.lower()
        if table.startswith(TOOLKIT_TABLE_PREFIXES):
            # A field type may keep real bytes in a blob (geofield's WKB geometry): only
            # the columns core's text-bearing field types declare are text.
            return column.endswith(FIELD_TEXT_COLUMNS)
        if table in TOOLKIT_TABLES:
            by_design = (table, column) in BINARY_BY_DESIGN or (
                column in _CACHE_COLUMNS and (table == "cache" or table.startswith("cache_"))
            )
            return not by_design
    return False


def decode_binary_text(
    raw: bytes, *, table: str, column: str, row: str, charset: str | None = None
) -> str:
    """The text a binary column holds; ``row`` names the row for the error (``nid=5``)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if charset and charset.lower().startswith("latin1"):
            return mysql_latin1(raw)
        bad = raw[exc.start : exc.start + 1].hex()
        raise SchemaError(
            f"{table}.{column} (a binary column holding text), row {row}: byte 0x{bad} at"
            f" {exc.start} is not UTF-8 and the table declares {charset or 'no charset'};"
            " fix the value or convert the column"
        ) from None
