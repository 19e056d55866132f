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
from typing import Literal

from migrate.audit import check
from migrate.audit.context import AuditContext, TermState
from migrate.audit.findings import Entity, Finding, KindIsVariant, OneTerm, Severity, TitledNode
from migrate.audit.links import ALIAS_REMOVED, body_link_scans, body_links
from migrate.audit.traces import Trace, once_live, redirected_paths
from migrate.audit.trail import CORE_HOME, TrailModel, TrailTerm, TrailVocabulary
from migrate.links import term_id_of
from migrate.repair.evidence import Recovery, recover_terms

MODULE = "taxonomy_breadcrumb"
# What can stop a warning URL: a repair of database rows, a redirect module row, or only
# a rule in the web server (no row references the term and no redirect module).
Fix = Literal["database", "redirect_module", "web_server_rule"]
FIX_DATABASE: Fix = "database"
FIX_REDIRECT_MODULE: Fix = "redirect_module"
FIX_WEB_SERVER: Fix = "web_server_rule"
_SUBPATHS = ("feed", "edit")


@dataclass(frozen=True, kw_only=True)
class MenuLinkRef(Entity):
    """A menu link that leads to a notice page."""

    mlid: int
    menu_name: str
    link_title: str
    hidden: int


@dataclass(frozen=True, kw_only=True)
class NoticePage(OneTerm, Entity):
    """breadcrumb.notice_pages: one URL that shows the line-92 warning, and how to stop it."""

    path: str
    tid: int
    term_state: TermState
    alias_of: str | None  # the system path when ``path`` is an alias
    also: tuple[str, ...]  # sub-paths that warn too
    menu_links: tuple[MenuLinkRef, ...]
    linking_nodes: tuple[int, ...]
    aliases: tuple[str, ...]
    breadcrumb_term_row: bool
    nodes_referencing: int
    http_status: int
    referenced: bool  # a database row still references the term
    fix: Fix
    evidence: tuple[Trace, ...]  # that the URL was live once


@dataclass(frozen=True, kw_only=True)
class SilentChange(TitledNode, KindIsVariant, Entity):
    """breadcrumb.silent_changes: a published node page whose breadcrumb changed."""

    path: str
    nid: int
    type: str
    status: int
    title: str
    kind: Literal["falls_back_to_home", "lightest_term_gone", "ancestor_gone"]
    old_trail: tuple[str, ...]
    new_trail: tuple[str, ...]
    old_tid: int | None
    now_tid: int | None
    lost_tids: tuple[int, ...]
    certain: bool
    old_trail_exact: bool

    @property
    def terms(self) -> tuple[int, ...]:
        return self.lost_tids


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
    repair=True,
    reads=(
        "url_alias",
        "menu_links",
        "taxonomy_index",
        "taxonomy_breadcrumb_term",
        "@text_data",
        "@text_revision",
        "@term_data",
        "@term_revision",
    ),
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
    menus: dict[int, list[MenuLinkRef]] = {}
    for link in ctx.term_menu_links:
        if link.tid is not None:
            menus.setdefault(link.tid, []).append(
                MenuLinkRef(
                    mlid=link.mlid,
                    menu_name=link.menu_name,
                    link_title=link.link_title,
                    hidden=link.hidden,
                )
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
    traces = once_live(ctx)
    redirected = redirected_paths(ctx)
    referenced = ctx.referenced_unloadable_tids
    redirect_module = ctx.has("redirect") and ctx.site.module_enabled("redirect")
    for tid in sorted(referenced | set(traces)):
        state = ctx.unloadable_state(tid)
        system = f"taxonomy/term/{tid}"
        urls: list[tuple[str, str | None]] = [(f"/{system}", None)]
        urls += [(f"/{a}", system) for a in sorted(aliases.get(tid, []))]
        if tid in referenced:
            fix = FIX_DATABASE
        else:
            fix = FIX_REDIRECT_MODULE if redirect_module else FIX_WEB_SERVER
        for url, alias_of in urls:
            if url.lstrip("/") in redirected:
                continue  # the redirect module sends visitors on before the page renders
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
            entity = NoticePage(
                path=url,
                tid=tid,
                term_state=state,
                alias_of=alias_of,
                also=tuple(f"{url}/{s}" for s in _SUBPATHS) if alias_of is None else (),
                menu_links=tuple(menus.get(tid, [])) if alias_of is None else (),
                linking_nodes=tuple(linking),
                aliases=tuple(sorted(aliases.get(tid, []))) if alias_of is None else (),
                breadcrumb_term_row=tid in breadcrumb_rows,
                nodes_referencing=tagged.get(tid, 0),
                http_status=404,
                referenced=tid in referenced,
                fix=fix,
                evidence=tuple(traces.get(tid, [])),
            )
            ways = []
            if entity.menu_links:
                ways.append(f"{len(entity.menu_links)} menu link(s)")
            if linking:
                ways.append(f"links in {len(linking)} node(s)")
            if alias_of:
                ways.append(f"alias of {alias_of}")
            why = "term row missing" if state == "term_row_missing" else "vocabulary missing"
            if fix == FIX_DATABASE:
                hint = (
                    "repair the term references and routes (drupal-migrate repair), or set site_404"
                )
            elif fix == FIX_REDIRECT_MODULE:
                hint = (
                    "nothing references it any more: a redirect module row stops it (repair plan)"
                )
            else:
                hint = (
                    "nothing references it any more and the redirect module is not installed:"
                    " only a web-server rule stops it (the rules files of repair plan -o)"
                )
            seen = ", ".join(f"{t.source} ×{t.count}" for t in traces.get(tid, []))
            yield Finding(
                "breadcrumb.notice_pages",
                Severity.ERROR if fix != FIX_WEB_SERVER else Severity.WARNING,
                f"{url} shows the line-92 warning (404): {ctx.term_label(tid)}, {why}"
                + (f"; reached via {', '.join(ways)}" if ways else "")
                + ("" if tid in referenced else f"; live once ({seen})"),
                entity,
                hint,
            )


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


def _parents(ctx: AuditContext) -> dict[int, tuple[int, ...]]:
    parents: dict[int, list[int]] = {}
    for tid, parent in ctx.source.rows(
        "SELECT tid, parent FROM {taxonomy_term_hierarchy} ORDER BY tid, parent"
    ):
        parents.setdefault(int(tid), []).append(int(parent))
    return {tid: tuple(p) for tid, p in parents.items()}


def live_trail_model(ctx: AuditContext) -> TrailModel:
    """The tables the module reads, as they are now."""
    vocabularies = {
        vid: TrailVocabulary(vid, v.name, v.weight) for vid, v in ctx.site.vocabularies.items()
    }
    terms = {
        tid: TrailTerm(tid, row.vid, row.name, row.weight)
        for tid, row in ctx.terms.items()
        if tid in ctx.loadable_tids
    }
    paths: list[dict[int, str]] = []
    for table, key in (
        ("taxonomy_breadcrumb_term", "tid"),
        ("taxonomy_breadcrumb_vocabulary", "vid"),
    ):
        found: dict[int, str] = {}
        if ctx.has(table):
            for ident, path in ctx.source.rows(f"SELECT {key}, path FROM {{{table}}}"):
                found[int(ident)] = str(path or "")
        paths.append(found)
    home = ctx.site.variable("taxonomy_breadcrumb_home", CORE_HOME)
    return TrailModel(
        terms,
        vocabularies,
        _parents(ctx),
        term_paths=paths[0],
        vocabulary_paths=paths[1],
        home=str(home) if home is not None else "",
    )


@dataclass(frozen=True)
class _Unknowns:
    """How a reconstruction fills what no evidence says: a lost vocabulary's weight and a
    missing term's name. ``best`` is Drupal's default (weight 0); ``low``/``high`` the
    extremes, to tell a certain change from one that depends on the guess."""

    vocabulary_weight: int
    name: str | None


_BEST = _Unknowns(0, None)
_EXTREMES = (_Unknowns(-(10**9), ""), _Unknowns(10**9, "\U0010ffff"))


def before_trail_model(
    live: TrailModel, recovery: Recovery, fill: _Unknowns, vids: dict[str, int]
) -> TrailModel:
    """The tables as they were before the breakage, from the recovered evidence.

    Missing terms come back with their recovered vocabulary, name, weight and
    parents (own surviving hierarchy rows stay as they are); a lost vocabulary
    with its recovered name and, having no evidence of its weight, ``fill``'s.
    """
    vocabularies = dict(live.vocabularies)
    for vocabulary in recovery.vocabularies.values():
        vocabularies[vocabulary.vid] = TrailVocabulary(
            vocabulary.vid,
            vocabulary.name or vocabulary.machine_name or f"vocabulary {vocabulary.vid}",
            fill.vocabulary_weight,
        )
    vids = vids | {
        v.machine_name: vid for vid, v in recovery.vocabularies.items() if v.machine_name
    }
    terms = dict(live.terms)
    parents = dict(live.parents)
    for term in recovery.terms.values():
        vid = term.vid if term.vid is not None else vids.get(term.vocabulary or "")
        if vid is None or vid not in vocabularies:
            continue
        name = term.name("low")
        if name is None:
            name = fill.name if fill.name is not None else f"term {term.tid} (name unknown)"
        terms[term.tid] = TrailTerm(term.tid, vid, name, term.weight)
        parents.setdefault(term.tid, tuple(term.parents))
    return TrailModel(
        terms,
        vocabularies,
        parents,
        term_paths=live.term_paths,
        vocabulary_paths=live.vocabulary_paths,
        home=live.home,
    )


def recovery_of(ctx: AuditContext) -> Recovery:
    """Everything the database still knows about its unloadable terms (computed once)."""
    return ctx.cached(
        "recovery",
        lambda: recover_terms(
            ctx.site,
            {tid: ctx.term_state(tid) for tid in sorted(ctx.referenced_unloadable_tids)},
            body_links(ctx),
        ),
    )


def _chain_broken(ctx: AuditContext, tid: int, parents: dict[int, tuple[int, ...]]) -> bool:
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


_CHUNK = 500


def _candidates(ctx: AuditContext, live: TrailModel) -> list[int]:
    """Nodes whose trail can differ: their index or current fields name a dead term, or a
    live term with a dead ancestor. Any other node sees the same tree either way."""
    dead = set(ctx.referenced_unloadable_tids)
    touched = sorted(dead | {t for t in live.terms if _chain_broken(ctx, t, live.parents)})
    nids = set(ctx.dangling_current_by_node)
    if touched and ctx.has("taxonomy_index"):
        nids.update(
            int(r[0])
            for r in ctx.source.stream(
                "SELECT DISTINCT nid FROM {taxonomy_index} WHERE " + ctx.in_list("tid", touched),
                touched,
            )
        )
    return sorted(nids)


@check(
    "breadcrumb.silent_changes",
    severity=Severity.WARNING,
    title="Node pages whose breadcrumb changed silently",
    weight=3,
    reads=(
        "taxonomy_index",
        "taxonomy_breadcrumb_term",
        "taxonomy_breadcrumb_vocabulary",
        "url_alias",
        "menu_links",
        "@term_data",
        "@term_revision",
    ),
)
def silent_changes(ctx: AuditContext) -> Iterator[Finding]:
    """Published node pages whose breadcrumb now differs from the one before the breakage.

    Both trails are computed as the module computes them, from what it reads:
    ``taxonomy_index`` (not the field tables), vocabulary and term weights and
    names, the hierarchy. "Before" puts back the recovered terms and their index
    rows (the current revision's field rows of a published node, which core
    indexed). A finding whose change depends on a value no evidence gives (a lost
    vocabulary's weight, a term's name) is a notice, not a warning.
    """
    if not ctx.site.module_enabled(MODULE) or not ctx.has("taxonomy_index"):
        return
    live = ctx.cached("trail:live", lambda: live_trail_model(ctx))
    nids = _candidates(ctx, live)
    if not nids:
        return
    recovery = recovery_of(ctx)
    vids = {v.machine_name: vid for vid, v in ctx.site.vocabularies.items()}
    before = before_trail_model(live, recovery, _BEST, vids)
    extremes = [before_trail_model(live, recovery, fill, vids) for fill in _EXTREMES]
    types, include = _node_types_with_breadcrumbs(ctx)
    dead_fields = ctx.dangling_current_by_node
    for start in range(0, len(nids), _CHUNK):
        chunk = nids[start : start + _CHUNK]
        index: dict[int, set[int]] = {}
        for nid, tid in ctx.source.rows(
            "SELECT nid, tid FROM {taxonomy_index} WHERE " + ctx.in_list("nid", chunk), chunk
        ):
            index.setdefault(int(nid), set()).add(int(tid))
        for nid, ntype, title in ctx.source.rows(
            "SELECT nid, type, title FROM {node} WHERE status = 1 AND "
            + ctx.in_list("nid", chunk)
            + " ORDER BY nid",
            chunk,
        ):
            nid = int(nid)
            if (str(ntype) in types) != include:
                continue
            now_tids = index.get(nid, set())
            then_tids = now_tids | dead_fields.get(nid, frozenset())
            new = live.node_trail(now_tids)
            old = before.node_trail(then_tids)
            if old == new:
                continue
            others = [model.node_trail(then_tids) for model in extremes]
            certain = all(other != new for other in others)
            exact = all(other == old for other in others)
            yield _silent_finding(
                nid, str(ntype), str(title), (live, before), (now_tids, then_tids), certain, exact
            )


def _silent_finding(
    nid: int,
    ntype: str,
    title: str,
    models: tuple[TrailModel, TrailModel],
    tids: tuple[set[int], set[int]],
    certain: bool,
    exact: bool,
) -> Finding:
    """``certain``: changed whatever the unknown values were; ``exact``: the old trail
    shown is the only one the evidence allows."""
    live, before = models
    now_tids, then_tids = tids
    old_tid = before.lightest_term(then_tids)
    now_tid = live.lightest_term(now_tids)
    old, new = before.node_trail(then_tids), live.node_trail(now_tids)
    if now_tid is None:
        kind: Literal["falls_back_to_home", "lightest_term_gone", "ancestor_gone"] = (
            "falls_back_to_home"
        )
    elif now_tid != old_tid:
        kind = "lightest_term_gone"
    else:
        kind = "ancestor_gone"
    lost = sorted(t for t in then_tids if t not in live.terms)
    return Finding(
        "breadcrumb.silent_changes",
        Severity.WARNING if certain else Severity.NOTICE,
        f"/node/{nid} ({title}): breadcrumb changed silently ({kind.replace('_', ' ')}):"
        f" {' › '.join(old)} → {' › '.join(new)}"
        + ("" if certain else " (depends on a value no evidence gives)"),
        SilentChange(
            path=f"/node/{nid}",
            nid=nid,
            type=ntype,
            status=1,
            title=title,
            kind=kind,
            old_trail=tuple(old),
            new_trail=tuple(new),
            old_tid=old_tid,
            now_tid=now_tid,
            lost_tids=tuple(lost),
            certain=certain,
            old_trail_exact=exact,
        ),
        "restore or remap the dead term (drupal-migrate repair) so the old trail comes back",
    )
