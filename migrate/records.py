"""Typed records shared by the reader, the checks, the planner and the writers.

Nothing downstream of ``migrate.schema`` and the readers sees a raw row or a
serialized PHP value: they see these frozen dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Vocabulary:
    vid: int
    machine_name: str
    name: str
    hierarchy: int
    weight: int
    module: str = "taxonomy"


@dataclass(frozen=True)
class Term:
    tid: int
    vid: int
    name: str
    weight: int
    parents: tuple[int, ...] = ()
    description: str = ""
    format: str | None = None


@dataclass(frozen=True)
class FieldStorage:
    """Where a field's values live and under which columns."""

    data_table: str
    revision_table: str
    columns: dict[str, str]

    def column(self, key: str) -> str:
        return self.columns[key]


@dataclass(frozen=True)
class FieldInfo:
    """A field from ``field_config`` with its instances from ``field_config_instance``."""

    field_name: str
    type: str
    module: str
    cardinality: int
    storage: FieldStorage
    bundles: tuple[tuple[str, str], ...]
    allowed_vocabularies: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_term_reference(self) -> bool:
        return self.type == "taxonomy_term_reference"

    def bundles_of(self, entity_type: str) -> tuple[str, ...]:
        return tuple(b for e, b in self.bundles if e == entity_type)


@dataclass(frozen=True)
class Filter:
    module: str
    name: str
    weight: int
    status: bool
    settings: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class TextFormat:
    """A text format and its enabled filters, in the order Drupal runs them."""

    format: str
    name: str
    status: bool
    filters: tuple[Filter, ...] = ()

    def filter(self, name: str) -> Filter | None:
        return next((f for f in self.filters if f.name == name and f.status), None)


@dataclass(frozen=True)
class Module:
    name: str
    enabled: bool
    schema_version: int
    version: str | None


@dataclass(frozen=True)
class Alias:
    pid: int
    source: str
    alias: str
    language: str
