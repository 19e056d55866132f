"""The export bundle's records: what the reader produces and every writer consumes.

These frozen dataclasses are the only thing that crosses from ``reader`` to a
writer, so a target (JSONL, WordPress WXR, Hugo, redirects) never sees a raw
row. The JSONL bundle is exactly ``to_dict(record)`` per line and is described
by ``bundle.schema.json``; change both together.

Conventions: ids are Drupal's (nid, tid, uid, fid, cid); ``path``/``url`` fields
are the *new* site's URLs as given by the writer's ``UrlScheme``; ``aliases``
are the old site's paths without a leading slash; bodies are already cleaned
(``migrate.export.clean``); anything that could not be exported faithfully is a
``Problem`` on the record, never silently dropped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import operator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson

from migrate.errors import MigrateError
from migrate.export.fields import ITEM_TYPES, FieldValue


@dataclass(frozen=True, slots=True)
class Problem:
    """Something about a record the operator should know (dangling ref, missing file...)."""

    kind: str
    detail: str


@dataclass(frozen=True, slots=True)
class Body:
    """A text value after cleaning; ``format`` is the Drupal text format it was written in."""

    value: str
    summary: str = ""
    format: str | None = None


@dataclass(frozen=True, slots=True)
class TermRef:
    """A node's reference to a term that exists (dangling ones become Problems)."""

    field: str
    vocabulary: str
    tid: int
    name: str
    path: str


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file or image attached to a node through a file/image field."""

    field: str
    delta: int
    fid: int
    uri: str | None
    url: str | None
    mime: str | None
    size: int | None
    alt: str = ""
    title: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class CommentRecord:
    """A comment of a node; ``thread`` is Drupal's vancode, so sorting by it gives the tree."""

    cid: int
    pid: int
    thread: str
    uid: int
    name: str
    subject: str
    body: Body | None
    created: int
    changed: int
    status: int
    fields: tuple[FieldValue, ...] = ()
    """The comment's own field values; ``body`` is its body, bodies in other languages are here."""
    mail: str | None = None
    """Personal data: read only with ``--include-emails``."""
    homepage: str | None = None
    hostname: str | None = None
    """Personal data: read only with ``--include-hostnames``."""


@dataclass(frozen=True, slots=True)
class RevisionRecord:
    """One revision of a node (only with ``--revisions all``)."""

    vid: int
    uid: int
    title: str
    log: str
    timestamp: int
    status: int
    body: Body | None
    terms: tuple[TermRef, ...] = ()
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True, slots=True)
class VocabularyRecord:
    KIND: ClassVar[str] = "vocabulary"

    vid: int
    machine_name: str
    name: str
    description: str
    hierarchy: int
    weight: int
    target: str

    @property
    def key(self) -> str:
        return str(self.vid)


@dataclass(frozen=True, slots=True)
class TermRecord:
    """A term; ``parents`` lists existing parent tids only (parents are always emitted first)."""

    KIND: ClassVar[str] = "term"

    tid: int
    vid: int
    vocabulary: str
    name: str
    description: str
    format: str | None
    weight: int
    parents: tuple[int, ...]
    slug: str
    path: str
    aliases: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()
    fields: tuple[FieldValue, ...] = ()

    @property
    def key(self) -> str:
        return str(self.tid)


@dataclass(frozen=True, slots=True)
class AuthorRecord:
    """A user who can be an author; never a password hash, an email only when asked."""

    KIND: ClassVar[str] = "author"

    uid: int
    name: str
    display_name: str
    created: int
    status: int
    email: str | None = None
    fields: tuple[FieldValue, ...] = ()
    problems: tuple[Problem, ...] = ()

    @property
    def key(self) -> str:
        return str(self.uid)


@dataclass(frozen=True, slots=True)
class FileRecord:
    """A file_managed row; ``exported_path`` is bundle-relative when the file was copied."""

    KIND: ClassVar[str] = "file"

    fid: int
    uri: str
    filename: str
    mime: str
    size: int
    status: int
    timestamp: int
    uid: int
    relative_path: str | None
    public_url: str | None
    url: str | None
    exported_path: str | None
    problems: tuple[Problem, ...] = ()

    @property
    def key(self) -> str:
        return str(self.fid)


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """A node at its current revision, with everything that hangs off it."""

    KIND: ClassVar[str] = "node"

    nid: int
    vid: int
    type: str
    target_type: str
    language: str
    title: str
    slug: str
    path: str
    status: int
    promote: int
    sticky: int
    created: int
    changed: int
    author: int
    body: Body | None
    fields: tuple[FieldValue, ...] = ()
    """Every field value but the body's own (``migrate.export.fields``), all languages."""
    terms: tuple[TermRef, ...] = ()
    files: tuple[FileRef, ...] = ()
    aliases: tuple[str, ...] = ()
    comments: tuple[CommentRecord, ...] = ()
    revisions: tuple[RevisionRecord, ...] = ()
    problems: tuple[Problem, ...] = ()
    cleaning: dict[str, int] = field(default_factory=dict, hash=False)

    @property
    def key(self) -> str:
        return str(self.nid)


@dataclass(frozen=True, slots=True)
class RedirectRecord:
    """An old path (no leading slash) that must now answer with ``target``.

    ``origin`` is ``alias`` (a url_alias row) or ``system_path`` (``node/N``,
    ``taxonomy/term/N``); it is not called ``kind`` because that names the record.
    """

    KIND: ClassVar[str] = "redirect"

    source: str
    target: str
    entity: str
    entity_id: int
    origin: str

    @property
    def key(self) -> str:
        return self.source


Record = VocabularyRecord | TermRecord | AuthorRecord | FileRecord | NodeRecord | RedirectRecord

RECORD_TYPES: dict[str, type[Any]] = {
    cls.KIND: cls
    for cls in (
        VocabularyRecord,
        TermRecord,
        AuthorRecord,
        FileRecord,
        NodeRecord,
        RedirectRecord,
    )
}
"""Record class by kind, in the order the engine exports them."""


def fast_pickling(cls: type) -> None:
    """Pickle as ``cls(*fields)``: records cross to and from worker processes in bulk.

    The default for frozen slotted dataclasses calls ``dataclasses.fields`` and
    ``object.__setattr__`` per field in Python, about twice as slow.
    """
    names = tuple(f.name for f in dataclasses.fields(cls))
    get = operator.attrgetter(*names)
    single = len(names) == 1

    def reduce(self: Any) -> tuple[type, tuple[Any, ...]]:
        values = get(self)
        return cls, (values,) if single else values

    type.__setattr__(cls, "__reduce__", reduce)


for _cls in (
    Problem,
    Body,
    FieldValue,
    *ITEM_TYPES,
    TermRef,
    FileRef,
    CommentRecord,
    RevisionRecord,
    *RECORD_TYPES.values(),
):
    fast_pickling(_cls)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(cls))
        _FIELD_NAMES[cls] = names
    return names


def _fields(value: Any) -> dict[str, Any]:
    """A record (``kind`` first) or a nested dataclass as a dict."""
    cls = type(value)
    data: dict[str, Any] = {"kind": cls.KIND} if hasattr(cls, "KIND") else {}
    for name in _names(cls):
        data[name] = getattr(value, name)
    return data


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value):
        return {k: _plain(v) for k, v in _fields(value).items()}
    return value


def to_dict(record: Record) -> dict[str, Any]:
    """The record as plain JSON data, with its ``kind`` first (one JSONL line)."""
    data: dict[str, Any] = _plain(record)
    return data


def encode(record: Record) -> bytes:
    """``to_dict(record)`` as one compact UTF-8 JSON line (no newline), uncached.

    orjson writes the same bytes as ``json.dumps(..., ensure_ascii=False,
    separators=(",", ":"))`` (test_jsonl checks it) about ten times faster. It
    serializes the dataclasses natively, fields in order; ``kind`` (a class
    constant, not a field) is spliced in front of the first field.
    """
    try:
        body = orjson.dumps(record)
    except orjson.JSONEncodeError as exc:
        raise MigrateError(
            f"{record.KIND} {record.key}: cannot be written as JSON ({exc})"
        ) from None
    return b'{"kind":"' + record.KIND.encode() + b'",' + body[1:]


def detail_json(record: Record) -> str:
    """The per-item counts the state keeps for status and reconciliation, as JSON."""
    if isinstance(record, NodeRecord):
        # json.dumps of the same dict, without building it (one per node, in the workers)
        return (
            f'{{"type": {json.dumps(record.type)}, "status": {record.status:d},'
            f' "changed": {record.changed:d}, "comments": {len(record.comments)},'
            f' "revisions": {len(record.revisions) or 1}, "aliases": {len(record.aliases)},'
            f' "terms": {len(record.terms)}, "files": {len(record.files)},'
            f' "problems": {len(record.problems)}}}'
        )
    if isinstance(record, TermRecord):
        return json.dumps({"vocabulary": record.vocabulary})
    return "{}"


def json_digest(line: bytes) -> str:
    """sha256 hex digest of one encoded JSON line."""
    return hashlib.sha256(line).hexdigest()


_RECENT: dict[int, tuple[Record, bytes, str]] = {}
_RECENT_MAX = 16_384
"""Above a default redirect batch (20 × 500 lines), so none is encoded twice."""


def forget_json() -> None:
    """Drop the cached lines (the engine calls this once a batch is written)."""
    _RECENT.clear()


def _cached(record: Record) -> tuple[Record, bytes, str]:
    hit = _RECENT.get(id(record))
    if hit is None or hit[0] is not record:
        line = encode(record)
        if len(_RECENT) >= _RECENT_MAX:
            _RECENT.clear()
        hit = _RECENT[id(record)] = (record, line, json_digest(line))
    return hit


def to_json(record: Record) -> bytes:
    """``encode(record)``, remembered by identity for the records of the current batch.

    The engine hashes this line and the JSONL writer writes it, so each record
    is encoded once.
    """
    return _cached(record)[1]


def content_digest(record: Record) -> str:
    """sha256 of ``to_json(record)``: equal records, equal hashes, across runs."""
    return _cached(record)[2]


@dataclass(frozen=True, slots=True)
class EncodedRecord:
    """A record a worker process already encoded: what the engine and JSONL writer need.

    Sent back instead of the dataclass tree when the writer takes encoded lines
    (``Writer.takes_encoded``): a few bytes objects pickle several times faster than
    nested dataclasses, and the main process never rebuilds the tree.
    """

    KIND: str
    key: str
    line: bytes
    """``to_json`` of the record."""
    digest: str
    detail: str
    """``detail_json`` of the record."""


fast_pickling(EncodedRecord)


def encoded(record: Record) -> EncodedRecord:
    """The record as its worker sends it back to a writer that takes encoded lines."""
    line = encode(record)
    return EncodedRecord(record.KIND, record.key, line, json_digest(line), detail_json(record))


@dataclass(frozen=True, slots=True)
class PreparedRecord:
    """A node record as a writer's ``prepare_node`` made it in a worker process.

    Sent back instead of the record when the writer has a ``prepare_node``: the
    per-node work that needs no writer state (rendering, file checks) runs in the
    workers, and the main process unpickles only what the writer still needs.
    """

    KIND: str
    key: str
    value: Any
    """What ``prepare_node`` returned for the record."""
    digest: str
    """``content_digest`` of the record."""
    detail: str
    """``detail_json`` of the record."""


fast_pickling(PreparedRecord)
