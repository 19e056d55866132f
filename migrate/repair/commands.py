"""``drupal-migrate recover`` and ``drupal-migrate repair plan|apply|undo``: options in, one
API call, rendered result out. ``migrate.cli`` imports this module to register them."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from migrate import api
from migrate.cli import emit_json, main, render_table, source_options
from migrate.errors import BadInput
from migrate.repair.operations import Plan
from migrate.source import SourceSpec

FMT = click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)


@main.command("recover")
@source_options
@click.option(
    "--compare-db",
    metavar="URL",
    help="A reference database (e.g. a backup) to say which recovered names are exact.",
)
@FMT
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
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False))
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
    if output:
        output.write_text(plan.to_json(), encoding="utf-8")
    if sql:
        click.echo(api.plan_sql(spec, plan), nl=False)
        return
    click.echo(f"Plan for {plan.source}: {len(plan.operations)} operations")
    for d in plan.decisions:
        sources = sorted({e.split(" (")[0] for e in d.evidence}) or ["none"]
        if d.action == "remap":
            head = f"tid {d.tid} → remap to {d.target} '{d.name}'"
        else:
            head = f"tid {d.tid} '{d.name or '?'}' → {d.action}"
        click.echo(f"  {head} ({d.reason}; evidence: {', '.join(sources)})")
    click.echo("Operations per strategy:")
    click.echo(render_table(["strategy", "operations"], sorted(plan.counts().items())))
    for note in plan.notes:
        click.echo(f"Note: {note}")
    if output:
        click.echo(f"Plan written to {output}")


@repair_group.command("apply")
@source_options
@click.argument("plan_file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--keep-caches", is_flag=True, help="Leave Drupal's cache tables alone.")
@click.option(
    "--allow-non-transactional",
    is_flag=True,
    help="Apply to MyISAM (non-rollback) tables, relying on the journal alone.",
)
@click.option("--journal", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="With --dump: directory for the repaired copy, repair.sql patch and journal.",
)
@click.option("--batch-size", type=click.IntRange(1), default=500, show_default=True)
@FMT
def apply_command(
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
    if not yes:
        if not sys.stdin.isatty():
            raise BadInput("not a terminal: pass --yes to apply the plan")
        click.echo(f"{len(plan.operations)} operations on {plan.source}: {plan.counts()}")
        if not click.confirm("Apply this plan?", default=False):
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
    if keep_caches:
        click.echo("Caches left alone (--keep-caches): clear them in Drupal (drush cc all).")
    else:
        cleared = ", ".join(f"{t}: {n}" for t, n in sorted(report.caches.items())) or "none"
        click.echo(f"Cleared cache entries: {cleared}")
    if out:
        click.echo(f"Repaired copy and repair.sql patch in {out}")
    click.echo(f"To go back: drupal-migrate repair undo {report.journal}")


@repair_group.command("undo")
@source_options
@click.argument("journal", type=click.Path(path_type=Path, dir_okay=False, exists=True))
def undo_command(spec: SourceSpec, journal: Path) -> None:
    """Restore every row a journaled apply touched."""
    report = api.undo_repair(spec, journal)
    click.echo(
        f"Restored {report.records} journaled change(s) in {', '.join(report.tables) or '-'}"
    )
