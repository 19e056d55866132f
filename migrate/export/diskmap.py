"""A str → JSON value map kept in a SQLite table: writer state that grows with the site.

The Hugo and WXR writers rebuild their per-item state (page folders, aliases, URLs
taken) from their batch files on every start; held in dicts, that state grew by
kilobytes per node (hundreds of MB at 100k nodes). Here it lives in a scratch
SQLite file next to the batch files, with a small page cache, so memory stays flat.
The file is derived data: it is rebuilt on every load unless a finished run kept it
for the batch files on disk (``keptindex``).

Lookups and changes go through a cache that ``DiskMaps.flush`` empties (after
each batch): ``DiskMap.prefetch`` reads a batch's keys in a few queries and
``flush`` writes its changes with one ``executemany`` per map. A query per key
would release the GIL once per key, and with the writer's I/O threads running
each release costs a wait to get it back (68 µs per lookup instead of 8).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import orjson

_CACHE_MAX = 20_000
"""Cached entries of one map past which its changes are flushed, so memory stays bounded."""
_IN_CHUNK = 500
"""Keys per ``IN (...)`` query of ``prefetch`` (SQLite allows 999 variables at least)."""


def dumps(value: Any) -> str:
    """JSON text of a value: orjson, or json for what orjson refuses (a lone surrogate)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)


def loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # what only json wrote: a lone surrogate, escaped
        return json.loads(text)


class DiskMaps:
    """One scratch SQLite file holding any number of named maps."""

    def __init__(self, path: Path, kept: bool = False) -> None:
        """A new, empty file at ``path``; with ``kept``, the maps a file there holds."""
        if not kept:
            for stale in (path, path.with_name(path.name + "-journal")):
                stale.unlink(missing_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.executescript(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -2000;"
            "CREATE TABLE IF NOT EXISTS entries (map TEXT, key TEXT, value TEXT NOT NULL,"
            " PRIMARY KEY (map, key)) WITHOUT ROWID; BEGIN;"
        )
        self._maps: list[DiskMap] = []

    def map(self, name: str) -> DiskMap:
        found = DiskMap(self, name)
        self._maps.append(found)
        return found

    def flush(self) -> None:
        """Write every map's cached changes and commit, so the page cache bounds memory."""
        for found in self._maps:
            found.write_changes()
        self.db.execute("COMMIT")
        self.db.execute("BEGIN")

    def close(self) -> None:
        self.db.close()


class DiskMap(MutableMapping[str, Any]):
    """A ``dict`` of JSON values whose entries are rows of ``maps``' file."""

    def __init__(self, maps: DiskMaps, name: str) -> None:
        self.maps = maps
        self.name = name
        self._cache: dict[str, str | None] = {}
        """key → its value's JSON, or None when the key is absent."""
        self._changed: dict[str, None] = {}
        """Keys changed since the last flush (written in key order: inserts that follow
        the primary key's B-tree touch each page once, and the file's bytes do not
        depend on a set's order)."""

    def prefetch(self, keys: Iterable[str]) -> None:
        """Read the entries of ``keys`` into the cache now, a few hundred per query."""
        todo = [k for k in set(keys) if k not in self._cache]
        for start in range(0, len(todo), _IN_CHUNK):
            chunk = todo[start : start + _IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            found = dict(
                self.maps.db.execute(
                    f"SELECT key, value FROM entries WHERE map = ? AND key IN ({marks})",
                    (self.name, *chunk),
                ).fetchall()
            )
            for key in chunk:
                self._cache[key] = found.get(key)
        self._bound()

    def _text(self, key: str) -> str | None:
        if key in self._cache:
            return self._cache[key]
        row = self.maps.db.execute(
            "SELECT value FROM entries WHERE map = ? AND key = ?", (self.name, key)
        ).fetchone()
        text = self._cache[key] = None if row is None else str(row[0])
        self._bound()
        return text

    def _bound(self) -> None:
        if len(self._cache) > _CACHE_MAX:
            self.maps.flush()

    def write_changes(self) -> None:
        """Write the cached changes (``DiskMaps.flush`` commits them) and empty the cache."""
        cache = self._cache
        changed = sorted(self._changed)
        puts = [(self.name, k, text) for k in changed if (text := cache[k]) is not None]
        gone = [(self.name, k) for k in changed if cache[k] is None]
        db = self.maps.db
        if puts:
            db.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?)", puts)
        if gone:
            db.executemany("DELETE FROM entries WHERE map = ? AND key = ?", gone)
        cache.clear()
        self._changed.clear()

    def __getitem__(self, key: str) -> Any:
        text = self._text(key)
        if text is None:
            raise KeyError(key)
        return loads(text)

    def get(self, key: str, default: Any = None) -> Any:
        """One lookup, no KeyError raised and caught for a missing key."""
        text = self._text(key)
        return default if text is None else loads(text)

    def __setitem__(self, key: str, value: Any) -> None:
        self._cache[key] = dumps(value)
        self._changed[key] = None
        self._bound()

    def __delitem__(self, key: str) -> None:
        if self._text(key) is None:
            raise KeyError(key)
        self._cache[key] = None
        self._changed[key] = None

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._text(key) is not None

    def __iter__(self) -> Iterator[str]:
        self.maps.flush()
        for (key,) in self.maps.db.execute(
            "SELECT key FROM entries WHERE map = ? ORDER BY key", (self.name,)
        ).fetchall():
            yield str(key)

    def __len__(self) -> int:
        self.maps.flush()
        row = self.maps.db.execute(
            "SELECT COUNT(*) FROM entries WHERE map = ?", (self.name,)
        ).fetchone()
        return int(row[0])
