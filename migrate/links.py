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
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import lxml.etree
import lxml.html

from migrate.source.base import Source

__all__ = [
    "AliasResolver",
    "InternalLink",
    "anchors",
    "is_system_path",
    "node_id_of",
    "normalise_host",
    "parse_internal_href",
    "term_id_of",
]

_TERM = re.compile(r"^taxonomy/term/(\d+)(?:/.*)?$")
_NODE = re.compile(r"^node/(\d+)(?:/.*)?$")
_TERM_PAGE = re.compile(r"taxonomy/term/(\d+)")
_NODE_PAGE = re.compile(r"node/(\d+)")
_PAGE_SCHEMES = ("", "http", "https")
_FRONT_SCRIPTS = ("", "index.php")
# Hrefs of the plain ``/some/path`` kind skip urlsplit; anything that urlsplit or
# unquote would change (query, fragment, escapes, characters urlsplit drops, non-ASCII)
# takes the full route, so both routes give the same answer.
_URL_SPECIAL = re.compile(r"[?#%\\\t\r\n]|[^\x00-\x7f]")
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


@dataclass(frozen=True, slots=True)
class InternalLink:
    """A link into the old site, reduced to Drupal's internal path.

    ``path`` has no leading or trailing slash and is percent-decoded (``''`` is the
    front page); ``query`` is what is left of the query string once ``q=`` is taken
    out. (Three fields on purpose: each one costs a frozen dataclass ~100 ns to build,
    and the exporter builds one per link of every body.)
    """

    path: str
    query: str = ""
    fragment: str = ""


def anchors(body: str) -> list[tuple[str, str]]:
    """Every ``<a href>``/``<area href>`` of an HTML fragment: (href, its text, spaces folded).

    The one HTML reading of links for the audit and for recover, so both see the same
    links (relative, absolute, entity-encoded) in the same bodies.
    """
    try:
        root = lxml.html.fragment_fromstring(body, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return []
    return [
        (str(a.get("href")), " ".join(a.text_content().split()))
        for a in root.iter("a", "area")
        if a.get("href")
    ]


def normalise_host(host: str) -> str:
    """Lower-case host without ``www.`` and port, so old and new spellings compare equal."""
    host = host.lower().split(":", 1)[0].rstrip(".")
    return host[4:] if host.startswith("www.") else host


_HOST_SETS: dict[frozenset[str], frozenset[str]] = {}


def _host_set(hosts: Collection[str]) -> frozenset[str]:
    """Normalised hosts, and their ``www.`` spellings so that most hrefs match as written.

    Remembered per (frozen) set of hosts: one dict lookup per absolute href.
    """
    key = hosts if type(hosts) is frozenset else frozenset(hosts)
    wanted = _HOST_SETS.get(key)
    if wanted is None:
        if len(_HOST_SETS) > 64:
            _HOST_SETS.clear()
        bare = {normalise_host(h) for h in key}
        wanted = _HOST_SETS[key] = frozenset(bare | {"www." + h for h in bare})
    return wanted


def parse_internal_href(
    href: str | None, hosts: Collection[str] | None = None, base_path: str = ""
) -> InternalLink | None:
    """The Drupal path an ``href`` leads to on this site, or None for other sites and schemes.

    Spellings understood: ``/node/5``, ``node/5`` (root-relative, as Drupal's
    own links are), ``/index.php?q=node/5``, ``/?q=node/5``, ``?q=node/5``,
    ``/index.php/node/5``, ``http(s)://`` and ``//`` URLs of the site, any of
    these under the site's ``base_path`` (``/portal/node/5``), percent-escapes.

    * ``hosts`` are the site's own host names in any spelling: case, ``www.``
      and the port are ignored. None accepts every host, which is what an audit
      of a site whose old host is unknown needs; an empty collection accepts
      relative hrefs only.
    * ``?q=`` (clean URLs off) wins over a front-script path and is removed from
      ``query``; other parameters are kept.
    * Only http(s) and scheme-less hrefs lead to pages: ``mailto:``, ``tel:``,
      ``javascript:``, ``ftp:``... give None, as do ``#fragment`` and query-only
      hrefs without ``q`` (both are the current page, not a path).
    * The path is what Drupal would look up, byte for byte: no Unicode
      normalisation (callers that compare with normalised aliases do that).
    """
    if href is None:
        return None
    href = href.strip()
    if not href or href[0] == "#":
        return None
    if href[0] == "/" and href[1:2] != "/" and not base_path and not _URL_SPECIAL.search(href):
        path = href.strip("/")
        if path[:9] != "index.php":
            return InternalLink(path)
    try:
        parts = urlsplit(href)
    except ValueError:
        return None
    if parts.scheme.lower() not in _PAGE_SCHEMES:
        return None
    if parts.netloc and hosts is not None:
        wanted = _host_set(hosts)
        host = parts.hostname or ""  # lower case, no port
        if host not in wanted and normalise_host(host) not in wanted:
            return None
    path = unquote(parts.path).strip("/")
    if base_path and (path == base_path or path.startswith(base_path + "/")):
        path = path[len(base_path) :].strip("/")
    query = parts.query
    q = None
    if query and path in _FRONT_SCRIPTS:
        pairs = parse_qsl(query, keep_blank_values=True)
        q = next((v for k, v in pairs if k == "q"), None)
        if q is not None:
            path = q.strip("/")
            query = urlencode([(k, v) for k, v in pairs if k != "q"])
    if q is None and not parts.path and not parts.netloc:
        return None  # "?page=2": the current page, whatever its path
    if path == "index.php":
        path = ""
    elif path.startswith("index.php/"):
        path = path[len("index.php/") :].strip("/")
    return InternalLink(path, query, parts.fragment)


def term_id_of(path: str | None, *, exact: bool = False) -> int | None:
    """The tid of ``taxonomy/term/N`` or any sub-path of it (``/feed``, ``/edit``).

    ``exact`` takes the term page itself only: sub-paths give None.
    """
    match = (_TERM_PAGE.fullmatch if exact else _TERM.match)(path or "")
    return int(match.group(1)) if match else None


def node_id_of(path: str | None, *, exact: bool = False) -> int | None:
    """The nid of ``node/N`` or any sub-path of it; ``exact``: the node page only."""
    match = (_NODE_PAGE.fullmatch if exact else _NODE.match)(path or "")
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
