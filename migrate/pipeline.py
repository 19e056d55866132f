"""``drupal-migrate run``: the whole migration of one site, in the order it must happen.

audit → repair plan → (confirmed) apply, to a repaired copy for a dump → re-audit
→ export the repaired site to each target → redirects → reconciliation → one
summary page. The steps are data (``Step``, built by ``steps_for``); each calls
the library through ``migrate.api`` so it runs exactly what the single commands
run. A step journal (``OUT/run-journal.jsonl``, one fsynced line per event)
records every finished step: a crash or Ctrl-C resumes at the step that did not
finish, and an export resumes at its last complete batch on its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from migrate import api
from migrate.durable import fsync_dir, text_writer, write_durably
from migrate.errors import BadInput, StateError
from migrate.profile import SiteProfile
from migrate.progress import Progress
from migrate.repair.operations import Decision, Plan
from migrate.source import DumpSpec, SourceSpec

JOURNAL = "run-journal.jsonl"
SUMMARY = "summary.html"
REDIRECT_SUFFIX = {"nginx": "nginx.conf", "apache": "apache.conf", "csv": "csv"}


@dataclass(frozen=True)
class StepRecord:
    """What one finished step did: a line for people, figures, and the files it wrote."""

    step: str
    title: str
    summary: str
    figures: dict[str, int] = field(default_factory=dict)
    outputs: tuple[tuple[str, str], ...] = ()
    """(label, path relative to the output folder)"""
    ok: bool = True
    seconds: float = 0.0
    resumed: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepRecord:
        return cls(
            step=str(data["step"]),
            title=str(data["title"]),
            summary=str(data["summary"]),
            figures={str(k): int(v) for k, v in dict(data.get("figures") or {}).items()},
            outputs=tuple((str(a), str(b)) for a, b in data.get("outputs") or ()),
            ok=bool(data.get("ok", True)),
            seconds=float(data.get("seconds", 0.0)),
            resumed=True,
        )


@dataclass(frozen=True)
class PlanSummary:
    """What the admin confirms before anything is changed."""

    site: str
    source: str
    operations: int
    per_strategy: dict[str, int]
    tables: list[str]
    decisions: list[tuple[int, str, str]]
    """(tid, action, what it becomes: "as “name”", "to term 36 “name”", "(name unknown)")"""
    in_place: bool
    """True when the live database is changed; False for a repaired copy of a dump."""


Confirm = Callable[[PlanSummary], bool]
Notify = Callable[[str, int, int, "StepRecord | None"], None]
"""Called as ``notify(step title, number, of, record)``: record None when it starts."""
ProgressFactory = Callable[[str], AbstractContextManager[Progress]]


@dataclass
class RunContext:
    """What the steps share: the site, where things go, and what earlier steps left."""

    site: SiteProfile
    spec: SourceSpec
    out: Path
    confirm: Confirm
    progress: ProgressFactory
    workers: int | None = None
    records: dict[str, StepRecord] = field(default_factory=dict)

    def rel(self, path: Path) -> str:
        return os.path.relpath(path, self.out)

    @property
    def repaired_spec(self) -> SourceSpec:
        """The repaired site: the copy ``apply`` wrote for a dump, else the database itself."""
        done = self.records.get("apply")
        if isinstance(self.spec, DumpSpec) and done and done.figures.get("operations"):
            repaired = self.out / "repaired" / "repaired.sql.gz"
            return DumpSpec(repaired, self.spec.prefix, self.spec.cache_dir)
        return self.spec

    @property
    def hosts(self) -> tuple[str, ...]:
        urls = (*self.site.old_urls, *((self.site.site_url,) if self.site.site_url else ()))
        return tuple(h for h in (urlsplit(u).hostname for u in urls) if h)


@dataclass(frozen=True)
class Step:
    name: str
    title: str
    run: Callable[[RunContext], StepRecord]


@dataclass(frozen=True)
class RunResult:
    site: str
    out: Path
    records: list[StepRecord]
    summary_page: Path
    stopped_after: str | None = None
    """The step after which a dry run stopped."""
    next_steps: tuple[str, ...] = ()
    """What the admin does with the results, in order."""

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.records)

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "out": str(self.out),
            "ok": self.ok,
            "stopped_after": self.stopped_after,
            "summary": str(self.summary_page),
            "next_steps": list(self.next_steps),
            "steps": [asdict(r) for r in self.records],
        }


# -- the steps -----------------------------------------------------------------------------


def _write_audit(ctx: RunContext, spec: SourceSpec, stem: str, title: str) -> StepRecord:
    from migrate.report.html import write_html
    from migrate.report.jsonout import write_json

    with ctx.progress(title) as progress:
        report = api.audit(spec, base_hosts=ctx.hosts or None, progress=progress)
    try:
        with text_writer(ctx.out / f"{stem}.json") as fh:
            write_json(report, fh)
        with text_writer(ctx.out / f"{stem}.html") as fh:
            write_html(report, fh, base_url=ctx.site.old_url)
        totals = report.by_severity()
        figures = {"findings": report.total, **totals}
    finally:
        report.close()
    summary = (
        f"{report.total:,} findings ("
        + ", ".join(f"{n:,} {sev}" for sev, n in totals.items())
        + ")"
    )
    return StepRecord(
        stem,
        title,
        summary,
        figures,
        (("report", f"{stem}.html"), ("JSON", f"{stem}.json")),
    )


def _audit(ctx: RunContext) -> StepRecord:
    return _write_audit(ctx, ctx.spec, "audit", "Audit")


def _plan(ctx: RunContext) -> StepRecord:
    plan = api.plan_repair(ctx.spec, ctx.site.repair_mapping, ctx.site.strategy)
    rules = api.write_plan(plan, ctx.out / "plan.json")[1:]
    counts = plan.counts()
    per = ", ".join(f"{n:,} {k}" for k, n in sorted(counts.items()))
    summary = f"{len(plan.operations):,} operations" + (f" ({per})" if per else "")
    return StepRecord(
        "plan",
        "Repair plan",
        summary,
        {"operations": len(plan.operations), "redirect_rules": len(rules), **counts},
        (("plan", "plan.json"), *((f"term redirects: {p.name}", ctx.rel(p)) for p in rules)),
    )


def plan_summary(site: str, spec: SourceSpec, plan: Plan) -> PlanSummary:
    return PlanSummary(
        site=site,
        source=spec.safe_url,
        operations=len(plan.operations),
        per_strategy=plan.counts(),
        tables=plan.tables(),
        decisions=[(d.tid, d.action, _decision_detail(d)) for d in plan.decisions],
        in_place=not isinstance(spec, DumpSpec),
    )


def _decision_detail(decision: Decision) -> str:
    name = f"“{decision.name}”" if decision.name else ""
    if decision.action == "restore":
        return f"as {name}" if name else ""
    if decision.action == "remap":
        return f"to term {decision.target}" + (f" {name}" if name else "")
    return f"(was {name})" if name else "(name unknown)"


def _apply(ctx: RunContext) -> StepRecord:
    plan = Plan.load(ctx.out / "plan.json")
    if not plan.operations:
        return StepRecord("apply", "Repair", "nothing to repair", {"operations": 0})
    if not ctx.confirm(plan_summary(ctx.site.name, ctx.spec, plan)):
        raise BadInput("not confirmed: nothing was changed (run again, or pass --yes)")
    if isinstance(ctx.spec, DumpSpec):
        repaired = ctx.out / "repaired"
        if repaired.exists():  # a copy an interrupted apply left: it is ours, start it again
            shutil.rmtree(repaired)
        report = api.apply_repair(ctx.spec, plan, yes=True, out=repaired)
        outputs: tuple[tuple[str, str], ...] = (
            ("repaired dump", "repaired/repaired.sql.gz"),
            ("SQL patch", "repaired/repair.sql"),
            ("journal", ctx.rel(report.journal)),
        )
        where = "a repaired copy of the dump"
    else:
        journal = ctx.out / "repair-journal.jsonl"
        if journal.exists():
            raise StateError(
                f"an earlier repair stopped part-way (journal {journal}): undo it with"
                f" drupal-migrate repair undo {journal} --site {ctx.site.name}, then run again"
            )
        report = api.apply_repair(ctx.spec, plan, yes=True, journal=journal)
        outputs = (("journal", ctx.rel(journal)),)
        where = "the database"
    return StepRecord(
        "apply",
        "Repair",
        f"{report.operations:,} operations applied to {where} in {report.batches} batch(es)",
        {"operations": report.operations, "batches": report.batches},
        outputs,
    )


def _reaudit(ctx: RunContext) -> StepRecord:
    return _write_audit(ctx, ctx.repaired_spec, "audit-after", "Audit after repair")


def _export_step(target: str) -> Step:
    def run(ctx: RunContext) -> StepRecord:
        from migrate.export.engine import ExportOptions

        site = ctx.site
        extra = {"timezone": site.timezone} if site.timezone and target == "wxr" else {}
        options = ExportOptions(
            to=target,
            files_dir=site.files_dir,
            old_urls=site.old_urls,
            site_url=site.site_url,
            mapping=site.mapping,
            target_options=tuple(extra.items()),
        )
        if ctx.workers is not None:
            options = replace(options, workers=ctx.workers)
        out_dir = site.export_dir(target)
        with ctx.progress(f"Exporting to {target}") as progress:
            summary = api.export(ctx.repaired_spec, out_dir, options, progress=progress)
        nodes = summary.reconciliation.count("nodes") if summary.reconciliation else None
        source, found = (nodes.source, nodes.found) if nodes else (0, 0)
        added = sum(summary.added.values())
        text = (
            f"{found:,} of {source:,} nodes, {added:,} items added in {summary.batches} batch(es)"
        )
        return StepRecord(
            f"export-{target}",
            f"Export to {target}",
            text,
            {
                "nodes": found,
                "source_nodes": source,
                "batches": summary.batches,
                "failed": len(summary.failed),
            },
            (("export", ctx.rel(out_dir)),),
            ok=not summary.failed,
        )

    return Step(f"export-{target}", f"Export to {target}", run)


def _redirects_step(target: str) -> Step:
    def run(ctx: RunContext) -> StepRecord:
        fmt = ctx.site.redirects
        result = api.redirects(ctx.site.export_dir(target), fmt)
        path = ctx.out / f"redirects-{target}.{REDIRECT_SUFFIX[fmt]}"
        write_durably(path, result.text)
        return StepRecord(
            f"redirects-{target}",
            f"Redirects for {target}",
            f"{len(result.map.redirects):,} redirects ({fmt}), {len(result.map.dropped):,} left"
            f" out, {len(result.unresolved):,} old URLs with no target",
            {
                "redirects": len(result.map.redirects),
                "left_out": len(result.map.dropped),
                "unresolved": len(result.unresolved),
            },
            (("redirect map", ctx.rel(path)),),
        )

    return Step(f"redirects-{target}", f"Redirects for {target}", run)


def _reconcile(ctx: RunContext) -> StepRecord:
    outputs = []
    bad = []
    for target in ctx.site.targets:
        path = ctx.site.export_dir(target) / "reconciliation.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        outputs.append((f"{target} reconciliation", ctx.rel(path)))
        if not data.get("reconciled"):
            bad.append(target)
    text = (
        f"counts do not reconcile for {', '.join(bad)}"
        if bad
        else f"all counts reconcile ({len(outputs)} export(s))"
    )
    return StepRecord(
        "reconcile",
        "Reconciliation",
        text,
        {"exports": len(outputs), "not_reconciled": len(bad)},
        tuple(outputs),
        ok=not bad,
    )


def steps_for(site: SiteProfile) -> list[Step]:
    """The run's steps, in order, for this site's targets."""
    steps = [
        Step("audit", "Audit", _audit),
        Step("plan", "Repair plan", _plan),
        Step("apply", "Repair", _apply),
        Step("audit-after", "Audit after repair", _reaudit),
    ]
    steps += [_export_step(t) for t in site.targets]
    steps += [_redirects_step(t) for t in site.targets]
    steps.append(Step("reconcile", "Reconciliation", _reconcile))
    return steps


# -- the journal ---------------------------------------------------------------------------


def _fingerprint(site: SiteProfile, spec: SourceSpec) -> str:
    """What must not change for a run to be resumed: the source and what the steps read."""
    facts: dict[str, Any] = {
        "source": spec.safe_url,
        "targets": site.targets,
        "repair_mapping": str(site.repair_mapping or ""),
        "strategy": site.strategy,
        "mapping": str(site.mapping or ""),
        "old_urls": site.old_urls,
        "files_dir": str(site.files_dir or ""),
        "timezone": site.timezone,
    }
    if isinstance(spec, DumpSpec):
        try:
            info = spec.path.stat()
        except OSError as exc:
            raise BadInput(f"{spec.path}: cannot read the dump ({exc.strerror})") from None
        facts["dump"] = [info.st_size, info.st_mtime_ns]
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()


def _journal_lines(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.endswith("\n"):
                return  # a line cut by a crash: the step it would record is redone
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                raise StateError(f"{path}:{number}: not a run journal line") from None
            if not isinstance(event, dict):
                raise StateError(f"{path}:{number}: not a run journal line")
            yield event


def _append(path: Path, event: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(event, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_journal(out: Path) -> tuple[str | None, dict[str, StepRecord]]:
    """The fingerprint a run began with and the steps it finished."""
    fingerprint = None
    done: dict[str, StepRecord] = {}
    for event in _journal_lines(out / JOURNAL):
        kind = event.get("event")
        if kind == "begin":
            fingerprint = str(event.get("fingerprint"))
            done.clear()
        elif kind == "done":
            try:
                record = StepRecord.from_dict(event)
            except (KeyError, TypeError, ValueError):
                raise StateError(f"{out / JOURNAL}: a malformed step record") from None
            done[record.step] = record
    return fingerprint, done


def run_site(
    site: SiteProfile,
    spec: SourceSpec,
    *,
    confirm: Confirm,
    progress: ProgressFactory,
    notify: Notify,
    dry_run: bool = False,
    restart: bool = False,
    workers: int | None = None,
) -> RunResult:
    """Run (or resume) the steps for one site; every finished step is journaled."""
    from migrate.report.summary import write_summary

    out = site.out
    out.mkdir(parents=True, exist_ok=True)
    journal = out / JOURNAL
    fingerprint = _fingerprint(site, spec)
    began, done = read_journal(out)
    if restart or began is None:
        done = {}
        if journal.exists():
            journal.unlink()
        _append(journal, {"event": "begin", "fingerprint": fingerprint, "at": _now()})
        fsync_dir(out)
    elif began != fingerprint:
        raise StateError(
            f"the site's source or profile changed since the run in {out} began:"
            " pass --restart to start it again from the audit"
        )
    ctx = RunContext(site, spec, out, confirm, progress, workers, dict(done))
    steps = steps_for(site)
    records: list[StepRecord] = []
    stopped = None
    for number, step in enumerate(steps, 1):
        if step.name in ctx.records:
            record = ctx.records[step.name]
            notify(step.title, number, len(steps), record)
            records.append(record)
        else:
            if dry_run and step.name == "apply":
                stopped = "plan"
                break
            notify(step.title, number, len(steps), None)
            _append(journal, {"event": "start", "step": step.name, "at": _now()})
            began_at = time.monotonic()
            record = step.run(ctx)
            record = replace(record, seconds=time.monotonic() - began_at)
            _append(journal, {"event": "done", **asdict(record), "at": _now()})
            ctx.records[step.name] = record
            records.append(record)
            notify(step.title, number, len(steps), record)
    page = out / SUMMARY
    result = RunResult(site.name, out, records, page, stopped, _next_steps(ctx, stopped))
    write_summary(result, site, spec, page)
    return result


def _next_steps(ctx: RunContext, stopped: str | None) -> tuple[str, ...]:
    """The admin's work after the run, named with the files it wrote."""
    if stopped is not None:
        return ("Review plan.json, then run again without --dry-run to apply it.",)
    steps = []
    if "apply" in ctx.records and ctx.records["apply"].figures.get("operations"):
        if isinstance(ctx.spec, DumpSpec):
            steps.append(
                "Load the repaired site into MariaDB:"
                " zcat repaired/repaired.sql.gz | mariadb NEW_DATABASE"
            )
        else:
            steps.append("Clear Drupal's caches if the repair kept them (drush cc all).")
    plan = ctx.records.get("plan")
    rules = (
        [rel for label, rel in plan.outputs if label.startswith("term redirects")] if plan else []
    )
    if rules:
        steps.append(
            f"Install the redirects of the gone terms' URLs ({', '.join(rules)}) on the old"
            " site's web server, next to the new site's redirect map."
        )
    for target in ctx.site.targets:
        folder = ctx.rel(ctx.site.export_dir(target))
        steps.append(
            {
                "wxr": f"WordPress: upload {folder}/media to wp-content/uploads/drupal/, then"
                f" import {folder}/wxr-*.xml in name order into an empty site.",
                "hugo": f"Hugo: build the site with hugo --source {folder}.",
                "jsonl": f"Load {folder}/*/batch-*.jsonl (schema: {folder}/bundle.schema.json).",
            }.get(target, f"Import {folder} into the new platform.")
        )
        if f"redirects-{target}" in ctx.records:
            name = f"redirects-{target}.{REDIRECT_SUFFIX[ctx.site.redirects]}"
            steps.append(f"Install the redirect map {name} on the new site's web server.")
    return tuple(steps)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
