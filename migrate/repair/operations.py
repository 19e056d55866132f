"""Operations as data: what a repair changes, row by row, with fingerprinted before-images.

A plan is a JSON document an operator can read, diff and keep. Each operation
names an unprefixed table, the key that selects its rows, a fingerprint of
those rows as the planner read them, and the values it will write. A plan file
is untrusted input (it may be edited by hand): ``Plan.from_dict`` checks every
field's type and every name, and ``check_schema`` that each table and column
exists in the site, before anything runs. ``migrate.repair.sql`` renders every
statement.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from migrate.errors import BadInput
from migrate.identifiers import IDENTIFIER
from migrate.repair import sql
from migrate.repair.mapping import ACTIONS
from migrate.repair.redirects import TermRedirect
from migrate.source.base import Source

PLAN_FORMAT = 1

Kind = Literal["insert", "update", "delete"]
KINDS = ("insert", "update", "delete")


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


def read_rows(source: Source, table: str, key: dict[str, Any]) -> list[dict[str, Any]]:
    """Every column of the rows a key selects, read generically so undo can rebuild them."""
    text, params = sql.bound(sql.select(key), table)
    columns = source.columns(table)
    return [dict(zip(columns, r, strict=True)) for r in source.rows(text, params)]


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_name(name: Any, what: str, where: str) -> str:
    """A table or column name from a plan or journal file: a-z, 0-9 and _ only."""
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise BadInput(f"{where}: {what} {_shown(name)} is not a valid name (only a-z, 0-9, _)")
    return name


def check_value(value: Any, where: str) -> Any:
    """A column value as a plan or journal stores it: a JSON scalar or a tagged value."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((tag, text),) = value.items()
        if tag in ("b64", "dec", "str") and isinstance(text, str):
            try:
                if tag == "b64":
                    base64.b64decode(text, validate=True)
                elif tag == "dec":
                    Decimal(text)
            except (binascii.Error, ArithmeticError, ValueError):
                raise BadInput(f"{where}: {tag} value {_shown(text)} does not decode") from None
            return value
    raise BadInput(f"{where}: {_shown(value)} is not a column value")


def check_row(row: Any, what: str, where: str, *, empty: bool = True) -> dict[str, Any]:
    """A column → value object (a key, the values to write, a before-image)."""
    if not isinstance(row, dict):
        raise BadInput(f"{where}: {what} must be an object of column: value, not {_shown(row)}")
    if not row and not empty:
        raise BadInput(f"{where}: {what} is empty (it would select or write no column)")
    for column, value in row.items():
        check_name(column, f"{what} column", where)
        check_value(value, f"{where}: {what} column {column}")
    return row


def check_schema(
    source: Source, uses: Iterable[tuple[str, str, Iterable[str]]], error: type[Exception]
) -> None:
    """Each (where, table, columns) names a table of this site and columns it has."""
    known: dict[str, set[str]] = {}
    for where, table, columns in uses:
        if table not in known:
            if not source.has_table(table):
                raise error(f"{where}: table {table!r} does not exist in this site")
            known[table] = set(source.columns(table))
        unknown = sorted(set(columns) - known[table])
        if unknown:
            raise error(f"{where}: column {unknown[0]!r} is not a column of {table}")


def _typed(data: dict[str, Any], name: str, types: Any, what: str, where: str) -> Any:
    value = data.get(name)
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in _tuple(types)):
        raise BadInput(f"{where}: {name} must be {what}, not {_shown(value)}")
    return value


def _tuple(types: Any) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def _known_fields(data: dict[str, Any], allowed: Iterable[str], where: str) -> None:
    extra = sorted(set(data) - set(allowed))
    if extra:
        raise BadInput(f"{where}: unknown field {_shown(extra[0])}")


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
    def from_dict(cls, data: Any, where: str = "operation") -> Operation:
        """An operation from a plan file, every field checked: nothing unknown reaches SQL."""
        if not isinstance(data, dict):
            raise BadInput(f"{where}: an operation must be an object, not {_shown(data)}")
        kind = data.get("kind")
        if kind not in KINDS:
            raise BadInput(f"{where}: kind {_shown(kind)} is not one of {', '.join(KINDS)}")
        table = check_name(data.get("table"), "table", where)
        where = f"{where} ({kind} {table})"
        _known_fields(data, (f.name for f in fields(cls)), where)
        key = check_row(data.get("key"), "key", where, empty=False)
        after = check_row(data.get("after") or {}, "after", where)
        if kind == "delete" and after:
            raise BadInput(f"{where}: a delete writes no values (after must be empty)")
        if kind != "delete" and not after:
            raise BadInput(f"{where}: an {kind} needs the values to write (after)")
        return cls(
            kind=kind,
            table=table,
            key=decode_row(key),
            before=_typed(data, "before", (str, type(None)), "a fingerprint or null", where),
            after=decode_row(after),
            rows=_count(data, where),
            reason=_typed({"reason": data.get("reason", "")}, "reason", str, "text", where),
            tid=_typed(data, "tid", (int, type(None)), "a term id or null", where),
            after_prior=_typed(
                {"after_prior": data.get("after_prior", False)},
                "after_prior",
                bool,
                "true or false",
                where,
            ),
        )


def _count(data: dict[str, Any], where: str) -> int:
    rows = data.get("rows", 0)
    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
        raise BadInput(f"{where}: rows must be a count, not {_shown(rows)}")
    return rows


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
    def from_dict(cls, data: Any, where: str = "decision") -> Decision:
        if not isinstance(data, dict):
            raise BadInput(f"{where}: a decision must be an object, not {_shown(data)}")
        _known_fields(data, (f.name for f in fields(cls)), where)
        action = data.get("action")
        if action not in ACTIONS:
            raise BadInput(f"{where}: action {_shown(action)} is not one of {', '.join(ACTIONS)}")
        optional = (str, type(None))
        evidence = data.get("evidence", [])
        if not isinstance(evidence, list) or not all(isinstance(e, str) for e in evidence):
            raise BadInput(f"{where}: evidence must be a list of texts")
        return cls(
            tid=_typed(data, "tid", int, "a term id", where),
            action=action,
            reason=_typed({"reason": data.get("reason", "")}, "reason", str, "text", where),
            name=_typed(data, "name", optional, "text or null", where),
            vocabulary=_typed(data, "vocabulary", optional, "text or null", where),
            target=_typed(data, "target", (int, type(None)), "a term id or null", where),
            evidence=tuple(evidence),
        )


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
    # Where the plan was read from, for error messages; not part of the plan.
    origin: str = field(default="plan", compare=False)

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
    def from_dict(cls, data: Any, where: str = "plan") -> Plan:
        """A plan from its JSON, every field checked (see ``check_schema`` for the site's)."""
        if not isinstance(data, dict) or data.get("format") != "drupal-migrate-repair-plan":
            raise BadInput(f"{where}: not a drupal-migrate repair plan")
        if data.get("version") != PLAN_FORMAT:
            raise BadInput(f"{where}: plan format {data.get('version')} (expected {PLAN_FORMAT})")
        _known_fields(data, cls("", [], [], []).to_dict(), where)
        for name in ("source", "created"):
            _typed({name: data.get(name, "")}, name, str, "text", where)
        lists = {}
        for name in ("checks", "notes", "decisions", "operations", "redirects"):
            lists[name] = data.get(name) or []
            if not isinstance(lists[name], list):
                raise BadInput(f"{where}: {name} must be a list, not {_shown(lists[name])}")
        for name in ("checks", "notes"):
            if not all(isinstance(v, str) for v in lists[name]):
                raise BadInput(f"{where}: {name} must be a list of texts")
        return cls(
            source=data.get("source", ""),
            decisions=[
                Decision.from_dict(d, f"{where}: decision {n}")
                for n, d in enumerate(lists["decisions"], 1)
            ],
            operations=[
                Operation.from_dict(o, f"{where}: operation {n}")
                for n, o in enumerate(lists["operations"], 1)
            ],
            checks=list(lists["checks"]),
            notes=list(lists["notes"]),
            created=data.get("created", ""),
            redirects=[
                TermRedirect.from_dict(r, f"{where}: redirect {n}")
                for n, r in enumerate(lists["redirects"], 1)
            ],
            origin=where,
        )

    @classmethod
    def load(cls, path: Path) -> Plan:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise BadInput(f"{path}: cannot read plan ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise BadInput(f"{path}: not a drupal-migrate repair plan (not UTF-8 text)") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadInput(f"{path}:{exc.lineno}: not JSON ({exc.msg})") from None
        except RecursionError:
            raise BadInput(f"{path}: not a drupal-migrate repair plan (nested too deep)") from None
        return cls.from_dict(data, str(path))

    def check_schema(self, source: Source) -> None:
        """Refuse a plan naming a table or column this site does not have (BadInput)."""
        check_schema(
            source,
            (
                (
                    f"{self.origin}: operation {n} ({op.kind} {op.table})",
                    op.table,
                    [*op.key, *op.after],
                )
                for n, op in enumerate(self.operations, 1)
            ),
            BadInput,
        )
