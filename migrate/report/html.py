"""The audit as one self-contained HTML page for site admins.

Inline CSS and an inline SVG chart, no scripts, fonts or images from elsewhere,
so the file can be mailed and opened offline. The "where" of each finding is
written as words with links (node pages, notice URLs, menu items), findings are
grouped by node and by term, and long lists fold into ``<details>``. Every value
from the database goes through ``html.escape``. Written as a stream.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from html import escape
from typing import IO, Any
from urllib.parse import quote

from migrate.audit import AuditReport, CheckResult
from migrate.audit.findings import Entity, Finding
from migrate.report.jsonout import tool_version
from migrate.report.table import id_ranges

ROWS_PER_CHECK = 2000
GROUPS_SHOWN = 300
"""Nodes (and terms) listed in the by-node and by-term sections, most findings first."""
PER_GROUP = 25
"""Findings listed inside one node's or term's fold."""
_COLOURS = {"error": "#c0392b", "warning": "#b9770e", "notice": "#2471a3"}
_SEVERITIES = ("error", "warning", "notice")

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:2rem auto;
max-width:72rem;padding:0 1rem;color:#222}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2.2rem;
border-bottom:1px solid #ddd;padding-bottom:.2rem}
.meta{color:#555}table{border-collapse:collapse;width:100%;margin:.6rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}tr:nth-child(even) td{background:#fafafa}td.n{text-align:right}
.sev{display:inline-block;padding:0 .4rem;border-radius:.3rem;color:#fff;font-size:.8rem}
.error{background:#c0392b}.warning{background:#b9770e}.notice{background:#2471a3}
.ok{color:#1e8449}.hint{color:#555}.desc{color:#444;max-width:60rem}code{font-size:.85rem}
.totals{display:flex;flex-wrap:wrap;gap:.8rem;margin:1rem 0}
.total{border:1px solid #ddd;border-radius:.4rem;padding:.5rem .9rem;min-width:7rem}
.total b{display:block;font-size:1.7rem;line-height:1.2}
details{margin:.25rem 0}summary{cursor:pointer}details>ul{margin:.2rem 0 .6rem}
.old{color:#8a1c12;text-decoration:line-through}.new{color:#1e6b3a;font-weight:600}
"""


def _sev(severity: str) -> str:
    return f'<span class="sev {escape(severity)}">{escape(severity)}</span>'


def _nice_step(biggest: int) -> int:
    """A round tick step (1, 2, 5, 10, 20, 50, …) giving at most eight ticks up to ``biggest``."""
    magnitude = 1
    while True:
        for step in (magnitude, 2 * magnitude, 5 * magnitude):
            if biggest <= 8 * step:
                return step
        magnitude *= 10


def chart(report: AuditReport) -> str:
    """Horizontal bars per check, stacked by severity, on an x axis with ticks and a label."""
    rows = sorted(
        (r for r in report.checks if r.count),
        key=lambda r: (-(r.worst() or r.severity).rank, -r.count, r.id),
    )
    if not rows:
        return '<p class="ok">No findings.</p>'
    step = _nice_step(max(r.count for r in rows))
    top = step * -(-max(r.count for r in rows) // step)
    label_w, bar_w, row_h, axis_h = 250, 460, 22, 44
    height = row_h * len(rows) + axis_h
    scale = bar_w / top
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 60}"'
        f' height="{height}" role="img" aria-label="findings per check" font-size="12"'
        ' font-family="system-ui,sans-serif">'
    ]
    base_y = row_h * len(rows) + 4
    for tick in range(0, top + 1, step):
        x = label_w + tick * scale
        parts.append(
            f'<line x1="{x:.1f}" y1="2" x2="{x:.1f}" y2="{base_y}" stroke="#e3e3e3"/>'
            f'<line x1="{x:.1f}" y1="{base_y}" x2="{x:.1f}" y2="{base_y + 5}" stroke="#555"/>'
            f'<text x="{x:.1f}" y="{base_y + 17}" text-anchor="middle">{tick:,}</text>'
        )
    parts.append(
        f'<line x1="{label_w}" y1="{base_y}" x2="{label_w + bar_w}" y2="{base_y}" stroke="#555"/>'
        f'<text x="{label_w + bar_w / 2:.0f}" y="{base_y + 35}" text-anchor="middle">'
        "findings (errors, warnings, notices)</text>"
    )
    for i, result in enumerate(rows):
        y = 4 + i * row_h
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{escape(result.id)}</text>'
        )
        x = float(label_w)
        for sev in _SEVERITIES:
            n = result.by_severity.get(sev, 0)
            if not n:
                continue
            w = max(1.0, n * scale)
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}"'
                f' fill="{_COLOURS[sev]}"><title>{n:,} {sev}</title></rect>'
            )
            x += w
        parts.append(f'<text x="{x + 5:.1f}" y="{y + 15}">{result.count:,}</text>')
    parts.append("</svg>")
    return "".join(parts)


# -- the "where" of a finding, in words -----------------------------------------------------


@dataclass(frozen=True)
class Links:
    """Where links point: the site's URL (relative links without one)."""

    base: str = ""

    def url(self, path: str) -> str:
        return f"{self.base}/{quote(path.lstrip('/'), safe='/?=&%:')}"

    def a(self, path: str, label: str) -> str:
        return f'<a href="{escape(self.url(path))}">{escape(label)}</a>'

    def node(self, nid: Any, title: Any = None) -> str:
        label = f"node {int(nid)}" + (f" “{title}”" if title else "")
        return self.a(f"node/{int(nid)}", label)


def _plain(value: Any) -> str:
    """A value as words: lists joined, mappings as 'key value', never a Python repr."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {_plain(v)}" for k, v in value.items() if v not in (None, "", []))
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _trail(crumbs: list[Any]) -> str:
    return " › ".join(escape(str(c)) for c in crumbs)


_HANDLED = {
    "nid",
    "title",
    "vid",
    "current",
    "field",
    "language",
    "delta",
    "path",
    "alias",
    "source",
    "mlid",
    "menu_name",
    "menu_links",
    "linking_nodes",
    "aliases",
    "also",
    "href",
    "text",
    "tid",
    "term_state",
    "old_trail",
    "new_trail",
    "old_tid",
    "certain",
    "old_trail_exact",
    "lost_tids",
    "now_tid",
    "http_status",
    "status",
    "type",
    "bundle",
    "entity_type",
    "kind",
    "alias_of",
    "breadcrumb_term_row",
    "hidden",
}


def where(entity: Entity, links: Links) -> str:
    """The place of a finding as a short sentence with links, from its JSON form (the
    fields ``audit.schema.json`` documents, whatever the check)."""
    e = entity.to_dict()
    out: list[str] = []
    if "old_trail" in e and "new_trail" in e:
        out.append(
            f'breadcrumb <span class="old">{_trail(e["old_trail"])}</span>'
            f' → <span class="new">{_trail(e["new_trail"])}</span>'
            + (" (old trail inferred)" if e.get("old_trail_exact") is False else "")
        )
    if e.get("nid") is not None:
        node = links.node(e["nid"], e.get("title"))
        state = " (unpublished)" if e.get("status") == 0 else ""
        out.append(node + state)
    if e.get("field"):
        place = f"{e['field']}[{e.get('language', 'und')}][{e.get('delta', 0)}]"
        if e.get("current") is False and e.get("vid") is not None:
            place += f" of old revision {e['vid']}"
        out.append(f"field <code>{escape(place)}</code>")
    if e.get("mlid") is not None:
        label = f"menu item “{e.get('title') or e.get('link_title') or e['mlid']}”"
        out.append(
            links.a(f"admin/structure/menu/item/{int(e['mlid'])}/edit", label)
            + escape(f" in {e.get('menu_name', '?')}")
        )
    if e.get("href"):
        text = f"link “{e['text']}” → " if e.get("text") else "link → "
        out.append(escape(text) + f"<code>{escape(str(e['href']))}</code>")
    elif e.get("alias"):
        out.append("alias " + links.a(str(e["alias"]), "/" + str(e["alias"]).lstrip("/")))
    elif e.get("path") and e.get("nid") is None:
        out.append("page " + links.a(str(e["path"]), "/" + str(e["path"]).lstrip("/")))
    if e.get("source") and e.get("alias"):
        out.append(f"for <code>{escape(str(e['source']))}</code>")
    if e.get("http_status"):
        out.append(f"answers HTTP {int(e['http_status'])}")
    for link in e.get("menu_links") or ():
        if isinstance(link, dict) and link.get("mlid") is not None:
            label = f"menu item “{link.get('link_title') or link['mlid']}”"
            out.append(
                "reached via "
                + links.a(f"admin/structure/menu/item/{int(link['mlid'])}/edit", label)
                + escape(f" in {link.get('menu_name', '?')}")
                + (" (hidden)" if link.get("hidden") else "")
            )
    nodes = [int(n) for n in e.get("linking_nodes") or ()]
    if nodes:
        shown = ", ".join(links.a(f"node/{n}", str(n)) for n in nodes[:10])
        more = f" … {id_ranges(nodes)}" if len(nodes) > 10 else ""
        out.append(f"linked from node{'s' if len(nodes) > 1 else ''} {shown}{more}")
    aliases = [str(a) for a in e.get("aliases") or ()]
    if aliases:
        out.append("aliases " + ", ".join(links.a(a, "/" + a) for a in aliases))
    if e.get("also"):
        out.append("also " + ", ".join(f"<code>{escape(str(p))}</code>" for p in e["also"]))
    if e.get("tid") is not None:
        state = str(e.get("term_state") or e.get("kind") or "").replace("_", " ")
        out.append(f"term {int(e['tid'])}" + (f" ({escape(state)})" if state else ""))
    if e.get("lost_tids"):
        out.append("lost " + ", ".join(f"term {int(t)}" for t in e["lost_tids"]))
    rest = {k: v for k, v in e.items() if k not in _HANDLED and v not in (None, "", [], {})}
    if rest:
        out.append(escape("; ".join(f"{k.replace('_', ' ')} {_plain(v)}" for k, v in rest.items())))
    return "; ".join(out) or "–"


# -- grouping ------------------------------------------------------------------------------


@dataclass
class _Group:
    label: str
    by_severity: Counter[str] = field(default_factory=Counter)
    items: list[Finding] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(self.by_severity.values())


def _groups(report: AuditReport, links: Links) -> tuple[dict[int, _Group], dict[int, _Group]]:
    """Findings per node and per term; only the first few of each are kept in memory."""
    nodes: dict[int, _Group] = {}
    terms: dict[int, _Group] = {}
    for result in report.checks:
        for finding in result.iter_findings():
            e = finding.entity
            keys: list[tuple[dict[int, _Group], int, str]] = []
            if e.node is not None:
                keys.append((nodes, e.node, links.node(e.node, e.node_title)))
            keys += [(terms, t, f"term {t}") for t in sorted(set(e.terms))]
            for table, key, label in keys:
                group = table.setdefault(key, _Group(label))
                if e.node_title and table is nodes and "“" not in group.label:
                    group.label = label
                group.by_severity[finding.severity.value] += 1
                if len(group.items) < PER_GROUP:
                    group.items.append(finding)
    return nodes, terms


def _counts(by_severity: Counter[str] | dict[str, int]) -> str:
    return ", ".join(f"{by_severity[s]:,} {s}" for s in _SEVERITIES if by_severity.get(s))


def _group_section(
    title: str, anchor: str, groups: dict[int, _Group], links: Links, noun: str
) -> Iterator[str]:
    yield f'<h2 id="{anchor}">{escape(title)}</h2>\n'
    if not groups:
        yield '<p class="ok">None.</p>\n'
        return
    ordered = sorted(groups.items(), key=lambda kv: (-kv[1].count, kv[0]))
    yield (
        f"<p>{len(groups):,} {noun}{'s' if len(groups) != 1 else ''} with findings"
        + (f"; the {GROUPS_SHOWN} with the most are listed" if len(groups) > GROUPS_SHOWN else "")
        + ".</p>\n"
    )
    for _key, group in ordered[:GROUPS_SHOWN]:
        yield (
            f"<details><summary>{group.label} — <b>{group.count:,}</b>"
            f" ({_counts(group.by_severity)})</summary><ul>"
        )
        for finding in group.items:
            yield (
                f"<li>{_sev(finding.severity.value)} <code>{escape(finding.check)}</code>:"
                f" {escape(finding.message)}</li>"
            )
        if group.count > len(group.items):
            yield f"<li>… and {group.count - len(group.items):,} more below</li>"
        yield "</ul></details>\n"


# -- the page ------------------------------------------------------------------------------


def _finding_row(finding: Finding, links: Links) -> str:
    return (
        f"<tr><td>{_sev(finding.severity.value)}</td>"
        f"<td>{where(finding.entity, links)}</td>"
        f"<td>{escape(finding.message)}</td>"
        f'<td class="hint">{escape(finding.hint)}</td></tr>'
    )


def _section(result: CheckResult, links: Links) -> Iterator[str]:
    worst = (result.worst() or result.severity).value
    yield (
        f'<details id="{escape(result.id)}"{" open" if worst == "error" else ""}><summary>'
        f"{_sev(worst)} <b>{escape(result.title)}</b> <code>{escape(result.id)}</code> —"
        f" {result.count:,} ({_counts(result.by_severity)})</summary>\n"
        f'<p class="desc">{escape(result.description)}</p>\n'
        "<table><thead><tr><th>severity</th><th>where</th><th>what</th><th>repair</th>"
        "</tr></thead><tbody>\n"
    )
    for n, finding in enumerate(result.iter_findings()):
        if n >= ROWS_PER_CHECK:
            yield (
                f'<tr><td colspan="4">… {result.count - ROWS_PER_CHECK:,} more: see'
                " <code>--format json</code></td></tr>\n"
            )
            break
        yield _finding_row(finding, links) + "\n"
    yield "</tbody></table></details>\n"


def _total(number: int, label: str, css: str = "") -> str:
    return f'<div class="total {css}"><b>{number:,}</b>{escape(label)}</div>'


def _page(report: AuditReport, links: Links) -> Iterable[str]:
    totals = report.by_severity()
    nodes, terms = _groups(report, links)
    with_findings = sorted(
        (r for r in report.checks if r.count),
        key=lambda r: (-(r.worst() or r.severity).rank, -r.count, r.id),
    )
    clean = sorted(r.id for r in report.checks if not r.count)
    yield (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Drupal audit — {escape(report.source)}</title><style>{_CSS}</style>"
        "</head><body>\n<h1>Drupal 7 audit</h1>\n"
        f'<p class="meta">{escape(report.source)} · Drupal {escape(report.core_version or "?")}'
        f" · drupal-migrate {escape(tool_version())} · read-only</p>\n"
        '<div class="totals">'
        + _total(report.total, "findings", "all")
        + "".join(_total(totals[s], f"{s}s", s) for s in _SEVERITIES)
        + _total(len(nodes), "nodes affected")
        + _total(len(terms), "terms involved")
        + "</div>\n"
        '<nav><a href="#checks">checks</a> · <a href="#by-node">by node</a> ·'
        ' <a href="#by-term">by term</a></nav>\n'
        '<h2 id="checks">Findings per check</h2>\n' + chart(report) + "\n"
        "<table><thead><tr><th>check</th><th>severity</th><th>count</th><th>title</th>"
        "</tr></thead><tbody>\n"
    )
    for result in with_findings:
        yield (
            f'<tr><td><a href="#{escape(result.id)}"><code>{escape(result.id)}</code></a></td>'
            f"<td>{_sev((result.worst() or result.severity).value)}</td>"
            f'<td class="n">{result.count:,}</td><td>{escape(result.title)}</td></tr>\n'
        )
    if clean:
        yield (
            f'<tr><td colspan="4" class="ok">No findings ({len(clean)} checks): '
            + ", ".join(f"<code>{escape(c)}</code>" for c in clean)
            + "</td></tr>\n"
        )
    yield "</tbody></table>\n"
    for result in with_findings:
        yield from _section(result, links)
    yield from _group_section("By node", "by-node", nodes, links, "node")
    yield from _group_section("By term", "by-term", terms, links, "term")
    yield "</body></html>\n"


def write_html(report: AuditReport, out: IO[str], *, base_url: str | None = None) -> None:
    """Write the whole page; links go to ``base_url`` (relative to the page without one)."""
    links = Links((base_url or "").rstrip("/"))
    for part in _page(report, links):
        out.write(part)
