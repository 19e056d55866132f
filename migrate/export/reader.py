"""Drupal 7 → export records, a batch at a time.

Nodes are read by keyset pagination on nid; for each batch a fixed handful of
``IN (?, ...)`` queries fetch every field's rows (one query per field, all
languages and deltas, any type: ``migrate.export.fields`` types them), term
references, files, aliases, comments and (when asked) revisions, so
the query count grows with the number of batches, never with the number of
nodes, and memory holds one batch. Vocabularies and terms (small) are loaded
whole and ordered parents first; authors, files and aliases are streamed.

Target URLs come from the writer's ``UrlScheme`` and the slugs the engine
stored in the state, so body links to ``node/N``, to aliases and to files are
rewritten to where those items live on the new site.
"""

from __future__ import annotations

import functools
import unicodedata
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from migrate import paths
from migrate.errors import MigrateError
from migrate.export import UrlScheme
from migrate.export.clean import clean_body, slugify_vi
from migrate.export.fields import NESTED_ENTITIES, FieldSpec, FieldValue
from migrate.export.fingerprint import MATERIALIZED, row_hash_sql
from migrate.export.mapping import ExportMapping
from migrate.export.nodes import BuildContext, FieldRow, ItemKey, ItemRows, NodeRows, TermInfo
from migrate.export.records import (
    AuthorRecord,
    FileRecord,
    Problem,
    RedirectRecord,
    TermRecord,
    VocabularyRecord,
)
from migrate.export.state import StateStore
from migrate.identifiers import check_identifier
from migrate.records import FieldInfo, TextFormat
from migrate.schema import Drupal7
from migrate.source.base import Row, Source

_NODE_COLUMNS = (
    "n.nid, n.vid, n.type, n.language, n.title, n.uid, n.status, n.created, n.changed,"
    " n.promote, n.sticky, r.vid"
)


@dataclass(frozen=True)
class Selection:
    """Which nodes an export takes (``--types``, ``--ids``, ``--since``, unpublished, limit)."""

    types: tuple[str, ...] = ()
    ids: tuple[tuple[int, int], ...] = ()
    since: int | None = None
    include_unpublished: bool = False
    limit: int | None = None

    def where(self, *, for_slugs: bool = False) -> tuple[str, list[Any]]:
        """SQL conditions on ``{node} n``; slugs ignore ids/since so links resolve later too."""
        clauses: list[str] = []
        params: list[Any] = []
        if not self.include_unpublished:
            clauses.append("n.status = 1")
        if self.types:
            clauses.append(f"n.type IN ({_marks(self.types)})")
            params.extend(self.types)
        if not for_slugs:
            if self.ids:
                clauses.append("(" + " OR ".join("n.nid BETWEEN ? AND ?" for _ in self.ids) + ")")
                params.extend(v for pair in self.ids for v in pair)
            if self.since is not None:
                clauses.append("n.changed >= ?")
                params.append(self.since)
        return (" AND ".join(clauses) or "1 = 1"), params

    def excludes(self, nid: int, ntype: str, status: int, changed: int) -> str | None:
        """Why this selection leaves a node out, or None when it takes it."""
        if not self.include_unpublished and not status:
            return "unpublished (use --include-unpublished)"
        if self.types and ntype not in self.types:
            return f"type {ntype} not in --types"
        if self.ids and not any(lo <= nid <= hi for lo, hi in self.ids):
            return "not in --ids"
        if self.since is not None and changed < self.since:
            return "not changed since --since/--changed-since"
        return None


@dataclass
class Taxonomy:
    """Every loadable term (parents first) and why the others cannot be exported."""

    vocabularies: list[VocabularyRecord]
    terms: list[TermRecord]
    info: dict[int, TermInfo]
    unloadable: dict[int, str]


@dataclass
class Skipped:
    kind: str
    source_id: str
    reason: str


@dataclass(frozen=True)
class _OwnRows:
    """One table of a node's own rows: the nid expression, FROM ... WHERE, hashed columns."""

    key: str
    source: str
    columns: tuple[str, ...]
    order: str


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


def _id_filter(column: str, ids: Sequence[int]) -> tuple[str, list[Any], frozenset[int] | None]:
    """SQL selecting ``ids`` (distinct) in ``column``: one range when they are dense, else IN.

    MariaDB reads one index range several times faster than it looks up 500 keys one
    by one (10k nodes: term references 15 -> 5 us of server CPU per node) and pymysql
    escapes two parameters instead of 500. A range may hold a few ids that are not in
    the batch (unselected nodes): the third value is then the set to keep rows of.
    """
    low, high = min(ids), max(ids)
    span = high - low + 1
    if span > len(ids) + len(ids) // 4:
        return f"{column} IN ({_marks(ids)})", list(ids), None
    return f"{column} BETWEEN ? AND ?", [low, high], None if span == len(ids) else frozenset(ids)


def normalize_alias(alias: str) -> str:
    """The form body links are compared in: unquoted, NFC, no surrounding slashes."""
    return unicodedata.normalize("NFC", unquote(alias)).strip("/")


def private_files_dir(site: Drupal7, files_dir: Path | None) -> Path | None:
    """The site's private files folder here (``file_private_path``), never to be published."""
    try:
        public = site.variable("file_public_path", "sites/default/files")
        private = site.variable("file_private_path", "")
    except MigrateError:  # unreadable: nothing to keep out beyond private:// itself
        return None
    return paths.private_dir(
        files_dir,
        public if isinstance(public, str) else None,
        private if isinstance(private, str) else None,
    )


@dataclass
class Reader:
    """Reads one Drupal 7 site into records for one export run."""

    site: Drupal7
    state: StateStore
    urls: UrlScheme
    selection: Selection = field(default_factory=Selection)
    mapping: ExportMapping = field(default_factory=ExportMapping)
    old_urls: tuple[str, ...] = ()
    files_dir: Path | None = None
    revisions: str = "current"
    include_emails: bool = False
    include_hostnames: bool = False
    allow_scripts: bool = False

    def __post_init__(self) -> None:
        self.source = self.site.source
        self.formats: dict[str, TextFormat] = self.site.text_formats
        self.files_path = str(
            self.site.variable("file_public_path", "sites/default/files") or ""
        ).strip("/")
        self.private_dir = private_files_dir(self.site, self.files_dir)
        fields = self.site.fields
        self.term_fields = [
            f for f in fields.values() if f.is_term_reference and f.bundles_of("node")
        ]
        stored = [f for f in fields.values() if self.source.has_table(f"field_data_{f.field_name}")]
        self.specs: dict[str, FieldSpec] = {f.field_name: self._field_spec(f) for f in stored}
        """Every stored field, whatever it is attached to."""
        self.node_fields = [self.specs[f.field_name] for f in stored if f.bundles_of("node")]
        self.entity_fields: dict[str, list[FieldSpec]] = {
            entity: [self.specs[f.field_name] for f in stored if f.bundles_of(entity)]
            for entity in (*ENTITY_FIELD_TYPES, *ITEM_TABLES)
        }
        """Fields of comments (their body too), terms, users and nested items, by entity type."""
        self.nested_specs = [s for s in self.specs.values() if s.type in NESTED_ENTITIES]
        """field_collection and paragraphs fields: their values are items with values."""
        self.field_builder: FieldBuilder | None = None
        self.has_body = "body" in fields
        self.has_comments = self.source.has_table("comment")
        self.taxonomy: Taxonomy | None = None
        self._suffixes: dict[tuple[str, str, str], int] = {}

    def _field_spec(self, f: FieldInfo) -> FieldSpec:
        """A field with the value columns its data table really has (any type, known or not)."""
        prefix = f.field_name + "_"
        columns = tuple(
            check_identifier(c, f"column of field_data_{f.field_name}")[len(prefix) :]
            for c in self.source.columns(f"field_data_{f.field_name}")
            if c.startswith(prefix)
        )
        return FieldSpec(f.field_name, f.type, f.module, columns, f.settings)

    # ------------------------------------------------------------------ taxonomy

    def load_taxonomy(self) -> Taxonomy:
        """Vocabularies and terms; unloadable terms (vocabulary gone) are listed, not exported."""
        vocabularies = self.site.vocabularies
        vocab_records = [
            VocabularyRecord(
                vid=v.vid,
                machine_name=v.machine_name,
                name=v.name,
                description=str(
                    self.source.scalar(
                        "SELECT description FROM {taxonomy_vocabulary} WHERE vid = ?", (v.vid,)
                    )
                    or ""
                ),
                hierarchy=v.hierarchy,
                weight=v.weight,
                target=self.mapping.vocabulary(v.machine_name),
            )
            for v in vocabularies.values()
        ]
        rows = self.source.rows(
            "SELECT tid, vid, name, description, format, weight FROM {taxonomy_term_data}"
            " ORDER BY tid"
        )
        parents: dict[int, list[int]] = defaultdict(list)
        for tid, parent in self.source.rows(
            "SELECT tid, parent FROM {taxonomy_term_hierarchy} ORDER BY tid, parent"
        ):
            parents[int(tid)].append(int(parent))
        aliases: dict[int, list[str]] = defaultdict(list)
        for src, alias in self.source.rows(
            "SELECT source, alias FROM {url_alias} WHERE source LIKE ? ORDER BY pid",
            ("taxonomy/term/%",),
        ):
            tail = str(src)[len("taxonomy/term/") :]
            if tail.isdigit():
                aliases[int(tail)].append(str(alias))
        unloadable: dict[int, str] = {}
        loadable: dict[int, Row] = {}
        for row in rows:
            tid, vid = int(row[0]), int(row[1])
            if vid in vocabularies:
                loadable[tid] = row
            else:
                unloadable[tid] = f"vocabulary {vid} does not exist (term cannot be loaded)"
        info: dict[int, TermInfo] = {}
        terms: list[TermRecord] = []
        for tid in _parents_first(loadable, parents):
            _, vid, name, description, fmt, weight = loadable[tid]
            vocab = vocabularies[int(vid)]
            target_vocab = self.mapping.vocabulary(vocab.machine_name)
            # A target that merges vocabularies (WordPress: one post_tag) names the slug scope.
            term_scope = getattr(self.urls, "term_scope", None)
            if term_scope is not None:
                target_vocab = term_scope(target_vocab)
            slug, path = self._term_slug(tid, target_vocab, str(name))
            problems = tuple(
                Problem("dangling_parent", f"parent term {p} does not exist")
                for p in parents.get(tid, [])
                if p and p not in loadable
            )
            # A description is HTML in its text format, like a body: cleaned the same way.
            cleaned = (
                clean_body(
                    str(description or ""),
                    self.formats.get(str(fmt)) if fmt else None,
                    links=None,
                    allow_scripts=self.allow_scripts,
                )
                if description
                else None
            )
            if cleaned is not None:
                description = cleaned.html
                problems += tuple(Problem("cleaning", p) for p in cleaned.problems)
            terms.append(
                TermRecord(
                    tid=tid,
                    vid=int(vid),
                    vocabulary=vocab.machine_name,
                    name=str(name),
                    description=str(description or ""),
                    format=fmt,
                    weight=int(weight),
                    parents=tuple(p for p in parents.get(tid, []) if p in loadable),
                    slug=slug,
                    path=path,
                    aliases=tuple(aliases.get(tid, ())),
                    problems=problems,
                )
            )
            info[tid] = TermInfo(vocab.machine_name, str(name), path)
        self.taxonomy = Taxonomy(vocab_records, terms, info, unloadable)
        return self.taxonomy

    def _term_slug(self, tid: int, scope: str, name: str) -> tuple[str, str]:
        found = self.state.slug_of("term", tid)
        if found is not None:
            return found
        base = slugify_vi(name) or f"term-{tid}"
        return self._claim("term", tid, scope, base, lambda s: self.urls.term_url(scope, s, tid))

    def _claim(
        self, kind: str, source_id: int, scope: str, base: str, url: Callable[[str], str]
    ) -> tuple[str, str]:
        """Store ``base`` (else base-2, base-3, ...) as the unique slug in (kind, scope).

        Slugs are never released, so a base that collided once is not tried again: the
        next suffix is, which spares a failing INSERT per repeated title.
        """
        n = self._suffixes.get((kind, scope, base))
        slug, n = (base, 2) if n is None else (_suffixed(base, n), n + 1)
        while not self.state.claim_slug(kind, source_id, scope, slug, url(slug)):
            slug = _suffixed(base, n)
            n += 1
        if slug != base:
            self._suffixes[(kind, scope, base)] = n
        return slug, url(slug)

    def referenced_missing_tids(self) -> set[int]:
        """Tids that node fields, hierarchy rows or aliases point at but that cannot be loaded."""
        assert self.taxonomy is not None
        seen: set[int] = set(self.taxonomy.unloadable)
        for f in self.term_fields:
            col = f.storage.column("tid")
            for table in (f.storage.data_table, f.storage.revision_table):
                seen.update(
                    int(r[0]) for r in self.source.rows(f"SELECT DISTINCT {col} FROM {{{table}}}")
                )
        seen.update(
            int(r[0])
            for r in self.source.rows("SELECT DISTINCT parent FROM {taxonomy_term_hierarchy}")
        )
        return {t for t in seen if t and t not in self.taxonomy.info}

    # ------------------------------------------------------------------ slugs and links

    def assign_node_slugs(self, slugify: Callable[[list[str]], Iterable[str]] | None = None) -> int:
        """Give every node the run may export (or link to) a stable slug and URL; count new ones.

        ``slugify`` turns a list of titles into slug bases and may return before they
        are done (the engine hands them to its worker processes): the next chunk's
        titles are slugified while this chunk's slugs are claimed. Claiming stays
        sequential, so slugs do not depend on it.
        """
        start = slugify or (lambda titles: map(slugify_vi, titles))
        added = 0
        ahead: deque[tuple[list[Row], Iterable[str]]] = deque()
        for rows in self._unslugged_nodes():
            ahead.append((rows, start([str(r[2]) for r in rows])))
            if len(ahead) > 1:
                added += self._claim_node_slugs(*ahead.popleft())
        while ahead:
            added += self._claim_node_slugs(*ahead.popleft())
        return added

    def _unslugged_nodes(self) -> Iterator[list[Row]]:
        """(nid, type, title) of the selected nodes without a slug, in chunks in nid order."""
        where, params = self.selection.where(for_slugs=True)
        after = 0
        while rows := self.source.rows(
            f"SELECT n.nid, n.type, n.title FROM {{node}} n WHERE n.nid > ? AND {where}"
            f" ORDER BY n.nid LIMIT {_SLUG_CHUNK}",
            (after, *params),
        ):
            after = int(rows[-1][0])
            done = self.state.slugged("node", [int(r[0]) for r in rows])
            todo = [r for r in rows if int(r[0]) not in done]
            if todo:
                yield todo

    def _claim_node_slugs(self, rows: list[Row], bases: Iterable[str]) -> int:
        """One transaction per chunk: at 1M nodes, 100 commits instead of 500 save 4 s."""
        with self.state.transaction():
            for (nid, ntype, _), base in zip(rows, bases, strict=True):
                scope = self.mapping.content_type(str(ntype))
                url = functools.partial(_node_url, self.urls, scope, int(nid))
                self._claim("node", int(nid), scope, base or f"node-{nid}", url)
        return len(rows)

    def load_aliases(self) -> None:
        """Snapshot url_alias into the state for link rewriting."""
        self.state.replace_aliases(
            (normalize_alias(str(alias)), str(src))
            for src, alias in self.source.stream("SELECT source, alias FROM {url_alias}")
        )

    def file_url_of(self, uri: str) -> str | None:
        rel = paths.public_relative(uri)
        return None if rel is None else self.urls.file_url(rel)

    # ------------------------------------------------------------------ authors and files

    def authors(self) -> Iterator[AuthorRecord]:
        """Users in uid order, with their own field values, read 1,000 at a time."""
        after = 0
        while rows := self.source.rows(
            "SELECT uid, name, created, status, mail FROM {users} WHERE uid > ?"
            " ORDER BY uid LIMIT 1000",
            (after,),
        ):
            after = int(rows[-1][0])
            values, managed, users, items = self.entity_values("user", [int(r[0]) for r in rows])
            for uid, name, created, status, mail in rows:
                fields: list[FieldValue] = []
                problems: list[Problem] = []
                if values.get(int(uid)) and self.field_builder is not None:
                    fields, problems = self.field_builder(values[int(uid)], managed, users, items)
                yield AuthorRecord(
                    uid=int(uid),
                    name=str(name),
                    display_name=str(name),
                    created=int(created),
                    status=int(status),
                    email=(str(mail) if mail else None) if self.include_emails else None,
                    fields=tuple(fields),
                    problems=tuple(problems),
                )

    def files(self) -> Iterator[FileRecord]:
        base = (self.old_urls[0] if self.old_urls else "").rstrip("/")
        for fid, uid, filename, uri, mime, size, status, timestamp in self.source.stream(
            "SELECT fid, uid, filename, uri, filemime, filesize, status, timestamp"
            " FROM {file_managed} ORDER BY fid"
        ):
            uri = str(uri)
            where = paths.locate(uri, self.files_dir, self.private_dir)
            rel = paths.public_relative(uri)
            problems: list[Problem] = []
            exported: str | None = None
            if where.ok:
                exported = f"media/{rel}"
            elif where.status == paths.UNSAFE:
                problems.append(Problem("unsafe_path", f"{where.reason}; not copied"))
            elif where.status in (paths.PRIVATE_FILE, paths.UNSUPPORTED):
                problems.append(Problem("not_public", f"{uri} is not a public:// file"))
            elif where.status in (paths.OUTSIDE, paths.INTO_PRIVATE):
                problems.append(Problem(where.status, f"{where.reason}; not copied"))
            elif where.status == paths.MISSING:
                problems.append(Problem("missing_file", f"{rel} not found in --files-dir"))
            public = f"{base}/{self.files_path}/{rel}" if rel is not None else None
            refused = where.status in (paths.UNSAFE, paths.OUTSIDE, paths.INTO_PRIVATE)
            yield FileRecord(
                fid=int(fid),
                uri=uri,
                filename=str(filename),
                mime=str(mime),
                size=int(size or 0),
                status=int(status),
                timestamp=int(timestamp),
                uid=int(uid),
                relative_path=rel,
                public_url=public,
                url=None if rel is None or refused else self.urls.file_url(rel),
                exported_path=exported,
                problems=tuple(problems),
            )

    # ------------------------------------------------------------------ nodes

    def count_nodes(self) -> int:
        where, params = self.selection.where()
        return int(self.source.scalar(f"SELECT COUNT(*) FROM {{node}} n WHERE {where}", params))

    def fetch_nodes(self, after: int, size: int) -> NodeRows | None:
        """Everything the next ``size`` selected nodes after nid ``after`` need, as rows.

        A fixed number of queries whatever the batch size; building the records
        (the CPU-heavy part) is ``NodeBuilder.build``, possibly in another process.
        """
        where, params = self.selection.where()
        return self._node_rows(
            self.source.rows(
                f"SELECT {_NODE_COLUMNS} FROM {{node}} n"
                " LEFT JOIN {node_revision} r ON r.vid = n.vid"
                f" WHERE n.nid > ? AND {where} ORDER BY n.nid LIMIT ?",
                (after, *params, size),
            )
        )

    def fetch_node_ids(self, nids: list[int]) -> NodeRows | None:
        """``fetch_nodes`` for these nids (those a fingerprint said must be built again)."""
        return self._node_rows(
            self.source.rows(
                f"SELECT {_NODE_COLUMNS} FROM {{node}} n"
                " LEFT JOIN {node_revision} r ON r.vid = n.vid"
                f" WHERE n.nid IN ({_marks(nids)}) ORDER BY n.nid",
                nids,
            )
        )

    def _node_rows(self, rows: list[Row]) -> NodeRows | None:
        if not rows:
            return None
        nids = [int(r[0]) for r in rows]
        values = self._field_values(nids)
        comments = dict(self._comments(nids))
        comment_values = self._comment_values(comments)
        items = self.items(values, comment_values)
        every = [values, comment_values, *({0: rows} for _, _, rows in items.values())]
        return NodeRows(
            rows=[tuple(r) for r in rows],
            revisions={int(r[11]) for r in rows if r[11] is not None},
            values=values,
            managed=self._managed(*every),
            users=self._users(*every),
            comment_values=comment_values,
            items=items,
            aliases=dict(self._aliases(nids)),
            comments=comments,
            history=dict(self._history(nids)) if self.revisions == "all" else {},
        )

    # ------------------------------------------------------------------ source digests

    @property
    def digests_in_sql(self) -> bool:
        """Whether ``node_digests`` can run on the server (MariaDB, current revisions)."""
        return self.source.dialect == "mysql" and self.revisions == "current"

    def next_nodes(self, after: int, size: int) -> list[tuple[int, int]]:
        """(nid, changed) of the next ``size`` selected nodes after ``after``."""
        where, params = self.selection.where()
        return [
            (int(n), int(c))
            for n, c in self.source.rows(
                f"SELECT n.nid, n.changed FROM {{node}} n WHERE n.nid > ? AND {where}"
                " ORDER BY n.nid LIMIT ?",
                (after, *params, size),
            )
        ]

    def _own_rows(self) -> list[_OwnRows]:
        """Every table a node's own rows come from, as ``node_digests`` and ``node_buckets``
        hash them: the node row with its current revision's id, each field's rows, its
        comments and their field rows (aliases are added by each, on their own index)."""
        found = [
            _OwnRows(
                "n.nid",
                "{node} n LEFT JOIN {node_revision} r ON r.vid = n.vid WHERE true",
                (
                    "n.vid",
                    "n.type",
                    "n.language",
                    "n.title",
                    "n.uid",
                    "n.status",
                    "n.created",
                    "n.changed",
                    "n.promote",
                    "n.sticky",
                    "r.vid",
                ),
                "n.nid",
            )
        ]
        for spec in self.node_fields:
            if spec.columns:
                found.append(
                    _OwnRows(
                        "entity_id",
                        f"{{{spec.data_table}}} WHERE entity_type = 'node' AND deleted = 0",
                        ("language", "delta", *(spec.column(c) for c in spec.columns)),
                        "language, delta",
                    )
                )
        if not self.has_comments:
            return found
        have = set(self.source.columns("comment"))
        language = "c.language" if "language" in have else "NULL"
        people = [c.strip() for c in self._commenter_columns(have).split(",")]
        found.append(
            _OwnRows(
                "c.nid",
                "{comment} c WHERE true",
                (
                    "c.cid",
                    "c.pid",
                    "c.thread",
                    "c.uid",
                    "c.name",
                    "c.subject",
                    "c.created",
                    "c.changed",
                    "c.status",
                    language,
                    *people,
                ),
                "c.cid",
            )
        )
        for spec in self.entity_fields["comment"]:
            if spec.columns:
                found.append(
                    _OwnRows(
                        "c.nid",
                        f"{{{spec.data_table}}} f JOIN {{comment}} c ON c.cid = f.entity_id"
                        " WHERE f.entity_type = 'comment' AND f.deleted = 0",
                        (
                            "f.entity_id",
                            "f.language",
                            "f.delta",
                            *(f"f.{spec.column(c)}" for c in spec.columns),
                        ),
                        "f.entity_id, f.language, f.delta",
                    )
                )
        return found

    def node_digests(self, nids: list[int]) -> dict[int, str]:
        """Per node, a digest of every row ``fetch_nodes`` would read for it, made by the server.

        One query: one MD5 per table and node over the 64-bit hash of each of its rows
        (``fingerprint.row_hash_sql``, NULLs told from ''), joined
        per node in table order. Only one short row per node crosses the wire, so an
        unchanged node costs no row decoding; hashing a row costs the server a seventh
        of an MD5 of its QUOTEd columns.
        """
        cond, params, keep = _id_filter("{k}", nids)
        parts: list[str] = []
        args: list[Any] = []
        for t, rows in enumerate(self._own_rows()):
            h = row_hash_sql(self.source, rows.columns)
            parts.append(
                f"SELECT {rows.key} AS k, {t} AS t, MD5(GROUP_CONCAT({h}"
                f" ORDER BY {rows.order} SEPARATOR ',')) AS d FROM {rows.source}"
                f" AND {cond.format(k=rows.key)} GROUP BY {rows.key}"
            )
            args += params
        sources = [f"node/{n}" for n in nids]
        parts.append(
            "SELECT CAST(SUBSTRING(source, 6) AS UNSIGNED), -1,"
            " MD5(GROUP_CONCAT(alias ORDER BY pid SEPARATOR 0x1f))"
            f" FROM {{url_alias}} WHERE source IN ({_marks(sources)}) GROUP BY source"
        )
        args += sources
        found: dict[int, str] = {}
        for k, digest in self.source.rows(
            "SELECT k, GROUP_CONCAT(CONCAT(t, ':', d) ORDER BY t SEPARATOR ',') FROM ("
            + " UNION ALL ".join(parts)
            + ") x GROUP BY k",
            args,
        ):
            if keep is None or int(k) in keep:
                found[int(k)] = str(digest)
        return {n: found[n] for n in nids if n in found}

    def node_buckets(self, width: int) -> Callable[[Source], dict[int, str]]:
        """Per bucket of ``width`` nids (nid DIV width): a digest of every own row of its nodes.

        One query over the tables ``node_digests`` reads, for every node (selected or
        not): per table and bucket, the row count, the XOR and the sum of the rows'
        64-bit hashes (with the nid, so a row moved between nodes shows). A hundred
        short rows for 100k nodes: a bucket whose digest is the one stored when its
        nodes were last checked needs no per-node digest.

        Made here, run by the caller on any connection of this snapshot: the engine
        runs it on another one while this one reads (``engine._Aside``).
        """
        parts: list[str] = []
        for t, rows in enumerate(self._own_rows()):
            h = row_hash_sql(self.source, (rows.key, *rows.columns))
            parts.append(
                f"SELECT b, {t} AS t, COUNT(*) AS c, BIT_XOR(h) AS x, SUM(h >> 32) AS s FROM"
                f" (SELECT {rows.key} DIV {int(width)} AS b, {h} AS h FROM {rows.source}"
                f"{MATERIALIZED}) z GROUP BY b"
            )
        h = row_hash_sql(self.source, ("source", "alias", "pid"))
        parts.append(
            "SELECT b, -1, COUNT(*), BIT_XOR(h), SUM(h >> 32) FROM"
            f" (SELECT CAST(SUBSTRING(source, 6) AS UNSIGNED) DIV {int(width)} AS b, {h} AS h"
            f" FROM {{url_alias}} WHERE source LIKE 'node/%'{MATERIALIZED}) z GROUP BY b"
        )
        sql = (
            "SELECT b, GROUP_CONCAT(CONCAT_WS(':', t, c, x, s) ORDER BY t SEPARATOR ',')"
            " FROM (" + " UNION ALL ".join(parts) + ") y GROUP BY b"
        )
        return lambda source: {int(b): str(digest) for b, digest in source.rows(sql)}

    def files_of(self, fids: Sequence[int]) -> dict[int, tuple[str, str, int]]:
        """(uri, mime, size) of those of ``fids`` in file_managed."""
        if not fids:
            return {}
        return {
            int(fid): (str(uri), str(mime), int(size or 0))
            for fid, uri, mime, size in self.source.rows(
                "SELECT fid, uri, filemime, filesize FROM {file_managed}"
                f" WHERE fid IN ({_marks(fids)})",
                list(fids),
            )
        }

    def users_of(self, uids: Sequence[int]) -> frozenset[int]:
        """Those of ``uids`` (above 0) that exist as users."""
        uids = sorted({u for u in uids if u > 0})
        if not uids:
            return frozenset()
        return frozenset(
            int(uid)
            for (uid,) in self.source.rows(
                f"SELECT uid FROM {{users}} WHERE uid IN ({_marks(uids)})", uids
            )
        )

    def items_of(self, keys: Sequence[ItemKey]) -> dict[ItemKey, ItemRows]:
        """Those of these nested items whose row exists, read as ``items`` reads them."""
        found: dict[ItemKey, ItemRows] = {}
        for entity, (table, _) in ITEM_TABLES.items():
            refs = sorted((k for k in keys if k[0] == entity), key=lambda k: (k[1], k[2] or 0))
            if refs and self.source.has_table(table):
                found.update(self._read_items(entity, refs))
        return found

    def build_context(self) -> BuildContext:
        """What a NodeBuilder needs, picklable so builders can run in worker processes."""
        assert self.taxonomy is not None
        return BuildContext(
            state_path=self.state.path,
            urls=self.urls,
            formats=self.formats,
            term_info=self.taxonomy.info,
            unloadable=self.taxonomy.unloadable,
            missing_tids=frozenset(self.referenced_missing_tids()),
            old_urls=self.old_urls,
            files_path=self.files_path or "sites/default/files",
            mapping=self.mapping,
            allow_scripts=self.allow_scripts,
            fields=dict(self.specs),
            timezone=str(self.site.variable("date_default_timezone", "UTC") or "UTC"),
        )

    def _bodies(self, ids: list[int], *, revision: bool) -> dict[int, tuple[Any, Any, Any]]:
        if not self.has_body:
            return {}
        table, key = (
            ("field_revision_body", "revision_id") if revision else ("field_data_body", "entity_id")
        )
        cond, params, keep = _id_filter(key, ids)
        return {
            int(k): (value, summary, fmt)
            for k, value, summary, fmt in self.source.rows(
                f"SELECT {key}, body_value, body_summary, body_format FROM {{{table}}}"
                f" WHERE entity_type = ? AND deleted = 0 AND delta = 0 AND {cond}",
                ("node", *params),
            )
            if keep is None or int(k) in keep
        }

    def _field_values(
        self, ids: list[int], entity: str = "node", specs: list[FieldSpec] | None = None
    ) -> dict[int, list[FieldRow]]:
        """Every field row of these entities: one query per field per batch."""
        found: dict[int, list[FieldRow]] = defaultdict(list)
        if not ids:
            return found
        cond, params, keep = _id_filter("entity_id", ids)
        for spec in self.node_fields if specs is None else specs:
            if not spec.columns:
                continue
            cols = ", ".join(spec.column(c) for c in spec.columns)
            for row in self.source.rows(
                f"SELECT entity_id, language, delta, {cols} FROM {{{spec.data_table}}}"
                f" WHERE entity_type = ? AND deleted = 0 AND {cond}"
                " ORDER BY entity_id, language, delta",
                (entity, *params),
            ):
                if keep is None or int(row[0]) in keep:
                    found[int(row[0])].append((spec.name, str(row[1]), int(row[2]), row[3:]))
        return found

    def entity_values(self, entity: str, ids: list[int]) -> EntityRows:
        """Field rows of comments, terms or users, with the items, files and users they need."""
        values = self._field_values(ids, entity, self.entity_fields[entity])
        items = self.items(values)
        every = [values, *({0: rows} for _, _, rows in items.values())]
        return values, self._managed(*every), self._users(*every), items

    def items(self, *found: dict[int, list[FieldRow]]) -> dict[ItemKey, ItemRows]:
        """The field_collection and paragraphs items these field rows point at, and theirs.

        Each item's values are those of the revision its host names (the item's
        current one when the host names none), read from ``field_revision_*`` as
        the modules load them. Rounds go one level deeper each, a fixed number of
        queries per level; an item is read once even if it contains itself.
        """
        items: dict[ItemKey, ItemRows] = {}
        if not self.nested_specs:
            return items
        pending = self._item_refs([rows for f in found for rows in f.values()])
        seen: set[ItemKey] = set()
        while pending:
            seen |= pending
            added: list[list[FieldRow]] = []
            for entity, table_info in ITEM_TABLES.items():
                refs = sorted(
                    (k for k in pending if k[0] == entity), key=lambda k: (k[1], k[2] or 0)
                )
                if refs and self.source.has_table(table_info[0]):
                    for key, found_item in self._read_items(entity, refs).items():
                        items[key] = found_item
                        added.append(found_item[2])
            pending = self._item_refs(added) - seen
        return items

    def _item_refs(self, groups: Iterable[list[FieldRow]]) -> set[ItemKey]:
        refs: set[ItemKey] = set()
        for rows in groups:
            for name, _, _, cols in rows:
                spec = self.specs[name]
                entity = NESTED_ENTITIES.get(spec.type)
                if entity is None or "value" not in spec.columns:
                    continue
                item_id = cols[spec.columns.index("value")]
                rev = (
                    cols[spec.columns.index("revision_id")]
                    if "revision_id" in spec.columns
                    else None
                )
                if item_id is not None:
                    refs.add((entity, int(item_id), None if rev is None else int(rev)))
        return refs

    def _read_items(self, entity: str, refs: list[ItemKey]) -> dict[ItemKey, ItemRows]:
        """The items' rows and the field rows of the revisions their hosts name."""
        table, bundle_column = ITEM_TABLES[entity]
        current: dict[int, tuple[int, str, bool]] = {}
        ids = sorted({k[1] for k in refs})
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            for item_id, rev, bundle, archived in self.source.rows(
                f"SELECT item_id, revision_id, {bundle_column}, archived FROM {{{table}}}"
                f" WHERE item_id IN ({_marks(chunk)})",
                chunk,
            ):
                current[int(item_id)] = (int(rev), str(bundle), bool(archived))
        wanted = {
            k: (k[2] if k[2] is not None else current[k[1]][0]) for k in refs if k[1] in current
        }
        rows = self._revision_rows(entity, sorted(set(wanted.values())))
        return {
            key: (current[key[1]][1], current[key[1]][2], rows.get(rev, []))
            for key, rev in wanted.items()
        }

    def _revision_rows(self, entity: str, revisions: list[int]) -> dict[int, list[FieldRow]]:
        """Field rows of these revisions of nested items, by revision id."""
        found: dict[int, list[FieldRow]] = defaultdict(list)
        for spec in self.entity_fields[entity]:
            if not spec.columns:
                continue
            table = f"field_revision_{spec.name}"
            if not self.source.has_table(table):
                table = spec.data_table
            cols = ", ".join(spec.column(c) for c in spec.columns)
            for start in range(0, len(revisions), _IN_CHUNK):
                chunk = revisions[start : start + _IN_CHUNK]
                for row in self.source.rows(
                    f"SELECT revision_id, language, delta, {cols} FROM {{{table}}}"
                    f" WHERE entity_type = ? AND deleted = 0 AND revision_id IN ({_marks(chunk)})"
                    " ORDER BY revision_id, language, delta",
                    (entity, *chunk),
                ):
                    found[int(row[0])].append((spec.name, str(row[1]), int(row[2]), row[3:]))
        return found

    def with_fields(self, terms: list[TermRecord]) -> Iterator[TermRecord]:
        """The terms with their own field values (built once node slugs exist)."""
        builder = self.field_builder
        for chunk in (terms[i : i + 1000] for i in range(0, len(terms), 1000)):
            values, managed, users, items = self.entity_values(
                "taxonomy_term", [t.tid for t in chunk]
            )
            for term in chunk:
                rows = values.get(term.tid)
                if not rows or builder is None:
                    yield term
                    continue
                fields, problems = builder(rows, managed, users, items)
                yield replace(term, fields=tuple(fields), problems=term.problems + tuple(problems))

    def _referenced(
        self, found: Sequence[dict[int, list[FieldRow]]], types: set[str], col: str
    ) -> list[int]:
        specs = {s.name: s for s in self.specs.values() if s.type in types and col in s.columns}
        ids: set[int] = set()
        for values in found:
            for rows in values.values():
                for name, _, _, row in rows:
                    spec = specs.get(name)
                    if spec is not None and row[spec.columns.index(col)] is not None:
                        ids.add(int(row[spec.columns.index(col)]))
        return sorted(ids)

    def _managed(self, *values: dict[int, list[FieldRow]]) -> dict[int, tuple[str, str, int]]:
        """(uri, mime, size) of every file the batch's file and image fields point at."""
        return self.files_of(self._referenced(values, {"file", "image"}, "fid"))

    def _users(self, *values: dict[int, list[FieldRow]]) -> frozenset[int]:
        """The users (exported as authors) that the batch's user references point at."""
        uids = self._referenced(values, {"user_reference"}, "uid")
        return self.users_of(uids + self._referenced(values, {"entityreference"}, "target_id"))

    def _term_rows(
        self, ids: list[int], *, revision: bool
    ) -> dict[int, list[tuple[str, int, int]]]:
        """(field, delta, tid) per node (or per revision when ``revision``)."""
        if not self.term_fields:
            return {}
        key = "revision_id" if revision else "entity_id"
        cond, id_params, keep = _id_filter(key, ids)
        parts: list[str] = []
        params: list[Any] = []
        for f in self.term_fields:
            table = f.storage.revision_table if revision else f.storage.data_table
            parts.append(
                f"SELECT ? AS field, {key} AS k, delta, {f.storage.column('tid')} AS tid"
                f" FROM {{{table}}} WHERE entity_type = ? AND deleted = 0 AND {cond}"
            )
            params.extend([f.field_name, "node", *id_params])
        found: dict[int, list[tuple[str, int, int]]] = defaultdict(list)
        for fname, k, delta, tid in self.source.rows(
            " UNION ALL ".join(parts) + " ORDER BY k, field, delta", params
        ):
            if keep is None or int(k) in keep:
                found[int(k)].append((str(fname), int(delta), int(tid)))
        return found

    def _aliases(self, nids: list[int]) -> dict[int, list[str]]:
        sources = [f"node/{n}" for n in nids]
        found: dict[int, list[str]] = defaultdict(list)
        for src, alias in self.source.rows(
            f"SELECT source, alias FROM {{url_alias}} WHERE source IN ({_marks(sources)})"
            " ORDER BY pid",
            sources,
        ):
            found[int(str(src)[5:])].append(str(alias))
        return found

    def _comments(self, nids: list[int]) -> dict[int, list[Row]]:
        """The comments of these nodes; their bodies are field rows (``_comment_values``).

        A comment body is a row of ``field_data_comment_body`` per language: joining
        it here would repeat a comment once per language. The builder picks the one
        in the comment's language and keeps the others as field values.
        """
        if not self.has_comments:
            return {}
        have = set(self.source.columns("comment"))
        language = "c.language" if "language" in have else "NULL"
        cond, params, keep = _id_filter("c.nid", nids)
        found: dict[int, list[Row]] = defaultdict(list)
        for row in self.source.rows(
            "SELECT c.nid, c.cid, c.pid, c.thread, c.uid, c.name, c.subject, c.created,"
            f" c.changed, c.status, {language}, {self._commenter_columns(have)}"
            f" FROM {{comment}} c WHERE {cond}",
            params,
        ):
            if keep is None or int(row[0]) in keep:
                found[int(row[0])].append(row)
        return found

    def _commenter_columns(self, have: set[str]) -> str:
        """mail, homepage, hostname: personal data only when asked for, NULL otherwise."""
        wanted = (
            ("mail", self.include_emails),
            ("homepage", True),
            ("hostname", self.include_hostnames),
        )
        return ", ".join(f"c.{c}" if ok and c in have else "NULL" for c, ok in wanted)

    def _comment_values(self, comments: dict[int, list[Row]]) -> dict[int, list[FieldRow]]:
        cids = sorted({int(row[1]) for rows in comments.values() for row in rows})
        if not cids or not self.entity_fields["comment"]:
            return {}
        return self._field_values(cids, "comment", self.entity_fields["comment"])

    def _history(self, nids: list[int]) -> dict[int, list[tuple[Row, Any, list[Any]]]]:
        revs = self.source.rows(
            "SELECT nid, vid, uid, title, log, timestamp, status FROM {node_revision}"
            f" WHERE nid IN ({_marks(nids)}) ORDER BY nid, vid",
            nids,
        )
        vids = [int(r[1]) for r in revs]
        bodies = self._bodies(vids, revision=True) if vids else {}
        terms = self._term_rows(vids, revision=True) if vids else {}
        found: dict[int, list[tuple[Row, Any, list[Any]]]] = defaultdict(list)
        for row in revs:
            vid = int(row[1])
            found[int(row[0])].append((row, bodies.get(vid), terms.get(vid, [])))
        return found

    # ------------------------------------------------------------------ redirects

    def redirects(self) -> Iterator[RedirectRecord | Skipped]:
        """Old paths → new URLs: every alias, plus ``node/N`` and ``taxonomy/term/N``.

        An alias held by several rows (one per language, or re-pointed) answers
        with its first row. The database drops the later rows with an anti-join on
        its alias index and streams the rest in pid order: asking it for alias
        order instead costs a sort of the whole table (57 s for 1M aliases here).
        Slashes are cut from the redirect's path, so ``foo/`` would repeat ``foo``:
        the first pid of every such cut form is looked up *before* the stream
        starts (no query may run while it is open, see ``Source.stream``).
        """
        assert self.taxonomy is not None
        info = self.taxonomy.info
        for tid, term in info.items():
            yield RedirectRecord(f"taxonomy/term/{tid}", term.path, "term", tid, "system_path")
        first_pid = self._first_pids_of_slashed()
        pending: list[tuple[str, int]] = []
        for pid, src, raw in self.source.stream(
            "SELECT u.pid, u.source, u.alias FROM {url_alias} u WHERE NOT EXISTS"
            " (SELECT 1 FROM {url_alias} v WHERE v.alias = u.alias AND v.pid < u.pid)"
            " ORDER BY u.pid"
        ):
            raw, src = str(raw), str(src)
            alias = raw.strip("/")
            if first_pid.get(alias, int(pid)) != int(pid):
                continue
            if src.startswith("node/") and src[5:].isdigit():
                pending.append((alias, int(src[5:])))
            elif src.startswith("taxonomy/term/") and src[14:].isdigit():
                tid = int(src[14:])
                target = info.get(tid)
                if target is None:
                    why = self.taxonomy.unloadable.get(tid, "term does not exist")
                    yield Skipped("redirect", alias, f"alias of term {tid}: {why}")
                else:
                    yield RedirectRecord(alias, target.path, "term", tid, "alias")
            else:
                yield Skipped("redirect", alias, f"alias of {src}: not exported content")
            if len(pending) >= 1000:
                yield from self._node_alias_redirects(pending)
                pending = []
        yield from self._node_alias_redirects(pending)
        after = 0
        while chunk := self.state.node_paths(after, 1000):
            for nid, path in chunk:
                yield RedirectRecord(f"node/{nid}", path, "node", nid, "system_path")
            after = chunk[-1][0]

    def _first_pids_of_slashed(self) -> dict[str, int]:
        """For each alias that some row spells with a leading or trailing slash: its first pid.

        Keyed by the alias with its slashes cut, over every spelling of it (``foo``,
        ``/foo``, ``foo/``, ``/foo/``), so exactly one row per cut alias is kept.
        Such aliases are rare; their rows are read in chunks of ``_SLASHED_CHUNK``.
        """
        cut = sorted(
            {
                str(raw).strip("/")
                for (raw,) in self.source.rows(
                    "SELECT DISTINCT alias FROM {url_alias} WHERE alias LIKE ? OR alias LIKE ?",
                    ("/%", "%/"),
                )
            }
        )
        first: dict[str, int] = {}
        for start in range(0, len(cut), _SLASHED_CHUNK):
            forms = [
                form
                for alias in cut[start : start + _SLASHED_CHUNK]
                for form in {alias, f"/{alias}", f"{alias}/", f"/{alias}/"}
            ]
            for pid, raw in self.source.rows(
                f"SELECT pid, alias FROM {{url_alias}} WHERE alias IN ({_marks(forms)})", forms
            ):
                key = str(raw).strip("/")
                if key not in first or int(pid) < first[key]:
                    first[key] = int(pid)
        return first

    def _node_alias_redirects(
        self, pending: list[tuple[str, int]]
    ) -> Iterator[RedirectRecord | Skipped]:
        paths = self.state.exported_node_paths([nid for _, nid in pending])
        for alias, nid in pending:
            path = paths.get(nid)
            if path is None:
                yield Skipped("redirect", alias, f"node {nid} is not in the export")
            else:
                yield RedirectRecord(alias, path, "node", nid, "alias")


ENTITY_FIELD_TYPES = ("comment", "taxonomy_term", "user")
"""Drupal entity types besides nodes whose fields are exported."""
ITEM_TABLES = {
    "field_collection_item": ("field_collection_item", "field_name"),
    "paragraphs_item": ("paragraphs_item", "bundle"),
}
"""Nested item entity types: their base table and the column that is their bundle."""
FieldBuilder = Callable[
    [list[FieldRow], dict[int, tuple[str, str, int]], frozenset[int], dict[ItemKey, ItemRows]],
    tuple[list[FieldValue], list[Problem]],
]
"""Field rows of one entity (with the batch's files, users and items) → values and problems."""
EntityRows = tuple[
    dict[int, list[FieldRow]],
    dict[int, tuple[str, str, int]],
    frozenset[int],
    dict[ItemKey, ItemRows],
]
"""Field rows by entity id, and the files, users and nested items they point at."""
_IN_CHUNK = 500
_SLUG_CHUNK = 10_000
_SLASHED_CHUNK = 200


def _suffixed(base: str, n: int) -> str:
    suffix = f"-{n}"
    return base[: 80 - len(suffix)].rstrip("-") + suffix


def _node_url(urls: UrlScheme, scope: str, nid: int, slug: str) -> str:
    return urls.node_url(scope, slug, nid)


def _parents_first(terms: Mapping[int, Row], parents: Mapping[int, list[int]]) -> list[int]:
    """Tids ordered so that every existing parent comes before its children (cycles broken)."""
    order: list[int] = []
    state: dict[int, int] = {}
    for start in sorted(terms):
        if start in state:
            continue
        stack: list[tuple[int, Iterator[int]]] = [(start, iter(sorted(parents.get(start, []))))]
        state[start] = 1
        while stack:
            tid, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                state[tid] = 2
                order.append(tid)
            elif nxt in terms and nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(sorted(parents.get(nxt, [])))))
    return order
