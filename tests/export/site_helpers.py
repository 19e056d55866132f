"""Helpers for tests that check what a visitor would get: build a Hugo site, scan its HTML."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from lxml import html as lhtml

URL_ATTRIBUTES = ("href", "src", "action", "formaction", "xlink:href", "data", "poster", "srcset")
_STRIP = re.compile(r"[\x00-\x20\x7f]+")


def build_hugo(site: Path, dest: Path) -> subprocess.CompletedProcess[str]:
    """``hugo`` (Debian's) on an exported site; fails the test when hugo is missing."""
    hugo = shutil.which("hugo")
    if hugo is None:
        pytest.fail("hugo is needed for this test (apt-get install hugo; .ci/run installs it)")
    return subprocess.run(
        [hugo, "--buildDrafts", "--source", str(site), "--destination", str(dest)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def html_pages(public: Path) -> Iterator[Path]:
    yield from sorted(public.rglob("*.html"))


def active_content(markup: str, where: str) -> list[str]:
    """Everything in an HTML document or fragment that a browser would run.

    ``<script>`` elements, ``on*`` event-handler attributes, and ``javascript:``
    (or ``vbscript:``/``data:text/html``) URLs in any URL attribute, spelled as a
    browser reads them (entities decoded, whitespace and control characters dropped).
    """
    if not markup.strip():
        return []
    found: list[str] = []
    doc = lhtml.document_fromstring(markup) if "<html" in markup[:500].lower() else None
    roots = [doc] if doc is not None else lhtml.fragments_fromstring(markup)
    for root in roots:
        if isinstance(root, str):
            continue
        for el in root.iter():
            if not isinstance(el.tag, str):
                continue
            tag = el.tag.lower()
            if tag == "script":
                found.append(f"{where}: <{tag}>")
            for name, value in el.attrib.items():
                low = name.lower()
                if low.startswith("on"):
                    found.append(f"{where}: <{tag} {name}={value!r}>")
                if low in URL_ATTRIBUTES or low.endswith("href") or tag == "meta":
                    plain = _STRIP.sub("", value).lower()
                    for bad in ("javascript:", "vbscript:", "data:text/html"):
                        if bad in plain:
                            found.append(f"{where}: <{tag} {name}={value!r}>")
    return found


def scan_site(public: Path) -> list[str]:
    found: list[str] = []
    for page in html_pages(public):
        found += active_content(page.read_text(encoding="utf-8"), str(page.relative_to(public)))
    return found


def scan_fragments(fragments: Iterable[tuple[str, str]]) -> list[str]:
    found: list[str] = []
    for where, markup in fragments:
        found += active_content(markup, where)
    return found
