"""A writer's SQLite index kept from one run to the next, trusted only for the batch
files and the code it was built from.

The WXR and Hugo writers derive an index from their batch files (post names and
title+date keys, page folders and URLs taken, the cross-file check). Rebuilding it
was most of the start of an unchanged re-run (~2 s at 100k nodes), so a run that
finishes *seals* its index: it keeps the state the writer holds in memory in it
(``sections``), and writes a stamp of every batch file (name, inode, size, mtime,
ctime) and of the package's code (``code_digest``) next to it. The next
start reuses the index only when the stamp matches what is on disk now, and breaks
the seal, durably, before it changes anything: a run cut short, a rollback, a batch
file edited or replaced, or a new version of the package all mean a rebuild.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migrate.durable import fsync_dir, write_durably
from migrate.export.diskmap import dumps, loads
from migrate.export.fingerprint import code_digest

SEAL_SUFFIX = ".sealed"
_SECTIONS = "kept_sections"
"""The index's table of the sections ``seal`` keeps (name → JSON)."""


@dataclass(frozen=True)
class KeptIndex:
    """The index file ``path``, built from the files ``pattern`` matches in its folder."""

    path: Path
    pattern: str

    @property
    def seal_path(self) -> Path:
        return self.path.with_name(self.path.name + SEAL_SUFFIX)

    def stamp(self) -> str:
        """What the index is valid for: the batch files as the file system has them, and
        the code. ctime cannot be set by hand, so an edit that restores mtime shows too."""
        h = hashlib.blake2b(code_digest().encode(), digest_size=16)
        for path in sorted(self.path.parent.glob(self.pattern)):
            st = path.lstat()
            h.update(
                f"\0{path.name}\0{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}".encode()
            )
        return h.hexdigest()

    def claim(self) -> bool:
        """True: the index on disk was sealed for exactly these files, and may be used
        (its seal is gone, durably, before the caller writes to it). False: nothing is
        kept (any index file is removed); build it afresh."""
        try:
            sealed = self.seal_path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            sealed = ""
        self._break()
        if sealed and self.path.is_file() and sealed == self.stamp():
            return True
        for stale in (self.path, self.path.with_name(self.path.name + "-journal")):
            stale.unlink(missing_ok=True)
        return False

    def seal(self, db: sqlite3.Connection, sections: Mapping[str, Any]) -> None:
        """Keep ``sections`` (the writer's state held in memory) in ``db`` (the index),
        commit, flush it to disk, then stamp it: the next run may reuse it while the
        batch files stay as they are now."""
        db.execute(f"CREATE TABLE IF NOT EXISTS {_SECTIONS} (name TEXT PRIMARY KEY, value TEXT)")
        db.executemany(
            f"INSERT OR REPLACE INTO {_SECTIONS} VALUES (?, ?)",
            ((name, dumps(value)) for name, value in sections.items()),
        )
        if db.in_transaction:
            db.execute("COMMIT")
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        write_durably(self.seal_path, self.stamp().encode("ascii"))

    @staticmethod
    def sections(db: sqlite3.Connection) -> dict[str, Any]:
        """The sections ``seal`` kept in a claimed index."""
        rows = db.execute(f"SELECT name, value FROM {_SECTIONS}")
        return {str(name): loads(value) for name, value in rows}

    def _break(self) -> None:
        if self.seal_path.exists():
            self.seal_path.unlink()
            fsync_dir(self.path.parent)
