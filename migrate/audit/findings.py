"""What a check reports: typed findings the audit renders and the repair planner reads."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from enum import StrEnum
from typing import Any, Literal


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    NOTICE = "notice"

    @property
    def rank(self) -> int:
        return {"error": 3, "warning": 2, "notice": 1}[self.value]


def plain(value: Any) -> Any:
    """A value as JSON sees it: records as objects, tuples as lists."""
    if isinstance(value, Entity) or hasattr(value, "to_dict"):
        return value.to_dict()
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    return value


@dataclass(frozen=True, kw_only=True)
class Entity:
    """The broken thing a finding names: each check's own typed record (a subclass).

    The repair planner, the reports and the fixture selection read these attributes, so
    renaming one fails the type check instead of silently changing a plan. ``to_dict``
    gives the JSON form of ``audit --format json`` (``audit.schema.json``): its field
    names, in their order.
    """

    def to_dict(self) -> dict[str, Any]:
        return {f.name: plain(getattr(self, f.name)) for f in fields(self)}

    @property
    def node(self) -> int | None:
        """The node this finding is about, if any (reports group by it)."""
        return None

    @property
    def node_title(self) -> str | None:
        """The title of ``node``, when the check read it."""
        return None

    @property
    def terms(self) -> tuple[int, ...]:
        """The terms this finding is about (reports group by them)."""
        return ()

    @property
    def variant(self) -> str:
        """Which sub-case of its check this is (``kind`` in the JSON), or ''."""
        return ""


class OneNode:
    """Mixin for an entity about one node (``nid``): reports group it by that node."""

    nid: int

    @property
    def node(self) -> int | None:
        return self.nid


class TitledNode(OneNode):
    """Mixin for an entity about one node whose title the check read."""

    title: str | None

    @property
    def node_title(self) -> str | None:
        return self.title


class OneTerm:
    """Mixin for an entity about one term: its ``tid`` is what reports group it by."""

    tid: int

    @property
    def terms(self) -> tuple[int, ...]:
        return (self.tid,)


class KindIsVariant:
    """Mixin for an entity whose ``kind`` field names its sub-case of the check."""

    kind: str

    @property
    def variant(self) -> str:
        return self.kind


@dataclass(frozen=True, kw_only=True)
class MissingTable(KindIsVariant, Entity):
    """A table the check reads is not in the database: the check did not run."""

    table: str
    kind: Literal["table_missing"] = "table_missing"


@dataclass(frozen=True)
class Finding:
    """One broken thing, named precisely enough to fix it without looking again."""

    check: str
    severity: Severity
    message: str
    entity: Entity = field(default_factory=Entity, hash=False)
    hint: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity.value,
            "message": self.message,
            "entity": self.entity.to_dict(),
            "hint": self.hint,
        }
