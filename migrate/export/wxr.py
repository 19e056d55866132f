"""``--to wxr``: WordPress eXtended RSS 1.2 for the WordPress Importer plugin.

Every file this writer produces imports on its own and without any of the
importer's silent repairs (see ``wxr_validate``):

* each file declares every author and every term known so far, categories and
  terms parents first (the importer looks a parent up by slug when it meets the
  child), so items never use an undefined term and files can be imported one by
  one; a term the importer already has is left alone, so repeating it is free;
* slugs are ASCII (``slugify_vi``) and unique: post names across all items,
  term slugs per taxonomy, author logins;
* two items of one post type whose title and date ``post_exists()`` would take
  for the same post (collation-insensitive title, same second) are told apart by
  moving the later one's date forward one second at a time; each move is listed
  in ``wxr-manifest.json`` under ``date_shifts`` and in the run summary;
* every text goes into CDATA with ``]]>`` split across two sections, and
  characters XML 1.0 forbids are dropped, so SimpleXML never falls back to the
  lenient regex parser;
* files hold at most ``max_items`` items (the importer loads a whole file in
  memory), and each file is parsed back and validated before its batch counts
  as done: in a checking process of its own while the next batch is built, the
  file taking its name once it passed (``settle``; ``check_written``).

Import into an empty site, files in name order: re-importing a file duplicates
every post meta row of the posts it matched by title and date (comments are
matched by author and date, so they are not duplicated). Upload ``media/`` to
``wp-content/uploads/drupal/`` first: attachments are fetched from there
(``--site-url`` + that path) and body links point there.

A node's item is written in two steps: its body, excerpt, field meta and comments
by ``PostPreparer`` (the writer's ``prepare_node``) in the node worker processes,
then what the writer's state decides (post name, date shift, author, categories,
attachment ids) in the export's process, which every node goes through.

The writer's own state (term slugs, authors, post names, date shifts) lives in
``.wxr-state/batch-NNNNN.json`` next to the files, so a resumed run gives the
same names and never writes an item twice. What of it grows with the site (post
names, title+date keys, the cross-file check) is looked up in a SQLite index built
from those files, so memory stays flat; a run that finishes keeps it for the next
(``keptindex``), which uses it while the batch files and the code are the same and
the files its check holds have the same digests. What the validation of each file
found is kept by the digest of its bytes (``.wxr-state/read`` for the read-back,
``.wxr-state/checked`` for a cross-file check built afresh), so a file left as
written is not parsed again.
"""

from __future__ import annotations

import html
import json
import multiprocessing
import os
import re
import secrets
import sqlite3
import tempfile
import zlib
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from lxml import etree

from migrate import paths
from migrate.durable import fsync_dir, write_durably
from migrate.errors import BadInput, MigrateError, StateError
from migrate.export import ItemRef, WriterOptions, register_writer
from migrate.export.children import init_child
from migrate.export.clean import SlugRegistry, slugify_vi
from migrate.export.fields import FieldValue
from migrate.export.fields import postmeta as field_postmeta
from migrate.export.keptindex import KeptIndex
from migrate.export.media import (
    ATTACHMENT_ID_OFFSET,
    NOT_PUBLISHED,
    MediaResult,
    copy_file,
    reconciliation_csv,
    summarize,
)
from migrate.export.readback import (
    WXR_READ,
    Found,
    store_wxr_found,
    teed,
    wxr_declared,
    wxr_digest,
    wxr_digest_of,
    wxr_hash,
    wxr_item,
)
from migrate.export.records import (
    AuthorRecord,
    CommentRecord,
    FileRecord,
    NodeRecord,
    PreparedRecord,
    Record,
    RedirectRecord,
    TermRecord,
    VocabularyRecord,
    fast_pickling,
)
from migrate.export.wxr_validate import (
    NS,
    PARENTS_META,
    FileCheck,
    Issue,
    ItemKey,
    SetCheck,
    WxrParseError,
    WxrReader,
    file_chunks,
    title_date_key,
)

DEFAULT_MAX_ITEMS = 500
DEFAULT_POST_TYPES = {"article": "post", "page": "page"}
TYPE_TERM_ID_OFFSET = 3_000_000
"""Term ids of the categories that stand for unmapped content types (never a tid)."""
STATE_DIR = ".wxr-state"
CHECKED = f"{STATE_DIR}/checked"
"""Per file, what the cross-file check needs of its items, kept by the digest of its bytes."""
MANIFEST = "wxr-manifest.json"
_MANIFEST_LISTS = {"date_shifts": "date_shifts", "renamed_slugs": "renames", "problems": "problems"}
"""The manifest's long lists, by the batch-state section each is gathered from."""
_FILE = re.compile(r"^wxr-(\d{5})-(\d{2})\.xml$")
_STATE_FILE = re.compile(r"^batch-(\d{1,9})\.json$")
_SECTION_OF = {
    "vocabulary": "vocabularies",
    "term": "terms",
    "author": "authors",
    "node": "posts",
    "file": "attachments",
    "emitted": "emitted",
}
"""The batch-state section an item of each kind is kept in (a redirect: none)."""
_XML_BAD = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_LOGIN_BAD = re.compile(r"[^a-z0-9_.@-]+")
_WP_DATE = "%Y-%m-%d %H:%M:%S"


def _dates(timestamp: int, tz: ZoneInfo) -> tuple[str, str]:
    """A WordPress (local, GMT) date pair of a Unix time."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return _wp_date(moment.astimezone(tz)), _wp_date(moment)


def _pub(timestamp: int) -> str:
    """An RSS ``pubDate`` of a Unix time."""
    return format_datetime(datetime.fromtimestamp(timestamp, UTC), usegmt=True)


@dataclass(frozen=True, slots=True)
class _When:
    """An item's dates with no shift, worked out once per item: the slot's search, the
    item's dates and its ``pubDate`` each formatted them again before."""

    ts: int
    local: str
    gmt: str
    pub: str

    @classmethod
    def of(cls, ts: int, tz: ZoneInfo) -> _When:
        return cls(ts, *_dates(ts, tz), _pub(ts))

    def dates(self, shift: int, tz: ZoneInfo) -> tuple[str, str]:
        """(local, GMT) once shifted by ``shift`` seconds (``_unique_date``)."""
        return (self.local, self.gmt) if not shift else _dates(self.ts + shift, tz)

    def pub_at(self, shift: int) -> str:
        return self.pub if not shift else _pub(self.ts + shift)


def _wp_date(moment: datetime) -> str:
    """``moment.strftime(_WP_DATE)``, formatted here (strftime is most of a date's cost)."""
    if not 1000 <= moment.year <= 9999:
        return moment.strftime(_WP_DATE)
    return (
        f"{moment.year}-{moment.month:02d}-{moment.day:02d}"
        f" {moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )


def cdata(text: str) -> str:
    """``text`` as CDATA that survives any content: ``]]>`` is split over two sections."""
    return "<![CDATA[" + _in_cdata(text) + "]]>"


def _in_cdata(text: str) -> str:
    """What ``cdata`` puts between ``<![CDATA[`` and ``]]>``."""
    return _XML_BAD.sub("", text).replace("]]>", "]]]]><![CDATA[>")


def esc(text: str) -> str:
    """Escaped XML character data (also safe inside double-quoted attributes)."""
    clean = _XML_BAD.sub("", text)
    return (
        clean.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def plain_html(text: str) -> str:
    """A Drupal plain-text value (title, name) as the HTML WordPress stores and prints raw.

    Drupal escaped these on output; WordPress prints a post title as HTML, and the
    importer (run by an administrator) keeps any markup in it.
    """
    return html.escape(text, quote=False)


def taxonomy_of(target: str, machine_name: str, hierarchy: int) -> str:
    """The WordPress taxonomy of a vocabulary.

    A mapping file's choice wins (a custom taxonomy must be registered before
    importing: the importer refuses terms of a taxonomy WordPress does not know).
    Unmapped, a hierarchical vocabulary becomes ``category`` and any other
    ``post_tag``, the two taxonomies every WordPress site serves (``/category/…``,
    ``/tag/…``); each term keeps its vocabulary in the ``_drupal_vocabulary`` term meta.
    """
    if target and target != machine_name:
        return target
    return "category" if hierarchy > 0 else "post_tag"


class WxrUrls:
    """WordPress addresses with the ``/%postname%/`` permalink structure.

    ``hierarchical`` and ``vocabularies`` (set by ``begin`` from the site) tell an
    unmapped vocabulary, which becomes ``category`` or ``post_tag`` (see
    ``taxonomy_of``), from a mapping's target taxonomy.
    """

    _TERM_BASES: Mapping[str, str] = {"category": "category", "post_tag": "tag"}

    def __init__(
        self,
        hierarchical: frozenset[str] = frozenset(),
        vocabularies: frozenset[str] = frozenset(),
    ) -> None:
        self.hierarchical = hierarchical
        self.vocabularies = vocabularies

    def term_scope(self, vocabulary: str) -> str:
        """The taxonomy a vocabulary's terms land in: term slugs are unique within it."""
        if vocabulary in self.vocabularies:
            return taxonomy_of("", vocabulary, 1 if vocabulary in self.hierarchical else 0)
        return "post_tag" if vocabulary == "tags" else vocabulary

    def node_url(self, node_type: str, slug: str, nid: int) -> str:
        return f"/{slug}/"

    def term_url(self, vocabulary: str, slug: str, tid: int) -> str:
        taxonomy = self.term_scope(vocabulary)
        return f"/{self._TERM_BASES.get(taxonomy, taxonomy)}/{slug}/"

    def file_url(self, relative_path: str) -> str:
        return "/wp-content/uploads/drupal/" + quote(relative_path)


COMMIT_EVERY = 5000
"""Rows the writer's index takes between two commits (it is derived data: a commit only
keeps SQLite's page cache small)."""


def _state_batch(name: str) -> int | None:
    """The batch number in a batch state file's name (``_state_path``), else None."""
    m = _STATE_FILE.match(name)
    return int(m.group(1)) if m else None


def _title_date(post: Mapping[str, Any]) -> tuple[str, str, str]:
    """The title+date key a post's slot holds (``title_date_key``)."""
    return title_date_key(post["type"], post["title"], post["date"])


class _Index:
    """Per-post facts of every batch on disk (SQLite), so memory stays flat with the site.

    Built from the batch files in ``.wxr-state`` (they stay the durable record), and
    kept for the next run by ``KeptIndex`` while they stay as they are; holds each
    post's settled name and date (``posts``), the post names taken per post type
    (``names``), the title+date keys ``post_exists()`` would match (``title_dates``),
    and the tables of the cross-file check (``SetCheck``).
    """

    def __init__(self, path: Path, kept: bool) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.executescript(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -4000;"
        )
        if not kept:
            self.db.executescript(
                "CREATE TABLE posts (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
                "CREATE TABLE holders (key TEXT, batch INTEGER, PRIMARY KEY (key, batch))"
                " WITHOUT ROWID;"
                "CREATE TABLE names (scope TEXT, name TEXT, PRIMARY KEY (scope, name))"
                " WITHOUT ROWID;"
                "CREATE TABLE title_dates (type TEXT, title TEXT, date TEXT,"
                " PRIMARY KEY (type, title, date)) WITHOUT ROWID;"
            )
        self.db.execute("BEGIN")
        self._pending = 0

    def tick(self) -> None:
        """Commit now and then: the index is derived, only the page cache must stay small."""
        self._pending += 1
        if self._pending >= COMMIT_EVERY:
            self.db.execute("COMMIT")
            self.db.execute("BEGIN")
            self._pending = 0

    def post(self, key: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT value FROM posts WHERE key = ?", (key,)).fetchone()
        return None if row is None else dict(orjson.loads(row[0]))

    def last_holder(self, key: str) -> int | None:
        """The last batch whose state file holds post ``key`` (None: none does): the
        one its row in ``posts`` is from, as a rebuild merges them in batch order."""
        row = self.db.execute("SELECT MAX(batch) FROM holders WHERE key = ?", (key,)).fetchone()
        return None if row[0] is None else int(row[0])

    def put_post(self, key: str, value: Mapping[str, Any], batch: int) -> None:
        """``value`` as the state file of ``batch`` holds it, the last one to hold it."""
        self.db.execute(
            "INSERT OR REPLACE INTO posts VALUES (?, ?)",
            (key, orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()),
        )
        self.db.execute("INSERT OR IGNORE INTO holders VALUES (?, ?)", (key, batch))
        self.tick()

    def leave(self, key: str, batch: int) -> None:
        """Post ``key`` left the state file of ``batch``."""
        self.db.execute("DELETE FROM holders WHERE key = ? AND batch = ?", (key, batch))
        self.tick()

    def drop_post(self, key: str) -> None:
        self.db.execute("DELETE FROM posts WHERE key = ?", (key,))
        self.db.execute("DELETE FROM holders WHERE key = ?", (key,))
        self.tick()

    def release(self, scope: str, name: str) -> None:
        """Free ``name`` in ``scope`` (its post is gone, or took another name)."""
        self.db.execute("DELETE FROM names WHERE scope = ? AND name = ?", (scope, name))
        self.tick()

    def release_title_date(self, key: tuple[str, str, str]) -> None:
        self.db.execute("DELETE FROM title_dates WHERE type = ? AND title = ? AND date = ?", key)
        self.tick()

    def taken(self, scope: str, name: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM names WHERE scope = ? AND name = ?", (scope, name)
        ).fetchone()
        return row is not None

    def reserve(self, scope: str, name: str) -> bool:
        """Take ``name`` in ``scope``; False when it was taken already."""
        cur = self.db.execute("INSERT OR IGNORE INTO names VALUES (?, ?)", (scope, name))
        self.tick()
        return cur.rowcount == 1

    def add_title_date(self, key: tuple[str, str, str]) -> bool:
        """Take a title+date key; False when it was taken already."""
        cur = self.db.execute("INSERT OR IGNORE INTO title_dates VALUES (?, ?, ?)", key)
        self.tick()
        return cur.rowcount == 1

    def close(self) -> None:
        self.db.close()


@dataclass
class _State:
    """What earlier batches decided, rebuilt from ``.wxr-state`` on every begin/discard.

    Sections bounded by the taxonomy, the users and the files are dicts here; posts
    are in ``index``. The lists (problems, date shifts, renames, media results) stay
    in the batch files only and are read back one file at a time by ``finish``.
    """

    index: _Index
    vocabularies: dict[str, dict[str, Any]] = field(default_factory=dict)
    terms: dict[str, dict[str, Any]] = field(default_factory=dict)
    authors: dict[str, dict[str, Any]] = field(default_factory=dict)
    attachments: dict[str, dict[str, Any]] = field(default_factory=dict)
    types: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Unmapped content type → the category its posts carry."""
    emitted: dict[str, str] = field(default_factory=dict)
    """fid → the WXR file its attachment item went into (next to its node, else alone)."""

    SECTIONS = ("vocabularies", "terms", "authors", "posts", "attachments", "types", "emitted")
    SMALL = tuple(s for s in SECTIONS if s != "posts")
    """The sections held here (not in ``index``), kept whole in a kept index."""
    LISTS = ("date_shifts", "renames", "problems", "media")

    def merge(self, batch: int, data: Mapping[str, Any], posts: bool = True) -> None:
        """One batch state on top of the earlier ones; ``posts=False`` leaves the index."""
        for name in self.SECTIONS if posts else self.SMALL:
            for key, value in data.get(name, {}).items():
                self.put(name, key, value, batch)

    def get(self, section: str, key: str) -> Any:
        return self.index.post(key) if section == "posts" else getattr(self, section).get(key)

    def put(self, section: str, key: str, value: Any, batch: int) -> None:
        """``value`` as batch ``batch`` holds it."""
        if section == "posts":
            self.index.put_post(key, value, batch)
        else:
            getattr(self, section)[key] = value


@register_writer("wxr")
class WxrWriter:
    """WordPress WXR 1.2 files in ``out_dir``, split at ``max_items`` items per file."""

    state: _State
    """Set by ``begin`` (``_load_state``)."""

    def __init__(self) -> None:
        self.urls = WxrUrls()
        self.out_dir = Path()
        self.options = WriterOptions()
        self.base_url = "http://localhost"
        self.max_items = DEFAULT_MAX_ITEMS
        self.tz: ZoneInfo = ZoneInfo("UTC")
        self.post_types: dict[str, str] = dict(DEFAULT_POST_TYPES)
        self.unpublished = "draft"
        self.prepare_node = PostPreparer(self.base_url, self.tz)
        self._check: SetCheck | None = None
        self._checked: dict[str, int] = {}
        """Files this run validated (name → items), in ``_check`` already."""
        self._pool: ProcessPoolExecutor | None = None
        self._pending: deque[tuple[int, str, Future[CheckedFile]]] = deque()
        """Files written and being checked, not in place yet: (batch, name, check)."""

    # ------------------------------------------------------------------ contract

    def begin(self, out_dir: Path, options: WriterOptions) -> None:
        self.out_dir = out_dir
        self.options = options
        self.urls = WxrUrls(options.site.hierarchical, options.site.vocabularies)
        extra = dict(options.extra or {})
        self.base_url = (options.base_url or "http://localhost").rstrip("/")
        self.max_items = int(extra.get("max_items") or DEFAULT_MAX_ITEMS)
        if self.max_items < 1:
            raise BadInput("--max-items must be at least 1")
        try:
            self.tz = ZoneInfo(str(extra.get("timezone") or "UTC"))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise BadInput(f"unknown time zone {extra.get('timezone')!r}") from exc
        self.post_types.update(extra.get("post_types") or {})
        self.unpublished = str(extra.get("unpublished_status") or "draft")
        if self.unpublished not in ("draft", "private", "pending"):
            raise BadInput("unpublished status must be draft, private or pending")
        self.prepare_node = PostPreparer(self.base_url, self.tz)
        (out_dir / STATE_DIR).mkdir(parents=True, exist_ok=True)
        self._load_state()

    def write_batch(
        self, batch_no: int, records: Sequence[Record | PreparedRecord]
    ) -> list[ItemRef]:
        batch = _Batch(self.state, batch_no)
        refs: list[ItemRef] = []
        items: list[_Item] = []
        for record in records:
            if isinstance(record, VocabularyRecord):
                self._vocabulary(record, batch)
                refs.append(self._state_ref(record.KIND, record.key, batch_no))
            elif isinstance(record, TermRecord):
                self._term(record, batch)
                refs.append(self._state_ref(record.KIND, record.key, batch_no))
            elif isinstance(record, AuthorRecord):
                self._author(record, batch)
                refs.append(self._state_ref(record.KIND, record.key, batch_no))
            elif isinstance(record, FileRecord):
                # Written later, next to the first node that uses it (see _with_attachments).
                self._attachment(record, batch)
                refs.append(self._state_ref(record.KIND, record.key, batch_no))
            elif isinstance(record, NodeRecord | PreparedRecord):
                # The engine sends nodes prepared (``prepare_node``); a NodeRecord is prepared here.
                post: PreparedPost = (
                    record.value
                    if isinstance(record, PreparedRecord)
                    else self.prepare_node(record)
                )
                xml = self._node(post, batch)
                items.append(_Item(record.KIND, record.key, xml, self._attached(post, batch)))
            elif isinstance(record, RedirectRecord):
                refs.append(self._state_ref(record.KIND, record.key, batch_no))
        if any(isinstance(r, RedirectRecord) for r in records):
            # The node phase is over: files no exported node uses are written alone.
            items += [_Item("file", fid, xml) for fid, xml in self._unattached(batch)]
        refs.extend(self._write_files(batch_no, items, batch.latest, batch))
        if batch.copied:
            os.sync()  # the batch's media copies, flushed once before the batch is recorded
        write_durably(
            self._state_path(batch_no), orjson.dumps(batch.data, option=orjson.OPT_NON_STR_KEYS)
        )
        return refs

    def remove(self, items: Sequence[ItemRef]) -> None:
        self.settle()
        by_file: dict[str, set[str]] = {}
        by_state: dict[str, set[tuple[str, str]]] = {}
        for ref in items:
            name, _, ident = ref.target.partition("#")
            emitted = self.state.emitted.get(ref.source_id) if ref.kind == "file" else None
            m = _FILE.match(emitted or "")
            if emitted and m:  # its item went into a node's file: out of there too
                by_file.setdefault(emitted, set()).add(
                    str(ATTACHMENT_ID_OFFSET + int(ref.source_id))
                )
                by_state.setdefault(f"{STATE_DIR}/batch-{m.group(1)}.json", set()).add(
                    ("emitted", ref.source_id)
                )
            if name.startswith(STATE_DIR + "/"):
                by_state.setdefault(name, set()).add((ref.kind, ref.source_id))
            else:
                by_file.setdefault(name, set()).add(ident)
                m = _FILE.match(name)
                if m:
                    state_name = f"{STATE_DIR}/batch-{m.group(1)}.json"
                    by_state.setdefault(state_name, set()).add((ref.kind, ref.source_id))
        for name, post_ids in by_file.items():
            self._drop_items(paths.inside_out(self.out_dir, name), post_ids)
        dropped: dict[tuple[str, str], list[tuple[int | None, dict[str, Any]]]] = {}
        for name, keys in by_state.items():
            batch_no = _state_batch(name.rpartition("/")[2])
            for slot, value in self._drop_state(paths.inside_out(self.out_dir, name), keys):
                dropped.setdefault(slot, []).append((batch_no, value))
        small = {_SECTION_OF.get(kind) for keys in by_state.values() for kind, _ in keys}
        self._forget(dropped, small=bool(small & set(_State.SMALL)))
        # Items left these files: the run's check starts again from what is on disk.
        self._check, self._checked = None, {}

    def discard_batch(self, batch_no: int) -> None:
        self._drop_pending()  # an unfinished batch's, or a later one's: unfinished too
        prefix = f"wxr-{batch_no:05d}-"
        for path in self.out_dir.glob(f"{prefix}*.xml"):
            path.unlink()
        for path in self.out_dir.glob(f".{prefix}*.xml.tmp"):
            path.unlink()
        for kept in (WXR_READ, CHECKED):
            for path in (self.out_dir / kept).glob(f"{prefix}*.xml.json"):
                path.unlink()
        self._state_path(batch_no).unlink(missing_ok=True)
        self._load_state()
        self._check, self._checked = None, {}  # a redone batch is checked afresh

    def finish(self, summary: Mapping[str, Any]) -> None:
        self.settle()
        self.close()
        files = self.files()
        # The files this run wrote were checked against each other as they were written;
        # the others (earlier runs) join the same check here, unless a kept check holds
        # them as they are: what their validation kept, else parsed again.
        check = self._set_check(at_finish=True)
        for path in files:
            if path.name in self._checked:
                continue
            digest = wxr_digest(file_chunks(path))
            kept = self._stored_check(path, digest)
            try:
                if kept is None:
                    kept = self._parse_again(path)
            except WxrParseError as exc:
                raise StateError(f"{path}: {exc}") from None
            issues = check.add(path.name, kept)
            check.hold(path.name, digest, len(kept))
            self._checked[path.name] = len(kept)
            if issues:
                raise MigrateError(
                    "WXR validation failed across files: " + "; ".join(map(str, issues[:5]))
                )
        items = sum(self._checked.get(p.name, 0) for p in files)
        with ExitStack() as stack:
            lists = {
                name: stack.enter_context(
                    tempfile.TemporaryFile("w+", encoding="utf-8", dir=self.out_dir / STATE_DIR)
                )
                for name in _MANIFEST_LISTS
            }
            media = self._read_lists(lists)
            if media:
                write_durably(self.out_dir / "media-report.csv", reconciliation_csv(media))
            head = {
                "wxr_version": "1.2",
                "files": [p.name for p in files],
                "items": items,
                "authors": len(self.state.authors),
                "terms": len(self.state.terms),
            }
            tail = {
                "media": summarize(media),
                "import": "into an empty WordPress site, files in name order; upload media/ to"
                " wp-content/uploads/drupal/ first",
                "run": dict(summary),
            }
            self._write_manifest(head, lists, tail)
        index = self.state.index
        small = {name: getattr(self.state, name) for name in _State.SMALL}
        self._kept_index().seal(index.db, small)
        index.close()  # sealed: nothing may change it now

    def _batch_states(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """Each batch's number and saved state in batch order, one file in memory at a time."""
        numbered = (
            (batch_no, path)
            for path in (self.out_dir / STATE_DIR).glob("batch-*.json")
            if (batch_no := _state_batch(path.name)) is not None
        )
        for batch_no, path in sorted(numbered):
            yield batch_no, self._batch_state(path)

    def _read_lists(self, lists: Mapping[str, IO[str]]) -> list[MediaResult]:
        """One pass over the batch states: the manifest's lists, each entry a JSON text on
        its own line in its file of ``lists``, and the media results (one per file)."""
        media_by_fid: dict[Any, MediaResult] = {}
        for _, data in self._batch_states():
            media_by_fid.update({m["fid"]: MediaResult(**m) for m in data.get("media", [])})
            for name, section in _MANIFEST_LISTS.items():
                for entry in data.get(section, []):
                    lists[name].write(json.dumps(entry, ensure_ascii=False) + "\n")
        return list(media_by_fid.values())

    def _write_manifest(
        self, head: Mapping[str, Any], lists: Mapping[str, IO[str]], tail: Mapping[str, Any]
    ) -> None:
        """``wxr-manifest.json``, its long lists copied from ``_read_lists``' files."""
        tmp = self.out_dir / f".{MANIFEST}.tmp"
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write("{\n")
            for key, value in head.items():
                fh.write(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},\n")
            for name, entries in lists.items():
                fh.write(f"  {json.dumps(name)}: [")
                entries.seek(0)
                first = True
                for line in entries:
                    fh.write(("\n    " if first else ",\n    ") + line.rstrip("\n"))
                    first = False
                fh.write("]," if first else "\n  ],")
                fh.write("\n")
            for i, (key, value) in enumerate(tail.items()):
                sep = "," if i < len(tail) - 1 else ""
                text = json.dumps(value, ensure_ascii=False, indent=2).replace("\n", "\n  ")
                fh.write(f"  {json.dumps(key)}: {text}{sep}\n")
            fh.write("}\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.out_dir / MANIFEST)
        fd = os.open(self.out_dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # ------------------------------------------------------------------ public helpers

    def files(self) -> list[Path]:
        """The WXR files written so far, in import order."""
        return sorted(p for p in self.out_dir.glob("wxr-*.xml") if _FILE.match(p.name))

    # ------------------------------------------------------------------ state

    def _state_path(self, batch_no: int) -> Path:
        return self.out_dir / STATE_DIR / f"batch-{batch_no:05d}.json"

    def _state_ref(self, kind: str, key: str, batch_no: int) -> ItemRef:
        return ItemRef(kind, key, f"{STATE_DIR}/batch-{batch_no:05d}.json#{kind}:{key}")

    def _batch_state(self, path: Path) -> dict[str, Any]:
        """One batch's saved state."""
        try:
            return dict(orjson.loads(path.read_bytes()))
        except (OSError, ValueError) as exc:
            raise StateError(f"{path}: unreadable WXR writer state ({exc})") from None

    def _kept_index(self) -> KeptIndex:
        return KeptIndex(
            self.out_dir / STATE_DIR / "index.sqlite",
            "batch-*.json",
        )

    def _load_state(self) -> None:
        """The state of every batch on disk: the index a finished run kept, if it is for
        these batch files, else built from them."""
        if getattr(self, "state", None) is not None:
            self.state.index.close()
        kept_index = self._kept_index()
        self._kept = kept_index.claim()
        index = _Index(kept_index.path, self._kept)
        self.state = _State(index)
        self._shift_hint: dict[tuple[str, str, str], int] = {}
        if self._kept:
            for name, value in KeptIndex.sections(index.db).items():
                setattr(self.state, name, value)
        else:
            for batch_no, data in self._batch_states():
                self.state.merge(batch_no, data)
                for post in data.get("posts", {}).values():
                    self._settled(post)
            for post in self.state.attachments.values():
                self._settled(post)
        self._reserve_small()

    def _reserve_small(self) -> None:
        """The term, category and author slugs and the attachment names ``state`` holds."""
        self.slugs = SlugRegistry()
        self.attachment_names = {post["slug"] for post in self.state.attachments.values()}
        for term in self.state.terms.values():
            self.slugs.reserve(f"term:{term['taxonomy']}", term["slug"])
        for category in self.state.types.values():
            self.slugs.reserve("term:category", category["slug"])
        for author in self.state.authors.values():
            self.slugs.reserve("author", author["login"])

    def _settled(self, post: Mapping[str, Any]) -> None:
        """Mark a post's name and title+date key as taken."""
        self.state.index.reserve(f"post:{post['type']}", post["slug"])
        self.state.index.add_title_date(_title_date(post))

    def _drop_items(self, path: Path, post_ids: set[str]) -> None:
        """Rewrite one file without the given items; CDATA sections are kept as they were."""
        if not path.is_file():
            return
        parser = etree.XMLParser(strip_cdata=False, resolve_entities=False, no_network=True)
        tree = etree.parse(str(path), parser)
        channel = tree.getroot().find("channel")
        if channel is None:
            raise StateError(f"{path}: not a WXR file")
        for item in channel.findall("item"):
            if (item.findtext("wp:post_id", namespaces=NS) or "").strip() in post_ids:
                channel.remove(item)
        if channel.find("item") is None:
            path.unlink()
            return
        write_durably(path, etree.tostring(tree, xml_declaration=True, encoding="UTF-8"))

    def _drop_state(
        self, path: Path, keys: set[tuple[str, str]]
    ) -> list[tuple[tuple[str, str], dict[str, Any]]]:
        """Take ``keys`` out of one batch state; returns the post and attachment slots
        taken out, as ((section, key), slot)."""
        if not path.is_file():
            return []
        data = orjson.loads(path.read_bytes())
        slots: list[tuple[tuple[str, str], dict[str, Any]]] = []
        for kind, key in keys:
            name = _SECTION_OF.get(kind, "")
            value = data.get(name, {}).pop(key, None)
            if value is not None and name in ("posts", "attachments"):
                slots.append(((name, key), value))
        write_durably(path, orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS))
        return slots

    def _forget(
        self,
        dropped: Mapping[tuple[str, str], list[tuple[int | None, dict[str, Any]]]],
        small: bool,
    ) -> None:
        """The state once items left the batch states, as a rebuild from them holds it,
        without rebuilding the index (~2 s at 100k nodes, for every batch with changes).

        ``dropped``: each post or attachment slot taken out, with the batch it left;
        ``small``: whether a section held in memory lost an entry too (then every batch
        state is read again, ``_reread``). Otherwise the index knows which states hold
        each post (``holders``): a rewritten post's row is already its new batch's, and
        a post that left the state its row came from takes the row of the last state
        still holding it (one file read), or none. Reading every state for each batch
        with changes made a re-run that rewrote most posts quadratic in the batches (a
        term renamed on 100k nodes: 36 s of a 95 s re-run).
        """
        posts = {key: olds for (section, key), olds in dropped.items() if section == "posts"}
        if small or any(batch_no is None for olds in posts.values() for batch_no, _ in olds):
            self._reread(dropped)
        else:
            self._forget_posts(posts)
        self._shift_hint = {}
        self._kept = False  # its check is not for the files as they are now

    def _forget_posts(self, posts: Mapping[str, list[tuple[int | None, dict[str, Any]]]]) -> None:
        """``_forget`` of posts alone, from the index's ``holders``."""
        index = self.state.index
        moved: dict[int, list[str]] = {}
        for key, olds in posts.items():
            row_from = index.last_holder(key)
            for batch_no in {b for b, _ in olds if b is not None}:
                index.leave(key, batch_no)
            rest = index.last_holder(key)
            if rest is None:
                index.drop_post(key)
            elif rest != row_from:  # its row was the state's it left: an older one's now
                moved.setdefault(rest, []).append(key)
        for batch_no, keys in moved.items():
            held = self._batch_state(self._state_path(batch_no)).get("posts", {})
            for key in keys:
                if key not in held:
                    raise StateError(
                        f"{self._state_path(batch_no)}: the WXR writer's index says it holds"
                        f" post {key}, and it does not; run the export again to rebuild it"
                    )
                index.put_post(key, held[key], batch_no)
        for key, olds in posts.items():
            self._free([old for _, old in olds], index.post(key))

    def _reread(
        self, dropped: Mapping[tuple[str, str], list[tuple[int | None, dict[str, Any]]]]
    ) -> None:
        """``_forget`` from every batch state: the small sections are merged again, and a
        dropped post's rows become what the files holding it hold now."""
        index = self.state.index
        fresh = _State(index)
        wanted = {key for section, key in dropped if section == "posts"}
        for key in wanted:
            index.drop_post(key)
        for batch_no, data in self._batch_states():
            fresh.merge(batch_no, data, posts=False)
            held = data.get("posts", {})
            for key in wanted & held.keys():
                index.put_post(key, held[key], batch_no)
        for (section, key), olds in dropped.items():
            now = index.post(key) if section == "posts" else fresh.attachments.get(key)
            self._free([old for _, old in olds], now)
        self.state = fresh
        self._reserve_small()

    def _free(self, olds: list[dict[str, Any]], now: Mapping[str, Any] | None) -> None:
        """Free the names and title+date keys of slots taken out, unless the slot now held
        (``now``) keeps them: each is one post's only."""
        index = self.state.index
        for old in olds:
            if now is None or (now["type"], now["slug"]) != (old["type"], old["slug"]):
                index.release(f"post:{old['type']}", old["slug"])
            if now is None or _title_date(now) != _title_date(old):
                index.release_title_date(_title_date(old))

    # ------------------------------------------------------------------ definitions

    def _vocabulary(self, v: VocabularyRecord, batch: _Batch) -> None:
        taxonomy = taxonomy_of(v.target, v.machine_name, v.hierarchy)
        batch.put(
            self.state,
            "vocabularies",
            v.machine_name,
            {"name": v.name, "taxonomy": taxonomy, "vid": v.vid},
        )

    def _taxonomy(self, vocabulary: str) -> str:
        known = self.state.vocabularies.get(vocabulary)
        return str(known["taxonomy"]) if known else taxonomy_of("", vocabulary, 0)

    def _term(self, t: TermRecord, batch: _Batch) -> None:
        taxonomy = self._taxonomy(t.vocabulary)
        old = self.state.terms.get(t.key)
        if old and old["taxonomy"] == taxonomy:
            slug = old["slug"]
        else:
            slug = self._claim_slug(f"term:{taxonomy}", t.slug, t.name, "term", t.key, batch)
        parents = [p for p in t.parents if str(p) in self.state.terms or str(p) == t.key]
        parent = next((p for p in parents if str(p) != t.key), None)
        if len(t.parents) > 1:
            batch.problem(
                "term",
                t.key,
                f"term {t.name!r} has parents {list(t.parents)}; WordPress's hierarchy keeps"
                f" one ({parent}), term meta {PARENTS_META} all of them",
            )
        elif t.parents and parent is None:
            batch.problem("term", t.key, f"parent {t.parents[0]} of {t.name!r} was not exported")
        for p in t.problems:
            batch.problem("term", t.key, f"{p.kind}: {p.detail}")
        batch.put(
            self.state,
            "terms",
            t.key,
            {
                "taxonomy": taxonomy,
                "slug": slug,
                "name": t.name,
                "description": t.description,
                "parent": parent,
                "parents": [int(p) for p in parents],
                "weight": t.weight,
                "meta": field_postmeta(t.fields, self._attachment_id),
                "vocabulary": t.vocabulary,
            },
        )

    def _claim_slug(
        self, scope: str, wanted: str, title: str, kind: str, key: str, batch: _Batch
    ) -> str:
        """The record's slug if it is clean and free in ``scope``, else a fresh unique one."""
        base = slugify_vi(wanted.replace("/", "-")) if wanted else ""
        if base and self._reserve(scope, base):
            slug = base
        else:
            slug = self._claim(scope, title or wanted, fallback=f"{kind}-{key}")
        if slug != wanted:
            batch.note("renames", {"kind": kind, "id": key, "from": wanted, "to": slug})
        return slug

    def _reserve(self, scope: str, slug: str) -> bool:
        """Take ``slug`` in ``scope``: post names in the index, term and author names here."""
        if scope.startswith("post:"):
            return self.state.index.reserve(scope, slug)
        return self.slugs.reserve(scope, slug)

    def _claim(self, scope: str, title: str, fallback: str) -> str:
        """A fresh slug for ``title`` in ``scope``: the plain slug, else -2, -3, ..."""
        if not scope.startswith("post:"):
            return self.slugs.claim(scope, title, fallback=fallback)
        base = slugify_vi(title, self.slugs.max_length) or fallback
        slug, n = base, 2
        while not self.state.index.reserve(scope, slug):
            suffix = f"-{n}"
            slug = base[: self.slugs.max_length - len(suffix)].rstrip("-") + suffix
            n += 1
        return slug

    def _post_name(
        self, post_type: str, wanted: str, title: str, kind: str, key: str, batch: _Batch
    ) -> str:
        """A post_name WordPress keeps as is, and the one links were rewritten to.

        A node keeps the slug the export gave it (body links already point to
        ``/<slug>/``). An attachment is named ``<file stem>_<fid>``: node slugs never
        hold an underscore, so ``wp_unique_post_slug`` (which checks attachments
        against every post) never renames either. A node slug that is taken anyway
        (a state from an older version) is renamed, listed in ``renamed_slugs`` and
        under ``problems``, since links to it now lead elsewhere.
        """
        if post_type == "attachment":
            name = f"{slugify_vi(wanted) or 'file'}_{key}"
            self.attachment_names.add(name)
            self.state.index.reserve("post:attachment", name)  # as a rebuild (``_settled``)
            return name
        name = self._claim_slug(f"post:{post_type}", wanted, title, kind, key, batch)
        while name in self.attachment_names:
            name = self._claim_slug(f"post:{post_type}", f"{name}-{kind}", title, kind, key, batch)
        if name != wanted:
            batch.problem(
                kind,
                key,
                f"slug {wanted!r} was taken, written as {name!r}: links to /{wanted}/"
                " lead elsewhere",
            )
        return name

    def _author(self, a: AuthorRecord, batch: _Batch) -> None:
        old = self.state.authors.get(a.key)
        login = old["login"] if old else self._login(a.name or f"user-{a.uid}", a.key)
        batch.put(
            self.state,
            "authors",
            a.key,
            {
                "login": login,
                "display_name": a.display_name or a.name,
                "email": a.email if self.options.include_emails and a.email else "",
            },
        )

    def _login(self, name: str, key: str) -> str:
        """An ASCII login that WordPress's ``sanitize_user(strict)`` leaves unchanged."""
        base = _LOGIN_BAD.sub("-", slugify_vi(name, 60).lower() or name.lower()).strip("-")
        base = base or f"user-{key}"
        login, n = base, 2
        while not self.slugs.reserve("author", login):
            login = f"{base}-{n}"
            n += 1
        return login

    def _creator(self, uid: int, batch: _Batch) -> str:
        """The login of a uid, declaring a stand-in author when the user was not exported."""
        key = str(uid)
        known = self.state.authors.get(key)
        if known:
            return str(known["login"])
        name = "anonymous" if uid == 0 else f"drupal-user-{uid}"
        if uid != 0:
            batch.problem("author", key, f"user {uid} was not exported; declared as {name!r}")
        login = self._login(name, key)
        batch.put(
            self.state,
            "authors",
            key,
            {"login": login, "display_name": "Anonymous" if uid == 0 else name, "email": ""},
        )
        return login

    # ------------------------------------------------------------------ items

    def _unique_date(
        self,
        post_type: str,
        title: str,
        when: _When,
        kind: str,
        key: str,
        batch: _Batch,
    ) -> int:
        """Seconds to add to ``when`` so no earlier item has this title and date.

        The search starts where the last one for the same title and date stopped
        (every shift below it is still taken), so N copies cost N lookups, not N².
        """
        folded = title_date_key(post_type, title, "")[1]
        base = (post_type, folded, when.local)
        shift = self._shift_hint.get(base, 0)
        index = self.state.index
        while not index.add_title_date((post_type, folded, when.dates(shift, self.tz)[0])):
            shift += 1
        if len(self._shift_hint) >= 10_000:  # a hint only saves lookups: keep it small
            self._shift_hint.clear()
        self._shift_hint[base] = shift + 1
        if shift:
            batch.note(
                "date_shifts",
                {
                    "kind": kind,
                    "id": key,
                    "title": title,
                    "from": base[2],
                    "to": when.dates(shift, self.tz)[0],
                    "seconds": shift,
                },
            )
        return shift

    def _post_slot(
        self,
        section: str,
        kind: str,
        key: str,
        post_type: str,
        title: str,
        slug: str,
        when: _When,
        batch: _Batch,
    ) -> tuple[str, int]:
        """A stable (post_name, date shift) for an item: reused when it was written before.

        A reused slot goes into this batch's state too: the engine then removes the
        item's old copy, with its entry in the old batch's state, and the slot must stay
        on disk, or its name and title+date would be free for another post.
        """
        old = self.state.get(section, key)
        if old and old["title"] == title and old["type"] == post_type:
            batch.put(self.state, section, key, old)
            return str(old["slug"]), int(old["shift"])
        name = self._post_name(post_type, slug, title, kind, key, batch)
        shift = self._unique_date(post_type, title, when, kind, key, batch)
        date = when.dates(shift, self.tz)[0]
        batch.put(
            self.state,
            section,
            key,
            {"slug": name, "shift": shift, "title": title, "type": post_type, "date": date},
        )
        return name, shift

    def _attachment(self, f: FileRecord, batch: _Batch) -> None:
        """Copy a public file and settle its attachment's name and date; the item comes later.

        The importer sets an attachment's ``post_parent`` only when its parent is in
        the same file (it maps old ids per import run), so the item is written right
        after the first node that uses the file, or alone once no node is left. A file
        ``migrate.paths`` refuses (private, unsafe path, a link out) gets no attachment.
        """
        copied = copy_file(
            f.fid,
            f.uri,
            f.size,
            self.options.files_dir,
            self.out_dir,
            "media",
            sync=False,
            private_dir=self.options.private_dir,
        )
        batch.media(copied)
        rel = f.relative_path
        if rel is None or copied.status in NOT_PUBLISHED:
            why = copied.detail or "not public"
            batch.problem("file", f.key, f"{f.uri}: {why}; no attachment written")
            return
        for p in f.problems:
            batch.problem("file", f.key, f"{p.kind}: {p.detail}")
        stem = f.filename.rsplit(".", 1)[0] if "." in f.filename else f.filename
        self._post_slot(
            "attachments",
            "file",
            f.key,
            "attachment",
            f.filename,
            stem,
            _When.of(f.timestamp, self.tz),
            batch,
        )
        self._creator(f.uid, batch)
        entry = self.state.attachments[f.key]
        entry.update(rel=rel, uri=f.uri, uid=f.uid, ts=f.timestamp)
        batch.data["attachments"][f.key] = entry

    def _attachment_xml(self, key: str, parent: int, batch: _Batch) -> bytes:
        """The attachment item of file ``key``, a child of post ``parent`` (0: none)."""
        a = self.state.attachments[key]
        ts, shift = int(a["ts"]), int(a["shift"])
        batch.latest = max(batch.latest, ts)
        url = self.base_url + self.urls.file_url(str(a["rel"]))
        local, gmt = _dates(ts + shift, self.tz)
        return _item_xml(
            title=plain_html(str(a["title"])),
            link=url,
            pub=_pub(ts + shift),
            creator=self._creator(int(a["uid"]), batch),
            text=_item_text(url, "", "", ATTACHMENT_ID_OFFSET + int(key)),
            date=(local, gmt),
            modified=(local, gmt),
            name=str(a["slug"]),
            status="inherit",
            post_type="attachment",
            sticky=0,
            comment_status="closed",
            extra=f"\t\t<wp:attachment_url>{cdata(url)}</wp:attachment_url>\n",
            categories=[],
            meta=_meta_xml([("_drupal_fid", key), ("_drupal_uri", str(a["uri"]))]).encode(),
            comments=b"",
            parent=parent,
        )

    def _attached(self, p: PreparedPost, batch: _Batch) -> list[tuple[str, bytes]]:
        """(fid, item) of the attachments this node is the first exported user of."""
        keys: list[str] = []
        for fid in p.files:
            key = str(fid)
            if (
                key in self.state.attachments
                and key not in self.state.emitted
                and key not in batch.attached
            ):
                batch.attached.add(key)  # an earlier node of this batch may take it too
                keys.append(key)
        return [(key, self._attachment_xml(key, p.nid, batch)) for key in keys]

    def _unattached(self, batch: _Batch) -> list[tuple[str, bytes]]:
        """(fid, item) of every attachment no exported node took, in fid order."""
        keys = sorted(
            (k for k in self.state.attachments if k not in self.state.emitted),
            key=int,
        )
        return [(k, self._attachment_xml(k, 0, batch)) for k in keys]

    def _post_type(self, drupal_type: str, target_type: str) -> str | None:
        """A node's WordPress post type; None for an unmapped type (then written as a post).

        The importer rejects a post type the site has not registered, so only
        ``article``/``page`` and types a ``--mapping`` line renames keep their own.
        """
        if target_type != drupal_type:
            return self.post_types.get(target_type, target_type)
        return self.post_types.get(drupal_type)

    def _type_category(self, drupal_type: str, batch: _Batch) -> tuple[str, str, str]:
        """The category that keeps an unmapped content type visible on its posts."""
        known = self.state.types.get(drupal_type)
        if known is None:
            slug = self._claim_slug(
                "term:category", f"drupal-{drupal_type}", drupal_type, "type", drupal_type, batch
            )
            known = {"slug": slug, "name": drupal_type}
            batch.put(self.state, "types", drupal_type, known)
        return "category", str(known["slug"]), str(known["name"])

    def _node(self, p: PreparedPost, batch: _Batch) -> bytes:
        """Finish a prepared post with what the writer's state decides: its name, date
        shift, author, categories, attachment ids and the comment authors' names."""
        key = str(p.nid)
        batch.latest = max(batch.latest, p.created, p.changed)
        mapped = self._post_type(p.type, p.target_type)
        post_type = mapped or "post"
        when = _When.of(p.created, self.tz)
        name, shift = self._post_slot("posts", "node", key, post_type, p.title, p.slug, when, batch)
        categories: list[tuple[str, str, str]] = []
        seen: set[tuple[str, str]] = set()
        for tid, term_name in p.terms:
            term = self.state.terms.get(str(tid))
            if term is None:
                batch.problem("node", key, f"term {tid} ({term_name}) is not exported")
                continue
            if (term["taxonomy"], term["slug"]) not in seen:
                seen.add((term["taxonomy"], term["slug"]))
                categories.append((term["taxonomy"], term["slug"], term["name"]))
        if mapped is None:
            categories.append(self._type_category(p.type, batch))
        for problem in p.problems:
            batch.problem("node", key, problem)
        meta = p.meta.render(self.state.attachments)
        thumb = next((f for f in p.images if str(f) in self.state.attachments), None)
        if thumb is not None:
            meta += _meta_xml([("_thumbnail_id", str(ATTACHMENT_ID_OFFSET + thumb))]).encode()
        date = when.dates(shift, self.tz)
        return _item_xml(
            title=plain_html(p.title),
            link=self.base_url + self.urls.node_url(p.target_type, name, p.nid),
            pub=when.pub_at(shift),
            creator=self._creator(p.author, batch),
            text=p.text,
            date=date,
            modified=date if p.changed <= p.created + shift else _dates(p.changed, self.tz),
            name=name,
            status="publish" if p.status else self.unpublished,
            post_type=post_type,
            sticky=p.sticky,
            comment_status="open" if p.comments else "closed",
            extra="",
            categories=categories,
            meta=meta,
            comments=b"".join(self._comment_xml(c, batch) for c in p.comments),
        )

    def _attachment_id(self, fid: int) -> int | None:
        """The WordPress id of a file's attachment, when the export wrote one."""
        return ATTACHMENT_ID_OFFSET + fid if str(fid) in self.state.attachments else None

    def _comment_xml(self, c: PreparedComment, batch: _Batch) -> bytes:
        """A prepared comment with its author's name and email, which may be a user's."""
        if c.orphan:
            batch.problem("comment", str(c.cid), f"parent comment {c.orphan} was not exported")
        user = self.state.authors.get(str(c.uid), {}) if c.uid else {}
        author = c.name or str(user.get("display_name") or "")
        # The comment's own address, else the account's; both only with --include-emails.
        email = (c.mail or str(user.get("email") or "")) if self.options.include_emails else ""
        if c.uid:
            self._creator(c.uid, batch)
        who = (
            f"\t\t\t<wp:comment_author>{cdata(plain_html(author))}</wp:comment_author>\n"
            f"\t\t\t<wp:comment_author_email>{cdata(email)}</wp:comment_author_email>\n"
        )
        return c.head + who.encode() + c.tail.render(self.state.attachments)

    # ------------------------------------------------------------------ files

    def _write_files(
        self, batch_no: int, items: list[_Item], latest: int, batch: _Batch
    ) -> list[ItemRef]:
        """Items in files of at most ``max_items``; a node and its attachments share one.

        Each file is written as a temp file and checked in the checking process; it is
        renamed into place by ``settle``, while the engine builds the next batch.
        """
        refs: list[ItemRef] = []
        if not items:
            return refs
        header = self._channel_header(latest).encode("utf-8")
        parts: list[list[_Item]] = [[]]
        count = 0
        for item in items:
            size = 1 + len(item.attached)
            if parts[-1] and count + size > self.max_items:
                parts.append([])
                count = 0
            parts[-1].append(item)
            count += size
        self.settle()  # files are checked against each other in import order
        for number, chunk in enumerate(parts, 1):
            name = f"wxr-{batch_no:05d}-{number:02d}.xml"
            tmp = self.out_dir / f".{name}.tmp"
            try:
                with tmp.open("wb") as fh:
                    fh.write(header)
                    for item in chunk:
                        fh.write(item.xml)
                        for _, xml in item.attached:
                            fh.write(xml)
                    fh.write(b"</channel>\n</rss>\n")
                    fh.flush()
                    os.fsync(fh.fileno())
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            self._pending.append((batch_no, name, self._checker().submit(check_written, tmp)))
            for item in chunk:
                if item.kind == "file":
                    batch.put(self.state, "emitted", item.key, name)
                else:
                    refs.append(ItemRef(item.kind, item.key, f"{name}#{item.key}"))
                for fid, _ in item.attached:
                    batch.put(self.state, "emitted", fid, name)
        return refs

    def settle(self, batch_no: int | None = None) -> None:
        """Rename the checked files of every batch up to ``batch_no`` (all: None) into place.

        A file that fails its check is removed with the rest of the files still
        pending, and the run stops: its batch and the ones after it are not complete,
        so the next run discards and redoes them.
        """
        while self._pending and (batch_no is None or self._pending[0][0] <= batch_no):
            _, name, future = self._pending[0]
            try:
                self._land(name, future)
            except BaseException:
                self._drop_pending()
                raise
            self._pending.popleft()

    def _land(self, name: str, future: Future[CheckedFile]) -> None:
        """One file's check: its own (done in the checking process), then against the
        run's other files; if both pass, the file takes its name."""
        try:
            got = future.result()
        except BrokenProcessPool as exc:
            raise MigrateError(f"the WXR checking process died ({exc})") from None
        if got.error:
            raise MigrateError(f"WXR validation failed for {name}: {got.error}")
        check = self._set_check()
        issues = got.issues + check.add(name, iter(got.checked))
        self._checked[name] = len(got.checked)
        if issues:
            raise MigrateError(
                f"WXR validation failed for {name}: " + "; ".join(map(str, issues[:5]))
            )
        check.hold(name, got.digest, len(got.checked))
        os.replace(self.out_dir / f".{name}.tmp", self.out_dir / name)
        fsync_dir(self.out_dir)

    def _drop_pending(self) -> None:
        """Wait for the checks under way and remove their files: none is in place yet."""
        pending, self._pending = self._pending, deque()
        for _, name, future in pending:
            with suppress(Exception):
                future.result()
            (self.out_dir / f".{name}.tmp").unlink(missing_ok=True)

    def _checker(self) -> ProcessPoolExecutor:
        """The process that checks each written file (see ``check_written``)."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("fork"), initializer=init_child
            )
        return self._pool

    def close(self) -> None:
        """Stop the checking process (see ``Writer.close``)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _parse_again(self, path: Path) -> list[ItemKey]:
        """An earlier run's file whose kept findings are not for these bytes and this code
        (a new version of the package, say): parsed once more, and what the parse found
        kept again, so the next run's ``finish`` and read-back need not parse it."""
        before = wxr_digest(file_chunks(path))
        reader = WxrReader(path)
        found, checked = _read_items(reader, file_chunks(path))
        if wxr_digest(file_chunks(path)) == before:  # else it changed while being read
            _keep(path, before, wxr_declared(reader.head) + found, checked)
        return checked

    def _stored_check(self, path: Path, digest: str) -> list[ItemKey] | None:
        """What ``_validate`` kept of a file holding exactly these bytes, else None.

        A re-run's ``finish`` takes the files of earlier runs into the cross-file
        check from here instead of parsing each again (most of a re-run's time at
        100k nodes).
        """
        try:
            data = orjson.loads((self.out_dir / CHECKED / f"{path.name}.json").read_bytes())
            if data["digest"] != digest:
                return None
            return [
                ItemKey(int(i), str(t), str(n), str(title), str(d), tuple(map(str, thumbs)))
                for i, t, n, title, d, thumbs in data["items"]
            ]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _set_check(self, at_finish: bool = False) -> SetCheck:
        """The run's cross-file check: every file written since ``begin`` is in it.

        ``finish`` adds the files of earlier runs, after this run's removals. A check
        a kept index holds goes on only when this run wrote no file (it is first used
        ``at_finish``): it holds every earlier file, and those still as it read them
        need no check again; a file written now would meet items about to be removed.
        """
        if self._check is None:
            index = self.state.index
            kept = self._kept and at_finish
            self._check = check = SetCheck(
                index.db,
                (ATTACHMENT_ID_OFFSET + int(fid) for fid in self.state.attachments),
                index.tick,
                kept=kept,
            )
            for name, (digest, items) in check.held().items():
                path = self.out_dir / name
                if not (_FILE.match(name) and path.is_file()) or (
                    wxr_digest(file_chunks(path)) != digest
                ):
                    check.reset()  # a file it holds is gone or changed: start again
                    self._checked = {}
                    break
                self._checked[name] = items
        return self._check

    def _channel_header(self, latest: int) -> str:
        base = self.base_url
        now = format_datetime(datetime.fromtimestamp(latest, UTC), usegmt=True)
        out = [
            '<?xml version="1.0" encoding="UTF-8" ?>\n',
            '<rss version="2.0"\n'
            '\txmlns:excerpt="http://wordpress.org/export/1.2/excerpt/"\n'
            '\txmlns:content="http://purl.org/rss/1.0/modules/content/"\n'
            '\txmlns:wfw="http://wellformedweb.org/CommentAPI/"\n'
            '\txmlns:dc="http://purl.org/dc/elements/1.1/"\n'
            '\txmlns:wp="http://wordpress.org/export/1.2/"\n>\n',
            "<channel>\n",
            f"\t<title>{esc(plain_html(self.options.site.name) or base)}</title>\n",
            f"\t<link>{esc(base)}</link>\n",
            f"\t<description>{esc(plain_html(self.options.site.slogan))}</description>\n",
            f"\t<pubDate>{now}</pubDate>\n",
            f"\t<language>{esc(self.options.site.language)}</language>\n",
            "\t<wp:wxr_version>1.2</wp:wxr_version>\n",
            f"\t<wp:base_site_url>{esc(base)}</wp:base_site_url>\n",
            f"\t<wp:base_blog_url>{esc(base)}</wp:base_blog_url>\n",
        ]
        for uid, a in sorted(self.state.authors.items(), key=lambda kv: int(kv[0])):
            out.append(
                "\t<wp:author>"
                f"<wp:author_id>{int(uid)}</wp:author_id>"
                f"<wp:author_login>{cdata(a['login'])}</wp:author_login>"
                f"<wp:author_email>{cdata(a.get('email') or '')}</wp:author_email>"
                f"<wp:author_display_name>{cdata(plain_html(a['display_name']))}"
                "</wp:author_display_name>"
                "<wp:author_first_name></wp:author_first_name>"
                "<wp:author_last_name></wp:author_last_name>"
                "</wp:author>\n"
            )
        for tid, t in self._terms_parents_first():
            parent = self.state.terms.get(str(t["parent"])) if t["parent"] is not None else None
            parent_slug = parent["slug"] if parent else ""
            meta = _term_meta(
                tid, str(t.get("vocabulary") or ""), t.get("meta"), t.get("parents", ())
            )
            if t["taxonomy"] == "category":
                out.append(
                    "\t<wp:category>"
                    f"<wp:term_id>{tid}</wp:term_id>"
                    f"<wp:category_nicename>{cdata(t['slug'])}</wp:category_nicename>"
                    f"<wp:category_parent>{cdata(parent_slug)}</wp:category_parent>"
                    f"<wp:cat_name>{cdata(plain_html(t['name']))}</wp:cat_name>"
                    f"<wp:category_description>{cdata(t['description'])}</wp:category_description>"
                    f"{meta}</wp:category>\n"
                )
            elif t["taxonomy"] == "post_tag":
                out.append(
                    "\t<wp:tag>"
                    f"<wp:term_id>{tid}</wp:term_id>"
                    f"<wp:tag_slug>{cdata(t['slug'])}</wp:tag_slug>"
                    f"<wp:tag_name>{cdata(plain_html(t['name']))}</wp:tag_name>"
                    f"<wp:tag_description>{cdata(t['description'])}</wp:tag_description>"
                    f"{meta}</wp:tag>\n"
                )
            else:
                out.append(
                    "\t<wp:term>"
                    f"<wp:term_id>{tid}</wp:term_id>"
                    f"<wp:term_taxonomy>{cdata(t['taxonomy'])}</wp:term_taxonomy>"
                    f"<wp:term_slug>{cdata(t['slug'])}</wp:term_slug>"
                    f"<wp:term_parent>{cdata(parent_slug)}</wp:term_parent>"
                    f"<wp:term_name>{cdata(plain_html(t['name']))}</wp:term_name>"
                    f"<wp:term_description>{cdata(t['description'])}</wp:term_description>"
                    f"{meta}</wp:term>\n"
                )
        for drupal_type, category in sorted(self.state.types.items()):
            term_id = TYPE_TERM_ID_OFFSET + zlib.crc32(drupal_type.encode()) % 1_000_000
            out.append(
                "\t<wp:category>"
                f"<wp:term_id>{term_id}</wp:term_id>"
                f"<wp:category_nicename>{cdata(category['slug'])}</wp:category_nicename>"
                "<wp:category_parent></wp:category_parent>"
                f"<wp:cat_name>{cdata(category['name'])}</wp:cat_name>"
                "<wp:category_description>"
                f"{cdata('Drupal content type ' + drupal_type)}</wp:category_description>"
                "</wp:category>\n"
            )
        out.append("\t<generator>drupal-migrate</generator>\n")
        return "".join(out)

    def _terms_parents_first(self) -> list[tuple[int, dict[str, Any]]]:
        """Terms in an order where each parent comes before its children (cycles cut)."""
        terms = self.state.terms
        order: list[tuple[int, dict[str, Any]]] = []
        done: set[str] = set()

        def visit(tid: str, trail: set[str]) -> None:
            if tid in done:
                return
            term = terms[tid]
            parent = str(term["parent"]) if term["parent"] is not None else None
            if parent is not None and (parent not in terms or parent in trail):
                term["parent"] = None
                parent = None
            if parent is not None:
                visit(parent, trail | {tid})
            done.add(tid)
            order.append((int(tid), term))

        for tid in sorted(terms, key=lambda k: (terms[k]["weight"], terms[k]["name"], int(k))):
            visit(tid, set())
        return order


@dataclass(frozen=True)
class CheckedFile:
    """What the checking process found in one written file (``check_written``)."""

    digest: str
    checked: list[ItemKey]
    issues: list[Issue]
    error: str = ""
    """Why the file is not well-formed WXR, else empty."""


def check_written(tmp: Path) -> CheckedFile:
    """Parse a written file back and check it on its own: a defect is a bug of this
    writer, never an import surprise. Runs in the writer's checking process.

    The file streams through the parser, one item in memory at a time, through the
    checks of ``check_file``. What the parse found is kept by the digest of the bytes
    read, so the read-back reconciliation takes it for a file holding exactly these
    bytes instead of parsing it again (``readback.read_wxr``), and the writer gets
    what its check across files needs.
    """
    name = tmp.name.removeprefix(".").removesuffix(".tmp")
    reader = WxrReader(Path(name))
    check = FileCheck(name)
    read = wxr_hash()
    try:
        found, checked = _read_items(reader, teed(file_chunks(tmp), read), check)
    except WxrParseError as exc:
        return CheckedFile("", [], [], str(exc))
    digest = wxr_digest_of(read)
    issues = check.finish(reader.head)
    if not issues:
        _keep(tmp.parent / name, digest, wxr_declared(reader.head) + found, checked)
    return CheckedFile(digest, checked, issues)


def _read_items(
    reader: WxrReader, chunks: Iterable[bytes], check: FileCheck | None = None
) -> tuple[list[Found], list[ItemKey]]:
    """One pass over a file's items: what the read-back finds and what the cross-file
    check needs of each, every item also through ``check`` when given."""
    found: list[Found] = []
    checked: list[ItemKey] = []
    for item in reader.items(chunks):
        if check is not None:
            check.item(item)
        if (got := wxr_item(item)) is not None:
            found.append(got)
        checked.append(ItemKey.of(item))
    return found, checked


def _keep(path: Path, digest: str, found: list[Found], checked: list[ItemKey]) -> None:
    """What a parse of a file's bytes found, for the read-back and the next run's check."""
    store_wxr_found(path.parent, path.name, digest, found)
    rows = [
        [c.post_id, c.post_type, c.post_name, c.title, c.post_date, c.thumbnails] for c in checked
    ]
    write_durably(
        path.parent / CHECKED / f"{path.name}.json",
        orjson.dumps({"digest": digest, "items": rows}),
        sync=False,
    )


@dataclass(frozen=True, slots=True)
class _Item:
    """One item to write, with the attachment items that must follow it in its file."""

    kind: str
    key: str
    xml: bytes
    """UTF-8: held until the batch's files are written, at half the size of a str of
    Vietnamese text (two bytes a character)."""
    attached: list[tuple[str, bytes]] = field(default_factory=list)
    """(fid, item) of the attachments whose parent this node is."""


class _Batch:
    """What one ``write_batch`` adds to the writer's state; saved as one JSON file."""

    def __init__(self, state: _State, batch_no: int) -> None:
        self.state = state
        self.batch_no = batch_no
        self.data: dict[str, Any] = {s: {} for s in _State.SECTIONS}
        self.data.update({s: [] for s in _State.LISTS})
        self.latest = 0
        """The newest timestamp of the batch's items: the files' pubDate (not the clock)."""
        self.attached: set[str] = set()
        """Fids whose attachment a node of this batch took (written after that node)."""
        self.copied = False
        """Whether media files were copied (then flushed before the batch counts as done)."""

    def note(self, section: str, entry: dict[str, Any]) -> None:
        self.data[section].append(entry)

    def put(self, state: _State, section: str, key: str, value: Any) -> None:
        self.data[section][key] = value
        state.put(section, key, value, self.batch_no)

    def problem(self, kind: str, key: str, detail: str) -> None:
        self.note("problems", {"kind": kind, "id": key, "detail": detail})

    def media(self, result: MediaResult) -> None:
        self.copied = True
        self.note(
            "media",
            {
                "fid": result.fid,
                "uri": result.uri,
                "status": result.status,
                "dest": result.dest,
                "size": result.size,
                "sha256": result.sha256,
                "detail": result.detail,
            },
        )


def _term_meta(tid: int, vocabulary: str, fields: Any = (), parents: Any = ()) -> str:
    """A term's Drupal identity, parents and field values as ``wp:termmeta``.

    The importer adds them (add_term_meta) to the terms it creates; vocabularies
    merged into ``category`` or ``post_tag`` stay told apart by ``_drupal_vocabulary``.
    A WordPress term has one parent (a tag none), a Drupal term any number: every
    exported one is in ``PARENTS_META``.
    """
    pairs = [("_drupal_tid", str(tid))] + (
        [("_drupal_vocabulary", vocabulary)] if vocabulary else []
    )
    if parents:
        pairs.append((PARENTS_META, json.dumps([int(p) for p in parents])))
    pairs += [(str(k), str(v)) for k, v in fields or ()]
    return "".join(
        f"<wp:termmeta><wp:meta_key>{cdata(k)}</wp:meta_key>"
        f"<wp:meta_value>{cdata(v)}</wp:meta_value></wp:termmeta>"
        for k, v in pairs
    )


def _meta_xml(
    pairs: Iterable[tuple[str, str]], indent: str = "\t\t", tag: str = "wp:postmeta"
) -> str:
    """Meta key/value pairs as an item's ``wp:postmeta`` (or a comment's ``wp:commentmeta``)."""
    return "".join(
        f"{indent}<{tag}>\n"
        f"{indent}\t<wp:meta_key>{cdata(k)}</wp:meta_key>\n"
        f"{indent}\t<wp:meta_value>{cdata(v)}</wp:meta_value>\n"
        f"{indent}</{tag}>\n"
        for k, v in pairs
    )


def _item_text(guid: str, content: str, excerpt: str, post_id: int) -> bytes:
    """An item's lines from ``guid`` to ``wp:post_id``: none depends on the writer's state,
    so a node's are written in the worker that prepares it (most of an item's bytes)."""
    return (
        f'\t\t<guid isPermaLink="false">{esc(guid)}</guid>\n'
        "\t\t<description></description>\n"
        f"\t\t<content:encoded>{cdata(content)}</content:encoded>\n"
        f"\t\t<excerpt:encoded>{cdata(excerpt)}</excerpt:encoded>\n"
        f"\t\t<wp:post_id>{post_id}</wp:post_id>\n"
    ).encode()


def _item_xml(
    *,
    title: str,
    link: str,
    pub: str,
    creator: str,
    text: bytes,
    date: tuple[str, str],
    modified: tuple[str, str],
    name: str,
    status: str,
    post_type: str,
    sticky: int,
    comment_status: str,
    extra: str,
    categories: list[tuple[str, str, str]],
    meta: bytes,
    comments: bytes,
    parent: int = 0,
) -> bytes:
    """One ``<item>`` in UTF-8; ``text`` is ``_item_text``, ``meta`` its ``wp:postmeta``."""
    cats = "".join(
        f'\t\t<category domain="{esc(tax)}" nicename="{esc(slug)}">'
        f"{cdata(plain_html(label))}</category>\n"
        for tax, slug, label in categories
    )
    head = (
        "\t<item>\n"
        f"\t\t<title>{cdata(title)}</title>\n"
        f"\t\t<link>{esc(link)}</link>\n"
        f"\t\t<pubDate>{pub}</pubDate>\n"
        f"\t\t<dc:creator>{cdata(creator)}</dc:creator>\n"
    )
    # Dates are this module's digits and separators (``_wp_date``): CDATA as they are.
    settled = (
        f"\t\t<wp:post_date><![CDATA[{date[0]}]]></wp:post_date>\n"
        f"\t\t<wp:post_date_gmt><![CDATA[{date[1]}]]></wp:post_date_gmt>\n"
        f"\t\t<wp:post_modified><![CDATA[{modified[0]}]]></wp:post_modified>\n"
        f"\t\t<wp:post_modified_gmt><![CDATA[{modified[1]}]]></wp:post_modified_gmt>\n"
        f"\t\t<wp:comment_status>{cdata(comment_status)}</wp:comment_status>\n"
        "\t\t<wp:ping_status><![CDATA[closed]]></wp:ping_status>\n"
        f"\t\t<wp:post_name>{cdata(name)}</wp:post_name>\n"
        f"\t\t<wp:status>{cdata(status)}</wp:status>\n"
        f"\t\t<wp:post_parent>{parent}</wp:post_parent>\n"
        "\t\t<wp:menu_order>0</wp:menu_order>\n"
        f"\t\t<wp:post_type>{cdata(post_type)}</wp:post_type>\n"
        "\t\t<wp:post_password><![CDATA[]]></wp:post_password>\n"
        f"\t\t<wp:is_sticky>{1 if sticky else 0}</wp:is_sticky>\n"
        f"{extra}{cats}"
    )
    return b"".join((head.encode(), text, settled.encode(), meta, comments, b"\t</item>\n"))


# ---------------------------------------------------------------------- in the workers

_HOLE = secrets.randbits(128) << 64
"""Added to a fid, the ``wp_id`` a worker writes for a file value: ``_SpanWriter`` finds
it in the JSON again and leaves a gap there (no other number has its 40-odd digits)."""
_WP_ID = re.compile(r', "wp_id": (\d+)')


@dataclass(frozen=True, slots=True)
class _Spans:
    """UTF-8 XML a worker wrote, less the ``, "wp_id": N`` of each file value in it.

    Whether a file's attachment was written is the writer's state, so the worker
    leaves a gap where that goes (``fids[i]`` between ``parts[i]`` and
    ``parts[i + 1]``) and ``render`` fills each gap whose attachment exists. The
    gaps are inside CDATA: each part was escaped on its own, which equals escaping
    the whole, since a gap's neighbours (``,`` before it, ``}`` after it, the key
    always ending its object) never make a ``]]>`` across it.
    """

    parts: tuple[bytes, ...]
    fids: tuple[int, ...]

    def render(self, attachments: Mapping[str, Any]) -> bytes:
        if not self.fids:
            return self.parts[0]
        out = [self.parts[0]]
        for fid, part in zip(self.fids, self.parts[1:], strict=True):
            if str(fid) in attachments:
                out.append(f', "wp_id": {ATTACHMENT_ID_OFFSET + fid}'.encode())
            out.append(part)
        return b"".join(out)


class _SpanWriter:
    """Builds ``_Spans``: XML text, and meta values with a gap at each file's ``wp_id``."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self._parts: list[bytes] = []
        self._fids: list[int] = []

    def add(self, text: str) -> None:
        self._text.append(text)

    def meta(
        self,
        pairs: Sequence[tuple[str, str]],
        values: Sequence[FieldValue],
        indent: str,
        tag: str,
    ) -> None:
        """``pairs`` and then the field ``values`` as ``_meta_xml`` writes them."""
        holes: list[int] = []

        def hole(fid: int) -> int:
            holes.append(fid)
            return _HOLE + fid

        pairs = [*pairs, *field_postmeta(values, hole)]
        if not holes:
            self.add(_meta_xml(pairs, indent, tag))
            return
        for key, value in pairs:
            self.add(
                f"{indent}<{tag}>\n"
                f"{indent}\t<wp:meta_key>{cdata(key)}</wp:meta_key>\n"
                f"{indent}\t<wp:meta_value><![CDATA["
            )
            start = 0
            for m in _WP_ID.finditer(value):
                fid = int(m[1]) - _HOLE
                if 0 <= fid < 1 << 64:
                    self.add(_in_cdata(value[start : m.start()]))
                    self._parts.append("".join(self._text).encode())
                    self._text = []
                    self._fids.append(fid)
                    start = m.end()
            self.add(f"{_in_cdata(value[start:])}]]></wp:meta_value>\n{indent}</{tag}>\n")

    def spans(self) -> _Spans:
        return _Spans((*self._parts, "".join(self._text).encode()), tuple(self._fids))


@dataclass(frozen=True, slots=True)
class PreparedComment:
    """A comment's XML but its author's name and email, which may be an exported user's."""

    cid: int
    orphan: int
    """The parent cid when that comment was not exported (a problem), else 0."""
    uid: int
    name: str
    mail: str | None
    head: bytes
    """``<wp:comment>`` and its id."""
    tail: _Spans
    """From ``wp:comment_author_url`` to ``</wp:comment>``."""


@dataclass(frozen=True, slots=True)
class PreparedPost:
    """A node's item as far as no writer state decides it (``PostPreparer``, in a worker).

    ``WxrWriter._node`` finishes it: post name, date shift, author, categories,
    attachment ids, comment authors.
    """

    nid: int
    type: str
    target_type: str
    title: str
    slug: str
    status: int
    sticky: int
    created: int
    changed: int
    author: int
    terms: tuple[tuple[int, str], ...]
    """(tid, name) of each term reference, in field order."""
    images: tuple[int, ...]
    """Fids of the node's images, the preferred thumbnail first."""
    files: tuple[int, ...]
    """Fids of every file of the node, in field order (its attachments follow it)."""
    problems: tuple[str, ...]
    text: bytes
    """``_item_text``: guid, body, excerpt, id."""
    meta: _Spans
    """The ``wp:postmeta`` of the node's identity, aliases and field values."""
    comments: tuple[PreparedComment, ...]


for _crossing in (PreparedPost, PreparedComment, _Spans, ItemKey):
    # a node's prepared item crosses from its worker, each file's item keys from the checker
    fast_pickling(_crossing)


@dataclass(frozen=True)
class PostPreparer:
    """The WXR writer's ``prepare_node``: writes the parts of a node's item that need no
    writer state (body, excerpt, field meta, comments) in the node worker processes,
    where escaping and JSON cost the main process nothing."""

    base_url: str
    tz: ZoneInfo

    def __call__(self, n: NodeRecord) -> PreparedPost:
        meta = _SpanWriter()
        meta.meta(
            [
                ("_drupal_nid", str(n.nid)),
                ("_drupal_path", f"node/{n.nid}"),
                ("_drupal_type", n.type),
                *(("_drupal_alias", alias) for alias in n.aliases),
            ],
            n.fields,
            "\t\t",
            "wp:postmeta",
        )
        images = [f for f in n.files if (f.mime or "").startswith("image/")]
        images.sort(key=lambda f: (f.field != "field_image", f.field, f.delta))
        return PreparedPost(
            nid=n.nid,
            type=n.type,
            target_type=n.target_type,
            title=n.title,
            slug=n.slug,
            status=n.status,
            sticky=n.sticky,
            created=n.created,
            changed=n.changed,
            author=n.author,
            terms=tuple((t.tid, t.name) for t in n.terms),
            images=tuple(f.fid for f in images),
            files=tuple(f.fid for f in sorted(n.files, key=lambda f: (f.field, f.delta))),
            problems=tuple(f"{p.kind}: {p.detail}" for p in n.problems),
            text=_item_text(
                f"{self.base_url}/node/{n.nid}",
                n.body.value if n.body else "",
                n.body.summary if n.body else "",
                n.nid,
            ),
            meta=meta.spans(),
            comments=self._comments(n.comments),
        )

    def _comments(self, comments: Sequence[CommentRecord]) -> tuple[PreparedComment, ...]:
        ordered = sorted(comments, key=lambda c: (c.thread.rstrip("/"), c.cid))
        cids = {c.cid for c in ordered}
        earlier: set[int] = set()
        parents_first = True
        for c in ordered:
            if c.pid and c.pid in cids and c.pid not in earlier:
                parents_first = False
            earlier.add(c.cid)
        # The importer inserts comments in id order and maps a parent only once inserted.
        ids = (
            {c.cid: c.cid for c in ordered}
            if parents_first and ordered == sorted(ordered, key=lambda c: c.cid)
            else {c.cid: i for i, c in enumerate(ordered, 1)}
        )
        return tuple(
            self._comment(
                c,
                ids[c.cid],
                ids.get(c.pid, 0) if c.pid else 0,
                c.pid if c.pid and c.pid not in cids else 0,
            )
            for c in ordered
        )

    def _comment(self, c: CommentRecord, cid: int, parent: int, orphan: int) -> PreparedComment:
        local, gmt = _dates(c.created, self.tz)
        tail = _SpanWriter()
        tail.add(
            f"\t\t\t<wp:comment_author_url>{cdata(c.homepage or '')}</wp:comment_author_url>\n"
            f"\t\t\t<wp:comment_author_IP>{cdata(c.hostname or '')}</wp:comment_author_IP>\n"
            f"\t\t\t<wp:comment_date>{cdata(local)}</wp:comment_date>\n"
            f"\t\t\t<wp:comment_date_gmt>{cdata(gmt)}</wp:comment_date_gmt>\n"
            f"\t\t\t<wp:comment_content>{cdata(c.body.value if c.body else '')}"
            "</wp:comment_content>\n"
            f"\t\t\t<wp:comment_approved>{cdata('1' if c.status else '0')}</wp:comment_approved>\n"
            f"\t\t\t<wp:comment_type>{cdata('comment')}</wp:comment_type>\n"
            f"\t\t\t<wp:comment_parent>{parent}</wp:comment_parent>\n"
            f"\t\t\t<wp:comment_user_id>{c.uid}</wp:comment_user_id>\n"
        )
        subject = [("_drupal_subject", c.subject)] if c.subject else []
        tail.meta(subject, c.fields, "\t\t\t", "wp:commentmeta")
        tail.add("\t\t</wp:comment>\n")
        head = f"\t\t<wp:comment>\n\t\t\t<wp:comment_id>{cid}</wp:comment_id>\n"
        return PreparedComment(c.cid, orphan, c.uid, c.name, c.mail, head.encode(), tail.spans())
