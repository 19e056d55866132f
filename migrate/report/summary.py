"""The one page ``drupal-migrate run`` ends with: every step, its figures and its files.

Self-contained (inline CSS, no scripts), links relative to the output folder so
the folder can be zipped and mailed. Every text passes ``html.escape``.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from migrate.durable import write_durably
from migrate.report.jsonout import tool_version

if TYPE_CHECKING:
    from migrate.pipeline import RunResult
    from migrate.profile import SiteProfile
    from migrate.source import SourceSpec

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:2rem auto;
max-width:64rem;padding:0 1rem;color:#222}h1{font-size:1.6rem;margin-bottom:.2rem}
.meta{color:#555}table{border-collapse:collapse;width:100%;margin:.8rem 0}
th,td{border:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}.ok{color:#1e8449;font-weight:600}.bad{color:#c0392b;font-weight:600}
.todo{color:#777}h2{font-size:1.2rem;margin-top:1.6rem}td.n{text-align:right;font-variant-numeric:tabular-nums}a{margin-right:.6rem}
"""


def _link(label: str, rel: str) -> str:
    return f'<a href="{escape(quote(rel))}">{escape(label)}</a>'


def render_summary(result: RunResult, site: SiteProfile, spec: SourceSpec) -> str:
    from migrate.pipeline import JOURNAL, steps_for

    state = (
        '<span class="ok">complete</span>'
        if result.ok
        and result.stopped_after is None
        and len(result.records) == len(steps_for(site))
        else '<span class="bad">needs attention</span>'
        if not result.ok
        else '<span class="todo">stopped after the plan (dry run)</span>'
        if result.stopped_after
        else '<span class="todo">not finished: run the same command again to resume</span>'
    )
    done = {r.step: r for r in result.records}
    rows = []
    for number, step in enumerate(steps_for(site), 1):
        record = done.get(step.name)
        if record is None:
            rows.append(
                f'<tr><td class="n">{number}</td><td>{escape(step.title)}</td>'
                '<td class="todo">not run</td><td></td><td></td></tr>'
            )
            continue
        mark = '<span class="ok">✓</span>' if record.ok else '<span class="bad">✗</span>'
        files = " ".join(_link(label, rel) for label, rel in record.outputs)
        rows.append(
            f'<tr><td class="n">{number}</td><td>{mark} {escape(record.title)}</td>'
            f"<td>{escape(record.summary)}</td><td>{files}</td>"
            f'<td class="n">{record.seconds:.1f} s</td></tr>'
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Migration of {escape(site.name)}</title><style>{_CSS}</style></head><body>\n"
        f"<h1>Migration of {escape(site.name)}: {state}</h1>\n"
        f'<p class="meta">Source {escape(spec.safe_url)} · targets'
        f" {escape(', '.join(site.targets))} · drupal-migrate {escape(tool_version())}</p>\n"
        "<table><thead><tr><th>#</th><th>step</th><th>result</th><th>files</th><th>time</th>"
        "</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>\n"
        f"<p>Step journal: {_link(JOURNAL, JOURNAL)}</p>\n"
        + (
            "<h2>Next</h2>\n<ol>"
            + "".join(f"<li>{escape(step)}</li>" for step in result.next_steps)
            + "</ol>\n"
            if result.next_steps
            else ""
        )
        + "</body></html>\n"
    )


def write_summary(result: RunResult, site: SiteProfile, spec: SourceSpec, page: Path) -> None:
    write_durably(page, render_summary(result, site, spec))
