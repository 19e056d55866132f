"""Turning the links people typed into Drupal's internal paths.

Bodies, menus and bookmarks point at the same page in many spellings:
``/taxonomy/term/5``, ``taxonomy/term/5/feed``, ``/index.php?q=taxonomy/term/5``,
``http://www.old-host.vn/?q=taxonomy/term/5`` or the term's alias
``/tin-tuc/tin-cong-doan``. The audit (which links lead to a broken term page)
and the exporters (which links to rewrite) both need the one answer Drupal
itself would give, so the parsing lives here, free of any database access
except the explicit, batched alias lookups of ``AliasResolver``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from urllib.parse import parse_qs, unquote, urlsplit

from migrate.source.base import Source

_TERM = re.compile(r"^taxonomy/term/(\d+)(?:/.*)?$")
_NODE = re.compile(r"^node/(\d+)(?:/.*)?$")
_NOT_PAGES = ("mailto", "tel", "javascript", "data", "ftp", "news", "irc", "skype", "callto")
_FRONT_SCRIPTS = ("", "index.php")
# Paths that are never aliases: files, core callbacks and the like.
_SYSTEM_PREFIXES = (
    "node/",
    "taxonomy/term/",
    "user",
    "admin",
    "sites/",
    "system/",
    "misc/",
    "modules/",
    "themes/",
    "profiles/",
    "files/",
    "comment/",
    "filter/",
    "search",
    "contact",
    "rss.xml",
)


def normalise_host(host: str) -> str:
    """Lower-case host without ``www.`` and port, so old and new spellings compare equal."""
    host = host.lower().split(":", 1)[0].rstrip(".")
    return host[4:] if host.startswith("www.") else host


def parse_internal_path(href: str | None, base_hosts: Collection[str] | None = None) -> str | None:
    """The Drupal path an ``href`` leads to on this site, or None for other sites and schemes.

    ``base_hosts`` are the site's own host names (any spelling; ``www.`` and the
    port are ignored). When it is None every absolute http(s) URL counts as
    internal, which is what an audit of a site whose old host is unknown needs.
    The result has no leading or trailing slash and is percent-decoded;
    ``''`` is the front page. ``?q=`` (clean URLs off) wins over the path.
    """
    if href is None:
        return None
    href = href.strip()
    if not href or href.startswith("#"):
        return None
    try:
        parts = urlsplit(href)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme in _NOT_PAGES or (scheme and scheme not in ("http", "https")):
        return None
    if parts.netloc:
        if scheme not in ("http", "https", ""):
            return None
        if base_hosts is not None:
            wanted = {normalise_host(h) for h in base_hosts}
            if normalise_host(parts.hostname or "") not in wanted:
                return None
    path = unquote(parts.path).strip("/")
    query = parse_qs(parts.query, keep_blank_values=True).get("q")
    if query and path in _FRONT_SCRIPTS:
        path = query[0].strip("/")
    elif path.startswith("index.php/"):
        path = path[len("index.php/") :]
    elif path == "index.php":
        path = ""
    return path


def term_id_of(path: str | None) -> int | None:
    """The tid of ``taxonomy/term/N`` or any sub-path of it (``/feed``, ``/edit``)."""
    match = _TERM.match(path or "")
    return int(match.group(1)) if match else None


def node_id_of(path: str | None) -> int | None:
    """The nid of ``node/N`` or any sub-path of it."""
    match = _NODE.match(path or "")
    return int(match.group(1)) if match else None


def is_system_path(path: str) -> bool:
    """Whether a path is served by Drupal itself and can never be an alias."""
    return path == "" or any(path == p.rstrip("/") or path.startswith(p) for p in _SYSTEM_PREFIXES)


class AliasResolver:
    """Alias → internal path lookups against ``url_alias``, batched, never one per link.

    ``preload`` keeps a (small) family of aliases in memory, e.g. all term
    aliases; ``resolve_many`` asks the database about the rest in chunks. Call
    it only when no streaming query is open on the source.
    """

    CHUNK = 500

    def __init__(self, source: Source) -> None:
        self.source = source
        self.known: dict[str, str] = {}

    def preload(self, source_like: str) -> dict[str, str]:
        """Load every alias whose source matches a LIKE pattern (``taxonomy/term/%``)."""
        found: dict[str, str] = {}
        for alias, src in self.source.rows(
            "SELECT alias, source FROM {url_alias} WHERE source LIKE ? ORDER BY pid DESC",
            (source_like,),
        ):
            found.setdefault(str(alias), str(src))
        self.known.update(found)
        return found

    def resolve_many(self, paths: Iterable[str]) -> dict[str, str]:
        """The source of each path that is an alias; paths that are not are left out."""
        out: dict[str, str] = {}
        pending = sorted({p for p in paths if p not in self.known})
        for start in range(0, len(pending), self.CHUNK):
            chunk = pending[start : start + self.CHUNK]
            marks = ", ".join("?" for _ in chunk)
            for alias, src in self.source.rows(
                f"SELECT alias, source FROM {{url_alias}} WHERE alias IN ({marks})"
                " ORDER BY pid DESC",
                chunk,
            ):
                self.known.setdefault(str(alias), str(src))
        for path in paths:
            if path in self.known:
                out[path] = self.known[path]
        return out
