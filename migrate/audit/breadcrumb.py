"""Checks that model taxonomy_breadcrumb 7.x-1.x: which pages show the line-92 warning,
and which node pages silently lost their breadcrumb.

The module calls ``_taxonomy_breadcrumb_generate_breadcrumb($tid)`` for every
``taxonomy/term/N...`` path, including the 404 page Drupal renders for a term
that does not load (when ``site_404`` is unset); line 84 loads the term and
line 92 reads ``$term->vid`` without checking. Node pages pick the lightest
term with INNER JOINs on the term and vocabulary tables, so they never reach
line 92; they change silently instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from migrate.audit import check
from migrate.audit.context import AuditContext
from migrate.audit.findings import Finding, Severity
from migrate.audit.links import ALIAS_REMOVED, body_link_scans, body_links
from migrate.links import term_id_of

MODULE = "taxonomy_breadcrumb"
_SUBPATHS = ("feed", "edit")
NID_RANGE = 50_000


def _module_reaches_line_92(ctx: AuditContext) -> bool:
    return ctx.site.module_enabled(MODULE) and not ctx.site.variable("site_404", "")


def _nodes_per_tid(ctx: AuditContext) -> dict[int, int]:
    """How many nodes' current revisions reference each unloadable tid (grouped SQL)."""
    counts: dict[int, int] = {}
    for info in ctx.node_term_fields:
        col = info.storage.column("tid")
        tids = ctx.unloadable_in(info.storage.data_table, col)
        if not tids:
            continue
        for tid, nodes in ctx.source.rows(
            f"SELECT f.{col}, COUNT(DISTINCT f.entity_id) FROM {{{info.storage.data_table}}} f"
            " WHERE "
            + ctx.in_list(f"f.{col}", tids)
            + f" AND f.deleted = 0 AND f.entity_type = 'node' GROUP BY f.{col} ORDER BY f.{col}",
            tids,
        ):
            counts[int(tid)] = counts.get(int(tid), 0) + int(nodes)
    return counts


@check(
    "breadcrumb.notice_pages",
    severity=Severity.ERROR,
    title="Pages that show the taxonomy_breadcrumb line-92 warning",
    warm=body_link_scans,
)
def notice_pages(ctx: AuditContext) -> Iterator[Finding]:
    """Every URL (term path and surviving alias) of an unloadable term the site still knows.

    Each finding says why the term does not load and how visitors get there:
    menus, links in node bodies, the alias, the breadcrumb path setting. The
    ``/feed`` and ``/edit`` sub-paths show it too. Any other numeric
    ``/taxonomy/term/N`` that never existed also shows it: that is the module's
    own bug, not the data's, and is not listed.
    """
    if not _module_reaches_line_92(ctx):
        return
    links = body_links(ctx)
    menus: dict[int, list[dict[str, Any]]] = {}
    for link in ctx.term_menu_links:
        if link["tid"] is not None:
            menus.setdefault(link["tid"], []).append(
                {k: link[k] for k in ("mlid", "menu_name", "link_title", "hidden")}
            )
    breadcrumb_rows: set[int] = set()
    if ctx.has("taxonomy_breadcrumb_term"):
        breadcrumb_rows = {
            int(r[0])
            for r in ctx.source.rows("SELECT tid FROM {taxonomy_breadcrumb_term} ORDER BY tid")
        }
    tagged = _nodes_per_tid(ctx)
    aliases: dict[int, list[str]] = {}
    for _, src, alias_path, _ in ctx.term_alias_rows:
        tid = term_id_of(src)
        if tid is not None and src == f"taxonomy/term/{tid}":
            aliases.setdefault(tid, []).append(alias_path)
    for tid in sorted(ctx.referenced_unloadable_tids):
        state = ctx.term_state(tid)
        system = f"taxonomy/term/{tid}"
        urls: list[tuple[str, str | None]] = [(f"/{system}", None)]
        urls += [(f"/{a}", system) for a in sorted(aliases.get(tid, []))]
        for url, alias_of in urls:
            alias = url.lstrip("/") if alias_of else None
            linking = sorted(
                {
                    link.nid
                    for link in links
                    if link.tid == tid
                    and link.kind != ALIAS_REMOVED
                    and (link.path == alias if alias else link.path.startswith(system))
                }
            )
            entity: dict[str, Any] = {
                "path": url,
                "tid": tid,
                "term_state": state,
                "alias_of": alias_of,
                "also": [f"{url}/{s}" for s in _SUBPATHS] if alias_of is None else [],
                "menu_links": menus.get(tid, []) if alias_of is None else [],
                "linking_nodes": linking,
                "aliases": sorted(aliases.get(tid, [])) if alias_of is None else [],
                "breadcrumb_term_row": tid in breadcrumb_rows,
                "nodes_referencing": tagged.get(tid, 0),
                "http_status": 404,
            }
            ways = []
            if entity["menu_links"]:
                ways.append(f"{len(entity['menu_links'])} menu link(s)")
            if linking:
                ways.append(f"links in {len(linking)} node(s)")
            if alias_of:
                ways.append(f"alias of {alias_of}")
            why = "term row missing" if state == "term_row_missing" else "vocabulary missing"
            yield Finding(
                "breadcrumb.notice_pages",
                Severity.ERROR,
                f"{url} shows the line-92 warning (404): {ctx.term_label(tid)}, {why}"
                + (f"; reached via {', '.join(ways)}" if ways else ""),
                entity,
                "repair the term references and routes (drupal-migrate repair), or set site_404",
            )


@dataclass(frozen=True)
class _Ref:
    tid: int
    field: str


def _node_types_with_breadcrumbs(ctx: AuditContext) -> tuple[set[str], bool]:
    """The module's node-type list and whether it includes (True) or excludes them."""
    listed = ctx.site.variable("taxonomy_breadcrumb_node_types", {"book": "book"})
    if isinstance(listed, dict):
        types = {str(k) for k, v in listed.items() if v}
    elif isinstance(listed, str):
        types = {listed}
    else:
        types = {str(t) for t in listed or () if t}
    return types, bool(ctx.site.variable("taxonomy_breadcrumb_include_nodes", False))


@check(
    "breadcrumb.silent_changes",
    severity=Severity.WARNING,
    title="Node pages whose breadcrumb changed silently",
    weight=3,
)
def silent_changes(ctx: AuditContext) -> Iterator[Finding]:
    """Node pages whose category term is gone, so the breadcrumb now comes from another
    (heavier) vocabulary, loses crumbs above a vanished parent, or falls back to "Home".

    No message is shown; only the trail changes.
    """
    if not ctx.site.module_enabled(MODULE) or not ctx.node_term_fields:
        return
    types, include = _node_types_with_breadcrumbs(ctx)
    parents = _parents(ctx)
    broken_chain = {t for t in ctx.loadable_tids if _chain_broken(ctx, t, parents)}
    touched = sorted(
        broken_chain.union(
            *(
                ctx.unloadable_in(info.storage.data_table, info.storage.column("tid"))
                for info in ctx.node_term_fields
            )
        )
    )
    if not touched:
        return
    allowed = {f.field_name: f.allowed_vocabularies for f in ctx.node_term_fields}
    names = [info.field_name for info in ctx.node_term_fields]
    judge = _Judge(ctx, allowed, broken_chain)
    ctx.allow_large_sorts()
    # Every reference of a range of nodes, packed per node by the server: one row per
    # node that references a touched term, and only those cost a lookup in {node}.
    refs_sql = " UNION ALL ".join(
        f"SELECT f.entity_id AS nid, f.{info.storage.column('tid')} AS tid,"
        f" f.{info.storage.column('tid')} + {index} * {_FIELD_SHIFT} AS ref"
        f" FROM {{{info.storage.data_table}}} f"
        " WHERE f.entity_type = 'node' AND f.deleted = 0 AND f.entity_id BETWEEN ? AND ?"
        for index, info in enumerate(ctx.node_term_fields)
    )
    sql = (
        "SELECT g.nid, n.type, n.title, g.refs FROM"
        f" (SELECT r.nid, GROUP_CONCAT(r.ref) AS refs FROM ({refs_sql}) r GROUP BY r.nid"
        f" HAVING MAX({ctx.in_list('r.tid', touched)}) = 1) g"
        " INNER JOIN {node} n ON n.nid = g.nid WHERE n.status = 1 ORDER BY g.nid"
    )
    for low, high in ctx.nid_ranges(NID_RANGE):
        for nid, ntype, title, packed in ctx.source.stream(sql, [low, high] * len(names) + touched):
            if (str(ntype) in types) != include:
                continue
            if isinstance(packed, bytes):
                packed = packed.decode("ascii")
            # (field index, tid) pairs, ordered by tid then field as the trail logic expects.
            pairs = (divmod(int(v), _FIELD_SHIFT) for v in str(packed).split(","))
            refs = [_Ref(tid, names[i]) for tid, i in sorted((t, i) for i, t in pairs)]
            yield from judge(int(nid), refs, (str(ntype), 1, str(title)))


# A reference travels as tid + field index * 2^32 (tids are 32-bit unsigned).
_FIELD_SHIFT = 4294967296


def _parents(ctx: AuditContext) -> dict[int, list[int]]:
    parents: dict[int, list[int]] = {}
    for tid, parent in ctx.source.rows(
        "SELECT tid, parent FROM {taxonomy_term_hierarchy} ORDER BY tid, parent"
    ):
        parents.setdefault(int(tid), []).append(int(parent))
    return parents


def _chain_broken(ctx: AuditContext, tid: int, parents: dict[int, list[int]]) -> bool:
    """Whether any ancestor of a loadable term (via any parent) does not load."""
    seen: set[int] = set()
    stack = [tid]
    while stack:
        for parent in parents.get(stack.pop(), ()):
            if parent == 0 or parent in seen:
                continue
            if not ctx.loadable(parent):
                return True
            seen.add(parent)
            stack.append(parent)
    return False


class _Judge:
    """Decides, per node, whether and how its breadcrumb changed.

    Vocabulary and term weights are looked up once per term, not once per node:
    on a large site this runs for hundreds of thousands of nodes.
    """

    def __init__(
        self, ctx: AuditContext, allowed: dict[str, tuple[str, ...]], broken_chain: set[int]
    ) -> None:
        self.ctx = ctx
        self.loadable = ctx.loadable_tids
        self.broken_chain = broken_chain
        vocabulary_weight = {vid: v.weight for vid, v in ctx.site.vocabularies.items()}
        # Sort key of a live term, as the module's lightest-term query orders them.
        self.order = {
            tid: (vocabulary_weight[row.vid], row.weight, row.name)
            for tid, row in ctx.terms.items()
            if tid in self.loadable
        }
        # The vocabulary weight a dead reference had: its field's lightest allowed vocabulary.
        self.dead_weight: dict[str, int | None] = {}
        for field, vocabularies in allowed.items():
            weights = [
                ctx.vocabulary_weights[v] for v in vocabularies if v in ctx.vocabulary_weights
            ]
            self.dead_weight[field] = min(weights) if weights else None

    def __call__(self, nid: int, refs: list[_Ref], meta: tuple[str, int, str]) -> list[Finding]:
        ctx, order = self.ctx, self.order
        live = [r for r in refs if r.tid in order]
        dead = [r for r in refs if r.tid not in order]
        if not dead and not any(r.tid in self.broken_chain for r in live):
            return []
        lightest = min(live, key=lambda r: order[r.tid], default=None)
        now_weight = None if lightest is None else order[lightest.tid][0]
        weights = [(r, self.dead_weight.get(r.field)) for r in dead]
        lost = [r for r, w in weights if now_weight is None or (w is not None and w < now_weight)]
        tied = [r for r, w in weights if now_weight is not None and w == now_weight]
        if lost:
            kind = "falls_back_to_home" if lightest is None else "lightest_term_gone"
        elif lightest is not None and lightest.tid in self.broken_chain:
            kind = "ancestor_gone"
        elif tied:
            # Same vocabulary: the order depended on the dead term's weight, which is gone.
            kind, lost = "may_have_changed", tied
        else:
            return []
        ntype, status, title = meta
        now = "core's plain Home" if lightest is None else ctx.term_label(lightest.tid)
        return [
            Finding(
                "breadcrumb.silent_changes",
                Severity.NOTICE if kind == "may_have_changed" else Severity.WARNING,
                f"/node/{nid} ({title}): breadcrumb changed silently ({kind.replace('_', ' ')});"
                f" it now follows {now}",
                {
                    "path": f"/node/{nid}",
                    "nid": nid,
                    "type": ntype,
                    "status": status,
                    "title": title,
                    "kind": kind,
                    "lost_tids": sorted({r.tid for r in lost}),
                    "now_tid": None if lightest is None else lightest.tid,
                },
                "remap the dead category term to a live one so the trail comes back",
            )
        ]
