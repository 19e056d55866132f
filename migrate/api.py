"""The public functions: what the CLI calls, and what Python callers use directly.

Each takes a ``SourceSpec`` (where the Drupal data is) and plain options, and
returns typed results. Nothing here prints or exits.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from migrate import config
from migrate.audit import AuditReport, run_audit
from migrate.durable import write_durably
from migrate.errors import BadInput
from migrate.identifiers import Prefix
from migrate.inspect import InspectReport, inspect_site
from migrate.progress import Progress
from migrate.repair.applier import ApplyReport
from migrate.repair.evidence import RecoverReport, recover_terms
from migrate.repair.journal import UndoReport
from migrate.repair.operations import Plan
from migrate.schema import Drupal7
from migrate.source import DumpSpec, SourceSpec, open_source, open_sources

if TYPE_CHECKING:
    from migrate.export.engine import ExportOptions, ExportSummary, RollbackSummary, StatusReport
    from migrate.export.redirects import RedirectMap
    from migrate.fixture.records import ExtractOptions as FixtureOptions
    from migrate.fixture.records import FixtureReport
    from migrate.pipeline import Confirm, Notify, PlanSummary, ProgressFactory, RunResult
    from migrate.profile import Discovery, Profile, SiteProfile


@dataclass(frozen=True)
class RedirectsResult:
    """A rendered redirect map, the map itself, and old URLs that lead nowhere."""

    text: str
    map: RedirectMap
    unresolved: list[str]


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
    jobs: int = 1,
) -> AuditReport:
    """Run the selected audit checks (glob patterns) read-only against the site.

    ``base_hosts`` are the site's own host names, for recognising absolute links
    in bodies; without them any http(s) host counts as the site. ``jobs`` > 1
    runs checks side by side on that many connections whose snapshots are
    aligned; the report's notes say when fewer could be had.
    """
    if jobs < 1:
        raise BadInput(f"--jobs must be at least 1, not {jobs}")
    sources, why = open_sources(spec, jobs)
    try:
        sites = [Drupal7(source) for source in sources]
        report = run_audit(sites[0], checks, progress, base_hosts=base_hosts, twins=sites[1:])
    finally:
        for source in sources:
            source.close()
    if why:
        report.notes.append(f"ran on 1 connection instead of {jobs}: {why}")
    return report


def _finding_counts(site: Drupal7, checks: list[str]) -> dict[str, int]:
    report = run_audit(site, checks)
    try:
        return {r.id: r.count for r in report.checks}
    finally:
        report.close()


def recover(spec: SourceSpec, compare: SourceSpec | None = None) -> RecoverReport:
    """Every piece of evidence per missing tid; with ``compare``, which names match that site."""
    from migrate.repair.planner import REPAIR_CHECKS, body_link_entities, missing_terms

    with connect(spec) as site:
        report = run_audit(site, REPAIR_CHECKS)
        try:
            findings = [f for r in report.checks for f in r.iter_findings()]
        finally:
            report.close()
        missing, _ = missing_terms(findings)
        recovery = recover_terms(site, missing, body_link_entities(findings))
    reference: dict[int, str] = {}
    if compare is not None:
        with connect(compare) as other:
            reference = {
                int(t): str(n)
                for t, n in other.source.rows("SELECT tid, name FROM {taxonomy_term_data}")
            }
    return RecoverReport(recovery, reference)


def plan_repair(
    spec: SourceSpec, mapping: Path | None = None, strategies: Sequence[str] = ()
) -> Plan:
    """Read-only: findings of the taxonomy and link checks → a plan of row operations."""
    from migrate.repair.mapping import load_mapping
    from migrate.repair.planner import REPAIR_CHECKS, build_plan, parse_strategies

    loaded = load_mapping(mapping) if mapping else None
    overrides = parse_strategies(strategies)
    with connect(spec) as site:
        report = run_audit(site, REPAIR_CHECKS)
        try:
            findings = [f for r in report.checks for f in r.iter_findings()]
        finally:
            report.close()
        return build_plan(site, findings, mapping=loaded, strategies=overrides)


def write_plan(plan: Plan, path: Path) -> list[Path]:
    """Write the plan, and next to it the web-server rules of the redirects it cannot make
    in the database (no redirect module); every file written, the plan first."""
    from migrate.durable import write_durably
    from migrate.repair.redirects import write_rules

    write_durably(path, plan.to_json())
    return [path, *write_rules(plan.redirects, path)]


def plan_sql(spec: SourceSpec, plan: Plan) -> str:
    """The plan as a SQL script for the site's table prefix."""
    from migrate.repair.sql import render_sql

    if isinstance(spec, DumpSpec):
        # A dump's prefix is detected when it is read: the script must name its tables.
        with connect(spec) as site:
            return render_sql(plan, site.source.prefix)
    return render_sql(plan, spec.prefix if spec.prefix else Prefix(""))


def apply_repair(
    spec: SourceSpec,
    plan: Plan,
    *,
    yes: bool,
    keep_caches: bool = False,
    allow_non_transactional: bool = False,
    out: Path | None = None,
    journal: Path | None = None,
    batch_size: int = 500,
) -> ApplyReport:
    """Apply a plan (confirmed by the caller: ``yes``); on a dump, write a repaired copy to ``out``.

    On a database the journal goes to ``journal`` (default: a timestamped file in
    the current directory). On a dump the database is a copy of the cached
    SQLite file in ``out``, next to ``repair.sql`` (the patch to load on top of
    the original dump), ``repaired.sql.gz`` (original + patch, loads on its own)
    and the journal.
    """
    from migrate.repair.applier import apply_plan
    from migrate.repair.dump import apply_to_dump

    if not yes:
        raise BadInput("repair apply needs confirmation (--yes)")
    stamp = time.strftime("%Y%m%dT%H%M%S")
    if isinstance(spec, DumpSpec):
        if out is None:
            raise BadInput("applying to a --dump needs --out DIR for the repaired copy")
        return apply_to_dump(
            spec,
            plan,
            out,
            journal=journal,
            keep_caches=keep_caches,
            allow_non_transactional=allow_non_transactional,
            batch_size=batch_size,
            audit=_finding_counts,
        )
    with connect(spec, readonly=False) as site:
        return apply_plan(
            site,
            plan,
            journal or Path(f"repair-journal-{stamp}.jsonl"),
            keep_caches=keep_caches,
            allow_non_transactional=allow_non_transactional,
            batch_size=batch_size,
            audit=_finding_counts,
        )


def undo_repair(spec: SourceSpec, journal: Path, *, force: bool = False) -> UndoReport:
    """Restore every row a journaled apply touched, on the database it belongs to only.

    ``force`` accepts a journal recorded through another server address or under
    another database name (same prefix), still only when every row is as the
    apply left it; nothing else is forced.
    """
    from migrate.repair.journal import describe_target, read_journal, undo_journal

    if isinstance(spec, DumpSpec):
        target = read_journal(journal).target
        if target["kind"] == "dump":
            raise BadInput(
                f"{journal}: a dump is never changed (the repair of {target['dump']} went to"
                f" the copy {target['copy']}): to go back, delete the apply's --out files"
            )
        raise BadInput(
            f"{journal}: journal of {describe_target(target)}: undo it with --db, not --dump"
        )
    with connect(spec, readonly=False) as site:
        return undo_journal(site.source, journal, force=force)


def export(
    spec: SourceSpec,
    out_dir: Path,
    options: ExportOptions,
    progress: Progress | None = None,
) -> ExportSummary:
    """Export the site into ``out_dir`` in resumable, idempotent batches (see engine).

    A server gets more connections on the export's snapshot for its whole-table
    digests (``engine.DIGEST_CONNECTIONS``); a dump's are taken row by row here, so
    more threads would not make them sooner.
    """
    from migrate.export import engine

    if isinstance(spec, DumpSpec):
        with connect(spec) as site:
            return engine.export(site, out_dir, options, progress)
    sources, _ = open_sources(spec, 1 + engine.DIGEST_CONNECTIONS)
    try:
        site = Drupal7(sources[0])
        return engine.export(site, out_dir, options, progress, twins=sources[1:])
    finally:
        for source in sources:
            source.close()


def status(out_dir: Path) -> StatusReport:
    """Runs, batches, counts, failures and highwater of an export directory."""
    from migrate.export import engine

    return engine.status(out_dir)


def rollback(out_dir: Path, batch: int | None = None, all: bool = False) -> RollbackSummary:
    """Remove exactly what one batch (or every batch) of an export wrote."""
    from migrate.export import engine

    return engine.rollback(out_dir, batch=batch, all=all)


def redirects(
    out_dir: Path,
    fmt: str,
    *,
    spec: SourceSpec | None = None,
    term_map: dict[int, int] | None = None,
    plan: Path | None = None,
) -> RedirectsResult:
    """Every old URL of an export → its new URL, chain- and loop-free, rendered as ``fmt``.

    With ``spec`` the site's redirect-module rows are included too; ``plan`` (a
    repair plan) adds its remaps to ``term_map`` (which wins where both name a tid).
    """
    from migrate.export import redirects as rd

    remaps = {**(rd.plan_remaps(plan) if plan is not None else {}), **(term_map or {})}
    rows: list[tuple[str, str]] = []
    if spec is not None:
        with connect(spec) as site:
            rows = rd.redirect_module_rows(site.source)
    candidates, unresolved = rd.from_export(out_dir, term_map=remaps, module_rows=rows)
    built = rd.build_redirect_map(candidates)
    text = rd.render(built.redirects, fmt, rd.files_url(out_dir))
    return RedirectsResult(text, built, unresolved)


def fixture_extract(spec: SourceSpec, options: FixtureOptions) -> FixtureReport:
    """A small, closed, anonymized mysqldump-style copy of some of the site's nodes."""
    from migrate.fixture.extract import extract

    return extract(spec, options)


def load_site(config_file: Path | None, name: str | None) -> SiteProfile | None:
    """The ``--site`` of the profile (``--config`` or ``./drupal-migrate.toml``), if any."""
    from migrate.profile import find_profile, load_profile

    path = find_profile(config_file)
    if path is None:
        if name is not None:
            raise BadInput(f"--site {name}: no profile (drupal-migrate.toml here, or --config)")
        return None
    return load_profile(path).site(name)


def load_profile(config_file: Path | None) -> Profile:
    """Every site of the profile, for ``run --all-sites``."""
    from migrate.profile import find_profile
    from migrate.profile import load_profile as read

    path = find_profile(config_file)
    if path is None:
        raise BadInput("no profile: write one with drupal-migrate init, or pass --config FILE")
    return read(path)


@dataclass(frozen=True)
class InitResult:
    profile: Path
    mapping: Path
    discovery: Discovery


def init_profile(
    spec: SourceSpec,
    source: tuple[str, str],
    *,
    name: str,
    output: Path,
    force: bool = False,
) -> InitResult:
    """Look at the site and write a commented profile plus a starter export mapping.

    ``source`` is the option the admin gave (``dump``, ``settings``, ``defaults_file``
    or ``db``) and its value; a password in a ``db`` URL is left out of the file.
    """
    from migrate.profile import Discovery, render_mapping, render_profile

    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise BadInput(f"site name {name!r}: use letters, digits, '-' and '_' only")
    mapping = output.with_name(f"{name}-mapping.yml")
    for path in (output, mapping):
        if path.exists() and not force:
            raise BadInput(f"{path} exists: pass --force to overwrite it")
    key, value = source
    if key == "db":
        parts = urlsplit(value)
        if parts.password is not None:
            host = parts.netloc.rsplit("@", 1)[1]
            value = urlunsplit(parts._replace(netloc=f"{parts.username}@{host}"))
    elif key in ("dump", "settings", "defaults_file"):
        path, home = Path(value).resolve(), output.resolve().parent
        value = str(path.relative_to(home) if path.is_relative_to(home) else path)
    with connect(spec) as site:
        report = inspect_site(site)
        timezone = site.variable("date_default_timezone")
        files = site.variable("file_public_path", "sites/default/files")
    found = Discovery(
        name=name,
        source_key=key,
        source_value=value,
        prefix=report.prefix,
        site_name=report.site_name,
        timezone=str(timezone) if timezone else None,
        files_dir=str(files) if files else None,
        content_types=tuple(
            (c.type, c.name, c.published + c.unpublished) for c in report.content_types
        ),
        vocabularies=tuple((v.machine_name, v.name, v.terms) for v in report.vocabularies),
    )
    write_durably(mapping, render_mapping(found))
    write_durably(output, render_profile(found, mapping.name))
    return InitResult(output, mapping, found)


def run_pipeline(
    site: SiteProfile,
    spec: SourceSpec | None = None,
    *,
    confirm: Confirm,
    progress: ProgressFactory,
    notify: Notify,
    dry_run: bool = False,
    restart: bool = False,
    workers: int | None = None,
) -> RunResult:
    """The whole job for one site, resumed where it stopped (see ``migrate.pipeline``).

    ``spec`` overrides the profile's source (the command line wins).
    """
    from migrate.pipeline import run_site

    return run_site(
        site,
        spec if spec is not None else site.source_spec(),
        confirm=confirm,
        progress=progress,
        notify=notify,
        dry_run=dry_run,
        restart=restart,
        workers=workers,
    )


def plan_summary(spec: SourceSpec, plan: Plan, *, site: str = "") -> PlanSummary:
    """What an admin confirms before a plan is applied, as data (the CLI words it)."""
    from migrate.pipeline import plan_summary as summarise

    return summarise(site, spec, plan)
