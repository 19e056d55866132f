"""Evidence that a term's URL was live once, from what the database keeps.

A term deleted through the UI leaves no row that references it, yet its
``/taxonomy/term/N`` URL (and its old aliases) still bring visitors from search
engines and bookmarks, and taxonomy_breadcrumb warns on each visit. What the
database still knows about such URLs: watchdog rows (404s and the line-92 ``php``
rows record the requested URL), cached pages (``cache_page`` is keyed by URL),
menu links, aliases, links in bodies (to the path or to an alias Drupal deleted),
``taxonomy_breadcrumb_term`` rows, the redirect module's rows, and rows in the
field tables of deleted fields (``field_deleted_*``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from migrate.audit.context import AuditContext
from migrate.audit.links import ALIAS_REMOVED, body_links
from migrate.identifiers import check_identifier
from migrate.links import term_id_of

_TERM_IN = re.compile(r"taxonomy/term/(\d+)")
_SAMPLE = 3


@dataclass(frozen=True)
class Trace:
    """One kind of evidence that a term URL was live, with how often it was seen."""

    source: str
    detail: str
    count: int = 1


@dataclass(frozen=True)
class Redirected:
    """A redirect module row that already sends a path elsewhere."""

    rid: int
    source: str
    target: str


class _Collector:
    def __init__(self) -> None:
        self.seen: dict[int, dict[str, list[str]]] = {}

    def add(self, tid: int, source: str, what: str) -> None:
        self.seen.setdefault(tid, {}).setdefault(source, []).append(what)

    def traces(self) -> dict[int, list[Trace]]:
        out: dict[int, list[Trace]] = {}
        for tid, sources in sorted(self.seen.items()):
            out[tid] = [
                Trace(
                    source,
                    ", ".join(sorted(set(items))[:_SAMPLE])
                    + (
                        f" (+{len(set(items)) - _SAMPLE} more)" if len(set(items)) > _SAMPLE else ""
                    ),
                    len(items),
                )
                for source, items in sorted(sources.items())
            ]
        return out


def _path_of(url: str) -> str:
    """The Drupal path of a logged or cached URL (``http://host/a/b?x`` → ``a/b``)."""
    parts = urlsplit(url)
    path = unquote(parts.path).strip("/")
    if path in ("", "index.php") and parts.query.startswith("q="):
        path = unquote(parts.query[2:].split("&", 1)[0]).strip("/")
    return path


def once_live(ctx: AuditContext) -> dict[int, list[Trace]]:
    """tid → evidence that its URL was live, for every tid that does not load now."""
    return ctx.cached("once_live", lambda: _collect(ctx))


def redirected_paths(ctx: AuditContext) -> dict[str, Redirected]:
    """Paths the redirect module already redirects (enabled module, status 1 rows)."""
    return ctx.cached("redirected_paths", lambda: _redirects(ctx))


def _redirects(ctx: AuditContext) -> dict[str, Redirected]:
    if not ctx.has("redirect") or not ctx.site.module_enabled("redirect"):
        return {}
    columns = set(ctx.source.columns("redirect"))
    status = " WHERE status = 1" if "status" in columns else ""
    return {
        str(source).strip("/"): Redirected(int(rid), str(source), str(target))
        for rid, source, target in ctx.source.rows(
            f"SELECT rid, source, redirect FROM {{redirect}}{status} ORDER BY rid"
        )
    }


def _collect(ctx: AuditContext) -> dict[int, list[Trace]]:
    found = _Collector()
    aliases = {alias: term_id_of(src) for alias, src in ctx.term_aliases.items()}

    def tid_of_path(path: str) -> int | None:
        tid = term_id_of(path)
        return tid if tid is not None else aliases.get(path)

    def note(tid: int | None, source: str, what: str) -> None:
        if tid is not None and tid > 0 and not ctx.loadable(tid):
            found.add(tid, source, what)

    if ctx.has("watchdog"):
        for _wid, wtype, message, location, link in ctx.source.rows(
            "SELECT wid, type, message, location, link FROM {watchdog} WHERE "
            + " OR ".join(ctx.contains(c) for c in ("location", "message", "link"))
            + " ORDER BY wid",
            [ctx.contains_param("taxonomy/term/")] * 3,
        ):
            texts = [_path_of(str(location or "")), str(message or ""), str(link or "")]
            tids = {int(m) for text in texts for m in _TERM_IN.findall(text)}
            for tid in tids:
                note(tid, "watchdog", f"{wtype} /{_path_of(str(location or ''))}")
    if ctx.has("cache_page"):
        for (cid,) in ctx.source.rows("SELECT cid FROM {cache_page} ORDER BY cid"):
            path = _path_of(str(cid))
            note(tid_of_path(path), "cache_page", f"cached /{path}")
    for link in ctx.term_menu_links:
        note(link.tid, "menu_links", f"mlid {link.mlid} in {link.menu_name}")
    for _pid, src, alias, _lang in ctx.term_alias_rows:
        note(term_id_of(src), "url_alias", f"alias /{alias}")
    for body in body_links(ctx):
        if body.tid is None:
            continue
        what = "deleted alias" if body.kind == ALIAS_REMOVED else "link"
        note(body.tid, "body link", f"node {body.nid}: {what} /{body.path}")
    if ctx.has("taxonomy_breadcrumb_term"):
        for tid, path in ctx.source.rows(
            "SELECT tid, path FROM {taxonomy_breadcrumb_term} ORDER BY tid"
        ):
            note(int(tid), "taxonomy_breadcrumb_term", f"breadcrumb path {path}")
    if ctx.has("redirect"):
        for rid, source, target in ctx.source.rows(
            "SELECT rid, source, redirect FROM {redirect} WHERE "
            + " OR ".join(ctx.contains(c) for c in ("source", "redirect"))
            + " ORDER BY rid",
            [ctx.contains_param("taxonomy/term/")] * 2,
        ):
            for text in (str(source), str(target)):
                for tid in {int(m) for m in _TERM_IN.findall(text)}:
                    note(tid, "redirect", f"rid {rid}: /{source} → {target}")
    for tid, where in _deleted_field_refs(ctx):
        note(tid, "field_deleted", where)
    return found.traces()


def _deleted_field_refs(ctx: AuditContext) -> Iterable[tuple[int, str]]:
    """Term ids kept only in the tables of a field deleted through the UI, not yet purged."""
    for table, column in deleted_term_tables(ctx):
        for tid, rows in ctx.source.rows(
            f"SELECT {column}, COUNT(*) FROM {{{table}}} GROUP BY {column} ORDER BY {column}"
        ):
            if tid is not None:
                yield int(tid), f"{table}: {rows} row(s)"


def deleted_term_tables(ctx: AuditContext) -> list[tuple[str, str]]:
    """(table, tid column) of every deleted term-reference field's data and revision table."""
    return ctx.cached("deleted_term_tables", lambda: _deleted_tables(ctx))


def _deleted_tables(ctx: AuditContext) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if not ctx.has("field_config"):
        return out
    for fid, name in ctx.source.rows(
        "SELECT id, field_name FROM {field_config}"
        " WHERE deleted = 1 AND type = 'taxonomy_term_reference' ORDER BY id"
    ):
        column = check_identifier(f"{name}_tid", "field column")
        for table in (f"field_deleted_data_{fid}", f"field_deleted_revision_{fid}"):
            if ctx.has(table) and column in ctx.source.columns(table):
                out.append((table, column))
    return out
