"""Rows left behind by nodes that no longer exist.

A node deleted with raw SQL (or by a module that failed half-way) leaves its
field rows and its menu links. Drupal never reads them again, but they carry
term references the audit would otherwise count, menu links that point at a
404, and data an export must not resurrect. The repair deletes them (journaled).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from migrate.audit import check
from migrate.audit.context import AuditContext
from migrate.audit.findings import Entity, Finding, KindIsVariant, OneNode, Severity
from migrate.links import node_id_of

CHECK = "content.orphan_node_rows"


@dataclass(frozen=True, kw_only=True)
class OrphanRows(OneNode, KindIsVariant, Entity):
    """The rows one table holds for one node that does not exist (the repair's input)."""

    table: str
    nid: int
    kind: Literal["field_data", "field_revision", "menu_link"]
    rows: int
    mlids: tuple[int, ...] = ()  # menu links only

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if not self.mlids:
            del out["mlids"]
        return out


def orphan_rows(ctx: AuditContext) -> Iterator[OrphanRows]:
    """Field rows (data and revision tables of every field) and menu links of missing nodes."""
    for info in sorted(ctx.site.fields.values(), key=lambda f: f.field_name):
        if not info.bundles_of("node"):
            continue
        kinds: tuple[tuple[str, Literal["field_data", "field_revision"]], ...] = (
            (info.storage.data_table, "field_data"),
            (info.storage.revision_table, "field_revision"),
        )
        for table, kind in kinds:
            if not ctx.has(table):
                continue
            for nid, rows in ctx.source.rows(
                f"SELECT f.entity_id, COUNT(*) FROM {{{table}}} f"
                " LEFT JOIN {node} n ON n.nid = f.entity_id"
                " WHERE f.entity_type = 'node' AND n.nid IS NULL"
                " GROUP BY f.entity_id ORDER BY f.entity_id"
            ):
                yield OrphanRows(table=table, nid=int(nid), kind=kind, rows=int(rows))
    if not ctx.has("menu_links"):
        return
    links: dict[int, list[int]] = {}
    for mlid, path in ctx.source.rows(
        "SELECT mlid, link_path FROM {menu_links} WHERE link_path LIKE ? AND router_path = ?"
        " ORDER BY mlid",
        ("node/%", "node/%"),
    ):
        nid = node_id_of(str(path))
        if nid is not None and str(path) == f"node/{nid}":
            links.setdefault(nid, []).append(int(mlid))
    if not links:
        return
    nids = sorted(links)
    alive: set[int] = set()
    for start in range(0, len(nids), 500):
        chunk = nids[start : start + 500]
        alive.update(
            int(r[0])
            for r in ctx.source.rows(
                "SELECT nid FROM {node} WHERE " + ctx.in_list("nid", chunk), chunk
            )
        )
    for nid in nids:
        if nid not in alive:
            yield OrphanRows(
                table="menu_links",
                nid=nid,
                kind="menu_link",
                rows=len(links[nid]),
                mlids=tuple(links[nid]),
            )


@check(
    CHECK,
    severity=Severity.WARNING,
    title="Field rows and menu links of nodes that no longer exist",
    weight=2,
    repair=True,
    reads=("@node_fields", "menu_links"),
)
def orphan_node_rows(ctx: AuditContext) -> Iterator[Finding]:
    """Rows of deleted nodes: never shown, but counted, linked to and exportable."""
    for orphan in orphan_rows(ctx):
        what = (
            f"{orphan.rows} menu link(s) {', '.join(map(str, orphan.mlids))}"
            if orphan.kind == "menu_link"
            else f"{orphan.rows} row(s) of {orphan.table}"
        )
        yield Finding(
            CHECK,
            Severity.WARNING,
            f"node {orphan.nid} does not exist but {what} remain",
            orphan,
            "remove them (drupal-migrate repair deletes them, journaled)",
        )
