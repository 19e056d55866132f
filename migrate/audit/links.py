"""Checks about the ways visitors still reach broken term pages.

Leftover aliases, menu links, taxonomy_breadcrumb_term rows and links inside
node bodies. Bodies are streamed; only a body that can matter (it mentions a
term path or a dead term's alias, or its node references a dead term) is
parsed with lxml, so the scan costs one regex search per body.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from migrate.audit import check
from migrate.audit.context import AuditContext, TermState
from migrate.audit.findings import Entity, Finding, KindIsVariant, OneTerm, Severity, TitledNode
from migrate.links import anchors, is_system_path, parse_internal_href, term_id_of

LinkKind = Literal["normal_path", "alias_still_present", "alias_removed"]
NORMAL_PATH: LinkKind = "normal_path"
ALIAS_PRESENT: LinkKind = "alias_still_present"
ALIAS_REMOVED: LinkKind = "alias_removed"

_TEXT_TYPES = ("text_with_summary", "text_long", "text")
CHUNK = 500
MAX_NEEDLES = 8


@dataclass
class BodyLink:
    """One ``<a href>`` in a node's text field that leads to an unloadable term."""

    table: str
    field_name: str
    nid: int
    vid: int
    current: bool
    language: str
    delta: int
    position: int
    href: str
    path: str
    text: str
    title: str | None
    tid: int | None = None
    kind: LinkKind = NORMAL_PATH
    candidates: list[int] = field(default_factory=list)

    @property
    def shows_warning(self) -> bool:
        """Dead aliases give a plain 404; the other two reach line 92."""
        return self.kind != ALIAS_REMOVED

    def sort_key(self) -> tuple[Any, ...]:
        return (
            self.field_name,
            self.table,
            self.nid,
            self.vid,
            self.delta,
            self.language,
            self.position,
        )


def body_links(ctx: AuditContext) -> list[BodyLink]:
    """Every body link to an unloadable term, found once per audit and shared."""
    return ctx.cached("body_links", lambda: _collect(ctx))


def body_link_scans(ctx: AuditContext) -> list[Callable[[AuditContext], object]]:
    """The body scan in parts, one per text table, that a side-by-side run starts first.

    Reading every body is the longest single piece of an audit; split, two
    connections read the current and the revision table at once.
    """
    return [
        functools.partial(_table_links, text_table=text_table) for text_table in _text_tables(ctx)
    ]


def _text_tables(ctx: AuditContext) -> Iterator[tuple[str, str, str]]:
    for info in sorted(ctx.site.fields_of_type(*_TEXT_TYPES), key=lambda f: f.field_name):
        if not info.bundles_of("node"):
            continue
        col = info.storage.column("value")
        for table in (info.storage.data_table, info.storage.revision_table):
            if ctx.has(table):
                yield info.field_name, table, col


def _collect(ctx: AuditContext) -> list[BodyLink]:
    found: list[BodyLink] = []
    pending: list[BodyLink] = []
    for text_table in _text_tables(ctx):
        for link in _table_links(ctx, text_table):
            (pending if link.kind == ALIAS_REMOVED else found).append(link)
    found.extend(_dead_aliases(ctx, pending))
    return sorted(found, key=BodyLink.sort_key)


def _table_links(ctx: AuditContext, text_table: tuple[str, str, str]) -> list[BodyLink]:
    return ctx.cached(f"body_links:{text_table[1]}", lambda: _scan(ctx, *text_table))


def _scan(ctx: AuditContext, field_name: str, table: str, col: str) -> list[BodyLink]:
    dead_aliases = {a: s for a, s in ctx.term_aliases.items() if not ctx.loadable(term_id_of(s))}
    dangling = ctx.dead_terms_by_node
    words = ["taxonomy/term/", *sorted(dead_aliases)]
    interesting = re.compile("|".join(re.escape(w) for w in words))
    links: list[BodyLink] = []
    seen: set[tuple[int, int, int, str]] = set()
    for where, params in _candidates(ctx, f"b.{col}", needles_for(words)):
        sql = (
            f"SELECT b.entity_id, b.revision_id, b.language, b.delta, b.{col}, n.vid, n.title"
            f" FROM {{{table}}} b LEFT JOIN {{node}} n ON n.nid = b.entity_id"
            f" WHERE b.entity_type = 'node' AND b.deleted = 0 AND {where}"
            " ORDER BY b.entity_id, b.revision_id, b.delta, b.language"
        )
        for nid, rev, lang, delta, body, cur_vid, title in ctx.source.stream(sql, params):
            key = (int(nid), int(rev), int(delta), str(lang))
            if key in seen or not body:
                continue
            seen.add(key)
            if not (key[0] in dangling or interesting.search(body)):
                continue
            current = cur_vid is not None and key[1] == int(cur_vid)
            links.extend(_links_in(body, table, field_name, key, current, title, ctx))
    return links


def _links_in(
    body: str,
    table: str,
    field_name: str,
    key: tuple[int, int, int, str],
    current: bool,
    title: str | None,
    ctx: AuditContext,
) -> Iterator[BodyLink]:
    """The links of one body that lead (or may lead, for dead aliases) to unloadable terms."""
    nid, rev, delta, lang = key
    for position, (href, text) in enumerate(anchors(body)):
        internal = parse_internal_href(href, ctx.base_hosts)
        if internal is None:
            continue
        path = internal.path
        link = BodyLink(
            table, field_name, nid, rev, current, lang, delta, position, href, path, text, title
        )
        tid = term_id_of(path)
        if tid is not None:
            if not ctx.loadable(tid):
                link.tid = tid
                yield link
        elif path in ctx.term_aliases:
            tid = term_id_of(ctx.term_aliases[path])
            if tid is not None and not ctx.loadable(tid):
                link.tid, link.kind = tid, ALIAS_PRESENT
                yield link
        elif nid in ctx.dead_terms_by_node and not is_system_path(path):
            link.kind = ALIAS_REMOVED
            yield link


def needles_for(words: list[str]) -> list[str]:
    """Substrings the server looks for in bodies: each is one pass over all body text.

    Past ``MAX_NEEDLES`` words (a site that deleted many aliased terms), a dead alias
    is looked for by its first path segment (``tags/``), which its siblings share;
    the exact words are matched afterwards, in Python, on the bodies that come back.
    """
    if len(words) <= MAX_NEEDLES:
        return words
    return sorted({w.split("/", 1)[0] + "/" if "/" in w.strip("/") else w for w in words})


def _candidates(
    ctx: AuditContext, column: str, words: list[str]
) -> Iterator[tuple[str, list[Any]]]:
    """Filters that keep healthy bodies in the database: bodies mentioning a term path or
    a dead alias, then (in chunks) bodies of nodes that reference an unloadable term,
    where a link to an alias Drupal already deleted is possible."""
    yield (
        "(" + " OR ".join(ctx.contains(column) for _ in words) + ")",
        [ctx.contains_param(w) for w in words],
    )
    nids = list(ctx.dead_terms_by_node)
    for start in range(0, len(nids), CHUNK):
        chunk = nids[start : start + CHUNK]
        yield ctx.in_list("b.entity_id", chunk), list(chunk)


def _dead_aliases(ctx: AuditContext, pending: list[BodyLink]) -> list[BodyLink]:
    """Links to paths that are no alias any more, attributed to the term they once named.

    A deleted term's alias goes with it, so the tid is inferred: the path must
    have named one of the dead terms every linking node still references, and
    not one whose alias survives; a tid pinned to one path is ruled out for the
    others. Paths with no candidate are ordinary broken links, not ours.
    """
    resolved = ctx.aliases.resolve_many({link.path for link in pending})
    unresolved = [link for link in pending if link.path not in resolved]
    candidates: dict[str, set[int]] = {}
    for link in unresolved:
        mine = set(ctx.dead_terms_by_node.get(link.nid, ())) - ctx.aliased_tids
        candidates[link.path] = candidates.get(link.path, mine) & mine
    changed = True
    while changed:
        changed = False
        pinned = {next(iter(c)): p for p, c in candidates.items() if len(c) == 1}
        for path, cands in candidates.items():
            drop = {t for t, owner in pinned.items() if owner != path and t in cands}
            if drop and len(cands) > 1:
                cands -= drop
                changed = True
    out = []
    for link in unresolved:
        cands = candidates[link.path]
        if not cands:
            continue
        link.candidates = sorted(cands)
        link.tid = link.candidates[0] if len(cands) == 1 else None
        out.append(link)
    return out


@dataclass(frozen=True, kw_only=True)
class AliasRoute(OneTerm, KindIsVariant, Entity):
    """links.broken_term_routes: a url_alias row of a term that does not load."""

    table: Literal["url_alias"] = "url_alias"
    pid: int
    source: str
    alias: str
    language: str
    kind: Literal["url_alias"] = "url_alias"
    tid: int
    term_state: TermState


@dataclass(frozen=True, kw_only=True)
class MenuRoute(OneTerm, KindIsVariant, Entity):
    """links.broken_term_routes: a menu link to a term that does not load."""

    table: Literal["menu_links"] = "menu_links"
    mlid: int
    menu_name: str
    path: str
    title: str
    kind: Literal["menu_link"] = "menu_link"
    tid: int
    term_state: TermState


@dataclass(frozen=True, kw_only=True)
class BreadcrumbRoute(OneTerm, KindIsVariant, Entity):
    """links.broken_term_routes: a taxonomy_breadcrumb_term row of a term that does not load."""

    table: Literal["taxonomy_breadcrumb_term"] = "taxonomy_breadcrumb_term"
    path: str
    kind: Literal["breadcrumb_path"] = "breadcrumb_path"
    tid: int
    term_state: TermState


@dataclass(frozen=True, kw_only=True)
class BodyLinkRoute(TitledNode, KindIsVariant, Entity):
    """links.broken_term_routes: a link in a node's text field to a term that does not load.

    ``tid`` is None when a link to a deleted alias fits several dead terms (``candidates``).
    """

    table: str
    nid: int
    vid: int
    field: str
    language: str
    delta: int
    href: str
    path: str
    text: str
    title: str | None
    tid: int | None
    candidates: tuple[int, ...]
    kind: Literal["normal_path", "alias_still_present", "alias_removed"]
    current: bool
    term_state: TermState | None

    @property
    def terms(self) -> tuple[int, ...]:
        return (self.tid,) if self.tid is not None else ()

    @property
    def maybe_tids(self) -> tuple[int, ...]:
        """The term the link leads to, or every term it may lead to."""
        return self.candidates or self.terms


def _term_finding(ctx: AuditContext, tid: int, what: str, entity: Entity, hint: str) -> Finding:
    state = ctx.term_state(tid)
    return Finding(
        "links.broken_term_routes",
        Severity.ERROR,
        f"{what} → {ctx.term_label(tid)}: {state.replace('_', ' ')}",
        entity,
        hint,
    )


@check(
    "links.broken_term_routes",
    severity=Severity.ERROR,
    title="Aliases, menu links, breadcrumb paths and body links to broken term pages",
    warm=body_link_scans,
    repair=True,
    reads=(
        "url_alias",
        "menu_links",
        "taxonomy_breadcrumb_term",
        "@text_data",
        "@text_revision",
        "@term_data",
    ),
)
def broken_term_routes(ctx: AuditContext) -> Iterator[Finding]:
    """Every stored route that leads a visitor to a term that does not load.

    url_alias rows, menu_links, taxonomy_breadcrumb_term rows, and links in node
    text fields (by path, ``?q=``, absolute URL of the site, or alias, including
    aliases Drupal already deleted).
    """
    for pid, src, alias, lang in ctx.term_alias_rows:
        tid = term_id_of(src)
        if tid is not None and not ctx.loadable(tid):
            yield _term_finding(
                ctx,
                tid,
                f"url_alias {pid} /{alias} (source {src})",
                AliasRoute(
                    pid=pid,
                    source=src,
                    alias=alias,
                    language=lang,
                    tid=tid,
                    term_state=ctx.unloadable_state(tid),
                ),
                f"delete the alias or point it at a live page (a redirect from /{alias})",
            )
    for menu in ctx.term_menu_links:
        tid = menu.tid
        if tid is not None and not ctx.loadable(tid):
            yield _term_finding(
                ctx,
                tid,
                f"menu link {menu.mlid} '{menu.link_title}' in {menu.menu_name} ({menu.link_path})",
                MenuRoute(
                    mlid=menu.mlid,
                    menu_name=menu.menu_name,
                    path=menu.link_path,
                    title=menu.link_title,
                    tid=tid,
                    term_state=ctx.unloadable_state(tid),
                ),
                "delete the menu link or point it at a live term",
            )
    if ctx.has("taxonomy_breadcrumb_term"):
        for tid, path in ctx.source.rows(
            "SELECT tid, path FROM {taxonomy_breadcrumb_term} ORDER BY tid"
        ):
            if not ctx.loadable(int(tid)):
                yield _term_finding(
                    ctx,
                    int(tid),
                    f"taxonomy_breadcrumb_term row for tid {tid} (path {path})",
                    BreadcrumbRoute(
                        path=str(path), tid=int(tid), term_state=ctx.unloadable_state(int(tid))
                    ),
                    "delete the taxonomy_breadcrumb_term row",
                )
    for link in body_links(ctx):
        where = "current" if link.current else "old"
        target = (
            ctx.term_label(link.tid)
            if link.tid is not None
            else (f"one of terms {link.candidates}")
        )
        effect = "404 + line-92 warning" if link.shows_warning else "plain 404 (alias gone)"
        yield Finding(
            "links.broken_term_routes",
            Severity.ERROR if link.current else Severity.WARNING,
            f"node {link.nid} {where} revision {link.vid}: {link.field_name} links to {link.href}"
            f" → {target}: {effect}",
            BodyLinkRoute(
                table=link.table,
                nid=link.nid,
                vid=link.vid,
                field=link.field_name,
                language=link.language,
                delta=link.delta,
                href=link.href,
                path=link.path,
                text=link.text,
                title=link.title,
                tid=link.tid,
                candidates=tuple(link.candidates),
                kind=link.kind,
                current=link.current,
                term_state=None if link.tid is None else ctx.unloadable_state(link.tid),
            ),
            "rewrite the link to a live page or remove it (drupal-migrate repair / export)",
        )
