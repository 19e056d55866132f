"""Reading an export back from disk: what each target really holds, counted per entity.

The reconciliation (``migrate.export.reconcile``) compares these counts with the
source, so it proves what was written rather than trusting what the writers
were asked to write. Each target has one reader here, looked up by the
writer's ``reads_back_as`` (its own name by default):

* ``jsonl``: every line of every ``*/batch-*.jsonl`` file;
* ``wxr``: every ``wxr-*.xml`` file (items, their post meta and comments, the
  channel's authors and terms), parsed once: by the writer's validation, whose
  findings are kept by the digest of the file's bytes, else here;
* ``hugo``: every page bundle's and term page's front matter and body, the
  media copies, and the redirect pages.

A reader yields ``Found`` (an entity and what hangs off it, counted), ``Listed``
(an entity the target left out on purpose, with the writer's reason) and
declares in ``ReadBack.not_carried`` what its format cannot hold at all. Files
are parsed one at a time, so memory stays flat.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import tomllib
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import orjson
import rtoml

from migrate.durable import write_durably
from migrate.errors import StateError
from migrate.export.fields import COMMENT_BODY
from migrate.export.fingerprint import code_digest
from migrate.export.media import ATTACHMENT_ID_OFFSET, NOT_PUBLISHED, OK_STATUSES
from migrate.export.wxr_validate import (
    PARENTS_META,
    WxrFile,
    WxrItem,
    WxrParseError,
    WxrReader,
    WxrTerm,
    file_chunks,
)

BODY = "body"
"""The part name of a node's body: counted with the body field's other values."""
BODIES = (BODY, COMMENT_BODY)
"""Fields whose empty values are no values to carry (the source counts them the same way)."""
COMMENT_PREFIX = "comment."
"""Parts of a node counting its comments' field values: ``comment.field:<name>``."""


@dataclass(frozen=True, slots=True)
class Found:
    """One entity found in the output, and its parts (``comments``, ``field:<name>``...)."""

    kind: str
    key: str
    parts: tuple[tuple[str, int], ...] = ()
    files: tuple[FileRef, ...] = ()
    """The file values counted in ``parts``, for a check only the whole output can make
    (WXR: does each name its file's attachment?)."""


FileRef = tuple[str, int, int]
"""(part, fid, ``wp_id`` or -1 when absent, -2 when not a number) of a file value read back."""


@dataclass(frozen=True, slots=True)
class Listed:
    """An entity the writer left out and said why (in its own report)."""

    kind: str
    key: str
    reason: str


@dataclass
class ReadBack:
    """One target's reader: the items it finds, and what its format never holds."""

    items: ItemReader
    not_carried: dict[str, str] = field(default_factory=dict)
    """``kind`` or ``kind.part`` → why this target has no place for it."""
    files: Callable[[Path], list[Path]] | None = None
    """When every item comes from exactly one file and no file's items depend on
    another's: the output's files, so the reconciliation can keep each file's items
    by the digest of its bytes and parse only the files whose bytes changed."""
    read_file: Callable[[bytes], Iterator[Found | Listed]] | None = None
    """The items of one file of ``files``, from its bytes."""
    fingerprint: Callable[[Path, Part], str] | None = None
    """For a reader that reads the output as a whole: a digest of everything it reads
    (``Fingerprint``), or of a ``Part``'s share of it (``combine_fingerprints`` of every
    part's is the whole one's); equal digests, equal items. A re-run whose output and source are
    unchanged then keeps the last comparison, as file-wise readers' re-runs do. Its
    ``items``, given a ``Fingerprint``, add to it what they read, so that a comparison
    that reads the output anyway gets the digest from the same bytes, not from a
    second pass over them."""
    read_part: PartReader | None = None
    """For a whole-output reader whose files are read one by one, each on its own: the
    items of one ``Part`` of the output, so that several processes share a big
    output's reading (``outputread``). Every part adds what it reads to its own
    ``Fingerprint``; ``combine_fingerprints`` of the parts' is the whole one's."""
    settled_first: str | None = None
    """A folder of the output that no phase after the node phase writes to (Hugo's
    ``content``, JSONL's ``nodes``), read before anything else: a run with no
    comparison to keep starts reading it when the node phase ends, beside the
    redirects, and the reader calls ``Part.settled`` before it reads the rest (a
    file-wise reader's files are read in that order by ``outputread``)."""

    @property
    def file_wise(self) -> bool:
        """Whether items come file by file (``files`` and ``read_file``), not from the whole."""
        return self.files is not None and self.read_file is not None


@dataclass(frozen=True)
class Part:
    """One share of a whole output: of ``count`` reading processes, the ``index``-th."""

    index: int = 0
    count: int = 1
    wait: Callable[[], None] | None = field(default=None, compare=False)
    """Returns once the rest of the output is written (``ReadBack.settled_first``);
    None: it is."""

    def settled(self) -> None:
        """Wait until what lies outside ``ReadBack.settled_first`` may be read."""
        if self.wait is not None:
            self.wait()

    def takes(self, path: str) -> bool:
        """Whether this part reads the file or folder at ``path`` (split by a hash of it)."""
        if self.count == 1:
            return True
        return zlib.crc32(os.fsencode(path)) % self.count == self.index

    @property
    def first(self) -> bool:
        """The first part also reads what is not split (reports, small folders)."""
        return self.index == 0


WHOLE = Part()


class PartReader(Protocol):
    """``ReadBack.read_part``: the items of one part of the output."""

    def __call__(
        self, out_dir: Path, seen: Fingerprint | None = None, part: Part = WHOLE
    ) -> Iterator[Found | Listed]: ...


class ItemReader(Protocol):
    """A target's whole-output reader; one with a ``ReadBack.fingerprint`` adds what it
    reads to ``seen`` when given one (the others ignore it)."""

    def __call__(
        self, out_dir: Path, seen: Fingerprint | None = None
    ) -> Iterator[Found | Listed]: ...


class Fingerprint:
    """An order-free digest of files: each file's path with its bytes, or with only its
    size and that it is a file (where a reader only checks that one is there).

    Count, XOR and sum of a 128-bit hash per file: no list of the output's files is
    held or sorted (a Hugo site has one per node), and two equal digests mean the same
    paths with the same contents.
    """

    def __init__(self, out_dir: Path) -> None:
        self.prefix = os.path.join(out_dir, "")
        self.count = self.xor = self.sum = 0

    def add(self, path: str | Path, contents: bool = True) -> None:
        if contents:
            with open(path, "rb") as fh:
                what = hashlib.file_digest(fh, "blake2b").digest()
        else:
            what = str(os.stat(path).st_size).encode()
        self.add_digest(path, what)

    def add_bytes(self, path: str | Path, data: bytes) -> None:
        """``add(path)`` for bytes already read from ``path``."""
        self.add_digest(path, hashlib.blake2b(data).digest())

    def add_digest(self, path: str | Path, what: bytes) -> None:
        """A file by its blake2b digest (or its size, as text, where only that counts)."""
        name = os.fspath(path)
        if not name.startswith(self.prefix):
            raise ValueError(f"{name} is not in {self.prefix}")
        rel = os.fsencode(name[len(self.prefix) :])
        h = int.from_bytes(hashlib.blake2b(rel + b"\0" + what, digest_size=16).digest())
        self.count += 1
        self.xor ^= h
        self.sum = (self.sum + h) % (1 << 128)

    def add_all(self, paths: Iterable[str | Path], contents: bool = True) -> None:
        for path in paths:
            self.add(path, contents)

    def hexdigest(self) -> str:
        return f"{self.count}:{self.xor:032x}:{self.sum:032x}"


def combine_fingerprints(digests: Iterable[str]) -> str:
    """The ``Fingerprint`` of files read in parts, from each part's ``hexdigest``."""
    count = xor = total = 0
    for digest in digests:
        n, x, s = digest.split(":")
        count += int(n)
        xor ^= int(x, 16)
        total = (total + int(s, 16)) % (1 << 128)
    return f"{count}:{xor:032x}:{total:032x}"


_READERS: dict[str, ReadBack] = {}


def register_readback(name: str, readback: ReadBack) -> None:
    _READERS[name] = readback


def registered_name(readback: ReadBack) -> str | None:
    """The name ``readback`` is registered under (None: made elsewhere, not registered)."""
    return next((name for name, r in _READERS.items() if r is readback), None)


def readback_for(name: str) -> ReadBack:
    found = _READERS.get(name)
    if found is None:
        raise StateError(f"export target {name!r} cannot be read back, so it cannot be reconciled")
    return found


def _field_part(name: str) -> str:
    return f"field:{name}"


def _blank(*texts: Any) -> bool:
    return not any(isinstance(t, str) and t.strip() for t in texts)


def nested_part(entity: str, name: str) -> str:
    """The part counting the values of field ``name`` of nested items (``paragraphs_item``...)."""
    return f"{entity}.field:{name}"


def _counted(values: Any, prefix: str = "") -> Counter[str]:
    """``field:<name>`` (with ``prefix``) → number of JSON field values (empty bodies aside).

    Values of nested items (``item.fields``, a list of values again) count under
    ``<entity>.field:<name>``, at any depth.
    """
    counts: Counter[str] = Counter()
    for v in values or ():
        name, item = v["field"], v["item"]
        if name in BODIES and _blank(item.get("value"), item.get("summary")):
            continue
        counts[prefix + "field:" + name] += 1
        if "fields" in item and item.get("entity"):
            _listed_nested(item, prefix, counts)
    return counts


def _listed_nested(item: dict[str, Any], prefix: str, counts: Counter[str]) -> None:
    """Count the values inside a JSONL nested item (a list of values), at any depth."""
    stack = [item]
    while stack:
        parent = stack.pop()
        entity = str(parent["entity"])
        for child in parent.get("fields") or ():
            counts[prefix + nested_part(entity, str(child["field"]))] += 1
            inner = child["item"]
            if "fields" in inner and inner.get("entity"):
                stack.append(inner)


def _grouped_nested(
    value: Any, prefix: str, counts: Counter[str], files: list[FileRef] | None = None
) -> None:
    """Count the nested item values inside one grouped value (WXR JSON, Hugo front matter).

    With ``files``, the file values among them are noted there too.
    """
    stack = [value]
    while stack:
        v = stack.pop()
        fields = v.get("fields") if isinstance(v, dict) else None
        if not isinstance(fields, dict) or not v.get("entity"):
            continue
        for name, children in fields.items():
            part = prefix + nested_part(str(v["entity"]), str(name))
            for child in children:
                counts[part] += 1
                if files is not None:
                    _note_file(child, part, files)
                stack.append(child)


def _note_file(value: Any, part: str, files: list[FileRef]) -> None:
    """Note ``value`` in ``files`` when it is a file value (a ``fid``, not raw columns)."""
    if isinstance(value, dict) and isinstance(value.get("fid"), int) and "columns" not in value:
        wp_id = value.get("wp_id", -1)
        files.append((part, value["fid"], wp_id if isinstance(wp_id, int) else -2))


def _comment_fields(
    comments: Any, body: Callable[[Any], Any], fields: Callable[[Any], Any]
) -> Counter[str]:
    """``comment.field:<name>`` of a node's comments: their field values and shown bodies."""
    counts: Counter[str] = Counter()
    for comment in comments or ():
        counts.update(fields(comment))
        if not _blank(body(comment)):
            counts[COMMENT_PREFIX + _field_part(COMMENT_BODY)] += 1
    return counts


def _node_parts(
    body: bool, fields: Counter[str], comments: int, aliases: int | None, revisions: int
) -> tuple[tuple[str, int], ...]:
    counts = Counter(fields)
    if body:
        counts[_field_part(BODY)] += 1
    parts = [("comments", comments), ("revisions", revisions), *sorted(counts.items())]
    if aliases is not None:
        parts.append(("aliases", aliases))
    return tuple(parts)


# --------------------------------------------------------------------------- JSONL

_JSONL_KEYS = {
    "vocabulary": "vid",
    "term": "tid",
    "author": "uid",
    "file": "fid",
    "node": "nid",
    "redirect": "source",
}


def jsonl_files(out_dir: Path) -> list[Path]:
    return sorted(out_dir.glob("*/batch-*.jsonl"))


def read_jsonl(out_dir: Path, seen: Fingerprint | None = None) -> Iterator[Found | Listed]:
    """Every JSONL batch file (``seen`` unused: JSONL is read back file by file)."""
    for path in jsonl_files(out_dir):
        yield from read_jsonl_file(path.read_bytes())


def read_jsonl_file(text: bytes) -> Iterator[Found | Listed]:
    """The items of one JSONL batch file."""
    for line in text.split(b"\n"):
        if not line.strip():
            continue
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # a line cut short or mangled holds nothing: its item is unaccounted
        kind = str(data.get("kind"))
        key = str(data.get(_JSONL_KEYS.get(kind, ""), ""))
        if kind == "node":
            body = data.get("body") or {}
            fields = _counted(data.get("fields"))
            fields.update(
                _comment_fields(
                    data.get("comments"),
                    lambda c: (c.get("body") or {}).get("value"),
                    lambda c: _counted(c.get("fields"), COMMENT_PREFIX),
                )
            )
            yield Found(
                kind,
                key,
                _node_parts(
                    not _blank(body.get("value"), body.get("summary")),
                    fields,
                    len(data.get("comments", ())),
                    len(data.get("aliases", ())),
                    len(data.get("revisions", ())),
                ),
            )
        elif kind == "term":
            parts = _counted(data.get("fields"))
            parts["parents"] = len(data.get("parents", ()))
            yield Found(kind, key, tuple(sorted(parts.items())))
        elif kind == "author":
            yield Found(kind, key, tuple(sorted(_counted(data.get("fields")).items())))
        else:
            yield Found(kind, key)


JSONL_NODES = "nodes"
"""The JSONL folder of node files (``jsonl.KIND_DIRS``): only the node phase writes it."""

register_readback(
    "jsonl",
    ReadBack(read_jsonl, files=jsonl_files, read_file=read_jsonl_file, settled_first=JSONL_NODES),
)


# --------------------------------------------------------------------------- WXR

WXR_READ = ".wxr-state/read"
"""Where the WXR writer keeps, per file, what its validation parse of the file found."""


def wxr_digest(chunks: Iterable[bytes]) -> str:
    """The digest a WXR file's stored read-back is keyed by: its bytes and this code."""
    h = wxr_hash()
    for chunk in chunks:
        h.update(chunk)
    return wxr_digest_of(h)


def wxr_hash() -> Any:
    """The hash ``wxr_digest`` feeds a file's bytes to, for a reader that feeds it
    while it parses them (``teed``): one read of the file, not two."""
    return hashlib.blake2b(digest_size=16)


def wxr_digest_of(h: Any) -> str:
    """``wxr_digest`` of the bytes fed to ``h`` (a ``wxr_hash``)."""
    h.update(_code().encode())
    return str(h.hexdigest())


@cache
def _code() -> str:
    return code_digest()


def wxr_declared(head: WxrFile) -> list[Found]:
    """The authors and terms (as declared) of a WXR file."""
    out = [Found("author", ident) for ident in head.author_ids if ident]
    tids = {(t.taxonomy, t.slug): t.term_id for t in head.terms}
    for t in head.terms:
        parts = _meta_fields(t.meta)
        parts["parents"] = _wxr_parents(t, tids)
        out.append(Found("term", str(t.term_id), tuple(sorted(parts.items()))))
    return out


def _wxr_parents(term: WxrTerm, tids: dict[tuple[str, str], int]) -> int:
    """The Drupal parents a WXR term carries (``PARENTS_META``), when WordPress's own
    parent agrees: empty (a tag, a cycle cut) or one of them. A parent the importer
    would set that is none of them carries none."""
    value = next((v for k, v in term.meta if k == PARENTS_META), None)
    try:
        parents = json.loads(value) if value is not None else []
    except ValueError:
        return 0
    if not isinstance(parents, list) or not all(isinstance(p, int) for p in parents):
        return 0
    if term.parent and tids.get((term.taxonomy, term.parent)) not in parents:
        return 0
    return len(parents)


def wxr_parsed(path: Path) -> list[Found]:
    """What one WXR file holds, parsed from disk one item at a time."""
    reader = WxrReader(path)
    items = [found for item in reader.items(file_chunks(path)) if (found := wxr_item(item))]
    return wxr_declared(reader.head) + items


def store_wxr_found(out_dir: Path, name: str, digest: str, found: list[Found]) -> None:
    """Keep what a parse of the bytes with ``digest`` found, for ``read_wxr`` to reuse."""
    rows = [[f.kind, f.key, [list(p) for p in f.parts], [list(r) for r in f.files]] for f in found]
    path = out_dir / WXR_READ / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_durably(path, orjson.dumps({"digest": digest, "found": rows}), sync=False)


def _stored_wxr(out_dir: Path, name: str, digest: str) -> list[Found] | None:
    """The items stored for exactly these bytes (see ``wxr_digest``), else None."""
    try:
        data = orjson.loads((out_dir / WXR_READ / f"{name}.json").read_bytes())
        if data["digest"] != digest:
            return None
        return [
            Found(
                str(k),
                str(key),
                tuple((str(p), int(n)) for p, n in parts),
                tuple((str(p), int(fid), int(wp)) for p, fid, wp in files),
            )
            for k, key, parts, files in data["found"]
        ]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_wxr(out_dir: Path, seen: Fingerprint | None = None) -> Iterator[Found | Listed]:
    """Every WXR file read from disk, one at a time.

    A file's bytes are read and digested; when the writer's validation parse of
    these very bytes (with this code) left its items in ``WXR_READ``, they are what
    parsing the file again would give, so the file is not parsed twice. Any other
    file (edited, from an older version) is parsed here, one item in memory at a time.
    """
    counted: set[tuple[str, str]] = set()
    attached = _attachment_check(out_dir)
    for path in _wxr_files(out_dir):
        whole = hashlib.blake2b()
        try:
            digest = wxr_digest(teed(file_chunks(path), whole))
            found = _stored_wxr(out_dir, path.name, digest)
            if found is None:
                found = wxr_parsed(path)
        except (OSError, WxrParseError) as exc:
            raise StateError(f"{path}: {exc}") from None
        if seen is not None:
            seen.add_digest(path, whole.digest())
        for item in found:
            if item.kind in ("author", "term"):
                # every file declares the authors and terms it needs: count each once
                if (item.kind, item.key) in counted:
                    continue
                counted.add((item.kind, item.key))
            yield _attached_only(item, attached) if item.files else item
    yield from _media_left_out(out_dir)
    if seen is not None:
        _wxr_others(out_dir, seen)


def teed(chunks: Iterable[bytes], whole: Any) -> Iterator[bytes]:
    """``chunks``, each also fed to ``whole`` (a hash): one read, two digests."""
    for chunk in chunks:
        whole.update(chunk)
        yield chunk


def _wxr_files(out_dir: Path) -> list[Path]:
    return sorted(out_dir.glob("wxr-*.xml"))


def _wxr_others(out_dir: Path, seen: Fingerprint) -> None:
    """What ``read_wxr`` reads besides the WXR files: the media report."""
    seen.add_all(p for p in [out_dir / "media-report.csv"] if p.is_file())


def wxr_fingerprint(out_dir: Path, part: Part = WHOLE) -> str:
    """What ``read_wxr`` reads: the WXR files and the media report (the validation's
    stored findings are taken only for the very bytes they were made from)."""
    seen = Fingerprint(out_dir)
    seen.add_all(p for p in _wxr_files(out_dir) if part.takes(str(p)))
    if part.first:
        _wxr_others(out_dir, seen)
    return seen.hexdigest()


def _media_left_out(out_dir: Path) -> Iterator[Listed]:
    """Files the media report says were not published (private, missing...), with why."""
    report = out_dir / "media-report.csv"
    if not report.is_file():
        return
    with report.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["status"] not in ("copied", "unchanged"):
                detail = row["detail"]
                yield Listed(
                    "file", row["fid"], f"{row['status']}: {detail}" if detail else row["status"]
                )


def _attachment_check(out_dir: Path) -> Callable[[int, int], bool]:
    """Whether a file value's ``wp_id`` names its file's attachment exactly when there is one.

    The writer gives every file the media report does not call unpublishable an
    attachment item (post id ``ATTACHMENT_ID_OFFSET + fid``, itself read back as the
    file), and every file value in a post, top-level or inside an item at any depth,
    that attachment's ``wp_id``. One byte per fid, so memory stays small.
    """
    published = bytearray()
    report = out_dir / "media-report.csv"
    if report.is_file():
        with report.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                fid = int(row["fid"]) if row["fid"].isdigit() else -1
                if fid >= 0 and row["status"] not in NOT_PUBLISHED:
                    if fid >= len(published):
                        published.extend(bytes(fid + 1 - len(published)))
                    published[fid] = 1

    def attached(fid: int, wp_id: int) -> bool:
        if 0 <= fid < len(published) and published[fid]:
            return wp_id == ATTACHMENT_ID_OFFSET + fid
        return wp_id == -1

    return attached


def _attached_only(item: Found, attached: Callable[[int, int], bool]) -> Found:
    """``item`` without the file values whose ``wp_id`` is wrong: its node is then listed."""
    wrong = Counter(part for part, fid, wp_id in item.files if not attached(fid, wp_id))
    if not wrong:
        return item
    parts = tuple((p, n - wrong[p]) for p, n in item.parts)
    return Found(item.kind, item.key, parts, item.files)


def _meta_fields(
    meta: Iterable[tuple[str, str]], prefix: str = "", files: list[FileRef] | None = None
) -> Counter[str]:
    """``field:<name>`` → values written as ``field_<name>`` meta (empty bodies aside).

    A nested item's value is JSON holding its own values: those count too. With
    ``files``, every file value among them, at any depth, is noted there.
    """
    counts: Counter[str] = Counter()
    for k, v in meta:
        if not k.startswith("field_"):
            continue
        name = k.removeprefix("field_")
        if name in BODIES and _blank(_json_text(v)):
            continue
        part = prefix + _field_part(name)
        counts[part] += 1
        nested = '"entity"' in v and '"fields"' in v
        if not v.startswith("{") or not (nested or (files is not None and '"fid"' in v)):
            continue
        try:
            data = json.loads(v)
        except ValueError:
            continue
        if files is not None:
            _note_file(data, part, files)
        if nested:
            _grouped_nested(data, prefix, counts, files)
    return counts


def wxr_item(item: WxrItem) -> Found | None:
    """What one WXR item holds: a node or a file (an attachment), else None."""
    keys = dict(item.postmeta)
    if item.post_type == "attachment":
        return Found("file", keys["_drupal_fid"]) if "_drupal_fid" in keys else None
    if "_drupal_nid" not in keys:
        return None
    files: list[FileRef] = []
    fields = _meta_fields(item.postmeta, files=files)
    fields.update(
        _comment_fields(
            item.comments,
            lambda c: c.content,
            lambda c: _meta_fields(c.meta, COMMENT_PREFIX, files),
        )
    )
    return Found(
        "node",
        keys["_drupal_nid"],
        _node_parts(
            not _blank(item.content, item.excerpt),
            fields,
            len(item.comments),
            sum(1 for k, _ in item.postmeta if k == "_drupal_alias"),
            0,
        ),
        tuple(files),
    )


def _json_text(value: str) -> str:
    """The text of a body value written as JSON (other languages' bodies), for the blank test."""
    try:
        data = json.loads(value)
    except ValueError:
        return value
    if isinstance(data, dict):
        return " ".join(str(data.get(k) or "") for k in ("value", "summary"))
    return value


register_readback(
    "wxr",
    ReadBack(
        read_wxr,
        {
            "vocabulary": "WXR has no vocabulary records: each term names its taxonomy",
            "redirect": "WXR holds no redirects: `drupal-migrate redirects DIR` writes them"
            " from the export state",
            "node.revisions": "WXR holds the current revision of each post only",
            "author.field:*": "a WXR author has no meta: user fields are in the JSONL export",
        },
        fingerprint=wxr_fingerprint,
    ),
)


# --------------------------------------------------------------------------- Hugo

_HUGO_STATE = ".hugo-state"


def _front_matter(text: str, path: str | Path) -> tuple[dict[str, Any], str]:
    """A page's TOML front matter and its body.

    rtoml also reads TOML 1.1's trailing comma or line break in an inline table,
    which tomllib and hugo refuse: the writer writes neither, and a page edited to
    hold one fails ``hugo`` itself.
    """
    if not text.startswith("+++\n"):
        return {}, text
    head, sep, body = text[4:].partition("\n+++\n")
    if not sep:
        head, body = head.removesuffix("+++\n"), ""
    try:
        return rtoml.loads(head), body
    except rtoml.TomlParsingError:
        pass  # tomllib has the last word (rtoml refuses a float past 1.8e308, TOML's inf)
    try:
        return tomllib.loads(head), body
    except tomllib.TOMLDecodeError as exc:
        raise StateError(f"{path}: front matter is not valid TOML ({exc})") from None


def _walk(
    folder: Path,
    wanted: Callable[[os.DirEntry[str]], bool],
    part: Part = WHOLE,
    split_depth: int = 0,
) -> Iterator[str]:
    """The paths of the ``wanted`` files under ``folder``, depth first, streamed: no list
    of a folder's entries is held (a section's folder holds one per node), and no
    symbolic link to a folder is followed. One scandir per folder on a stack, not a
    chain of generators every path would pass through.

    With a ``part`` of several, the folders ``split_depth`` levels down (a page bundle,
    a redirect page's folder) are shared out by ``Part.takes``, each with all it holds,
    and so are the files no deeper than them: no part lists the others' folders.
    """
    if not folder.is_dir():
        return
    split = part.count > 1
    stack = [os.scandir(folder)]
    try:
        while stack:
            shallow = split and len(stack) <= split_depth
            for entry in stack[-1]:
                if entry.is_dir(follow_symlinks=False):
                    if shallow and len(stack) == split_depth and not part.takes(entry.path):
                        continue
                    stack.append(os.scandir(entry.path))
                    break
                if wanted(entry) and (not shallow or part.takes(entry.path)):
                    yield entry.path
            else:
                stack.pop().close()
    finally:
        for entries in stack:
            entries.close()


PAGE_DEPTH = 2
"""``content/<section>/<slug>/``: a page bundle's folder, the unit reading in parts shares out;
``static/<section>/<slug>/`` too, for the redirect pages."""


def _is_page(entry: os.DirEntry[str]) -> bool:
    return entry.name.endswith(".md") and entry.is_file()


def _is_file(entry: os.DirEntry[str]) -> bool:
    return entry.is_file(follow_symlinks=False)


HUGO_PAGES = "content"
"""The folder of a Hugo site's pages: read first, and settled once the node phase ends."""


def read_hugo(
    out_dir: Path, seen: Fingerprint | None = None, part: Part = WHOLE
) -> Iterator[Found | Listed]:
    """Every page's items (or ``part``'s pages), then, in the first part, the redirect
    pages under ``static``, the media report and the pages the writer could not give."""
    for path in _walk(out_dir / HUGO_PAGES, _is_page, part, PAGE_DEPTH):
        with open(path, "rb") as fh:
            raw = fh.read()
        if seen is not None:
            seen.add_bytes(path, raw)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StateError(f"{path}: not UTF-8 ({exc})") from None
        data, body = _front_matter(text, path)
        aliases = [str(a).lstrip("/") for a in data.get("aliases", ())]
        for alias in aliases:
            yield Found("redirect", alias)
        params = data.get("params") or {}
        if "drupal_nid" in data:
            fields = _hugo_fields(params.get("fields"))
            comments = data.get("comments") or params.get("comments") or ()
            fields.update(
                _comment_fields(
                    comments,
                    lambda c: c.get("body"),
                    lambda c: _hugo_fields(c.get("fields"), COMMENT_PREFIX),
                )
            )
            yield Found(
                "node",
                str(data["drupal_nid"]),
                _node_parts(
                    not _blank(body, data.get("summary")),
                    fields,
                    len(comments),
                    None,
                    0,
                ),
            )
        elif "drupal_tid" in data:
            fields = _hugo_fields(params.get("fields"))
            parents = data.get("drupal_parents")
            fields["parents"] = len(parents) if isinstance(parents, list) else 0
            yield Found("term", str(data["drupal_tid"]), tuple(sorted(fields.items())))
        elif "drupal_vid" in data:
            yield Found("vocabulary", str(data["drupal_vid"]))
    part.settled()  # the redirects phase writes static/, finish the reports
    static = os.path.join(out_dir / "static", "")
    for path in _walk(out_dir / "static", _is_file, part, PAGE_DEPTH):
        if seen is not None:
            seen.add(path, contents=False)  # a redirect page or a media copy: there or not
        folder, _, name = path[len(static) :].rpartition("/")
        if name == "index.html" and folder and not folder.startswith("files/"):
            yield Found("redirect", folder)
    if not part.first:
        return
    yield from _hugo_media(out_dir)
    yield from _hugo_problems(out_dir)
    if seen is not None:
        _hugo_reports(out_dir, seen)


def _hugo_reports(out_dir: Path, seen: Fingerprint) -> None:
    """The writer's reports ``read_hugo`` reads: the media report and the batch files
    (the paths it could not give a page)."""
    seen.add_all(p for p in [out_dir / "media-report.csv"] if p.is_file())
    seen.add_all(sorted((out_dir / _HUGO_STATE).glob("batch-*.json")))


def hugo_fingerprint(out_dir: Path, part: Part = WHOLE) -> str:
    """What ``read_hugo`` reads: every page's bytes, the paths and sizes of the files
    under ``static``, and ``_hugo_reports`` (or ``part``'s share, as ``read_hugo``'s)."""
    seen = Fingerprint(out_dir)
    seen.add_all(_walk(out_dir / HUGO_PAGES, _is_page, part, PAGE_DEPTH))
    seen.add_all(_walk(out_dir / "static", _is_file, part, PAGE_DEPTH), contents=False)
    if part.first:
        _hugo_reports(out_dir, seen)
    return seen.hexdigest()


def _hugo_fields(fields: Any, prefix: str = "") -> Counter[str]:
    """``field:<name>`` → values under a front matter ``fields`` table (empty bodies aside)."""
    counts: Counter[str] = Counter()
    for name, values in (fields or {}).items():
        for v in values:
            if name in BODIES and _blank(v.get("value"), v.get("summary")):
                continue
            counts[prefix + _field_part(name)] += 1
            _grouped_nested(v, prefix, counts)
    return counts


def _hugo_media(out_dir: Path) -> Iterator[Found | Listed]:
    """Files: a copy must be on disk under ``static/files``; those the media report says
    were not copied are listed with their status. A copy the report names but the disk
    lacks is neither: it is unaccounted."""
    report = out_dir / "media-report.csv"
    if not report.is_file():
        return
    with report.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            fid, status, dest = row["fid"], row["status"], row["dest"]
            if dest and (out_dir / "static" / "files" / dest).is_file():
                yield Found("file", fid)
            elif status not in OK_STATUSES:
                yield Listed("file", fid, f"{status}: {row['detail']}" if row["detail"] else status)


def _hugo_problems(out_dir: Path) -> Iterator[Listed]:
    """Old paths the writer could not give a page (another page answers there), with why."""
    for path in sorted((out_dir / _HUGO_STATE).glob("batch-*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StateError(f"{path}: unreadable Hugo writer state ({exc})") from None
        for problem in data.get("problems", ()):
            if problem.get("kind") == "alias":
                yield Listed("redirect", str(problem["id"]).lstrip("/"), str(problem["detail"]))


register_readback(
    "hugo",
    ReadBack(
        read_hugo,
        {
            "author": "Hugo has no author records: each page names its author",
            "node.revisions": "a Hugo page holds the current revision only",
            "node.aliases": "checked as redirects (front matter aliases and redirect pages)",
        },
        fingerprint=hugo_fingerprint,
        read_part=read_hugo,
        settled_first=HUGO_PAGES,
    ),
)
