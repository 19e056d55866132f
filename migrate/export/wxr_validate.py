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

import sqlite3
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from lxml import etree

WP = "http://wordpress.org/export/1.2/"
DC = "http://purl.org/dc/elements/1.1/"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
EXCERPT = "http://wordpress.org/export/1.2/excerpt/"
NS = {"wp": WP, "dc": DC, "content": CONTENT, "excerpt": EXCERPT}
POST_STATUSES = frozenset({"publish", "draft", "private", "pending", "future", "inherit"})
PARENTS_META = "_drupal_parents"
"""The term meta holding a term's Drupal parents as a JSON list of term ids: a WordPress
term has one parent (a tag none), a Drupal term any number."""

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


_POST_ID, _POST_TYPE, _POST_NAME = _W + "post_id", _W + "post_type", _W + "post_name"
_STATUS, _POST_DATE, _POST_DATE_GMT = _W + "status", _W + "post_date", _W + "post_date_gmt"
_PARENT, _ATTACHMENT_URL = _W + "post_parent", _W + "attachment_url"
_CREATOR, _CONTENT, _EXCERPT = (
    "{" + DC + "}creator",
    "{" + CONTENT + "}encoded",
    "{" + EXCERPT + "}encoded",
)
_POSTMETA, _COMMENT, _COMMENTMETA = _W + "postmeta", _W + "comment", _W + "commentmeta"
_META_KEY, _META_VALUE = _W + "meta_key", _W + "meta_value"


def _meta_pair(el: etree._Element) -> tuple[str, str]:
    m = _fields(el)
    return m.get(_META_KEY, ""), m.get(_META_VALUE, "")


def _item(el: etree._Element) -> WxrItem:
    """One ``<item>``, its children visited once (each visit makes an lxml proxy: the
    validation of every file the WXR writer writes spends most of its time here)."""
    f: dict[str, str] = {}
    terms: list[tuple[str, str, str]] = []
    postmeta: list[tuple[str, str]] = []
    comments: list[WxrComment] = []
    for child in el:
        tag = child.tag
        if tag == _POSTMETA:
            postmeta.append(_meta_pair(child))
        elif tag == _COMMENT:
            comments.append(_comment(child))
        elif tag == "category":
            terms.append((child.get("domain") or "", child.get("nicename") or "", child.text or ""))
        elif isinstance(tag, str) and tag not in f:
            f[tag] = child.text or ""
    return WxrItem(
        post_id=_to_int(f.get(_POST_ID)),
        title=f.get("title", ""),
        post_type=f.get(_POST_TYPE, ""),
        post_name=f.get(_POST_NAME, ""),
        status=f.get(_STATUS, ""),
        post_date=f.get(_POST_DATE, ""),
        post_date_gmt=f.get(_POST_DATE_GMT, ""),
        creator=f.get(_CREATOR, ""),
        guid=f.get("guid", ""),
        content=f.get(_CONTENT, ""),
        excerpt=f.get(_EXCERPT, ""),
        parent=_to_int(f.get(_PARENT)),
        attachment_url=f.get(_ATTACHMENT_URL),
        terms=terms,
        postmeta=postmeta,
        comments=comments,
    )


def _comment(el: etree._Element) -> WxrComment:
    m: dict[str, str] = {}
    meta: list[tuple[str, str]] = []
    for child in el:
        tag = child.tag
        if tag == _COMMENTMETA:
            meta.append(_meta_pair(child))
        elif isinstance(tag, str) and tag not in m:
            m[tag] = child.text or ""
    return WxrComment(
        comment_id=_to_int(m.get(_W + "comment_id")),
        parent=_to_int(m.get(_W + "comment_parent")),
        author=m.get(_W + "comment_author", ""),
        user_id=_to_int(m.get(_W + "comment_user_id")),
        date=m.get(_W + "comment_date", ""),
        approved=m.get(_W + "comment_approved", ""),
        content=m.get(_W + "comment_content", ""),
        meta=tuple(meta),
    )


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


@dataclass(frozen=True, slots=True)
class ItemKey:
    """What the cross-file check needs of one item: its identity, never its content."""

    post_id: int
    post_type: str
    post_name: str
    title: str
    post_date: str
    thumbnails: tuple[str, ...]

    @property
    def title_date(self) -> tuple[str, str, str]:
        """What ``title_date_key`` folds into the key ``post_exists`` matches on."""
        return self.post_type, self.title, self.post_date

    @classmethod
    def of(cls, item: WxrItem) -> ItemKey:
        return cls(
            item.post_id,
            item.post_type,
            item.post_name,
            item.title,
            item.post_date,
            tuple(item.meta("_thumbnail_id")),
        )


SET_CHECK_TABLES = (
    "CREATE TABLE IF NOT EXISTS check_ids (post_id INTEGER PRIMARY KEY, place TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS check_names (type TEXT, name TEXT, place TEXT NOT NULL,"
    " PRIMARY KEY (type, name)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS check_title_dates (type TEXT, title TEXT, date TEXT,"
    " place TEXT NOT NULL, PRIMARY KEY (type, title, date)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS check_attachments (post_id INTEGER PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS check_files (name TEXT PRIMARY KEY, digest TEXT NOT NULL,"
    " items INTEGER NOT NULL) WITHOUT ROWID",
)
"""The cross-file check's tables, in a SQLite database of the caller's: one statement
each, run inside the caller's transaction (``executescript`` would commit it)."""
_CHECK_TABLE_NAMES = (
    "check_ids",
    "check_names",
    "check_title_dates",
    "check_attachments",
    "check_files",
)
CHECK_CHUNK = 1000
"""Items ``SetCheck`` records at once when none of them can clash."""
_CHUNK_TABLE = (
    "CREATE TEMP TABLE IF NOT EXISTS check_chunk (post_id INTEGER, type TEXT, name TEXT,"
    " td_type TEXT, td_title TEXT, td_date TEXT, place TEXT)"
)


_Keyed = tuple[ItemKey, str, tuple[str, str, str]]
"""An item, where it is (for messages) and its ``title_date_key``."""


class SetCheck:
    """The checks across the files of one export, file by file in import order: a post
    id, a post name (per type, attachments against every post) or a title+date key
    used twice, and a ``_thumbnail_id`` that is no attachment of the export.

    Ids, names and keys go to SQLite (``db``, with ``SET_CHECK_TABLES``), so the memory
    stays flat however many items the export holds; ``tick`` is called once per item
    (the caller commits now and then). The tables are emptied here unless ``kept``:
    then they go on from a check of an earlier run, whose files (``held``) the caller
    has found unchanged.
    """

    def __init__(
        self,
        db: sqlite3.Connection,
        known_attachments: Iterable[int] = (),
        tick: Callable[[], None] = lambda: None,
        kept: bool = False,
    ) -> None:
        self.db = db
        self.tick = tick
        self.known = set(known_attachments)
        for statement in SET_CHECK_TABLES:
            db.execute(statement)
        if not kept:
            self.reset()
        rows = db.execute("SELECT post_id FROM check_attachments")
        self.attachments: set[int] = self.known | {int(post_id) for (post_id,) in rows}

    def reset(self) -> None:
        """Forget every file added: the check starts again from nothing."""
        for table in _CHECK_TABLE_NAMES:
            self.db.execute(f"DELETE FROM {table}")
        self.attachments = set(self.known)

    def held(self) -> dict[str, tuple[str, int]]:
        """The files ``hold`` recorded: name → (digest of the bytes checked, items)."""
        rows = self.db.execute("SELECT name, digest, items FROM check_files")
        return {str(name): (str(digest), int(items)) for name, digest, items in rows}

    def hold(self, name: str, digest: str, items: int) -> None:
        """Record that file ``name``, these bytes, is in the check (for a later run)."""
        self.db.execute(
            "INSERT OR REPLACE INTO check_files VALUES (?, ?, ?)", (name, digest, items)
        )

    def _place(self, sql: str, params: tuple[Any, ...]) -> str | None:
        row = self.db.execute(sql, params).fetchone()
        return None if row is None else str(row[0])

    def _record(self, table: str, where: str, key: tuple[Any, ...], place: str) -> str | None:
        """Record ``place`` under ``key``; the place recorded there before, if any.

        One insert in the usual case (a key met for the first time).
        """
        marks = ", ".join("?" * (len(key) + 1))
        if self.db.execute(
            f"INSERT OR IGNORE INTO {table} VALUES ({marks})", (*key, place)
        ).rowcount:
            return None
        seen = self._place(f"SELECT place FROM {table} WHERE {where}", key)
        self.db.execute(f"INSERT OR REPLACE INTO {table} VALUES ({marks})", (*key, place))
        return seen

    def add(
        self, name: str, items: Iterable[ItemKey], thumbnails: list[tuple[str, str]] | None = None
    ) -> list[Issue]:
        """The issues of file ``name``'s items against themselves and every file added before.

        ``items`` may stream. Each ``_thumbnail_id`` is checked once the whole file is
        read (it may name an attachment written after its post in the file), or, given
        ``thumbnails``, added to it as (place, value) for the caller to check later.
        """
        issues: list[Issue] = []
        pending: list[tuple[str, str]] = []
        stream = iter(items)
        while chunk := list(islice(stream, CHECK_CHUNK)):
            keyed = [
                (item, f"{name} item {item.post_id}", title_date_key(*item.title_date))
                for item in chunk
            ]
            if not self._add_at_once(name, keyed):
                for item, where, key in keyed:
                    issues += self._add_one(name, item, where, key)
            attachments = [item.post_id for item, _, _ in keyed if item.post_type == "attachment"]
            self.attachments.update(attachments)
            self.db.executemany(
                "INSERT OR IGNORE INTO check_attachments VALUES (?)", ((a,) for a in attachments)
            )
            for item, where, _ in keyed:
                self.tick()
                pending += [(where, value) for value in item.thumbnails]
        if thumbnails is not None:
            thumbnails += pending
        else:
            issues += self.thumbnail_issues(name, pending)
        return issues

    def _add_at_once(self, name: str, keyed: list[_Keyed]) -> bool:
        """Record a chunk of items with a few set-wise statements, when none of them can
        meet an issue; False (nothing recorded): ``_add_one`` them in turn.

        Cautious: a post name met before in any type sends the chunk the slow way, which
        tells a real clash (same type; attachments against every post) from none.
        """
        names = [item.post_name for item, _, _ in keyed if item.post_name]
        if (
            len({item.post_id for item, _, _ in keyed}) < len(keyed)
            or len({key for _, _, key in keyed}) < len(keyed)
            or len(set(names)) < len(names)
        ):
            return False
        db = self.db
        db.execute(_CHUNK_TABLE)
        db.execute("DELETE FROM temp.check_chunk")
        db.executemany(
            "INSERT INTO temp.check_chunk VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                (item.post_id, item.post_type, item.post_name, *key, where)
                for item, where, key in keyed
            ),
        )
        clash = db.execute(
            "SELECT 1 FROM temp.check_chunk b WHERE"
            " EXISTS (SELECT 1 FROM check_ids c WHERE c.post_id = b.post_id)"
            " OR EXISTS (SELECT 1 FROM check_title_dates t"
            " WHERE t.type = b.td_type AND t.title = b.td_title AND t.date = b.td_date)"
            " OR (b.name != '' AND EXISTS (SELECT 1 FROM check_names n"
            " WHERE n.type = '*' AND n.name = b.name)) LIMIT 1"
        ).fetchone()
        if clash is not None:
            return False
        db.execute("INSERT INTO check_ids SELECT post_id, ? FROM temp.check_chunk", (name,))
        for kind in ("type", "'*'"):  # an empty name may repeat: the last place stays
            db.execute(
                f"INSERT OR REPLACE INTO check_names SELECT {kind}, name, place"
                " FROM temp.check_chunk ORDER BY rowid"
            )
        db.execute(
            "INSERT INTO check_title_dates SELECT td_type, td_title, td_date, place"
            " FROM temp.check_chunk"
        )
        return True

    def _add_one(
        self, name: str, item: ItemKey, where: str, key: tuple[str, str, str]
    ) -> list[Issue]:
        """One item against every item recorded before it, and recorded."""
        issues: list[Issue] = []
        seen = self._record("check_ids", "post_id = ?", (item.post_id,), name)
        if seen:
            issues.append(Issue(name, "post_id_duplicate", f"{where} also in {seen}"))
        issues += self._name(name, where, item)
        seen = self._record("check_title_dates", "type = ? AND title = ? AND date = ?", key, where)
        if seen:
            issues.append(
                Issue(
                    name,
                    "title_date_collision",
                    f"{where} has the title and date of {seen}: the importer"
                    " would skip it and give its comments to the other",
                )
            )
        return issues

    def _name(self, name: str, where: str, item: ItemKey) -> list[Issue]:
        """wp_unique_post_slug: the same post type, and attachments against every post."""
        seen = self._record(
            "check_names", "type = ? AND name = ?", (item.post_type, item.post_name), where
        )
        sql = "SELECT place FROM check_names WHERE type = ? AND name = ?"
        if not seen and item.post_type != "attachment":
            seen = self._place(sql, ("attachment", item.post_name))
        if not seen and item.post_type == "attachment":
            seen = self._place(sql, ("*", item.post_name))
        self.db.execute(
            "INSERT OR REPLACE INTO check_names VALUES (?, ?, ?)", ("*", item.post_name, where)
        )
        if item.post_name and seen:
            message = f"{where} post_name {item.post_name!r} already used by {seen}"
            return [Issue(name, "post_name_duplicate", message)]
        return []

    def thumbnail_issues(self, name: str, thumbnails: Iterable[tuple[str, str]]) -> list[Issue]:
        """Each (place, ``_thumbnail_id``) that names no attachment added or known."""
        return [
            issue
            for where, value in thumbnails
            for issue in thumbnail_issues(name, where, [value], self.attachments)
        ]


def validate_wxr(paths: Iterable[Path]) -> list[Issue]:
    """Every defect of a set of WXR files, per file and across them; empty means importable.

    Each file streams through the parser once, one item in memory at a time; the
    cross-file check keeps its keys, and the thumbnails wait for every attachment of
    the set, in a temporary SQLite file.
    """
    issues: list[Issue] = []
    with tempfile.TemporaryDirectory(prefix="validate-wxr-") as tmp:
        db = sqlite3.connect(Path(tmp) / "check.sqlite", isolation_level=None)
        try:
            db.executescript(
                "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"
                "CREATE TABLE thumbnails (file TEXT, place TEXT, value TEXT); BEGIN;"
            )  # one transaction: the file is thrown away
            check = SetCheck(db)
            for path in paths:
                issues += _validate_one(path, check, db)
            rows = db.execute("SELECT file, place, value FROM thumbnails ORDER BY rowid")
            for name, where, value in rows:
                issues += check.thumbnail_issues(name, [(where, value)])
        finally:
            db.close()
    return issues


def _validate_one(path: Path, check: SetCheck, db: sqlite3.Connection) -> list[Issue]:
    """One file of ``validate_wxr``: its own issues and those against the files before it."""
    reader = WxrReader(path)
    per_file = FileCheck(path.name)
    thumbnails: list[tuple[str, str]] = []

    def keys() -> Iterator[ItemKey]:
        for item in reader.items(file_chunks(path)):
            per_file.item(item)
            yield ItemKey.of(item)

    try:
        across = check.add(path.name, keys(), thumbnails)
    except (WxrParseError, OSError) as exc:
        message = str(exc) if isinstance(exc, WxrParseError) else f"not well-formed XML: {exc}"
        code = "cdata" if "]]>" in message or "CData" in message else "xml"
        return [Issue(path.name, code, message)]
    db.executemany("INSERT INTO thumbnails VALUES (?, ?, ?)", ((path.name, *t) for t in thumbnails))
    return per_file.finish(reader.head) + across
