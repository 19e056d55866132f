"""Reading WXR 1.2 files back, and checking them the way the WordPress Importer will fail.

The WordPress Importer (0.9.x) reads a WXR file with SimpleXML, or, when the
file is not well-formed XML, with a lenient regex parser that garbles content.
It then *silently* repairs what it does not understand: an undefined category
becomes a top-level one named after the item, a child listed before its parent
loses the parent, a repeated slug is ignored, a second post with the same
title and date is taken for the first (its comments too), an undeclared author
becomes the importing user. None of that shows as an error, so every one of
those cases is an error here. ``read_wxr`` is the strict parser the checks and
the round-trip tests share.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

WP = "http://wordpress.org/export/1.2/"
DC = "http://purl.org/dc/elements/1.1/"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
EXCERPT = "http://wordpress.org/export/1.2/excerpt/"
NS = {"wp": WP, "dc": DC, "content": CONTENT, "excerpt": EXCERPT}
POST_STATUSES = frozenset({"publish", "draft", "private", "pending", "future", "inherit"})

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=True, recover=False, strip_cdata=True
)


class WxrParseError(Exception):
    """A file that is not well-formed WXR; the message says where."""


@dataclass(frozen=True, slots=True)
class WxrTerm:
    """A ``wp:category``, ``wp:tag`` or ``wp:term``; ``taxonomy`` says which."""

    taxonomy: str
    term_id: int
    slug: str
    parent: str
    name: str
    meta: tuple[tuple[str, str], ...] = ()
    """(key, value) of its ``wp:termmeta``."""


@dataclass(frozen=True, slots=True)
class WxrComment:
    comment_id: int
    parent: int
    author: str
    user_id: int
    date: str
    approved: str
    content: str
    meta: tuple[tuple[str, str], ...] = ()
    """(key, value) of its ``wp:commentmeta``."""


@dataclass(slots=True)
class WxrItem:
    post_id: int
    title: str
    post_type: str
    post_name: str
    status: str
    post_date: str
    post_date_gmt: str
    creator: str
    guid: str
    content: str
    excerpt: str
    parent: int
    attachment_url: str | None
    terms: list[tuple[str, str, str]] = field(default_factory=list)
    postmeta: list[tuple[str, str]] = field(default_factory=list)
    comments: list[WxrComment] = field(default_factory=list)

    def meta(self, key: str) -> list[str]:
        return [v for k, v in self.postmeta if k == key]


@dataclass(slots=True)
class WxrFile:
    path: Path
    version: str
    base_site_url: str
    base_blog_url: str
    authors: dict[str, str]
    terms: list[WxrTerm]
    items: list[WxrItem]
    author_logins: list[str] = field(default_factory=list)
    author_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Issue:
    """One defect: the file, a stable code for tests and reports, and a readable message."""

    file: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.code}: {self.message}"


def title_date_key(post_type: str, title: str, post_date: str) -> tuple[str, str, str]:
    """How ``post_exists(title, '', date)`` sees a post on a default MySQL collation.

    WordPress tables use a case- and accent-insensitive collation that ignores
    trailing spaces, so "Tin tức" and "tin tuc " on the same date are one post.
    """
    folded = unicodedata.normalize("NFD", title.replace("đ", "d").replace("Đ", "D"))
    plain = folded if folded.isascii() else folded.translate(_UNMARKED)
    return post_type, plain.casefold().rstrip(), post_date


class _Unmarked(dict[int, int | None]):
    """``str.translate`` table dropping combining marks, filled in as code points are met."""

    def __missing__(self, code: int) -> int | None:
        kept = None if unicodedata.combining(chr(code)) else code
        self[code] = kept
        return kept


_UNMARKED = _Unmarked()


def _text(el: etree._Element | None, path: str) -> str:
    if el is None:
        return ""
    found = el.find(path, NS)
    return (found.text or "") if found is not None else ""


def _int(el: etree._Element, path: str) -> int:
    value = _text(el, path).strip()
    try:
        return int(value)
    except ValueError:
        return 0


def read_wxr(path: Path) -> WxrFile:
    """Parse one WXR file strictly (no recovery, no DTD, no entities)."""
    try:
        tree = etree.parse(str(path), _PARSER)
    except (etree.XMLSyntaxError, OSError) as exc:
        raise WxrParseError(f"not well-formed XML: {exc}") from exc
    return _wxr_file(path, tree)


def parse_wxr(data: bytes, path: Path) -> WxrFile:
    """``read_wxr`` of bytes already read from ``path`` (the caller keeps their digest)."""
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise WxrParseError(f"not well-formed XML: {exc}") from exc
    return _wxr_file(path, root.getroottree())


def _meta_of(el: etree._Element, tag: str) -> tuple[tuple[str, str], ...]:
    return tuple((_text(m, "wp:meta_key"), _text(m, "wp:meta_value")) for m in el.findall(tag, NS))


def _wxr_file(path: Path, tree: etree._ElementTree) -> WxrFile:
    if tree.docinfo.doctype:
        raise WxrParseError("has a DOCTYPE; the importer refuses it")
    root = tree.getroot()
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        raise WxrParseError("no <rss><channel>")
    authors: dict[str, str] = {}
    logins: list[str] = []
    ids: list[str] = []
    for a in channel.findall("wp:author", NS):
        login = _text(a, "wp:author_login")
        logins.append(login)
        ids.append(_text(a, "wp:author_id").strip())
        authors[login] = _text(a, "wp:author_display_name")
    terms: list[WxrTerm] = []
    for c in channel.findall("wp:category", NS):
        terms.append(
            WxrTerm(
                "category",
                _int(c, "wp:term_id"),
                _text(c, "wp:category_nicename"),
                _text(c, "wp:category_parent"),
                _text(c, "wp:cat_name"),
                _meta_of(c, "wp:termmeta"),
            )
        )
    for t in channel.findall("wp:tag", NS):
        terms.append(
            WxrTerm(
                "post_tag",
                _int(t, "wp:term_id"),
                _text(t, "wp:tag_slug"),
                "",
                _text(t, "wp:tag_name"),
                _meta_of(t, "wp:termmeta"),
            )
        )
    for t in channel.findall("wp:term", NS):
        terms.append(
            WxrTerm(
                _text(t, "wp:term_taxonomy"),
                _int(t, "wp:term_id"),
                _text(t, "wp:term_slug"),
                _text(t, "wp:term_parent"),
                _text(t, "wp:term_name"),
                _meta_of(t, "wp:termmeta"),
            )
        )
    items = [_item(el) for el in channel.findall("item")]
    return WxrFile(
        path,
        _text(channel, "wp:wxr_version").strip(),
        _text(channel, "wp:base_site_url").strip(),
        _text(channel, "wp:base_blog_url").strip(),
        authors,
        terms,
        items,
        logins,
        ids,
    )


def _fields(el: etree._Element) -> dict[str, str]:
    """The text of each child element, first one per tag (Clark names), in one pass."""
    out: dict[str, str] = {}
    for child in el:
        tag = child.tag
        if isinstance(tag, str) and tag not in out:
            out[tag] = child.text or ""
    return out


def _to_int(value: str | None) -> int:
    try:
        return int((value or "").strip())
    except ValueError:
        return 0


_W = "{" + WP + "}"


def _item(el: etree._Element) -> WxrItem:
    f = _fields(el)
    item = WxrItem(
        post_id=_to_int(f.get(_W + "post_id")),
        title=f.get("title", ""),
        post_type=f.get(_W + "post_type", ""),
        post_name=f.get(_W + "post_name", ""),
        status=f.get(_W + "status", ""),
        post_date=f.get(_W + "post_date", ""),
        post_date_gmt=f.get(_W + "post_date_gmt", ""),
        creator=f.get("{" + DC + "}creator", ""),
        guid=f.get("guid", ""),
        content=f.get("{" + CONTENT + "}encoded", ""),
        excerpt=f.get("{" + EXCERPT + "}encoded", ""),
        parent=_to_int(f.get(_W + "post_parent")),
        attachment_url=f.get(_W + "attachment_url"),
    )
    for c in el:
        if c.tag == "category":
            item.terms.append((c.get("domain") or "", c.get("nicename") or "", c.text or ""))
        elif c.tag == _W + "postmeta":
            m = _fields(c)
            item.postmeta.append((m.get(_W + "meta_key", ""), m.get(_W + "meta_value", "")))
        elif c.tag == _W + "comment":
            m = _fields(c)
            item.comments.append(
                WxrComment(
                    comment_id=_to_int(m.get(_W + "comment_id")),
                    parent=_to_int(m.get(_W + "comment_parent")),
                    author=m.get(_W + "comment_author", ""),
                    user_id=_to_int(m.get(_W + "comment_user_id")),
                    date=m.get(_W + "comment_date", ""),
                    approved=m.get(_W + "comment_approved", ""),
                    content=m.get(_W + "comment_content", ""),
                    meta=tuple(
                        (f.get(_W + "meta_key", ""), f.get(_W + "meta_value", ""))
                        for f in map(_fields, c.iterchildren(_W + "commentmeta"))
                    ),
                )
            )
    return item


def check_file(wxr: WxrFile) -> list[Issue]:
    """The checks that hold for one file on its own (each file is imported on its own)."""
    name = wxr.path.name
    issues: list[Issue] = []

    def add(code: str, message: str) -> None:
        issues.append(Issue(name, code, message))

    if wxr.version != "1.2":
        add("version", f"wp:wxr_version is {wxr.version!r}, expected '1.2'")
    if not wxr.base_site_url or not wxr.base_blog_url:
        add("base_url", "wp:base_site_url and wp:base_blog_url must both be set")
    seen_logins: set[str] = set()
    for login in wxr.author_logins:
        if not login:
            add("author_login", "an author without wp:author_login")
        elif login in seen_logins:
            add("author_duplicate", f"author {login!r} declared twice")
        seen_logins.add(login)

    defined: dict[str, set[str]] = {}
    for term in wxr.terms:
        slugs = defined.setdefault(term.taxonomy, set())
        label = f"{term.taxonomy} {term.name!r}"
        if not term.taxonomy:
            add("term_taxonomy", f"term {term.name!r} has no wp:term_taxonomy")
        if not term.slug:
            add("term_slug_missing", f"{label} has no slug")
            continue
        if "/" in term.slug:
            add("term_slug_slash", f"{label} slug {term.slug!r} contains '/'")
        if term.slug in slugs:
            add("term_slug_duplicate", f"{label}: slug {term.slug!r} defined twice")
        if term.parent and term.parent not in slugs:
            add(
                "term_parent_order",
                f"{label} ({term.slug}) names parent {term.parent!r}, not defined before it",
            )
        slugs.add(term.slug)

    for item in wxr.items:
        label = f"item {item.post_id} {item.title!r}"
        if item.post_id <= 0:
            add("post_id", f"{label} has no wp:post_id")
        if not item.post_type:
            add("post_type", f"{label} has no wp:post_type")
        if item.status not in POST_STATUSES:
            add("status", f"{label} has status {item.status!r}")
        if not item.post_name:
            add("post_name_missing", f"{label} has no wp:post_name")
        elif "/" in item.post_name:
            add("post_name_slash", f"{label} post_name {item.post_name!r} contains '/'")
        if item.creator not in wxr.authors:
            add("author_undeclared", f"{label} dc:creator {item.creator!r} is not a wp:author")
        if item.post_type == "attachment" and not item.attachment_url:
            add("attachment_url", f"{label} is an attachment without wp:attachment_url")
        for domain, nicename, term_name in item.terms:
            if not nicename or not domain:
                add("item_term_incomplete", f"{label} category {term_name!r} lacks domain/nicename")
            elif nicename not in defined.get(domain, set()):
                add(
                    "item_term_undefined",
                    f"{label} uses {domain} {nicename!r}, not defined in this file",
                )
        cids: set[int] = set()
        for comment in item.comments:
            if comment.comment_id in cids:
                add("comment_duplicate", f"{label} comment {comment.comment_id} twice")
            if comment.parent and comment.parent not in cids:
                add(
                    "comment_parent",
                    f"{label} comment {comment.comment_id} replies to {comment.parent},"
                    " which is not an earlier comment of this item",
                )
            cids.add(comment.comment_id)
    return issues


class SetCheck:
    """``check_set`` one file at a time: keeps only ids, names and title+date keys, no content.

    Files are checked in import order; an item may use an attachment of its own
    file or of an earlier one (``known_attachments`` are ids written elsewhere).
    """

    def __init__(self, known_attachments: Iterable[int] = ()) -> None:
        self.post_ids: dict[int, str] = {}
        self.names: dict[tuple[str, str], str] = {}
        self.title_dates: dict[tuple[str, str, str], str] = {}
        self.attachments: set[int] = set(known_attachments)

    def add(self, wxr: WxrFile) -> list[Issue]:
        """The issues of ``wxr`` against itself and every file added before."""
        issues: list[Issue] = []
        self.attachments.update(i.post_id for i in wxr.items if i.post_type == "attachment")
        name = wxr.path.name
        for item in wxr.items:
            where = f"{name} item {item.post_id}"
            if item.post_id in self.post_ids:
                issues.append(
                    Issue(
                        name, "post_id_duplicate", f"{where} also in {self.post_ids[item.post_id]}"
                    )
                )
            self.post_ids[item.post_id] = name
            # wp_unique_post_slug: same post type, and attachments against every post.
            clashes = [(item.post_type, item.post_name), ("attachment", item.post_name)]
            if item.post_type == "attachment":
                clashes.append(("*", item.post_name))
            seen = next((self.names[k] for k in clashes if k in self.names), None)
            if item.post_name and seen:
                issues.append(
                    Issue(
                        name,
                        "post_name_duplicate",
                        f"{where} post_name {item.post_name!r} already used by {seen}",
                    )
                )
            self.names[(item.post_type, item.post_name)] = where
            self.names[("*", item.post_name)] = where
            key = title_date_key(item.post_type, item.title, item.post_date)
            if key in self.title_dates:
                issues.append(
                    Issue(
                        name,
                        "title_date_collision",
                        f"{where} has the title and date of {self.title_dates[key]}: the importer"
                        " would skip it and give its comments to the other",
                    )
                )
            self.title_dates[key] = where
            for value in item.meta("_thumbnail_id"):
                if not value.isdigit() or int(value) not in self.attachments:
                    issues.append(
                        Issue(
                            name,
                            "thumbnail_missing",
                            f"{where} _thumbnail_id {value} is not an attachment in the export",
                        )
                    )
        return issues


def check_set(files: Sequence[WxrFile], known_attachments: Iterable[int] = ()) -> list[Issue]:
    """Checks across all files of one export (ids, slugs and title+date must not repeat).

    ``known_attachments``: attachment ids written in files not given here.
    """
    attachments = set(known_attachments)
    for wxr in files:
        attachments.update(i.post_id for i in wxr.items if i.post_type == "attachment")
    check = SetCheck(attachments)
    return [issue for wxr in files for issue in check.add(wxr)]


def validate_wxr(paths: Iterable[Path]) -> list[Issue]:
    """Every defect of a set of WXR files, per file and across them; empty means importable."""
    issues: list[Issue] = []
    parsed: list[WxrFile] = []
    for path in paths:
        try:
            wxr = read_wxr(path)
        except WxrParseError as exc:
            code = "cdata" if "]]>" in str(exc) or "CData" in str(exc) else "xml"
            issues.append(Issue(path.name, code, str(exc)))
            continue
        parsed.append(wxr)
        issues.extend(check_file(wxr))
    issues.extend(check_set(parsed))
    return issues
