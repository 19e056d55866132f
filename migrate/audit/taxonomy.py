"""Checks about terms, their hierarchy, the references to them and taxonomy_index.

"Unloadable" follows taxonomy_term_load(): a term loads only when its
taxonomy_term_data row exists *and* its vocabulary row does (the loader INNER
JOINs taxonomy_vocabulary). Every query is one set-based statement per field
table, ordered so the findings come out identically from MariaDB and SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from migrate.audit import check
from migrate.audit.context import AuditContext, TermState
from migrate.audit.findings import Entity, Finding, KindIsVariant, OneNode, OneTerm, Severity
from migrate.records import FieldInfo

_REPAIR = "drupal-migrate repair"


def _keyed(entity_type: str, entity_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """JSON of a field row: ``nid`` for a node's row, ``entity_id`` for any other entity's."""
    key = "nid" if entity_type == "node" else "entity_id"
    data.pop("entity_id")
    return {"entity_type": data.pop("entity_type"), key: entity_id, **data}


@dataclass(frozen=True, kw_only=True)
class FieldRef(OneTerm, KindIsVariant, Entity):
    """taxonomy.dangling_field_ref: one row of a term-reference field table."""

    entity_type: str
    entity_id: int
    table: str
    bundle: str
    vid: int  # the row's revision_id
    field: str
    language: str
    delta: int
    tid: int
    kind: TermState
    current: bool
    status: int | None  # the node's, None when the node is gone
    title: str | None

    def to_dict(self) -> dict[str, Any]:
        return _keyed(self.entity_type, self.entity_id, super().to_dict())

    @property
    def node(self) -> int | None:
        return self.entity_id if self.entity_type == "node" else None

    @property
    def node_title(self) -> str | None:
        return self.title


@dataclass(frozen=True, kw_only=True)
class OldRevisionRef(OneNode, OneTerm, KindIsVariant, Entity):
    """taxonomy.old_revision_only_ref: a node's references that only old revisions hold."""

    nid: int
    field: str
    tid: int
    table: str
    rows: int
    kind: Literal["old_revision_only"] = "old_revision_only"


@dataclass(frozen=True, kw_only=True)
class TermWithoutVocabulary(OneTerm, KindIsVariant, Entity):
    """taxonomy.unloadable_term: a term row whose vocabulary row is gone."""

    tid: int
    vid: int
    name: str
    kind: Literal["vocabulary_missing"] = "vocabulary_missing"


@dataclass(frozen=True, kw_only=True)
class FieldAllowsMissingVocabulary(KindIsVariant, Entity):
    """taxonomy.unloadable_term: a field whose allowed values name a vocabulary that is gone."""

    field: str
    vocabulary: str
    kind: Literal["field_allows_missing_vocabulary"] = "field_allows_missing_vocabulary"


@dataclass(frozen=True, kw_only=True)
class HierarchyRow(OneTerm, KindIsVariant, Entity):
    """taxonomy.orphan_hierarchy: a hierarchy row whose term or parent does not load."""

    tid: int
    parent: int
    kind: Literal["term_unloadable", "parent_unloadable"]
    term_state: TermState  # of the term that does not load (tid or parent)

    @property
    def unloadable(self) -> int:
        """The tid of this row that does not load."""
        return self.tid if self.kind == "term_unloadable" else self.parent


@dataclass(frozen=True, kw_only=True)
class TermWithoutHierarchy(OneTerm, KindIsVariant, Entity):
    """taxonomy.orphan_hierarchy: a loadable term without any hierarchy row."""

    tid: int
    kind: Literal["no_hierarchy_row"] = "no_hierarchy_row"


@dataclass(frozen=True, kw_only=True)
class UnreachableTerm(OneTerm, KindIsVariant, Entity):
    """taxonomy.orphan_hierarchy: a loadable term cut off from the root, or in a cycle."""

    tid: int
    kind: Literal["cycle", "unreachable"]
    parents: tuple[int, ...]
    cycle: tuple[int, ...]  # tid → ... → tid when kind is cycle, else empty


@dataclass(frozen=True, kw_only=True)
class IndexRow(OneNode, OneTerm, KindIsVariant, Entity):
    """taxonomy.index_dangling: a taxonomy_index row of an unloadable term or a gone node."""

    table: Literal["taxonomy_index"] = "taxonomy_index"
    nid: int
    tid: int
    sticky: int
    created: int
    kind: Literal["term_row_missing", "vocabulary_missing", "node_missing"]


@dataclass(frozen=True, kw_only=True)
class StaleIndexRow(OneNode, OneTerm, KindIsVariant, Entity):
    """taxonomy.index_stale: an index row core would not build, or one it would but lacks."""

    table: Literal["taxonomy_index"] = "taxonomy_index"
    nid: int
    tid: int
    kind: Literal["missing_row", "unpublished_node", "not_in_current_revision"]


@dataclass(frozen=True, kw_only=True)
class WrongVocabularyRef(OneTerm, Entity):
    """taxonomy.wrong_vocabulary: a reference to a live term of a vocabulary not allowed."""

    entity_type: str
    entity_id: int
    table: str
    vid: int
    field: str
    language: str
    delta: int
    tid: int
    vocabulary: str

    def to_dict(self) -> dict[str, Any]:
        return _keyed(self.entity_type, self.entity_id, super().to_dict())

    @property
    def node(self) -> int | None:
        return self.entity_id if self.entity_type == "node" else None


@check(
    "taxonomy.dangling_field_ref",
    severity=Severity.ERROR,
    title="Term references to terms that do not load",
    repair=True,
    reads=("@term_data", "@term_revision"),
)
def dangling_field_ref(ctx: AuditContext) -> Iterator[Finding]:
    """Rows of every term-reference field (data and revision tables) whose tid is unloadable.

    Current-revision rows are errors; rows only in old revisions are warnings.
    Drupal's own taxonomy_term_delete() leaves these behind.
    """
    for info in ctx.node_term_fields:
        col = info.storage.column("tid")
        for table in (info.storage.data_table, info.storage.revision_table):
            yield from _dangling_rows(ctx, info, table, col)


def _dangling_rows(ctx: AuditContext, info: FieldInfo, table: str, col: str) -> Iterator[Finding]:
    tids = ctx.unloadable_in(table, col)
    if not tids:
        return
    sql = (
        f"SELECT f.entity_type, f.bundle, f.entity_id, f.revision_id, f.language, f.delta,"
        f" f.{col}, n.vid, n.status, n.title FROM {{{table}}} f"
        " LEFT JOIN {node} n ON f.entity_type = 'node' AND n.nid = f.entity_id"
        " WHERE " + ctx.in_list(f"f.{col}", tids) + " AND f.deleted = 0"
        " ORDER BY f.entity_type, f.entity_id, f.revision_id, f.delta, f.language"
    )
    for etype, bundle, eid, rev, lang, delta, tid, cur_vid, status, title in ctx.source.stream(
        sql, tids
    ):
        tid = int(tid)
        current = cur_vid is not None and int(rev) == int(cur_vid)
        state = ctx.unloadable_state(tid)
        entity = FieldRef(
            entity_type=str(etype),
            entity_id=int(eid),
            table=table,
            bundle=str(bundle),
            vid=int(rev),
            field=info.field_name,
            language=str(lang),
            delta=int(delta),
            tid=tid,
            kind=state,
            current=current,
            status=None if status is None else int(status),
            title=title,
        )
        where = "current revision" if current else "old revision"
        published = (
            "missing node" if status is None else "published" if int(status) else "unpublished"
        )
        yield Finding(
            "taxonomy.dangling_field_ref",
            Severity.ERROR if current else Severity.WARNING,
            f"{etype} {eid} ({published}) {where} {rev}: {info.field_name}[{lang}][{delta}]"
            f" → {ctx.term_label(tid)}: {state.replace('_', ' ')}",
            entity,
            f"remove this reference or remap tid {tid} to a live term ({_REPAIR})",
        )


@check(
    "taxonomy.old_revision_only_ref",
    severity=Severity.NOTICE,
    title="Dangling references found only in old revisions",
    reads=("@term_revision",),
)
def old_revision_only_ref(ctx: AuditContext) -> Iterator[Finding]:
    """Node/field/tid references to unloadable terms that the current revision no longer has.

    They do not affect visitors; a revision revert would bring them back.
    """
    for info in ctx.node_term_fields:
        col = info.storage.column("tid")
        table = info.storage.revision_table
        tids = ctx.unloadable_in(table, col)
        if not tids:
            continue
        sql = (
            f"SELECT f.entity_id, f.{col}, COUNT(*), MIN(f.revision_id), MAX(f.revision_id)"
            f" FROM {{{table}}} f INNER JOIN {{node}} n ON n.nid = f.entity_id WHERE "
            + ctx.in_list(f"f.{col}", tids)
            + " AND f.deleted = 0 AND f.entity_type = 'node' AND f.revision_id <> n.vid"
            f" AND NOT EXISTS (SELECT 1 FROM {{{table}}} c WHERE c.entity_type = 'node'"
            f" AND c.entity_id = f.entity_id AND c.revision_id = n.vid AND c.{col} = f.{col}"
            " AND c.deleted = 0)"
            f" GROUP BY f.entity_id, f.{col} ORDER BY f.entity_id, f.{col}"
        )
        for nid, tid, rows, first, last in ctx.source.stream(sql, tids):
            yield Finding(
                "taxonomy.old_revision_only_ref",
                Severity.NOTICE,
                f"node {nid}: {info.field_name} → {ctx.term_label(int(tid))} only in old"
                f" revision(s) {first}..{last} ({rows} row(s))",
                OldRevisionRef(
                    nid=int(nid), field=info.field_name, tid=int(tid), table=table, rows=int(rows)
                ),
                "harmless for visitors; drop the rows or remap them with the current revision",
            )


@check(
    "taxonomy.unloadable_term",
    severity=Severity.ERROR,
    title="Terms whose vocabulary is gone; fields allowing a missing vocabulary",
    repair=True,
)
def unloadable_term(ctx: AuditContext) -> Iterator[Finding]:
    """Term rows whose vocabulary row is missing, so taxonomy_term_load() returns FALSE.

    Also every term-reference field whose allowed-values setting names a
    vocabulary that no longer exists.
    """
    for tid, vid, name in ctx.source.rows(
        "SELECT t.tid, t.vid, t.name FROM {taxonomy_term_data} t"
        " LEFT JOIN {taxonomy_vocabulary} v ON v.vid = t.vid WHERE v.vid IS NULL ORDER BY t.tid"
    ):
        yield Finding(
            "taxonomy.unloadable_term",
            Severity.ERROR,
            f"term {tid} ({name}) belongs to vocabulary {vid}, which no longer exists",
            TermWithoutVocabulary(tid=int(tid), vid=int(vid), name=str(name)),
            f"recreate vocabulary {vid} or move term {tid} into an existing vocabulary",
        )
    machine_names = {v.machine_name for v in ctx.site.vocabularies.values()}
    for info in ctx.node_term_fields:
        for vocabulary in info.allowed_vocabularies:
            if vocabulary not in machine_names:
                yield Finding(
                    "taxonomy.unloadable_term",
                    Severity.ERROR,
                    f"field {info.field_name} allows vocabulary {vocabulary!r},"
                    " which no longer exists",
                    FieldAllowsMissingVocabulary(field=info.field_name, vocabulary=vocabulary),
                    "recreate the vocabulary or point the field's allowed values elsewhere",
                )


@check(
    "taxonomy.orphan_hierarchy",
    severity=Severity.WARNING,
    title="Broken term hierarchy",
    repair=True,
)
def orphan_hierarchy(ctx: AuditContext) -> Iterator[Finding]:
    """Hierarchy rows whose term or parent won't load, terms without hierarchy rows,
    terms unreachable from the root, and cycles.

    Terms cut off from the root vanish from taxonomy_get_tree() and the admin overview.
    """
    parents: dict[int, list[int]] = {}
    rows = ctx.source.rows("SELECT tid, parent FROM {taxonomy_term_hierarchy} ORDER BY tid, parent")
    for tid, parent in rows:
        tid, parent = int(tid), int(parent)
        parents.setdefault(tid, []).append(parent)
        if not ctx.loadable(tid):
            state = ctx.unloadable_state(tid)
            yield Finding(
                "taxonomy.orphan_hierarchy",
                Severity.WARNING,
                f"hierarchy row {tid} → {parent}: term {tid} does not load"
                f" ({state.replace('_', ' ')})",
                HierarchyRow(tid=tid, parent=parent, kind="term_unloadable", term_state=state),
                "delete the hierarchy row (or restore the term)",
            )
        elif parent and not ctx.loadable(parent):
            state = ctx.unloadable_state(parent)
            yield Finding(
                "taxonomy.orphan_hierarchy",
                Severity.WARNING,
                f"hierarchy row {tid} → {parent}: parent {parent} does not load"
                f" ({state.replace('_', ' ')})",
                HierarchyRow(tid=tid, parent=parent, kind="parent_unloadable", term_state=state),
                f"re-parent {ctx.term_label(tid)} (to 0 = root, or a live term)",
            )
    for tid in sorted(ctx.loadable_tids):
        if tid not in parents:
            yield Finding(
                "taxonomy.orphan_hierarchy",
                Severity.WARNING,
                f"{ctx.term_label(tid)} has no hierarchy row",
                TermWithoutHierarchy(tid=tid),
                f"insert a hierarchy row ({tid}, 0) so the term is a root",
            )
    yield from _reachability(ctx, parents)


def _reachability(ctx: AuditContext, parents: dict[int, list[int]]) -> Iterator[Finding]:
    """Walk down from the root (parent 0) over loadable terms; report the rest and cycles."""
    children: dict[int, list[int]] = {}
    for tid, ps in parents.items():
        if ctx.loadable(tid):
            for parent in ps:
                children.setdefault(parent, []).append(tid)
    reached: set[int] = set()
    stack = [0]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in reached:
                reached.add(child)
                stack.append(child)
    for tid in sorted(t for t in ctx.loadable_tids if t in parents and t not in reached):
        cycle = _cycle_from(tid, parents)
        kind: Literal["cycle", "unreachable"] = "cycle" if cycle else "unreachable"
        why = (
            "is in a parent cycle " + " → ".join(map(str, cycle))
            if cycle
            else "cannot be reached from the root (an ancestor is missing)"
        )
        yield Finding(
            "taxonomy.orphan_hierarchy",
            Severity.WARNING,
            f"{ctx.term_label(tid)} {why}; it disappears from the vocabulary overview",
            UnreachableTerm(
                tid=tid, kind=kind, parents=tuple(sorted(parents[tid])), cycle=tuple(cycle)
            ),
            "re-parent the term (or its missing ancestor's children) to a live term or to 0",
        )


def _cycle_from(start: int, parents: dict[int, list[int]]) -> list[int]:
    """A parent cycle through ``start``, if there is one (depth-first, small graphs)."""
    path: list[int] = []
    seen: set[int] = set()

    def walk(tid: int) -> list[int]:
        if tid == start and path:
            return [*path, start]
        if tid in seen or tid == 0:
            return []
        seen.add(tid)
        path.append(tid)
        for parent in sorted(parents.get(tid, ())):
            found = walk(parent)
            if found:
                return found
        path.pop()
        return []

    return walk(start)


@check(
    "taxonomy.index_dangling",
    severity=Severity.WARNING,
    title="taxonomy_index rows for missing terms or nodes",
    weight=2,
    repair=True,
    reads=("taxonomy_index",),
)
def index_dangling(ctx: AuditContext) -> Iterator[Finding]:
    """taxonomy_index rows whose term does not load or whose node is gone.

    They make term listings and "related content" views count ghosts.
    """
    if not ctx.has("taxonomy_index"):
        return
    rows: list[IndexRow] = []
    tids = ctx.unloadable_in("taxonomy_index", "tid")
    if tids:
        for nid, tid, sticky, created in ctx.source.stream(
            "SELECT i.nid, i.tid, i.sticky, i.created FROM {taxonomy_index} i WHERE "
            + ctx.in_list("i.tid", tids)
            + " ORDER BY i.nid, i.tid",
            tids,
        ):
            rows.append(
                IndexRow(
                    nid=int(nid),
                    tid=int(tid),
                    sticky=int(sticky),
                    created=int(created),
                    kind=ctx.unloadable_state(int(tid)),
                )
            )
    # Distinct nids come from the nid index alone; only the missing nodes' rows are read.
    gone = [
        int(r[0])
        for r in ctx.source.stream(
            "SELECT i.nid FROM (SELECT DISTINCT nid FROM {taxonomy_index}) i"
            " LEFT JOIN {node} n ON n.nid = i.nid WHERE n.nid IS NULL ORDER BY i.nid"
        )
    ]
    for start in range(0, len(gone), 500):
        chunk = gone[start : start + 500]
        for nid, tid, sticky, created in ctx.source.stream(
            "SELECT i.nid, i.tid, i.sticky, i.created FROM {taxonomy_index} i WHERE "
            + ctx.in_list("i.nid", chunk)
            + " ORDER BY i.nid, i.tid",
            chunk,
        ):
            rows.append(
                IndexRow(
                    nid=int(nid),
                    tid=int(tid),
                    sticky=int(sticky),
                    created=int(created),
                    kind="node_missing",
                )
            )
    seen: set[tuple[int, int]] = set()
    for row in sorted(rows, key=lambda r: (r.nid, r.tid, r.sticky, r.created, r.kind)):
        nid, tid = row.nid, row.tid
        if (nid, tid) in seen:
            continue
        seen.add((nid, tid))
        if row.kind == "node_missing":
            why = f"node {nid} does not exist"
        else:
            why = f"{ctx.term_label(tid)} does not load ({row.kind.replace('_', ' ')})"
        yield Finding(
            "taxonomy.index_dangling",
            Severity.WARNING,
            f"taxonomy_index ({nid}, {tid}): {why}",
            row,
            "delete the index row (core rebuilds it when the node is saved)",
        )


def _index_fields(ctx: AuditContext) -> list[tuple[FieldInfo, str]]:
    return [(info, info.storage.column("tid")) for info in ctx.node_term_fields]


@check(
    "taxonomy.index_stale",
    severity=Severity.WARNING,
    title="taxonomy_index disagrees with the current revisions",
    weight=3,
    repair=True,
    reads=("taxonomy_index", "@term_data"),
)
def index_stale(ctx: AuditContext) -> Iterator[Finding]:
    """Index rows core would not build, and rows it would build but are missing.

    Core indexes published nodes only, from the current revision's term fields;
    unloadable terms are left to taxonomy.index_dangling.
    """
    if not ctx.has("taxonomy_index") or not ctx.node_term_fields:
        return
    rows: list[StaleIndexRow] = []
    # x = 1: an index row, x = 2: a current field row. A (nid, tid) group holding
    # only one kind is stale or missing; MIN = MAX finds those in one aggregate.
    union = " UNION ALL ".join(
        ["SELECT i.nid AS nid, i.tid AS tid, 1 AS x FROM {taxonomy_index} i"]
        + [
            f"SELECT f.entity_id, f.{col}, 2 FROM {{{info.storage.data_table}}} f"
            " WHERE f.entity_type = 'node' AND f.deleted = 0"
            for info, col in _index_fields(ctx)
        ]
    )
    # One sequential pass and a GROUP BY instead of millions of index lookups.
    ctx.allow_large_sorts()
    for nid, tid, only, status in ctx.source.stream(
        f"SELECT g.nid, g.tid, g.x, n.status FROM (SELECT {ctx.sorted_grouping()}"
        " u.nid, u.tid, MIN(u.x) AS x"
        f" FROM ({union}) u GROUP BY u.nid, u.tid HAVING MIN(u.x) = MAX(u.x)) g"
        " INNER JOIN {node} n ON n.nid = g.nid"
    ):
        if tid is None or not ctx.loadable(int(tid)):
            continue
        if int(only) == 2:
            if int(status) == 1:
                rows.append(StaleIndexRow(nid=int(nid), tid=int(tid), kind="missing_row"))
        else:
            kind: Literal["not_in_current_revision", "unpublished_node"] = (
                "not_in_current_revision" if int(status) == 1 else "unpublished_node"
            )
            rows.append(StaleIndexRow(nid=int(nid), tid=int(tid), kind=kind))
    for nid, tid in ctx.source.stream(
        "SELECT i.nid, i.tid FROM {node} n INNER JOIN {taxonomy_index} i ON i.nid = n.nid"
        " WHERE n.status <> 1"
    ):
        if ctx.loadable(int(tid)):
            rows.append(StaleIndexRow(nid=int(nid), tid=int(tid), kind="unpublished_node"))
    for row in sorted(set(rows), key=lambda r: (r.nid, r.tid, r.kind)):
        nid, tid = row.nid, row.tid
        why = {
            "missing_row": f"published node {nid} references it but the index lacks it",
            "unpublished_node": f"node {nid} is unpublished",
            "not_in_current_revision": f"node {nid}'s current revision does not reference it",
        }[row.kind]
        yield Finding(
            "taxonomy.index_stale",
            Severity.WARNING,
            f"taxonomy_index ({nid}, {tid}): {why}",
            row,
            "insert the index row" if row.kind == "missing_row" else "delete the index row",
        )


@check(
    "taxonomy.wrong_vocabulary",
    severity=Severity.WARNING,
    title="References to terms of a vocabulary the field does not allow",
    repair=True,
    reads=("@term_data", "@term_revision"),
)
def wrong_vocabulary(ctx: AuditContext) -> Iterator[Finding]:
    """Loadable terms referenced from a field whose settings do not allow their vocabulary.

    Drupal's widgets would reject them on the next edit of the node.
    """
    for info in ctx.node_term_fields:
        if not info.allowed_vocabularies:
            continue
        col = info.storage.column("tid")
        for table in (info.storage.data_table, info.storage.revision_table):
            wrong = [
                t
                for t in ctx.distinct_tids(table, col)
                if ctx.loadable(t) and ctx.vocabulary_of(t) not in info.allowed_vocabularies
            ]
            if not wrong:
                continue
            sql = (
                f"SELECT f.entity_type, f.entity_id, f.revision_id, f.language, f.delta, f.{col}"
                f" FROM {{{table}}} f WHERE f.deleted = 0 AND "
                + ctx.in_list(f"f.{col}", wrong)
                + " ORDER BY f.entity_type, f.entity_id, f.revision_id, f.delta, f.language"
            )
            for etype, eid, rev, lang, delta, tid in ctx.source.stream(sql, wrong):
                vocabulary = ctx.vocabulary_of(int(tid))
                yield Finding(
                    "taxonomy.wrong_vocabulary",
                    Severity.WARNING,
                    f"{etype} {eid} revision {rev}: {info.field_name}[{lang}][{delta}] →"
                    f" {ctx.term_label(int(tid))} of vocabulary {vocabulary!r}, not allowed"
                    f" ({', '.join(info.allowed_vocabularies)})",
                    WrongVocabularyRef(
                        entity_type=str(etype),
                        entity_id=int(eid),
                        table=table,
                        vid=int(rev),
                        field=info.field_name,
                        language=str(lang),
                        delta=int(delta),
                        tid=int(tid),
                        vocabulary=str(vocabulary),
                    ),
                    "move the reference to a field that allows the vocabulary, or remap it",
                )
