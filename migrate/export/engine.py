"""The export engine: phases, batches, resume, idempotence, rollback and reconciliation.

Entities go out in the order their references need: vocabularies and terms
(parents first) → authors → files → nodes (with their comments and revisions)
→ redirects. Each phase is cut into batches; a batch is handed to the writer,
and only after the writer returns (its output durable) is the batch marked
complete in the state store, together with its id-map rows and the run's
cursor, in one SQLite transaction. So:

* killed mid-batch → the next run with the same options discards that batch's
  leftovers and resumes after the last complete batch (same batch numbers, so
  the output is identical to an uninterrupted run);
* re-run → every record is hashed (sha256 of its JSON); unchanged items are
  skipped, changed ones are rewritten with ``update`` (else reported), new ones
  added;
* rollback → the writer removes exactly the items the state says a batch wrote.
"""

from __future__ import annotations

import functools
import hashlib
import json
import multiprocessing
import os
import pickle
import sqlite3
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

import orjson

from migrate.durable import write_durably
from migrate.errors import (
    BadInput,
    DiskFull,
    MigrateError,
    StateError,
    Unaccounted,
    is_disk_full,
)
from migrate.export import ItemRef, Settles, Writer, WriterOptions, get_writer
from migrate.export.clean import slugify_vi
from migrate.export.fingerprint import (
    FileRows,
    ItemLookup,
    Lookups,
    UserRows,
    batch_rows,
    code_digest,
    context_digest,
    digest_of,
    fingerprint,
    own_digests,
    tables_digest,
)
from migrate.export.identity import claim, site_identity
from migrate.export.mapping import ExportMapping, load_mapping
from migrate.export.nodes import (
    BuildContext,
    NodeBatch,
    NodeBuilder,
    NodeRows,
    Prepare,
    build_in_worker,
    init_worker,
)
from migrate.export.outputread import OutputReading
from migrate.export.readback import readback_for
from migrate.export.reader import ITEM_TABLES, Reader, Selection, Skipped, private_files_dir
from migrate.export.reconcile import (
    SOURCE_COLUMNS,
    Comparison,
    Reconciliation,
    early_fingerprint,
    early_reading,
    reconcile,
    source_tables,
)
from migrate.export.records import (
    EncodedRecord,
    PreparedRecord,
    Record,
    content_digest,
    detail_json,
    forget_json,
)
from migrate.export.siteinfo import read_site_info
from migrate.export.state import StateStore
from migrate.memory import release_free_memory
from migrate.progress import Progress
from migrate.schema import Drupal7
from migrate.source.base import Source

RECONCILIATION_FILE = "reconciliation.json"
NODE_BUCKET = 1000
"""Nids per bucket of ``Reader.node_buckets``: 100 digests for 100k nodes."""
REDIRECT_INPUTS = "redirect_inputs"
"""State meta key: ``run:digest`` of the inputs of the last run that built every redirect."""
ALIAS_INPUTS = "alias_inputs"
"""State meta key: the digest of url_alias and the code when the state's aliases were loaded."""
REDIRECTS_PER_NODE_BATCH = 20
"""A redirect is one short line: its batches hold this many times ``--batch-size``
items, so a million of them cost hundreds of durable commits, not thousands."""
_T = TypeVar("_T")


@dataclass(frozen=True)
class ExportOptions:
    """Everything ``drupal-migrate export`` can be told; see its ``--help``."""

    to: str = "jsonl"
    selection: Selection = field(default_factory=Selection)
    changed_since: bool = False
    batch_size: int = 500
    revisions: str = "current"
    files_dir: Path | None = None
    base_url: str | None = None
    """Deprecated: both ``old_urls`` and ``site_url`` (what ``--base-url`` meant)."""
    old_urls: tuple[str, ...] = ()
    """Every scheme and host the old site answered on; links to any of them are rewritten."""
    site_url: str | None = None
    """The new site's base URL (Hugo ``baseURL``, WXR links and attachment URLs)."""
    mapping: Path | None = None
    include_emails: bool = False
    include_hostnames: bool = False
    """Commenters' IP addresses (personal data) into the output."""
    update: bool = False
    allow_other_site: bool = False
    """Add to a folder that holds an export of another site (``identity``)."""
    allow_scripts: bool = False
    workers: int = field(default_factory=lambda: min(os.cpu_count() or 1, 4))
    target_options: tuple[tuple[str, Any], ...] = ()
    """Options only some targets read (``max_items``, ``markdown``, ``timezone``)."""

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise BadInput("--batch-size must be at least 1")
        if self.revisions not in ("current", "all"):
            raise BadInput("--revisions must be current or all")
        if self.selection.limit is not None and self.selection.limit < 0:
            raise BadInput("--limit must not be negative")
        if self.workers < 0:
            raise BadInput("--workers must not be negative")

    @property
    def old_site_urls(self) -> tuple[str, ...]:
        """``old_urls``, or the deprecated ``base_url`` when none is given."""
        return self.old_urls or ((self.base_url,) if self.base_url else ())

    @property
    def new_site_url(self) -> str | None:
        """``site_url``, or the deprecated ``base_url`` when none is given."""
        return self.site_url or self.base_url

    def fingerprint(self) -> str:
        """What must match for an interrupted run to be resumed rather than restarted."""
        data = self.as_dict()
        data.pop("update")
        data.pop("workers")
        data.pop("allow_other_site")
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("files_dir", "mapping"):
            data[key] = None if data[key] is None else str(data[key])
        return data


def parse_ids(text: str) -> tuple[tuple[int, int], ...]:
    """``1,5,10-20`` → ((1, 1), (5, 5), (10, 20))."""
    ranges: list[tuple[int, int]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise BadInput(f"--ids: {part!r} is not a number or a range like 10-20") from None
        if first > last or first < 0:
            raise BadInput(f"--ids: {part!r} is not a valid range")
        ranges.append((first, last))
    return tuple(ranges)


def parse_date(text: str) -> int:
    """``2015-06-01`` or an ISO date-time (UTC unless it says otherwise) → Unix time."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadInput(f"--since: {text!r} is not a date like 2015-06-01") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


@dataclass
class ExportSummary:
    out_dir: Path
    run_id: int
    resumed: bool
    batches: int = 0
    added: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)
    not_updated: Counter[str] = field(default_factory=Counter)
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    nodes_read: int = 0
    seconds: float = 0.0
    phase_seconds: dict[str, float] = field(default_factory=dict)
    highwater: int | None = None
    reconciliation: Reconciliation | None = None

    @property
    def nodes_per_second(self) -> float:
        return self.nodes_read / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "run": self.run_id,
            "resumed": self.resumed,
            "batches": self.batches,
            "added": dict(self.added),
            "updated": dict(self.updated),
            "unchanged": dict(self.unchanged),
            "not_updated": dict(self.not_updated),
            "failed": [{"kind": k, "id": i, "reason": r} for k, i, r in self.failed],
            "nodes_read": self.nodes_read,
            "seconds": round(self.seconds, 3),
            "nodes_per_second": round(self.nodes_per_second, 1),
            "phase_seconds": {k: round(v, 3) for k, v in self.phase_seconds.items()},
            "highwater": self.highwater,
            "reconciled": self.reconciliation.reconciled if self.reconciliation else None,
        }


def _chunks(items: Iterable[_T], size: int) -> Iterator[list[_T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def content_hash(record: Record | EncodedRecord | PreparedRecord) -> str:
    """sha256 of the record's JSON line: equal records, equal hashes, across runs."""
    if isinstance(record, EncodedRecord | PreparedRecord):
        return record.digest
    return content_digest(record)


def _detail(record: Record | EncodedRecord | PreparedRecord) -> str:
    return (
        record.detail if isinstance(record, EncodedRecord | PreparedRecord) else detail_json(record)
    )


def _num(key: str) -> int | None:
    return int(key) if key.isdigit() else None


class _Run:
    """One export run against one state store and writer."""

    def __init__(
        self,
        site: Drupal7,
        state: StateStore,
        writer: Writer,
        options: ExportOptions,
        summary: ExportSummary,
        cursor: dict[str, Any],
        progress: Progress | None,
        aside: _Aside,
    ) -> None:
        self.site = site
        self.aside = aside
        self.state = state
        self.writer = writer
        self.options = options
        self.summary = summary
        self.cursor = cursor
        self.progress = progress
        mapping = load_mapping(options.mapping) if options.mapping else ExportMapping()
        self.ctx: BuildContext | None = None
        self.context = ""
        """``fingerprint.context_digest`` of this run, set when the node phase starts."""
        self.buckets: dict[int, str] = {}
        """``Reader.node_buckets`` taken when the node phase started (MariaDB)."""
        self.clean: frozenset[int] = frozenset()
        """Buckets whose digest is the one stored by the last node phase that checked them."""
        self.dirty: set[int] = set()
        """Buckets holding a node that failed or was left changed (no ``--update``)."""
        self.bucket_key = ""
        self.unsettled: tuple[int, Callable[[], None]] | None = None
        """A node batch written but not yet durable (``Settles``): its number and what
        marks it complete once the writer settled it."""
        self.reader = Reader(
            site,
            state,
            writer.urls,
            selection=options.selection,
            mapping=mapping,
            old_urls=options.old_site_urls,
            files_dir=options.files_dir,
            revisions=options.revisions,
            include_emails=options.include_emails,
            include_hostnames=options.include_hostnames,
            allow_scripts=options.allow_scripts,
        )
        # Every whole-table digest the run asks for, started now, in the order it asks
        # (see _Aside): each is a function of the run's snapshot alone.
        self.alias_table = aside.start(functools.partial(tables_digest, tables=["url_alias"]))
        self.lookup_tables, self.node_buckets = self._start_node_digests()
        self.source_tables = aside.start(
            functools.partial(
                tables_digest,
                tables=source_tables(self.reader, options.revisions),
                only=SOURCE_COLUMNS,
            )
        )
        """The digest of what the reconciliation reads (``reconcile.source_tables``)."""

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Add the wall time of a phase to the summary: where a long run spends it."""
        start = time.monotonic()
        try:
            yield
        finally:
            spent = self.summary.phase_seconds.get(phase, 0.0) + time.monotonic() - start
            self.summary.phase_seconds[phase] = spent

    def _start_node_digests(
        self,
    ) -> tuple[Callable[[], str] | None, Callable[[], dict[int, str]] | None]:
        """The whole-table part of ``_lookups_digest`` and ``Reader.node_buckets``, when
        the node phase will ask for them (``_check_buckets``)."""
        reader = self.reader
        if not reader.digests_in_sql:
            return None, None
        items = [table for table, _ in ITEM_TABLES.values()]
        for entity in ITEM_TABLES:
            for spec in reader.entity_fields[entity]:
                items += [spec.data_table, f"field_revision_{spec.name}"]
        lookups = self.aside.start(
            functools.partial(
                tables_digest,
                tables=["url_alias", "file_managed", "users", *items],
                only={"file_managed": ("fid", "uri", "filemime", "filesize"), "users": ("uid",)},
            )
        )
        if int(self.cursor.get("node_after", 0)) or self.options.selection.limit is not None:
            return lookups, None  # resumed, or stopping at --limit: each node is checked
        return lookups, self.aside.start(reader.node_buckets(NODE_BUCKET))

    def execute(self, nodes_done: Callable[[], None] = lambda: None) -> None:
        """Every phase of the run; ``nodes_done`` is called once the node phase ends."""
        with self.timed("taxonomy"):
            taxonomy = self.reader.load_taxonomy()
            self._load_aliases()
        total = self.reader.count_nodes()
        limit = self.options.selection.limit
        if limit is not None:
            total = min(total, limit)
        left = total - int(self.cursor.get("node_done", 0))
        workers = self.options.workers if left > self.options.batch_size else 0
        encode = bool(getattr(self.writer, "takes_encoded", False))
        prepare = getattr(self.writer, "prepare_node", None)
        ctx = self.ctx = self.reader.build_context()
        self.context = context_digest(ctx, self._context_options())
        with _Builders(ctx, workers, encode, prepare) as builders:
            with self.timed("slugs"):
                self.reader.assign_node_slugs(builders.slugify)
            # Terms and users are written after the node slugs exist, so the node
            # references in their own fields resolve like the nodes' do.
            fields = builders.local or NodeBuilder(ctx)
            self.reader.field_builder = fields.field_values
            try:
                with self.timed("taxonomy"):
                    terms = list(self.reader.with_fields(taxonomy.terms))
                    self._phase("taxonomy", [*taxonomy.vocabularies, *terms])
                with self.timed("authors"):
                    self._phase("authors", self.reader.authors())
            finally:
                self.reader.field_builder = None
                if fields is not builders.local:
                    fields.close()
            with self.timed("files"):
                self._phase("files", self.reader.files())
            with self.timed("nodes"):
                self._check_buckets()
                self._nodes(builders, total, workers)
                self._store_buckets()
        nodes_done()
        with self.timed("redirects"):
            self._redirects()

    def _load_aliases(self) -> None:
        """Snapshot url_alias into the state, unless it holds the snapshot of these very rows.

        The state's aliases are a function of url_alias (every column digested on the
        server) and of the code that normalises them: when both are those recorded
        with the last snapshot, it is this one (100k aliases streamed and written again
        took a second of an unchanged re-run). Nothing else writes the aliases table.
        """
        inputs = digest_of(code_digest(), self.alias_table())
        if self.state.meta(ALIAS_INPUTS) == inputs:
            return
        self.state.delete_meta(ALIAS_INPUTS)  # interrupted while replacing: load them again
        self.reader.load_aliases()
        self.state.set_meta(ALIAS_INPUTS, inputs)

    def _lookups_digest(self) -> str:
        """Everything a node's lookups read (``fingerprint.Lookups``): aliases, node paths,
        terms, files, users, nested items; with the run's context and selection."""
        ctx = self.ctx
        assert ctx is not None and self.lookup_tables is not None
        return digest_of(
            self.context,
            asdict(self.options.selection),
            NODE_BUCKET,
            self.lookup_tables(),
            self.state.slugs_digest("node"),
            sorted(ctx.term_info.items()),
            sorted(ctx.unloadable.items()),
        )

    def _check_buckets(self) -> None:
        """Which buckets of nids hold only nodes checked since with the same rows and lookups.

        Their digests (``Reader.node_buckets``) are taken before any node is read and
        stored after the node phase (``_store_buckets``); in between none are held, so
        an interrupted run leaves none to trust. A run that resumes, or stops at
        ``--limit``, checks every node on its own.
        """
        self.buckets, self.clean = {}, frozenset()
        if not self.reader.digests_in_sql:
            return
        self.bucket_key = self._lookups_digest()
        stored = self.state.node_buckets(self.bucket_key)
        with self.state.transaction():
            self.state.forget_buckets()
        if self.node_buckets is None:  # resumed, or stopping at --limit
            return
        self.buckets = self.node_buckets()
        self.clean = frozenset(b for b, d in self.buckets.items() if stored.get(b) == d)

    def _store_buckets(self) -> None:
        """Vouch for the buckets whose every node is now as its item says (none failed or
        was left changed without ``--update``)."""
        if self.buckets:
            keep = {b: d for b, d in self.buckets.items() if b not in self.dirty}
            self.state.put_buckets(self.bucket_key, keep)

    def _context_options(self) -> dict[str, Any]:
        """The options a node's record can depend on (not which nodes a run takes)."""
        data = self.options.as_dict()
        for key in ("update", "workers", "changed_since"):
            data.pop(key)
        for key in ("ids", "since", "limit"):
            data["selection"].pop(key)
        data["digests"] = "server" if self.reader.digests_in_sql else "rows"
        return data

    def _unchanged(
        self, own: dict[int, str], files: FileRows, users: UserRows, items: ItemLookup
    ) -> set[int]:
        """Those nodes whose source fingerprint is the one stored with their item."""
        stored = self.state.sources(list(own))
        if not stored:
            return set()
        deps = {nid: tuple(orjson.loads(d)) for nid, (_, d) in stored.items()}
        assert self.ctx is not None
        lookups = Lookups(self.state, self.ctx, files, users, items)
        values = lookups.values(k for d in deps.values() for k in d)
        return {
            nid
            for nid, (fp, _) in stored.items()
            if fp == fingerprint(self.context, own[nid], deps[nid], values)
        }

    def _next_batch(self, after: int, size: int) -> _Fetched | None:
        """The next ``size`` selected nodes, with the rows of those that must be built.

        On MariaDB the server digests each node's rows and only the nodes whose
        fingerprint moved are fetched; elsewhere all rows are fetched and digested here.
        """
        reader = self.reader
        if reader.digests_in_sql:
            ids = reader.next_nodes(after, size)
            if not ids:
                return None
            nids = [n for n, _ in ids]
            clean = [n for n in nids if n // NODE_BUCKET in self.clean]
            vouched = self.state.vouched(clean) if clean else set()
            rest = [n for n in nids if n not in vouched]
            own = reader.node_digests(rest) if rest else {}
            same = self._unchanged(own, reader.files_of, reader.users_of, reader.items_of)
            todo = [n for n in rest if n not in same]
            rows = reader.fetch_node_ids(todo) if todo else None
            changed = max(c for _, c in ids)
            return _Fetched(rows, nids[-1], changed, own, len(same) + len(vouched), len(ids))
        fetched = reader.fetch_nodes(after, size)
        if fetched is None:
            return None
        own = own_digests(fetched)
        same = self._unchanged(own, *batch_rows(fetched))
        keep = [r for r in fetched.rows if int(r[0]) not in same]
        todo_rows = fetched if not same else fetched.only(keep) if keep else None
        return _Fetched(
            todo_rows, fetched.last_nid, fetched.max_changed, own, len(same), len(fetched.rows)
        )

    def _sources(self, batch: NodeBatch, fetched: _Fetched) -> dict[str, tuple[str, str]]:
        """Fingerprint and lookups (JSON) of each node just built, by key."""
        if fetched.rows is None or not batch.deps:
            return {}
        assert self.ctx is not None
        lookups = Lookups(self.state, self.ctx, *batch_rows(fetched.rows))
        values = lookups.values(k for d in batch.deps.values() for k in d)
        return {
            str(nid): (
                fingerprint(self.context, fetched.own[nid], deps, values),
                orjson.dumps(deps).decode(),
            )
            for nid, deps in batch.deps.items()
            if nid in fetched.own
        }

    def _phase(self, phase: str, records: Iterable[Record]) -> None:
        for chunk in _chunks(records, self.options.batch_size):
            self._batch(phase, chunk, [])

    def _nodes(self, builders: _Builders, total: int, workers: int) -> None:
        """Read batches ahead while builders clean the previous ones; write in nid order."""
        limit = self.options.selection.limit
        after = int(self.cursor.get("node_after", 0))
        done = int(self.cursor.get("node_done", 0))
        if self.progress:
            self.progress(done, total)
        fetched = done
        pending: deque[tuple[Future[NodeBatch], int, _Fetched]] = deque()
        exhausted = False
        while True:
            while not exhausted and len(pending) <= workers:
                size = self.options.batch_size
                if limit is not None:
                    size = min(size, limit - fetched)
                got = self._next_batch(after, size) if size > 0 else None
                if got is None:
                    exhausted = True
                    break
                after = got.last_nid
                fetched += got.count
                if got.rows is None:
                    future: Future[NodeBatch] = Future()
                    future.set_result(NodeBatch([], [], got.last_nid, got.max_changed))
                else:
                    future = builders.submit(got.rows)
                    got.rows = got.rows.lookups_only()  # ~3 batches in flight, bodies and all
                pending.append((future, fetched, got))
            if not pending:
                break
            future, done, got = pending.popleft()
            try:
                batch = future.result()
            except BrokenProcessPool as exc:
                raise MigrateError(f"a cleaning worker process died ({exc})") from None
            count = len(batch.records) + len(batch.failures)
            self.summary.nodes_read += count + got.skipped
            self.summary.unchanged["node"] += got.skipped
            events = [("node", str(nid), "failed", why) for nid, why in batch.failures]
            self.summary.failed.extend((k, i, r) for k, i, _, r in events)
            self.cursor.update(node_after=got.last_nid, node_done=done)
            self._batch(
                "nodes",
                batch.records,
                events,
                highwater=got.max_changed,
                sources=self._sources(batch, got),
                digests=batch.digests,
            )
            self.dirty.update(
                int(key) // NODE_BUCKET
                for kind, key, status, _ in events
                if kind == "node" and status in ("failed", "not_updated")
            )
            if self.progress:
                self.progress(done, total)
        self._settle()

    def _settle(self) -> None:
        """Mark the node batch written last complete, once the writer made it durable."""
        if self.unsettled is not None:
            (batch_no, complete), self.unsettled = self.unsettled, None
            assert isinstance(self.writer, Settles)
            self.writer.settle(batch_no)
            complete()

    def _redirect_inputs(self) -> str:
        """Everything the redirect records are made of: two equal digests, the same records.

        url_alias (digested on the server), the terms' paths and why others cannot
        load, the exported nodes' paths and the run's context (code, options, URL
        scheme...). Taken before the records are built, so a change made meanwhile
        shows on the next run.
        """
        taxonomy = self.reader.taxonomy
        assert taxonomy is not None
        return digest_of(
            self.context,
            self.alias_table(),
            sorted((tid, t.path) for tid, t in taxonomy.info.items()),
            sorted(taxonomy.unloadable.items()),
            self.state.exported_paths_digest(),
        )

    def _redirects(self) -> None:
        """Rebuild the redirects, unless their inputs are those of the last run that did.

        Then that run's records are these records, and the state still holds as many
        (a rollback forgets the record of inputs; a run that left a changed redirect
        without ``--update`` records none): what it skipped is recorded as
        skipped by this run too (the reconciliation reads this run's reasons), and
        the reconciliation still reads every redirect back from disk.
        """
        inputs = self._redirect_inputs()
        run_id = self.summary.run_id
        held = self.state.item_counts().get("redirect", 0)
        done, _, digest = (self.state.meta(REDIRECT_INPUTS) or "").partition(":")
        if done.isdigit() and digest == digest_of(inputs, held):
            with self.state.transaction():
                self.state.copy_events(int(done), run_id, "redirect")
                self.state.set_meta(REDIRECT_INPUTS, f"{run_id}:{digest}")
            self.summary.unchanged["redirect"] += held
            return
        self.state.delete_meta(REDIRECT_INPUTS)
        left = self.summary.not_updated["redirect"]
        self._write_redirects()
        if self.summary.not_updated["redirect"] == left:  # else the next run must see them
            held = self.state.item_counts().get("redirect", 0)
            self.state.set_meta(REDIRECT_INPUTS, f"{run_id}:{digest_of(inputs, held)}")

    def _write_redirects(self) -> None:
        size = self.options.batch_size * REDIRECTS_PER_NODE_BATCH
        records: list[Record] = []
        events: list[tuple[str, str, str, str]] = []
        for item in self.reader.redirects():
            if isinstance(item, Skipped):
                events.append((item.kind, item.source_id, "skipped", item.reason))
            else:
                records.append(item)
            if len(records) >= size:
                self._batch("redirects", records, events)
                records, events = [], []
        if records or events:
            self._batch("redirects", records, events)

    def _batch(
        self,
        phase: str,
        records: Sequence[Record | EncodedRecord | PreparedRecord],
        events: list[tuple[str, str, str, str]],
        highwater: int | None = None,
        sources: dict[str, tuple[str, str]] | None = None,
        digests: dict[str, tuple[str, str]] | None = None,
    ) -> None:
        """Write the new and changed records of one batch and record it durably.

        ``sources`` (nodes): the built items' fingerprints, stored with every item that
        is now as built (written, or unchanged), never with one left stale. ``digests``
        (nodes): each record's content digest and detail, as its worker took them.
        """
        by_kind: dict[str, list[str]] = defaultdict(list)
        for record in records:
            by_kind[record.KIND].append(record.key)
        known = {kind: self.state.hashes(kind, keys) for kind, keys in by_kind.items()}
        to_write: list[Record | EncodedRecord | PreparedRecord] = []
        hashes: dict[tuple[str, str], str] = {}
        stale: list[ItemRef] = []
        fresh: list[tuple[int, str, str]] = []
        digests = digests or {}
        for record in records:
            taken = digests.get(record.key)
            digest = taken[0] if taken else content_hash(record)
            old = known[record.KIND].get(record.key)
            source = sources.get(record.key) if sources else None
            if old is None:
                self.summary.added[record.KIND] += 1
            elif old.hash == digest:
                self.summary.unchanged[record.KIND] += 1
                if source is not None:
                    fresh.append((int(record.key), *source))
                continue
            elif self.options.update:
                self.summary.updated[record.KIND] += 1
                stale.append(ItemRef(record.KIND, record.key, old.target))
            else:
                self.summary.not_updated[record.KIND] += 1
                events.append(
                    (record.KIND, record.key, "not_updated", "changed since exported; use --update")
                )
                continue
            to_write.append(record)
            hashes[(record.KIND, record.key)] = digest
            if source is not None:
                fresh.append((int(record.key), *source))
        run_id = self.summary.run_id
        if not to_write:
            self._settle()  # the cursor moves on: the batches before it must be complete
            with self.state.transaction():
                for kind, key, status, reason in events:
                    self.state.add_event(run_id, None, kind, key, status, reason)
                self.state.put_sources(fresh)
                self.state.save_cursor(run_id, self.cursor, highwater)
            return
        batch_no = self.state.begin_batch(run_id, phase, to_write[0].key, to_write[-1].key)
        try:
            refs = self.writer.write_batch(batch_no, to_write)
            if stale:
                self.writer.remove(stale)
        except MigrateError as exc:
            self.state.fail_batch(batch_no, str(exc))
            raise
        except OSError as exc:
            self.state.fail_batch(batch_no, str(exc))
            raise StateError(f"batch {batch_no}: writing failed: {exc}") from None
        details = {
            (r.KIND, r.key): taken[1] if (taken := digests.get(r.key)) else _detail(r)
            for r in to_write
        }
        written = [
            (
                ref.kind,
                ref.source_id,
                _num(ref.source_id),
                ref.target,
                hashes.get((ref.kind, ref.source_id), ""),
                details.get((ref.kind, ref.source_id), "{}"),
            )
            for ref in refs
        ]
        complete = functools.partial(
            self.state.complete_batch,
            run_id,
            batch_no,
            written,
            len(stale),
            dict(self.cursor),  # as it is now: the node phase moves it on meanwhile
            highwater,
            events,
            fresh,
        )
        self._settle()
        self.summary.batches += 1
        if isinstance(self.writer, Settles):
            self.unsettled = (batch_no, complete)
            if phase != "nodes" or stale:  # only a node batch waits for the next one
                self._settle()
        else:
            complete()
        forget_json()
        release_free_memory()  # the previous batch's records, freed by now (migrate.memory)


@dataclass
class _Fetched:
    """One batch of selected nodes as the node phase reads it (``_Run._next_batch``)."""

    rows: NodeRows | None
    """The rows of the nodes to build; None when every node is unchanged."""
    last_nid: int
    max_changed: int
    own: dict[int, str]
    """Each node's own-rows digest."""
    skipped: int
    count: int


class _Builders:
    """Node builders: in this process, or a pool of worker processes (``--workers``)."""

    def __init__(
        self, ctx: BuildContext, workers: int, encode: bool, prepare: Prepare | None = None
    ) -> None:
        self.encode = encode
        self.prepare = prepare
        self.local: NodeBuilder | None = None
        self.pool: ProcessPoolExecutor | None = None
        if workers > 0:
            self.pool = ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("fork"),
                initializer=init_worker,
                initargs=(ctx,),
            )
        else:
            self.local = NodeBuilder(ctx)

    def slugify(self, titles: list[str]) -> Iterable[str]:
        """Slug bases of ``titles``; with a pool, started now and read when iterated."""
        if self.pool is not None and len(titles) > 100:
            return self.pool.map(slugify_vi, titles, chunksize=500)
        return map(slugify_vi, titles)

    def submit(self, rows: NodeRows) -> Future[NodeBatch]:
        if self.pool is not None:
            # Sent as bytes: the pool holds what it sends until the batch comes back, and a
            # pickle is a few times smaller than the rows' objects (bodies, tuples, dicts).
            data = pickle.dumps(rows, pickle.HIGHEST_PROTOCOL)
            return self.pool.submit(build_in_worker, data, self.encode, self.prepare)
        assert self.local is not None
        future: Future[NodeBatch] = Future()
        future.set_result(self.local.build(rows, self.encode, self.prepare))
        return future

    def __enter__(self) -> _Builders:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        if self.local is not None:
            self.local.close()


UNRECONCILED = "unreconciled"
"""A run whose every phase ran but whose read-back found something missing: resuming it
would change nothing, so the next run (with ``--update``, say) starts afresh."""


def _open_run(
    state: StateStore, writer: Writer, name: str, source: str, options: ExportOptions
) -> tuple[int, dict[str, Any], bool]:
    """Resume the last run if it was interrupted with the same options, else start one."""
    for batch in state.unfinished_batches():
        writer.discard_batch(batch.batch_no)
        state.forget_batch(batch.batch_no)
    last = state.last_run()
    fingerprint = options.fingerprint()
    if last is not None and last.status not in ("complete", UNRECONCILED):
        if last.fingerprint == fingerprint and last.writer == name:
            state.reopen_run(last.run_id)
            return last.run_id, dict(last.cursor), True
        state.end_run(last.run_id, "abandoned", "superseded by a run with other options")
    run = state.start_run(name, source, options.as_dict(), fingerprint)
    return run.run_id, {}, False


DIGEST_CONNECTIONS = 2
"""Connections beside the export's own that take its whole-table digests (``_Aside``):
the two that matter, the node buckets and the reconciliation's tables, take a few
seconds each at 100k nodes, most of an unchanged re-run."""


class _Aside:
    """Whole-table digests taken on other connections of the export's snapshot.

    Each of ``twins`` (``open_sources``: their snapshots are the export's) runs in a
    thread of its own, one query at a time, so no connection is ever queried while
    another query's rows stream on it; a digest's result waits until it is asked for.
    Without twins (a dump, or the tables could not be locked to align the snapshots)
    a digest is taken on the export's own connection when it is first asked for.
    """

    def __init__(self, source: Source, twins: Sequence[Source]) -> None:
        self.source = source
        self.lanes = [(twin, ThreadPoolExecutor(1, "digest")) for twin in twins]
        self.turn = 0

    def start(self, work: Callable[[Source], _T]) -> Callable[[], _T]:
        """``work`` started on the next twin (in turn), or run on the source when asked."""
        if not self.lanes:
            return functools.cache(functools.partial(work, self.source))
        twin, pool = self.lanes[self.turn % len(self.lanes)]
        self.turn += 1
        return pool.submit(work, twin).result

    def __enter__(self) -> _Aside:
        return self

    def __exit__(self, *exc: object) -> None:
        """Wait for a query still running (its connection is closed by its opener next)."""
        for _, pool in self.lanes:
            pool.shutdown(wait=True, cancel_futures=True)


def export(
    site: Drupal7,
    out_dir: Path,
    options: ExportOptions,
    progress: Progress | None = None,
    twins: Sequence[Source] = (),
) -> ExportSummary:
    """Export the site into ``out_dir`` with the writer ``options.to`` (see module docstring).

    ``twins`` are more connections to the very same data (``open_sources``), for the
    whole-table digests (``_Aside``). A full disk ends the run with one line naming
    the folder: every batch recorded complete is durable, so the same command resumes
    once there is room.
    """
    try:
        return _export(site, out_dir, options, progress, twins)
    except (MigrateError, OSError, sqlite3.Error) as exc:
        if not is_disk_full(exc, out_dir):
            raise
        raise DiskFull(
            f"{out_dir}: no space left on the device; free some space and run the same"
            " command again to resume"
        ) from None


@contextmanager
def _closing(writer: Writer) -> Iterator[None]:
    """Call the writer's optional ``close`` however the run ends (its helper processes
    hold the output folder's lock)."""
    try:
        yield
    finally:
        close = getattr(writer, "close", None)
        if close is not None:
            close()


def _export(
    site: Drupal7,
    out_dir: Path,
    options: ExportOptions,
    progress: Progress | None,
    twins: Sequence[Source],
) -> ExportSummary:
    started = time.monotonic()
    writer = get_writer(options.to)
    if options.mapping:  # before anything is written: a name the site lacks maps nothing
        load_mapping(options.mapping).check_site(options.mapping, site)
    with StateStore(out_dir) as state, _closing(writer):
        state.lock()
        stored = state.meta("writer")
        if stored is not None and stored != options.to:
            raise StateError(
                f"{out_dir} holds a {stored} export; use another --out for {options.to}"
            )
        claim(state, site_identity(site), allow_other=options.allow_other_site)
        state.set_meta("writer", options.to)
        if options.changed_since:
            mark = state.last_highwater()
            if mark is not None:
                since = max(mark, options.selection.since or 0)
                options = replace(options, selection=replace(options.selection, since=since))
        writer.begin(
            out_dir,
            WriterOptions(
                files_dir=options.files_dir,
                private_dir=private_files_dir(site, options.files_dir),
                base_url=options.new_site_url,
                include_emails=options.include_emails,
                extra=dict(options.target_options),
                site=read_site_info(site),
            ),
        )
        run_id, cursor, resumed = _open_run(state, writer, options.to, site.source.label, options)
        summary = ExportSummary(out_dir, run_id, resumed)
        with _Aside(site.source, twins) as aside:
            run = _Run(site, state, writer, options, summary, cursor, progress, aside)
            reads_back_as = getattr(writer, "reads_back_as", options.to)
            reading: OutputReading | None = None
            fingerprinting: OutputReading | None = None
            with suppress(StateError):  # no reader: the comparison says so
                fingerprinting = early_fingerprint(readback_for(reads_back_as), out_dir, state)

            def start_reading() -> None:
                nonlocal reading
                with suppress(StateError):  # no reader: the comparison says so
                    reading = early_reading(readback_for(reads_back_as), out_dir, state)

            try:
                run.execute(start_reading)
                if fingerprinting is not None and summary.batches:
                    fingerprinting.close()  # of the output before this run's batches
                    fingerprinting = None
                writer.finish({"counts": state.item_counts(), "run": run_id})
                # The last run's report no longer describes this output: if this comparison
                # fails, no report is better than one saying "reconciled".
                (out_dir / RECONCILIATION_FILE).unlink(missing_ok=True)
                with run.timed("reconciliation"):
                    report = reconcile(
                        Comparison(
                            site,
                            state,
                            run.reader,
                            run_id=run_id,
                            target=options.to,
                            readback=readback_for(reads_back_as),
                            out_dir=out_dir,
                            selection=options.selection,
                            revisions=options.revisions,
                            tables=run.source_tables,
                            reading=reading,
                            fingerprinting=fingerprinting,
                        )
                    )
                summary.reconciliation = report
                _write_json(out_dir / RECONCILIATION_FILE, report.to_dict())
                summary.seconds = time.monotonic() - started
                if not report.reconciled:
                    first = report.unaccounted[0]
                    raise Unaccounted(
                        f"{report.unaccounted_total} source item(s) are not in the output,"
                        " read back from disk, and have no reason to be left out (first:"
                        f" {first.kind}"
                        f" {first.id}: {first.what}); see {out_dir / RECONCILIATION_FILE}"
                    )
            except KeyboardInterrupt:
                state.end_run(run_id, "interrupted", "interrupted by the user")
                raise
            except Unaccounted as exc:
                state.end_run(run_id, UNRECONCILED, str(exc))
                raise
            except MigrateError as exc:
                state.end_run(run_id, "failed", str(exc))
                raise
            finally:
                for taking in (reading, fingerprinting):
                    if taking is not None:
                        taking.close()  # the run stopped before its comparison took it
        latest = state.run(run_id)
        summary.highwater = latest.highwater if latest else None
        state.end_run(run_id, "complete")
    return summary


def _write_json(path: Path, data: Any) -> None:
    write_durably(path, json.dumps(data, ensure_ascii=False, indent=2))


# ---------------------------------------------------------------------- status and rollback


@dataclass(frozen=True)
class KindStatus:
    """One line of ``status``, as ``drush migrate:status`` shows a migration."""

    kind: str
    total: int | None
    """In the source at the last complete run (None before one finished)."""
    exported: int
    failed: int
    last_exported: float | None

    @property
    def unprocessed(self) -> int | None:
        """Not exported: left out by the selection, skipped with a reason, or not reached yet."""
        if self.total is None:
            return None
        return max(self.total - self.exported - self.failed, 0)


_KIND_ORDER = ("vocabulary", "term", "author", "file", "node", "redirect")


def _source_totals(out_dir: Path) -> dict[str, int]:
    """What the last complete run's reconciliation counted in the source, per kind."""
    path = out_dir / RECONCILIATION_FILE
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(rec, dict):
        return {}
    kinds = {"vocabularies": "vocabulary", "authors": "author"}
    kinds.update((f"{kind}s", kind) for kind in ("term", "file", "node", "redirect"))
    totals: dict[str, int] = {}
    for count in rec.get("counts") or ():
        what = count.get("what") if isinstance(count, dict) else None
        if what in kinds and isinstance(count.get("source"), int):
            totals[kinds[what]] = count["source"]
    return totals


@dataclass
class StatusReport:
    out_dir: Path
    writer: str | None
    runs: list[dict[str, Any]]
    batches: dict[str, int]
    counts: dict[str, int]
    nodes_by_type: dict[str, int]
    failed_batches: list[dict[str, Any]]
    failures: list[dict[str, str]]
    highwater: int | None
    kinds: list[KindStatus] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["out_dir"] = str(self.out_dir)
        data["kinds"] = [{**asdict(k), "unprocessed": k.unprocessed} for k in self.kinds]
        return data


def status(out_dir: Path) -> StatusReport:
    """What an export directory holds: runs, batches, counts, failures, highwater."""
    with StateStore(out_dir, create=False, read_only=True) as state:
        runs = [
            {
                "run": r.run_id,
                "status": r.status,
                "writer": r.writer,
                "started": r.started,
                "finished": r.finished,
                "highwater": r.highwater,
                "message": r.message,
                "options": r.options,
            }
            for r in state.runs()
        ]
        batches = state.batches()
        by_status = Counter(b.status for b in batches)
        types: Counter[str] = Counter()
        for _, detail in state.node_details():
            types[str(detail.get("type"))] += 1
        return StatusReport(
            out_dir=out_dir,
            writer=state.meta("writer"),
            runs=runs,
            batches=dict(by_status),
            counts=state.item_counts(),
            nodes_by_type=dict(types),
            failed_batches=[
                {"batch": b.batch_no, "phase": b.phase, "message": b.message}
                for b in batches
                if b.status == "failed"
            ],
            failures=[
                {"kind": k, "id": i, "status": s, "reason": r}
                for k, i, s, r in state.events()
                if s == "failed"
            ],
            highwater=state.last_highwater(),
            kinds=_kinds(state.kind_progress(), _source_totals(out_dir)),
        )


def _kinds(
    progress: dict[str, tuple[int, int, float | None]], totals: dict[str, int]
) -> list[KindStatus]:
    rank = {kind: n for n, kind in enumerate(_KIND_ORDER)}
    names = sorted(set(progress) | set(totals), key=lambda k: (rank.get(k, len(rank)), k))
    return [KindStatus(k, totals.get(k), *progress.get(k, (0, 0, None))) for k in names]


@dataclass
class RollbackSummary:
    out_dir: Path
    batches: list[int]
    removed: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {"out_dir": str(self.out_dir), "batches": self.batches, "removed": self.removed}


def rollback(out_dir: Path, batch: int | None = None, all: bool = False) -> RollbackSummary:
    """Remove exactly what the given batch (or every batch) wrote, newest first."""
    if (batch is None) == (not all):
        raise BadInput("give either --batch N or --all")
    with StateStore(out_dir, create=False) as state:
        state.lock()
        name = state.meta("writer")
        if name is None:
            raise StateError(f"{out_dir}: nothing was exported here")
        writer = get_writer(name)
        writer.begin(out_dir, WriterOptions())
        for pending in state.unfinished_batches():
            writer.discard_batch(pending.batch_no)
            state.forget_batch(pending.batch_no)
        done = [b for b in state.batches() if b.status == "complete"]
        if batch is not None:
            done = [b for b in done if b.batch_no == batch]
            if not done:
                raise StateError(f"{out_dir}: batch {batch} is not a complete batch")
        nos = sorted((b.batch_no for b in done), reverse=True)
        removed: Counter[str] = Counter()
        for no in nos:
            items = state.items_of_batches([no])
            writer.remove([ItemRef(i.kind, i.source_id, i.target) for i in items])
            removed.update(i.kind for i in items)
            state.mark_rolled_back([no])
        last = state.last_run()
        if last is not None and last.status != "complete":
            state.end_run(last.run_id, "abandoned", "rolled back")
        return RollbackSummary(out_dir, sorted(nos), dict(removed))
