"""Drupal 7 schema discovery: the one place every command asks what the site holds.

It recognises Drupal 7 (and names Drupal 6 or 8+ when it finds them), and turns
``field_config``, ``variable``, ``filter_format`` and ``system`` into typed
records so that no other module reads serialized PHP.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from migrate.errors import NotDrupal7, SchemaError
from migrate.identifiers import check_identifier
from migrate.phpdata import as_list, unserialize, unserialize_array
from migrate.records import FieldInfo, FieldStorage, Filter, Module, TextFormat, Vocabulary
from migrate.source.base import Source

REQUIRED_TABLES = (
    "system",
    "variable",
    "field_config",
    "field_config_instance",
    "node",
    "node_revision",
    "taxonomy_vocabulary",
    "taxonomy_term_data",
    "taxonomy_term_hierarchy",
)

_DRUPAL6_MARKERS = ("term_data", "term_node")
_DRUPAL8_MARKERS = ("config", "key_value")

# Field columns each field type stores, in the order Drupal's field_sql_storage names them.
_FIELD_COLUMNS = {
    "taxonomy_term_reference": ("tid",),
    "text_with_summary": ("value", "summary", "format"),
    "text_long": ("value", "format"),
    "text": ("value", "format"),
    "image": ("fid", "alt", "title", "width", "height"),
    "file": ("fid", "display", "description"),
}


class Drupal7:
    """A verified Drupal 7 database; everything else is read lazily and cached."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self._verify()

    def _verify(self) -> None:
        where = self.source.label
        present = self.source.has_table
        if not present("system"):
            if all(present(t) for t in _DRUPAL6_MARKERS):
                raise NotDrupal7(
                    f"{where}: this is a Drupal 6 database (found term_data, term_node)"
                )
            if all(present(t) for t in _DRUPAL8_MARKERS):
                raise NotDrupal7(
                    f"{where}: this is a Drupal 8 or later database (found config, key_value)"
                )
            raise NotDrupal7(f"{where}: not a Drupal database (no system table)")
        if all(present(t) for t in _DRUPAL8_MARKERS):
            raise NotDrupal7(
                f"{where}: this is a Drupal 8 or later database (found config, key_value)"
            )
        version = self.source.scalar(
            "SELECT schema_version FROM {system} WHERE name = ? AND type = ?", ("system", "module")
        )
        if version is None or not 7000 <= int(version) <= 7999:
            found = "no system module row" if version is None else f"system schema {version}"
            major = (
                f" (looks like Drupal {int(version) // 1000})"
                if version and int(version) >= 1000
                else ""
            )
            raise NotDrupal7(f"{where}: not a Drupal 7 database: {found}{major}")
        missing = [t for t in REQUIRED_TABLES if not present(t)]
        if missing:
            raise SchemaError(
                f"{where}: Drupal 7 database is missing table(s): {', '.join(missing)}"
            )
        self.schema_version = int(version)

    @cached_property
    def modules(self) -> dict[str, Module]:
        found: dict[str, Module] = {}
        for name, status, schema_version, info in self.source.rows(
            "SELECT name, status, schema_version, info FROM {system} WHERE type = ? ORDER BY name",
            ("module",),
        ):
            details = unserialize(info, f"system row {name!r}") or {}
            version = details.get("version") if isinstance(details, dict) else None
            found[name] = Module(name, bool(status), int(schema_version), version)
        return found

    def module_enabled(self, name: str) -> bool:
        module = self.modules.get(name)
        return bool(module and module.enabled)

    @property
    def core_version(self) -> str | None:
        system = self.modules.get("system")
        return system.version if system else None

    def variable(self, name: str, default: Any = None) -> Any:
        value = self.source.scalar("SELECT value FROM {variable} WHERE name = ?", (name,))
        if value is None:
            return default
        return unserialize(value, f"variable {name!r}")

    @cached_property
    def vocabularies(self) -> dict[int, Vocabulary]:
        return {
            int(vid): Vocabulary(int(vid), machine, name, int(hierarchy), int(weight), module)
            for vid, machine, name, hierarchy, weight, module in self.source.rows(
                "SELECT vid, machine_name, name, hierarchy, weight, module"
                " FROM {taxonomy_vocabulary} ORDER BY weight, name"
            )
        }

    @cached_property
    def fields(self) -> dict[str, FieldInfo]:
        """Every active, not deleted SQL-stored field, with its bundles."""
        bundles: dict[str, list[tuple[str, str]]] = {}
        for field_name, entity_type, bundle in self.source.rows(
            "SELECT field_name, entity_type, bundle FROM {field_config_instance}"
            " WHERE deleted = 0 ORDER BY field_name, entity_type, bundle"
        ):
            bundles.setdefault(field_name, []).append((entity_type, bundle))
        found: dict[str, FieldInfo] = {}
        for fid, name, ftype, module, cardinality, data in self.source.rows(
            "SELECT id, field_name, type, module, cardinality, data FROM {field_config}"
            " WHERE deleted = 0 AND active = 1 ORDER BY field_name"
        ):
            config = unserialize_array(data, f"field_config row id={fid} ({name})")
            found[name] = self._field(name, ftype, module, int(cardinality), config, bundles)
        return found

    def _field(
        self,
        name: str,
        ftype: str,
        module: str,
        cardinality: int,
        config: dict[str, Any],
        bundles: dict[str, list[tuple[str, str]]],
    ) -> FieldInfo:
        check_identifier(name, f"field name in field_config ({name!r})")
        storage = config.get("storage") or {}
        settings = config.get("settings") or {}
        if not isinstance(storage, dict) or not isinstance(settings, dict):
            raise SchemaError(f"field {name}: field_config.data has no array of settings/storage")
        storage_type = storage.get("type", "field_sql_storage")
        if storage_type != "field_sql_storage":
            raise SchemaError(f"field {name}: storage {storage_type!r} is not SQL; cannot read it")
        allowed = tuple(
            str(item.get("vocabulary"))
            for item in as_list(settings.get("allowed_values"))
            if isinstance(item, dict) and item.get("vocabulary")
        )
        columns = {key: f"{name}_{key}" for key in _FIELD_COLUMNS.get(ftype, ())}
        field_storage = FieldStorage(f"field_data_{name}", f"field_revision_{name}", columns)
        return FieldInfo(
            field_name=name,
            type=ftype,
            module=module,
            cardinality=cardinality,
            storage=field_storage,
            bundles=tuple(bundles.get(name, ())),
            allowed_vocabularies=allowed,
            settings=settings,
        )

    def fields_of_type(self, *types: str) -> list[FieldInfo]:
        return [f for f in self.fields.values() if f.type in types]

    @property
    def term_reference_fields(self) -> list[FieldInfo]:
        return self.fields_of_type("taxonomy_term_reference")

    @cached_property
    def text_formats(self) -> dict[str, TextFormat]:
        filters: dict[str, list[Filter]] = {}
        if self.source.has_table("filter"):
            for fmt, module, name, weight, status, settings in self.source.rows(
                "SELECT format, module, name, weight, status, settings FROM {filter}"
                " ORDER BY format, weight, module, name"
            ):
                decoded = unserialize_array(settings, f"filter row {fmt}/{name}")
                filters.setdefault(fmt, []).append(
                    Filter(module, name, int(weight), bool(status), decoded)
                )
        if not self.source.has_table("filter_format"):
            return {}
        return {
            fmt: TextFormat(fmt, name, bool(status), tuple(filters.get(fmt, ())))
            for fmt, name, status in self.source.rows(
                "SELECT format, name, status FROM {filter_format} ORDER BY weight, format"
            )
        }

    def optional_table(self, name: str) -> bool:
        """Whether a table that only some sites have (redirect, menu_links, ...) is here."""
        return self.source.has_table(name)
