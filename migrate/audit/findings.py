"""What a check reports: typed findings the audit renders and the repair planner reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    NOTICE = "notice"

    @property
    def rank(self) -> int:
        return {"error": 3, "warning": 2, "notice": 1}[self.value]


@dataclass(frozen=True)
class Finding:
    """One broken thing, named precisely enough to fix it without looking again.

    ``entity`` holds the identifying columns as JSON scalars, using these keys
    where they apply: ``table, nid, vid, entity_type, bundle, field, delta,
    language, tid, parent, mlid, pid, path, alias, href, uid, format``; plus
    ``kind`` to tell sub-cases of one check apart (e.g. ``current`` vs
    ``old_revision_only``, ``term_row_missing`` vs ``vocabulary_missing``).
    """

    check: str
    severity: Severity
    message: str
    entity: dict[str, Any] = field(default_factory=dict, hash=False)
    hint: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity.value,
            "message": self.message,
            "entity": self.entity,
            "hint": self.hint,
        }
