"""The toolkit's own error types.

The library raises only these; the CLI turns each into a one-line message and
the exit code it carries, in one place (``migrate.cli``).
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
from pathlib import Path


class MigrateError(Exception):
    """Base class: a problem the user can act on, never a bug."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BadInput(MigrateError):
    """Input the user gave us is malformed: an option, a file, a mapping."""

    exit_code = 2


class ConnectionFailed(MigrateError):
    """The database could not be reached or refused the credentials."""

    exit_code = 3


class NotDrupal7(MigrateError):
    """The database (or dump) is not a Drupal 7 site."""

    exit_code = 4


class SchemaError(MigrateError):
    """A Drupal 7 site whose schema lacks what we need, or holds undecodable data."""

    exit_code = 5


class DumpError(MigrateError):
    """A dump file that cannot be read: truncated, bad charset, not SQL."""

    exit_code = 6


class PreconditionFailed(MigrateError):
    """The database changed since the plan (or the apply undo reverses); nothing was written."""

    exit_code = 7


class StateError(MigrateError):
    """An export directory or journal whose state forbids the request."""

    exit_code = 8


class Unaccounted(MigrateError):
    """Read back from disk, the export lacks source items that have no reason to be left out.

    The output stays resumable: fix the cause and run the same command again.
    """

    exit_code = 9


class DiskFull(MigrateError):
    """The disk (or quota) filled up; the work done so far is kept, so a re-run resumes."""


_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


_ROOM = 1 << 20
"""Free bytes under which SQLite's "disk I/O error" (a WAL index it could not map) means full."""


def is_disk_full(exc: BaseException | None, folder: Path | None = None) -> bool:
    """Whether ``exc``, or an error it was raised from or while handling, is a full disk.

    OSError ENOSPC/EDQUOT, SQLite's "database or disk is full", or SQLite's "disk I/O
    error" while ``folder``'s file system has next to no room left; the chain is walked
    because writers turn an OSError into their own one-line error (``from None`` keeps
    it as the context).
    """
    for _ in range(20):
        if exc is None:
            return False
        if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
            return True
        if isinstance(exc, sqlite3.Error) and "disk is full" in str(exc):
            return True
        if folder is not None and "disk I/O error" in str(exc) and _no_room(folder):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _no_room(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < _ROOM
    except OSError:
        return False


EXIT_OK = 0
EXIT_FINDINGS = 1
"""Also what ``audit`` (``--fail-on``) and ``validate-wxr`` return when they find problems."""
EXIT_INTERRUPTED = 130


def exit_codes() -> list[tuple[int, str]]:
    """Every exit code and what it means, from the error classes: written once, here.

    The first class (in definition order) with a code names it, by its docstring's
    first line; the CLI's ``--help`` and README's table are generated from this.
    """
    found = {
        EXIT_OK: "success",
        EXIT_FINDINGS: "findings at or above `--fail-on` (audit), problems found"
        " (validate-wxr, run), or another error",
        EXIT_INTERRUPTED: "interrupted (Ctrl-C): run the same command again to resume",
    }
    pending = list(MigrateError.__subclasses__())
    while pending:
        cls = pending.pop(0)
        doc = (cls.__doc__ or cls.__name__).strip().splitlines()[0].rstrip(".")
        found.setdefault(cls.exit_code, doc)
        pending.extend(cls.__subclasses__())
    return sorted(found.items())
