"""Every old URL of the fixture through stock nginx and Apache: one 301 to a page that answers 200.

The built Hugo fixture site is served on a loopback port with the rules
``drupal-migrate redirects --plan`` wrote; each old path is requested plain, with a
trailing slash, with a query string, as ``/?q=`` and as ``/index.php?q=…&page=1``,
in mixed case (Drupal's alias lookup ignores case), plus the feeds, ``/index.php``
and every public file under ``/sites/default/files``.
"""

from __future__ import annotations

import http.client
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from conftest import query
from hugo_site import HugoSite
from servers import apache, check_nginx, nginx

from migrate import api


@pytest.fixture(scope="module")
def served(hugo_fixture_site: HugoSite) -> Iterator[tuple[HugoSite, Path]]:
    """A world-readable copy of the built site: the servers' workers drop root."""
    assert hugo_fixture_site.build.returncode == 0, hugo_fixture_site.build.stderr
    tmp = Path(tempfile.mkdtemp(prefix="dm-serve-"))
    try:
        tmp.chmod(0o755)
        shutil.copytree(hugo_fixture_site.public, tmp / "public")
        for path in (tmp / "public").rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        yield hugo_fixture_site, tmp
    finally:
        shutil.rmtree(tmp)


def _mixed_case(path: str) -> str:
    """``path`` with every other letter's case swapped, as a visitor may type or link it."""
    return "".join(c.swapcase() if i % 2 else c for i, c in enumerate(path))


def _old_requests(site: HugoSite) -> list[str]:
    result = api.redirects(site.export, "csv", plan=site.plan)
    paths = sorted({s for s in result.map.as_dict() if "?" not in s})
    assert len(paths) > 500
    out: list[str] = []
    for path in paths:
        p = quote(path, safe="/")
        # Drupal looks aliases up case-insensitively (LIKE on a _ci column): so do the rules.
        mixed = quote(_mixed_case(path), safe="/")
        assert mixed != p
        out += [
            f"/{p}",
            f"/{p}/",
            f"/{p}?fbclid=abc&page=1",
            f"/?q={p}",
            f"/index.php?q={p}&page=1",
            f"/{mixed}",
            f"/{mixed}/?utm_source=x",
            f"/index.php?q={mixed}",
        ]
    files = query(site.spec, "SELECT uri FROM file_managed WHERE uri LIKE 'public://%'")
    out += ["/sites/default/files/" + quote(str(u)[len("public://") :]) for (u,) in files]
    return out


def _get(conn: http.client.HTTPConnection, url: str) -> tuple[int, str]:
    conn.request("GET", url)
    response = conn.getresponse()
    response.read()
    return response.status, response.getheader("Location") or ""


def _walk(port: int, requests: list[str]) -> list[str]:
    """What went wrong: each request must be one 301 to a URL that answers 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    bad: list[str] = []
    ok_targets: dict[str, int] = {}
    try:
        for url in requests:
            status, location = _get(conn, url)
            if status != 301:
                bad.append(f"{url}: {status}, not 301")
                continue
            target = urlsplit(location)
            path = target.path + (f"?{target.query}" if target.query else "")
            if path not in ok_targets:
                ok_targets[path] = _get(conn, path)[0]
            if ok_targets[path] != 200:
                bad.append(f"{url} → {location}: {ok_targets[path]}")
    finally:
        conn.close()
    return bad


ServerFactory = Callable[[Path, Path, Path], AbstractContextManager[int]]


@pytest.mark.parametrize(("fmt", "server"), [("nginx", nginx), ("apache", apache)])
def test_every_old_url_is_one_301_to_a_200(
    served: tuple[HugoSite, Path], fmt: str, server: ServerFactory
) -> None:
    site, tmp = served
    rules = tmp / f"redirects.{fmt}.conf"
    rules.write_text(api.redirects(site.export, fmt, plan=site.plan).text, encoding="utf-8")
    run = tmp / f"run-{fmt}"
    run.mkdir()
    run.chmod(0o755)
    if fmt == "nginx":
        checked = check_nginx(rules, run, tmp / "public")
        assert checked.returncode == 0, checked.stderr
    requests = _old_requests(site)
    with server(rules, run, tmp / "public") as port:
        bad = _walk(port, requests)
        feeds = _walk(port, ["/rss.xml", "/index.php", "/taxonomy/term/1/feed"])
    assert bad == [], f"{len(bad)} of {len(requests)}: {bad[:10]}"
    assert feeds == []
