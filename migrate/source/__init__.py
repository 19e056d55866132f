"""Sources of Drupal data: a live MariaDB/MySQL server or a dump file loaded into SQLite."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from migrate.config import ConnectionSpec
from migrate.identifiers import Prefix, check_identifier
from migrate.source.base import Source


@dataclass(frozen=True)
class DumpSpec:
    """A mysqldump/phpMyAdmin file to read instead of a server."""

    path: Path
    prefix: Prefix = field(default_factory=Prefix)
    cache_dir: Path | None = None
    refresh: bool = False
    all_tables: bool = False

    @property
    def safe_url(self) -> str:
        return str(self.path)


SourceSpec = ConnectionSpec | DumpSpec


def open_source(spec: SourceSpec, *, readonly: bool = True) -> Source:
    """Open the database the user pointed at; read-only unless a repair asks otherwise."""
    if isinstance(spec, DumpSpec):
        from migrate.source.dump import open_dump

        return open_dump(
            spec.path,
            prefix=spec.prefix,
            cache_dir=spec.cache_dir,
            refresh=spec.refresh,
            all_tables=spec.all_tables,
        )
    from migrate.source.mysql import MySQLSource

    return MySQLSource(spec, readonly=readonly)


__all__ = ["DumpSpec", "Prefix", "Source", "SourceSpec", "check_identifier", "open_source"]
