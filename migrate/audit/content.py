"""Supporting checks a migration needs: authors, revisions, aliases, text formats.

None of these cause the line-92 warning, but each one stops an exporter or
a repair from treating the data as consistent.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from migrate.audit import check
from migrate.audit.context import AuditContext
from migrate.audit.findings import Entity, Finding, OneNode, Severity, TitledNode

_TEXT_TYPES = ("text_with_summary", "text_long", "text")


@dataclass(frozen=True, kw_only=True)
class MissingAuthor(TitledNode, Entity):
    """content.missing_author: a node whose author's users row is gone."""

    nid: int
    uid: int
    title: str | None


@dataclass(frozen=True, kw_only=True)
class MissingRevision(TitledNode, Entity):
    """content.missing_current_revision: a node whose node.vid has no revision row."""

    nid: int
    vid: int
    title: str | None


@dataclass(frozen=True, kw_only=True)
class AliasToMissingNode(Entity):
    """content.alias_to_missing_node: an alias of a node that does not exist."""

    table: Literal["url_alias"] = "url_alias"
    pid: int
    source: str
    alias: str


@dataclass(frozen=True, kw_only=True)
class DuplicateAlias(Entity):
    """content.duplicate_alias: one alias (per language) stored for several sources."""

    table: Literal["url_alias"] = "url_alias"
    alias: str
    language: str
    rows: int


@dataclass(frozen=True, kw_only=True)
class UnknownFormat(OneNode, Entity):
    """content.unknown_text_format: a text value in a format that no longer exists."""

    table: str
    nid: int
    vid: int
    field: str
    language: str
    delta: int
    format: str


@check(
    "content.missing_author",
    severity=Severity.WARNING,
    title="Nodes whose author is gone",
    reads=("users",),
)
def missing_author(ctx: AuditContext) -> Iterator[Finding]:
    """Nodes whose uid has no users row; exports need an author to attribute them to."""
    # The few distinct authors come from the node uid index; only their nodes are read.
    gone = [
        int(r[0])
        for r in ctx.source.rows(
            "SELECT d.uid FROM (SELECT DISTINCT uid FROM {node}) d"
            " LEFT JOIN {users} u ON u.uid = d.uid WHERE u.uid IS NULL ORDER BY d.uid"
        )
    ]
    if not gone:
        return
    for nid, uid, title in ctx.source.stream(
        "SELECT n.nid, n.uid, n.title FROM {node} n WHERE "
        + ctx.in_list("n.uid", gone)
        + " ORDER BY n.nid",
        gone,
    ):
        yield Finding(
            "content.missing_author",
            Severity.WARNING,
            f"node {nid} ({title}): author uid {uid} does not exist",
            MissingAuthor(nid=int(nid), uid=int(uid), title=title),
            "reassign the node to an existing user (e.g. uid 1) before exporting",
        )


@check(
    "content.missing_current_revision",
    severity=Severity.ERROR,
    title="Nodes with no current revision",
    weight=2,
)
def missing_current_revision(ctx: AuditContext) -> Iterator[Finding]:
    """Nodes whose node.vid has no node_revision row of the same node; node_load() fails."""
    # Without title or ORDER BY the anti-join reads node's (vid, nid) index, not its rows.
    missing = sorted(
        (int(nid), int(vid))
        for nid, vid in ctx.source.stream(
            "SELECT n.nid, n.vid FROM {node} n"
            " LEFT JOIN {node_revision} r ON r.vid = n.vid AND r.nid = n.nid WHERE r.vid IS NULL"
        )
    )
    for start in range(0, len(missing), 500):
        chunk = missing[start : start + 500]
        nids = [nid for nid, _ in chunk]
        titles = {
            int(nid): title
            for nid, title in ctx.source.rows(
                "SELECT n.nid, n.title FROM {node} n WHERE " + ctx.in_list("n.nid", nids), nids
            )
        }
        for nid, vid in chunk:
            yield from _missing_revision(nid, vid, titles.get(nid))


def _missing_revision(nid: int, vid: int, title: str | None) -> Iterator[Finding]:
    yield Finding(
        "content.missing_current_revision",
        Severity.ERROR,
        f"node {nid} ({title}): current revision {vid} does not exist",
        MissingRevision(nid=nid, vid=vid, title=title),
        "point node.vid at the node's latest existing revision",
    )


@check(
    "content.alias_to_missing_node",
    severity=Severity.WARNING,
    title="URL aliases of nodes that do not exist",
    weight=2,
    reads=("url_alias",),
)
def alias_to_missing_node(ctx: AuditContext) -> Iterator[Finding]:
    """url_alias rows for ``node/N`` where node N is gone; they lead to a 404."""
    if not ctx.has("url_alias"):
        return
    nid_of = ctx.int_of("SUBSTR(a.source, 6)")
    for pid, src, alias in ctx.source.stream(
        "SELECT a.pid, a.source, a.alias FROM {url_alias} a"
        f" LEFT JOIN {{node}} n ON n.nid = {nid_of}"
        " WHERE a.source LIKE 'node/%' AND a.source NOT LIKE 'node/%/%' AND n.nid IS NULL"
        " ORDER BY a.pid"
    ):
        yield Finding(
            "content.alias_to_missing_node",
            Severity.WARNING,
            f"url_alias {pid} /{alias} → {src}, which does not exist",
            AliasToMissingNode(pid=int(pid), source=str(src), alias=str(alias)),
            "delete the alias or redirect it to a live page",
        )


@check(
    "content.duplicate_alias",
    severity=Severity.WARNING,
    title="Aliases used more than once",
    weight=1,
    reads=("url_alias",),
)
def duplicate_alias(ctx: AuditContext) -> Iterator[Finding]:
    """The same alias (per language) stored for several sources; only one of them wins."""
    if not ctx.has("url_alias"):
        return
    for alias, language, rows, first, last in ctx.source.stream(
        "SELECT alias, language, COUNT(*), MIN(pid), MAX(pid) FROM {url_alias}"
        " GROUP BY alias, language HAVING COUNT(*) > 1 ORDER BY alias, language"
    ):
        yield Finding(
            "content.duplicate_alias",
            Severity.WARNING,
            f"alias /{alias} ({language}) is stored {rows} times (pid {first}..{last})",
            DuplicateAlias(alias=str(alias), language=str(language), rows=int(rows)),
            "keep one alias per path; redirect the others",
        )


@check(
    "content.unknown_text_format",
    severity=Severity.WARNING,
    title="Text stored in a format that no longer exists",
    reads=("filter_format", "@text_data"),
)
def unknown_text_format(ctx: AuditContext) -> Iterator[Finding]:
    """Current text field values whose format has no filter_format row; Drupal shows nothing."""
    if not ctx.has("filter_format"):
        return
    known = {str(r[0]) for r in ctx.source.rows("SELECT format FROM {filter_format}")}
    fields = sorted(ctx.site.fields_of_type(*_TEXT_TYPES), key=lambda f: f.field_name)
    for info in fields:
        col = info.storage.columns.get("format")
        if not col or not info.bundles_of("node"):
            continue
        table = info.storage.data_table
        # The format column is indexed: list its few values, then read only the bad rows.
        used = ctx.source.rows(
            f"SELECT DISTINCT {col} FROM {{{table}}} WHERE {col} IS NOT NULL ORDER BY {col}"
        )
        unknown = [str(r[0]) for r in used if str(r[0]) not in known]
        if not unknown:
            continue
        for nid, rev, lang, delta, fmt in ctx.source.stream(
            f"SELECT b.entity_id, b.revision_id, b.language, b.delta, b.{col} FROM {{{table}}} b"
            " WHERE b.entity_type = 'node' AND b.deleted = 0 AND "
            + ctx.in_list(f"b.{col}", unknown)
            + " ORDER BY b.entity_id, b.revision_id, b.delta, b.language",
            unknown,
        ):
            yield Finding(
                "content.unknown_text_format",
                Severity.WARNING,
                f"node {nid} revision {rev}: {info.field_name}[{lang}][{delta}] uses text"
                f" format {fmt!r}, which does not exist",
                UnknownFormat(
                    table=table,
                    nid=int(nid),
                    vid=int(rev),
                    field=info.field_name,
                    language=str(lang),
                    delta=int(delta),
                    format=str(fmt),
                ),
                "map the format to an existing one (e.g. filtered_html) before exporting",
            )
