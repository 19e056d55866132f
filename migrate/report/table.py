"""Text tables and the audit summary for a terminal: fit the width, colour only where it helps.

An admin reads the totals first, then the worst checks, and finishes on the
command to run next. Nothing here prints: the CLI writes what these return.
"""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Iterable, Sequence
from typing import IO, Any

import click

from migrate.audit import AuditReport, CheckResult

MAX_WIDTH = 100
_SEV_COLOUR = {"error": "red", "warning": "yellow", "notice": "blue"}


def use_colour(stream: IO[str]) -> bool:
    """Colour on a terminal only, and never when ``NO_COLOR`` is set (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def terminal_width() -> int:
    """The terminal's width (``COLUMNS`` wins), at most ``MAX_WIDTH`` so lines stay readable."""
    return min(shutil.get_terminal_size((MAX_WIDTH, 24)).columns, MAX_WIDTH)


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def render_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    indent: str = "  ",
    width: int | None = None,
    right: Sequence[int] = (),
) -> str:
    """An aligned text table; with ``width`` the last column is cut to fit (``…``).

    Measured in characters, so Vietnamese titles line up. ``right`` lists the
    columns (numbers) aligned to the right.
    """
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    if width is not None:
        used = len(indent) + sum(widths[:-1]) + 2 * (len(widths) - 1)
        widths[-1] = max(min(widths[-1], width - used), len(headers[-1]))
        cells = [[*row[:-1], shorten(row[-1], widths[-1])] for row in cells]

    def line(row: list[str]) -> str:
        parts = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return (indent + "  ".join(parts)).rstrip()

    lines = [line(row) for row in cells]
    lines.insert(1, indent + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def id_ranges(ids: Iterable[int], limit: int = 12) -> str:
    """``1-4, 9, 11-20 … (1,101 ids)``: runs collapsed, long lists cut, always the count."""
    values = sorted(set(ids))
    runs: list[str] = []
    start = prev = None
    for value in values:
        if start is not None and prev is not None and value == prev + 1:
            prev = value
            continue
        if start is not None:
            runs.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = value
    if start is not None:
        runs.append(str(start) if start == prev else f"{start}-{prev}")
    shown = ", ".join(runs[:limit]) + (", …" if len(runs) > limit else "")
    return f"{shown} ({len(values):,} id{'s' if len(values) != 1 else ''})"


def _paint(text: str, severity: str, colour: bool) -> str:
    return click.style(text, fg=_SEV_COLOUR.get(severity), bold=True) if colour else text


def _order(results: Sequence[CheckResult]) -> list[CheckResult]:
    """Worst severity first, then the most findings, then the id."""
    return sorted(
        results,
        key=lambda r: (-(r.worst() or r.severity).rank, -r.count, r.id),
    )


def render_audit(
    report: AuditReport,
    *,
    width: int = MAX_WIDTH,
    colour: bool = False,
    examples: int = 3,
    next_step: tuple[str, str] | None = None,
) -> str:
    """The audit for a terminal: totals, one line per check with findings, examples, next step."""
    totals = report.by_severity()
    found = _order([r for r in report.checks if r.count])
    clean = sorted(r.id for r in report.checks if not r.count)
    head = ", ".join(
        _paint(f"{n:,} {sev}{'s' if n != 1 else ''}", sev, colour and n > 0)
        for sev, n in totals.items()
    )
    lines = [
        shorten(f"Audit of {report.source} (Drupal {report.core_version or '?'})", width),
        f"{report.total:,} findings: {head} (in {len(found)} of {len(report.checks)} checks)",
        "",
    ]
    if found:
        table = render_table(
            ["severity", "count", "check", "title"],
            [((r.worst() or r.severity).value, f"{r.count:,}", r.id, r.title) for r in found],
            width=width,
            right=(1,),
        )
        if colour:
            rows = table.split("\n")
            for i, r in enumerate(found, start=2):
                sev = (r.worst() or r.severity).value
                rows[i] = rows[i].replace(sev, _paint(sev, sev, True), 1)
            table = "\n".join(rows)
        lines.append(table)
    if clean:
        lines += textwrap.wrap(
            f"No findings ({len(clean)} checks): " + ", ".join(clean),
            width=width,
            initial_indent="  ",
            subsequent_indent="    ",
        )
    lines.append("")
    wrap = textwrap.TextWrapper(width=width, initial_indent="  ", subsequent_indent="    ")
    hint = textwrap.TextWrapper(
        width=width, initial_indent="      fix: ", subsequent_indent="           "
    )
    for result in found:
        lines.append(f"{result.id} ({result.count:,}):")
        for finding in result.examples(examples):
            sev = finding.severity.value
            text = wrap.fill(f"[{sev}] {finding.message}")
            lines.append(text.replace(f"[{sev}]", f"[{_paint(sev, sev, colour)}]", 1))
            if finding.hint:
                lines.append(hint.fill(finding.hint))
        if result.count > examples:
            lines.append(f"  … and {result.count - examples:,} more (--format html or json)")
        lines.append("")
    if next_step:
        why, command = next_step
        lines += [f"Next, {why}:", f"  {command}"]  # never wrapped: it is meant to be pasted
    return "\n".join(lines)
