"""A str → JSON value map kept in a SQLite table: writer state that grows with the site.

The Hugo and WXR writers rebuild their per-item state (page folders, aliases, URLs
taken) from their batch files on every start; held in dicts, that state grew by
kilobytes per node (hundreds of MB at 100k nodes). Here it lives in a scratch
SQLite file next to the batch files, with a small page cache, so memory stays flat.
The file is derived data: it is recreated, never trusted, on every load.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

_COMMIT_EVERY = 5000


class DiskMaps:
    """One scratch SQLite file holding any number of named maps."""

    def __init__(self, path: Path) -> None:
        for stale in (path, path.with_name(path.name + "-journal")):
            stale.unlink(missing_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.executescript(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -4000;"
            "CREATE TABLE entries (map TEXT, key TEXT, value TEXT NOT NULL,"
            " PRIMARY KEY (map, key)) WITHOUT ROWID; BEGIN;"
        )
        self._writes = 0

    def map(self, name: str) -> DiskMap:
        return DiskMap(self, name)

    def wrote(self) -> None:
        """Commit now and then, so the page cache (not a transaction) bounds memory."""
        self._writes += 1
        if self._writes >= _COMMIT_EVERY:
            self.db.execute("COMMIT")
            self.db.execute("BEGIN")
            self._writes = 0

    def close(self) -> None:
        self.db.close()


class DiskMap(MutableMapping[str, Any]):
    """A ``dict`` of JSON values whose entries are rows of ``maps``' file."""

    def __init__(self, maps: DiskMaps, name: str) -> None:
        self.maps = maps
        self.name = name

    def __getitem__(self, key: str) -> Any:
        row = self.maps.db.execute(
            "SELECT value FROM entries WHERE map = ? AND key = ?", (self.name, key)
        ).fetchone()
        if row is None:
            raise KeyError(key)
        return json.loads(row[0])

    def get(self, key: str, default: Any = None) -> Any:
        """One lookup, no KeyError raised and caught for a missing key."""
        row = self.maps.db.execute(
            "SELECT value FROM entries WHERE map = ? AND key = ?", (self.name, key)
        ).fetchone()
        return default if row is None else json.loads(row[0])

    def __setitem__(self, key: str, value: Any) -> None:
        self.maps.db.execute(
            "INSERT OR REPLACE INTO entries VALUES (?, ?, ?)",
            (self.name, key, json.dumps(value, ensure_ascii=False)),
        )
        self.maps.wrote()

    def __delitem__(self, key: str) -> None:
        cur = self.maps.db.execute(
            "DELETE FROM entries WHERE map = ? AND key = ?", (self.name, key)
        )
        if cur.rowcount == 0:
            raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        row = self.maps.db.execute(
            "SELECT 1 FROM entries WHERE map = ? AND key = ?", (self.name, key)
        ).fetchone()
        return row is not None

    def __iter__(self) -> Iterator[str]:
        for (key,) in self.maps.db.execute(
            "SELECT key FROM entries WHERE map = ? ORDER BY key", (self.name,)
        ).fetchall():
            yield str(key)

    def __len__(self) -> int:
        row = self.maps.db.execute(
            "SELECT COUNT(*) FROM entries WHERE map = ?", (self.name,)
        ).fetchone()
        return int(row[0])
