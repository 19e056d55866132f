"""The public functions: what the CLI calls, and what Python callers use directly.

Each takes a ``SourceSpec`` (where the Drupal data is) and plain options, and
returns typed results. Nothing here prints or exits.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from migrate import config
from migrate.audit import AuditReport, run_audit
from migrate.errors import BadInput
from migrate.identifiers import Prefix
from migrate.inspect import InspectReport, inspect_site
from migrate.progress import Progress
from migrate.schema import Drupal7
from migrate.source import DumpSpec, SourceSpec, open_source


def source_spec(
    *,
    db: str | None = None,
    settings: Path | None = None,
    defaults_file: Path | None = None,
    dump: Path | None = None,
    prefix: str | None = None,
    cache_dir: Path | None = None,
    refresh: bool = False,
    all_tables: bool = False,
) -> SourceSpec:
    """Turn the user's connection options into one spec; a dump wins over credentials."""
    if dump is not None:
        if db or settings or defaults_file:
            raise BadInput("give either --dump or database credentials, not both")
        return DumpSpec(dump, Prefix(prefix or ""), cache_dir, refresh, all_tables)
    return config.resolve(db, settings, defaults_file, prefix)


@contextmanager
def connect(spec: SourceSpec, *, readonly: bool = True) -> Iterator[Drupal7]:
    """Open the source and verify it is Drupal 7; closed on exit."""
    source = open_source(spec, readonly=readonly)
    try:
        yield Drupal7(source)
    finally:
        source.close()


def inspect(spec: SourceSpec) -> InspectReport:
    with connect(spec) as site:
        return inspect_site(site)


def audit(
    spec: SourceSpec,
    checks: Sequence[str] = ("*",),
    *,
    base_hosts: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> AuditReport:
    """Run the selected audit checks (glob patterns) read-only against the site.

    ``base_hosts`` are the site's own host names, for recognising absolute links
    in bodies; without them any http(s) host counts as the site.
    """
    with connect(spec, readonly=True) as site:
        return run_audit(site, checks, progress, base_hosts=base_hosts)
