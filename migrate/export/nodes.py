"""Building node records from a batch's rows: cleaning, term refs, comments, revisions.

This is the CPU-heavy half of the node phase, split from the queries
(``Reader.fetch_nodes``) so the engine can run it in worker processes while
the main process reads the next batch and writes the previous one. A builder
needs only picklable inputs (``BuildContext``, ``NodeRows``) and reads target
URLs and aliases from the state file through its own read-only connection.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrate.export import UrlScheme
from migrate.export.children import init_child
from migrate.export.clean import InternalLink, MapLinkResolver, Resolution, clean_body
from migrate.export.fields import (
    COMMENT_BODY,
    FieldContext,
    FieldSpec,
    FieldValue,
    FileItem,
    NestedFound,
    TermItem,
    TextItem,
    build_value,
)
from migrate.export.mapping import ExportMapping
from migrate.export.records import (
    Body,
    CommentRecord,
    EncodedRecord,
    FileRef,
    NodeRecord,
    PreparedRecord,
    Problem,
    RevisionRecord,
    TermRef,
    detail_json,
    encoded,
    json_digest,
)
from migrate.export.records import encode as encode_record
from migrate.export.state import StateLookup
from migrate.paths import public_relative
from migrate.records import TextFormat
from migrate.source.base import Row

Prepare = Callable[[NodeRecord], Any]
"""A writer's ``prepare_node``: run on each record a worker builds (``NodeBuilder.build``)."""


@dataclass(frozen=True)
class TermInfo:
    vocabulary: str
    name: str
    path: str


FieldRow = tuple[str, str, int, tuple[Any, ...]]
"""(field, language, delta, value columns in ``FieldSpec.columns`` order): one stored value."""
ItemKey = tuple[str, int, int | None]
"""(entity type, item id, revision id as the host field names it) of a nested item."""
ItemRows = tuple[str, bool, list[FieldRow]]
"""(bundle, archived, field rows of the revision) of a field_collection or paragraphs item."""


@dataclass
class NodeRows:
    """What one batch's queries returned, keyed by nid (or vid for ``history``)."""

    rows: list[Row]
    revisions: set[int]
    values: dict[int, list[FieldRow]]
    """Every field row of each node, the body's included."""
    managed: dict[int, tuple[str, str, int]]
    """(uri, mime, size) of the files the batch's file and image fields point at."""
    users: frozenset[int]
    """Users that the batch's user references point at and that exist."""
    aliases: dict[int, list[str]]
    comments: dict[int, list[Row]]
    history: dict[int, list[tuple[Row, Any, list[Any]]]] = field(default_factory=dict)
    comment_values: dict[int, list[FieldRow]] = field(default_factory=dict)
    """The comments' own field rows (their bodies included), by cid."""
    items: dict[ItemKey, ItemRows] = field(default_factory=dict)
    """The field_collection and paragraphs items the batch's values point at, nested too."""

    @property
    def last_nid(self) -> int:
        return int(self.rows[-1][0])

    def only(self, rows: list[Row]) -> NodeRows:
        """The same batch cut down to ``rows`` (the nodes that must be built again)."""
        nids = {int(r[0]) for r in rows}
        cids = {int(c[1]) for n in nids for c in self.comments.get(n, ())}
        return NodeRows(
            rows=rows,
            revisions=self.revisions,
            values={n: v for n, v in self.values.items() if n in nids},
            managed=self.managed,
            users=self.users,
            aliases={n: v for n, v in self.aliases.items() if n in nids},
            comments={n: v for n, v in self.comments.items() if n in nids},
            history={n: v for n, v in self.history.items() if n in nids},
            comment_values={c: v for c, v in self.comment_values.items() if c in cids},
            items=self.items,
        )

    @property
    def max_changed(self) -> int:
        return max(int(r[8]) for r in self.rows)

    def lookups_only(self) -> NodeRows:
        """The batch's lookups alone (files, users, nested items): all that the built
        nodes' fingerprints read. Once a batch is handed to a worker, its rows (bodies,
        comments, every field row) are the worker's; the export's process keeps this."""
        return NodeRows(
            rows=[],
            revisions=set(),
            values={},
            managed=self.managed,
            users=self.users,
            aliases={},
            comments={},
            items=self.items,
        )


@dataclass
class NodeBatch:
    records: Sequence[NodeRecord | EncodedRecord | PreparedRecord]
    """EncodedRecords when the worker encoded them for a writer that takes those,
    PreparedRecords when it ran the writer's ``prepare_node`` on them."""
    failures: list[tuple[int, str]]
    last_nid: int
    max_changed: int
    deps: dict[int, tuple[str, ...]] = field(default_factory=dict)
    """Per built node, every lookup its record depended on beyond its own rows
    (``a:alias``, ``n:nid``, ``t:tid``, ``f:fid``, ``u:uid``, ``i:entity:item:revision``):
    the engine fingerprints their current values, so a change to any of them rebuilds
    exactly this node."""
    digests: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Per NodeRecord sent as a tree, its ``content_digest`` and ``detail_json``, taken in
    the worker so the main process does not encode every record again to hash it."""


@dataclass(frozen=True)
class BuildContext:
    state_path: Path
    urls: UrlScheme
    formats: dict[str, TextFormat]
    term_info: dict[int, TermInfo]
    unloadable: dict[int, str]
    missing_tids: frozenset[int]
    old_urls: tuple[str, ...]
    files_path: str
    mapping: ExportMapping
    allow_scripts: bool
    fields: dict[str, FieldSpec] = field(default_factory=dict)
    timezone: str = "UTC"


def _is_file(v: FieldValue) -> bool:
    """A file or image value whose file_managed row exists (the others are problems)."""
    return isinstance(v.item, FileItem) and v.item.uri is not None


def _primary_body(rows: list[FieldRow], name: str, language: str) -> FieldRow | None:
    """The body an entity shows: delta 0 in its language, else ``und``, else the first.

    Body rows in other languages stay field values, so a translation is never lost
    and never doubles the entity.
    """
    bodies = [r for r in rows if r[0] == name and r[2] == 0]
    return next((r for pick in (language, "und") for r in bodies if r[1] == pick), None) or (
        bodies[0] if bodies else None
    )


class _NodeUrls(Mapping[int, str]):
    """nid → target URL, looked up in the state's slug table (never all in memory)."""

    def __init__(self, state: StateLookup, deps: set[str]) -> None:
        self.state = state
        self.deps = deps

    def __getitem__(self, nid: int) -> str:
        self.deps.add(f"n:{nid}")
        path = self.state.path_of("node", nid)
        if path is None:
            raise KeyError(nid)
        return path

    def __iter__(self) -> Iterator[int]:
        return iter(())

    def __len__(self) -> int:
        return 0


class _TermUrls(Mapping[int, str]):
    """tid → term URL, noting each term a record's links looked up (``t:tid``)."""

    def __init__(self, urls: dict[int, str], deps: set[str]) -> None:
        self.urls = urls
        self.deps = deps

    def __getitem__(self, tid: int) -> str:
        self.deps.add(f"t:{tid}")
        return self.urls[tid]

    def __iter__(self) -> Iterator[int]:
        return iter(self.urls)

    def __len__(self) -> int:
        return len(self.urls)


class StateLinkResolver:
    """A LinkResolver whose alias table lives in the state store, so it scales to 1M aliases."""

    def __init__(self, inner: MapLinkResolver, state: StateLookup, deps: set[str]) -> None:
        self.inner = inner
        self.state = state
        self.deps = deps

    def parse(self, href: str) -> InternalLink | None:
        return self.inner.parse(href)

    def resolve(self, path: str) -> Resolution:
        self.deps.add(f"a:{path}")
        return self.inner.resolve(self.state.alias_source(path) or path)


class NodeBuilder:
    """Turns ``NodeRows`` into ``NodeRecord``s (see the module docstring)."""

    def __init__(self, ctx: BuildContext) -> None:
        self.ctx = ctx
        self.state = StateLookup(ctx.state_path)
        self.deps: set[str] = set()
        """Lookups of the node being built (see ``NodeBatch.deps``); cleared per node."""
        urls = ctx.urls

        def file_url(uri: str) -> str | None:
            rel = public_relative(uri)
            return None if rel is None else urls.file_url(rel)

        inner = MapLinkResolver(
            ctx.old_urls,
            _NodeUrls(self.state, self.deps),
            file_url=file_url,
            term_urls=_TermUrls({tid: t.path for tid, t in ctx.term_info.items()}, self.deps),
            missing_tids=ctx.missing_tids,
            files_path=ctx.files_path,
            home_url="/",
        )
        self.links = StateLinkResolver(inner, self.state, self.deps)
        self._file_url = file_url
        self._stats: dict[str, int] = {}
        self._problems: list[Problem] = []
        self._users: frozenset[int] = frozenset()
        self._managed: dict[int, tuple[str, str, int]] = {}
        self._items: dict[ItemKey, ItemRows] = {}
        self._open_items: set[ItemKey] = set()
        self.field_ctx = FieldContext(
            clean=lambda value, fmt: self._clean(value, fmt, self._stats, self._problems),
            rewrite=self._rewrite,
            node_url=self._node_url,
            term=self._term,
            missing_term=self._missing_term,
            user_exported=self._user_exported,
            file=self._managed_file,
            timezone=ctx.timezone,
            nested=self._nested,
        )

    def _rewrite(self, href: str) -> str:
        """A link field's URL as body links are rewritten: to the new site, else unchanged."""
        link = self.links.parse(href)
        if link is None:
            return href
        found = self.links.resolve(link.path)
        if found.url is None:
            return href
        query = f"?{link.query}" if link.query else ""
        fragment = f"#{link.fragment}" if link.fragment else ""
        return found.url + query + fragment

    @staticmethod
    def _file_ref(v: FieldValue, managed: dict[int, tuple[str, str, int]]) -> FileRef:
        item = v.item
        assert isinstance(item, FileItem)
        size = managed[item.fid][2]
        return FileRef(
            field=v.field,
            delta=v.delta,
            fid=item.fid,
            uri=item.uri,
            url=item.url,
            mime=item.mime,
            size=size,
            alt=item.alt,
            title=item.title,
            description=item.description,
        )

    def _node_url(self, nid: int) -> str | None:
        self.deps.add(f"n:{nid}")
        return self.state.path_of("node", nid)

    def _term(self, tid: int) -> tuple[str, str, str] | None:
        self.deps.add(f"t:{tid}")
        term = self.ctx.term_info.get(tid)
        return None if term is None else (term.vocabulary, term.name, term.path)

    def _missing_term(self, tid: int) -> str:
        self.deps.add(f"t:{tid}")
        return self.ctx.unloadable.get(tid, "term does not exist")

    def _user_exported(self, uid: int) -> bool:
        self.deps.add(f"u:{uid}")
        return uid in self._users

    def _nested(self, entity: str, item_id: int, revision: int | None) -> NestedFound | None:
        """A nested item's bundle, archived flag, typed values and their problems.

        An item that (through its own items) contains itself is given once: the
        inner occurrence has no values and a problem saying so.
        """
        key = (entity, item_id, revision)
        self.deps.add(f"i:{entity}:{item_id}:{revision}")
        found = self._items.get(key)
        if found is None:
            return None
        bundle, archived, rows = found
        if key in self._open_items:
            return bundle, archived, [], [("field", f"{entity} {item_id} contains itself")]
        self._open_items.add(key)
        values: list[FieldValue] = []
        problems: list[tuple[str, str]] = []
        try:
            for name, lang, delta, columns in rows:
                spec = self.ctx.fields[name]
                cols = dict(zip(spec.columns, columns, strict=True))
                value, issues = build_value(spec, lang, delta, cols, self.field_ctx)
                values.append(value)
                problems.extend(issues)
        finally:
            self._open_items.discard(key)
        return bundle, archived, values, problems

    def _managed_file(self, fid: int) -> tuple[str, str | None, str] | None:
        self.deps.add(f"f:{fid}")
        found = self._managed.get(fid)
        if found is None:
            return None
        uri, mime, _ = found
        return uri, self._file_url(uri), mime

    def build(
        self, data: NodeRows, encode: bool = False, prepare: Prepare | None = None
    ) -> NodeBatch:
        """The batch's records; with ``encode``, as EncodedRecords (``Writer.takes_encoded``);
        with ``prepare``, as PreparedRecords (``Writer.prepare_node``)."""
        with self.state.snapshot():
            records, failures, deps = self._build(data)
        if encode:
            return NodeBatch(
                [encoded(r) for r in records], failures, data.last_nid, data.max_changed, deps
            )
        if prepare is not None:
            prepared = [
                PreparedRecord(
                    r.KIND, r.key, prepare(r), json_digest(encode_record(r)), detail_json(r)
                )
                for r in records
            ]
            return NodeBatch(prepared, failures, data.last_nid, data.max_changed, deps)
        digests = {r.key: (json_digest(encode_record(r)), detail_json(r)) for r in records}
        return NodeBatch(records, failures, data.last_nid, data.max_changed, deps, digests)

    def _build(
        self, data: NodeRows
    ) -> tuple[list[NodeRecord], list[tuple[int, str]], dict[int, tuple[str, ...]]]:
        records: list[NodeRecord] = []
        failures: list[tuple[int, str]] = []
        deps: dict[int, tuple[str, ...]] = {}
        slugs = self.state.slugs_of("node", [int(row[0]) for row in data.rows])
        for row in data.rows:
            nid, vid = int(row[0]), int(row[1])
            self.deps.clear()
            ntype, lang, title, uid, status, created, changed, promote, sticky = row[2:11]
            if vid not in data.revisions:
                failures.append((nid, f"current revision {vid} is missing from node_revision"))
                continue
            problems: list[Problem] = []
            stats: dict[str, int] = {}
            body, fields = self._fields(data, nid, str(lang), stats, problems)
            refs = [
                TermRef(v.field, v.item.vocabulary, v.item.tid, v.item.name or "", v.item.path)
                for v in fields
                if isinstance(v.item, TermItem)
                and v.item.vocabulary is not None
                and v.item.path is not None
            ]
            file_refs = [self._file_ref(v, data.managed) for v in fields if _is_file(v)]
            target_type = self.ctx.mapping.content_type(str(ntype))
            slug_path = slugs.get(nid)
            if slug_path is None:
                slug = f"node-{nid}"
                slug_path = (slug, self.ctx.urls.node_url(target_type, slug, nid))
            comments = tuple(
                self._comments(data.comments.get(nid, []), data.comment_values, stats, problems)
            )
            revisions = tuple(self._revisions(data.history.get(nid, []), stats))
            records.append(
                NodeRecord(
                    nid=nid,
                    vid=vid,
                    type=str(ntype),
                    target_type=target_type,
                    language=str(lang),
                    title=str(title),
                    slug=slug_path[0],
                    path=slug_path[1],
                    status=int(status),
                    promote=int(promote),
                    sticky=int(sticky),
                    created=int(created),
                    changed=int(changed),
                    author=int(uid),
                    body=body,
                    fields=tuple(fields),
                    terms=tuple(refs),
                    files=tuple(file_refs),
                    aliases=tuple(data.aliases.get(nid, ())),
                    comments=comments,
                    revisions=revisions,
                    problems=tuple(problems),
                    cleaning=stats,
                )
            )
            deps[nid] = tuple(sorted(self.deps))
        return records, failures, deps

    def _fields(
        self,
        data: NodeRows,
        nid: int,
        language: str,
        stats: dict[str, int],
        problems: list[Problem],
    ) -> tuple[Body | None, list[FieldValue]]:
        """The node's body and every other field value (see ``migrate.export.fields``).

        The body is the ``body`` row in the node's language (else ``und``, else the
        first); body rows in other languages stay in the fields, so none is lost.
        """
        self._users, self._managed, self._items = data.users, data.managed, data.items
        self._stats, self._problems = stats, problems
        specs = self.ctx.fields
        rows = data.values.get(nid, [])
        primary = _primary_body(rows, "body", language)
        body: Body | None = None
        values: list[FieldValue] = []
        for row in rows:
            name, lang, delta, columns = row
            spec = specs[name]
            value, found = build_value(
                spec, lang, delta, dict(zip(spec.columns, columns, strict=True)), self.field_ctx
            )
            problems.extend(Problem(kind, detail) for kind, detail in found)
            if row is primary and isinstance(value.item, TextItem):
                body = Body(value.item.value, value.item.summary, value.item.format)
            else:
                values.append(value)
        return body, values

    def field_values(
        self,
        rows: list[FieldRow],
        managed: dict[int, tuple[str, str, int]],
        users: frozenset[int],
        items: dict[ItemKey, ItemRows],
    ) -> tuple[list[FieldValue], list[Problem]]:
        """The typed values of one entity's field rows (a term's, a user's), and the problems."""
        with self.state.snapshot():
            self._users, self._managed, self._items = users, managed, items
            self._stats, self._problems = {}, []
            values = self._values(rows)
            return values, self._problems

    def _values(self, rows: list[FieldRow]) -> list[FieldValue]:
        specs = self.ctx.fields
        out: list[FieldValue] = []
        for name, lang, delta, columns in rows:
            spec = specs[name]
            value, found = build_value(
                spec, lang, delta, dict(zip(spec.columns, columns, strict=True)), self.field_ctx
            )
            self._problems.extend(Problem(kind, detail) for kind, detail in found)
            out.append(value)
        return out

    def _clean(
        self, value: Any, fmt: str | None, stats: dict[str, int], problems: list[Problem]
    ) -> str:
        if value is None or value == "":
            return ""
        result = clean_body(
            value,
            self.ctx.formats.get(fmt) if fmt else None,
            links=self.links,
            allow_scripts=self.ctx.allow_scripts,
        )
        for kind, n in result.stats.items():
            stats[kind] = stats.get(kind, 0) + n
        problems.extend(Problem("cleaning", p) for p in result.problems)
        return result.html

    def _body(
        self, row: tuple[Any, Any, Any] | None, stats: dict[str, int], problems: list[Problem]
    ) -> Body | None:
        if row is None:
            return None
        value, summary, fmt = row
        return Body(
            self._clean(value, fmt, stats, problems),
            self._clean(summary, fmt, stats, problems),
            fmt,
        )

    def _term_refs(self, rows: list[tuple[str, int, int]]) -> tuple[list[TermRef], list[Problem]]:
        refs: list[TermRef] = []
        problems: list[Problem] = []
        for fname, delta, tid in rows:
            self.deps.add(f"t:{tid}")
            term = self.ctx.term_info.get(tid)
            if term is None:
                why = self.ctx.unloadable.get(tid, "term does not exist")
                problems.append(
                    Problem("dangling_term_ref", f"{fname}[{delta}]: term {tid}: {why}")
                )
            else:
                refs.append(TermRef(fname, term.vocabulary, tid, term.name, term.path))
        return refs, problems

    def _comments(
        self,
        rows: list[Row],
        values: dict[int, list[FieldRow]],
        stats: dict[str, int],
        problems: list[Problem],
    ) -> list[CommentRecord]:
        out: list[CommentRecord] = []
        for row in rows:
            (_, cid, pid, thread, uid, name, subject, created, changed, status, lang) = row[:11]
            mail, homepage, hostname = row[11:14]
            mine: list[Problem] = []
            own = values.get(int(cid), [])
            primary = _primary_body(own, COMMENT_BODY, str(lang or "und"))
            body = None
            if primary is not None:
                cols = dict(zip(self.ctx.fields[COMMENT_BODY].columns, primary[3], strict=True))
                fmt = cols.get("format")
                body = Body(self._clean(cols.get("value"), fmt, stats, mine), "", fmt)
            self._problems = mine
            fields = self._values([r for r in own if r is not primary])
            self._problems = problems
            problems.extend(Problem(p.kind, f"comment {cid}: {p.detail}") for p in mine)
            out.append(
                CommentRecord(
                    cid=int(cid),
                    pid=int(pid),
                    thread=str(thread),
                    uid=int(uid),
                    name=str(name or ""),
                    subject=str(subject or ""),
                    body=body,
                    created=int(created),
                    changed=int(changed),
                    status=int(status),
                    fields=tuple(fields),
                    mail=str(mail) if mail else None,
                    homepage=str(homepage) if homepage else None,
                    hostname=str(hostname) if hostname else None,
                )
            )
        out.sort(key=lambda c: c.thread.rstrip("/"))
        return out

    def _revisions(
        self, items: list[tuple[Row, Any, list[Any]]], stats: dict[str, int]
    ) -> Iterator[RevisionRecord]:
        for (_, vid, uid, title, log, timestamp, status), body, terms in items:
            problems: list[Problem] = []
            refs, dangling = self._term_refs(terms)
            problems.extend(dangling)
            yield RevisionRecord(
                vid=int(vid),
                uid=int(uid),
                title=str(title),
                log=str(log or ""),
                timestamp=int(timestamp),
                status=int(status),
                body=self._body(body, stats, problems),
                terms=tuple(refs),
                problems=tuple(problems),
            )

    def close(self) -> None:
        self.state.close()


_WORKER: NodeBuilder | None = None


def init_worker(ctx: BuildContext) -> None:
    """Process-pool initializer: one builder per worker process (``init_child`` first)."""
    global _WORKER
    init_child()
    _WORKER = NodeBuilder(ctx)


def build_in_worker(data: bytes, encode: bool, prepare: Prepare | None) -> NodeBatch:
    """Build one batch whose ``NodeRows`` the export's process pickled (``_Builders.submit``)."""
    assert _WORKER is not None, "init_worker was not run"
    return _WORKER.build(pickle.loads(data), encode, prepare)
