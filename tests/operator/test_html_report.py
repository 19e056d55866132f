"""The HTML audit report, rendered by a real headless chromium: numbers visible, words not reprs."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from conftest import BROKEN_DUMP

from migrate import api
from migrate.report.html import write_html

BASE = "http://www.example.edu.vn"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    report = api.audit(api.source_spec(dump=BROKEN_DUMP))
    path = tmp_path_factory.mktemp("html") / "audit.html"
    try:
        with path.open("w", encoding="utf-8") as fh:
            write_html(report, fh, base_url=BASE)
        totals = {"findings": report.total, **report.by_severity()}
    finally:
        report.close()
    return path, totals


@pytest.fixture(scope="module")
def page(rendered) -> Path:
    return rendered[0]


def chromium(page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("chromium is needed for this test: apt-get install -y chromium (see .ci/run)")
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        *args,
        page.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, timeout=120, check=True)


def test_the_page_is_self_contained_and_speaks_words(page):
    html = page.read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert not re.search(r"<(link|img|iframe)\b|\bsrc=", html)
    # no Python reprs of rows: menu_links=[{'mlid': 268, ...}]
    assert "{'" not in html and "[{" not in html and "': " not in html
    # the where of a notice page: its URL, the menu item and the nodes linking to it, as links
    assert f'<a href="{BASE}/taxonomy/term/2">/taxonomy/term/2</a>' in html
    assert (
        f'<a href="{BASE}/admin/structure/menu/item/268/edit">menu item “Tin Đảng ủy”</a>' in html
    )
    # a silent breadcrumb change as old trail → new trail
    assert (
        'class="old">Trang chủ › Tin tức › Tin Đảng ủy</span> → <span class="new">Home</span>'
        in html
    )
    # grouped by node and by term, collapsible
    assert html.count("<details") > 100
    assert 'id="by-node"' in html and 'id="by-term"' in html


def test_chromium_renders_the_key_numbers(rendered, tmp_path):
    page, expected = rendered
    assert expected["error"] > 300  # the broken site's numbers, as the audit counted them
    dom = chromium(page, tmp_path, "--dump-dom").stdout.decode("utf-8")
    totals = re.search(r'<div class="totals">(.*?)</div>\s*<nav', dom, re.S)
    assert totals, dom[:500]
    numbers = dict(
        (label, int(n.replace(",", "")))
        for n, label in re.findall(r"<b>([\d,]+)</b>([^<]+)</div>", totals.group(1))
    )
    assert numbers["findings"] == expected["findings"]
    for severity in ("error", "warning", "notice"):
        assert numbers[f"{severity}s"] == expected[severity]
    assert numbers["nodes affected"] > 100
    # the chart has an axis: ticks from 0 and its label
    assert re.search(r'<text x="[\d.]+" y="[\d.]+" text-anchor="middle">0</text>', dom)
    assert "findings (errors, warnings, notices)" in dom
    # the worst check's fold is open, the others can be opened
    assert '<details id="taxonomy.dangling_field_ref" open="">' in dom


def test_chromium_screenshot(page, tmp_path):
    shot = tmp_path / "audit.png"
    chromium(page, tmp_path, "--window-size=1280,1800", f"--screenshot={shot}")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 1800)
    assert len(data) > 50_000  # a blank page compresses to a few kB
