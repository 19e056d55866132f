"""Helpers for tests that check what a visitor would get: build a Hugo site, scan its HTML."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from lxml import html as lhtml

URL_ATTRIBUTES = ("href", "src", "action", "formaction", "xlink:href", "data", "poster", "srcset")
_STRIP = re.compile(r"[\x00-\x20\x7f]+")


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


def broken_links(public: Path, base: str = "/") -> dict[str, list[str]]:
    """Internal links and image sources of a built site that lead to no file: target → pages.

    A link is internal when it has no scheme and no host (or the site's own
    ``base`` path); it resolves against its page's URL like a browser does.
    """
    broken: dict[str, list[str]] = {}
    for page in html_pages(public):
        rel = page.relative_to(public).as_posix()
        page_url = "/" + (rel[: -len("index.html")] if rel.endswith("index.html") else rel)
        doc = lhtml.document_fromstring(page.read_bytes())
        for el, attr, link, _ in doc.iterlinks():
            if attr not in ("href", "src") or (el.tag == "link" and attr != "href"):
                continue
            parts = urlsplit(urljoin(page_url, link))
            if parts.scheme or parts.netloc or not parts.path.startswith(base):
                continue
            path = unquote(parts.path)
            target = public / path.lstrip("/")
            if not (target.is_file() or (target / "index.html").is_file()):
                broken.setdefault(path, []).append(page_url)
    return broken
