"""Export targets: the ``Writer`` protocol every target implements, and the registry.

The engine (``migrate.export.engine``) reads Drupal into typed records
(``migrate.export.records``), groups them into numbered batches and hands each
batch to one writer. The writer owns the output format and the URL scheme; the
engine owns ordering, resume, idempotence and the state store. A new target is
one module::

    from migrate.export import ItemRef, UrlScheme, WriterOptions, register_writer

    @register_writer("wxr")
    class WxrWriter:
        urls: UrlScheme = ...            # how nodes/terms/files are addressed on the target

        def begin(self, out_dir, options): ...
        def write_batch(self, batch_no, records): ...   # -> list[ItemRef]
        def remove(self, items): ...
        def discard_batch(self, batch_no): ...
        def finish(self, summary): ...

and ``drupal-migrate export --to wxr`` finds it (``--to`` choices come from
``writer_names()``). Modules listed in ``BUILTIN`` are imported on first lookup.

The contract, in call order:

``takes_encoded`` (optional, default False)
    True when ``write_batch`` only needs each record's JSON line: node batches then
    arrive as ``EncodedRecord`` (kind, key, ``to_json`` bytes, hash) straight from
    the worker processes instead of as ``NodeRecord`` trees (the JSONL writer).
``prepare_node`` (optional, default None)
    A picklable function ``NodeRecord -> object`` for the per-node work that needs
    no writer state (rendering a page body, checking image files): the node worker
    processes call it on each record they build and send back a ``PreparedRecord``
    (kind, key, its result, the record's hash) in place of the record, so that work
    and the record tree stay out of the main process (the Hugo writer). Read after
    ``begin``; ``write_batch`` must still take plain ``NodeRecord`` too.
``reads_back_as`` (optional, default the ``--to`` name)
    Which reader of ``migrate.export.readback`` parses this target's output back
    from disk for the reconciliation; a target without one cannot be reconciled,
    so its export fails.
``urls``
    Read before any record is built: ``node_url``, ``term_url`` and ``file_url``
    decide the ``path``/``url`` fields of the records and the targets that body
    links are rewritten to. Must be pure functions of their arguments, and the
    object must pickle: node records are built in worker processes (``--workers``).
``begin(out_dir, options)``
    Once per run, before any batch. Create directories; keep ``options``.
``write_batch(batch_no, records) -> list[ItemRef]``
    ``records`` are in dependency order (a term's parents, a node's terms,
    authors and files were written in earlier or the same batch). Output must be
    durable when this returns (write a temp file, fsync, rename; fsync the
    directory): the engine marks the batch complete right after. Return one
    ``ItemRef`` per record written; ``ItemRef.target`` must let ``remove`` find
    the item again. A record whose ``key`` was written before (an update) is
    written again in this batch; the engine then calls ``remove`` with the old ref.
``settle(batch_no)`` (optional)
    A writer that has it may return from ``write_batch`` before that batch's output
    is durable, and make it so in ``settle``: every batch up to ``batch_no`` durable
    when it returns. The engine then marks a node batch complete only after the next
    batch's ``write_batch`` and ``settle(batch_no)`` (so the writer's slow check of
    one batch overlaps the building of the next; WXR validates each file in a process
    of its own), and at once, after ``settle``, in the other phases. ``remove``,
    ``discard_batch`` and ``finish`` settle whatever is pending first.
``remove(items)``
    Remove exactly these items (rollback, or the old copy of an updated item).
    Idempotent: removing an item that is not there is not an error.
``discard_batch(batch_no)``
    Delete whatever an interrupted ``write_batch(batch_no)`` may have left (temp
    files, a half-written batch). Called before that batch number is redone.
``finish(summary)``
    Once, after the last batch of a successful run (write an index, a manifest).
``close()`` (optional)
    Once at the end of every run, however it ended: stop the writer's helper
    processes (they hold the output folder's lock).

Writers raise only ``migrate.errors`` types (``StateError`` for output that is
not in the state it should be).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from migrate.errors import BadInput
from migrate.export.records import EncodedRecord, PreparedRecord, Record
from migrate.export.siteinfo import SiteInfo

BUILTIN = ("jsonl", "wxr", "hugo", "redirects")
"""Target modules in this package that register themselves when imported."""


@dataclass(frozen=True, slots=True)
class ItemRef:
    """Where one written record went: enough for ``remove`` and for the state's id map."""

    kind: str
    source_id: str
    target: str


@dataclass(frozen=True)
class WriterOptions:
    """What a writer may need from the user's export options."""

    files_dir: Path | None = None
    private_dir: Path | None = None
    """The site's private files folder: nothing resolving into it is published."""
    base_url: str | None = None
    include_emails: bool = False
    extra: Mapping[str, Any] | None = None
    site: SiteInfo = field(default_factory=SiteInfo)
    """The site's name, language and time zone, from its variables."""


class UrlScheme(Protocol):
    """How the target addresses content; the engine builds records and link rewrites with it."""

    def node_url(self, node_type: str, slug: str, nid: int) -> str: ...

    def term_url(self, vocabulary: str, slug: str, tid: int) -> str: ...

    def file_url(self, relative_path: str) -> str: ...


@runtime_checkable
class Writer(Protocol):
    """One export target. See the module docstring for the full contract."""

    urls: UrlScheme

    def begin(self, out_dir: Path, options: WriterOptions) -> None: ...

    def write_batch(
        self, batch_no: int, records: Sequence[Record | EncodedRecord | PreparedRecord]
    ) -> list[ItemRef]: ...

    def remove(self, items: Sequence[ItemRef]) -> None: ...

    def discard_batch(self, batch_no: int) -> None: ...

    def finish(self, summary: Mapping[str, Any]) -> None: ...


@runtime_checkable
class Settles(Protocol):
    """A writer whose batches become durable in ``settle`` (see the module docstring)."""

    def settle(self, batch_no: int) -> None: ...


class PathUrls:
    """A plain URL scheme: ``/{type}/{slug}/``, ``/{vocabulary}/{slug}/``, ``/files/{path}``."""

    def node_url(self, node_type: str, slug: str, nid: int) -> str:
        return f"/{node_type}/{slug}/"

    def term_url(self, vocabulary: str, slug: str, tid: int) -> str:
        return f"/{vocabulary}/{slug}/"

    def file_url(self, relative_path: str) -> str:
        return f"/files/{relative_path}"


WriterFactory = Callable[[], Writer]
_REGISTRY: dict[str, WriterFactory] = {}
_F = TypeVar("_F", bound=Callable[..., Any])


def register_writer(name: str) -> Callable[[_F], _F]:
    """Class (or factory) decorator: make a target available as ``--to name``."""

    def add(factory: _F) -> _F:
        _REGISTRY[name] = factory
        return factory

    return add


def _load_builtins() -> None:
    for module in BUILTIN:
        qualified = f"{__name__}.{module}"
        try:
            importlib.import_module(qualified)
        except ModuleNotFoundError as exc:
            if exc.name != qualified:
                raise


def writer_names() -> list[str]:
    """The names ``--to`` accepts."""
    _load_builtins()
    return sorted(_REGISTRY)


def get_writer(name: str) -> Writer:
    """A fresh writer for ``--to name``."""
    _load_builtins()
    factory = _REGISTRY.get(name)
    if factory is None:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise BadInput(f"unknown export target {name!r} (known: {known})")
    return factory()


__all__ = [
    "BUILTIN",
    "ItemRef",
    "PathUrls",
    "UrlScheme",
    "Writer",
    "WriterOptions",
    "get_writer",
    "register_writer",
    "writer_names",
]
