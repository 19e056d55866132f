"""``--to hugo``: a Hugo site of one page per node, with every old URL kept alive.

Layout of the output directory::

    hugo.toml                         taxonomies (one per vocabulary), markup settings
    layouts/_default/{single,list}.html   minimal templates so the site builds as is
    content/<section>/<slug>.md       a node: TOML front matter + cleaned body
    content/<section>/<slug>/index.md     a node with images: a page bundle, the images beside it
    content/<taxonomy>/<slug>/_index.md   a term page: title, description, old term URLs
    static/files/<path>               the site's public files (body links point here)
    static/<old path>/index.html      redirect pages for the redirect module's rows

Front matter ``aliases`` lists every old Drupal path of a node or term
(``/node/12``, ``/taxonomy/term/3`` and each URL alias), so ``hugo`` writes a
redirect page for each. Taxonomy values are the terms' ASCII slugs, so term
URLs have no diacritics; the Vietnamese names are the term pages' titles.
Bodies are HTML (``markup = "html"``) unless ``markdown`` is set in the options.

A page without images is one file, not a folder holding one: Hugo gives both the
same URL, and a folder per node cost the file system three times the work of the
file alone (measured: 20,000 pages, 3.1 s of kernel time against 1.0 s).

The writer's state (which page folder belongs to which node, which alias is taken)
lives in ``.hugo-state/``; a batch first records the paths it is about to
write, so a batch interrupted by a kill is removed exactly by ``discard_batch``.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import os
import re
import shutil
import tomllib
import unicodedata
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
import tomli_w

from migrate import paths
from migrate.durable import write_durably
from migrate.errors import BadInput, StateError, is_disk_full
from migrate.export import ItemRef, WriterOptions, register_writer
from migrate.export.clean import slugify_vi
from migrate.export.diskmap import DiskMap, DiskMaps
from migrate.export.fields import (
    DateItem,
    FieldItem,
    FieldValue,
    FileItem,
    LinkItem,
    ListItem,
    NestedItem,
    ReferenceItem,
    TermItem,
    TextItem,
    front_matter_fields,
    item_data,
    scalar,
)
from migrate.export.keptindex import KeptIndex
from migrate.export.media import (
    MediaResult,
    copy_file,
    copy_verified,
    reconciliation_csv,
    summarize,
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
)

STATE_DIR = ".hugo-state"
SMALL_SECTIONS = ("vocabularies", "terms", "authors", "files", "media_list")
"""The writer's state sections held in memory (the rest is in its ``DiskMaps``)."""
FILES_URL = "/files/"
_IMG_SRC = re.compile(r'(<img\b[^>]*?\bsrc=")(/files/[^"?#]+)(")', re.I)

THEME = "drupal-migrate"
"""The built-in theme (``migrate/export/hugo_theme``), copied to ``themes/drupal-migrate``."""
PAGE_SIZE = 20
"""Pages listed per list or term page; the rest are on ``page/2/`` and on."""
_OLD_LAYOUTS = ("single.html", "list.html")
"""Minimal layouts earlier versions wrote to ``layouts/_default``; they would hide the theme."""
_OLD_LAYOUT_START = (
    '<!DOCTYPE html>\n<html lang="{{ .Site.LanguageCode }}">\n'
    '<head><meta charset="utf-8"><title>{{ .Title }}</title></head>'
)

REDIRECT_PAGE = """<!DOCTYPE html>
<html><head><title>{url}</title><link rel="canonical" href="{url}">
<meta name="robots" content="noindex"><meta charset="utf-8">
<meta http-equiv="refresh" content="0; url={url}"></head></html>
"""


def section_of(node_type: str) -> str:
    """The content section of a node type: ASCII, hyphenated."""
    return slugify_vi(node_type) or "content"


def taxonomy_of(vocabulary: str) -> str:
    """The Hugo taxonomy (plural, used in URLs and front matter) of a vocabulary."""
    return slugify_vi(vocabulary) or "terms"


class HugoUrls:
    """``/<section>/<slug>/`` pages, ``/<taxonomy>/<slug>/`` terms, ``/files/<path>`` files."""

    def node_url(self, node_type: str, slug: str, nid: int) -> str:
        return f"/{section_of(node_type)}/{slug}/"

    def term_url(self, vocabulary: str, slug: str, tid: int) -> str:
        return f"/{taxonomy_of(vocabulary)}/{slug}/"

    def file_url(self, relative_path: str) -> str:
        return FILES_URL + quote(relative_path)


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_string(text: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, plus DEL, which JSON leaves as is."""
    try:
        quoted = orjson.dumps(text).decode("utf-8")
    except TypeError:  # a lone surrogate: the slower encoder escapes it
        quoted = json.dumps(text, ensure_ascii=False)
    return quoted.replace("\x7f", "\\u007f")


@lru_cache(maxsize=4096)
def _toml_key(key: str) -> str:
    """A key as TOML writes it; cached: pages repeat a few keys (fields, taxonomies...)."""
    return key if _BARE_KEY.match(key) else _toml_string(key)


def _toml_value(value: Any) -> str:
    """One TOML value; tables and arrays of tables are written inline, on one line.

    The exact types a page holds are tested first, with ``is``: a page's front matter
    and fields are thousands of values per batch, and ``isinstance`` against
    ``Mapping`` costs an ABC check each.
    """
    kind = type(value)
    if kind is TomlText:  # most values of a page (``PagePreparer`` wrote them)
        return value  # type: ignore[no-any-return]
    if kind is str:
        return _toml_string(value)
    if kind is dict:
        return "{" + _toml_items(value) + "}"
    if kind is list or kind is tuple:
        return _toml_array(value)
    if kind is int:
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            repr(value)
            if math.isfinite(value)
            else ("nan" if value != value else ("inf" if value > 0 else "-inf"))
        )
    if isinstance(value, str):
        return value if isinstance(value, TomlText) else _toml_string(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return "{" + _toml_items(value) + "}"
    if isinstance(value, list | tuple):
        return _toml_array(value)
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _toml_array(values: Sequence[Any]) -> str:
    """An inline array; TOML has no null, so None items are left out."""
    return "[" + ", ".join([_toml_value(v) for v in values if v is not None]) + "]"


def _toml_items(table: Mapping[str, Any]) -> str:
    """The ``key = value`` pairs of an inline table, without its braces."""
    return ", ".join(
        [f"{_toml_key(str(k))} = {_toml_value(v)}" for k, v in table.items() if v is not None]
    )


def front_matter(data: Mapping[str, Any]) -> str:
    """TOML front matter between ``+++`` lines, written here (several times faster than tomli-w).

    Every string is a basic string with JSON's escapes; nested tables are inline.
    """
    lines = [f"{_toml_key(k)} = {_toml_value(v)}\n" for k, v in data.items() if v is not None]
    return "".join(["+++\n", *lines, "+++\n"])


_SHORTCODE_PAIR = (
    re.compile(r"\{\{<(?!/\*)(.*?)>\}\}", re.S),
    re.compile(r"\{\{%(?!/\*)(.*?)%\}\}", re.S),
)


def html_for_hugo(body: str) -> str:
    """Cleaned HTML as Hugo content: ``{{<`` and ``{{%`` would start a shortcode.

    The first brace becomes a character reference, which browsers read as ``{``.
    """
    return body.replace("{{<", "{&#123;<").replace("{{%", "{&#123;%")


def to_markdown(body: str) -> str:
    """Cleaned HTML as Markdown that shows what the HTML showed and runs nothing.

    ``escape_misc`` backslash-escapes ``<`` and ``&`` in text, so text that read
    ``<script>`` stays text; shortcode delimiters left (in code, or ``{{%``) are
    written in Hugo's comment form ``{{</* … */>}}``, which prints them as they
    were, and an unpaired one loses its meaning with a backslash.
    """
    from markdownify import markdownify

    text = markdownify(body, heading_style="ATX", escape_misc=True)
    text = _SHORTCODE_PAIR[0].sub(lambda m: "{{</*" + m.group(1) + "*/>}}", text)
    text = _SHORTCODE_PAIR[1].sub(lambda m: "{{%/*" + m.group(1) + "*/%}}", text)
    return re.sub(r"\{\{(?=[<%](?!/\*))", r"{\\{", text)


def _when(timestamp: int, zone: ZoneInfo) -> datetime:
    """A Drupal timestamp in the site's time zone (the offset is kept in the front matter)."""
    return datetime.fromtimestamp(timestamp, UTC).astimezone(zone)


def _depth(thread: str) -> int:
    """A comment's nesting level from Drupal's vancode (``01/`` is 0, ``01.00/`` is 1)."""
    return thread.rstrip("/").count(".")


def _safe_dir(path: str, fallback: str) -> str:
    """A URL path as a content folder: ASCII segments, nothing that climbs out."""
    segments = (path.strip("/") or fallback).split("/")
    return "/".join(slugify_vi(p) or "x" for p in segments if p not in ("", "."))


def _fresh_dir(path: Path) -> None:
    """An empty folder at ``path``: one mkdir when nothing is there, the usual case."""
    try:
        path.mkdir()
    except FileNotFoundError:
        path.mkdir(parents=True)
    except FileExistsError:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
        path.mkdir()


_NO_SEGMENT = frozenset({"", ".", ".."})
_LEAF = ".md"
"""The suffix of a page written as one file (``_page_target``); no folder name has it,
since ``slugify_vi`` turns every dot into a hyphen."""
_BUNDLE_ONLY = frozenset({"index"})
"""Folder names a page without images still gets a bundle for: ``content/a/index.md``
would make Hugo read all of ``content/a`` as one page's bundle."""


def _page_target(folder: str, bundled: bool) -> str:
    """Where a page with URL folder ``folder`` is written: ``folder``'s ``index.md`` when
    it has images to hold beside it (``bundled``), else the one file ``folder.md``."""
    if bundled or folder.rpartition("/")[2] in _BUNDLE_ONLY:
        return folder
    return folder + _LEAF


def _page_folder(target: str) -> str:
    """A page's URL folder under ``content`` from its target (``_page_target``)."""
    return target.removesuffix(_LEAF)


_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC


def _fresh_file(path: str, data: bytes) -> None:
    """``data`` as the file at ``path``, whatever was there (never through a link).

    Plain ``os`` calls on a ``str``: a page's file is written in an I/O thread that
    shares the GIL with the main process's own work.
    """
    try:
        fd = os.open(path, _NEW_FILE, 0o644)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, _NEW_FILE, 0o644)
    except OSError:  # a folder, or a link (ELOOP)
        if os.path.islink(path):
            os.unlink(path)
        elif os.path.isdir(path):
            shutil.rmtree(path)
        else:
            raise
        fd = os.open(path, _NEW_FILE, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _write_bundle(
    key: str, target: str, page: bytes, copies: Mapping[str, Path]
) -> tuple[str, list[str]]:
    """A node's page: one file (``_page_target``), or its folder with the page and the
    image copies (runs in an I/O thread).

    A folder is new or emptied first, so a half-written bundle is removed with
    its batch (see ``discard_batch``); the batch's one ``os.sync`` flushes it.
    Returns the node's key and a line per image that could not be copied.
    """
    failures: list[str] = []
    try:
        if target.endswith(_LEAF):
            _fresh_file(target, page)
            return key, failures
        bundle = Path(target)
        _fresh_dir(bundle)
        for name, src in copies.items():
            try:
                copy_verified(src, bundle / name, sync=False)
            except OSError as exc:
                if is_disk_full(exc):
                    raise
                failures.append(f"image {name} not copied into the bundle: {exc}")
        (bundle / "index.md").write_bytes(page)
    except OSError as exc:
        raise StateError(f"{target}: cannot write the page ({exc})") from None
    return key, failures


_Bundle = tuple[str, str, bytes, Mapping[str, Path]]
"""A page to write: the node's key, its path (``_page_target`` in the output folder),
its page, its image copies."""
_BUNDLES_PER_JOB = 25
"""Bundles an I/O thread writes per job: 20 jobs a batch of 500 pages, written while
the main process finishes the next pages."""


def _write_bundles(bundles: Sequence[_Bundle]) -> list[tuple[str, list[str]]]:
    return [_write_bundle(*bundle) for bundle in bundles]


def _old_paths(primary: str, aliases: Sequence[str]) -> list[str]:
    out: list[str] = []
    for path in (primary, *aliases):
        # Web servers decode the request before looking for the file Hugo writes.
        p = "/" + unicodedata.normalize("NFC", unquote(path)).strip("/")
        if p != "/" and p not in out:
            out.append(p)
    return out


def _state_json(value: Any) -> bytes:
    """The writer's own state as JSON: orjson (~10x faster), or json for what it refuses
    (a lone surrogate in a name, a key that is not a string)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value).encode()  # escaped: a lone surrogate reads back as itself


class TomlText(str):
    """A value already written as TOML (by ``PagePreparer``): ``front_matter`` writes it as is."""


@dataclass(frozen=True, slots=True)
class PreparedPage:
    """A node's page as far as no writer state decides it (``PagePreparer``, in a worker).

    ``HugoWriter._node`` finishes it: its folder, aliases, author, terms, attachments.
    """

    nid: int
    type: str
    target_type: str
    folder: str
    """The folder the page asks for under ``content``: its URL's, made safe (slugified
    in the worker); ``HugoWriter._page_dir`` decides the one it gets."""
    title: str
    draft: bool
    author: int
    old_paths: tuple[str, ...]
    """``/node/N`` and the node's aliases, decoded (``_old_paths``)."""
    terms: tuple[tuple[int, str, str], ...]
    """(tid, name, vocabulary) of each term reference, in field order."""
    attachments: tuple[tuple[int, str | None, str | None, int | None], ...]
    """(fid, uri, description, size) of each file that is not an image, in field order."""
    image_problems: tuple[str, ...]
    problems: tuple[str, ...]
    """The record's own problems, as the manifest lists them."""
    copies: tuple[tuple[str, Path], ...]
    """(name in the bundle, source) of each image the page shows."""
    toml: dict[str, str]
    """Values written as TOML: ``date``, ``lastmod``, and when there are any ``images``,
    ``lead``, ``gallery``, ``summary``, ``fields``, ``details``."""
    comments: tuple[tuple[str, int | None, str], ...]
    """Each comment as an inline TOML table, cut where its author's name goes when that
    name comes from the exported users: (head, uid, tail); (whole table, None, "") else."""
    text: bytes
    """The page's body: HTML as Hugo content, or Markdown; UTF-8, which holds a
    Vietnamese page in about two thirds of the memory a str takes while the batch
    waits in the main process (three batches are in flight)."""


@dataclass(frozen=True)
class PagePreparer:
    """The Hugo writer's ``prepare_node``: renders a page's body, images and front matter
    values in the node worker processes, where the main process need not."""

    zone: ZoneInfo
    field_zone: str | None
    markdown: bool
    files_dir: Path | None
    private_dir: Path | None

    def __call__(self, n: NodeRecord) -> PreparedPage:
        body = n.body.value if n.body else ""
        body, images, copies, image_problems = _bundle_images(
            n, body, self.files_dir, self.private_dir
        )
        toml = {
            "date": _when(n.created, self.zone).isoformat(),
            "lastmod": _when(max(n.changed, n.created), self.zone).isoformat(),
        }
        if images:
            toml["images"] = _toml_value([i["src"] for i in images])
            toml["lead"] = _toml_value(images[0])
            if len(images) > 1:
                toml["gallery"] = _toml_value(images[1:])
        if n.body and n.body.summary:
            # Plain text, escaped again: Hugo renders a summary as HTML.
            text = html.unescape(re.sub(r"<[^>]+>", "", n.body.summary)).strip()
            toml["summary"] = _toml_string(html.escape(text, quote=False))
        if n.fields:
            toml["fields"] = _toml_value(front_matter_fields(n.fields, self.field_zone))
            shown = _shown_fields(n.fields, self.field_zone)
            if shown:
                toml["details"] = _toml_value(shown)
        attachments = tuple(
            (f.fid, f.uri, f.description, f.size)
            for f in sorted(n.files, key=lambda f: (f.field, f.delta))
            if not (f.mime or "").startswith("image/")
        )
        return PreparedPage(
            nid=n.nid,
            type=n.type,
            target_type=n.target_type,
            folder=_safe_dir(n.path, f"{section_of(n.target_type)}/{n.slug}"),
            title=n.title,
            draft=not n.status,
            author=n.author,
            old_paths=tuple(_old_paths(f"node/{n.nid}", n.aliases)),
            terms=tuple((t.tid, t.name, t.vocabulary) for t in n.terms),
            attachments=attachments,
            image_problems=tuple(image_problems),
            problems=tuple(f"{p.kind}: {p.detail}" for p in n.problems),
            copies=tuple(copies.items()),
            toml=toml,
            comments=tuple(self._comment(c) for c in _thread_order(n.comments)),
            text=(to_markdown(body) if self.markdown else html_for_hugo(body)).strip().encode(),
        )

    def _comment(self, c: CommentRecord) -> tuple[str, int | None, str]:
        """A comment as the theme shows it (unpublished ones hidden), cut at its author."""
        when = _when(c.created, self.zone)
        tail: dict[str, Any] = {
            "iso": when.isoformat(),
            "when": when.strftime("%d/%m/%Y %H:%M"),
            "subject": c.subject,
            "body": c.body.value if c.body else "",
            "published": bool(c.status),
        }
        if c.pid:
            tail["reply_to"] = c.pid
        if c.fields:
            tail["fields"] = front_matter_fields(c.fields, self.field_zone)
        head = f"{{cid = {c.cid}, depth = {_depth(c.thread)}, author = "
        rest = ", " + _toml_items(tail) + "}"
        if c.name:
            return head + _toml_string(c.name) + rest, None, ""
        return head, c.uid, rest


def _thread_order(comments: Sequence[CommentRecord]) -> list[CommentRecord]:
    return sorted(comments, key=lambda c: (c.thread.rstrip("/"), c.cid))


def _bundle_images(
    n: NodeRecord, body: str, files_dir: Path | None, private_dir: Path | None
) -> tuple[str, list[dict[str, str]], dict[str, Path], list[str]]:
    """Point the body at copies of its images in the bundle.

    Returns the body, the images the page shows, the copies (name → source) and a
    problem per image that cannot be copied.
    """
    taken: dict[str, str] = {}
    copies: dict[str, Path] = {}
    problems: list[str] = []

    def bring(rel: str) -> str | None:
        if rel in taken:
            return taken[rel]
        where = paths.locate(paths.PUBLIC + rel, files_dir, private_dir)
        src = where.source
        if src is None:
            why = "not found" if where.status == paths.MISSING else where.reason
            problems.append(f"image {rel!r} not copied ({why}); link left as is")
            return None
        name = PurePosixPath(rel).name
        stem, dot, ext = name.rpartition(".")
        n_try = 2
        while name in copies or name in ("index.md", "_index.md"):
            name = f"{stem}-{n_try}{dot}{ext}" if dot else f"{name}-{n_try}"
            n_try += 1
        copies[name] = src
        taken[rel] = name
        return name

    def swap(m: re.Match[str]) -> str:
        rel = unquote(m.group(2)[len(FILES_URL) :])
        local = bring(rel)
        return m.group(1) + quote(local) + m.group(3) if local else m.group(0)

    body = _IMG_SRC.sub(swap, body)
    images: list[dict[str, str]] = []
    for ref in sorted(n.files, key=lambda f: (f.field != "field_image", f.field, f.delta)):
        rel = paths.public_relative(ref.uri or "")
        if rel and (ref.mime or "").startswith("image/"):
            local = bring(rel)
            if local and all(i["src"] != local for i in images):
                images.append({"src": quote(local), "alt": ref.alt, "title": ref.title})
    return body, images, copies, problems


@register_writer("hugo")
class HugoWriter:
    """A buildable Hugo site in ``out_dir``."""

    def __init__(self) -> None:
        self.urls = HugoUrls()
        self.out_dir = Path()
        self.options = WriterOptions()
        self.markdown = False
        self.zone = ZoneInfo("UTC")
        self.state: dict[str, MutableMapping[str, Any]] = {}
        self._maps: DiskMaps | None = None
        self._written_now: set[str] = set()
        self._planned: dict[str, str] = {}
        self._redirect_pages: dict[str, tuple[str, str | None]] = {}
        self.prepare_node = PagePreparer(self.zone, None, False, None, None)
        # Pages, bundles and their files are written by threads while the next node is built:
        # the kernel's file-creation work then overlaps this process's Python work.
        self._io = ThreadPoolExecutor(max_workers=2, thread_name_prefix="hugo-io")
        self._jobs: list[Future[list[tuple[str, list[str]]]]] = []
        self._bundles: list[_Bundle] = []
        self._dir_owner: MutableMapping[str, str] = {}
        """Page folder (its URL under ``content``) → page key: the index ``_page_dir`` looks
        a folder up in; a page without images is the file ``<folder>.md``."""
        self._taken_urls: MutableMapping[str, str] = {}
        """Every page's and term's URL (no trailing slash) → its owner, kept as pages move."""
        self._disk: dict[str, DiskMap] = {}
        """The maps above and ``state``'s pages and aliases, by name (``_prefetch``)."""
        self._term_toml: dict[tuple[str, str], tuple[str, str]] = {}
        """(tid, vocabulary) → a page's ``params.terms`` entry and its trail, as TOML."""

    # ------------------------------------------------------------------ contract

    def begin(self, out_dir: Path, options: WriterOptions) -> None:
        self.out_dir = out_dir
        self.options = options
        self.markdown = bool((options.extra or {}).get("markdown"))
        zone = str((options.extra or {}).get("timezone") or options.site.timezone or "UTC")
        try:
            self.zone = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise BadInput(f"unknown time zone {zone!r}") from None
        self.prepare_node = PagePreparer(
            self.zone, self._field_zone(), self.markdown, options.files_dir, options.private_dir
        )
        (out_dir / STATE_DIR).mkdir(parents=True, exist_ok=True)
        self._load_state()
        self._write_site_files()

    def write_batch(
        self, batch_no: int, records: Sequence[Record | PreparedRecord]
    ) -> list[ItemRef]:
        self._planned = {}
        self._redirect_pages = {}
        # The engine sends nodes prepared (``prepare_node``); a plain NodeRecord is prepared here.
        items = [
            self.prepare_node(r)
            if isinstance(r, NodeRecord)
            else r.value
            if isinstance(r, PreparedRecord)
            else r
            for r in records
        ]
        self._prefetch(items)
        planned = [self._target_of(r) for r in items]
        self._prefetch_pages(items)
        write_durably(self._pending(batch_no), _state_json(planned))
        self._batch: dict[str, Any] = {
            s: {} for s in ("vocabularies", "terms", "authors", "files", "pages", "aliases")
        }
        self._batch.update(problems=[], media=[])
        refs: list[ItemRef] = []
        self._written_now = set(planned)
        for record, item, target in zip(records, items, planned, strict=True):
            if isinstance(item, PreparedPage):
                self._node(item, target)
            elif isinstance(record, VocabularyRecord):
                self._vocabulary(record, target)
            elif isinstance(record, TermRecord):
                self._term(record, target)
            elif isinstance(record, AuthorRecord):
                self._put("authors", record.key, {"name": record.display_name or record.name})
            elif isinstance(record, FileRecord):
                self._file(record)
            elif isinstance(record, RedirectRecord):
                self._redirect(record, target)
            refs.append(ItemRef(record.KIND, record.key, target))
        self._finish_jobs()
        if self._maps is not None:
            self._maps.flush()
        os.sync()  # one flush for every file of the batch, before the batch is recorded
        write_durably(self._state_path(batch_no), _state_json(self._batch))
        self._pending(batch_no).unlink()
        return refs

    def remove(self, items: Sequence[ItemRef]) -> None:
        for ref in items:
            # An updated item rewritten in place by the batch just written stays.
            if ref.target not in self._written_now:
                self._delete(ref.target)

    def discard_batch(self, batch_no: int) -> None:
        # An interrupted batch's bundles are dropped, and writes under way end first:
        # none may land after its folder is deleted.
        self._bundles = []
        jobs, self._jobs = self._jobs, []
        wait(jobs)
        pending = self._pending(batch_no)
        for path in [pending, self._state_path(batch_no)]:
            if path.is_file():
                for target in json.loads(path.read_text(encoding="utf-8")) or []:
                    if isinstance(target, str):
                        self._delete(target)
        pending.unlink(missing_ok=True)
        self._state_path(batch_no).unlink(missing_ok=True)
        self._load_state()

    def finish(self, summary: Mapping[str, Any]) -> None:
        self._write_site_files()
        results = [MediaResult(**m) for m in self.state.get("media_list", {}).values()]
        if results:
            write_durably(self.out_dir / "media-report.csv", reconciliation_csv(results))
        head = {
            "pages": len(self.state["pages"]),
            "terms": len(self.state["terms"]),
            "aliases": len(self.state["aliases"]),
            "media": summarize(results),
        }
        tmp = self.out_dir / ".hugo-manifest.json.tmp"
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write("{\n")
            for key, value in head.items():
                text = json.dumps(value, ensure_ascii=False, indent=2).replace("\n", "\n  ")
                fh.write(f"  {json.dumps(key)}: {text},\n")
            # problems streamed from the batch states: one batch file in memory at a time
            fh.write('  "problems": [')
            first = True
            for data in self._batch_states():
                for entry in data.get("problems", []):
                    fh.write(
                        ("\n    " if first else ",\n    ") + json.dumps(entry, ensure_ascii=False)
                    )
                    first = False
            fh.write("],\n" if first else "\n  ],\n")
            run = json.dumps(dict(summary), ensure_ascii=False, indent=2).replace("\n", "\n  ")
            fh.write(f'  "run": {run}\n}}\n')
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.out_dir / "hugo-manifest.json")
        fd = os.open(self.out_dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self._seal()

    def _batch_states(self) -> Iterator[dict[str, Any]]:
        """Each batch's saved state in batch order, one file in memory at a time."""
        for path in sorted((self.out_dir / STATE_DIR).glob("batch-*.json")):
            try:
                yield dict(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError) as exc:
                raise StateError(f"{path}: unreadable Hugo writer state ({exc})") from None

    # ------------------------------------------------------------------ state

    def _pending(self, batch_no: int) -> Path:
        return self.out_dir / STATE_DIR / f"batch-{batch_no:05d}.pending"

    def _state_path(self, batch_no: int) -> Path:
        return self.out_dir / STATE_DIR / f"batch-{batch_no:05d}.json"

    def _kept_index(self) -> KeptIndex:
        return KeptIndex(
            self.out_dir / STATE_DIR / "index.sqlite",
            "batch-*",
        )

    def _load_state(self) -> None:
        """The state of every batch on disk: what grows with the site goes to disk, in the
        index a finished run kept if it is for these batch files, else built from them."""
        if self._maps is not None:
            self._maps.close()
        kept_index = self._kept_index()
        kept = kept_index.claim()
        self._maps = maps = DiskMaps(kept_index.path, kept)
        self._disk = {m: maps.map(m) for m in ("pages", "aliases", "dir_owner", "taken_urls")}
        self._term_toml = {}
        self.state = {s: {} for s in SMALL_SECTIONS}
        self.state["pages"] = self._disk["pages"]
        self.state["aliases"] = self._disk["aliases"]
        self._dir_owner = self._disk["dir_owner"]
        self._taken_urls = self._disk["taken_urls"]
        if kept:
            for name, value in KeptIndex.sections(maps.db).items():
                self.state[name] = value
            return
        for data in self._batch_states():
            for s in ("vocabularies", "terms", "authors", "files", "aliases"):
                self.state[s].update(data.get(s, {}))
            for key, page in data.get("pages", {}).items():
                self._index_page(key, page["dir"])
                self.state["pages"][key] = page
            self.state["media_list"].update({str(m["fid"]): m for m in data.get("media", [])})
        for key, term in self.state["terms"].items():
            self._taken_urls[f"/{term['taxonomy']}/{term['slug']}"] = f"term:{key}"
        maps.flush()

    def _seal(self) -> None:
        """Keep the index for the next run (``keptindex``); this writer is done with it."""
        if self._maps is None:
            return
        self._maps.flush()
        small = {name: self.state[name] for name in SMALL_SECTIONS}
        self._kept_index().seal(self._maps.db, small)
        self._maps.close()
        self._maps = None

    def _put(self, section: str, key: str, value: Any) -> None:
        if section in ("terms", "vocabularies"):
            self._term_toml.clear()
        self._batch[section][key] = value
        self.state[section][key] = value

    def _index_page(self, key: str, target: str) -> None:
        """Record that page ``key`` now lives in ``target`` (its old folder is freed)."""
        old = self.state["pages"].get(key)
        if old:
            folder = _page_folder(old["dir"])
            if self._dir_owner.get(folder) == key:
                del self._dir_owner[folder]
                self._taken_urls.pop("/" + folder.removeprefix("content/"), None)
        folder = _page_folder(target)
        self._dir_owner[folder] = key
        self._taken_urls["/" + folder.removeprefix("content/")] = key

    def _problem(self, kind: str, key: str, detail: str) -> None:
        self._batch["problems"].append({"kind": kind, "id": key, "detail": detail})

    def _delete(self, target: str) -> None:
        """Remove one output path; ``migrate.paths`` refuses one that leaves the folder."""
        path = paths.inside_out(self.out_dir, target)
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)

    # ------------------------------------------------------------------ targets

    def _target_of(self, record: Record | PreparedPage) -> str:
        """The output path of a record, decided before anything is written."""
        if isinstance(record, VocabularyRecord):
            return f"content/{taxonomy_of(record.target or record.machine_name)}/_index.md"
        if isinstance(record, TermRecord):
            return "content/" + _safe_dir(record.path, f"{taxonomy_of(record.vocabulary)}/x")
        if isinstance(record, PreparedPage):
            return _page_target(self._page_dir(record), bool(record.copies))
        if isinstance(record, FileRecord):
            rel = paths.public_relative(record.uri)
            return f"static/files/{rel}" if rel else f"{STATE_DIR}/file-{record.fid}"
        if isinstance(record, RedirectRecord):
            page, why = self._redirect_page(record.source)
            if why:
                return f"{STATE_DIR}/redirect-{hashlib.sha256(record.source.encode()).hexdigest()}"
            return f"static/{page}/index.html"
        return f"{STATE_DIR}/{record.KIND}-{record.key}"

    def _page_dir(self, n: PreparedPage) -> str:
        """The node's folder: its URL's, or that plus ``-<nid>`` when another page holds it.

        Folders planned earlier in the same batch count as held.
        """
        wanted = n.folder
        held = self._planned.get(f"content/{wanted}") or self._dir_owner.get(f"content/{wanted}")
        key = str(n.nid)
        if held not in (None, key):
            wanted = f"{wanted}-{n.nid}"
        self._planned[f"content/{wanted}"] = key
        return f"content/{wanted}"

    def _prefetch(self, items: Sequence[Record | PreparedPage]) -> None:
        """Read the state entries the batch's targets are decided with, in a few queries."""
        self._disk["dir_owner"].prefetch(
            f"content/{i.folder}" for i in items if isinstance(i, PreparedPage)
        )

    def _prefetch_pages(self, items: Sequence[Record | PreparedPage]) -> None:
        """Read the state entries the batch's pages and redirects look up, in a few queries.

        Done before any bundle is written: then no I/O thread runs (see ``diskmap``).
        """
        pages = self._disk["pages"]
        keys = [str(i.nid) for i in items if isinstance(i, PreparedPage)]
        pages.prefetch(keys)
        dirs = [_page_folder(page["dir"]) for k in keys if (page := pages.get(k))]
        self._disk["dir_owner"].prefetch(dirs)
        old = [p for i in items if isinstance(i, PreparedPage) for p in i.old_paths]
        moved = [
            "/" + self._redirect_page(i.source)[0] for i in items if isinstance(i, RedirectRecord)
        ]
        aliases = self._disk["aliases"]
        aliases.prefetch([*old, *moved])
        # A redirect whose path a page's alias holds is done (``_redirect``): most of them,
        # since every node alias is one. Only the others look for a URL taken.
        moved = [p for p in moved if p not in aliases]
        urls = ("/" + d.removeprefix("content/") for d in dirs)
        self._disk["taken_urls"].prefetch([*old, *moved, *urls])

    def _redirect_page(self, source: str) -> tuple[str, str | None]:
        """The static folder of an old path, and why it cannot hold a page (None: it can).

        Kept for the batch: the target, the prefetch and the page each need it.
        """
        found = self._redirect_pages.get(source)
        if found is None:
            page = self._static_path(source)
            found = self._redirect_pages[source] = (page, paths.unsafe_reason(page))
        return found

    @staticmethod
    def _static_path(source: str) -> str:
        """An old path's folder under ``static``: its segments, less empty ones, ``.`` and
        ``..``; a lone leading ``//`` stays, as POSIX paths keep it (and is refused)."""
        path = unquote(source.split("?", 1)[0])
        parts = [p for p in path.split("/") if p not in _NO_SEGMENT]
        if path.startswith("//") and not path.startswith("///"):
            parts.insert(0, "//")
        return "/".join(parts) or "index"

    # ------------------------------------------------------------------ records

    def _vocabulary(self, v: VocabularyRecord, target: str) -> None:
        self._put(
            "vocabularies",
            v.machine_name,
            {"name": v.name, "taxonomy": PurePosixPath(target).parts[1]},
        )
        body = front_matter({"title": v.name, "drupal_vid": v.vid, "markup": "html"})
        # Drupal shows a vocabulary's description as plain text.
        text = html_for_hugo(html.escape(v.description or "", quote=False))
        write_durably(self.out_dir / target, body + text, sync=False)

    def _claim_aliases(self, owner: str, own_url: str, old: list[str]) -> list[str]:
        """Old paths this page may take: each to one page only, never over a page's URL.

        An old path that already is this page's URL needs no alias (Hugo would
        otherwise write a page redirecting to itself).
        """
        own = "/" + own_url.strip("/")
        kept: list[str] = []
        for p in old:
            if p == own:
                continue
            why = paths.unsafe_reason(p.strip("/"))
            if why:
                self._problem("alias", p, f"{p!r}: no redirect page: {why}")
                continue
            holder = self.state["aliases"].get(p)
            if holder not in (None, owner) or p in self._taken_urls:
                self._problem("alias", p, f"{p} already answers for {holder or 'a page'}")
                continue
            self._put("aliases", p, owner)
            kept.append(p)
        return kept

    def _term(self, t: TermRecord, target: str) -> None:
        parts = PurePosixPath(target).parts
        old = self.state["terms"].get(t.key)
        if old:
            self._taken_urls.pop(f"/{old['taxonomy']}/{old['slug']}", None)
        terms = self.state["terms"]
        parents = [p for p in t.parents if str(p) in terms or p == t.tid]
        parent = next((terms.get(str(p)) for p in t.parents), None)
        if t.parents and parent is None:
            self._problem("term", t.key, f"parent {t.parents[0]} of {t.name!r} is not exported")
        if len(t.parents) > 1:
            why = (
                f"{t.name!r} has parents {list(t.parents)}; its trail shows the first,"
                " drupal_parents all of them"
            )
            self._problem("term", t.key, why)
        for p in t.problems:
            self._problem("term", t.key, f"{p.kind}: {p.detail}")
        trail = [*parent["trail"], {"name": parent["name"], "url": parent["url"]}] if parent else []
        url = target.removeprefix("content/") + "/"
        self._put(
            "terms",
            t.key,
            {"taxonomy": parts[1], "slug": parts[-1], "name": t.name, "url": url, "trail": trail},
        )
        self._taken_urls[f"/{parts[1]}/{parts[-1]}"] = f"term:{t.key}"
        aliases = self._claim_aliases(
            f"term:{t.tid}",
            target.removeprefix("content"),
            _old_paths(f"taxonomy/term/{t.tid}", t.aliases),
        )
        data: dict[str, Any] = {
            "title": t.name,
            "slug": parts[-1],
            "drupal_tid": t.tid,
            "markup": "html",
        }
        if parents:
            data["drupal_parents"] = parents
        if aliases:
            data["aliases"] = aliases
        params: dict[str, Any] = {}
        if trail:
            params["trail"] = trail
        if t.fields:
            params["fields"] = front_matter_fields(t.fields, self._field_zone())
        if params:
            data["params"] = params
        write_durably(
            self.out_dir / target / "_index.md",
            front_matter(data) + html_for_hugo(t.description),
            sync=False,
        )

    def _file(self, f: FileRecord) -> None:
        result = copy_file(
            f.fid,
            f.uri,
            f.size,
            self.options.files_dir,
            self.out_dir,
            "static/files",
            sync=False,
            private_dir=self.options.private_dir,
        )
        entry = {
            "fid": result.fid,
            "uri": result.uri,
            "status": result.status,
            "dest": result.dest,
            "size": result.size,
            "sha256": result.sha256,
            "detail": result.detail,
        }
        self._batch["media"].append(entry)
        self.state["media_list"][str(f.fid)] = entry
        self._put("files", f.key, {"rel": paths.public_relative(f.uri), "ok": result.ok})
        if not result.ok:
            self._problem("file", f.key, f"{f.uri}: {result.status} {result.detail}".strip())

    def _node(self, n: PreparedPage, target: str) -> None:
        """Finish a prepared page with what the writer's state decides, and queue its bundle."""
        key = str(n.nid)
        folder = _page_folder(target)
        old = self.state["pages"].get(key)
        if old and old["dir"] != target:
            self._delete(old["dir"])
        self._index_page(key, target)
        self._put("pages", key, {"dir": target})
        for problem in n.image_problems:
            self._problem("node", key, problem)
        aliases = self._claim_aliases(
            f"node:{n.nid}", folder.removeprefix("content"), list(n.old_paths)
        )
        toml = n.toml
        data: dict[str, Any] = {
            "title": n.title,
            "date": TomlText(toml["date"]),
            "lastmod": TomlText(toml["lastmod"]),
            "draft": n.draft,
            "slug": folder.rpartition("/")[2],
        }
        if aliases:
            data["aliases"] = aliases
        authors = self.state["authors"]
        author = authors.get(str(n.author))
        if author:
            data["author"] = author["name"]
        params: dict[str, Any] = {}
        terms: list[tuple[str, str]] = []
        for tid, name, vocabulary in n.terms:
            term = self.state["terms"].get(str(tid))
            if term is None:
                self._problem("node", key, f"term {tid} ({name}) is not exported")
                continue
            values = data.setdefault(term["taxonomy"], [])
            if term["slug"] not in values:
                values.append(term["slug"])
                terms.append(self._term_entry(str(tid), vocabulary, term))
        for problem in n.problems:
            self._problem("node", key, problem)
        if terms:
            params["terms"] = TomlText("[" + ", ".join(entry for entry, _ in terms) + "]")
            params["trail"] = TomlText(terms[0][1])
        if "images" in toml:
            data["images"] = TomlText(toml["images"])
            params["lead"] = TomlText(toml["lead"])
            if "gallery" in toml:
                params["gallery"] = TomlText(toml["gallery"])
        attachments = self._attachments(key, n.attachments)
        if attachments:
            params["attachments"] = attachments
        if n.comments:
            shown = (
                head
                if uid is None
                else head
                + _toml_string(authors.get(str(uid), {}).get("name") or "Anonymous")
                + tail
                for head, uid, tail in n.comments
            )
            params["comments"] = TomlText("[" + ", ".join(shown) + "]")
        if "summary" in toml:
            data["summary"] = TomlText(toml["summary"])
        for name in ("fields", "details"):
            if name in toml:
                params[name] = TomlText(toml[name])
        if params:
            data["params"] = params
        data["drupal_nid"] = n.nid
        data["drupal_type"] = n.type
        if not self.markdown:
            data["markup"] = "html"
        page = front_matter(data).encode() + b"\n" + n.text + b"\n"
        self._bundles.append((key, os.path.join(self.out_dir, target), page, dict(n.copies)))
        if len(self._bundles) >= _BUNDLES_PER_JOB:
            self._submit_bundles()

    def _submit_bundles(self) -> None:
        """Queue the bundles gathered so far as one job: a future per page cost the main
        process ~40 us a page to make and wait for."""
        if self._bundles:
            self._jobs.append(self._io.submit(_write_bundles, self._bundles))
            self._bundles = []

    def _term_entry(self, tid: str, vocabulary: str, term: Mapping[str, Any]) -> tuple[str, str]:
        """A page's ``params.terms`` entry for a term, and the trail it gives, as TOML.

        Made once per term (a site has far fewer terms than pages) until a term changes.
        """
        found = self._term_toml.get((tid, vocabulary))
        if found is None:
            vocab = self.state["vocabularies"].get(vocabulary, {})
            entry = {
                "vocabulary": vocab.get("name") or vocabulary,
                "name": term["name"],
                "url": term["url"],
                "trail": term["trail"],
            }
            trail = [*term["trail"], {"name": term["name"], "url": term["url"]}]
            found = self._term_toml[(tid, vocabulary)] = (_toml_value(entry), _toml_value(trail))
        return found

    def _attachments(
        self, key: str, files: Sequence[tuple[int, str | None, str | None, int | None]]
    ) -> list[dict[str, Any]]:
        """The node's other files, linked where the files phase copied them."""
        out: list[dict[str, Any]] = []
        for fid, uri, description, size in files:
            copied = self.state["files"].get(str(fid))
            rel = copied.get("rel") if copied and copied.get("ok") else None
            if not rel:
                self._problem("node", key, f"attachment {uri} is not published; not linked")
                continue
            name = PurePosixPath(rel).name
            item: dict[str, Any] = {"name": name, "url": "files/" + quote(rel)}
            if description:
                item["description"] = description
            if size:
                item["size"] = _size(size)
            out.append(item)
        return out

    def _field_zone(self) -> str | None:
        """The zone field dates are shown in: ``--timezone``, else the site's."""
        zone = (self.options.extra or {}).get("timezone") or self.options.site.timezone
        return str(zone) if zone else None

    def _finish_jobs(self) -> None:
        """Wait for the batch's bundle writes; a copy that failed is a problem of its node."""
        self._submit_bundles()
        jobs, self._jobs = self._jobs, []
        for job in jobs:
            for key, failures in job.result():
                for failure in failures:
                    self._problem("node", key, failure)

    def _redirect(self, r: RedirectRecord, target: str) -> None:
        if "?" in r.source:
            return
        page, why = self._redirect_page(r.source)
        if why:
            self._problem("alias", r.source, f"{r.source!r}: no redirect page: {why}")
            return
        path = "/" + page
        owner = f"redirect:{r.source}"
        if path in self.state["aliases"] or not self._claim_aliases(owner, "", [path]):
            return
        url = html.escape(r.target, quote=True)
        write_durably(self.out_dir / target, REDIRECT_PAGE.format(url=url), sync=False)

    # ------------------------------------------------------------------ site

    def _write_site_files(self) -> None:
        plurals = {v["taxonomy"] for v in self.state.get("vocabularies", {}).values()}
        plurals.update(t["taxonomy"] for t in self.state.get("terms", {}).values())
        taxonomies = {p.replace("-", "_"): p for p in sorted(plurals)}
        site = self.options.site
        config: dict[str, Any] = {
            "baseURL": (self.options.base_url or "/").rstrip("/") + "/",
            "languageCode": site.language,
            "defaultContentLanguage": site.language,
            "title": site.name or "Drupal export",
            "timeZone": self.zone.key,
            "theme": self._theme(),
            "paginate": PAGE_SIZE,
            "disableKinds": ["RSS"],
            "taxonomies": taxonomies,
            "params": {"description": site.slogan} if site.slogan else {},
            # Pages are HTML (passed through) or Markdown made by to_markdown, which needs no
            # raw HTML: goldmark's default leaves out any that appears.
            "markup": {"goldmark": {"renderer": {"unsafe": False}}},
        }
        write_durably(self.out_dir / "hugo.toml", tomli_w.dumps(config))
        theme = resources.files("migrate.export") / "hugo_theme"
        _copy_tree(theme, self.out_dir / "themes" / THEME)
        for name in _OLD_LAYOUTS:
            old = self.out_dir / "layouts" / "_default" / name
            if old.is_file() and old.read_text(encoding="utf-8").startswith(_OLD_LAYOUT_START):
                old.unlink()

    def _theme(self) -> str:
        """The theme hugo.toml names: ours, unless the user put another one there."""
        try:
            current = tomllib.loads((self.out_dir / "hugo.toml").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return THEME
        theme = current.get("theme")
        return theme if isinstance(theme, str) and theme else THEME


def _copy_tree(source: Traversable, dest: Path) -> None:
    """Write the packaged theme out, file by file (replacing this toolkit's own files only)."""
    for entry in source.iterdir():
        if entry.is_dir():
            _copy_tree(entry, dest / entry.name)
        elif entry.name.endswith((".html", ".toml", ".css")):
            write_durably(dest / entry.name, entry.read_bytes(), sync=False)


_SAFE_URL = re.compile(r"^(?:https?:|mailto:|tel:|/|#|\?|[^:/?#]*(?:[/?#]|$))", re.I)


def _shown_fields(values: Sequence[FieldValue], zone: str | None) -> list[dict[str, Any]]:
    """Field values as the theme prints them: label, then text, a link or cleaned HTML.

    Terms, files and images (shown in their own sections) and the body are left out;
    a link whose scheme could run script is shown as text. A field_collection or
    paragraphs item is shown as its own list of fields (``items``), at any depth.
    """
    out: dict[str, list[dict[str, Any]]] = {}
    for v in values:
        item = v.item
        if v.field == "body" or isinstance(item, TermItem | FileItem):
            continue
        if isinstance(item, NestedItem):
            shown: dict[str, Any] = {"text": f"{item.bundle or item.entity} {item.id}"}
            inner = _shown_fields(item.fields, zone)
            if inner:
                shown["items"] = inner
        else:
            shown = _shown_value(item)
        out.setdefault(v.field, []).append(shown)
    return [{"label": name, "values": vals} for name, vals in out.items()]


def _shown_value(item: FieldItem) -> dict[str, Any]:
    """One value that is not an item: text, a link, a site path or cleaned HTML."""
    if isinstance(item, TextItem):
        return {"html": item.value}
    if isinstance(item, ListItem):
        return {"text": str(item.label if item.label is not None else item.key)}
    if isinstance(item, DateItem):
        ends = f" – {item.end}" if item.end and item.end != item.value else ""
        return {"text": f"{item.value or ''}{ends}"}
    if isinstance(item, LinkItem):
        text = item.title or item.url
        safe = _SAFE_URL.match(_plain_url(item.url)) is not None
        return {"text": text, "url": item.url} if safe else {"text": text}
    if isinstance(item, ReferenceItem):
        text = f"{item.entity} {item.id}"
        return {"text": text, "path": item.url.lstrip("/")} if item.url else {"text": text}
    value = scalar(item)
    if value is not None:
        return {"text": str(value)}
    return {"text": json.dumps(item_data(item), ensure_ascii=False, default=str)}


def _plain_url(url: str) -> str:
    """A URL as a browser reads its scheme: entities, spaces and control characters gone."""
    return re.sub(r"[\x00-\x20\x7f]+", "", html.unescape(url))


def _size(n: int) -> str:
    """A file size as people read it (1.2 MB)."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
