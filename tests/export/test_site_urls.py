"""``--old-url`` (every host the old site answered on) and ``--site-url`` (the new site's base)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from conftest import run_sql
from export_helpers import records, run_export, run_hugo_export

from migrate.config import ConnectionSpec

LINKS = (
    '<a href="http://old-a.example/node/5">a</a>'
    '<a href="https://www.old-b.example/node/5?x=1#top">b</a>'
    '<a href="https://www.old-b.example/khong-co-trang-nay">c</a>'
    '<a href="https://elsewhere.example/node/5">d</a>'
)


def test_every_old_host_is_rewritten_and_a_dead_one_listed(
    broken_db_rw: ConnectionSpec, tmp_path: Path
) -> None:
    run_sql(
        broken_db_rw,
        f"UPDATE field_data_body SET body_value = CONCAT(body_value, '{LINKS}')"
        " WHERE entity_id = 1",
    )
    out = tmp_path / "bundle"
    run_export(
        broken_db_rw,
        out,
        base_url=None,
        old_urls=("http://old-a.example", "https://www.old-b.example"),
        site_url="https://new.example",
    )
    nodes = {r["nid"]: r for r in records(out, "node")}
    body = nodes[1]["body"]["value"]
    target = nodes[5]["path"]
    assert f'href="{target}"' in body
    assert f'href="{target}?x=1#top"' in body
    assert 'href="https://elsewhere.example/node/5"' in body
    problems = json.dumps(nodes[1]["problems"], ensure_ascii=False)
    assert "khong-co-trang-nay" in problems


def test_site_url_is_the_hugo_base_and_base_url_still_works(
    broken_db: ConnectionSpec, tmp_path: Path
) -> None:
    run_hugo_export(broken_db, tmp_path / "a", site_url="https://new.example/sub/", limit=3)
    config = tomllib.loads((tmp_path / "a" / "hugo.toml").read_text(encoding="utf-8"))
    assert config["baseURL"] == "https://new.example/sub/"
    run_hugo_export(broken_db, tmp_path / "b", base_url="https://legacy.example", limit=3)
    config = tomllib.loads((tmp_path / "b" / "hugo.toml").read_text(encoding="utf-8"))
    assert config["baseURL"] == "https://legacy.example/"
