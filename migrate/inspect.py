"""What a new admin wants to know first about a Drupal 7 site."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass

from migrate.records import FieldInfo
from migrate.schema import Drupal7

RELEVANT_MODULES = ("taxonomy_breadcrumb", "path", "pathauto", "redirect", "i18n", "locale")


@dataclass(frozen=True)
class ContentTypeSummary:
    type: str
    name: str
    published: int
    unpublished: int


@dataclass(frozen=True)
class VocabularySummary:
    vid: int
    machine_name: str
    name: str
    terms: int
    depth: int


@dataclass(frozen=True)
class FieldSummary:
    field_name: str
    type: str
    data_table: str
    revision_table: str
    column: str | None
    vocabularies: list[str]
    cardinality: int
    bundles: list[str]


@dataclass(frozen=True)
class FormatSummary:
    format: str
    name: str
    nodes: int


@dataclass(frozen=True)
class ModuleSummary:
    name: str
    enabled: bool
    version: str | None


@dataclass(frozen=True)
class InspectReport:
    source: str
    core_version: str | None
    schema_version: int
    prefix: str
    charset: str | None
    site_name: str | None
    content_types: list[ContentTypeSummary]
    vocabularies: list[VocabularySummary]
    term_reference_fields: list[FieldSummary]
    text_fields: list[FieldSummary]
    file_fields: list[FieldSummary]
    text_formats: list[FormatSummary]
    modules: list[ModuleSummary]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def inspect_site(site: Drupal7) -> InspectReport:
    """Summarise versions, content, vocabularies, fields, formats and modules."""
    src = site.source
    return InspectReport(
        source=src.label,
        core_version=site.core_version,
        schema_version=site.schema_version,
        prefix=src.prefix.describe(),
        charset=src.charset(),
        site_name=site.variable("site_name"),
        content_types=_content_types(site),
        vocabularies=_vocabularies(site),
        term_reference_fields=[_field(f) for f in site.term_reference_fields],
        text_fields=[_field(f) for f in site.fields_of_type("text_with_summary", "text_long")],
        file_fields=[_field(f) for f in site.fields_of_type("image", "file")],
        text_formats=_formats(site),
        modules=[
            ModuleSummary(name, site.module_enabled(name), _version(site, name))
            for name in RELEVANT_MODULES
        ],
    )


def _version(site: Drupal7, name: str) -> str | None:
    module = site.modules.get(name)
    return module.version if module else None


def _content_types(site: Drupal7) -> list[ContentTypeSummary]:
    names: dict[str, str] = dict(site.source.rows("SELECT type, name FROM {node_type}"))
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for ntype, status, count in site.source.rows(
        "SELECT type, status, COUNT(*) FROM {node} GROUP BY type, status"
    ):
        counts[ntype][0 if status else 1] += int(count)
    return [
        ContentTypeSummary(t, names.get(t, t), pub, unpub)
        for t, (pub, unpub) in sorted(counts.items())
    ]


def _vocabularies(site: Drupal7) -> list[VocabularySummary]:
    terms_by_vid: dict[int, set[int]] = defaultdict(set)
    for tid, vid in site.source.rows("SELECT tid, vid FROM {taxonomy_term_data}"):
        terms_by_vid[int(vid)].add(int(tid))
    children: dict[int, list[int]] = defaultdict(list)
    for tid, parent in site.source.rows("SELECT tid, parent FROM {taxonomy_term_hierarchy}"):
        children[int(parent)].append(int(tid))
    return [
        VocabularySummary(
            v.vid,
            v.machine_name,
            v.name,
            len(terms_by_vid[v.vid]),
            _depth(children, terms_by_vid[v.vid]),
        )
        for v in site.vocabularies.values()
    ]


def _depth(children: dict[int, list[int]], members: set[int]) -> int:
    """Levels reachable from the root within one vocabulary (cycle-safe)."""
    depth, level, seen = 0, [t for t in children.get(0, []) if t in members], set()
    while level:
        depth += 1
        seen.update(level)
        level = [c for t in level for c in children.get(t, []) if c in members and c not in seen]
    return depth


def _field(field: FieldInfo) -> FieldSummary:
    first = next(iter(field.storage.columns.values()), None)
    return FieldSummary(
        field_name=field.field_name,
        type=field.type,
        data_table=field.storage.data_table,
        revision_table=field.storage.revision_table,
        column=first,
        vocabularies=list(field.allowed_vocabularies),
        cardinality=field.cardinality,
        bundles=[f"{e}:{b}" for e, b in field.bundles],
    )


def _formats(site: Drupal7) -> list[FormatSummary]:
    body = site.fields.get("body")
    used: dict[str, int] = {}
    if body and "format" in body.storage.columns:
        col = body.storage.column("format")
        used = {
            str(fmt): int(n)
            for fmt, n in site.source.rows(
                f"SELECT b.{col}, COUNT(DISTINCT b.entity_id) FROM {{{body.storage.data_table}}} b"
                " WHERE b.entity_type = ? GROUP BY b." + col,
                ("node",),
            )
        }
    known = site.text_formats
    rows = [FormatSummary(f.format, f.name, used.get(f.format, 0)) for f in known.values()]
    rows += [
        FormatSummary(fmt, "(missing format)", n) for fmt, n in used.items() if fmt not in known
    ]
    return rows
