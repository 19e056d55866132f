"""Redirects for the public URLs of dropped and remapped terms: decided, written, served."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import run_sql, url_of
from helpers import scalar

from migrate import api
from migrate.cli import main
from migrate.config import ConnectionSpec
from migrate.repair.redirects import FRONT, Fate, redirects_for, sources_of, target_of

# -- the decision, table by table -------------------------------------------------------

CASES = [
    # (tid, fate, parents, fates of others, live, vocabulary page, menu parent) → target
    (5, Fate("remap", 6), [1], {}, {1, 6}, None, None, "taxonomy/term/6"),
    (10, Fate("drop"), [9], {}, {9}, None, None, "taxonomy/term/9"),
    (10, Fate("drop"), [9], {9: Fate("remap", 12)}, {12}, None, None, "taxonomy/term/12"),
    (10, Fate("drop"), [9], {9: Fate("restore")}, {9}, None, None, "taxonomy/term/9"),
    (10, Fate("drop"), [9], {9: Fate("drop")}, set(), "chuyen-muc", None, "chuyen-muc"),
    (10, Fate("drop"), [9], {9: Fate("drop")}, set(), None, "taxonomy/term/1", "taxonomy/term/1"),
    (35, Fate("drop"), [0], {}, set(), None, None, FRONT),
]


@pytest.mark.parametrize(("tid", "fate", "parents", "fates", "live", "page", "menu", "want"), CASES)
def test_target_of(tid, fate, parents, fates, live, page, menu, want):
    target, why = target_of(tid, fate, parents, {tid: fate, **fates}, live, page, menu)
    assert target == want
    assert str(tid) in why


def test_every_public_path_and_the_feed_follow_the_target():
    sources = sources_of(43, ["tu-khoa/olympic", "tu-khoa/olympic"])
    assert sources == ["taxonomy/term/43", "taxonomy/term/43/feed", "tu-khoa/olympic"]
    rules = {r.source: r.target for r in redirects_for(43, sources, "taxonomy/term/34", "x")}
    assert rules["taxonomy/term/43/feed"] == "taxonomy/term/34/feed"
    assert rules["tu-khoa/olympic"] == "taxonomy/term/34"
    front = {r.source: r.target for r in redirects_for(35, sources_of(35, []), FRONT, "x")}
    assert set(front.values()) == {FRONT}


# -- on the fixture ---------------------------------------------------------------------


def test_formerly_live_term_urls_are_listed_with_their_evidence(
    broken_db_rw: ConnectionSpec, tmp_path: Path
):
    plan = api.plan_repair(broken_db_rw)
    api.apply_repair(broken_db_rw, plan, yes=True, journal=tmp_path / "j.jsonl")
    # 35, 43 and 44 were dropped (no name with medium evidence): nothing references them,
    # yet watchdog recorded visits to their pages, so they are still notice pages.
    found = api.audit(broken_db_rw, ["breadcrumb.notice_pages"]).result("breadcrumb.notice_pages")
    by_tid = {f.entity.to_dict()["tid"]: f for f in found.findings}
    assert set(by_tid) == {35, 43, 44}
    for finding in by_tid.values():
        assert finding.severity.value == "warning"
        assert finding.entity.to_dict()["referenced"] is False
        assert finding.entity.to_dict()["fix"] == "web_server_rule"
        assert any(e["source"] == "watchdog" for e in finding.entity.to_dict()["evidence"])


def test_plan_writes_rules_that_nginx_serves(broken_db: ConnectionSpec, tmp_path: Path):
    out = tmp_path / "plan.json"
    result = CliRunner().invoke(main, ["repair", "plan", "--db", url_of(broken_db), "-o", str(out)])
    assert result.exit_code == 0, result.output
    nginx_rules = tmp_path / "plan.redirects.nginx.conf"
    apache_rules = tmp_path / "plan.redirects.apache.conf"
    assert nginx_rules.exists() and apache_rules.exists()
    data = json.loads(out.read_text(encoding="utf-8"))
    sources = {r["source"]: r for r in data["redirects"]}
    assert {"taxonomy/term/35", "taxonomy/term/43/feed", "tu-khoa/olympic"} <= set(sources)
    assert any("web server" in note for note in data["notes"])
    assert "RewriteRule ^/?tu-khoa/olympic/*$ / [R=301,L,NE,QSD,NC]" in apache_rules.read_text()
    status = _served(nginx_rules, tmp_path, ["/taxonomy/term/35", "/tu-khoa/olympic", "/node/1"])
    assert status["/taxonomy/term/35"] == status["/tu-khoa/olympic"] == (301, "/")
    assert status["/node/1"][0] != 301  # what the plan does not redirect is left alone


def _served(rules: Path, tmp: Path, paths: list[str]) -> dict[str, tuple[int, str | None]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"pid {tmp}/nginx.pid; error_log {tmp}/error.log; daemon off;\n"
        "events {}\n"
        f"http {{ access_log off; client_body_temp_path {tmp}; proxy_temp_path {tmp};"
        f" fastcgi_temp_path {tmp}; uwsgi_temp_path {tmp}; scgi_temp_path {tmp};\n"
        f"include {rules};\n"
        f"server {{ listen 127.0.0.1:{port}; root {tmp};"
        " if ($drupal_redirect) { return 301 $drupal_redirect; } } }\n"
    )
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(tmp)], stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        found: dict[str, tuple[int, str | None]] = {}
        opener = urllib.request.build_opener(_NoRedirect)
        for path in paths:
            try:
                reply = opener.open(f"http://127.0.0.1:{port}{path}")
                found[path] = (reply.status, None)
            except urllib.error.HTTPError as err:
                location = err.headers.get("Location")
                found[path] = (err.code, location and location.split(str(port), 1)[-1])
        return found
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


def test_with_the_redirect_module_the_plan_inserts_its_rows(
    broken_db_rw: ConnectionSpec, tmp_path: Path
):
    run_sql(
        broken_db_rw,
        "CREATE TABLE redirect (rid INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,"
        " hash VARCHAR(64) NOT NULL, type VARCHAR(64) NOT NULL, uid INT NOT NULL DEFAULT 0,"
        " source VARCHAR(255) NOT NULL, source_options TEXT NOT NULL,"
        " redirect VARCHAR(255) NOT NULL, redirect_options TEXT NOT NULL,"
        " language VARCHAR(12) NOT NULL DEFAULT 'und', status_code SMALLINT NOT NULL,"
        " count INT UNSIGNED NOT NULL DEFAULT 0, access INT UNSIGNED NOT NULL DEFAULT 0,"
        " status INT NOT NULL DEFAULT 1, UNIQUE KEY hash (hash))",
        "INSERT INTO system (filename, name, type, owner, status, bootstrap, schema_version,"
        " weight, info) VALUES ('sites/all/modules/redirect/redirect.module', 'redirect',"
        " 'module', '', 1, 0, 7000, 0, 'a:0:{}')",
    )
    plan = api.plan_repair(broken_db_rw)
    assert plan.redirects == []
    rows = [op for op in plan.operations if op.table == "redirect"]
    assert {op.after["source"] for op in rows} >= {"taxonomy/term/35", "tu-khoa/olympic"}
    assert {op.after["redirect"] for op in rows} == {"<front>"}
    report = api.apply_repair(broken_db_rw, plan, yes=True, journal=tmp_path / "j.jsonl")
    assert report.after["breadcrumb.notice_pages"] == 0
    assert scalar(broken_db_rw, "SELECT COUNT(*) FROM redirect") == len(rows)
