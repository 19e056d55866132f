"""The one executor of plans: preconditions, journal, batched transactions, verify, caches.

Order matters for safety. Every precondition is checked before the first write
(so a changed database refuses with nothing written); each operation's
before-image is fsynced to the journal before its statement runs; each batch
is one transaction; afterwards the plan's audit checks run again and Drupal's
caches for the touched entities are cleared (journaled like any other change,
so undo restores them too).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrate.errors import PreconditionFailed
from migrate.repair import sql
from migrate.repair.journal import JournalWriter
from migrate.repair.operations import Operation, Plan, fingerprint, read_rows
from migrate.schema import Drupal7

TRANSACTIONAL_ENGINES = {"innodb", "xtradb", "tokudb", "rocksdb", "ndbcluster"}
_TERM = re.compile(r"taxonomy/term/(\d+)")


@dataclass
class ApplyReport:
    journal: Path
    operations: int
    batches: int
    seconds: float
    before: dict[str, int]
    after: dict[str, int]
    caches: dict[str, int] = field(default_factory=dict)
    tables: list[str] = field(default_factory=list)
    non_transactional: list[str] = field(default_factory=list)
    cache_ops: list[Operation] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "journal": str(self.journal),
            "operations": self.operations,
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
            "findings_before": self.before,
            "findings_after": self.after,
            "caches_cleared": self.caches,
            "tables": self.tables,
            "non_transactional": self.non_transactional,
        }


def _describe(op: Operation) -> str:
    key = ", ".join(f"{k}={v!r}" for k, v in op.key.items())
    return f"{op.table} ({key})"


def _check(site: Drupal7, op: Operation) -> tuple[list[dict[str, Any]], str | None]:
    """The rows an operation will change, and what is wrong with them, if anything."""
    rows = read_rows(site.source, op.table, op.key)
    if op.kind == "insert":
        return (
            rows,
            f"{_describe(op)}: a row now exists where the plan inserts one" if rows else None,
        )
    if op.after_prior:
        return rows, None
    if not rows:
        return rows, f"{_describe(op)}: row is gone since the plan"
    if fingerprint(rows) != op.before:
        return rows, f"{_describe(op)}: row changed since the plan"
    return rows, None


def preconditions(site: Drupal7, plan: Plan) -> None:
    """Refuse, naming what changed, unless every row is still as the planner read it."""
    problems = []
    for op in plan.operations:
        if op.after_prior:
            continue
        _, problem = _check(site, op)
        if problem:
            problems.append(problem)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise PreconditionFailed(
            f"database changed since the plan; nothing written: {'; '.join(problems[:3])}{more}"
        )


def engines(site: Drupal7, tables: list[str]) -> list[str]:
    """Tables whose engine cannot roll back (MyISAM, Aria, MEMORY ...)."""
    if site.source.dialect == "sqlite":
        return []
    found = []
    for table in tables:
        engine = site.source.table_engine(table)
        if engine and engine.lower() not in TRANSACTIONAL_ENGINES:
            found.append(f"{table} ({engine})")
    return found


def _run(site: Drupal7, op: Operation) -> None:
    site.source.execute(*sql.bound(sql.render(op), op.table))


def _cache_targets(plan: Plan) -> tuple[set[str], list[str]]:
    """The cache_field ids of touched nodes and terms, and the cache tables to empty."""
    nids = {int(op.key["nid"]) for op in plan.operations if "nid" in op.key}
    nids |= {
        int(op.key["entity_id"])
        for op in plan.operations
        if op.key.get("entity_type") == "node" and "entity_id" in op.key
    }
    tids = {op.tid for op in plan.operations if op.tid is not None}
    cids = {f"field:node:{n}" for n in nids} | {f"field:taxonomy_term:{t}" for t in tids}
    tables = set(plan.tables())
    full = ["cache_page"]
    if "menu_links" in tables or "taxonomy_term_data" in tables:
        full.append("cache_menu")
    if "url_alias" in tables:
        full.append("cache_path")
    return cids, full


def cache_operations(site: Drupal7, plan: Plan) -> list[Operation]:
    """Deletes of the cache rows Drupal would hold stale data in after these changes."""
    src = site.source
    cids, full = _cache_targets(plan)
    wanted: list[tuple[str, str]] = []
    if src.has_table("cache_field"):
        wanted += [
            ("cache_field", str(c))
            for (c,) in src.rows("SELECT cid FROM {cache_field}")
            if str(c) in cids
        ]
    for table in full:
        if src.has_table(table):
            wanted += [(table, str(c)) for (c,) in src.rows(f"SELECT cid FROM {{{table}}}")]
    ops = []
    for table, cid in wanted:
        rows = read_rows(src, table, {"cid": cid})
        ops.append(
            Operation(
                "delete",
                table,
                {"cid": cid},
                fingerprint(rows),
                rows=len(rows),
                reason="cache clear",
            )
        )
    return ops


def unloaded_cache_operations(plan: Plan, tables: set[str]) -> list[Operation]:
    """Cache clearing for a SQL patch, on cache tables a dump declares but the copy lacks."""
    cids, full = _cache_targets(plan)
    ops = []
    if "cache_field" in tables:
        ops += [
            Operation("delete", "cache_field", {"cid": c}, None, reason="cache clear")
            for c in sorted(cids)
        ]
    ops += [Operation("delete", t, {}, None, reason="cache clear") for t in full if t in tables]
    return ops


def _batches(ops: list[Operation], size: int) -> Iterator[list[Operation]]:
    for start in range(0, len(ops), size):
        yield ops[start : start + size]


def apply_plan(
    site: Drupal7,
    plan: Plan,
    journal_path: Path,
    *,
    keep_caches: bool = False,
    allow_non_transactional: bool = False,
    batch_size: int = 500,
    audit: Callable[[Drupal7, list[str]], dict[str, int]] | None = None,
) -> ApplyReport:
    """Apply a plan; the journal at ``journal_path`` is what ``undo`` reads back."""
    started = time.monotonic()
    plan.check_schema(site.source)
    tables = plan.tables()
    cache_tables = [
        t
        for t in ("cache_field", "cache_page", "cache_menu", "cache_path")
        if site.source.has_table(t)
    ]
    risky = engines(site, tables + ([] if keep_caches else cache_tables))
    if risky and not allow_non_transactional:
        raise PreconditionFailed(
            f"table(s) cannot roll back: {', '.join(risky)}; nothing written"
            " (convert them to InnoDB, or pass --allow-non-transactional to rely on the journal)"
        )
    preconditions(site, plan)
    before = audit(site, plan.checks) if audit else {}
    journal = JournalWriter(
        journal_path,
        source=site.source,
        plan=plan.created,
        operations=len(plan.operations),
        transactional=not risky,
    )
    batches = 0
    try:
        ops = list(plan.operations)
        for batch in _batches(ops, batch_size):
            batches += 1
            _apply_batch(site, journal, batch, batches)
        cache_ops = [] if keep_caches else cache_operations(site, plan)
        if cache_ops:
            batches += 1
            _apply_batch(site, journal, cache_ops, batches)
        # The state undo compares with: every row set as the whole apply left it.
        journal.mark(
            "finished",
            operations=len(ops),
            caches=len(cache_ops),
            state=journal.states(site.source),
        )
    finally:
        journal.close()
    after = audit(Drupal7(site.source), plan.checks) if audit else {}  # fresh schema caches
    cleared: dict[str, int] = {}
    for op in cache_ops:
        cleared[op.table] = cleared.get(op.table, 0) + 1
    return ApplyReport(
        journal_path,
        len(plan.operations),
        batches,
        time.monotonic() - started,
        before,
        after,
        cleared,
        tables,
        risky,
        cache_ops,
    )


def _apply_batch(
    site: Drupal7, journal: JournalWriter, batch: list[Operation], number: int
) -> None:
    first = journal.seq
    with site.source.transaction():
        for index, op in enumerate(batch):
            rows, problem = _check(site, op)
            if problem:
                raise PreconditionFailed(f"{problem} (batch {number} rolled back)")
            journal.before(number, index, op.table, op.key, op.new_key, rows)
            _run(site, op)
        state = journal.states(site.source, since=first)
    journal.commit(number, state)
