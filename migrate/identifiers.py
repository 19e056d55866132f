"""Names that reach SQL text: validated here, once, before any interpolation.

Values are always bound parameters; only identifiers (table prefix, table and
field names read from the database or given by users) are ever written into a
statement, and only after passing this check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from migrate.errors import BadInput

IDENTIFIER = re.compile(r"^[a-z0-9_]+$")
DATABASE_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def check_identifier(name: str, what: str = "identifier") -> str:
    """Refuse any table/column/prefix name that could carry SQL."""
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise BadInput(f"invalid {what} {name!r}: only a-z, 0-9 and _ are allowed")
    return name


def _check_prefix(value: str) -> None:
    """A prefix is ``pre_`` or, as Drupal allows per table, ``database.`` / ``database.pre_``."""
    database, dot, prefix = value.rpartition(".")
    if dot and not DATABASE_NAME.match(database):
        raise BadInput(
            f"invalid database in table prefix {value!r}: only A-Z, a-z, 0-9 and _ are allowed"
        )
    if prefix:
        check_identifier(prefix, "table prefix")


@dataclass(frozen=True)
class Prefix:
    """Drupal's table prefix: one string, or a per-table map with a default."""

    default: str = ""
    per_table: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for value in (self.default, *self.per_table.values()):
            if value:
                _check_prefix(value)
        for table in self.per_table:
            check_identifier(table, "table name in prefix map")

    def apply(self, table: str) -> str:
        """The table's name as Drupal writes it: ``pre_node``, or ``shared_db.users``."""
        return self.per_table.get(table, self.default) + table

    def location(self, table: str) -> tuple[str | None, str]:
        """(database, physical table name): the database is None for the connection's own."""
        database, _, name = self.apply(table).rpartition(".")
        return database or None, name

    def quoted(self, table: str) -> str:
        """The name to write into SQL: `pre_node`, or `shared_db`.`users`."""
        database, name = self.location(table)
        return (f"`{database}`." if database else "") + f"`{name}`"

    def describe(self) -> str:
        if not self.per_table:
            return self.default
        pairs = ", ".join(f"{t}={p}" for t, p in sorted(self.per_table.items()))
        return f"{self.default} ({pairs})" if self.default else pairs
