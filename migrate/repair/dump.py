"""Repairing a site that exists only as a dump file: nothing is changed in place.

The plan is applied to a copy of the cached SQLite database, journaled and
verified like any apply, and written out for MariaDB twice: ``repair.sql``, the
patch to load on top of the original dump, and ``repaired.sql.gz``, the original
followed by that patch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from migrate.identifiers import Prefix
from migrate.repair.applier import ApplyReport, apply_plan, unloaded_cache_operations
from migrate.repair.operations import Plan
from migrate.repair.sql import render_sql, write_repaired_dump
from migrate.schema import Drupal7
from migrate.source import DumpSpec
from migrate.source.dump import open_dump


def unprefixed(prefix: Prefix, name: str) -> str | None:
    """The Drupal table name of a physical table of this site, or None (another site's)."""
    for table, table_prefix in prefix.per_table.items():
        if table_prefix + table == name:
            return table
    if name.startswith(prefix.default):
        table = name[len(prefix.default) :]
        if prefix.apply(table) == name:
            return table
    return None


def apply_to_dump(
    spec: DumpSpec,
    plan: Plan,
    out: Path,
    *,
    journal: Path | None,
    keep_caches: bool,
    allow_non_transactional: bool,
    batch_size: int,
    audit: Callable[[Drupal7, list[str]], dict[str, int]],
) -> ApplyReport:
    """Apply ``plan`` to a copy of the dump's database and write the patch and repaired dump."""
    out.mkdir(parents=True, exist_ok=True)
    source = open_dump(
        spec.path,
        prefix=spec.prefix,
        cache_dir=spec.cache_dir,
        refresh=spec.refresh,
        all_tables=spec.all_tables,
    )
    try:
        copy = source.copy(out / "repaired.sqlite")
        # The prefix as detected in the dump: the patch must name the tables it declared.
        prefix = source.prefix
        unloaded = {
            table
            for name, _engine, loaded, _rows in source.dump_tables()
            if not loaded and (table := unprefixed(prefix, name)) is not None
        }
    finally:
        source.close()
    with copy:
        report = apply_plan(
            Drupal7(copy),
            plan,
            journal or out / "journal.jsonl",
            keep_caches=keep_caches,
            allow_non_transactional=allow_non_transactional,
            batch_size=batch_size,
            audit=audit,
        )
    extra = report.cache_ops
    if not keep_caches:
        in_patch = unloaded_cache_operations(plan, unloaded)
        for op in in_patch:
            label = f"{op.table} (in repair.sql)"
            report.caches[label] = report.caches.get(label, 0) + 1
        extra = extra + in_patch
    patch = render_sql(plan, prefix, extra, title="patch")
    (out / "repair.sql").write_text(patch, encoding="utf-8")
    write_repaired_dump(spec.path, patch, out / "repaired.sql.gz")
    return report
