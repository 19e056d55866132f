"""Sources of Drupal data: a live MariaDB/MySQL server or a dump file loaded into SQLite."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from migrate.config import ConnectionSpec
from migrate.identifiers import Prefix, check_identifier
from migrate.source.base import Source

if TYPE_CHECKING:
    from migrate.source.sqlite import SQLiteSource


@dataclass(frozen=True)
class DumpSpec:
    """A mysqldump/phpMyAdmin file to read instead of a server."""

    path: Path
    prefix: Prefix = field(default_factory=Prefix)
    cache_dir: Path | None = None
    refresh: bool = False
    all_tables: bool = False
    progress: Callable[[int, int], None] | None = field(default=None, compare=False, repr=False)
    """Told ``(bytes read, file size)`` while the dump is loaded into its cache."""

    @property
    def safe_url(self) -> str:
        return str(self.path)


SourceSpec = ConnectionSpec | DumpSpec


def open_source(spec: SourceSpec, *, readonly: bool = True) -> Source:
    """Open the database the user pointed at; read-only unless a repair asks otherwise."""
    if isinstance(spec, DumpSpec):
        return _open_dump(spec)
    from migrate.source.mysql import MySQLSource

    return MySQLSource(spec, readonly=readonly)


def _open_dump(spec: DumpSpec) -> SQLiteSource:
    from migrate.source.dump import open_dump

    return open_dump(
        spec.path,
        prefix=spec.prefix,
        cache_dir=spec.cache_dir,
        refresh=spec.refresh,
        all_tables=spec.all_tables,
        progress=spec.progress,
    )


def open_sources(spec: SourceSpec, count: int) -> tuple[list[Source], str | None]:
    """Up to ``count`` read-only sources that see the same data, for side-by-side reads.

    The first is the one ``open_source`` gives. A dump's cache file never changes,
    so more readers of it agree by construction; a server needs its snapshots
    aligned (see ``MySQLSource.snapshots``). When fewer than asked can be had, the
    second value says why.
    """
    if isinstance(spec, DumpSpec):
        from migrate.source.sqlite import SQLiteSource

        first = _open_dump(spec)
        twins = [
            SQLiteSource(first.path, first.prefix, label=first.label) for _ in range(count - 1)
        ]
        return [first, *twins], None
    from migrate.source.mysql import MySQLSource

    sources, why = MySQLSource.snapshots(spec, count)
    return list(sources), why


__all__ = [
    "DumpSpec",
    "Prefix",
    "Source",
    "SourceSpec",
    "check_identifier",
    "open_source",
    "open_sources",
]
