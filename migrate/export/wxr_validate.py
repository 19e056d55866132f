"""Reading WXR 1.2 files back, and checking them the way the WordPress Importer will fail.

The WordPress Importer (0.9.x) reads a WXR file with SimpleXML, or, when the
file is not well-formed XML, with a lenient regex parser that garbles content.
It then *silently* repairs what it does not understand: an undefined category
becomes a top-level one named after the item, a child listed before its parent
loses the parent, a repeated slug is ignored, a second post with the same
title and date is taken for the first (its comments too), an undeclared author
becomes the importing user. None of that shows as an error, so every one of
those cases is an error here. ``WxrReader`` is the strict parser the writer's
checks, the read-back and the round-trip tests share (``read_wxr`` for a whole
file); it streams, so a file of any size is checked in the memory of one item.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
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


def thumbnail_issues(
    name: str, where: str, values: Iterable[str], attachments: AbstractSet[int]
) -> list[Issue]:
    """A post's ``_thumbnail_id`` values that name no attachment of the export."""
    return [
        Issue(
            name,
            "thumbnail_missing",
            f"{where} _thumbnail_id {v} is not an attachment in the export",
        )
        for v in values
        if not v.isdigit() or int(v) not in attachments
    ]


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


CHUNK = 1 << 18
"""Bytes fed to the parser at a time when a WXR file is read from disk."""


def file_chunks(path: Path) -> Iterator[bytes]:
    """The bytes of ``path``, ``CHUNK`` at a time."""
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def read_wxr(path: Path) -> WxrFile:
    """Parse one WXR file strictly (no recovery, no DTD, no entities)."""
    reader = WxrReader(path)
    try:
        reader.head.items = list(reader.items(file_chunks(path)))
    except OSError as exc:
        raise WxrParseError(f"not well-formed XML: {exc}") from exc
    return reader.head


def _meta_of(el: etree._Element, tag: str) -> tuple[tuple[str, str], ...]:
    return tuple((_text(m, "wp:meta_key"), _text(m, "wp:meta_value")) for m in el.findall(tag, NS))


_W = "{" + WP + "}"
_DECLARED = ("wxr_version", "base_site_url", "base_blog_url")
_CHANNEL_TAGS = (
    "item",
    *(_W + t for t in ("author", "category", "tag", "term", *_DECLARED)),
)


class WxrReader:
    """One WXR file parsed as its bytes stream in: one item in memory at a time.

    ``items`` yields each ``<item>`` of the channel as it ends, then drops its
    elements, so a file of any size takes the memory of its largest item; the
    channel's declarations (version, base URLs, authors, terms) collect in
    ``head`` (its ``items`` left empty), complete once ``items`` is exhausted.
    """

    def __init__(self, path: Path) -> None:
        self.head = WxrFile(path, "", "", "", {}, [], [])
        self._terms: dict[str, list[WxrTerm]] = {"category": [], "tag": [], "term": []}
        self._declared: set[str] = set()

    def items(self, chunks: Iterable[bytes]) -> Iterator[WxrItem]:
        """Each item of the file made of ``chunks``; raises ``WxrParseError`` as ``read_wxr``."""
        parser = etree.XMLPullParser(
            events=("end",),
            tag=_CHANNEL_TAGS,
            resolve_entities=False,
            no_network=True,
            huge_tree=True,
            recover=False,
            strip_cdata=True,
        )
        checked = False
        try:
            for chunk in chunks:
                parser.feed(chunk)
                for _, el in parser.read_events():
                    if not checked:
                        self._check_root(el.getroottree())
                        checked = True
                    parent = el.getparent()
                    if parent is None or parent.tag != "channel":
                        continue
                    if el.tag == "item":
                        yield _item(el)
                    else:
                        self._declaration(el)
                    el.clear(keep_tail=True)
                    while el.getprevious() is not None:
                        del parent[0]
            root = parser.close()
        except etree.XMLSyntaxError as exc:
            raise WxrParseError(f"not well-formed XML: {exc}") from exc
        if not checked:
            self._check_root(root.getroottree())
        if root.tag != "rss" or root.find("channel") is None:
            raise WxrParseError("no <rss><channel>")
        self.head.terms = [t for kind in ("category", "tag", "term") for t in self._terms[kind]]

    @staticmethod
    def _check_root(tree: etree._ElementTree) -> None:
        if tree.docinfo.doctype:
            raise WxrParseError("has a DOCTYPE; the importer refuses it")

    def _declaration(self, el: etree._Element) -> None:
        """Note a channel element other than an item (the first of each setting counts)."""
        tag = str(el.tag).removeprefix(_W)
        head = self.head
        if tag in _DECLARED:
            if tag not in self._declared:
                self._declared.add(tag)
                setattr(head, tag if tag != "wxr_version" else "version", (el.text or "").strip())
        elif tag == "author":
            login = _text(el, "wp:author_login")
            head.author_logins.append(login)
            head.author_ids.append(_text(el, "wp:author_id").strip())
            head.authors[login] = _text(el, "wp:author_display_name")
        elif tag == "category":
            self._terms[tag].append(
                WxrTerm(
                    "category",
                    _int(el, "wp:term_id"),
                    _text(el, "wp:category_nicename"),
                    _text(el, "wp:category_parent"),
                    _text(el, "wp:cat_name"),
                    _meta_of(el, "wp:termmeta"),
                )
            )
        elif tag == "tag":
            self._terms[tag].append(
                WxrTerm(
                    "post_tag",
                    _int(el, "wp:term_id"),
                    _text(el, "wp:tag_slug"),
                    "",
                    _text(el, "wp:tag_name"),
                    _meta_of(el, "wp:termmeta"),
                )
            )
        else:
            self._terms[tag].append(
                WxrTerm(
                    _text(el, "wp:term_taxonomy"),
                    _int(el, "wp:term_id"),
                    _text(el, "wp:term_slug"),
                    _text(el, "wp:term_parent"),
                    _text(el, "wp:term_name"),
                    _meta_of(el, "wp:termmeta"),
                )
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
    check = FileCheck(wxr.path.name)
    for item in wxr.items:
        check.item(item)
    return check.finish(wxr)


class FileCheck:
    """``check_file`` item by item, for a file read with ``WxrReader``.

    Keeps no content: per item only the author and the terms it uses, checked in
    ``finish`` against the file's declarations (the importer reads them all first,
    wherever they are in the file).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.issues: list[Issue] = []
        self.uses: list[tuple[str, str, list[tuple[str, str, str]]]] = []
        """(label, dc:creator, terms) of each item."""

    def item(self, item: WxrItem) -> None:
        def add(code: str, message: str) -> None:
            self.issues.append(Issue(self.name, code, message))

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
        if item.post_type == "attachment" and not item.attachment_url:
            add("attachment_url", f"{label} is an attachment without wp:attachment_url")
        self.uses.append((label, item.creator, item.terms))
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

    def finish(self, head: WxrFile) -> list[Issue]:
        """Every issue of the file, given its declarations (``WxrReader.head``)."""
        out: list[Issue] = []

        def add(code: str, message: str) -> None:
            out.append(Issue(self.name, code, message))

        if head.version != "1.2":
            add("version", f"wp:wxr_version is {head.version!r}, expected '1.2'")
        if not head.base_site_url or not head.base_blog_url:
            add("base_url", "wp:base_site_url and wp:base_blog_url must both be set")
        seen_logins: set[str] = set()
        for login in head.author_logins:
            if not login:
                add("author_login", "an author without wp:author_login")
            elif login in seen_logins:
                add("author_duplicate", f"author {login!r} declared twice")
            seen_logins.add(login)

        defined: dict[str, set[str]] = {}
        for term in head.terms:
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
        out += self.issues
        for label, creator, terms in self.uses:
            if creator not in head.authors:
                add("author_undeclared", f"{label} dc:creator {creator!r} is not a wp:author")
            for domain, nicename, term_name in terms:
                if not nicename or not domain:
                    add(
                        "item_term_incomplete",
                        f"{label} category {term_name!r} lacks domain/nicename",
                    )
                elif nicename not in defined.get(domain, set()):
                    add(
                        "item_term_undefined",
                        f"{label} uses {domain} {nicename!r}, not defined in this file",
                    )
        self.issues, self.uses = [], []
        return out


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
            issues += thumbnail_issues(name, where, item.meta("_thumbnail_id"), self.attachments)
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
