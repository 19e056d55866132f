"""Stored XSS: hostile text in every rendered place reaches no target as something that runs.

The fixture is edited so that term and vocabulary descriptions, titles, author
and commenter names, comment subjects and bodies, summaries, image alt/title
texts and bodies hold script tags, event handlers and ``javascript:`` URLs, in
filtered_html and full_html. The Hugo site (HTML and ``--markdown``) is built by
Debian's hugo and every built page is scanned without a browser; the WXR
files' HTML-bearing fields are scanned as WordPress would print them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import BROKEN_DUMP, Databases, run_sql
from export_helpers import run_export, run_hugo_export
from hugo_build import build_hugo
from site_helpers import active_content, scan_fragments, scan_site

from migrate.config import ConnectionSpec
from migrate.export.hugo import to_markdown
from migrate.export.wxr_validate import read_wxr

HOSTILE = (
    "<script>alert(1)</script><img src=x onerror=alert(2)>"
    '<a href="javascript:alert(3)">j</a><a href=" JaVa&#09;script:alert(4)">k</a>'
    '<svg onload="alert(5)"></svg><p onmouseover="alert(6)">p</p>'
    "&lt;script&gt;alert(7)&lt;/script&gt; {{< x >}} {{% y %}}"
    '<iframe src="javascript:alert(8)"></iframe>'
)
PLAIN_HOSTILE = "<script>alert(9)</script><img src=x onerror=alert(10)>"
SHORT_HOSTILE = "<b onclick=alert(11)>x</b>"
"""Fits users.name (60 characters) after the first 25 of the name."""


def _q(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@pytest.fixture(scope="module")
def hostile_db(databases: Databases) -> ConnectionSpec:
    spec = databases.create(BROKEN_DUMP)
    h, p = _q(HOSTILE), _q(PLAIN_HOSTILE)
    run_sql(
        spec,
        f"UPDATE taxonomy_term_data SET description = CONCAT(description, {h}),"
        " format = IF(tid % 2, 'filtered_html', 'full_html')",
        f"UPDATE taxonomy_vocabulary SET description = {h}",
        f"UPDATE node SET title = CONCAT(title, {p}) WHERE nid % 3 = 0",
        f"UPDATE node_revision SET title = CONCAT(title, {p}) WHERE nid % 3 = 0",
        f"UPDATE field_data_body SET body_value = CONCAT(body_value, {h}),"
        f" body_summary = {h}, body_format = IF(entity_id % 2, 'filtered_html', 'full_html')",
        f"UPDATE users SET name = CONCAT(LEFT(name, 25), {_q(SHORT_HOSTILE)}) WHERE uid > 0",
        f"UPDATE comment SET name = {p}, subject = {p}",
        f"UPDATE field_data_comment_body SET comment_body_value = {h},"
        " comment_body_format = IF(entity_id % 2, 'filtered_html', 'full_html')",
        f"UPDATE field_data_field_image SET field_image_alt = {p}, field_image_title = {p}",
    )
    return spec


@pytest.fixture(scope="module", params=["html", "markdown"])
def hostile_site(
    request: pytest.FixtureRequest,
    hostile_db: ConnectionSpec,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    root = tmp_path_factory.mktemp(f"xss-{request.param}")
    extra = (("markdown", True),) if request.param == "markdown" else ()
    run_hugo_export(hostile_db, root / "site", target_options=extra)
    public = root / "public"
    return public, build_hugo(root / "site", public)


def test_hugo_site_runs_nothing(
    hostile_site: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    public, built = hostile_site
    assert built.returncode == 0, built.stderr
    pages = list(public.rglob("*.html"))
    assert len(pages) > 300, "the built site is missing pages"
    assert scan_site(public) == []
    # The hostile text is still there, shown as text: nothing was dropped to be safe.
    shown = "".join(p.read_text(encoding="utf-8") for p in pages)
    assert "&lt;script&gt;alert(9)&lt;/script&gt;" in shown  # a title, escaped by the theme
    assert "alert(7)" in shown  # text that read <script> in the body


def test_scanner_sees_what_runs() -> None:
    """The check itself: each spelling of active content is found."""
    found = active_content(HOSTILE, "sample")
    assert len(found) == 7, found
    assert active_content("<p>&lt;script&gt; javascript: text</p>", "x") == []


def test_markdown_keeps_shortcodes_and_markup_inert() -> None:
    text = to_markdown("<p>&lt;b&gt;x {{< s >}} {{% t %}} {{%</p><pre>{{< u >}}</pre>")
    assert "{{< s" not in text and "{{% t" not in text
    assert "{{</* u */>}}" in text and "{{%/* t */%}}" in text
    assert "\\<b\\>" in text


def test_wxr_fields_run_nothing(hostile_db: ConnectionSpec, tmp_path: Path) -> None:
    run_export(hostile_db, tmp_path, to="wxr")
    fragments: list[tuple[str, str]] = []
    for path in sorted(tmp_path.glob("wxr-*.xml")):
        wxr = read_wxr(path)
        for item in wxr.items:
            where = f"{path.name} item {item.post_id}"
            fragments += [
                (f"{where} title", item.title),
                (f"{where} content", item.content),
                (f"{where} excerpt", item.excerpt),
            ]
            fragments += [(f"{where} comment", c.content) for c in item.comments]
            fragments += [(f"{where} commenter", c.author) for c in item.comments]
        text = path.read_text(encoding="utf-8")
        fragments.append((f"{path.name} descriptions", _descriptions(text)))
    assert len(fragments) > 300
    assert scan_fragments(fragments) == []


def _descriptions(text: str) -> str:
    from lxml import etree

    root = etree.fromstring(text.encode("utf-8"))
    return "".join(
        el.text or ""
        for el in root.iter()
        if isinstance(el.tag, str) and el.tag.endswith("description")
    )
