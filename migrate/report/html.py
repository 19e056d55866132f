"""The audit as one self-contained HTML page for site admins.

Inline CSS and an inline SVG bar chart, no scripts, fonts or images from
elsewhere, so the file can be mailed and opened offline. Every value from the
database goes through ``html.escape``. Written as a stream, check by check.
"""

from __future__ import annotations

from html import escape
from typing import IO, Any

from migrate.audit import AuditReport, CheckResult
from migrate.audit.findings import Finding
from migrate.report.jsonout import tool_version

ROWS_PER_CHECK = 2000
_COLOURS = {"error": "#c0392b", "warning": "#d68910", "notice": "#2471a3"}

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:2rem auto;
max-width:72rem;padding:0 1rem;color:#222}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2.2rem;
border-bottom:1px solid #ddd;padding-bottom:.2rem}
.meta{color:#666}table{border-collapse:collapse;width:100%;margin:.6rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}tr:nth-child(even) td{background:#fafafa}
.sev{display:inline-block;padding:0 .4rem;border-radius:.3rem;color:#fff;font-size:.8rem}
.error{background:#c0392b}.warning{background:#d68910}.notice{background:#2471a3}
.ok{color:#1e8449}.hint{color:#555}.desc{color:#444;max-width:60rem}code{font-size:.85rem}
nav a{margin-right:.8rem}
"""


def _sev(severity: str) -> str:
    return f'<span class="sev {escape(severity)}">{escape(severity)}</span>'


def _chart(report: AuditReport) -> str:
    """A horizontal bar per check, stacked by severity, scaled to the largest count."""
    rows = [r for r in report.checks if r.count]
    if not rows:
        return '<p class="ok">No findings.</p>'
    biggest = max(r.count for r in rows)
    label_w, bar_w, row_h = 260, 420, 22
    height = row_h * len(rows) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 70}"'
        f' height="{height}" role="img" aria-label="findings per check">'
    ]
    for i, result in enumerate(rows):
        y = 5 + i * row_h
        parts.append(f'<text x="0" y="{y + 15}" font-size="13">{escape(result.id)}</text>')
        x = float(label_w)
        for sev in ("error", "warning", "notice"):
            n = result.by_severity.get(sev, 0)
            if not n:
                continue
            w = max(1.0, bar_w * n / biggest)
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}"'
                f' fill="{_COLOURS[sev]}"><title>{n} {sev}</title></rect>'
            )
            x += w
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 15}" font-size="13">{result.count}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _node_cell(entity: dict[str, Any], base_url: str) -> str:
    nid = entity.get("nid")
    if nid is None:
        return ""
    title = entity.get("title")
    href = f"{base_url}/node/{int(nid)}"
    label = escape(str(title)) if title else f"node {int(nid)}"
    return f'<a href="{escape(href)}">{label}</a> <code>{int(nid)}</code>'


_SKIP = {"title", "nid"}


def _entity_cell(entity: dict[str, Any]) -> str:
    parts = []
    for key, value in entity.items():
        if key in _SKIP or value in (None, [], ""):
            continue
        parts.append(f"{escape(key)}={escape(str(value))}")
    return "<code>" + "<br>".join(parts) + "</code>"


def _finding_row(finding: Finding, base_url: str) -> str:
    return (
        f"<tr><td>{_sev(finding.severity.value)}</td>"
        f"<td>{_node_cell(finding.entity, base_url)}</td>"
        f"<td>{escape(finding.message)}</td>"
        f"<td>{_entity_cell(finding.entity)}</td>"
        f'<td class="hint">{escape(finding.hint)}</td></tr>'
    )


def _section(result: CheckResult, out: IO[str], base_url: str) -> None:
    out.write(
        f'<h2 id="{escape(result.id)}">{_sev(result.severity.value)} {escape(result.title)}'
        f" <code>{escape(result.id)}</code> — {result.count}</h2>\n"
        f'<p class="desc">{escape(result.description)}</p>\n'
    )
    if not result.count:
        out.write('<p class="ok">Nothing found.</p>\n')
        return
    out.write(
        "<table><thead><tr><th>severity</th><th>node</th><th>what</th><th>where</th>"
        "<th>repair</th></tr></thead><tbody>\n"
    )
    for n, finding in enumerate(result.iter_findings()):
        if n >= ROWS_PER_CHECK:
            out.write(
                f'<tr><td colspan="5">… {result.count - ROWS_PER_CHECK} more: see'
                " <code>--format json</code></td></tr>\n"
            )
            break
        out.write(_finding_row(finding, base_url) + "\n")
    out.write("</tbody></table>\n")


def write_html(report: AuditReport, out: IO[str], *, base_url: str | None = None) -> None:
    """Write the whole page; node links go to ``base_url``/node/N (relative without one)."""
    base = (base_url or "").rstrip("/")
    totals = report.by_severity()
    out.write(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Drupal audit — {escape(report.source)}</title><style>{_CSS}</style>"
        "</head><body>\n"
        "<h1>Drupal 7 audit</h1>\n"
        f'<p class="meta">{escape(report.source)} · Drupal {escape(report.core_version or "?")}'
        f" · drupal-migrate {escape(tool_version())} · read-only</p>\n"
        f"<p><strong>{report.total}</strong> findings: "
        + " ".join(f"{_sev(s)} {n}" for s, n in totals.items())
        + "</p>\n"
        + _chart(report)
        + "\n<table><thead><tr><th>check</th><th>severity</th><th>count</th><th>title</th>"
        "</tr></thead><tbody>\n"
    )
    for result in report.checks:
        out.write(
            f'<tr><td><a href="#{escape(result.id)}"><code>{escape(result.id)}</code></a></td>'
            f"<td>{_sev(result.severity.value)}</td><td>{result.count}</td>"
            f"<td>{escape(result.title)}</td></tr>\n"
        )
    out.write("</tbody></table>\n")
    for result in report.checks:
        _section(result, out, base)
    out.write("</body></html>\n")
