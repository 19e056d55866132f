"""The ``drupal-migrate`` command line: options in, one library call, rendered result out.

Every ``MigrateError`` the library raises becomes one line on stderr and the
exit code the error carries, here and only here.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import click
from click.core import ParameterSource

from migrate import api
from migrate.errors import EXIT_INTERRUPTED, BadInput, MigrateError, exit_codes, is_disk_full
from migrate.identifiers import Prefix
from migrate.profile import PROFILE_NAME, SiteProfile
from migrate.progress import on_demand_bar
from migrate.repair.operations import Plan
from migrate.repair.redirects import rules_paths
from migrate.report.table import render_table, terminal_width
from migrate.source import DumpSpec, SourceSpec

EXIT_CODES = "\b\nExit codes:\n" + "\n".join(
    f"  {code:>3}  {meaning.replace('`', '')}" for code, meaning in exit_codes()
)

COMMAND_ORDER = (
    "init",
    "run",
    "inspect",
    "audit",
    "recover",
    "repair",
    "export",
    "status",
    "redirects",
    "validate-wxr",
    "rollback",
    "fixture",
)
"""``--help`` lists commands in the order an admin uses them; others follow, by name."""


def _debugging(ctx: click.Context) -> bool:
    return bool(ctx.obj and ctx.obj.get("debug"))


def one_line(text: str) -> str:
    """An error as one line: a parser's message can quote the lines it choked on."""
    return re.sub(r"\s*[\r\n]+\s*", " ", text).strip()


class MigrateGroup(click.Group):
    """Turns library errors into one-line messages with their exit codes."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        known = [name for name in COMMAND_ORDER if name in self.commands]
        return known + sorted(set(self.commands) - set(known))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MigrateError as exc:
            if _debugging(ctx):
                raise
            click.echo(f"drupal-migrate: error: {one_line(str(exc))}", err=True)
            ctx.exit(exc.exit_code)
        except (OSError, sqlite3.Error) as exc:
            if _debugging(ctx) or (not isinstance(exc, OSError) and not is_disk_full(exc)):
                raise
            where = f"{exc.filename}: " if isinstance(exc, OSError) and exc.filename else ""
            if is_disk_full(exc):
                click.echo(
                    f"drupal-migrate: error: {where}no space left on the device; free some"
                    " space and run the same command again (a run resumes where it stopped)",
                    err=True,
                )
                ctx.exit(1)
            assert isinstance(exc, OSError)
            click.echo(f"drupal-migrate: error: {where}{exc.strerror or exc}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo(
                "drupal-migrate: interrupted: run the same command again to resume", err=True
            )
            ctx.exit(EXIT_INTERRUPTED)


@click.group(cls=MigrateGroup, epilog=EXIT_CODES, context_settings={"max_content_width": 100})
@click.option("--debug", is_flag=True, help="Show a traceback instead of a one-line error.")
@click.version_option(package_name="drupal-migrate")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Audit, repair and export a Drupal 7 site whose taxonomy has dangling terms."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


LEFT_OUT_SHOWN = 20
"""Reasons for left-out items printed after an export; the rest are in reconciliation.json
(a reason names its node, so a big site's unpublished nodes give one per alias)."""
SOURCE_KEYS = ("db", "settings", "defaults_file", "dump")
SOURCE_TUNING = ("prefix", "cache_dir", "refresh", "all_tables")


def _profile_defaults(
    ctx: click.Context, site: SiteProfile, values: dict[str, Any]
) -> dict[str, Any]:
    """What the profile says for this command's options (the command line still wins)."""
    name = ctx.command.name
    hosts = tuple(
        h for h in (urlsplit(u).hostname for u in (*site.old_urls, site.site_url or "")) if h
    )
    target = values.get("target") or site.targets[0]
    found: dict[str, Any] = {
        # a command that knows old and new URLs apart does not get the single --base-url
        "base_url": None if "old_urls" in values else site.old_url,
        "old_urls": site.old_urls,
        "site_url": site.site_url,
        "site_hosts": hosts,
        "files_dir": site.files_dir,
        "timezone": site.timezone,
        "mapping": site.repair_mapping if name in ("plan", "extract") else site.mapping,
        "strategies": site.strategy,
        "out_dir": site.export_dir(target),
    }
    return {k: v for k, v in found.items() if v not in (None, ())}


def _fill_from_profile(ctx: click.Context, values: dict[str, Any]) -> SiteProfile | None:
    """Load ``--site`` from the profile; options left at their default take its values."""
    config_file, name = values.pop("config"), values.pop("site")
    ctx.meta["config"], ctx.meta["site_name"] = config_file, name
    if ctx.command.name == "init":  # --site names the site it is about to write
        ctx.meta["site_profile"] = None
        return None
    site = api.load_site(config_file, name)
    ctx.meta["site_profile"] = site
    if site is None:
        return None
    if "files" in values and not values["files"]:
        values["files"] = tuple(sorted(site.export_dir("wxr").glob("wxr-*.xml")))
    for key, value in _profile_defaults(ctx, site, values).items():
        if key not in values:
            continue
        given = ctx.get_parameter_source(key)
        if given in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
            continue
        if values[key] in (None, (), False):
            values[key] = value
    return site


SITE_OPTIONS = [
    click.option(
        "--site",
        metavar="NAME",
        help="Take the options of this site of the profile (default: its first site).",
    ),
    click.option(
        "--config",
        type=click.Path(path_type=Path, dir_okay=False),
        help=f"The site profile (default: ./{PROFILE_NAME} when there is one).",
    ),
]


def site_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--site`` and ``--config``: options not given take the profile's values."""

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        _fill_from_profile(click.get_current_context(), kwargs)
        return command(**kwargs)

    for option in reversed(SITE_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


SOURCE_OPTIONS = [
    click.option(
        "--db",
        metavar="URL",
        help="mysql://user:pass@host:port/db[?prefix=..] (default: $DRUPAL_DB_URL).",
    ),
    click.option(
        "--settings",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Drupal's settings.php to take the credentials from.",
    ),
    click.option(
        "--defaults-file",
        type=click.Path(path_type=Path, dir_okay=False),
        help="MySQL option file ([client] user/password/host/database).",
    ),
    click.option(
        "--dump",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Read a mysqldump file (.sql or .sql.gz) instead of a server.",
    ),
    click.option("--prefix", help="Drupal table prefix (overrides the one found)."),
    click.option(
        "--cache-dir",
        type=click.Path(path_type=Path, file_okay=False),
        help="Where the SQLite copy of a dump is cached.",
    ),
    click.option("--refresh", is_flag=True, help="Rebuild the cached copy of a dump."),
    click.option("--all-tables", is_flag=True, help="Load every table of a dump."),
]


def _spec_of(site: SiteProfile | None, values: dict[str, Any]) -> SourceSpec:
    """The command line's source if it names one, else the profile's, else $DRUPAL_DB_URL."""
    given = {k: values.pop(k) for k in SOURCE_KEYS}
    named = [(k, str(v)) for k, v in given.items() if v]
    click.get_current_context().meta["source_given"] = named[0] if named else None
    tuning = {k: values.pop(k) for k in SOURCE_TUNING}
    click.get_current_context().meta["source_prefix"] = tuning["prefix"]
    if site is None or any(given.values()) or not site.has_source:
        spec = api.source_spec(**given, **tuning)
    else:
        spec = _profile_spec(site, tuning)
    if isinstance(spec, DumpSpec):
        spec = replace(spec, progress=on_demand_bar(f"Loading {spec.path.name} into the cache"))
    return spec


def _profile_spec(site: SiteProfile, tuning: dict[str, Any]) -> SourceSpec:
    spec = site.source_spec()
    if isinstance(spec, DumpSpec):
        return replace(
            spec,
            prefix=Prefix(tuning["prefix"]) if tuning["prefix"] is not None else spec.prefix,
            cache_dir=tuning["cache_dir"],
            refresh=tuning["refresh"],
            all_tables=tuning["all_tables"],
        )
    return spec if tuning["prefix"] is None else replace(spec, prefix=Prefix(tuning["prefix"]))


def source_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Where the Drupal data is (and ``--site``/``--config``), folded into one ``spec``."""
    return _with_source(command, required=True)


def optional_source_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The same options for a command that can do without a source (``spec`` is None)."""
    return _with_source(command, required=False)


def _with_source(command: Callable[..., Any], *, required: bool) -> Callable[..., Any]:
    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        ctx = click.get_current_context()
        site = _fill_from_profile(ctx, kwargs)
        named = any(kwargs.get(k) for k in SOURCE_KEYS)
        if required or named or (site is not None and site.has_source):
            return command(spec=_spec_of(site, kwargs), **kwargs)
        for key in (*SOURCE_KEYS, *SOURCE_TUNING):
            kwargs.pop(key)
        ctx.meta["source_given"] = None
        return command(spec=None, **kwargs)

    for option in reversed(SITE_OPTIONS + SOURCE_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False))


FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table: for people; json: for scripts.",
)


@main.command()
@source_options
@FORMAT
def inspect(spec: SourceSpec, fmt: str) -> None:
    """Show versions, content types, vocabularies, fields, formats and modules."""
    report = api.inspect(spec)
    if fmt == "json":
        emit_json(report.to_dict())
        return
    out = [
        f"Source:        {report.source}",
        f"Drupal core:   {report.core_version or 'unknown'}"
        f" (system schema {report.schema_version})",
        f"Table prefix:  {report.prefix or '(none)'}",
        f"Charset:       {report.charset or 'unknown'}",
        f"Site name:     {report.site_name or ''}",
        "",
        "Content types:",
        render_table(
            ["type", "name", "published", "unpublished"],
            [(c.type, c.name, c.published, c.unpublished) for c in report.content_types],
        ),
        "",
        "Vocabularies:",
        render_table(
            ["vid", "machine name", "name", "terms", "depth"],
            [(v.vid, v.machine_name, v.name, v.terms, v.depth) for v in report.vocabularies],
        ),
        "",
        "Term-reference fields:",
        render_table(
            ["field", "column", "vocabularies", "cardinality", "bundles"],
            [
                (
                    f.field_name,
                    f.column,
                    ",".join(f.vocabularies) or "-",
                    "unlimited" if f.cardinality == -1 else f.cardinality,
                    ",".join(f.bundles),
                )
                for f in report.term_reference_fields
            ],
        ),
        "",
        "Text and file fields:",
        render_table(
            ["field", "type", "bundles"],
            [
                (f.field_name, f.type, ",".join(f.bundles))
                for f in report.text_fields + report.file_fields
            ],
        ),
        "",
        "Text formats (node bodies using them):",
        render_table(
            ["format", "name", "nodes"], [(f.format, f.name, f.nodes) for f in report.text_formats]
        ),
        "",
        "Modules:",
        render_table(
            ["module", "enabled", "version"],
            [(m.name, "yes" if m.enabled else "no", m.version or "") for m in report.modules],
        ),
    ]
    click.echo("\n".join(out))


@main.command()
@source_options
@click.option(
    "--check",
    "checks",
    multiple=True,
    metavar="GLOB",
    help="Run only checks whose id matches (repeatable), e.g. 'taxonomy.*'. Default: all.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "html"]),
    default="table",
    show_default=True,
    help="table: summary and first examples; json: complete streamed report; html: one page.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the report to this file instead of stdout.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning", "never"]),
    default="error",
    show_default=True,
    help="Exit 1 when a finding is at or above this severity.",
)
@click.option("--base-url", help="The site's URL, for node links in the HTML report.")
@click.option(
    "--site-host",
    "site_hosts",
    multiple=True,
    help="The site's own host name(s) (old and new), for absolute links in bodies."
    " Default: any host.",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 8),
    default=1,
    show_default=True,
    help="Run checks side by side on this many connections. On a server their snapshots"
    " are aligned by READ-locking the site's tables for an instant (needs LOCK TABLES;"
    " otherwise one connection is used and a note says so).",
)
@click.option(
    "--list-checks",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=lambda ctx, _param, value: _list_checks(ctx) if value else None,
    help="List the check ids and exit.",
)
@click.pass_context
def audit(
    ctx: click.Context,
    spec: SourceSpec,
    checks: tuple[str, ...],
    fmt: str,
    output: Path | None,
    fail_on: str,
    base_url: str | None,
    site_hosts: tuple[str, ...],
    jobs: int,
) -> None:
    """Read-only audit: what is broken, why, where visitors hit it, what a repair would do.

    Safe on production: it only SELECTs, inside one read-only snapshot.
    """
    from migrate.audit import select_checks
    from migrate.progress import progress_for
    from migrate.report.html import write_html
    from migrate.report.jsonout import write_json
    from migrate.report.table import render_audit, terminal_width, use_colour

    selection = checks or ("*",)
    select_checks(selection)
    with progress_for("Auditing") as progress:
        report = api.audit(
            spec, selection, base_hosts=site_hosts or None, progress=progress, jobs=jobs
        )
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    try:
        with _report_stream(output) as out:
            if fmt == "json":
                write_json(report, out)
            elif fmt == "html":
                write_html(report, out, base_url=base_url)
            else:
                text = render_audit(
                    report,
                    width=terminal_width(),
                    colour=use_colour(out),
                    next_step=_next_after_audit(ctx, report),
                )
                out.write(text + "\n")
    finally:
        report.close()
    if output is not None:
        click.echo(f"Audit report written to {output}", err=True)
    if report.fails(fail_on):
        ctx.exit(1)


def _list_checks(ctx: click.Context) -> None:
    from migrate.audit import available_checks

    rows = [(c.id, c.severity.value, c.title) for c in available_checks()]
    click.echo(render_table(["check", "severity", "title"], rows))
    ctx.exit(0)


@contextmanager
def _report_stream(output: Path | None) -> Iterator[IO[str]]:
    if output is None:
        yield sys.stdout
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8") as fh:
        yield fh


def _source_args(ctx: click.Context) -> str:
    """The source as the admin gave it, to repeat in a suggested command (no password)."""
    site = ctx.meta.get("site_profile")
    given = ctx.meta.get("source_given")
    if given is None:
        return f"--site {site.name}" if site is not None else ""
    key, value = given
    if key == "db":
        parts = urlsplit(value)
        if parts.password is not None:
            value = parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", "@")).geturl()
    args = f"--{key.replace('_', '-')} {shlex.quote(value)}"
    prefix = ctx.meta.get("source_prefix")
    return args + (f" --prefix {shlex.quote(prefix)}" if prefix is not None else "")


def _password_left_out(ctx: click.Context) -> bool:
    """Whether ``_source_args`` dropped a password from a --db URL."""
    given = ctx.meta.get("source_given")
    return bool(given and given[0] == "db" and urlsplit(given[1]).password is not None)


def _next_after_audit(ctx: click.Context, report: Any) -> tuple[str, str]:
    """What the admin runs next, with the same source they gave."""
    source = _source_args(ctx)
    if ctx.meta.get("site_profile") is not None and ctx.meta.get("source_given") is None:
        if report.total:
            return (
                "see the repair plan (nothing is changed)",
                f"drupal-migrate run {source} --dry-run",
            )
        return "migrate the site", f"drupal-migrate run {source}"
    if report.fails("warning"):
        return "plan the repair (read-only)", f"drupal-migrate repair plan {source} -o plan.json"
    return "export the site", f"drupal-migrate export {source} --to jsonl --out export/"


@main.command("recover")
@source_options
@click.option(
    "--compare-db",
    metavar="URL",
    help="A reference database (e.g. a backup) to say which recovered names are exact.",
)
@FORMAT
def recover_command(spec: SourceSpec, compare_db: str | None, fmt: str) -> None:
    """List, per missing tid, every piece of evidence of its name, vocabulary and place."""
    compare = api.source_spec(db=compare_db) if compare_db else None
    report = api.recover(spec, compare)
    if fmt == "json":
        emit_json(report.to_dict())
        return
    rows = []
    for term in report.recovery.terms.values():
        rows.append(
            (
                term.tid,
                term.state.replace("_", " "),
                term.name("low") or "-",
                term.name_confidence or "-",
                term.vocabulary or "-",
                ",".join(str(p) for p in term.parents),
                term.alias or "-",
                report.outcome(term),
            )
        )
    click.echo("Missing terms:")
    click.echo(
        render_table(
            ["tid", "state", "name", "confidence", "vocabulary", "parents", "alias", "name is"],
            rows,
        )
    )
    for vocab in report.recovery.vocabularies.values():
        click.echo(
            f"\nMissing vocabulary {vocab.vid}: machine name {vocab.machine_name or '?'},"
            f" name {vocab.name or '?'}"
        )
    click.echo("\nEvidence:")
    for term in report.recovery.terms.values():
        for e in term.evidence:
            click.echo(f"  tid {term.tid}: [{e.confidence}] {e.source}: {e.detail}")


@main.group("repair")
def repair_group() -> None:
    """Plan, apply and undo repairs of dangling taxonomy (journaled, reversible)."""


@repair_group.command("plan")
@source_options
@click.option(
    "--mapping", type=click.Path(path_type=Path, dir_okay=False), help="YAML or CSV mapping file."
)
@click.option(
    "--strategy",
    "strategies",
    multiple=True,
    metavar="TID=ACTION",
    help="Override the choice for one tid (or 'default'): restore, remap or drop.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the plan (JSON, for repair apply) to this file.",
)
@click.option("--sql", is_flag=True, help="Print the equivalent SQL script instead.")
def plan_command(
    spec: SourceSpec,
    mapping: Path | None,
    strategies: tuple[str, ...],
    output: Path | None,
    sql: bool,
) -> None:
    """Read-only: turn the taxonomy and link findings into a reviewable plan."""
    plan = api.plan_repair(spec, mapping, strategies)
    written = api.write_plan(plan, output) if output else []
    if sql:
        click.echo(api.plan_sql(spec, plan), nl=False)
        return
    click.echo(f"Plan for {plan.source}: {len(plan.operations)} operations")
    for d in plan.decisions:
        values = [e.removeprefix("value ") for e in d.evidence if e.startswith("value ")]
        sources = sorted({e.split(" (")[0] for e in d.evidence if not e.startswith("value ")}) or [
            "none"
        ]
        if d.action == "remap":
            head = f"tid {d.tid} → remap to {d.target} '{d.name}'"
        else:
            head = f"tid {d.tid} '{d.name or '?'}' → {d.action}"
        click.echo(f"  {head} ({d.reason}; evidence: {', '.join(sources)})")
        if d.action == "restore" and values:
            click.echo(f"      values from: {'; '.join(values)}")
    click.echo("Operations per strategy:")
    click.echo(render_table(["strategy", "operations"], sorted(plan.counts().items())))
    for note in plan.notes:
        click.echo(f"Note: {note}")
    if output:
        click.echo(f"Plan written to {output}")
    for rules in written[1:]:
        click.echo(f"Web-server redirects (no redirect module) written to {rules}")


@repair_group.command("apply")
@source_options
@click.argument("plan_file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--keep-caches", is_flag=True, help="Leave Drupal's cache tables alone.")
@click.option(
    "--allow-non-transactional",
    is_flag=True,
    help="Apply to MyISAM (non-rollback) tables, relying on the journal alone.",
)
@click.option(
    "--journal",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where the journal of before-images goes (default: repair-journal-TIME.jsonl here).",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="With --dump: folder for the repaired copy, repair.sql patch and journal.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1),
    default=500,
    show_default=True,
    help="Operations per transaction.",
)
@FORMAT
@click.pass_context
def apply_command(
    ctx: click.Context,
    spec: SourceSpec,
    plan_file: Path,
    yes: bool,
    keep_caches: bool,
    allow_non_transactional: bool,
    journal: Path | None,
    out: Path | None,
    batch_size: int,
    fmt: str,
) -> None:
    """Check preconditions, journal before-images, apply in transactions, verify."""
    plan = Plan.load(plan_file)
    site = ctx.meta.get("site_profile")
    summary = api.plan_summary(spec, plan, site=site.name if site else "")
    if not _confirm_plan(yes, summary):
        raise BadInput("not confirmed; nothing written")
    report = api.apply_repair(
        spec,
        plan,
        yes=True,
        keep_caches=keep_caches,
        allow_non_transactional=allow_non_transactional,
        out=out,
        journal=journal,
        batch_size=batch_size,
    )
    if fmt == "json":
        emit_json(report.to_dict())
        return
    click.echo(
        f"Applied {report.operations} operations in {report.batches} batch(es),"
        f" {report.seconds:.2f}s. Journal: {report.journal}"
    )
    checks = sorted(set(report.before) | set(report.after))
    click.echo(
        render_table(
            ["check", "before", "after"],
            [(c, report.before.get(c, "-"), report.after.get(c, "-")) for c in checks],
        )
    )
    if plan.redirects:
        # Only the old site's web server stops these: no row references the terms any more.
        tids = ", ".join(str(t) for t in sorted({r.tid for r in plan.redirects}))
        files = " and ".join(shlex.quote(str(p)) for p in rules_paths(plan_file))
        click.echo(
            f"{len(plan.redirects)} URL(s) of dropped or remapped term(s) {tids} still show the"
            f" line-92 warning until the web server redirects them: the rules are in {files}"
            " (written by repair plan -o); breadcrumb.notice_pages lists them as"
            " fix = web_server_rule"
        )
    if keep_caches:
        click.echo("Caches left alone (--keep-caches): clear them in Drupal (drush cc all).")
    else:
        cleared = ", ".join(f"{t}: {n}" for t, n in sorted(report.caches.items())) or "none"
        click.echo(f"Cleared cache entries: {cleared}")
    if out:
        # Nothing was changed in place: going back is discarding what the repair wrote.
        click.echo(f"Repaired copy and repair.sql patch in {out}")
        written = [out / n for n in ("repaired.sqlite", "repair.sql", "repaired.sql.gz")]
        files = " ".join(shlex.quote(str(p)) for p in [*written, Path(report.journal)])
        click.echo(f"The dump itself is unchanged. To go back: rm -f -- {files}")
        return
    # The same source as this apply: undo refuses a journal recorded on another database.
    undo = ["drupal-migrate repair undo", _source_args(ctx), shlex.quote(str(report.journal))]
    click.echo("To go back: " + " ".join(part for part in undo if part))
    if _password_left_out(ctx):
        click.echo(
            "  (the password is not shown: put it back into the --db URL, or set"
            " $DRUPAL_DB_URL to the full URL and leave --db out)"
        )


@repair_group.command("undo")
@source_options
@click.argument("journal", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "--force",
    is_flag=True,
    help="Accept a journal recorded through another server address or database name"
    " (same prefix); every row must still be as the apply left it.",
)
@FORMAT
def undo_command(spec: SourceSpec, journal: Path, force: bool, fmt: str) -> None:
    """Restore every row a journaled apply touched, if the journal belongs to this database.

    Refused, with nothing written, when the journal names another database or
    prefix (exit 8) or a row it would restore changed after the apply (exit 7).
    """
    report = api.undo_repair(spec, journal, force=force)
    if fmt == "json":
        emit_json(report.to_dict())
        return
    for note in report.notes:
        click.echo(f"Note: {note}")
    click.echo(
        f"Restored {report.records} journaled change(s) in {', '.join(report.tables) or '-'}"
        f" ({report.verified} row set(s) compared with the state the apply left,"
        f" {report.unverified} not compared: cache bins, or the last batch of an unfinished apply)"
    )
    click.echo("Clear Drupal's caches now (drush cc all) so pages show the restored rows.")


class _Targets(click.Choice):  # type: ignore[type-arg]
    """``--to`` choices, read from the writer registry when first needed."""

    def __init__(self) -> None:
        super().__init__(())

    @property  # type: ignore[override]
    def choices(self) -> Sequence[str]:
        from migrate.export import writer_names

        return writer_names()

    @choices.setter
    def choices(self, value: Sequence[str]) -> None:
        return None


@main.command()
@source_options
@click.option(
    "--to",
    "target",
    type=_Targets(),
    default="jsonl",
    show_default=True,
    help="Export target (writers register themselves by name).",
)
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Output folder; also holds the resumable state (state.sqlite)."
    " Default with a profile: OUT/export-TARGET.",
)
@click.option("--types", help="Content types to export, e.g. article,page (default: all).")
@click.option("--ids", help="Node ids and ranges, e.g. 1,5,10-20.")
@click.option("--since", metavar="DATE", help="Only nodes changed on or after DATE (YYYY-MM-DD).")
@click.option(
    "--changed-since",
    is_flag=True,
    help="Only nodes changed since the highwater of the last complete run.",
)
@click.option("--limit", type=click.IntRange(min=0), help="At most N nodes in this run.")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=500,
    show_default=True,
    help="Nodes per batch (a batch is the unit of resume and rollback).",
)
@click.option("--include-unpublished", is_flag=True, help="Export unpublished nodes too.")
@click.option(
    "--revisions",
    type=click.Choice(["current", "all"]),
    default="current",
    show_default=True,
    help="Export the current revision of each node, or every revision.",
)
@click.option(
    "--files-dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="The old sites/default/files, to copy files into the bundle.",
)
@click.option(
    "--old-url",
    "old_urls",
    multiple=True,
    metavar="URL",
    help="A scheme and host the old site answered on (repeatable): links to it are rewritten.",
)
@click.option(
    "--site-url",
    metavar="URL",
    help="The new site's base URL (Hugo baseURL; WXR links and attachment URLs).",
)
@click.option(
    "--base-url",
    metavar="URL",
    help="Deprecated: one URL used as both --old-url and --site-url.",
)
@click.option(
    "--mapping",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="YAML: content_types and vocabularies → target names.",
)
@click.option(
    "--include-emails", is_flag=True, help="Export authors' and commenters' email addresses."
)
@click.option(
    "--include-hostnames",
    is_flag=True,
    help="Export commenters' IP addresses (personal data; WXR comment_author_IP).",
)
@click.option("--update", is_flag=True, help="Rewrite items that changed since their export.")
@click.option(
    "--allow-other-site",
    is_flag=True,
    help="Add to an --out that holds an export of another Drupal site (refused otherwise).",
)
@click.option(
    "--allow-scripts",
    is_flag=True,
    help="Keep <script>/on* handlers that full_html bodies let through.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    help="Processes that clean bodies in parallel (default: CPUs, at most 4; 0: none).",
)
@click.option(
    "--max-items",
    type=click.IntRange(min=1),
    help="wxr: at most N items per file (the importer loads a whole file in memory).",
)
@click.option("--markdown", is_flag=True, help="hugo: write bodies as Markdown, not HTML.")
@click.option(
    "--timezone",
    metavar="ZONE",
    help="wxr: the site's time zone for local post dates, e.g. Asia/Ho_Chi_Minh (default UTC).",
)
@FORMAT
def export(
    spec: SourceSpec,
    target: str,
    out_dir: Path,
    types: str | None,
    ids: str | None,
    since: str | None,
    changed_since: bool,
    limit: int | None,
    batch_size: int,
    include_unpublished: bool,
    revisions: str,
    files_dir: Path | None,
    old_urls: tuple[str, ...],
    site_url: str | None,
    base_url: str | None,
    mapping: Path | None,
    include_emails: bool,
    include_hostnames: bool,
    update: bool,
    allow_other_site: bool,
    allow_scripts: bool,
    workers: int | None,
    max_items: int | None,
    markdown: bool,
    timezone: str | None,
    fmt: str,
) -> None:
    """Export content in resumable batches; re-running skips what is unchanged.

    Interrupted? Run the same command again: it resumes after the last complete
    batch. A progress bar on a terminal, one JSON line per batch otherwise; a
    reconciliation report is printed and written to OUT/reconciliation.json.
    """
    from migrate.export.engine import ExportOptions, parse_date, parse_ids
    from migrate.export.reader import Selection
    from migrate.progress import progress_for

    if out_dir is None:
        raise BadInput("give --out DIR (or a site profile: drupal-migrate init)")

    options = ExportOptions(
        to=target,
        selection=Selection(
            types=tuple(t.strip() for t in (types or "").split(",") if t.strip()),
            ids=parse_ids(ids) if ids else (),
            since=parse_date(since) if since else None,
            include_unpublished=include_unpublished,
            limit=limit,
        ),
        changed_since=changed_since,
        batch_size=batch_size,
        revisions=revisions,
        files_dir=files_dir,
        base_url=base_url,
        old_urls=old_urls,
        site_url=site_url,
        mapping=mapping,
        include_emails=include_emails,
        include_hostnames=include_hostnames,
        update=update,
        allow_other_site=allow_other_site,
        allow_scripts=allow_scripts,
        target_options=tuple(
            (k, v)
            for k, v in (("max_items", max_items), ("markdown", markdown), ("timezone", timezone))
            if v
        ),
        **({} if workers is None else {"workers": workers}),
    )
    with progress_for("Exporting nodes", json_lines=True) as progress:
        summary = api.export(spec, out_dir, options, progress=progress)
    if fmt == "json":
        rec = summary.reconciliation
        emit_json({**summary.to_dict(), "reconciliation": rec.to_dict() if rec else None})
        return
    click.echo(_export_text(summary))


def _ranges_text(ranges: str, count: int, limit: int = 10) -> str:
    """``1-4,9,11`` as the first few ranges and the count: 1,101 ids fit on one line."""
    parts = [p for p in ranges.split(",") if p]
    shown = ", ".join(parts[:limit]) + (", …" if len(parts) > limit else "")
    return f"{shown} ({count:,} id{'s' if count != 1 else ''}, all in reconciliation.json)"


def _reconciliation_head(rec: Any) -> str:
    """What the comparison read: the output from disk, or nothing (a kept comparison)."""
    if rec.same_as_run is not None:
        return (
            f"Reconciliation (kept from run {rec.same_as_run}: the source and every output"
            " file are as that run compared them, so nothing was read again):"
        )
    return f"Reconciliation (the output read back from disk in {rec.read_back_seconds:.1f}s):"


def _export_text(summary: Any) -> str:
    rec = summary.reconciliation
    rows = [
        (c.what, c.source, c.found, c.left_out or "", "yes" if c.reconciled else "NO", c.note)
        for c in rec.counts
    ]
    lines = [
        f"Run {summary.run_id}{' (resumed)' if summary.resumed else ''}: {summary.batches}"
        f" batches, {summary.nodes_read} nodes read in {summary.seconds:.1f}s"
        f" ({summary.nodes_per_second:.0f}/s)",
        "added: " + (", ".join(f"{n} {k}" for k, n in summary.added.items()) or "nothing"),
        "updated: " + (", ".join(f"{n} {k}" for k, n in summary.updated.items()) or "nothing"),
        "unchanged: " + (", ".join(f"{n} {k}" for k, n in summary.unchanged.items()) or "nothing"),
    ]
    if summary.not_updated:
        lines.append(
            "changed but not updated (use --update): "
            + ", ".join(f"{n} {k}" for k, n in summary.not_updated.items())
        )
    lines += [
        "",
        _reconciliation_head(rec),
        render_table(["what", "source", "found", "left out", "reconciled", "note"], rows),
    ]
    if rec.fields:
        lines.append(
            render_table(
                ["of", "field", "type", "source values", "found", "reconciled", "note"],
                [
                    (
                        f.entity,
                        f.field,
                        f.type,
                        f.source,
                        f.found,
                        "yes" if f.reconciled else "NO",
                        f.note,
                    )
                    for f in rec.fields
                ],
            )
        )
    for item in rec.left_out[:LEFT_OUT_SHOWN]:
        ids = _ranges_text(item.ids, item.count)
        lines.append(f"  {item.kind}s left out ({item.reason}): {ids}")
    if len(rec.left_out) > LEFT_OUT_SHOWN:
        rest = rec.left_out[LEFT_OUT_SHOWN:]
        lines.append(
            f"  … {len(rest):,} more reasons for {sum(i.count for i in rest):,} left-out"
            " item(s), all in reconciliation.json"
        )
    for kind, ids in rec.gone_from_source.items():
        lines.append(f"  {kind}s in the output but gone from the source: {ids}")
    for item in summary.failed:
        lines.append(f"  FAILED {item[0]} {item[1]}: {item[2]}")
    lines.append(
        "all counts reconcile"
        if rec.reconciled
        else f"{rec.unaccounted_total} ITEM(S) UNACCOUNTED FOR (see reconciliation.json)"
    )
    return "\n".join(lines)


@main.command()
@site_options
@click.argument("out_dir", required=False, type=click.Path(path_type=Path, file_okay=False))
@FORMAT
def status(out_dir: Path | None, fmt: str) -> None:
    """Runs, batches, per-type counts, failures and highwater of an export directory."""
    folder = _need_out(out_dir)
    report = api.status(folder)
    if fmt == "json":
        emit_json(report.to_dict())
        return
    click.echo(_status_text(folder, report))


def _when(stamp: float | None) -> str:
    """A Unix time as the admin's local date and time."""
    return "-" if stamp is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def _status_text(folder: Path, report: Any) -> str:
    """Like ``drush migrate:status``: one line per kind, then runs, batches and failures."""
    width = terminal_width()

    def number(value: int | None) -> str:
        return "-" if value is None else f"{value:,}"

    last = report.runs[-1] if report.runs else None
    head = f"Target {report.writer or '?'}"
    if last is not None:
        head += f"; last run {last['run']} {last['status']}, started {_when(last['started'])}"
    lines = [
        f"Export folder: {folder}",
        head,
        "",
        render_table(
            ["kind", "total", "exported", "unprocessed", "failed", "last exported"],
            [
                (
                    k.kind,
                    number(k.total),
                    number(k.exported),
                    number(k.unprocessed),
                    number(k.failed),
                    _when(k.last_exported),
                )
                for k in report.kinds
            ],
            right=(1, 2, 3, 4),
        ),
        "",
        "Runs:",
        render_table(
            ["run", "status", "started", "finished", "message"],
            [
                (r["run"], r["status"], _when(r["started"]), _when(r["finished"]), r["message"])
                for r in report.runs
            ],
            width=width,
        ),
        "",
        "Batches: " + (", ".join(f"{n} {s}" for s, n in sorted(report.batches.items())) or "none"),
        "Nodes by type: "
        + (", ".join(f"{n:,} {t}" for t, n in sorted(report.nodes_by_type.items())) or "none"),
        "Highwater (last node change exported): "
        + (_when(report.highwater) if report.highwater is not None else "-"),
    ]
    if any(k.unprocessed for k in report.kinds):
        lines += [
            "Unprocessed: left out by the selection, skipped with a reason (listed in",
            f"  {folder / 'reconciliation.json'}), or not reached yet.",
        ]
    for b in report.failed_batches:
        lines.append(f"FAILED batch {b['batch']} ({b['phase']}): {b['message']}")
    for f in report.failures:
        lines.append(f"FAILED {f['kind']} {f['id']}: {f['reason']}")
    return "\n".join(lines)


@main.command()
@site_options
@click.argument("out_dir", required=False, type=click.Path(path_type=Path, file_okay=False))
@click.option("--batch", type=int, help="Remove what this batch wrote.")
@click.option("--all", "all_batches", is_flag=True, help="Remove everything every batch wrote.")
def rollback(out_dir: Path | None, batch: int | None, all_batches: bool) -> None:
    """Remove exactly the items one batch (or all batches) of an export wrote."""
    summary = api.rollback(_need_out(out_dir), batch=batch, all=all_batches)
    removed = ", ".join(f"{n} {k}" for k, n in sorted(summary.removed.items())) or "nothing"
    click.echo(f"Rolled back batch(es) {','.join(map(str, summary.batches))}: removed {removed}")


@main.command()
@optional_source_options
@click.argument(
    "out_dir", required=False, type=click.Path(path_type=Path, file_okay=False, exists=True)
)
@click.option(
    "--to",
    "fmt",
    type=click.Choice(["nginx", "apache", "csv"]),
    default="csv",
    show_default=True,
    help="nginx map, Apache mod_rewrite rules, or CSV.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the map here instead of stdout.",
)
@click.option(
    "--remap",
    multiple=True,
    metavar="OLD=NEW",
    help="A deleted term's tid and the tid that replaced it (repeatable).",
)
@click.option(
    "--plan",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="A repair plan: its remapped terms' old URLs go to their replacements.",
)
def redirects(
    spec: SourceSpec | None,
    out_dir: Path | None,
    fmt: str,
    output: Path | None,
    remap: tuple[str, ...],
    plan: Path | None,
) -> None:
    """Old URLs of an export (node/N, aliases, ?q= forms, redirect module) → new URLs.

    Chains are collapsed and loops dropped; what was left out and why goes to stderr.
    With a source (--db, --dump, … or the profile's), the redirect module's rows
    are included too.
    """
    out_dir = _need_out(out_dir)
    term_map: dict[int, int] = {}
    for pair in remap:
        old, sep, new = pair.partition("=")
        if not (sep and old.strip().isdigit() and new.strip().isdigit()):
            raise click.BadParameter(f"{pair!r} is not OLD=NEW", param_hint="--remap")
        term_map[int(old)] = int(new)
    result = api.redirects(out_dir, fmt, spec=spec, term_map=term_map, plan=plan)
    if output is None:
        click.echo(result.text, nl=False)
    else:
        output.write_text(result.text, encoding="utf-8")
    for red, why in result.map.dropped:
        click.echo(f"left out /{red.source}: {why}", err=True)
    for line in result.unresolved:
        click.echo(f"unresolved {line}", err=True)
    click.echo(
        f"{len(result.map.redirects)} redirects, {len(result.map.dropped)} left out,"
        f" {len(result.unresolved)} unresolved",
        err=True,
    )


def _need_out(out_dir: Path | None) -> Path:
    if out_dir is None:
        raise BadInput("give the export folder (OUT_DIR), or --site from a profile")
    return out_dir


@main.command("validate-wxr")
@site_options
@click.argument("files", nargs=-1, type=click.Path(path_type=Path, dir_okay=False, exists=True))
def validate_wxr(files: tuple[Path, ...]) -> None:
    """Check WXR files for what the WordPress Importer would silently get wrong.

    Undefined or duplicate terms, children before parents, duplicate slugs,
    posts with the same title and date, undeclared authors, broken CDATA.
    Exits 1 when anything is found. Without FILES, the profile's wxr export.
    """
    from migrate.errors import MigrateError
    from migrate.export.wxr_validate import validate_wxr as check

    if not files:
        raise BadInput("give the WXR files, or --site from a profile with a wxr export")

    issues = check(list(files))
    for issue in issues:
        click.echo(str(issue))
    if issues:
        raise MigrateError(f"{len(issues)} problem(s) in {len(files)} WXR file(s)")
    click.echo(f"{len(files)} WXR file(s) OK")


@main.group("fixture")
def fixture_group() -> None:
    """Small, anonymized, self-contained test fixtures cut from a real site."""


@fixture_group.command("extract")
@source_options
@click.option(
    "--nodes",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="How many nodes to sample (seeded).",
)
@click.option("--ids", help="Exactly these node ids and ranges, e.g. 1,5,10-20.")
@click.option("--types", help="Sample only nodes of these types, e.g. article,page.")
@click.option(
    "--with-broken", is_flag=True, help="Also take a node for every kind of audit finding."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sample.")
@click.option(
    "--mapping",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="A repair mapping: take a node for each tid it names, and its remap targets.",
)
@click.option(
    "--prefix-out",
    metavar="PREFIX",
    help="Table prefix of the fixture ('' drops it; default: as on the site).",
)
@click.option(
    "--keep-personal-data",
    is_flag=True,
    help="Do not anonymize (names, e-mails, hashes, IPs stay): never commit that.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The fixture file (.sql, or .sql.gz for gzip).",
)
def fixture_extract_command(
    spec: SourceSpec,
    nodes: int,
    ids: str | None,
    types: str | None,
    with_broken: bool,
    seed: int,
    mapping: Path | None,
    prefix_out: str | None,
    keep_personal_data: bool,
    output: Path,
) -> None:
    """Write chosen nodes and every row they need as a mysqldump-style file."""
    from migrate.export.engine import parse_ids
    from migrate.fixture.records import ExtractOptions

    options = ExtractOptions(
        out=output,
        nodes=nodes,
        ids=parse_ids(ids) if ids else (),
        types=tuple(t.strip() for t in (types or "").split(",") if t.strip()),
        with_broken=with_broken,
        seed=seed,
        mapping=mapping,
        prefix_out=prefix_out,
        keep_personal_data=keep_personal_data,
    )
    report = api.fixture_extract(spec, options)
    for warning in report.warnings:
        click.echo(f"drupal-migrate: warning: {warning}", err=True)
    rows = sum(report.rows.values())
    click.echo(
        f"Fixture written to {report.out}: {len(report.nids)} nodes, {report.tables} tables,"
        f" {rows} rows, {report.bytes_file} bytes ({report.bytes_sql} bytes of SQL)"
        f"{', anonymized' if report.anonymized else ''}"
    )
    for pick in report.broken:
        carrier = f"node {pick.nid}" if pick.nid is not None else "site-wide (no node carries it)"
        click.echo(f"  {pick.check} {pick.kind or '-'}: {carrier}")
    if report.companions:
        click.echo(
            "  also taken, to keep links to deleted aliases attributable: nodes "
            + ", ".join(str(n) for n in report.companions)
        )
    if report.linked:
        click.echo(
            "  also taken, linked or referenced from them: nodes "
            + ", ".join(map(str, report.linked))
        )


@main.command("init")
@source_options
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=PROFILE_NAME,
    show_default=True,
    help="The profile to write; the starter mapping goes beside it.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing profile and mapping.")
@click.pass_context
def init_command(ctx: click.Context, spec: SourceSpec, output: Path, force: bool) -> None:
    """Write a commented site profile (drupal-migrate.toml) from a dump or settings.php.

    Looks at the site and fills in what it finds: the source, table prefix, site
    name, time zone and files folder, and writes a starter export mapping with
    every content type and vocabulary. --site names the new site.
    """
    given = ctx.meta["source_given"]
    if not given:
        raise BadInput("init needs a source: --dump FILE, --settings FILE, --defaults-file or --db")
    name = ctx.meta.get("site_name") or _site_name_of(*given)
    result = api.init_profile(spec, given, name=name, output=output, force=force)
    found = result.discovery
    click.echo(f"Wrote {result.profile} (site {found.name!r}) and {result.mapping}")
    click.echo(
        f"  {found.site_name or 'site name unknown'}; prefix {found.prefix or '(none)'};"
        f" time zone {found.timezone or 'not set'}; {len(found.content_types)} content types,"
        f" {len(found.vocabularies)} vocabularies"
    )
    click.echo("Review both files, then run:  drupal-migrate run")


def _site_name_of(key: str, value: str) -> str:
    """A profile key for the new site: the dump's name, the database or the sites/ folder."""
    if key == "dump":
        stem = Path(value).name.split(".")[0]
    elif key == "db":
        stem = urlsplit(value).path.strip("/") or "site"
    elif key == "settings":
        stem = Path(value).resolve().parent.name
    else:
        stem = "site"
    return re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-") or "site"


@main.command("run")
@optional_source_options
@click.option("-y", "--yes", is_flag=True, help="Apply the repair plan without asking.")
@click.option(
    "--dry-run", is_flag=True, help="Stop after the repair plan: nothing is changed or exported."
)
@click.option("--all-sites", is_flag=True, help="Run every site of the profile, one after another.")
@click.option(
    "--restart", is_flag=True, help="Forget the step journal and start again from the audit."
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    help="Processes that clean bodies during the exports (default: CPUs, at most 4).",
)
@FORMAT
@click.pass_context
def run_command(
    ctx: click.Context,
    spec: SourceSpec | None,
    yes: bool,
    dry_run: bool,
    all_sites: bool,
    restart: bool,
    workers: int | None,
    fmt: str,
) -> None:
    """The whole migration: audit, plan, repair, re-audit, export, redirects, reconcile.

    Reads the site profile (drupal-migrate.toml, see init). Shows the repair plan
    and asks before changing anything (-y to skip the question; a dump is never
    changed: the repair goes to a copy). Every finished step is journaled in the
    output folder: interrupted, run the same command again and it resumes where
    it stopped. Ends with OUT/summary.html linking every report and export.
    """
    from migrate.progress import progress_for

    site = ctx.meta["site_profile"]
    if all_sites:
        if ctx.meta["source_given"]:
            raise BadInput("--all-sites takes each site's source from the profile")
        targets = [(s, s.source_spec()) for s in api.load_profile(ctx.meta["config"]).sites]
    else:
        if spec is None and site is not None:
            spec = site.source_spec()  # says the profile's site names no source
        if spec is None:
            raise BadInput(
                f"no site profile ({PROFILE_NAME}) here: write one with"
                " drupal-migrate init --dump FILE (or --settings FILE), or pass --config FILE"
            )
        if site is None:
            site = SiteProfile(name="site", profile=Path(PROFILE_NAME).resolve())
            site = replace(site, out=Path.cwd() / "drupal-migrate-output" / "site")
        targets = [(site, spec)]
    results = []
    failed: list[tuple[str, MigrateError]] = []
    for one, one_spec in targets:
        if len(targets) > 1:
            click.echo(f"== site {one.name}", err=True)
        try:
            results.append(
                api.run_pipeline(
                    one,
                    one_spec,
                    confirm=functools.partial(_confirm_plan, yes),
                    progress=progress_for,
                    notify=_notify,
                    dry_run=dry_run,
                    restart=restart,
                    workers=workers,
                )
            )
        except MigrateError as exc:
            if len(targets) == 1:
                raise
            click.echo(f"drupal-migrate: error: site {one.name}: {one_line(str(exc))}", err=True)
            failed.append((one.name, exc))
    if fmt == "json":
        emit_json([r.to_dict() for r in results])
    else:
        for result in results:
            click.echo(_run_text(result))
        if len(targets) > 1:
            click.echo(_sites_table(results, failed))
    if failed:
        ctx.exit(failed[0][1].exit_code)
    if not all(r.ok for r in results):
        ctx.exit(1)


def _confirm_plan(yes: bool, plan: Any) -> bool:
    """Show the plan as a person reads it and ask, unless -y was given."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise BadInput("not a terminal: pass -y/--yes to apply the repair plan")
    click.echo(_plan_text(plan), err=True)
    return click.confirm("Apply this repair?", default=False, err=True)


def _plan_text(plan: Any, decisions: int = 8) -> str:
    where = (
        "changes the database in place (journaled; repair undo restores it)"
        if plan.in_place
        else "writes a repaired copy; the dump itself is not changed"
    )
    per = ", ".join(f"{n:,} {k}" for k, n in sorted(plan.per_strategy.items()))
    lines = [
        f"Repair plan{f' for site {plan.site}' if plan.site else ''} ({plan.source}): {where}",
        f"  {plan.operations:,} operations on {len(plan.tables)} tables: {per}",
    ]
    for tid, action, what in plan.decisions[:decisions]:
        lines.append(f"  term {tid}: {action} {what}")
    if len(plan.decisions) > decisions:
        lines.append(f"  … and {len(plan.decisions) - decisions} more terms (see plan.json)")
    return "\n".join(lines)


def _notify(title: str, number: int, total: int, record: Any) -> None:
    head = f"[{number}/{total}] {title}"
    if record is None:
        click.echo(f"{head} …", err=True)
    elif record.resumed:
        click.echo(f"{head}: done earlier: {record.summary}", err=True)
    else:
        mark = "ok" if record.ok else "PROBLEM"
        click.echo(f"{head}: {mark}: {record.summary} ({record.seconds:.1f}s)", err=True)


def _run_text(result: Any) -> str:
    if result.stopped_after:
        tail = "Dry run: stopped after the repair plan. Without --dry-run it applies it."
    elif result.ok:
        tail = "Done."
    else:
        tail = "Finished with problems: see the steps marked PROBLEM."
    lines = [f"{tail} Summary page: {result.summary_page}"]
    if result.next_steps:
        lines.append(f"Next (in {result.out}):")
        lines += [f"  {n}. {step}" for n, step in enumerate(result.next_steps, 1)]
    return "\n".join(lines)


def _sites_table(results: list[Any], failed: list[tuple[str, MigrateError]]) -> str:
    rows = []
    for r in results:
        figures = {rec.step: rec.figures for rec in r.records}
        before = figures.get("audit", {}).get("findings", "-")
        after = figures.get("audit-after", {}).get("findings", "-")
        nodes = sum(f.get("nodes", 0) for k, f in figures.items() if k.startswith("export-"))
        rows.append((r.site, "ok" if r.ok else "PROBLEM", before, after, nodes, r.summary_page))
    rows += [(name, f"error: {exc}", "-", "-", "-", "-") for name, exc in failed]
    return render_table(
        ["site", "result", "findings before", "after", "nodes exported", "summary"], rows
    )


EXAMPLES = {
    "": "drupal-migrate init --dump site.sql.gz --site vn && drupal-migrate run",
    "init": "drupal-migrate init --dump site.sql.gz --site vn",
    "run": "drupal-migrate run --site vn --yes",
    "inspect": "drupal-migrate inspect --dump site.sql.gz",
    "audit": "drupal-migrate audit --dump site.sql.gz --format html -o audit.html",
    "recover": "drupal-migrate recover --db mysql://reader@db.host/drupal",
    "repair": "drupal-migrate repair plan --site vn -o plan.json",
    "repair plan": "drupal-migrate repair plan --dump site.sql.gz --mapping map.yml -o plan.json",
    "repair apply": "drupal-migrate repair apply plan.json --dump site.sql.gz -o repaired/ -y",
    "repair undo": "drupal-migrate repair undo repair-journal-20250101T120000.jsonl --site vn",
    "export": "drupal-migrate export --dump site.sql.gz --to hugo -o site/ --files-dir files/",
    "status": "drupal-migrate status export/",
    "redirects": "drupal-migrate redirects export/ --to nginx -o redirects.conf",
    "validate-wxr": "drupal-migrate validate-wxr wp/wxr-*.xml",
    "rollback": "drupal-migrate rollback export/ --batch 3",
    "fixture": "drupal-migrate fixture extract --site vn --with-broken -o tests/site.sql.gz",
    "fixture extract": "drupal-migrate fixture extract --dump site.sql.gz --nodes 30 -o f.sql",
}
"""The example every ``--help`` ends with, by command path (a test wants one per command)."""


def _add_examples(group: click.Group, prefix: str = "") -> None:
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        example = EXAMPLES.get(path)
        if example is not None:
            head = f"{command.epilog}\n\n" if command.epilog else ""
            command.epilog = f"{head}\b\nExample:\n  {example}"
        if isinstance(command, click.Group):
            _add_examples(command, f"{path} ")


_add_examples(main)
main.epilog = f"{main.epilog}\n\n\b\nExample:\n  {EXAMPLES['']}"


def run(argv: Sequence[str] | None = None) -> None:
    """Console entry point."""
    main.main(args=list(argv) if argv is not None else None, prog_name="drupal-migrate")


if __name__ == "__main__":
    run(sys.argv[1:])
