"""The audit: read-only checks registered by id, run against one Drupal 7 site.

A check is a function ``(ctx: AuditContext) -> Iterator[Finding]`` decorated
with ``@check("area.name", severity=..., title=...)``; adding a check means
writing one such function in the module of its concern. The modules are
imported in ``_load_checks`` and nowhere else.

Findings are kept in memory up to a threshold per check and spilled to a
temporary file beyond it, so a million-node audit keeps a flat footprint while
the report stays complete for the JSON and HTML writers.
"""

from __future__ import annotations

import fnmatch
import functools
import pickle
import queue
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import IO, Any, TypeVar

from migrate.audit.context import AuditContext, SharedMemo
from migrate.audit.findings import Finding, MissingTable, Severity
from migrate.errors import BadInput, MigrateError
from migrate.progress import Progress
from migrate.schema import Drupal7

CheckFunction = Callable[[AuditContext], Iterator[Finding]]
Part = Callable[[AuditContext], object]
WarmUp = Callable[[AuditContext], list[Part]]
_T = TypeVar("_T")


@dataclass(frozen=True)
class CheckSpec:
    """A registered check: its stable id, default severity, title and why it matters."""

    id: str
    severity: Severity
    title: str
    description: str
    run: CheckFunction
    weight: int = 0
    warm: WarmUp | None = None
    repair: bool = False
    reads: tuple[str, ...] = ()


REGISTRY: dict[str, CheckSpec] = {}


def check(
    check_id: str,
    *,
    severity: Severity | str,
    title: str,
    weight: int = 0,
    warm: WarmUp | None = None,
    repair: bool = False,
    reads: tuple[str, ...] = (),
) -> Callable[[CheckFunction], CheckFunction]:
    """Register a check function under a stable id; its docstring becomes the description.

    ``weight`` is its rough cost on a large site (0: term-sized reads; 1: one
    node-sized table; 2: node-sized anti-joins; 3: grouping every term reference). A
    side-by-side run starts the heaviest first, so the connections finish together.
    ``warm`` splits a shared scan the check reads into parts that such a run starts
    before any check. ``repair``: the repair planner consumes its findings (their
    entities are its input), so ``repair plan`` runs it and ``repair apply`` re-runs it.
    ``reads``: the tables it reads besides those every Drupal 7 site must have (see
    ``AuditContext.expected_tables`` for the field-table groups such as ``@term_data``);
    when one the site should have is missing, the check does not run and says so.
    """

    def register(func: CheckFunction) -> CheckFunction:
        if check_id in REGISTRY and REGISTRY[check_id].run is not func:
            raise ValueError(f"check id {check_id!r} registered twice")
        doc = " ".join((func.__doc__ or "").replace("``", "").split())
        REGISTRY[check_id] = CheckSpec(
            check_id, Severity(severity), title, doc, func, weight, warm, repair, reads
        )
        return func

    return register


def repair_checks() -> list[str]:
    """Ids of the checks whose findings the repair planner consumes, sorted."""
    _load_checks()
    return sorted(c.id for c in REGISTRY.values() if c.repair)


def _load_checks() -> dict[str, CheckSpec]:
    """Import every check module once; importing registers its checks."""
    from migrate.audit import breadcrumb, content, links, orphans, taxonomy  # noqa: F401

    return REGISTRY


def available_checks() -> list[CheckSpec]:
    return [spec for _, spec in sorted(_load_checks().items())]


def select_checks(selection: Sequence[str] = ("*",)) -> list[CheckSpec]:
    """The checks matching any of the glob patterns (``taxonomy.*``), sorted by id."""
    specs = available_checks()
    chosen = [s for s in specs if any(fnmatch.fnmatchcase(s.id, pat) for pat in selection)]
    unmatched = [p for p in selection if not any(fnmatch.fnmatchcase(s.id, p) for s in specs)]
    if unmatched:
        known = ", ".join(s.id for s in specs)
        raise BadInput(f"--check {unmatched[0]!r} matches no check (known: {known})")
    return chosen


class FindingStore:
    """The findings of one check: a list while small, a temporary file of pickles beyond."""

    LIMIT = 5000

    def __init__(self) -> None:
        self._items: list[Finding] = []
        self._spill: IO[bytes] | None = None
        self.count = 0

    def add(self, finding: Finding) -> None:
        self.count += 1
        if self._spill is None and len(self._items) < self.LIMIT:
            self._items.append(finding)
            return
        if self._spill is None:
            self._spill = tempfile.TemporaryFile("w+b")  # noqa: SIM115 (closed by close())
        try:
            # Our own typed records, in a private temporary file: pickled as they are.
            pickle.dump(finding, self._spill, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise MigrateError(f"{finding.check}: a finding cannot be stored ({exc})") from None

    def __iter__(self) -> Iterator[Finding]:
        yield from self._items
        if self._spill is not None:
            self._spill.flush()
            self._spill.seek(0)
            while True:
                try:
                    finding = pickle.load(self._spill)  # our own file, written by add()
                except EOFError:
                    break
                yield finding
            self._spill.seek(0, 2)

    def head(self, n: int) -> list[Finding]:
        return self._items[:n]

    def close(self) -> None:
        if self._spill is not None:
            self._spill.close()
            self._spill = None


@dataclass
class CheckResult:
    """What one check found: counts by severity and the findings in a stable order."""

    id: str
    title: str
    severity: Severity
    description: str
    store: FindingStore = field(default_factory=FindingStore, repr=False)
    by_severity: dict[str, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return self.store.count

    @property
    def findings(self) -> list[Finding]:
        """All findings as a list; for large results iterate ``iter_findings`` instead."""
        return list(self.store)

    def iter_findings(self) -> Iterator[Finding]:
        return iter(self.store)

    def examples(self, n: int = 5) -> list[Finding]:
        return self.store.head(n)

    def worst(self) -> Severity | None:
        present = [Severity(s) for s, c in self.by_severity.items() if c]
        return max(present, key=lambda s: s.rank) if present else None


@dataclass
class AuditReport:
    """The whole audit: one result per selected check, in check-id order."""

    source: str
    core_version: str | None
    checks: list[CheckResult]
    selection: tuple[str, ...] = ("*",)
    connections: int = 1
    notes: list[str] = field(default_factory=list)

    def result(self, check_id: str) -> CheckResult:
        for result in self.checks:
            if result.id == check_id:
                return result
        raise KeyError(check_id)

    @property
    def total(self) -> int:
        return sum(r.count for r in self.checks)

    def by_severity(self) -> dict[str, int]:
        totals = {s.value: 0 for s in Severity}
        for result in self.checks:
            for sev, n in result.by_severity.items():
                totals[sev] += n
        return totals

    def summary(self) -> dict[str, Any]:
        return {
            "checks": len(self.checks),
            "checks_with_findings": sum(1 for r in self.checks if r.count),
            "findings": self.total,
            "by_severity": self.by_severity(),
        }

    def fails(self, level: str) -> bool:
        """Whether any finding is at or above ``level`` (error, warning, notice; never)."""
        if level == "never":
            return False
        threshold = Severity(level).rank
        return any(
            Severity(sev).rank >= threshold and n
            for r in self.checks
            for sev, n in r.by_severity.items()
        )

    def close(self) -> None:
        for result in self.checks:
            result.store.close()


def run_audit(
    site: Drupal7,
    selection: Sequence[str] = ("*",),
    progress: Progress | None = None,
    *,
    base_hosts: Sequence[str] | None = None,
    twins: Sequence[Drupal7] = (),
) -> AuditReport:
    """Run the selected checks read-only; findings of each check arrive in a stable order.

    ``twins`` are more connections to the very same data (``open_sources``): each
    runs whole checks on its own thread while the server works on the others'
    queries, so the report is the same whatever their number.
    """
    specs = select_checks(selection)
    memo = SharedMemo()
    contexts = [AuditContext(s, base_hosts=base_hosts, memo=memo) for s in (site, *twins)]
    if progress:
        progress(0, len(specs))
    if len(contexts) == 1:
        results = []
        for done, spec in enumerate(specs, start=1):
            results.append(_run_check(spec, contexts[0]))
            if progress:
                progress(done, len(specs))
    else:
        results = _run_side_by_side(specs, contexts, progress)
    return AuditReport(
        site.source.label, site.core_version, results, tuple(selection), len(contexts)
    )


def _missing_table_findings(spec: CheckSpec, ctx: AuditContext) -> list[Finding]:
    """One error per table the check reads that the site should have but lacks: without
    it the check cannot answer, and reporting nothing would read as 'nothing broken'."""
    return [
        Finding(
            spec.id,
            Severity.ERROR,
            f"table {table} is missing: this check could not run (0 would be a guess)",
            MissingTable(table=table),
            f"restore table {table} (from a backup, or recreate it empty as Drupal's schema"
            " defines it) and audit again",
        )
        for table in ctx.missing_tables(spec.reads)
    ]


def _run_check(spec: CheckSpec, ctx: AuditContext) -> CheckResult:
    result = CheckResult(spec.id, spec.title, spec.severity, spec.description)
    counts = {s.value: 0 for s in Severity}
    missing = _missing_table_findings(spec, ctx)
    try:
        for finding in missing or spec.run(ctx):
            result.store.add(finding)
            counts[finding.severity.value] += 1
    except BaseException:
        result.store.close()
        raise
    result.by_severity = counts
    return result


def _run_side_by_side(
    specs: list[CheckSpec], contexts: list[AuditContext], progress: Progress | None
) -> list[CheckResult]:
    """One thread per context, each taking the next task: the parts of shared scans first,
    then the checks, heaviest first. Results come back in registration order."""
    idle: queue.Queue[AuditContext] = queue.Queue()
    for ctx in contexts:
        idle.put(ctx)

    def run(task: Callable[[AuditContext], _T]) -> _T:
        ctx = idle.get()
        try:
            return task(ctx)
        finally:
            idle.put(ctx)

    warmers = list(dict.fromkeys(spec.warm for spec in specs if spec.warm))
    parts = [part for warm in warmers for part in warm(contexts[0])]
    pool = ThreadPoolExecutor(len(contexts), thread_name_prefix="audit")
    warming = [pool.submit(run, part) for part in parts]
    heaviest_first = sorted(specs, key=lambda spec: -spec.weight)
    futures = {
        pool.submit(run, functools.partial(_run_check, spec)): spec.id for spec in heaviest_first
    }
    done: dict[str, CheckResult] = {}
    try:
        for part in warming:
            part.result()
        for future in as_completed(futures):
            done[futures[future]] = future.result()
            if progress:
                progress(len(done), len(specs))
    except BaseException:
        # The caller closes the connections, which ends the queries still running.
        pool.shutdown(wait=False, cancel_futures=True)
        for result in done.values():
            result.store.close()
        raise
    pool.shutdown()
    return [done[spec.id] for spec in specs]


__all__ = [
    "REGISTRY",
    "AuditContext",
    "AuditReport",
    "CheckResult",
    "CheckSpec",
    "Finding",
    "Severity",
    "available_checks",
    "check",
    "run_audit",
    "select_checks",
]
