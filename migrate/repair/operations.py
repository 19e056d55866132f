"""Operations as data: what a repair changes, row by row, with fingerprinted before-images.

A plan is a JSON document an operator can read, diff and keep. Each operation
names an unprefixed table, the key that selects its rows, a fingerprint of
those rows as the planner read them, and the values it will write. The applier
is the only code that turns operations into statements.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from migrate.errors import BadInput
from migrate.repair.redirects import TermRedirect
from migrate.source.base import Source

PLAN_FORMAT = 1

Kind = Literal["insert", "update", "delete"]


def encode_value(value: Any) -> Any:
    """A column value as JSON; bytes and decimals are tagged so they come back exactly."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"b64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Decimal):
        return {"dec": str(value)}
    if isinstance(value, datetime | date | timedelta):
        return {"str": str(value)}
    return value


def decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if "b64" in value:
            return base64.b64decode(value["b64"])
        if "dec" in value:
            return Decimal(value["dec"])
        if "str" in value:
            return value["str"]
    return value


def encode_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: encode_value(v) for k, v in row.items()}


def decode_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: decode_value(v) for k, v in row.items()}


def _comparable(value: Any) -> Any:
    """Fingerprints must not depend on the driver: text read as bytes hashes like text."""
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(raw).decode("ascii")}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | timedelta):
        return str(value)
    return value


def fingerprint(rows: Sequence[dict[str, Any]]) -> str:
    """A hash of the full rows a key selects, independent of their order."""
    canon = sorted(
        json.dumps({k: _comparable(v) for k, v in r.items()}, sort_keys=True, ensure_ascii=False)
        for r in rows
    )
    return hashlib.sha256("\n".join(canon).encode("utf-8")).hexdigest()[:32]


def where(key: dict[str, Any]) -> tuple[str, list[Any]]:
    """``a = ? AND b = ?`` for a key (column names were checked when the key was made)."""
    parts = [f"`{c}` = ?" for c in key]
    return " AND ".join(parts) or "1 = 1", list(key.values())


def read_rows(source: Source, table: str, key: dict[str, Any]) -> list[dict[str, Any]]:
    """Every column of the rows a key selects, read generically so undo can rebuild them."""
    clause, params = where(key)
    columns = source.columns(table)
    rows = source.rows(f"SELECT * FROM {{{table}}} WHERE {clause}", params)
    return [dict(zip(columns, r, strict=True)) for r in rows]


@dataclass(frozen=True)
class Operation:
    """One change to one table: the rows ``key`` selects, as fingerprinted, become ``after``.

    ``insert``: ``key`` must select nothing; ``after`` is the whole new row.
    ``update``: ``key`` selects exactly one row; ``after`` holds the changed columns.
    ``delete``: ``key`` selects one or more rows (``rows`` of them), all removed.
    """

    kind: Kind
    table: str
    key: dict[str, Any]
    before: str | None
    after: dict[str, Any] = field(default_factory=dict)
    rows: int = 0
    reason: str = ""
    tid: int | None = None
    after_prior: bool = False

    @property
    def new_key(self) -> dict[str, Any]:
        """The key that selects the row once the operation is done."""
        if self.kind == "update":
            return {c: self.after.get(c, v) for c, v in self.key.items()}
        return self.key

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["key"] = encode_row(self.key)
        data["after"] = encode_row(self.after)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Operation:
        return cls(
            kind=data["kind"],
            table=data["table"],
            key=decode_row(data["key"]),
            before=data.get("before"),
            after=decode_row(data.get("after") or {}),
            rows=int(data.get("rows", 0)),
            reason=data.get("reason", ""),
            tid=data.get("tid"),
            after_prior=bool(data.get("after_prior", False)),
        )


@dataclass(frozen=True)
class Decision:
    """What the plan does about one missing term, and why."""

    tid: int
    action: str
    reason: str
    name: str | None = None
    vocabulary: str | None = None
    target: int | None = None
    evidence: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["evidence"] = list(self.evidence)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Decision:
        return cls(**{**data, "evidence": tuple(data.get("evidence", ()))})


@dataclass
class Plan:
    """Everything ``repair apply`` needs, and nothing it has to look up again."""

    source: str
    decisions: list[Decision]
    operations: list[Operation]
    checks: list[str]
    notes: list[str] = field(default_factory=list)
    created: str = ""
    version: int = PLAN_FORMAT
    # Redirects only the web server can make (no redirect module): written next to the plan.
    redirects: list[TermRedirect] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Operations per strategy (the part of the reason before the first space)."""
        found: dict[str, int] = {}
        for op in self.operations:
            label = op.reason.split(" ", 1)[0]
            found[label] = found.get(label, 0) + 1
        return found

    def tables(self) -> list[str]:
        return sorted({op.table for op in self.operations})

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "drupal-migrate-repair-plan",
            "version": self.version,
            "source": self.source,
            "created": self.created,
            "checks": self.checks,
            "decisions": [d.to_dict() for d in self.decisions],
            "notes": self.notes,
            "counts": self.counts(),
            "operations": [op.to_dict() for op in self.operations],
            "redirects": [r.to_dict() for r in self.redirects],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "plan") -> Plan:
        if data.get("format") != "drupal-migrate-repair-plan":
            raise BadInput(f"{where}: not a drupal-migrate repair plan")
        if data.get("version") != PLAN_FORMAT:
            raise BadInput(f"{where}: plan format {data.get('version')} (expected {PLAN_FORMAT})")
        try:
            return cls(
                source=data["source"],
                decisions=[Decision.from_dict(d) for d in data["decisions"]],
                operations=[Operation.from_dict(o) for o in data["operations"]],
                checks=list(data.get("checks", [])),
                notes=list(data.get("notes", [])),
                created=data.get("created", ""),
                redirects=[
                    TermRedirect.from_dict(r, f"{where}: redirect {n}")
                    for n, r in enumerate(data.get("redirects") or [], 1)
                ],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BadInput(f"{where}: malformed plan ({exc})") from None

    @classmethod
    def load(cls, path: Path) -> Plan:
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")), str(path))
        except OSError as exc:
            raise BadInput(f"{path}: cannot read plan ({exc.strerror})") from None
        except json.JSONDecodeError as exc:
            raise BadInput(f"{path}:{exc.lineno}: not JSON ({exc.msg})") from None
