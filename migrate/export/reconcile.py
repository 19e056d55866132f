"""The reconciliation: the source against what the output holds *when read back from disk*.

After the last batch, the target's output is parsed again (``migrate.export.readback``)
and compared with the Drupal database, entity by entity and part by part: nodes
(per type and status), their comments, aliases, revisions and every field's
values; vocabularies, terms and their parents, authors, files and redirects.
Every source item is either found in the output, or left out with a reason (the
selection, a term that cannot load, a file the writer reported as private), or
**unaccounted**: then the export fails (``Unaccounted``) and every such item is
listed by id in ``reconciliation.json``.

Both sides are written to a scratch SQLite file in the output folder and
compared there, so memory does not grow with the site; the file is removed
afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from migrate.export.fields import NESTED_ENTITIES, FieldSpec
from migrate.export.fingerprint import code_digest, digest_of
from migrate.export.outputread import OutputRead, OutputReading, remove_scratch
from migrate.export.readback import BODIES, COMMENT_PREFIX, ReadBack, nested_part
from migrate.export.reader import ITEM_TABLES, Reader, Selection
from migrate.export.redirects import normalize_path
from migrate.export.state import StateStore
from migrate.schema import Drupal7

SCRATCH = ".reconcile.sqlite"
UNACCOUNTED_SHOWN = 1000
"""Unaccounted items listed one by one in the report (the count is always exact)."""

_KINDS = ("node", "vocabulary", "term", "author", "file", "redirect")
_PARTS = {"node": ("comments", "aliases", "revisions"), "term": ("parents",)}
_PART_NAMES = {"aliases": "node aliases", "parents": "term parents"}


def id_ranges(ids: Iterable[int]) -> str:
    """Sorted ids as compact ranges: 1,2,3,7 → '1-3,7'."""
    out: list[str] = []
    start = prev = None
    for n in sorted(ids):
        if prev is not None and n == prev + 1:
            prev = n
            continue
        if start is not None:
            out.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = n
    if start is not None:
        out.append(str(start) if start == prev else f"{start}-{prev}")
    return ",".join(out)


@dataclass(frozen=True)
class Count:
    """One line of the table: a kind of item (or a part of one) in the source and on disk."""

    what: str
    source: int
    found: int
    left_out: int
    unaccounted: int
    note: str = ""

    @property
    def reconciled(self) -> bool:
        return self.unaccounted == 0


@dataclass(frozen=True)
class FieldCount:
    """One field: values in the source (of the compared entities) and read back from disk."""

    entity: str
    field: str
    type: str
    source: int
    found: int
    unaccounted: int
    entities_that_differ: str = ""
    note: str = ""
    """Why the target holds none of them, when its format has no place for them."""

    @property
    def reconciled(self) -> bool:
        return self.unaccounted == 0


@dataclass(frozen=True)
class LeftOut:
    """Items of one kind left out of the output for one reason (ids as ranges when numeric)."""

    kind: str
    reason: str
    count: int
    ids: str


@dataclass(frozen=True)
class Unaccounted:
    """A source item (or a part of one) that is neither in the output nor left out with a reason."""

    kind: str
    id: str
    what: str


@dataclass
class Reconciliation:
    """What ``reconcile`` proved; ``reconciled`` only when nothing is unaccounted."""

    source: str
    target: str
    run: int
    counts: list[Count] = field(default_factory=list)
    fields: list[FieldCount] = field(default_factory=list)
    nodes_by_type: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    """``source``/``found`` → node type → published/unpublished → count."""
    terms_by_vocabulary: dict[str, dict[str, int]] = field(default_factory=dict)
    """``source``/``found`` → vocabulary → loadable terms."""
    left_out: list[LeftOut] = field(default_factory=list)
    not_carried: dict[str, str] = field(default_factory=dict)
    gone_from_source: dict[str, str] = field(default_factory=dict)
    unaccounted: list[Unaccounted] = field(default_factory=list)
    unaccounted_total: int = 0
    read_back_seconds: float = 0.0
    """Wall time from the source side loaded to the comparison done: the wait for the
    output side, summing it, comparing."""
    output_seconds: float = 0.0
    """Wall time of reading the output back; for a big output, in a process of its own
    while the source side loads (``migrate.export.outputread``)."""
    files_parsed: int | None = None
    """Output files parsed by the read-back; the others' items came from the cache of
    items by file digest (None: this target's read-back parses everything)."""
    same_as_run: int | None = None
    """When the source tables and every output file's bytes are those this earlier run
    compared (checked now, digest by digest): its comparison, which stands unchanged."""

    @property
    def reconciled(self) -> bool:
        return self.unaccounted_total == 0

    def count(self, what: str) -> Count | None:
        return next((c for c in self.counts if c.what == what), None)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reconciliation:
        """A report ``to_dict`` wrote (a malformed one raises KeyError, TypeError or ValueError)."""
        drop = {"reconciled"}
        return cls(
            source=str(data["source"]),
            target=str(data["target"]),
            run=int(data["run"]),
            counts=[Count(**{k: v for k, v in c.items() if k not in drop}) for c in data["counts"]],
            fields=[
                FieldCount(**{k: v for k, v in f.items() if k not in drop}) for f in data["fields"]
            ],
            nodes_by_type=dict(data["nodes_by_type"]),
            terms_by_vocabulary=dict(data["terms_by_vocabulary"]),
            left_out=[LeftOut(**x) for x in data["left_out"]],
            not_carried=dict(data["not_carried"]),
            gone_from_source=dict(data["gone_from_source"]),
            unaccounted=[Unaccounted(**x) for x in data["unaccounted"]],
            unaccounted_total=int(data["unaccounted_total"]),
            files_parsed=data.get("files_parsed"),
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["counts"] = [asdict(c) | {"reconciled": c.reconciled} for c in self.counts]
        data["fields"] = [asdict(f) | {"reconciled": f.reconciled} for f in self.fields]
        data["read_back_seconds"] = round(self.read_back_seconds, 3)
        data["output_seconds"] = round(self.output_seconds, 3)
        data["reconciled"] = self.reconciled
        return data


@dataclass(frozen=True)
class Comparison:
    """What one reconciliation compares: a run's source and state, and the output it
    reads back; every input of its outcome but the bytes read (``_source_digest``)."""

    site: Drupal7
    state: StateStore
    reader: Reader
    run_id: int
    target: str
    readback: ReadBack
    out_dir: Path
    selection: Selection
    revisions: str
    tables: Callable[[], str]
    """The digest of ``source_tables`` (``fingerprint.tables_digest`` with
    ``SOURCE_COLUMNS``) on the run's snapshot: the engine starts it on another
    connection when it has one, so the server takes it while the export reads."""
    reading: OutputReading | None = None
    """The output's reading, when ``early_reading`` started it as the node phase ended."""
    fingerprinting: OutputReading | None = None
    """The output's fingerprint, when ``early_fingerprint`` started taking it as the run
    began (the engine passes it only when the run wrote nothing since)."""


def early_reading(readback: ReadBack, out_dir: Path, state: StateStore) -> OutputReading | None:
    """A held reading of the output, started while the run still writes its redirects.

    Only when this run's comparison reads the output anyway (no comparison is kept to
    reuse) and the reader reads a folder no later phase writes first
    (``ReadBack.settled_first``): at 100k nodes Hugo's pages take ~16 s of CPU to read,
    JSONL's node files ~6 s, and the redirects phase leaves one core idle. A file-wise
    reader then lists and digests the files itself (``read_output``).
    """
    if readback.settled_first is None:
        return None
    if _Kept.load(state) is not None:
        return None
    items = sum(state.item_counts().values())
    reading = OutputReading(readback, out_dir, None, items, hold=True)
    return reading if reading.started else None


def early_fingerprint(readback: ReadBack, out_dir: Path, state: StateStore) -> OutputReading | None:
    """The output's fingerprint, taken in processes of their own from the start of a
    re-run that may keep its last comparison (a whole-output reader with a fingerprint).

    An unchanged re-run writes nothing: the output at its start is the output at its
    end, and at 100k Hugo pages the fingerprint is ~2.5 s of reading 100k files, most
    of an unchanged re-run's reconciliation, now beside its source-side work. A run
    that writes a batch must not use it (the engine drops it).
    """
    if readback.fingerprint is None or readback.file_wise or _Kept.load(state) is None:
        return None
    items = sum(state.item_counts().values())
    taking = OutputReading(readback, out_dir, None, items, fingerprint_only=True)
    return taking if taking.started else None


def _open_scratch(path: Path) -> sqlite3.Connection:
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(
        """
        PRAGMA journal_mode = OFF;
        PRAGMA synchronous = OFF;
        PRAGMA cache_size = -4000;
        CREATE TABLE src (kind TEXT, key TEXT, reason TEXT, fallback TEXT,
                          PRIMARY KEY (kind, key)) WITHOUT ROWID;
        CREATE TABLE src_part (kind TEXT, key TEXT, part TEXT, n INTEGER,
                               PRIMARY KEY (kind, key, part)) WITHOUT ROWID;
        CREATE TABLE node_meta (key TEXT PRIMARY KEY, type TEXT, status INTEGER) WITHOUT ROWID;
        CREATE TABLE term_meta (key TEXT PRIMARY KEY, vocabulary TEXT) WITHOUT ROWID;
        CREATE TABLE out (kind TEXT, key TEXT, n INTEGER, PRIMARY KEY (kind, key)) WITHOUT ROWID;
        CREATE TABLE out_part (kind TEXT, key TEXT, part TEXT, n INTEGER,
                               PRIMARY KEY (kind, key, part)) WITHOUT ROWID;
        CREATE TABLE listed (kind TEXT, key TEXT, reason TEXT, PRIMARY KEY (kind, key))
            WITHOUT ROWID;
        BEGIN;
        """
    )
    return db


def _chunked(items: Iterable[Any], size: int = 5000) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


_PartSummary = tuple[
    dict[tuple[str, str], int],
    dict[tuple[str, str], int],
    dict[tuple[str, str], list[tuple[str, int, int]]],
]
"""(kind, part) → source total in scope, found total, and (key, source, found) that differ."""


class _Compare:
    """Loads both sides into the scratch database and compares them."""

    def __init__(self, job: Comparison, db: sqlite3.Connection) -> None:
        self.site = job.site
        self.source = job.site.source
        self.state = job.state
        self.reader = job.reader
        self.run_id = job.run_id
        self.selection = job.selection
        self.revisions = job.revisions
        self.db = db
        self._parts: _PartSummary | None = None

    # ------------------------------------------------------------------ source side

    def load_source(self) -> None:
        events = self.state.events(self.run_id)
        failures = {i: r for k, i, s, r in events if k == "node" and s == "failed"}
        limited = self.selection.limit is not None
        rows: list[tuple[str, str, str | None, str | None]] = []
        meta: list[tuple[str, str, int]] = []
        for nid, ntype, status, changed in self.source.stream(
            "SELECT nid, type, status, changed FROM {node} ORDER BY nid"
        ):
            key = str(nid)
            reason = failures.get(key) or self.selection.excludes(
                int(nid), str(ntype), int(status), int(changed)
            )
            fallback = "not exported yet (--limit)" if limited else None
            rows.append(("node", key, reason, fallback))
            meta.append((key, str(ntype), int(status)))
            if len(rows) >= 5000:
                self._put_src(rows, meta)
                rows, meta = [], []
        self._put_src(rows, meta)
        self._node_parts()
        self._taxonomy()
        self._put_src(
            [("author", str(uid), None, None) for (uid,) in self._ids("users", "uid", "uid > 0")]
        )
        self._put_src(
            (
                "file",
                str(fid),
                None,
                None if str(uri).startswith("public://") else f"{uri}: not a public file",
            )
            for fid, uri in self.source.rows("SELECT fid, uri FROM {file_managed} ORDER BY fid")
        )
        self._redirects(events)

    def _ids(self, table: str, column: str, where: str) -> list[tuple[Any, ...]]:
        return self.source.rows(f"SELECT {column} FROM {{{table}}} WHERE {where}")

    def _put_src(
        self,
        rows: Iterable[tuple[str, str, str | None, str | None]],
        meta: Sequence[tuple[str, str, int]] = (),
    ) -> None:
        self.db.executemany("INSERT OR IGNORE INTO src VALUES (?, ?, ?, ?)", rows)
        self.db.executemany("INSERT OR REPLACE INTO node_meta VALUES (?, ?, ?)", meta)

    def _put_parts(self, kind: str, part: str, counts: Iterable[tuple[Any, Any]]) -> None:
        for chunk in _chunked(counts):
            self.db.executemany(
                "INSERT INTO src_part VALUES (?, ?, ?, ?)"
                " ON CONFLICT DO UPDATE SET n = n + excluded.n",
                [(kind, str(key), part, int(n)) for key, n in chunk],
            )

    def _node_parts(self) -> None:
        """Per node: comments, aliases, revisions and every field's values, in the source.

        Each part is one ``SELECT k, COUNT(*) n ... GROUP BY``. On MariaDB they are
        sent as one query that returns one row per node with all its counts, so the
        client decodes one row per node instead of one per node and part.
        """
        src = self.source
        queries: list[tuple[str, str, tuple[Any, ...]]] = []
        if src.has_table("comment"):
            queries.append(
                ("comments", "SELECT nid AS k, COUNT(*) AS n FROM {comment} GROUP BY nid", ())
            )
        if self.revisions == "all":
            queries.append(
                (
                    "revisions",
                    "SELECT nid AS k, COUNT(*) AS n FROM {node_revision} GROUP BY nid",
                    (),
                )
            )
        queries.append(
            (
                "aliases",
                "SELECT SUBSTRING(source, 6) AS k, COUNT(*) AS n FROM {url_alias}"
                " WHERE source LIKE ? GROUP BY source",
                ("node/%",),
            )
        )
        for spec in self.reader.entity_fields["comment"]:
            if spec.columns:
                queries.append(
                    (
                        f"{COMMENT_PREFIX}field:{spec.name}",
                        f"SELECT c.nid AS k, COUNT(*) AS n FROM {{{spec.data_table}}} f"
                        " JOIN {comment} c ON c.cid = f.entity_id"
                        f" WHERE f.entity_type = ? AND f.deleted = 0{_not_empty(spec, 'f.')}"
                        " GROUP BY c.nid",
                        ("comment",),
                    )
                )
        for spec in self.reader.node_fields:
            if not spec.columns:
                continue
            where = "entity_type = ? AND deleted = 0" + _not_empty(spec)
            queries.append(
                (
                    f"field:{spec.name}",
                    f"SELECT entity_id AS k, COUNT(*) AS n FROM {{{spec.data_table}}}"
                    f" WHERE {where} GROUP BY entity_id",
                    ("node",),
                )
            )
        if src.dialect == "mysql":
            self._put_node_parts_at_once(queries)
        else:
            for part, sql, params in queries:
                counts = src.stream(sql, params)
                if part == "aliases":
                    counts = ((k, n) for k, n in counts if str(k).isdigit())
                self._put_parts("node", part, counts)
        self._entity_field_parts("term", "taxonomy_term")
        self._entity_field_parts("author", "user")
        self._nested_parts()

    def _put_node_parts_at_once(self, queries: list[tuple[str, str, tuple[Any, ...]]]) -> None:
        names = [part for part, _, _ in queries]
        union = " UNION ALL ".join(
            f"SELECT k, {i} AS p, n FROM ({sql}) q{i}" for i, (_, sql, _) in enumerate(queries)
        )
        params = [p for _, _, ps in queries for p in ps]
        rows: list[tuple[str, str, str, int]] = []
        for key, counts in self.source.stream(
            f"SELECT k, GROUP_CONCAT(CONCAT(p, ':', n) SEPARATOR ',') FROM ({union}) x GROUP BY k",
            params,
        ):
            key = key.decode() if isinstance(key, bytes) else str(key)
            if not key.isdigit():  # an alias of node/<not a number>
                continue
            text = counts.decode() if isinstance(counts, bytes) else str(counts)
            for pair in text.split(","):
                i, _, n = pair.partition(":")
                rows.append(("node", key, names[int(i)], int(n)))
            if len(rows) >= 5000:
                self._put_part_rows(rows)
                rows = []
        self._put_part_rows(rows)

    def _put_part_rows(self, rows: list[tuple[str, str, str, int]]) -> None:
        self.db.executemany(
            "INSERT INTO src_part VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET n = n + excluded.n",
            rows,
        )

    def _nested_parts(self) -> None:
        """Values of field_collection and paragraphs items, on the entity at the top of each chain.

        As the reader loads them: the item revision a host names (else the item's
        current one), only for items whose row exists; a node's comments' items
        count on the node under ``comment.``. Items inside items are followed level
        by level; an item reached twice counts once.
        """
        reader, src = self.reader, self.source
        nested = reader.nested_specs
        if not nested:
            return
        current: dict[tuple[str, int], int] = {}
        for entity, (table, _) in ITEM_TABLES.items():
            if src.has_table(table):
                for item_id, rev in src.stream(f"SELECT item_id, revision_id FROM {{{table}}}"):
                    current[(entity, int(item_id))] = int(rev)
        nids: dict[Any, Any] = (
            dict(src.rows("SELECT cid, nid FROM {comment}"))
            if src.has_table("comment") and any(s.name in self._comment_names for s in nested)
            else {}
        )
        roots: dict[tuple[str, int], tuple[str, str, str]] = {}
        """(item entity, revision) → (kind, key, part prefix) of the entity it belongs to."""
        children: dict[tuple[str, int], list[tuple[str, int, int | None]]] = defaultdict(list)
        level: list[tuple[tuple[str, int, int | None], tuple[str, str, str]]] = []
        for spec in nested:
            entity = NESTED_ENTITIES[spec.type]
            rev_col = spec.column("revision_id") if "revision_id" in spec.columns else "NULL"
            for host, host_id, item_id, rev in src.stream(
                f"SELECT entity_type, entity_id, {spec.column('value')}, {rev_col}"
                f" FROM {{{spec.data_table}}} WHERE deleted = 0"
            ):
                if item_id is None:
                    continue
                ref = (entity, int(item_id), None if rev is None else int(rev))
                root = _root_of(str(host), int(host_id), nids)
                if root is not None:
                    level.append((ref, root))
            table = f"field_revision_{spec.name}"
            if not src.has_table(table):
                table = spec.data_table
            for host, host_rev, item_id, rev in src.stream(
                f"SELECT entity_type, revision_id, {spec.column('value')}, {rev_col}"
                f" FROM {{{table}}} WHERE deleted = 0"
            ):
                if str(host) in ITEM_TABLES and item_id is not None:
                    children[(str(host), int(host_rev))].append(
                        (entity, int(item_id), None if rev is None else int(rev))
                    )
        while level:
            following: list[tuple[tuple[str, int, int | None], tuple[str, str, str]]] = []
            for (entity, item_id, rev), root in level:
                if (entity, item_id) not in current:
                    continue
                key = (entity, rev if rev is not None else current[(entity, item_id)])
                if key in roots:
                    continue
                roots[key] = root
                following.extend((child, root) for child in children.get(key, ()))
            level = following
        for entity in ITEM_TABLES:
            for spec in reader.entity_fields[entity]:
                if not spec.columns:
                    continue
                table = f"field_revision_{spec.name}"
                if not src.has_table(table):
                    table = spec.data_table
                counts: dict[tuple[str, str, str], int] = defaultdict(int)
                for rev, n in src.stream(
                    f"SELECT revision_id, COUNT(*) FROM {{{table}}}"
                    " WHERE entity_type = ? AND deleted = 0 GROUP BY revision_id",
                    (entity,),
                ):
                    root = roots.get((entity, int(rev)))
                    if root is not None:
                        counts[root] += int(n)
                by_part: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
                for (kind, owner, prefix), n in counts.items():
                    by_part[(kind, prefix + nested_part(entity, spec.name))].append((owner, n))
                for (kind, part), keyed in by_part.items():
                    self._put_parts(kind, part, keyed)

    @property
    def _comment_names(self) -> set[str]:
        return {s.name for s in self.reader.entity_fields["comment"]}

    def _entity_field_parts(self, kind: str, entity: str) -> None:
        for spec in self.reader.entity_fields[entity]:
            if spec.columns:
                self._put_parts(
                    kind,
                    f"field:{spec.name}",
                    self.source.stream(
                        f"SELECT entity_id, COUNT(*) FROM {{{spec.data_table}}}"
                        " WHERE entity_type = ? AND deleted = 0 GROUP BY entity_id",
                        (entity,),
                    ),
                )

    def _taxonomy(self) -> None:
        taxonomy = self.reader.taxonomy
        assert taxonomy is not None
        self._put_src(("vocabulary", str(v.vid), None, None) for v in taxonomy.vocabularies)
        terms = {t.tid: t for t in taxonomy.terms}
        self._put_src(("term", str(tid), None, None) for tid in terms)
        self.db.executemany(
            "INSERT INTO term_meta VALUES (?, ?)",
            ((str(t.tid), t.vocabulary) for t in terms.values()),
        )
        self._put_src(("term", str(tid), why, None) for tid, why in taxonomy.unloadable.items())
        parents: dict[int, int] = {}
        for tid, parent in self.source.rows(
            "SELECT tid, parent FROM {taxonomy_term_hierarchy} WHERE parent > 0"
        ):
            if int(tid) in terms and int(parent) in terms:
                parents[int(tid)] = parents.get(int(tid), 0) + 1
        self._put_parts("term", "parents", parents.items())

    def _redirects(self, events: list[tuple[str, str, str, str]]) -> None:
        taxonomy = self.reader.taxonomy
        assert taxonomy is not None
        self.db.execute(
            "INSERT OR IGNORE INTO src SELECT 'redirect', 'node/' || key, NULL, fallback FROM src"
            " WHERE kind = 'node' AND reason IS NULL"
        )
        self._put_src(("redirect", f"taxonomy/term/{tid}", None, None) for tid in taxonomy.info)
        self._put_src(
            ("redirect", normalize_path(str(alias)), None, None)
            for (alias,) in self.source.stream("SELECT alias FROM {url_alias} ORDER BY pid")
        )
        skipped = [
            (reason, normalize_path(key))
            for kind, key, status, reason in events
            if kind == "redirect" and status == "skipped"
        ]
        self.db.executemany(
            "UPDATE src SET reason = ? WHERE kind = 'redirect' AND key = ?", skipped
        )

    # ------------------------------------------------------------------ output side

    def merge_output(self, read: OutputRead) -> None:
        """Copy what ``read_output`` read back and summed into the comparison's ``out`` tables
        (empty until now; both sides in key order)."""
        db = self.db
        db.execute("COMMIT")
        # Read in parts: an item found in several parts (a redirect two pages claim) is
        # summed over them, as one reading process sums it over the files. Each part's
        # sums go in as they are, in key order, and meet the others' only on a key
        # clash: at 100k Hugo pages in two parts, 0.5 s where a sorted union took 1.2 s.
        names = [f"side{i}" for i in range(len(read.paths))]
        for name, path in zip(names, read.paths, strict=True):
            db.execute(f"ATTACH DATABASE ? AS {name}", (os.fsencode(path),))  # any bytes
        statements = ["BEGIN;"]
        for name in names:  # "WHERE true": an upsert after a SELECT needs a WHERE clause
            statements += [
                f"INSERT INTO out SELECT kind, key, n FROM {name}.sum_found WHERE true"
                " ON CONFLICT DO UPDATE SET n = n + excluded.n;",
                f"INSERT INTO out_part SELECT kind, key, part, n FROM {name}.sum_parts"
                " WHERE true ON CONFLICT DO UPDATE SET n = n + excluded.n;",
                f"INSERT OR IGNORE INTO listed SELECT kind, key, reason FROM {name}.sum_listed;",
            ]
        db.executescript("\n".join([*statements, "COMMIT;"]))
        for name in names:
            db.execute(f"DETACH DATABASE {name}")

    # ------------------------------------------------------------------ comparison

    def compare(self, report: Reconciliation, not_carried: dict[str, str]) -> None:
        q = self.db.execute
        unaccounted: list[Unaccounted] = []
        total = 0

        def flag(kind: str, key: str, what: str) -> None:
            nonlocal total
            total += 1
            if len(unaccounted) < UNACCOUNTED_SHOWN:
                unaccounted.append(Unaccounted(kind, key, what))

        for kind in _KINDS:
            if kind in not_carried:
                source = q("SELECT COUNT(*) FROM src WHERE kind = ?", (kind,)).fetchone()[0]
                report.counts.append(Count(_plural(kind), source, 0, source, 0, not_carried[kind]))
                continue
            source = found = left = missing = 0
            for key, reason, fallback, n, why in q(
                "SELECT s.key, s.reason, s.fallback, o.n, l.reason FROM src s"
                " LEFT JOIN out o ON o.kind = s.kind AND o.key = s.key"
                " LEFT JOIN listed l ON l.kind = s.kind AND l.key = s.key"
                " WHERE s.kind = ? ORDER BY s.key",
                (kind,),
            ):
                source += 1
                if n:
                    found += 1
                    if n > 1:
                        missing += 1
                        flag(kind, key, f"{n} copies in the output")
                elif reason or why or fallback:
                    left += 1
                else:
                    missing += 1
                    flag(kind, key, "not in the output and no reason given")
            report.counts.append(Count(_plural(kind), source, found, left, missing))
            report.left_out += self._left_out(kind)
            gone = [
                key
                for (key,) in q(
                    "SELECT o.key FROM out o WHERE o.kind = ? AND NOT EXISTS"
                    " (SELECT 1 FROM src s WHERE s.kind = o.kind AND s.key = o.key)",
                    (kind,),
                )
            ]
            if gone:
                report.gone_from_source[kind] = _ids_text(gone)
        for kind, names in _PARTS.items():
            for part in names:
                if kind in not_carried or f"{kind}.{part}" in not_carried:
                    note = not_carried.get(kind) or not_carried[f"{kind}.{part}"]
                    held = self._part_total(kind, part)
                    report.counts.append(Count(_PART_NAMES.get(part, part), held, 0, 0, 0, note))
                    continue
                if part == "revisions" and self.revisions != "all":
                    report.counts.append(
                        Count(part, 0, 0, 0, 0, "current revisions only (--revisions all)")
                    )
                    continue
                count, _ = self._compare_part(kind, part, flag)
                report.counts.append(count)
        tables = (
            ("node", "node", "", self.reader.node_fields),
            ("comment", "node", COMMENT_PREFIX, self.reader.entity_fields["comment"]),
            ("term", "term", "", self.reader.entity_fields["taxonomy_term"]),
            ("user", "author", "", self.reader.entity_fields["user"]),
        )
        for entity, kind, prefix, specs in tables:
            for spec in specs:
                part = f"{prefix}field:{spec.name}"
                why = _not_carried(not_carried, kind, part)
                if why is not None:
                    held = self._part_total(kind, part)
                    report.fields.append(
                        FieldCount(entity, spec.name, spec.type, held, 0, 0, note=why)
                    )
                    continue
                count, differ = self._compare_part(kind, part, flag)
                report.fields.append(
                    FieldCount(
                        entity,
                        spec.name,
                        spec.type,
                        count.source,
                        count.found,
                        count.unaccounted,
                        _ids_text(differ),
                    )
                )
        for entity in ITEM_TABLES:
            for spec in self.reader.entity_fields[entity]:
                report.fields.append(self._nested_count(entity, spec, not_carried, flag))
        report.nodes_by_type = self._nodes_by_type()
        report.terms_by_vocabulary = self._terms_by_vocabulary()
        report.unaccounted = unaccounted
        report.unaccounted_total = total

    def _nested_count(
        self, entity: str, spec: FieldSpec, not_carried: dict[str, str], flag: Any
    ) -> FieldCount:
        """One nested item field: its values under every node, comment, term and user."""
        source = found = missing = 0
        differ: list[str] = []
        held: list[str] = []
        for kind, prefix in (("node", ""), ("node", COMMENT_PREFIX), ("term", ""), ("author", "")):
            part = prefix + nested_part(entity, spec.name)
            if kind in not_carried or f"{kind}.field:*" in not_carried:
                n = self._part_total(kind, part)
                why = not_carried.get(kind) or not_carried[f"{kind}.field:*"]
                if n:
                    held.append(f"{n} under {_plural(kind)}: {why}")
                continue
            count, keys = self._compare_part(kind, part, flag)
            source, found, missing = (
                source + count.source,
                found + count.found,
                missing + count.unaccounted,
            )
            differ += keys
        return FieldCount(
            entity, spec.name, spec.type, source, found, missing, _ids_text(differ), "; ".join(held)
        )

    def make_scope(self) -> None:
        """The entities whose parts are compared: found in the output, or expected there."""
        self.db.executescript(
            """
            CREATE TABLE scope (kind TEXT, key TEXT, PRIMARY KEY (kind, key)) WITHOUT ROWID;
            INSERT OR IGNORE INTO scope SELECT kind, key FROM out;
            INSERT OR IGNORE INTO scope SELECT kind, key FROM src
                WHERE reason IS NULL AND fallback IS NULL;
            """
        )

    def _part_total(self, kind: str, part: str) -> int:
        return self._summary()[0].get((kind, part), 0)

    def _summary(self) -> _PartSummary:
        """Every part at once: source totals (in scope), found totals, the keys that differ.

        Two passes over the part tables, whatever the number of fields: the found
        totals, and the differences from primary-key lookups both ways, never from a
        sort. Every output key is in scope, so an output row either equals its source
        row or is a difference: the source total is the found total with each
        difference's output count taken out and its source count put in.
        """
        if self._parts is not None:
            return self._parts
        q = self.db.execute
        found = {
            (str(k), str(p)): int(n)
            for k, p, n in q("SELECT kind, part, SUM(n) FROM out_part GROUP BY kind, part")
        }
        source = dict(found)
        differ: dict[tuple[str, str], list[tuple[str, int, int]]] = defaultdict(list)
        for kind, part, key, want, have in q(
            "SELECT p.kind, p.part, p.key, p.n, COALESCE(o.n, 0) FROM src_part p JOIN scope s"
            " ON s.kind = p.kind AND s.key = p.key LEFT JOIN out_part o"
            " ON o.kind = p.kind AND o.key = p.key AND o.part = p.part"
            " WHERE COALESCE(o.n, 0) != p.n"
            " UNION ALL SELECT o.kind, o.part, o.key, 0, o.n FROM out_part o WHERE NOT EXISTS"
            " (SELECT 1 FROM src_part p WHERE p.kind = o.kind AND p.key = o.key"
            " AND p.part = o.part)"
        ):
            what = (str(kind), str(part))
            differ[what].append((str(key), int(want), int(have)))
            source[what] = source.get(what, 0) - int(have) + int(want)
        for rows in differ.values():
            rows.sort()
        self._parts = (source, found, differ)
        return self._parts

    def _compare_part(self, kind: str, part: str, flag: Any) -> tuple[Count, list[str]]:
        totals, found, differences = self._summary()
        missing = 0
        differ: list[str] = []
        label = part.removeprefix("field:")
        for key, want, have in differences.get((kind, part), ()):
            missing += abs(want - have)
            differ.append(key)
            flag(kind, key, f"{label}: {want} in the source, {have} in the output")
        count = Count(
            _PART_NAMES.get(part, part),
            totals.get((kind, part), 0),
            found.get((kind, part), 0),
            0,
            missing,
        )
        return count, differ

    def _left_out(self, kind: str) -> list[LeftOut]:
        rows = self.db.execute(
            "SELECT COALESCE(s.reason, l.reason, s.fallback), s.key FROM src s"
            " LEFT JOIN listed l ON l.kind = s.kind AND l.key = s.key"
            " WHERE s.kind = ? AND NOT EXISTS"
            " (SELECT 1 FROM out o WHERE o.kind = s.kind AND o.key = s.key)"
            " AND COALESCE(s.reason, l.reason, s.fallback) IS NOT NULL",
            (kind,),
        )
        by_reason: dict[str, list[str]] = {}
        for reason, key in rows:
            by_reason.setdefault(str(reason), []).append(str(key))
        return [
            LeftOut(kind, reason, len(keys), _ids_text(keys))
            for reason, keys in sorted(by_reason.items())
        ]

    def _terms_by_vocabulary(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {"source": {}, "found": {}}
        for side, join in (
            ("source", ""),
            ("found", " JOIN out o ON o.kind = 'term' AND o.key = m.key"),
        ):
            for vocabulary, n in self.db.execute(
                f"SELECT m.vocabulary, COUNT(*) FROM term_meta m{join} GROUP BY m.vocabulary"
            ):
                out[side][str(vocabulary)] = int(n)
        return out

    def _nodes_by_type(self) -> dict[str, dict[str, dict[str, int]]]:
        out: dict[str, dict[str, dict[str, int]]] = {"source": {}, "found": {}}
        for side, sql in (
            ("source", "SELECT type, status, COUNT(*) FROM node_meta GROUP BY type, status"),
            (
                "found",
                "SELECT m.type, m.status, COUNT(*) FROM node_meta m"
                " JOIN out o ON o.kind = 'node' AND o.key = m.key GROUP BY m.type, m.status",
            ),
        ):
            for ntype, status, n in self.db.execute(sql):
                label = "published" if int(status) else "unpublished"
                out[side].setdefault(str(ntype), {})[label] = int(n)
        return out


def _root_of(host: str, host_id: int, nids: dict[Any, Any]) -> tuple[str, str, str] | None:
    """(kind, key, part prefix) of the exported record a host entity's values belong to."""
    if host == "node":
        return "node", str(host_id), ""
    if host == "comment":
        nid = nids.get(host_id)
        return None if nid is None else ("node", str(nid), COMMENT_PREFIX)
    if host == "taxonomy_term":
        return "term", str(host_id), ""
    if host == "user":
        return "author", str(host_id), ""
    return None


def _not_empty(spec: FieldSpec, alias: str = "") -> str:
    """SQL keeping only the non-empty rows of a body field (an empty body is no value)."""
    if spec.name not in BODIES:
        return ""
    text = [alias + spec.column(c) for c in ("value", "summary") if c in spec.columns]
    return " AND (" + " OR ".join(f"LENGTH({c}) > 0" for c in text) + ")"


def _not_carried(not_carried: dict[str, str], kind: str, part: str) -> str | None:
    """Why the target cannot hold this part (exact, ``kind.field:*`` or the whole kind)."""
    for key in (f"{kind}.{part}", f"{kind}.{part.rsplit(':', 1)[0]}:*", kind):
        if key in not_carried:
            return not_carried[key]
    return None


def _plural(kind: str) -> str:
    return {"vocabulary": "vocabularies", "author": "authors"}.get(kind, kind + "s")


def _ids_text(keys: Sequence[str]) -> str:
    if all(k.isdigit() for k in keys):
        return id_ranges(int(k) for k in keys)
    return ", ".join(sorted(keys)[:50]) + (f" … ({len(keys)} in all)" if len(keys) > 50 else "")


def output_digests(readback: ReadBack, out_dir: Path) -> list[tuple[str, str]] | None:
    """(path in ``out_dir``, blake2b of its bytes) of every file a file-wise read-back reads.

    None for a read-back that does not declare its files (it parses everything).
    """
    if readback.files is None or readback.read_file is None:
        return None
    found: list[tuple[str, str]] = []
    for path in readback.files(out_dir):
        with path.open("rb") as fh:
            digest = hashlib.file_digest(fh, lambda: hashlib.blake2b(digest_size=16))
        found.append((path.relative_to(out_dir).as_posix(), digest.hexdigest()))
    return found


def source_tables(reader: Reader, revisions: str) -> set[str]:
    """Every table the source side of the comparison reads (and the field definitions)."""
    tables = {
        "node",
        "comment",
        "url_alias",
        "users",
        "file_managed",
        "taxonomy_vocabulary",
        "taxonomy_term_data",
        "taxonomy_term_hierarchy",
        "field_config",
        "field_config_instance",
        *(table for table, _ in ITEM_TABLES.values()),
    }
    if revisions == "all":
        tables.add("node_revision")
    specs = [*reader.node_fields, *(s for group in reader.entity_fields.values() for s in group)]
    for spec in specs:
        tables.add(spec.data_table)
    for spec in [*reader.nested_specs, *(s for e in ITEM_TABLES for s in reader.entity_fields[e])]:
        tables.add(f"field_revision_{spec.name}")
    return tables


SOURCE_COLUMNS = {"users": ("uid",), "file_managed": ("fid", "uri")}
"""The columns the comparison reads of tables a live site writes to all day (logins)."""


def _source_digest(job: Comparison) -> str:
    """Every input of the comparison's outcome but the output: two equal digests (and
    equal outputs), one outcome.

    The source tables (digested on the server), the terms as this run loaded them,
    the failures and skips this run recorded, what is selected, the code and the target.
    """
    taxonomy = job.reader.taxonomy
    assert taxonomy is not None
    events = sorted(
        e
        for e in job.state.events(job.run_id)
        if (e[0], e[2]) in (("node", "failed"), ("redirect", "skipped"))
    )
    parts = (
        code_digest(),
        job.target,
        sorted(job.readback.not_carried.items()),
        job.tables(),
        [v.vid for v in taxonomy.vocabularies],
        [(t.tid, t.vocabulary) for t in taxonomy.terms],
        sorted(taxonomy.info.items()),
        sorted(taxonomy.unloadable.items()),
        events,
        asdict(job.selection),
        job.revisions,
    )
    return digest_of(parts)


_KEPT = "reconciled"
"""State meta key: the last full comparison that reconciled, with its inputs' digests."""


@dataclass(frozen=True)
class _Kept:
    """The last full comparison that reconciled, and the digests of what it compared."""

    source: str
    """``_source_digest``."""
    output: str
    """Of every output file's digest (file-wise reader) or of the reader's fingerprint."""
    report: Reconciliation

    @classmethod
    def load(cls, state: StateStore) -> _Kept | None:
        """The kept comparison (None: none, or unreadable, or from an older version)."""
        text = state.meta(_KEPT)
        if text is None:
            return None
        try:
            data = json.loads(text)
            return cls(
                str(data["source"]),
                str(data["output"]),
                Reconciliation.from_dict(data["report"]),
            )
        except (KeyError, TypeError, ValueError):
            return None  # compare again

    def store(self, state: StateStore) -> None:
        text = {"source": self.source, "output": self.output, "report": self.report.to_dict()}
        state.set_meta(_KEPT, json.dumps(text))


def _output_seen(job: Comparison, outputs: Any) -> str | None:
    """The digest of what the reader would read (None: it declares no fingerprint)."""
    if outputs is not None:
        return digest_of(_outputs_digest(outputs))
    if job.readback.fingerprint is None:
        return None
    taking = job.fingerprinting or OutputReading(
        job.readback,
        job.out_dir,
        None,
        sum(job.state.item_counts().values()),
        fingerprint_only=True,
    )
    try:
        return digest_of(taking.result().fingerprint)
    finally:
        taking.close()


def _outputs_digest(outputs: Sequence[tuple[str, str]]) -> str:
    """The digest of a file-wise reader's files (paths and digests), however they came."""
    return digest_of([(str(rel), str(digest)) for rel, digest in outputs])


def reconcile(job: Comparison) -> Reconciliation:
    """Read the output back and compare it with the source (see the module docstring).

    When every input of the last full comparison that reconciled is unchanged, its
    outcome is this one's and nothing is parsed or compared: first the source side is
    digested, and only when that matches the output (each file's digest for a
    file-wise reader, the ``fingerprint`` for another). Otherwise, the process reading
    the output back hands the fingerprint of the very bytes it parsed: a first run or
    a changed site never reads its whole output twice.
    """
    started = time.monotonic()
    readback, out_dir, state = job.readback, job.out_dir, job.state
    # An early reading lists and digests a file-wise reader's files itself.
    outputs = output_digests(readback, out_dir) if job.reading is None else None
    last = _Kept.load(state) if job.reading is None else None  # else there was none
    source = _source_digest(job) if last is not None else None
    if last is not None and source == last.source and _output_seen(job, outputs) == last.output:
        kept = last.report
        kept.same_as_run = kept.run
        kept.run = job.run_id
        kept.files_parsed = 0
        kept.read_back_seconds = time.monotonic() - started
        return kept
    if job.fingerprinting is not None:
        job.fingerprinting.close()  # not needed: the output is read anyway
    items = sum(state.item_counts().values())
    reading = job.reading or OutputReading(readback, out_dir, outputs, items)
    reading.release()
    scratch = out_dir / SCRATCH
    try:
        if source is None:
            source = _source_digest(job)  # beside the reading process
        report = Reconciliation(
            job.site.source.label,
            job.target,
            job.run_id,
            not_carried=dict(readback.not_carried),
        )
        db = _open_scratch(scratch)
        try:
            compare = _Compare(job, db)
            compare.load_source()
            started = time.monotonic()
            read = reading.result()
            compare.merge_output(read)
            report.files_parsed = read.files_parsed
            report.output_seconds = read.seconds
            compare.make_scope()
            compare.compare(report, readback.not_carried)
            report.read_back_seconds = time.monotonic() - started
        finally:
            db.close()
    finally:
        reading.close()
        scratch.unlink(missing_ok=True)
        remove_scratch(out_dir)
    seen = _outputs_digest(read.outputs) if read.outputs is not None else read.fingerprint
    if seen is not None and report.reconciled:
        _Kept(source, digest_of(seen), report).store(state)
    return report
