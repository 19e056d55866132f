"""Body cleaning for export: Drupal text formats, MS Word debris, links, Unicode.

Every exported body goes through :func:`clean_body` once, in this order:

1. Unicode: lone surrogates and control characters (which would break lxml), mojibake
   (ftfy, only on lines that look double-encoded), NFC.
2. The format's enabled filters in Drupal's order.  ``filter_html``,
   ``filter_html_escape`` and ``filter_autop`` are ports of Drupal 7's string
   transforms (autop on UTF-8 bytes, checked against a literal port in the tests);
   comments and Word markup are stripped from the string just before autop, since
   neither changes what autop does and the string it scans gets smaller.
3. One lxml parse (this is ``filter_htmlcorrector``), then ``filter_url`` on the text
   nodes, leftover Word debris, script removal and link rewriting on the tree, and
   one serialization.

Every change is counted per kind in ``CleanResult.stats``; what could not be fixed is
in ``CleanResult.problems``.  Nothing here raises on bad input.
"""

from __future__ import annotations

import html
import operator
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol
from urllib.parse import unquote, urlsplit

import ftfy
from lxml import etree
from slugify import slugify

from migrate.links import InternalLink, node_id_of, normalise_host, parse_internal_href, term_id_of
from migrate.records import Filter, TextFormat

__all__ = [
    "CleanResult",
    "InternalLink",
    "LinkResolver",
    "MapLinkResolver",
    "Resolution",
    "SlugRegistry",
    "clean_body",
    "fix_text",
    "slugify_vi",
]

# Drupal 7 defaults, used only when a format's stored settings lack the key.
DEFAULT_ALLOWED_HTML = "<a> <em> <strong> <cite> <blockquote> <code> <ul> <ol> <li> <dl> <dt> <dd>"
DEFAULT_URL_LENGTH = 72
# variable_get('filter_allowed_protocols') default in Drupal 7.
ALLOWED_PROTOCOLS = frozenset(
    [
        "ftp",
        "http",
        "https",
        "irc",
        "mailto",
        "news",
        "nntp",
        "rtsp",
        "sftp",
        "ssh",
        "tel",
        "telnet",
        "webcal",
    ]
)


@dataclass
class CleanResult:
    """The cleaned HTML, what was changed (per kind) and what could not be fixed."""

    html: str
    stats: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


class _Counter(dict[str, int]):
    def add(self, kind: str, n: int = 1) -> None:
        if n:
            self[kind] = self.get(kind, 0) + n


# --------------------------------------------------------------------------- Unicode

# A UTF-8 lead byte seen as Latin-1/cp1252 (U+00C2-U+00F4) followed by a continuation
# byte seen the same way, searched in the UTF-8 encoding because that is several times
# faster than a str pattern over Vietnamese text.  Only lines that match are handed to
# ftfy, which keeps correct Vietnamese (full of Latin-1 letters) out of its way.
_MOJIBAKE_HINT = re.compile(
    rb"\xc3[\x82-\xb4](?:\xc2[\x80-\xbf]|\xe2[\x80-\x84]|\xc5[\x92\x93\xa0\xa1\xb8\xbd\xbe]"
    rb"|\xc6\x92|\xcb[\x86\x9c])"
)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL_BYTES = bytes([*range(9), 11, 12, *range(14, 32), 127])


def _fix_unicode(text: str, stats: _Counter, problems: list[str]) -> str:
    """Repair what would otherwise crash lxml or show as garbage: controls, mojibake, NFD."""
    return _fix_unicode_utf8(text, stats, problems)[0]


def _fix_unicode_utf8(text: str, stats: _Counter, problems: list[str]) -> tuple[str, bytes | None]:
    """``_fix_unicode``, and the result's UTF-8 when it had to be encoded anyway (the
    checks run on the bytes) and nothing changed after: clean_body need not encode it again."""
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError:
        text, n = _SURROGATE.subn("\ufffd", text)
        stats.add("invalid_chars_replaced", n)
        problems.append(f"{n} undecodable byte(s) replaced by U+FFFD")
        encoded = text.encode("utf-8")
    if len(encoded.translate(None, _CONTROL_BYTES)) != len(encoded):
        text, n = _CONTROL.subn("", text)
        stats.add("control_chars_removed", n)
        encoded = text.encode("utf-8")
    if "\ufffd" in text:
        known = stats.get("invalid_chars_replaced", 0) + stats.get("invalid_bytes_replaced", 0)
        bad = text.count("\ufffd") - known
        if bad > 0:
            problems.append(f"{bad} U+FFFD replacement character(s): bytes lost before export")
    utf8: bytes | None = encoded
    if not text.isascii() and _MOJIBAKE_HINT.search(encoded):
        lines = text.split("\n")
        fixed = 0
        for i, line in enumerate(lines):
            if _MOJIBAKE_HINT.search(line.encode("utf-8")):
                repaired = ftfy.fix_encoding(line)
                if repaired != line:
                    lines[i] = repaired
                    fixed += 1
        if fixed:
            text = "\n".join(lines)
            stats.add("mojibake_fixed", fixed)
            utf8 = None
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        composed = unicodedata.normalize("NFC", text)
        stats.add("nfc_normalized", max(len(text) - len(composed), 1))
        text = composed
        utf8 = None
    return text, utf8


def fix_text(s: str) -> tuple[str, list[str]]:
    """NFC and mojibake repair for titles and other short text; returns the kinds changed."""
    stats = _Counter()
    fixed = _fix_unicode(s, stats, [])
    return fixed, sorted(stats)


# --------------------------------------------------------------------------- filter_html

_XSS_ENTITY_JS = re.compile(r"&\s*\{[^}]*(\}\s*;?|$)")
_XSS_NAMED = re.compile(r"&amp;(?=[A-Za-z][A-Za-z0-9]*;)")
_XSS_DEC = re.compile(r"&amp;(?=#[0-9]+;)")
_XSS_HEX = re.compile(r"&amp;#[Xx]0*(?=(?:[0-9A-Fa-f]{2})+;)")
# Comments match across lines here, unlike Drupal 7's filter_xss, which let the CSS of
# multi-line Word conditional comments leak into the page as text.
_XSS_SPLIT = re.compile(r"(<(?=[^a-zA-Z!/])|<!--.*?-->|<[^>]*(?:>|$)|>)", re.S)
_XSS_TAG = re.compile(r"^<\s*(/\s*)?([a-zA-Z0-9\-]+)([^>]*)>?$", re.S)
_XSS_ATTR = re.compile(r"""([-a-zA-Z]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"']+))?""")
_XSS_SLASH = re.compile(r"(\s?)/\s*$")
_XSS_ANGLES = str.maketrans("", "", "<>")


@lru_cache(maxsize=32)
def _allowed_tags(allowed_html: str) -> frozenset[str]:
    return frozenset(t.lower() for t in re.split(r"\s+|<|>", allowed_html) if t)


def _bad_protocol(value: str, stats: _Counter) -> str:
    """filter_xss_bad_protocol(): strip protocols that are not allowed, then re-escape."""
    uri = html.unescape(value)
    while True:
        colon = uri.find(":")
        if colon <= 0:
            break
        protocol = uri[:colon]
        if re.search(r"[/?#]", protocol):
            break
        if protocol.lower() in ALLOWED_PROTOCOLS:
            break
        if protocol.strip().lower() in ("javascript", "vbscript"):
            stats.add("js_urls_removed")
        uri = uri[colon + 1 :]
    return html.escape(uri, quote=True)


def _filter_xss(text: str, allowed: frozenset[str], stats: _Counter) -> str:
    """Port of Drupal 7 filter_xss(): keep allowed tags, drop style/on* attributes."""
    text = text.replace("\x00", "")
    text = _XSS_ENTITY_JS.sub("", text)
    if "&" in text:
        text = text.replace("&", "&amp;")
        text = _XSS_NAMED.sub("&", text)
        text = _XSS_DEC.sub("&", text)
        text = _XSS_HEX.sub("&#x", text)

    def split(m: re.Match[str]) -> str:
        s = m.group(1)
        if s[0] != "<":
            return "&gt;"
        if len(s) == 1:
            return "&lt;"
        if s.startswith("<!--"):
            stats.add(
                "conditional_comments_removed" if s.startswith("<!--[if") else "comments_removed"
            )
            return ""
        tag = _XSS_TAG.match(s)
        if tag is None:
            return ""
        slash, elem, attrs = tag.groups()
        if elem.lower() not in allowed:
            if not slash:
                stats.add("tags_not_allowed_stripped")
            return ""
        if slash:
            return f"</{elem}>"
        bare = attrs.strip()
        if not bare:
            return f"<{elem}>"
        if bare == "/":
            return f"<{elem} />"
        attrs, count = _XSS_SLASH.subn(r"\1", attrs)
        kept: list[str] = []
        for name, value in _XSS_ATTR.findall(attrs):
            lname = name.lower()
            if lname == "style":
                stats.add("styles_stripped")
                continue
            if lname.startswith("on"):
                stats.add("event_handlers_removed")
                continue
            if value:
                value = _bad_protocol(value[1:-1] if value[0] in "\"'" else value, stats)
                kept.append(f'{lname}="{value}"')
            else:
                kept.append(lname)
        attr_text = " ".join(kept).translate(_XSS_ANGLES)
        return f"<{elem}{' ' + attr_text if attr_text else ''}{' /' if count else ''}>"

    return _XSS_SPLIT.sub(split, text)


# --------------------------------------------------------------------------- filter_autop

_BLOCK = (
    "(?:table|thead|tfoot|caption|colgroup|tbody|tr|td|th|div|dl|dd|dt|ul|ol|li|pre|"
    "select|form|blockquote|address|p|h[1-6]|hr)"
)
# autop works on UTF-8 bytes: every construct it looks at is ASCII, and bytes patterns
# scan Vietnamese text about a third faster than str patterns do.
_AUTOP_SPLIT = re.compile(
    rb"(<(?:!--.*?-->|(?i:/?(?:pre|script|style|object|iframe|svg))[^>]*>|/?!--[^>]*>))", re.S
)
_BLOCK_NAMES = (
    *("table", "thead", "tfoot", "caption", "colgroup", "tbody", "tr", "td", "th", "div"),
    *("dl", "dd", "dt", "ul", "ol", "li", "pre", "select", "form", "blockquote", "address"),
    *("p", "h1", "h2", "h3", "h4", "h5", "h6", "hr"),
)
_B = _BLOCK.encode()
_AUTOP_CLOSE = re.compile(("</(?:" + "|".join(_BLOCK_NAMES) + ")>").encode())
_AUTOP_BR_BR = re.compile(rb"<br />\s*<br />")
_AUTOP_OPEN = re.compile(rb"<(?=" + _B + rb"[^>]*>)")
_AUTOP_DUPES = re.compile(rb"\n\n+")
_AUTOP_PARA = re.compile(rb"\n\s*\n\n?(?=.)")
_AUTOP_LI = re.compile(rb"<p>(<li.+?)</p>")
_AUTOP_BQ = re.compile(rb"<p><blockquote([^>]*)>", re.I)
_AUTOP_EMPTY = re.compile(rb"<p>\s*</p>\n?")
_AUTOP_P_BLOCK = re.compile(rb"<p>\s*(?=</?" + _B + rb"[^>]*>)")
_AUTOP_BLOCK_P = re.compile(rb"(</?" + _B + rb"[^>]*>)\s*</p>")
_AUTOP_BLOCK_BR = re.compile(rb"(</?" + _B + rb"[^>]*>)\s*<br />")
_AUTOP_BR_CLOSE = re.compile(rb"<br />(?=\s*</?(?:p|li|div|th|pre|td|ul|ol)>)")
_AUTOP_AMP = re.compile(rb"&(?=[^#])(?![A-Za-z0-9]{1,8};)")
_AUTOP_TAG_NAME = re.compile(rb"[ >]")
_GROUP1 = operator.itemgetter(1)
_WS = b" \t\n\r\f\v"


def _after_closer(m: re.Match[bytes]) -> bytes:
    return m[0] + b"\n\n"


def _blockquote_first(m: re.Match[bytes]) -> bytes:
    return b"<blockquote" + m[1] + b"><p>"


def _autop_edges(chunk: bytes) -> bytes:
    """preg_replace('/^\\n|\\n\\s*\\n$/', '', ...) without a regex scan of the whole chunk."""
    if chunk.startswith(b"\n"):
        chunk = chunk[1:]
    body = chunk.rstrip(_WS)
    tail = chunk[len(body) :]
    if tail.endswith(b"\n") and tail.count(b"\n") >= 2:
        chunk = body + tail[: tail.index(b"\n")]
    return chunk


def _autop_line_breaks(chunk: bytes) -> bytes:
    """preg_replace('|(?<!<br />)\\s*\\n|', "<br />\\n", ...), walking the few newlines
    instead of trying the pattern at every space of the text."""
    out: list[bytes] = []
    pos = 0
    end = len(chunk)
    nl = chunk.find(b"\n")
    while nl != -1:
        run_end = nl + 1
        while run_end < end and chunk[run_end] in _WS:
            run_end += 1
        last_nl = chunk.rindex(b"\n", nl, run_end)
        start = nl
        while start > pos and chunk[start - 1] in _WS:
            start -= 1
        if chunk.endswith(b"<br />", 0, start):
            start += 1
        if start <= last_nl:
            out.append(chunk[pos:start])
            out.append(b"<br />\n")
            pos = last_nl + 1
        nl = chunk.find(b"\n", run_end)
    out.append(chunk[pos:])
    return b"".join(out)


def _autop_chunk(chunk: bytes, stats: _Counter) -> bytes:
    """``_autop_sequence``, with a short cut: text on one line without tags (most
    comments) only gets wrapped in a paragraph by it, so it is wrapped directly
    instead of going through 15 substitutions (tested against the sequence)."""
    if b"<" not in chunk and b"\n" not in chunk and chunk.strip(_WS):
        stats.add("paragraphs_added")
        chunk = b"<p>" + chunk + b"</p>\n"
        return _AUTOP_AMP.sub(b"&amp;", chunk) if b"&" in chunk else chunk
    return _autop_sequence(chunk, stats)


def _autop_sequence(chunk: bytes, stats: _Counter) -> bytes:
    """_filter_autop()'s regex sequence; rewritten with lookaheads where that is equivalent,
    because on Python 3.11 a back-reference template costs a Python call per match."""
    chunk = chunk.rstrip(b"\n") + b"\n\n"
    if b"<br />" in chunk:
        chunk = _AUTOP_BR_BR.sub(b"\n\n", chunk)
    chunk = _AUTOP_OPEN.sub(b"\n<", chunk)
    chunk = _AUTOP_CLOSE.sub(_after_closer, chunk)
    if b"\n\n\n" in chunk:
        chunk = _AUTOP_DUPES.sub(b"\n\n", chunk)
    chunk = _autop_edges(chunk)
    chunk, added = _AUTOP_PARA.subn(b"</p>\n<p>", chunk)
    chunk = b"<p>" + chunk + b"</p>\n"
    added += 1
    if b"<p><" in chunk:
        chunk, dropped = _AUTOP_LI.subn(_GROUP1, chunk)
        added -= dropped
        chunk = _AUTOP_BQ.sub(_blockquote_first, chunk)
    chunk = chunk.replace(b"</blockquote></p>", b"</p></blockquote>")
    chunk, dropped = _AUTOP_EMPTY.subn(b"", chunk)
    added -= dropped
    chunk, dropped = _AUTOP_P_BLOCK.subn(b"", chunk)
    added -= dropped
    chunk = _AUTOP_BLOCK_P.sub(_GROUP1, chunk)
    chunk = _autop_line_breaks(chunk)
    if b"<br />" in chunk:  # both patterns need one; a body without single newlines has none
        chunk = _AUTOP_BLOCK_BR.sub(_GROUP1, chunk)
        chunk = _AUTOP_BR_CLOSE.sub(b"", chunk)
    if b"&" in chunk:
        chunk = _AUTOP_AMP.sub(b"&amp;", chunk)
    stats.add("paragraphs_added", max(added, 0))
    return chunk


def _filter_autop(text: bytes, stats: _Counter) -> bytes:
    """Port of Drupal 7 _filter_autop(): blank lines become <p>, single newlines <br />."""
    chunks = _AUTOP_SPLIT.split(text)
    out: list[bytes] = []
    ignore_tag = b""
    for i, chunk in enumerate(chunks):
        if i % 2:
            if not chunk.startswith(b"<!--"):
                is_open = chunk[1:2] != b"/"
                tag = _AUTOP_TAG_NAME.split(chunk[2 - is_open :], maxsplit=1)[0]
                if not ignore_tag and is_open:
                    ignore_tag = tag
                elif ignore_tag and not is_open and tag == ignore_tag:
                    ignore_tag = b""
        elif not ignore_tag:
            chunk = _autop_chunk(chunk, stats)
        out.append(chunk)
    return b"".join(out)


# --------------------------------------------------------------------------- filter_url

_PROTOCOLS = "|".join(f"{p}:(?://)?" for p in sorted(ALLOWED_PROTOCOLS))
_DOMAIN = r"(?:[A-Za-z0-9._+-]+\.)?[A-Za-z]{2,64}\b"
_IP = r"(?:[0-9]{1,3}\.){3}[0-9]{1,3}"
_AUTH = r"[a-zA-Z0-9:%_+*~#?&=.,/;-]+@"
_TRAIL = r"[a-zA-Z0-9:%_+*~#&\[\]=/;?!\.,-]*[a-zA-Z0-9:%_+*~#&\[\]=/;-]"
_PUNCT = r"[\.,?!]*?"
_URL_FULL = re.compile(
    rf"((?:{_PROTOCOLS})(?:(?:{_AUTH})?(?:{_DOMAIN}|{_IP})/?(?:{_TRAIL})?))({_PUNCT})"
)
# E-mail addresses are found from their "@" outwards: the same matches as Drupal's
# pattern without trying it at every position of every word.
_EMAIL_DOMAIN = re.compile(r"(?:[\w.+-]+\.)+[^\W\d_]{2,64}\b")
_URL_WWW = re.compile(rf"(www\.(?:{_DOMAIN})/?(?:{_TRAIL})?)({_PUNCT})")
_PROTOCOL_HINT = re.compile(
    ":(?:" + "|".join(f"(?<={p}:)" for p in sorted(ALLOWED_PROTOCOLS)) + ")"
)
_URL_SKIP = frozenset({"a", "script", "style", "code", "pre"})

_Piece = str | tuple[str, str]


_Span = tuple[int, int, str]


def _regex_spans(pattern: re.Pattern[str], prefix: str) -> Callable[[str], Iterator[_Span]]:
    def spans(text: str) -> Iterator[_Span]:
        for m in pattern.finditer(text):
            yield m.start(), m.end(1), prefix + m.group(1)

    return spans


def _email_spans(text: str) -> Iterator[_Span]:
    """Drupal's e-mail pattern, matched outwards from each "@"."""
    pos = 0
    at = text.find("@")
    while at != -1:
        start = at
        while (
            start > pos
            and at - start < 254
            and (text[start - 1].isalnum() or text[start - 1] in "._+-")
        ):
            start -= 1
        domain = _EMAIL_DOMAIN.match(text, at + 1) if start < at else None
        if domain:
            yield start, domain.end(), "mailto:" + text[start : domain.end()]
            pos = domain.end()
        at = text.find("@", max(at + 1, pos))


_FULL_SPANS = _regex_spans(_URL_FULL, "")
_WWW_SPANS = _regex_spans(_URL_WWW, "http://")


def _linkify(text: str, max_length: int) -> list[_Piece] | None:
    """Split text into plain strings and (href, caption) links, as _filter_url() would."""
    finders: list[Callable[[str], Iterator[_Span]]] = []
    if ":" in text and _PROTOCOL_HINT.search(text):
        finders.append(_FULL_SPANS)
    if "@" in text:
        finders.append(_email_spans)
    if "www." in text:
        finders.append(_WWW_SPANS)
    if not finders:
        return None
    pieces: list[_Piece] = [text]
    for find in finders:
        out: list[_Piece] = []
        for piece in pieces:
            if not isinstance(piece, str):
                out.append(piece)
                continue
            pos = 0
            for start, end, href in find(piece):
                caption = piece[start:end]
                if max_length and len(caption) > max_length + 3:
                    caption = caption[:max_length] + "..."
                out.append(piece[pos:start])
                out.append((href, caption))
                pos = end
            out.append(piece[pos:])
        pieces = out
    return pieces if len(pieces) > 1 else None


@lru_cache(maxsize=8)
def _candidate_texts(conditions: tuple[str, ...]) -> etree.XPath:
    return etree.XPath(".//text()[" + " or ".join(conditions) + "]")


def _apply_filter_url(root: etree._Element, max_length: int, stats: _Counter) -> None:
    """Turn URLs and e-mail addresses in text (not inside a/code/pre...) into links."""
    visible = etree.tostring(root, method="text", encoding="unicode")
    conditions: list[str] = []
    if "@" in visible:
        conditions.append("contains(., '@')")
    if "www." in visible:
        conditions.append("contains(., 'www.')")
    if ":" in visible and _PROTOCOL_HINT.search(visible):
        conditions.append("contains(., ':')")
    if not conditions:
        return
    for found in _candidate_texts(tuple(conditions))(root):
        # Most candidates hold a ':' and no link: look for one before climbing the tree.
        pieces = _linkify(str(found), max_length)
        if pieces is None:
            continue
        owner = found.getparent()
        is_tail = found.is_tail
        container = owner.getparent() if is_tail else owner
        if container.tag in _URL_SKIP or any(a.tag in _URL_SKIP for a in container.iterancestors()):
            continue
        links: list[etree._Element] = []
        lead = pieces[0] if isinstance(pieces[0], str) else ""
        for piece in pieces[1:] if isinstance(pieces[0], str) else pieces:
            if isinstance(piece, str):
                links[-1].tail = (links[-1].tail or "") + piece
            else:
                a = etree.Element("a", href=piece[0])
                a.text = piece[1]
                links.append(a)
        stats.add("urls_linked", len(links))
        if is_tail:
            owner.tail = lead
            index = container.index(owner) + 1
        else:
            owner.text = lead
            index = 0
        container[index:index] = links


# --------------------------------------------------------------------------- links


@dataclass(frozen=True, slots=True)
class Resolution:
    """Where an internal path goes on the target.

    ``kind`` is one of node, term, file, home, missing_term, unknown; ``url`` is None
    when nothing is known (the link is then left as it was and reported).
    """

    kind: str
    url: str | None = None


class LinkResolver(Protocol):
    """What clean_body needs to rewrite links; MapLinkResolver is the stock one."""

    def parse(self, href: str) -> InternalLink | None:
        """The internal path of a link into the old site, or None for any other link."""
        ...

    def resolve(self, path: str) -> Resolution:
        """Where an internal path ('node/12', 'tin-tuc/abc', 'sites/...') goes now."""
        ...


def _host_and_base(url: str) -> tuple[str, str]:
    parts = urlsplit(url if "//" in url else "//" + url)
    return normalise_host(parts.hostname or ""), parts.path.strip("/")


_ID_PAGES = ("node/", "taxonomy/term/")


class MapLinkResolver:
    """Resolves old-site links from plain mappings the export engine already holds.

    ``base_urls``: every URL the old site answered on (scheme is ignored; a path
    such as ``http://host/drupal`` sets the base path).  ``alias_to_source`` maps
    url_alias.alias to url_alias.source.  ``file_url`` receives the file's
    ``public://`` URI (image-style derivatives are mapped to their original) and
    returns the exported URL.  ``term_repairs`` maps a deleted tid to the tid that
    replaces it, whose URL must be in ``term_urls``.
    """

    def __init__(
        self,
        base_urls: Iterable[str],
        node_urls: Mapping[int, str],
        *,
        alias_to_source: Mapping[str, str] | None = None,
        file_url: Callable[[str], str | None] | None = None,
        term_urls: Mapping[int, str] | None = None,
        missing_tids: AbstractSet[int] = frozenset(),
        term_repairs: Mapping[int, int] | None = None,
        files_path: str = "sites/default/files",
        home_url: str | None = None,
    ) -> None:
        bases = [_host_and_base(u) for u in base_urls]
        self.hosts = frozenset(h for h, _ in bases if h)
        self.base_path = next((p for _, p in bases if p), "")
        self.node_urls = node_urls
        self.aliases = {
            unicodedata.normalize("NFC", unquote(a).strip("/")): s.strip("/")
            for a, s in (alias_to_source or {}).items()
        }
        self.file_url = file_url
        self.term_urls = term_urls or {}
        self.missing_tids = missing_tids
        self.term_repairs = term_repairs or {}
        self.files_prefix = files_path.strip("/") + "/"
        self.home_url = home_url

    def parse(self, href: str) -> InternalLink | None:
        """``parse_internal_href`` with the exporter's policy on top: a relative link to
        the front page (``/``) is left alone, since it is the front page of the new site
        too, and paths are NFC like the alias table they are looked up in."""
        link = parse_internal_href(href, self.hosts, self.base_path)
        if link is None:
            return None
        path = link.path
        if not path:
            return link if urlsplit(href.strip()).netloc else None
        if not path.isascii():
            return InternalLink(unicodedata.normalize("NFC", path), link.query, link.fragment)
        return link

    def resolve(self, path: str) -> Resolution:
        if not path:
            return Resolution("home", self.home_url)
        source = self.aliases.get(path, path)
        # Sub-paths (node/5/edit, taxonomy/term/5/feed) are other pages: not rewritten.
        if source.startswith(_ID_PAGES):
            if (nid := node_id_of(source, exact=True)) is not None:
                return Resolution("node", self.node_urls.get(nid))
            if (tid := term_id_of(source, exact=True)) is not None:
                if tid in self.missing_tids:
                    repaired = self.term_repairs.get(tid)
                    return Resolution("missing_term", self.term_urls.get(repaired or -1))
                return Resolution("term", self.term_urls.get(tid))
        if source.startswith(self.files_prefix):
            rel = source[len(self.files_prefix) :]
            if rel.startswith("styles/") and rel.count("/") >= 3:
                rel = rel.split("/", 3)[3]
            return Resolution("file", self.file_url("public://" + rel) if self.file_url else None)
        return Resolution("unknown")


_HTML_SPACE = " \t\r\n\f"
_LINK_ATTRS = {"a": "href", "img": "src", "area": "href"}


def _rewrite_link(
    el: etree._Element, attr: str, links: LinkResolver, stats: _Counter, problems: list[str]
) -> None:
    href = el.get(attr)
    if not href:
        return
    link = links.parse(href)
    if link is None:
        return
    res = links.resolve(link.path)
    if res.kind == "missing_term":
        stats.add("links_to_missing_terms")
        if res.url is None:
            problems.append(f"link to a deleted term, no repair mapping: {href}")
            return
        stats.add("links_missing_term_fixed")
    elif res.url is None:
        stats.add("links_unresolved")
        problems.append(f"unresolved internal link ({res.kind}): {href}")
        return
    url = res.url
    if link.query:
        query = "&".join(p for p in link.query.split("&") if p and not p.startswith("itok="))
        if query:
            url += ("&" if "?" in url else "?") + query
    if link.fragment:
        url += "#" + link.fragment
    if url != href:
        el.set(attr, url)
        kind = "term" if res.kind == "missing_term" else res.kind
        stats.add(f"links_rewritten_{kind}")


# --------------------------------------------------------------------------- Word debris

# The bulk of Word debris is removed from the string just before parsing: a few C-level
# substitutions are an order of magnitude cheaper than touching each lxml element.  What
# these patterns do not catch (multi-class attributes, odd quoting) the tree pass handles.
_WORD_OPEN = re.compile(rb"<[a-zA-Z][\w-]*:[\w-]+(?:\s[^>]*)?>")
_WORD_CLOSE = re.compile(rb"</[a-zA-Z][\w-]*:[\w-]+\s*>")
_FONT_OPEN = re.compile(rb"<(?:font|FONT|Font)(?:\s[^>]*)?>")
_FONT_CLOSE = re.compile(rb"</(?:font|FONT|Font)\s*>")
# Patterns start with a literal so the regex engine can skip ahead; Word writes its
# classes and styles in one spelling, and whatever slips through is caught on the tree.
_MSO_CLASS = re.compile(rb""" class=(?:"Mso[\w-]*"|'Mso[\w-]*'|Mso[\w-]*(?=[\s/>]))""")
_MSO_DECL = re.compile(rb"""mso-(?<=["';\s]mso-)[\w-]+\s*:(?:&\w+;|&#\d+;|[^;"'&>])*(?:;\s*)?""")
_EMPTY_STYLE = re.compile(rb""" style=(?:"[\s;]*"|'[\s;]*')""")


def _strip_word_markup(data: bytes, stats: _Counter) -> bytes:
    """Remove prefixed Word tags (<o:p>, <st1:*>), <font>, class="Mso*" and mso-* styles."""
    if b":" in data:
        data, n = _WORD_OPEN.subn(b"", data)
        stats.add("word_tags_removed", n)
        if n:
            data = _WORD_CLOSE.sub(b"", data)
    if b"<font" in data or b"<FONT" in data or b"<Font" in data:
        data, n = _FONT_OPEN.subn(b"", data)
        stats.add("font_tags_unwrapped", n)
        data = _FONT_CLOSE.sub(b"", data)
    if b"Mso" in data:
        data, n = _MSO_CLASS.subn(b"", data)
        stats.add("mso_classes_removed", n)
    if b"mso-" in data:
        data, n = _MSO_DECL.subn(b"", data)
        stats.add("mso_styles_removed", n)
        data = _EMPTY_STYLE.sub(b"", data)
    return data


# --------------------------------------------------------------------------- tree pass

_PARSER = etree.HTMLParser(remove_comments=True, remove_pis=True, no_network=True, encoding="utf-8")
_URL_ATTRS = frozenset({"href", "src", "action", "formaction", "background", "data", "poster"})
_URL_NOISE = re.compile(r"[\x00-\x20]+")
_COMMENT = re.compile(rb"<!--.*?-->", re.S)
_REVEALED = re.compile(rb"<!\[(?:end)?if[^\]]*\]>", re.I)


def _remove(el: etree._Element) -> None:
    """Drop an element and its content, keeping the text that follows it."""
    parent = el.getparent()
    if el.tail:
        prev = el.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + el.tail
        else:
            parent.text = (parent.text or "") + el.tail
    parent.remove(el)


def _unwrap(el: etree._Element) -> None:
    """Replace an element by its content (text and children)."""
    parent = el.getparent()
    children = list(el)
    text = el.text or ""
    if children:
        children[-1].tail = (children[-1].tail or "") + (el.tail or "")
    else:
        text += el.tail or ""
    prev = el.getprevious()
    if prev is not None:
        prev.tail = (prev.tail or "") + text
    else:
        parent.text = (parent.text or "") + text
    index = parent.index(el)
    parent[index : index + 1] = children


def _clean_style(value: str) -> tuple[str, int]:
    kept: list[str] = []
    dropped = 0
    for decl in value.split(";"):
        prop = decl.split(":", 1)[0].strip().lower()
        if not prop:
            continue
        if prop.startswith("mso-"):
            dropped += 1
        else:
            kept.append(decl.strip())
    return "; ".join(kept), dropped


_SAFE_DATA = (
    "data:image/png",
    "data:image/jpeg",
    "data:image/jpg",
    "data:image/gif",
    "data:image/webp",
)
"""Inline images a page may show (``src``); any other data: URL can carry a document."""
_UNSAFE_CSS = ("javascript:", "vbscript:", "expression(", "-moz-binding", "behavior:")


def _is_script_url(value: str, name: str = "href") -> bool:
    """A URL that runs script: javascript:, vbscript:, or data: other than a plain image."""
    squeezed = _URL_NOISE.sub("", value).lower()
    if squeezed.startswith(("javascript:", "vbscript:")):
        return True
    return squeezed.startswith("data:") and not (
        name in ("src", "poster") and squeezed.startswith(_SAFE_DATA)
    )


_UNSAFE_CSS_FOUND = re.compile("|".join(re.escape(bad) for bad in _UNSAFE_CSS)).search
_STYLE_MEMO = 256
"""Style attributes up to this length are remembered (Word repeats a handful of styles
on every paragraph); longer ones, rare and unbounded, are checked each time."""


def _unsafe_css(css: str) -> bool:
    squeezed = _URL_NOISE.sub("", css).lower().replace("\\", "")
    return _UNSAFE_CSS_FOUND(squeezed) is not None


_unsafe_css_memo = lru_cache(maxsize=2048)(_unsafe_css)


def _unsafe_style(value: str) -> bool:
    """``_unsafe_css`` for a style attribute: checked ~5 times per body, mostly the same."""
    return _unsafe_css_memo(value) if len(value) <= _STYLE_MEMO else _unsafe_css(value)


def _needs_attribute_cleaning(items: list[tuple[str, str]]) -> bool:
    """A cheap look at an element's attributes; most elements need nothing."""
    for name, value in items:
        if name == "style":
            if "mso-" in value or "MSO-" in value or _unsafe_style(value):
                return True
        elif name == "class":
            if "Mso" in value:
                return True
        elif (
            name[:2] == "on"
            or ":" in name
            or name[:5] == "xmlns"
            or name == "srcdoc"
            or _odd_url(name, value)
        ):
            return True
    return False


def _odd_url(name: str, value: str) -> bool:
    if name not in _URL_ATTRS:
        return False
    low = value.lower()
    return "script" in low or "data:" in low or low[:5] == "file:"


def _clean_attributes(
    el: etree._Element, allow_scripts: bool, stats: _Counter, problems: list[str]
) -> None:
    attrib = el.attrib
    for name, value in el.items():
        if name == "class":
            if "Mso" in value:
                kept = " ".join(c for c in value.split() if not c.startswith("Mso"))
                stats.add("mso_classes_removed")
                if kept:
                    attrib[name] = kept
                else:
                    del attrib[name]
        elif name == "style" and not _unsafe_style(value):
            if "mso-" in value.lower():
                style, dropped = _clean_style(value)
                stats.add("mso_styles_removed", dropped)
                if style:
                    attrib[name] = style
                else:
                    del attrib[name]
        elif name.startswith("xmlns") or ":" in name:
            del attrib[name]
            stats.add("xmlns_removed")
        elif name == "src" and value.lower().startswith("file:"):
            problems.append(f"image points at the editor's own disk: {value}")
        elif allow_scripts:
            continue
        elif name.startswith("on"):
            del attrib[name]
            stats.add("event_handlers_removed")
        elif name in _URL_ATTRS and _is_script_url(value, name):
            del attrib[name]
            stats.add("js_urls_removed")
        elif name == "srcdoc":  # a whole document, scripts included, in the page's origin
            del attrib[name]
            stats.add("srcdoc_removed")
        elif name == "style" and _unsafe_style(value):
            del attrib[name]
            stats.add("unsafe_styles_removed")


def _is_empty_paragraph(el: etree._Element) -> bool:
    """<p></p> or <p><br></p> left by autop around removed markup; &nbsp; spacers stay."""
    if (el.text or "").strip(_HTML_SPACE):
        return False
    return all(c.tag == "br" and not (c.tail or "").strip(_HTML_SPACE) for c in el)


def _tree_pass(
    body: etree._Element,
    *,
    allow_scripts: bool,
    nofollow: bool,
    links: LinkResolver | None,
    stats: _Counter,
    problems: list[str],
) -> None:
    """Leftover Word debris, script removal and link rewriting over one tree, deepest first."""
    for el in list(
        body.iter(
            "xml", "meta", "link", "title", "head", "style", "script", "base", "animate", "set"
        )
    ):
        tag = el.tag
        if tag == "style":
            css = el.text or ""
            if "mso-" in css or "Mso" in css:
                _remove(el)
                stats.add("word_style_blocks_removed")
            elif not allow_scripts and _unsafe_css(css):
                _remove(el)
                stats.add("unsafe_styles_removed")
        elif tag == "script":
            if not allow_scripts:
                _remove(el)
                stats.add("scripts_removed")
        elif tag in ("animate", "set"):  # SVG animation can set an href to javascript:
            if not allow_scripts and "href" in el.get("attributename", "").lower():
                _remove(el)
                stats.add("scripts_removed")
        elif tag == "base":  # would send every relative link of the page elsewhere
            _remove(el)
            stats.add("base_removed")
        else:
            _remove(el)
            stats.add("word_tags_removed")
    for el in reversed(list(body.iter())):
        if el is body:
            break
        tag = el.tag
        if not isinstance(tag, str):
            continue
        items = el.items()
        if items and _needs_attribute_cleaning(items):
            _clean_attributes(el, allow_scripts, stats, problems)
        if ":" in tag:
            _unwrap(el)
            stats.add("word_tags_removed")
        elif tag == "font":
            _unwrap(el)
            stats.add("font_tags_unwrapped")
        elif tag == "span" and not el.keys():
            if len(el) or el.text:
                _unwrap(el)
                stats.add("bare_spans_unwrapped")
            else:
                _remove(el)
                stats.add("empty_spans_removed")
        elif tag == "p" and _is_empty_paragraph(el):
            _remove(el)
            stats.add("empty_paragraphs_removed")
        elif tag in _LINK_ATTRS:
            if links is not None:
                _rewrite_link(el, _LINK_ATTRS[tag], links, stats, problems)
            if nofollow and tag == "a" and el.get("rel") != "nofollow":
                el.set("rel", "nofollow")


# --------------------------------------------------------------------------- clean_body

_KNOWN_FILTERS = frozenset(
    {"filter_html", "filter_html_escape", "filter_autop", "filter_url", "filter_htmlcorrector"}
)
_PLAIN_TEXT = TextFormat(
    "plain_text",
    "Plain text",
    True,
    (
        Filter("filter", "filter_html_escape", 0, True),
        Filter("filter", "filter_url", 1, True, {"filter_url_length": DEFAULT_URL_LENGTH}),
        Filter("filter", "filter_autop", 2, True),
    ),
)
_FRAGMENT_CLOSE = re.compile(rb"</(?:body|html)\s*>", re.I)


def _strip_debris(raw: bytes, stats: _Counter) -> bytes:
    """Comments (Word's conditional ones included) and Word markup, before autop so
    that it scans a smaller string; neither changes what autop does with the rest."""
    if b"<!--" in raw:
        conditional = raw.count(b"<!--[if")
        raw, comments = _COMMENT.subn(b"", raw)
        stats.add("conditional_comments_removed", conditional)
        stats.add("comments_removed", comments - conditional)
    if b"<![" in raw:
        raw, revealed = _REVEALED.subn(b"", raw)
        stats.add("conditional_comments_removed", revealed)
    return _strip_word_markup(raw, stats)


def _url_length(flt: Filter, problems: list[str]) -> int:
    value = flt.settings.get("filter_url_length", DEFAULT_URL_LENGTH)
    try:
        return max(int(value or 0), 0)
    except (TypeError, ValueError):
        problems.append(f"filter_url_length {value!r} is not a number; {DEFAULT_URL_LENGTH} used")
        return DEFAULT_URL_LENGTH


def _as_text(data: str | bytes) -> str:
    return data.decode("utf-8") if isinstance(data, bytes) else data


def _as_bytes(data: str | bytes) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


_FILTER_ORDER: dict[int, tuple[TextFormat, list[Filter]]] = {}


def _utf8(data: str | bytes, fixed: str, utf8: bytes | None) -> bytes:
    """``_as_bytes(data)``, reusing ``utf8`` (the encoding of ``fixed``) when data is still it."""
    return utf8 if data is fixed and utf8 is not None else _as_bytes(data)


def _enabled_filters(fmt: TextFormat) -> list[Filter]:
    """Enabled filters in Drupal's run order: weight, then module, then name.

    Remembered per format object (a site has a handful; every body asks).
    """
    hit = _FILTER_ORDER.get(id(fmt))
    if hit is None or hit[0] is not fmt:
        order = sorted(
            (f for f in fmt.filters if f.status), key=lambda f: (f.weight, f.module, f.name)
        )
        if len(_FILTER_ORDER) >= 64:
            _FILTER_ORDER.clear()
        hit = _FILTER_ORDER[id(fmt)] = (fmt, order)
    return hit[1]


MAX_DEPTH = 100
"""Elements nested deeper than this are unwrapped (their text kept): libxml2 stops reading
at 256 levels and drops the rest of the document, and recursive readers of the tree
(Markdown conversion) would run out of stack."""
_TAG = re.compile(rb"<(/?)([A-Za-z][A-Za-z0-9:-]*)[^>]*>")
_VOID = frozenset(b"area base br col embed hr img input link meta param source track wbr".split())
_CLOSE_SEARCH = 16
"""How far down the open elements a closing tag looks for its opener (mis-nesting)."""


def _flatten_deep(data: bytes, stats: _Counter, problems: list[str]) -> bytes:
    """Drop the tags of elements nested past ``MAX_DEPTH``, keeping everything between them.

    A tag-level pass (no tree: a tree is what cannot be built), counting open elements
    as a browser would closely enough: void and self-closed elements do not nest, and a
    closing tag closes the nearest open element of its name.
    """
    if data.count(b"<") <= MAX_DEPTH:
        return data
    out: list[bytes] = []
    stack: list[tuple[bytes, bool]] = []
    depth = last = dropped = 0
    for m in _TAG.finditer(data):
        closing, name, whole = m.group(1), m.group(2).lower(), m.group(0)
        keep = True
        if closing:
            for i in range(len(stack) - 1, max(len(stack) - _CLOSE_SEARCH, 0) - 1, -1):
                if stack[i][0] == name:
                    keep = stack[i][1]
                    depth -= sum(1 for _, kept in stack[i:] if kept)
                    del stack[i:]
                    break
        elif name not in _VOID and not whole.endswith(b"/>"):
            keep = depth < MAX_DEPTH
            stack.append((name, keep))
            depth += keep
        if not keep:
            out.append(data[last : m.start()])
            last = m.end()
            dropped += 1
    if not dropped:
        return data
    out.append(data[last:])
    stats.add("deep_tags_dropped", dropped)
    problems.append(
        f"HTML nested deeper than {MAX_DEPTH} levels: {dropped} tags past that depth"
        " were dropped, their text kept"
    )
    return b"".join(out)


def _parse(data: bytes) -> etree._Element:
    """Parse a fragment into a <body> element; stray </body> or </html> cannot cut it short."""
    if _FRAGMENT_CLOSE.search(data):
        data = _FRAGMENT_CLOSE.sub(b"", data)
    root = etree.fromstring(b"<html><body>" + data + b"</body></html>", _PARSER)
    for error in _PARSER.error_log if _PARSER.error_log else ():
        if error.type_name == "ERR_RESOURCE_LIMIT":
            # what libxml2 read before its limit would pass for the whole body
            raise ValueError(f"the HTML parser gave up: {error.message}")
    body = root.find("body")
    body.attrib.clear()
    for extra in list(root):
        if extra is not body:
            body.append(extra)
    return body


def _serialize(body: etree._Element) -> str:
    out = etree.tostring(body, method="html", encoding="utf-8")
    return out[6:-7].decode("utf-8").strip()


def clean_body(
    value: str | bytes,
    fmt: TextFormat | None,
    *,
    links: LinkResolver | None,
    allow_scripts: bool = False,
) -> CleanResult:
    """Render a body the way its Drupal text format did, then clean it for a new platform.

    ``fmt`` None means the body's format does not exist: it is treated as plain text
    and reported.  ``allow_scripts`` keeps <script>, on* handlers and javascript:
    URLs that full_html let through.  Never raises on malformed input.
    """
    stats = _Counter()
    problems: list[str] = []
    if isinstance(value, bytes):
        raw = value
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(f"invalid UTF-8 at byte {exc.start}; undecodable bytes replaced")
            value = raw.decode("utf-8", errors="replace")
            stats.add("invalid_bytes_replaced", value.count("\ufffd"))
    text, utf8 = _fix_unicode_utf8(value, stats, problems)
    fixed = text

    if fmt is None:
        problems.append("unknown text format: rendered as plain text")
        fmt = _PLAIN_TEXT
    elif not fmt.status:
        problems.append(f"text format {fmt.format!r} is disabled; its filters were applied")

    url_length: int | None = None
    nofollow = False
    data: str | bytes = text
    stripped = False
    for flt in _enabled_filters(fmt):
        name = flt.name
        if name == "filter_html":
            allowed = _allowed_tags(str(flt.settings.get("allowed_html", DEFAULT_ALLOWED_HTML)))
            data = _filter_xss(_as_text(data), allowed, stats).strip()
            nofollow = bool(flt.settings.get("filter_html_nofollow", 0))
        elif name == "filter_html_escape":
            text = _as_text(data)
            data = html.escape(text, quote=True).strip()
            if data != text:
                stats.add("html_escaped")
        elif name == "filter_autop":
            if not stripped:
                data, stripped = _strip_debris(_utf8(data, fixed, utf8), stats), True
            data = _filter_autop(_as_bytes(data), stats)
        elif name == "filter_url":
            url_length = _url_length(flt, problems)
        elif name not in _KNOWN_FILTERS:
            problems.append(f"filter {flt.module}/{name} is not supported and was not applied")

    raw = _as_bytes(data) if stripped else _strip_debris(_utf8(data, fixed, utf8), stats)
    raw = _flatten_deep(raw, stats, problems)
    try:
        body = _parse(raw)
    except (etree.LxmlError, ValueError) as exc:
        problems.append(f"body could not be parsed as HTML ({exc}); exported escaped")
        return CleanResult(f"<p>{html.escape(_as_text(raw))}</p>", dict(stats), problems)
    if url_length is not None:
        _apply_filter_url(body, url_length, stats)
    _tree_pass(
        body,
        allow_scripts=allow_scripts,
        nofollow=nofollow,
        links=links,
        stats=stats,
        problems=problems,
    )
    return CleanResult(_serialize(body), dict(stats), problems)


# --------------------------------------------------------------------------- slugs


_CLEAN_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
"""A slug ``slugify`` returns unchanged (when no longer than ``max_length``)."""


def slugify_vi(title: str, max_length: int = 80) -> str:
    """ASCII slug for a Vietnamese title: diacritics dropped, đ/Đ → d, cut at a word."""
    if len(title) <= max_length and _CLEAN_SLUG.fullmatch(title):
        return title  # already a slug (a page's path, a slug given back): ~150 us saved
    # An explicit backend: "auto" retries a failing ``import unidecode`` on every call (~45 us).
    return slugify(
        title,
        max_length=max_length,
        word_boundary=True,
        save_order=True,
        backend="text-unidecode",
    )


class SlugRegistry:
    """Hands out slugs unique per scope; the same titles in the same order give the same slugs."""

    def __init__(self, max_length: int = 80) -> None:
        self.max_length = max_length
        self._taken: dict[str, set[str]] = {}
        self._next: dict[tuple[str, str], int] = {}

    def reserve(self, scope: str, slug: str) -> bool:
        """Mark a slug as used (e.g. from an earlier run); False if it already was."""
        taken = self._taken.setdefault(scope, set())
        if slug in taken:
            return False
        taken.add(slug)
        return True

    def claim(self, scope: str, title: str, *, fallback: str = "untitled") -> str:
        """A new slug for ``title`` in ``scope``: the plain slug, else -2, -3, ..."""
        base = slugify_vi(title, self.max_length) or fallback
        taken = self._taken.setdefault(scope, set())
        slug = base
        n = self._next.get((scope, base), 2)
        while slug in taken:
            suffix = f"-{n}"
            slug = base[: self.max_length - len(suffix)].rstrip("-") + suffix
            n += 1
        if slug != base:
            self._next[(scope, base)] = n
        taken.add(slug)
        return slug
