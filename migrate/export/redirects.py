"""``drupal-migrate redirects``: every old URL of the site → its new URL, for nginx, Apache or CSV.

Old URLs are the Drupal system paths (``node/N``, ``taxonomy/term/N``), every
URL alias, the ``?q=`` spellings of all of those (``/?q=node/5``,
``/index.php?q=node/5``, what sites without clean URLs linked to), the rows of
the redirect module, and the aliases of deleted terms that a repair remapped to
another term. New URLs are the ones an export assigned (its state store).

The map never sends a browser twice: a target that is itself an old URL is
followed to its end (no chains), a cycle is dropped and reported (no loops),
and an old URL that already is its new URL is left out.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from migrate.errors import BadInput, StateError

FORMATS = ("nginx", "apache", "csv")
MODULE_KIND = "redirect_module"
"""Rows of Drupal's redirect module: their targets may be old paths (followed to the end)."""
_NODE = re.compile(r"node/(\d+)")
_TERM = re.compile(r"taxonomy/term/(\d+)")


@dataclass(frozen=True, slots=True)
class Redirect:
    """One old URL (a path, no leading slash, maybe ``?q=...``) and where it goes now."""

    source: str
    target: str
    kind: str
    entity: str = ""
    entity_id: int = 0


@dataclass
class RedirectMap:
    """The final, chain-free map and what had to be left out (with the reason)."""

    redirects: list[Redirect] = field(default_factory=list)
    dropped: list[tuple[Redirect, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, str]:
        return {r.source: r.target for r in self.redirects}


def normalize_path(path: str) -> str:
    """An old path as the map keys it: no leading/trailing slash, decoded, NFC."""
    return unicodedata.normalize("NFC", unquote(path.strip()).strip("/"))


def _target_key(target: str) -> str | None:
    """The old-path spelling of a target, to see whether it is itself redirected."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    key = normalize_path(parts.path)
    return f"{key}?{parts.query}" if parts.query else key


def query_forms(path: str) -> list[str]:
    """The ``?q=`` spellings Drupal answered for a path without clean URLs."""
    return [f"?q={path}", f"index.php?q={path}"]


def build_redirect_map(
    candidates: Iterable[Redirect], *, with_query_forms: bool = True
) -> RedirectMap:
    """Deduplicate, add ``?q=`` forms, collapse chains and drop loops and no-ops.

    The first candidate for a source wins; a later one with another target is
    reported as a conflict. A target the export assigned is a page of the new
    site: a chain ends there, and an old URL that is such a page is left out
    (the page answers it; redirecting would hide the page).
    """
    result = RedirectMap()
    first: dict[str, Redirect] = {}
    candidates = list(candidates)
    live = {
        key
        for c in candidates
        if c.kind not in (MODULE_KIND, "front", "feed")
        and (key := _target_key(c.target)) is not None
    }
    for cand in candidates:
        forms = [normalize_path(cand.source)]
        if with_query_forms and "?" not in cand.source:
            forms += query_forms(forms[0])
        for i, source in enumerate(forms):
            kind = cand.kind if i == 0 else f"{cand.kind}_query"
            red = Redirect(source, cand.target, kind, cand.entity, cand.entity_id)
            held = first.get(source)
            if held is None:
                first[source] = red
            elif held.target != red.target and i == 0:
                result.dropped.append((red, f"conflict: {source} already goes to {held.target}"))
    resolved: dict[str, str | None] = {}

    def final(source: str) -> str | None:
        """The end of the chain from ``source``; None when the chain loops."""
        seen: list[str] = []
        current = source
        while True:
            if current in resolved:
                end = resolved[current]
                break
            if current in seen:
                end = None
                break
            seen.append(current)
            target = first[current].target
            nxt = _target_key(target)
            if nxt is None or nxt not in first or nxt == current or nxt in live:
                end = target
                break
            current = nxt
        for s in seen:
            resolved[s] = end
        return end

    for source, red in first.items():
        if source in live and _target_key(red.target) != source:
            result.dropped.append((red, f"shadowed: /{source} is a page of the new site"))
            continue
        end = final(source)
        if end is None:
            result.dropped.append((red, "loop: the redirects from here come back here"))
        elif _target_key(end) == source:
            result.dropped.append((red, "no-op: the old URL is the new URL"))
        else:
            result.redirects.append(Redirect(source, end, red.kind, red.entity, red.entity_id))
    return result


# --------------------------------------------------------------------------- sources


def from_export(
    out_dir: Path,
    *,
    term_map: Mapping[int, int] | None = None,
    module_rows: Sequence[tuple[str, str]] = (),
) -> tuple[list[Redirect], list[str]]:
    """Candidates from an export directory's state store, plus redirect-module rows.

    ``term_map``: deleted tid → the tid that replaced it (a repair's remap), so
    the deleted term's old URLs go to the new term. ``module_rows``: (source,
    redirect) rows of Drupal's redirect module, redirect being a path or a URL.
    Returns the candidates and the old URLs that lead nowhere (reported).
    """
    state_file = out_dir / "state.sqlite"
    if not state_file.is_file():
        raise StateError(f"{out_dir} is not an export directory (no state.sqlite)")
    try:
        db = sqlite3.connect(f"file:{state_file}?mode=ro", uri=True)
        try:
            nodes = dict(
                db.execute(
                    "SELECT i.num, s.path FROM items i JOIN slugs s ON s.kind = 'node'"
                    " AND s.source_id = i.num WHERE i.kind = 'node' AND i.status != 'removed'"
                ).fetchall()
            )
            terms = dict(
                db.execute(
                    "SELECT i.num, s.path FROM items i JOIN slugs s ON s.kind = 'term'"
                    " AND s.source_id = i.num WHERE i.kind = 'term' AND i.status != 'removed'"
                ).fetchall()
            )
            aliases = db.execute("SELECT alias, source FROM aliases ORDER BY alias").fetchall()
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise StateError(f"{state_file}: cannot read export state ({exc})") from None
    for old, new in (term_map or {}).items():
        if new in terms and old not in terms:
            terms[old] = terms[new]
    unresolved: list[str] = []
    out: list[Redirect] = []
    for nid, path in sorted(nodes.items()):
        out.append(Redirect(f"node/{nid}", path, "system_path", "node", int(nid)))
    for tid, path in sorted(terms.items()):
        out.append(Redirect(f"taxonomy/term/{tid}", path, "system_path", "term", int(tid)))
        out.append(Redirect(f"taxonomy/term/{tid}/feed", path, "feed", "term", int(tid)))
    # Drupal's front page under its other names, and its site feed (a static site has none).
    out += [Redirect("index.php", "/", "front"), Redirect("rss.xml", "/", "feed")]

    def resolve(internal: str) -> tuple[str, str, int] | None:
        if m := _NODE.fullmatch(internal):
            nid = int(m.group(1))
            return (nodes[nid], "node", nid) if nid in nodes else None
        if m := _TERM.fullmatch(internal):
            tid = int(m.group(1))
            return (terms[tid], "term", tid) if tid in terms else None
        return None

    alias_sources = {normalize_path(a): str(s) for a, s in aliases}
    for alias, source in aliases:
        found = resolve(str(source))
        if found is None:
            unresolved.append(f"/{alias} (alias of {source}): not in the export")
        else:
            out.append(Redirect(str(alias), found[0], "alias", found[1], found[2]))
    for source, redirect in module_rows:
        parts = urlsplit(redirect)
        if parts.scheme or parts.netloc:
            out.append(Redirect(source, redirect, MODULE_KIND))
            continue
        internal = normalize_path(parts.path)
        found = resolve(alias_sources.get(internal, internal))
        if found is None:
            unresolved.append(f"/{source} (redirect module → {redirect}): target not exported")
        else:
            out.append(Redirect(source, found[0], MODULE_KIND, found[1], found[2]))
    return out, unresolved


def files_url(out_dir: Path) -> str:
    """Where the export put the old ``sites/default/files``: its writer's file URL prefix."""
    from migrate.export import get_writer

    try:
        db = sqlite3.connect(f"file:{out_dir / 'state.sqlite'}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'writer'").fetchone()
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise StateError(f"{out_dir}: cannot read export state ({exc})") from None
    name = str(row[0]) if row else "jsonl"
    return get_writer(name).urls.file_url("")


def plan_remaps(path: Path) -> dict[int, int]:
    """A repair plan's remap decisions: deleted tid → the tid that replaced it."""
    from migrate.repair.operations import Plan

    plan = Plan.load(path)
    return {d.tid: d.target for d in plan.decisions if d.action == "remap" and d.target}


def redirect_module_rows(source: object) -> list[tuple[str, str]]:
    """Enabled rows of the redirect module's table, when the site has one."""
    from migrate.source.base import Source

    if not isinstance(source, Source) or not source.has_table("redirect"):
        return []
    columns = set(source.columns("redirect"))
    where = " WHERE status = 1" if "status" in columns else ""
    return [
        (str(src), str(dst))
        for src, dst in source.rows(
            f"SELECT source, redirect FROM {{redirect}}{where} ORDER BY rid"
        )
    ]


# --------------------------------------------------------------------------- renderers


def _request_uri(source: str) -> str:
    """The old URL as a browser sends it (nginx's ``$request_uri``): percent-encoded UTF-8."""
    path, sep, query = source.partition("?")
    return "/" + quote(path, safe="/-._~") + (sep + quote(query, safe="=&/-._~") if sep else "")


def _nginx_string(text: str) -> str:
    quoted = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    # A leading ~ would make a map key a regex.
    return quoted.replace('"~', '"\\~', 1) if quoted.startswith('"~') else quoted


def _nginx_value(target: str) -> str:
    """A map value: ``$`` would start a variable there, so it is percent-encoded."""
    return _nginx_string(target.replace("$", "%24"))


def _q_forms(path: str) -> list[str]:
    """How a browser may have sent ``?q=<path>``: encoded with / kept, / encoded, or raw."""
    forms = [quote(path, safe="/-._~"), quote(path, safe="-._~"), path]
    return list(dict.fromkeys(forms))


@dataclass(frozen=True)
class _Split:
    """A map cut by how a request reaches it: by path, by ``?q=``, or by the exact URL."""

    paths: dict[str, str]
    """Old path (decoded, no leading or trailing slash) → target."""
    queries: dict[str, str]
    """Old path asked for as ``?q=<path>`` on ``/`` or ``/index.php`` → target."""
    exact: dict[str, str]
    """Other old URLs with a query string (redirect module rows), as sent → target."""


def _ascii_lower(text: str) -> str:
    """``text`` with its ASCII letters lowercased, as nginx folds map keys."""
    return text.encode("utf-8").lower().decode("utf-8")


def _split(redirects: Sequence[Redirect]) -> _Split:
    """The map by how requests reach it; of old URLs differing only in case, the first wins.

    Requests match case-insensitively, so two such keys would be one (nginx refuses
    a map that holds both).
    """
    paths: dict[str, str] = {}
    queries: dict[str, str] = {}
    exact: dict[str, str] = {}
    for r in redirects:
        path, sep, query = r.source.partition("?")
        target = _target_key(r.target)
        if target is not None and _ascii_lower(target) == _ascii_lower(r.source):
            continue  # /About → /about/ would answer /about/ too: a loop
        if not sep:
            paths.setdefault(_ascii_lower(normalize_path(path)), r.target)
        elif path in ("", "index.php") and query.startswith("q=") and "&" not in query:
            queries.setdefault(_ascii_lower(normalize_path(query[2:])), r.target)
        else:
            exact.setdefault(_ascii_lower(_request_uri(r.source)), r.target)
    paths.pop("", None)
    queries.pop("", None)
    return _Split(paths, queries, exact)


def _hash_sizes(keys: Sequence[str]) -> tuple[int, int]:
    """``map_hash_bucket_size`` and ``map_hash_max_size`` that fit these keys.

    nginx stores a key in ``8 + align8(len + 2)`` bytes and needs one more pointer
    per bucket; bucket sizes are powers of two from the 64-byte cache line.
    """
    longest = max((len(k.encode("utf-8")) for k in keys), default=0)
    need = 8 + (longest + 2 + 7) // 8 * 8 + 8
    bucket = 64
    while bucket < need:
        bucket *= 2
    size = 1024
    while size < 2 * len(keys):
        size *= 2
    return bucket, size


def render_nginx(redirects: Sequence[Redirect], files_to: str | None = None) -> str:
    """``map`` blocks for the http block; the server block returns 301 when one matches.

    A request matches by its path with or without trailing slashes, in any case of
    its ASCII letters (nginx lowercases map keys and the value looked up, as Drupal's
    alias lookup ignores case), and whatever query string it carries (``?fbclid=…``,
    ``&page=2``), by ``?q=<old path>`` on
    ``/`` or ``/index.php`` (extra parameters ignored), or, for redirect-module rows
    with a query, by the exact URL. ``files_to``: the new URL of the old
    ``/sites/default/files/`` folder.
    """
    split = _split(redirects)
    q_keys = {form: t for p, t in split.queries.items() for form in _q_forms(p)}
    path_keys = {"/" + p: t for p, t in split.paths.items()}
    bucket, size = _hash_sizes([*path_keys, *q_keys, *split.exact])
    lines = [
        "# drupal-migrate redirects for nginx. Include this file inside http { }, then add",
        "# to the site's server { } block:",
        "#     if ($drupal_redirect) { return 301 $drupal_redirect; }",
        "# Old URLs match in any case of their ASCII letters, as Drupal's alias lookup did.",
        "# The two sizes below fit this file's longest key and its number of keys; if the",
        "# http block sets them already, keep the larger values there and delete these.",
        f"map_hash_bucket_size {bucket};",
        f"map_hash_max_size {size};",
        "",
        "map $uri $drupal_migrate_path {",
        '    "~^(?<p>/.*?)/*$" $p;',
        "}",
        "map $uri $drupal_migrate_front {",
        "    default 0;",
        '    "/" 1;',
        '    "/index.php" 1;',
        "}",
        "map $arg_q $drupal_migrate_q {",
        '    "~^(?<q>.*?)(?:/|%2[Ff])*$" $q;',
        "}",
        "map $drupal_migrate_path $drupal_migrate_by_path {",
        '    default "";',
    ]
    lines += [f"    {_nginx_string(k)} {_nginx_value(t)};" for k, t in path_keys.items()]
    lines += ["}", "map $drupal_migrate_q $drupal_migrate_by_q {", '    default "";']
    lines += [f"    {_nginx_string(k)} {_nginx_value(t)};" for k, t in q_keys.items()]
    lines += ["}", "map $request_uri $drupal_migrate_by_uri {", '    default "";']
    lines += [f"    {_nginx_string(k)} {_nginx_value(t)};" for k, t in split.exact.items()]
    if files_to is not None:
        value = _nginx_value(files_to.rstrip("/") + "/")[:-1] + '$f"'
        lines.append(f'    "~^/sites/default/files/(?<f>[^?]*)" {value};')
    lines += [
        "}",
        "# The first that matches: the exact URL, ?q= on / or /index.php, then the path.",
        'map "$drupal_migrate_by_uri|$drupal_migrate_front$drupal_migrate_by_q|'
        '$drupal_migrate_by_path" $drupal_redirect {',
        '    default "";',
        '    "~^(?<t>[^|]+)[|]" $t;',
        '    "~^[|]1(?<t>[^|]+)[|]" $t;',
        '    "~^[|][01][^|]*[|](?<t>.+)$" $t;',
        "}",
    ]
    return "\n".join(lines) + "\n"


_PCRE_META = re.compile(r"([.^$*+?()\[\]{}|\\\s])")


def _pcre(text: str) -> str:
    """A literal for a mod_rewrite pattern: only regex metacharacters and spaces escaped."""
    return _PCRE_META.sub(r"\\\1", text)


def _apache_target(target: str) -> str:
    return re.sub(r"([\s\\%$])", r"\\\1", target)


def render_apache(redirects: Sequence[Redirect], files_to: str | None = None) -> str:
    """mod_rewrite rules that work in a vhost or in ``.htaccess`` (matching as nginx's map).

    Paths match with or without a trailing slash, in any case of their ASCII letters
    (``NC``: Drupal looks aliases up with ``LIKE`` on a case-insensitive column), and
    with any query string (dropped from the target, ``QSD``); ``?q=<old path>``
    matches on ``/`` and ``/index.php`` among other parameters, its slashes sent
    plain or as ``%2F``.
    """
    split = _split(redirects)
    lines = [
        "# drupal-migrate redirects for Apache (mod_rewrite, 2.4): in the vhost or .htaccess",
        "RewriteEngine On",
    ]
    for uri, target in split.exact.items():
        path, _, query = uri.partition("?")
        lines.append(f"RewriteCond %{{QUERY_STRING}} ^{_pcre(query)}$ [NC]")
        lines.append(
            f"RewriteRule ^/?{_pcre(unquote(path).lstrip('/'))}$ {_apache_target(target)}"
            " [R=301,L,NE,QSD,NC]"
        )
    if files_to is not None:
        lines.append(r'RewriteCond %{THE_REQUEST} "^\S+ /sites/default/files/([^?\s]*)"')
        lines.append(
            f"RewriteRule ^/?sites/default/files/ {_apache_target(files_to.rstrip('/'))}/%1"
            " [R=301,L,NE,QSD]"
        )
    for path, target in split.queries.items():
        encoded = _pcre(quote(path, safe="/-._~")).replace("/", "(?:/|%2F)")
        lines.append(f"RewriteCond %{{QUERY_STRING}} (?:^|&)q={encoded}(?:/|%2F)*(?:&|$) [NC]")
        lines.append(f"RewriteRule ^/?(?:index\\.php)?$ {_apache_target(target)} [R=301,L,NE,QSD]")
    for path, target in split.paths.items():
        lines.append(
            f"RewriteRule ^/?{_pcre(path)}/*$ {_apache_target(target)} [R=301,L,NE,QSD,NC]"
        )
    return "\n".join(lines) + "\n"


def render_csv(redirects: Sequence[Redirect]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["source", "target", "kind", "entity", "entity_id"])
    for r in redirects:
        writer.writerow(["/" + r.source, r.target, r.kind, r.entity, r.entity_id or ""])
    return out.getvalue()


def render(redirects: Sequence[Redirect], fmt: str, files_to: str | None = None) -> str:
    """The map in one of ``FORMATS``; ``files_to`` is where old file URLs now live."""
    if fmt == "nginx":
        return render_nginx(redirects, files_to)
    if fmt == "apache":
        return render_apache(redirects, files_to)
    if fmt == "csv":
        return render_csv(redirects)
    raise BadInput(f"unknown redirect format {fmt!r} (known: {', '.join(FORMATS)})")
