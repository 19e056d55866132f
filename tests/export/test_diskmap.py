"""DiskMap: a dict on disk whose lookups and changes a batch makes in a few queries."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from migrate.export import diskmap
from migrate.export.diskmap import DiskMaps


def _rows(path: Path) -> dict[tuple[str, str], str]:
    with sqlite3.connect(path) as db:
        return {(m, k): v for m, k, v in db.execute("SELECT map, key, value FROM entries")}


def test_changes_reach_the_file_when_flushed_and_read_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    maps = DiskMaps(path)
    pages, aliases = maps.map("pages"), maps.map("aliases")
    pages["1"] = {"dir": "content/tin/a"}
    pages["2"] = {"dir": "content/tin/b"}
    aliases["/a"] = "node:1"
    maps.flush()
    assert _rows(path) == {
        ("pages", "1"): '{"dir":"content/tin/a"}',
        ("pages", "2"): '{"dir":"content/tin/b"}',
        ("aliases", "/a"): '"node:1"',
    }
    pages.prefetch(["1", "3"])
    pages["3"] = {"dir": "content/tin/c"}
    del pages["2"]
    with pytest.raises(KeyError):
        del pages["4"]
    # before the flush, the map answers with its changes; the file still holds the old rows
    assert pages.get("2") is None and "3" in pages and pages["1"] == {"dir": "content/tin/a"}
    assert ("pages", "2") in _rows(path)
    assert sorted(pages) == ["1", "3"] and len(pages) == 2  # listing flushes first
    assert ("pages", "2") not in _rows(path)
    assert "/a" in aliases and "/b" not in aliases and len(aliases) == 1
    maps.close()


def test_the_cache_stays_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(diskmap, "_CACHE_MAX", 10)
    path = tmp_path / "index.sqlite"
    maps = DiskMaps(path)
    urls = maps.map("urls")
    for n in range(25):
        urls[f"/p/{n}"] = n
    assert len(_rows(path)) >= 20  # flushed on the way, not held until the end
    urls.prefetch(f"/q/{n}" for n in range(30))
    assert urls.get("/p/24") == 24 and len(urls) == 25
    maps.close()


def test_a_value_orjson_refuses_is_kept_as_json(tmp_path: Path) -> None:
    """A lone surrogate (a broken name from the database) or a key that is not a string."""
    maps = DiskMaps(tmp_path / "index.sqlite")
    names = maps.map("names")
    names["a"] = {"name": "x\ud800y", "ids": {1: 2}}
    maps.flush()
    assert names["a"] == {"name": "x\ud800y", "ids": {"1": 2}}
    maps.close()
