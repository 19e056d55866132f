"""Hostile HTML in every rendered place, and HTML nested past any parser's depth, in every target.

Drupal core's field-variety fixture is edited by SQL: the site name and slogan,
vocabulary and term names and descriptions, titles, author and commenter names,
comment subjects and bodies, bodies and summaries, and every text column of every
field table get script tags, event handlers and javascript:/vbscript:/data: URLs in
their many spellings, each carrying a marker; one body holds 100,000 nested divs and
one 20,000 ``<b><i>`` pairs (a comment and a term description too). The Hugo sites
(HTML and ``--markdown``) are built by the real ``hugo`` and every built page is
scanned without a browser; the WXR and JSONL HTML is scanned as a consumer prints it.
Each place's marker must still be in the output: nothing is dropped to be safe.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pytest
from harness import CliResult, TreeGuard, assert_no_traceback, run_cli
from hugo_build import build_hugo
from lxml import etree
from lxml import html as lhtml
from sites import FIXTURES, db_url, execute, set_variable

from migrate.export.clean import MAX_DEPTH, clean_body
from migrate.records import Filter, TextFormat

CORE_FIELDS_DUMP = FIXTURES / "drupal7-core-fields.sql.gz"


def hostile(marker: str) -> str:
    """Every spelling of active content we know, around ``marker``."""
    return (
        f'<script>alert("{marker}")</script><img src=x onerror=alert(1)>'
        f'<a href="javascript:alert(2)">{marker}</a><a href=" JaVa&#09;script:alert(3)">j</a>'
        '<svg onload="alert(4)"><a xlink:href="javascript:alert(5)">s</a></svg>'
        '<p onmouseover="alert(6)">p</p>'
        '<iframe src="javascript:alert(7)" srcdoc="&lt;script&gt;alert(8)&lt;/script&gt;"></iframe>'
        '<a href="vbscript:msgbox(9)">v</a>'
        '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxMCk8L3NjcmlwdD4=">d</a>'
        '<form action="javascript:alert(11)"><button formaction="javascript:alert(12)">b</button>'
        '</form><object data="javascript:alert(13)"></object>'
        '<meta http-equiv="refresh" content="0;url=javascript:alert(14)">'
        '<base href="javascript:alert(15)//"><div style="background:url(javascript:alert(16))">'
        "st</div><style>*{background:url(javascript:alert(17))}</style>"
        '<math><maction actiontype="statusline" xlink:href="javascript:alert(18)">m</maction>'
        "</math>&lt;script&gt;alert(19)&lt;/script&gt; {{< shortcode >}} {{% sc %}}"
    )


def short(marker: str) -> str:
    """For columns of 60 to 128 characters (user names, titles of 255 take the long one)."""
    return f"<b onclick=alert(1)>{marker}</b><script>x</script>"


DEEP_DIVS = "<div>" * 100_000 + "Qdeepdivs" + "</div>" * 100_000
DEEP_BI = "<b><i>" * 20_000 + "Qdeepbi" + "</i></b>" * 20_000


PLACES = {
    # place: marker
    "site_name": "Qsitename",
    "slogan": "Qslogan",
    "vocabulary": "Qvocab",
    "vocabulary_description": "Qvocabdesc",
    "term": "Qterm",
    "term_description": "Qtermdesc",
    "title": "Qtitle",
    "author": "Qauthor",
    "comment_subject": "Qcsubject",
    "comment_name": "Qcname",
    "comment_body": "Qcbody",
    "body": "Qbody",
    "summary": "Qsummary",
    "field": "Qfield",
}
DEEP = {"deep_divs": "Qdeepdivs", "deep_bi": "Qdeepbi"}

TARGETS = ("jsonl", "wxr", "hugo", "hugo-markdown")
NOT_IN = {
    # Where a target's format has no such place at all (README: what each target holds).
    "jsonl": {"site_name", "slogan"},
    "wxr": {"vocabulary", "vocabulary_description", "comment_subject", "slogan"},
    "hugo": {"slogan"},
    "hugo-markdown": {"slogan"},
}


def _string_columns(spec: Any) -> list[tuple[str, str, int | None]]:
    conn = pymysql.connect(host=spec.host, port=spec.port, user=spec.user, password=spec.password)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT table_name, column_name, character_maximum_length"
                " FROM information_schema.columns WHERE table_schema = %s"
                " AND table_name LIKE 'field\\_data\\_%%'"
                " AND data_type IN ('varchar', 'text', 'mediumtext', 'longtext')"
                " AND column_name NOT IN ('entity_type', 'bundle', 'language')"
                " AND column_name NOT LIKE '%%\\_format'",
                (spec.database,),
            )
            return [(str(t), str(c), None if n is None else int(n)) for t, c, n in cur.fetchall()]
    finally:
        conn.close()


def _fit(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return short(PLACES["field"])[:limit]


def make_hostile_site(spec: Any) -> None:
    """Every rendered place of the core-fields site made hostile (see the module docstring)."""
    for table, column, limit in _string_columns(spec):
        if table in ("field_data_body", "field_data_comment_body"):
            continue
        execute(spec, f"UPDATE `{table}` SET `{column}` = %s", (_fit(hostile("Qfield"), limit),))
        fmt = column.rsplit("_", 1)[0] + "_format"
        # a column without a format (link titles, list keys, emails) has nothing to set
        with suppress(pymysql.err.OperationalError):
            execute(spec, f"UPDATE `{table}` SET `{fmt}` = 'full_html'")
    set_variable(spec, "site_name", f"The {short('Qsitename')} Site")
    set_variable(spec, "site_slogan", hostile("Qslogan"))
    h = hostile
    execute(
        spec,
        "UPDATE taxonomy_vocabulary SET name = %s, description = %s",
        (short("Qvocab"), h("Qvocabdesc")),
    )
    execute(
        spec,
        "UPDATE taxonomy_term_data SET name = %s, description = %s,"
        " format = IF(tid %% 2, 'filtered_html', 'full_html')",
        (short("Qterm"), h("Qtermdesc")),
    )
    execute(spec, "ALTER TABLE taxonomy_term_data MODIFY description LONGTEXT")
    execute(spec, "UPDATE taxonomy_term_data SET description = %s WHERE tid = 1", (DEEP_BI,))
    execute(spec, "UPDATE node SET title = %s", (h("Qtitle")[:250],))
    execute(spec, "UPDATE node_revision SET title = %s", (h("Qtitle")[:250],))
    execute(spec, "UPDATE users SET name = CONCAT(uid, %s) WHERE uid > 0", (short("Qauthor"),))
    execute(
        spec, "UPDATE comment SET subject = %s, name = %s", (short("Qcsubject"), short("Qcname"))
    )
    execute(
        spec,
        "UPDATE field_data_comment_body SET comment_body_value = %s,"
        " comment_body_format = 'full_html'",
        (h("Qcbody"),),
    )
    execute(
        spec,
        "UPDATE field_data_body SET body_value = %s, body_summary = %s,"
        " body_format = IF(entity_id %% 2, 'filtered_html', 'full_html')",
        (h("Qbody"), h("Qsummary")),
    )
    execute(spec, "ALTER TABLE field_data_body MODIFY body_value LONGTEXT")
    first, second = _two_nodes_with_bodies(spec)
    for nid, deep in ((first, DEEP_DIVS), (second, DEEP_BI)):
        execute(
            spec,
            "UPDATE field_data_body SET body_value = CONCAT(%s, body_value),"
            " body_format = 'full_html' WHERE entity_id = %s",
            (deep, nid),
        )


def _two_nodes_with_bodies(spec: Any) -> tuple[int, int]:
    conn = pymysql.connect(
        host=spec.host,
        port=spec.port,
        user=spec.user,
        password=spec.password,
        database=spec.database,
    )
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT DISTINCT b.entity_id FROM field_data_body b JOIN node n"
                " ON n.nid = b.entity_id AND b.entity_type = 'node' ORDER BY 1 LIMIT 2"
            )
            first, second = (int(r[0]) for r in cur.fetchall())
    finally:
        conn.close()
    return first, second


# --------------------------------------------------------------------------- scanning

_NOISE = re.compile(r"[\x00-\x20\x7f]+")
_BAD_URL = ("javascript:", "vbscript:", "data:text/html")
_URL_ATTRS = ("href", "src", "action", "formaction", "data", "poster", "srcset", "background")


def _runs(attribute: str, value: str) -> bool:
    """A URL attribute whose scheme runs script, or CSS / a refresh that names one."""
    if attribute in _URL_ATTRS or attribute.endswith("href"):
        return value.startswith(_BAD_URL)
    return attribute in ("style", "content") and any(b in value for b in _BAD_URL)


def active_content(markup: str, where: str) -> list[str]:
    """What a browser would run in ``markup``: scripts, on* handlers, srcdoc, bad URLs."""
    if "<" not in markup:
        return []
    found: list[str] = []
    whole = "<html" in markup[:500].lower()
    try:
        roots = [lhtml.document_fromstring(markup)] if whole else lhtml.fragments_fromstring(markup)
    except etree.ParserError:
        return []
    for root in roots:
        if isinstance(root, str):
            continue
        for el in root.iter():
            if not isinstance(el.tag, str):
                continue
            tag = el.tag.lower().rsplit("}", 1)[-1]
            if tag == "script":
                found.append(f"{where}: <script>")
            if tag == "style" and any(b in _NOISE.sub("", el.text or "").lower() for b in _BAD_URL):
                found.append(f"{where}: <style> with a script URL")
            for name, value in el.attrib.items():
                low = name.lower().rsplit("}", 1)[-1]
                plain = _NOISE.sub("", value).lower()
                if low.startswith("on") or low == "srcdoc":
                    found.append(f"{where}: <{tag} {name}>")
                elif _runs(low, plain):
                    found.append(f"{where}: <{tag} {name}={value[:60]!r}>")
    return found


# --------------------------------------------------------------------------- outputs


@dataclass
class Output:
    result: CliResult
    html: list[tuple[str, str]]
    """(where, markup) of every HTML text a consumer of the target prints."""
    text: str
    """Everything the target wrote that a visitor or an importer reads, for the markers."""
    problems: str


def _jsonl_html(out: Path) -> Iterator[tuple[str, str]]:
    for path in sorted(out.glob("*/batch-*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            record = json.loads(line)
            yield from _html_values(record, f"{path.name}:{n}")


def _html_values(data: Any, where: str) -> Iterator[tuple[str, str]]:
    """Strings the bundle schema says are HTML: those next to a text ``format`` (bodies,
    summaries, comment bodies, term descriptions, text field items)."""
    if isinstance(data, dict):
        formatted = "format" in data
        for key, value in data.items():
            if isinstance(value, str) and formatted and key in ("value", "summary", "description"):
                yield f"{where}.{key}", value
            else:
                yield from _html_values(value, f"{where}.{key}")
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _html_values(value, f"{where}[{i}]")


def _wxr_html(out: Path) -> Iterator[tuple[str, str]]:
    """Titles, contents, excerpts, comments, names, descriptions and field meta, decoded."""
    for path in sorted(out.glob("wxr-*.xml")):
        root = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
        for el in root.iter():
            if not isinstance(el.tag, str) or not el.text:
                continue
            name = el.tag.rsplit("}", 1)[-1]
            if name == "meta_value" and el.text.startswith("{"):
                data = json.loads(el.text)
                yield from ((f"{path.name} meta {w}", v) for w, v in _html_values(data, ""))
            elif name not in ("meta_value", "meta_key", "post_name", "guid", "link"):
                yield f"{path.name} <{name}>", el.text


def _export(db: str, target: str, out: Path) -> CliResult:
    to = "hugo" if target.startswith("hugo") else target
    extra = ["--markdown"] if target == "hugo-markdown" else []
    return run_cli("export", "--db", db, "--to", to, "--out", str(out), "--workers", "0", *extra)


@pytest.fixture(scope="module")
def outputs(
    databases: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Output]]:
    """The hostile site exported to every target (Hugo sites built), once."""
    spec = databases.create(CORE_FIELDS_DUMP)
    make_hostile_site(spec)
    root = tmp_path_factory.mktemp("html")
    (root / "out").mkdir()
    (root / "victim.txt").write_text("must survive\n", encoding="utf-8")
    guard = TreeGuard(root, root / "out")
    found: dict[str, Output] = {}
    for target in TARGETS:
        out = root / "out" / target
        result = _export(db_url(spec), target, out)
        if target == "jsonl":
            html = list(_jsonl_html(out))
            text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(out.rglob("*.jsonl")))
            problems = text
        elif target == "wxr":
            html = list(_wxr_html(out))
            text = "\n".join(m for _, m in html)
            problems = (out / "wxr-manifest.json").read_text(encoding="utf-8")
        else:
            public = root / "out" / f"{target}-public"
            built = build_hugo(out, public, timeout=600)
            assert built.returncode == 0, built.stderr[-2000:]
            pages = sorted(public.rglob("*.html")) + sorted(public.rglob("*.xml"))
            html = [(str(p.relative_to(public)), p.read_text(encoding="utf-8")) for p in pages]
            sources = [p.read_text(encoding="utf-8") for p in sorted(out.rglob("*.md"))]
            text = "\n".join([m for _, m in html] + sources)
            problems = (out / "hugo-manifest.json").read_text(encoding="utf-8")
        found[target] = Output(result, html, text, problems)
    yield found
    guard.assert_unchanged()


@pytest.mark.parametrize("target", TARGETS)
def test_the_hostile_site_exports(outputs: dict[str, Output], target: str) -> None:
    result = outputs[target].result
    assert_no_traceback(result)
    assert result.code == 0, result.stderr[-2000:]


@pytest.mark.parametrize("target", TARGETS)
def test_nothing_runs_in_any_target(outputs: dict[str, Output], target: str) -> None:
    output = outputs[target]
    assert len(output.html) > 10, "too little HTML to prove anything"
    found = [hit for where, markup in output.html for hit in active_content(markup, where)]
    assert found == [], found[:10]


@pytest.mark.parametrize("place", sorted(PLACES))
@pytest.mark.parametrize("target", TARGETS)
def test_each_hostile_place_still_reaches_the_output(
    outputs: dict[str, Output], target: str, place: str
) -> None:
    """The hostile text is shown as text (or its marker kept), never dropped to be safe."""
    if place in NOT_IN[target]:
        pytest.skip(f"{target} has no {place}")
    assert PLACES[place] in outputs[target].text


@pytest.mark.parametrize("deep", sorted(DEEP))
@pytest.mark.parametrize("target", TARGETS)
def test_deeply_nested_text_is_kept_and_listed(
    outputs: dict[str, Output], target: str, deep: str
) -> None:
    output = outputs[target]
    assert DEEP[deep] in output.text, f"{deep} text lost in {target}"
    assert "nested deeper than" in output.problems


def test_the_scanner_sees_every_spelling() -> None:
    """The check itself: each kind of active content in the payload is found."""
    found = active_content(hostile("m"), "payload")
    assert len(found) >= 17, found
    assert active_content("<p>&lt;script&gt; javascript: text</p>", "x") == []


FULL_HTML = TextFormat(
    "full_html",
    "Full HTML",
    True,
    (Filter("filter", "filter_url", 0, True), Filter("filter", "filter_autop", 1, True)),
)
NESTINGS = [
    # (case, body, text that must survive, listed as a problem)
    ("divs_99", "<div>" * 99 + "keep-99" + "</div>" * 99, "keep-99", False),
    ("divs_101", "<div>" * 101 + "keep-101" + "</div>" * 101, "keep-101", True),
    ("divs_300", "<div>" * 300 + "keep-300" + "</div>" * 300 + "<p>after</p>", "after", True),
    ("divs_unclosed", "<div>" * 5000 + "keep-open", "keep-open", True),
    ("bi_pairs", "<b><i>" * 20_000 + "keep-bi" + "</i></b>" * 20_000, "keep-bi", True),
    (
        "mixed",
        ("<ul><li><span>" * 400) + "keep-mixed" + ("</span></li></ul>" * 400),
        "keep-mixed",
        True,
    ),
    ("tables", "<table><tr><td>" * 200 + "keep-td" + "</td></tr></table>" * 200, "keep-td", True),
    (
        "voids",
        "<div>" * 50 + "<br><img src=a.png>" * 500 + "keep-void" + "</div>" * 50,
        "keep-void",
        False,
    ),
]


@pytest.mark.parametrize(
    ("body", "kept", "listed"),
    [n[1:] for n in NESTINGS],
    ids=[n[0] for n in NESTINGS],
)
def test_deep_nesting_keeps_its_text(body: str, kept: str, listed: bool) -> None:
    result = clean_body(body, FULL_HTML, links=None)
    assert kept in result.html
    assert any("nested deeper than" in p for p in result.problems) == listed, result.problems
    assert "deep_tags_dropped" in result.stats if listed else True
    tree = lhtml.fragments_fromstring(result.html)
    depth = max((_depth(el) for el in tree if not isinstance(el, str)), default=0)
    assert depth <= MAX_DEPTH + 1


def _depth(el: Any) -> int:
    """The nesting depth below ``el``, without recursion (the trees here are deep)."""
    deepest, stack = 0, [(el, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in node)
    return deepest
