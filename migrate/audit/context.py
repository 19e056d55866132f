"""What several checks need, computed once per audit and kept small.

Sets and maps keyed by term id are held in memory (a site has thousands of
terms, not millions); anything per node or per field row is streamed by the
checks themselves. ``cached`` memoises a derived value so checks that share an
expensive scan (the body-link scan) run it once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, TypeVar

from migrate.links import AliasResolver, term_id_of
from migrate.records import FieldInfo
from migrate.schema import Drupal7
from migrate.source.base import Source

T = TypeVar("T")

TermState = Literal["term_row_missing", "vocabulary_missing"]
TERM_ROW_MISSING: TermState = "term_row_missing"
VOCABULARY_MISSING: TermState = "vocabulary_missing"


@dataclass(frozen=True)
class TermRow:
    tid: int
    vid: int
    name: str
    weight: int


def _field_tables(
    types: tuple[str, ...] | None, revision: bool | None
) -> Callable[[AuditContext], list[str]]:
    """The data and/or revision tables of node fields of ``types`` (None: every type)."""

    def tables(ctx: AuditContext) -> list[str]:
        infos = sorted(ctx.site.fields.values(), key=lambda f: f.field_name)
        if types is not None:
            infos = [f for f in infos if f.type in types]
        if types != ("taxonomy_term_reference",):
            infos = [f for f in infos if f.bundles_of("node")]
        return [
            table
            for f in infos
            for table, is_revision in (
                (f.storage.data_table, False),
                (f.storage.revision_table, True),
            )
            if revision is None or revision == is_revision
        ]

    return tables


_TEXT = ("text_with_summary", "text_long", "text")
FIELD_GROUPS: dict[str, Callable[[AuditContext], list[str]]] = {
    "@term_data": _field_tables(("taxonomy_term_reference",), False),
    "@term_revision": _field_tables(("taxonomy_term_reference",), True),
    "@text_data": _field_tables(_TEXT, False),
    "@text_revision": _field_tables(_TEXT, True),
    "@node_fields": _field_tables(None, None),
}
MODULE_TABLES = {
    "taxonomy_breadcrumb_term": "taxonomy_breadcrumb",
    "taxonomy_breadcrumb_vocabulary": "taxonomy_breadcrumb",
}


@dataclass(frozen=True)
class TermMenuLink:
    """A menu link whose path is a term page."""

    mlid: int
    menu_name: str
    link_path: str
    link_title: str
    hidden: int
    tid: int | None


class SharedMemo:
    """Values derived once per audit, shared by the contexts of a side-by-side run.

    A second thread asking for a value being computed waits for it instead of
    running the same scan again.
    """

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: str, factory: Callable[[], T]) -> T:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._values:
                self._values[key] = factory()
            value: T = self._values[key]
            return value


class AuditContext:
    """The site under audit plus the shared, term-sized facts about it."""

    def __init__(
        self,
        site: Drupal7,
        *,
        base_hosts: Sequence[str] | None = None,
        memo: SharedMemo | None = None,
    ) -> None:
        self.site = site
        self.source: Source = site.source
        self.base_hosts = list(base_hosts) if base_hosts else None
        self._memo = memo or SharedMemo()
        self._session: set[str] = set()
        self.aliases = AliasResolver(self.source)
        self._load_term_facts()

    def _load_term_facts(self) -> None:
        """Read the term-sized facts now: checks consult them while a stream is open,
        and a MariaDB connection cannot run a second query in the middle of one."""
        _ = (self.terms, self.loadable_tids, self.node_term_fields, self.site.vocabularies)

    def cached(self, key: str, factory: Callable[[], T]) -> T:
        return self._memo.get(key, factory)

    def has(self, table: str) -> bool:
        return self.source.has_table(table)

    def expected_tables(self, reads: Iterable[str]) -> list[str]:
        """The tables of ``reads`` this site should have, groups expanded, in order.

        ``@term_data``/``@term_revision``: the tables of every term-reference field;
        ``@text_data``/``@text_revision``: of every text field on nodes; ``@node_fields``:
        both tables of every field on nodes. A module's table is expected only while the
        module is enabled. Evidence-only tables (caches, logs, search index, redirects)
        are never declared: a dump made without them is normal.
        """
        found: list[str] = []
        for name in reads:
            if name in FIELD_GROUPS:
                found += FIELD_GROUPS[name](self)
            elif name not in MODULE_TABLES or self.site.module_enabled(MODULE_TABLES[name]):
                found.append(name)
        return list(dict.fromkeys(found))

    def missing_tables(self, reads: Iterable[str]) -> list[str]:
        """The expected tables of ``reads`` that are not in the database."""
        return [table for table in self.expected_tables(reads) if not self.has(table)]

    def int_of(self, expr: str) -> str:
        """SQL turning a numeric string expression into an integer, per backend."""
        kind = "UNSIGNED" if self.source.dialect == "mysql" else "INTEGER"
        return f"CAST({expr} AS {kind})"

    def allow_large_sorts(self) -> None:
        """Let this session's GROUP BY over millions of rows stay in memory (MariaDB).

        Session-only and read-only: it raises the in-memory temporary-table limit
        for this connection (without it the server spills to disk and a million-node
        audit takes minutes instead of seconds) and the GROUP_CONCAT limit, whose
        1 KB default would silently cut the term list of a node with many tags.
        """
        if self.source.dialect == "mysql" and "large_sorts" not in self._session:
            self.source.rows(
                "SET SESSION tmp_table_size = 536870912, max_heap_table_size = 536870912,"
                " group_concat_max_len = 16777216"
            )
            self._session.add("large_sorts")

    def sorted_grouping(self) -> str:
        """SELECT modifier for a GROUP BY over millions of rows: group by sorting.

        MariaDB otherwise groups into a hashed temporary table, which measured
        1.5x slower than a filesort for the index-vs-fields comparison.
        """
        return "SQL_BIG_RESULT" if self.source.dialect == "mysql" else ""

    def contains(self, expr: str) -> str:
        """SQL: ``expr`` contains a literal (bound by ``contains_param``), byte-exact.

        MariaDB's collation-aware LIKE is several times slower than LIKE BINARY
        on large text columns; SQLite has instr().
        """
        if self.source.dialect == "mysql":
            return f"{expr} LIKE BINARY ?"
        return f"instr({expr}, ?) > 0"

    def contains_param(self, text: str) -> str:
        if self.source.dialect == "mysql":
            escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return f"%{escaped}%"
        return text

    @cached_property
    def terms(self) -> dict[int, TermRow]:
        """Every row of taxonomy_term_data, loadable or not."""
        return {
            int(tid): TermRow(int(tid), int(vid), str(name), int(weight))
            for tid, vid, name, weight in self.source.rows(
                "SELECT tid, vid, name, weight FROM {taxonomy_term_data} ORDER BY tid"
            )
        }

    @cached_property
    def loadable_tids(self) -> frozenset[int]:
        """Terms taxonomy_term_load() returns: the row exists and so does its vocabulary."""
        return frozenset(
            int(r[0])
            for r in self.source.rows(
                "SELECT t.tid FROM {taxonomy_term_data} t"
                " INNER JOIN {taxonomy_vocabulary} v ON v.vid = t.vid ORDER BY t.tid"
            )
        )

    def loadable(self, tid: int | None) -> bool:
        return tid is not None and tid in self.loadable_tids

    def term_state(self, tid: int) -> str:
        """``loadable``, ``vocabulary_missing`` or ``term_row_missing``."""
        if tid in self.loadable_tids:
            return "loadable"
        return self.unloadable_state(tid)

    def unloadable_state(self, tid: int) -> TermState:
        """Why a term that does not load does not: its row, or its vocabulary's, is gone."""
        return VOCABULARY_MISSING if tid in self.terms else TERM_ROW_MISSING

    def term_label(self, tid: int) -> str:
        row = self.terms.get(tid)
        return f"term {tid} ({row.name})" if row else f"term {tid}"

    def vocabulary_of(self, tid: int) -> str | None:
        """Machine name of a loadable term's vocabulary."""
        row = self.terms.get(tid)
        vocabulary = self.site.vocabularies.get(row.vid) if row else None
        return vocabulary.machine_name if vocabulary else None

    @cached_property
    def vocabulary_weights(self) -> dict[str, int]:
        return {v.machine_name: v.weight for v in self.site.vocabularies.values()}

    @cached_property
    def node_term_fields(self) -> list[FieldInfo]:
        """Term-reference fields (sorted by name) discovered from field_config."""
        return sorted(self.site.term_reference_fields, key=lambda f: f.field_name)

    def distinct_tids(self, table: str, column: str) -> tuple[int, ...]:
        """The tids a table's column holds: one DISTINCT over its tid index (term-sized)."""

        def distinct() -> tuple[int, ...]:
            if not self.has(table):
                return ()
            values = self.source.rows(
                f"SELECT DISTINCT {column} FROM {{{table}}} ORDER BY {column}"
            )
            return tuple(int(r[0]) for r in values if r[0] is not None)

        return self.cached(f"distinct:{table}:{column}", distinct)

    def unloadable_in(self, table: str, column: str) -> tuple[int, ...]:
        """Unloadable tids a table's column holds.

        Every dangling-reference query then reads only the broken rows by index
        (``column IN (...)``) instead of anti-joining millions of healthy rows.
        """
        return tuple(t for t in self.distinct_tids(table, column) if not self.loadable(t))

    def nid_ranges(self, width: int) -> Iterator[tuple[int, int]]:
        """Inclusive nid ranges covering every node, for scans done a slice at a time.

        A range keeps each server-side GROUP BY small and reads the field tables in
        primary-key order, where a list of ids would cost one index dive per id.
        """
        low, high = self.source.one("SELECT MIN(nid), MAX(nid) FROM {node}") or (None, None)
        if low is None or high is None:
            return
        for start in range(int(low), int(high) + 1, width):
            yield start, min(start + width - 1, int(high))

    @staticmethod
    def in_list(expr: str, values: Sequence[object]) -> str:
        """``expr IN (?, ...)`` for a non-empty list of values."""
        return f"{expr} IN ({', '.join('?' for _ in values)})"

    @cached_property
    def term_aliases(self) -> dict[str, str]:
        """alias → source for every alias of a term path (few: one per term)."""
        if not self.has("url_alias"):
            return {}
        return self.aliases.preload("taxonomy/term/%")

    @cached_property
    def term_alias_rows(self) -> list[tuple[int, str, str, str]]:
        """(pid, source, alias, language) of term aliases, by pid."""
        if not self.has("url_alias"):
            return []
        return [
            (int(pid), str(src), str(alias), str(lang))
            for pid, src, alias, lang in self.source.rows(
                "SELECT pid, source, alias, language FROM {url_alias}"
                " WHERE source LIKE ? ORDER BY pid",
                ("taxonomy/term/%",),
            )
        ]

    @cached_property
    def aliased_tids(self) -> frozenset[int]:
        return frozenset(
            tid for _, src, _, _ in self.term_alias_rows if (tid := term_id_of(src)) is not None
        )

    @cached_property
    def term_menu_links(self) -> list[TermMenuLink]:
        """Menu links whose path is a term page (few), by mlid."""
        if not self.has("menu_links"):
            return []
        return [
            TermMenuLink(
                int(mlid), str(menu), str(path), str(title), int(hidden), term_id_of(str(path))
            )
            for mlid, menu, path, title, hidden in self.source.rows(
                "SELECT mlid, menu_name, link_path, link_title, hidden FROM {menu_links}"
                " WHERE link_path LIKE ? ORDER BY mlid",
                ("taxonomy/term/%",),
            )
        ]

    @cached_property
    def dangling_current_by_node(self) -> dict[int, frozenset[int]]:
        """nid → unloadable tids its current revision references (size of the breakage)."""
        return self._unloadable_by_node(revisions=False)

    @cached_property
    def dead_terms_by_node(self) -> dict[int, frozenset[int]]:
        """nid → unloadable tids any of its revisions references (old ones included).

        A link in a body to an alias Drupal deleted with its term can only name one of
        these; the audit and ``recover`` attribute such links from this one map.
        """
        return self._unloadable_by_node(revisions=True)

    def _unloadable_by_node(self, revisions: bool) -> dict[int, frozenset[int]]:
        """nid → unloadable tids in the term fields' data (or revision) tables."""
        found: dict[int, set[int]] = {}
        for info in self.node_term_fields:
            col = info.storage.column("tid")
            table = info.storage.revision_table if revisions else info.storage.data_table
            tids = self.unloadable_in(table, col)
            if not tids:
                continue
            for nid, tid in self.source.stream(
                f"SELECT f.entity_id, f.{col} FROM {{{table}}} f WHERE "
                + self.in_list(f"f.{col}", tids)
                + " AND f.entity_type = 'node' AND f.deleted = 0 ORDER BY f.entity_id",
                tids,
            ):
                found.setdefault(int(nid), set()).add(int(tid))
        return {nid: frozenset(tids) for nid, tids in sorted(found.items())}

    @cached_property
    def referenced_unloadable_tids(self) -> frozenset[int]:
        """Unloadable tids anything still points at: fields, index, aliases, menus, hierarchy."""
        tids: set[int] = set()
        for info in self.node_term_fields:
            col = info.storage.column("tid")
            for table in (info.storage.data_table, info.storage.revision_table):
                tids.update(self.unloadable_in(table, col))
        tids.update(self.unloadable_in("taxonomy_index", "tid"))
        for tid, parent in self.source.rows(
            "SELECT tid, parent FROM {taxonomy_term_hierarchy} ORDER BY tid, parent"
        ):
            tids.update(t for t in (int(tid), int(parent)) if t and not self.loadable(t))
        tids.update(t for t in self.aliased_tids if not self.loadable(t))
        tids.update(m.tid for m in self.term_menu_links if m.tid and not self.loadable(m.tid))
        tids.update(self.unloadable_in("taxonomy_breadcrumb_term", "tid"))
        tids.update(t for t in self.terms if not self.loadable(t))
        return frozenset(tids)
