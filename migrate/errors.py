"""The toolkit's own error types.

The library raises only these; the CLI turns each into a one-line message and
the exit code it carries, in one place (``migrate.cli``).
"""

from __future__ import annotations


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
