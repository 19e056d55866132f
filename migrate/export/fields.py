"""Drupal 7 field values → typed export values: one handler per family of field types.

Every row of a field's ``field_data_*`` table that belongs to an exported entity
becomes exactly one ``FieldValue`` (field, type, language, delta and a typed
item), whatever its type: a handler registered for the type builds the item,
and a type no handler knows keeps its raw columns in a ``RawItem`` with a
problem naming the type. Nothing is dropped; what could not be carried over
faithfully (a reference to something not exported, a key missing from
``allowed_values``, an unreadable date) is a problem next to the value.

A handler is ``handler(spec, columns, ctx) -> (item, problems)``: ``spec`` is the
field (``FieldSpec``, picklable for the worker processes), ``columns`` the row's
values by column suffix (``value``, ``summary``, ``target_id`` ...), ``ctx`` the
lookups a value needs (``FieldContext``: cleaning, link rewriting, target URLs).
A new field type is one function decorated with ``@handles("type", ...)``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from migrate.errors import SchemaError
from migrate.phpdata import unserialize

COMMENT_BODY = "comment_body"
"""A comment's body field: the body it shows, and its rows in other languages."""


@dataclass(frozen=True, slots=True)
class TextItem:
    """text, text_long, text_with_summary: cleaned like the body."""

    value: str
    summary: str = ""
    format: str | None = None


@dataclass(frozen=True, slots=True)
class ListItem:
    """list_*: the stored key and its label from ``allowed_values`` (None when not there)."""

    key: str | int | float
    label: str | None


@dataclass(frozen=True, slots=True)
class NumberItem:
    """number_*: decimals as strings, so no digit is lost to a float."""

    value: int | float | str


@dataclass(frozen=True, slots=True)
class DateItem:
    """date, datetime, datestamp: ISO 8601 (with offset when the value has a time)."""

    value: str | None
    end: str | None = None
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class StringItem:
    """email, telephone, phone: one string."""

    value: str


@dataclass(frozen=True, slots=True)
class LinkItem:
    """link_field: ``url`` rewritten to the new site when it pointed into the old one."""

    url: str
    title: str = ""
    attributes: dict[str, Any] = field(default_factory=dict, hash=False)
    original: str = ""


@dataclass(frozen=True, slots=True)
class ReferenceItem:
    """entityreference, node_reference, user_reference: the target and its new URL."""

    entity: str
    id: int
    url: str | None = None


@dataclass(frozen=True, slots=True)
class FileItem:
    """file, image: the file_managed row it points at, and the field's own columns."""

    fid: int
    url: str | None
    uri: str | None = None
    mime: str | None = None
    alt: str = ""
    title: str = ""
    description: str = ""
    display: int | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, slots=True)
class TermItem:
    """taxonomy_term_reference: vocabulary, name and URL are None when the term cannot load."""

    tid: int
    vocabulary: str | None
    name: str | None
    path: str | None


@dataclass(frozen=True, slots=True)
class NestedItem:
    """field_collection, paragraphs: the item entity the host points at, with its own values.

    ``fields`` are the values of the item's revision the host names (``revision_id``),
    typed like any other, so a collection inside a collection nests again.
    """

    entity: str
    id: int
    revision_id: int | None
    bundle: str | None
    archived: bool = False
    fields: tuple[FieldValue, ...] = ()


@dataclass(frozen=True, slots=True)
class RawItem:
    """A field type no handler knows: every column as stored (bytes as base64)."""

    columns: dict[str, Any] = field(default_factory=dict, hash=False)


FieldItem = (
    TextItem
    | ListItem
    | NumberItem
    | DateItem
    | StringItem
    | LinkItem
    | ReferenceItem
    | FileItem
    | TermItem
    | NestedItem
    | RawItem
)
ITEM_TYPES: tuple[type, ...] = (
    TextItem,
    ListItem,
    NumberItem,
    DateItem,
    StringItem,
    LinkItem,
    ReferenceItem,
    FileItem,
    TermItem,
    NestedItem,
    RawItem,
)


@dataclass(frozen=True, slots=True)
class FieldValue:
    """One value of one field of an entity: a row of its ``field_data_*`` table."""

    field: str
    type: str
    language: str
    delta: int
    item: FieldItem


@dataclass(frozen=True)
class FieldSpec:
    """A field as the handlers need it: type, storage columns (suffixes) and settings."""

    name: str
    type: str
    module: str
    columns: tuple[str, ...]
    settings: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def data_table(self) -> str:
        return f"field_data_{self.name}"

    def column(self, suffix: str) -> str:
        return f"{self.name}_{suffix}"


@dataclass
class FieldContext:
    """The lookups handlers need; the node builder fills them in (see ``NodeBuilder``)."""

    clean: Callable[[Any, str | None], str]
    """Cleaned HTML of a text value in a format (problems go to the entity)."""
    rewrite: Callable[[str], str]
    """A link's URL on the new site when it points into the old one, else as given."""
    node_url: Callable[[int], str | None]
    term: Callable[[int], tuple[str, str, str] | None]
    """(vocabulary, name, path) of a loadable term."""
    missing_term: Callable[[int], str]
    """Why a term cannot be loaded."""
    user_exported: Callable[[int], bool]
    file: Callable[[int], tuple[str, str | None, str] | None]
    """(uri, url, mime) of a file_managed row."""
    timezone: str = "UTC"
    """The site's timezone (``date_default_timezone``)."""
    nested: Callable[[str, int, int | None], NestedFound | None] = lambda e, i, r: None
    """(bundle, archived, values, problems) of a field_collection or paragraphs item."""


NestedFound = tuple[str, bool, list["FieldValue"], list[tuple[str, str]]]
NESTED_ENTITIES = {"field_collection": "field_collection_item", "paragraphs": "paragraphs_item"}
"""Field types whose values are items of another entity type, and that entity type."""


Issue = str | tuple[str, str]
"""A handler's problem: its text (kind ``field``), or (kind, text) for a kind of its own."""
Handler = Callable[[FieldSpec, Mapping[str, Any], FieldContext], tuple[FieldItem, list[Issue]]]
_HANDLERS: dict[str, Handler] = {}


def handles(*types: str) -> Callable[[Handler], Handler]:
    """Register a handler for these field types."""

    def add(handler: Handler) -> Handler:
        for name in types:
            _HANDLERS[name] = handler
        return handler

    return add


def known_types() -> list[str]:
    return sorted(_HANDLERS)


def build_value(
    spec: FieldSpec, language: str, delta: int, columns: Mapping[str, Any], ctx: FieldContext
) -> tuple[FieldValue, list[tuple[str, str]]]:
    """The typed value of one row, and its problems as (kind, ``field[delta]: ...``).

    The language shows in the brackets unless it is ``und``: ``title[fr][0]``.
    """
    handler = _HANDLERS.get(spec.type)
    lang = "" if language == "und" else f"[{language}]"
    where = f"{spec.name}{lang}[{delta}]"
    issues: list[Issue]
    if handler is None:
        item: FieldItem = RawItem({k: _plain(v) for k, v in columns.items()})
        issues = [f"field type {spec.type!r} ({spec.module}) is not known: raw columns kept"]
    else:
        item, issues = handler(spec, columns, ctx)
    value = FieldValue(spec.name, spec.type, language, delta, item)
    problems = [
        ("field", f"{where}: {i}") if isinstance(i, str) else (i[0], f"{where}: {i[1]}")
        for i in issues
    ]
    return value, problems


def _plain(value: Any) -> Any:
    """A column value as JSON can hold it."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(value).decode("ascii")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# --------------------------------------------------------------------------- handlers


@handles("text", "text_long", "text_with_summary")
def _text_item(
    spec: FieldSpec, cols: Mapping[str, Any], ctx: FieldContext
) -> tuple[FieldItem, list[Issue]]:
    fmt = cols.get("format")
    if fmt is None:  # text processing off: plain text, escaped by whoever renders it
        return TextItem(_text(cols.get("value")), _text(cols.get("summary"))), []
    fmt = _text(fmt)
    return TextItem(ctx.clean(cols.get("value"), fmt), ctx.clean(cols.get("summary"), fmt), fmt), []


@handles("list_text", "list_integer", "list_float", "list_boolean")
def _list_item(
    spec: FieldSpec, cols: Mapping[str, Any], ctx: FieldContext
) -> tuple[FieldItem, list[Issue]]:
    raw = cols.get("value")
    key: str | int | float
    if spec.type in ("list_integer", "list_boolean"):
        key = int(raw) if raw is not None else 0
    elif spec.type == "list_float":
        key = float(raw) if raw is not None else 0.0
    else:
        key = _text(raw)
    allowed = spec.settings.get("allowed_values")
    labels = (
        {_key_text(k): _text(v) for k, v in allowed.items()} if isinstance(allowed, dict) else {}
    )
    label = labels.get(_key_text(key))
    problems: list[Issue] = []
    if label is None and labels:
        problems.append(f"key {key!r} is not in allowed_values")
    return ListItem(key, label), problems


def _key_text(key: Any) -> str:
    if isinstance(key, float):
        return repr(key).removesuffix(".0") if key.is_integer() else repr(key)
    return str(key)


@handles("number_integer", "number_decimal", "number_float")
def _number_item(
    spec: FieldSpec, cols: Mapping[str, Any], ctx: FieldContext
) -> tuple[FieldItem, list[Issue]]:
    raw = cols.get("value")
    if raw is None:
        return NumberItem(""), ["empty number"]
    if spec.type == "number_integer":
        return NumberItem(int(raw)), []
    if spec.type == "number_float":
        return NumberItem(float(raw)), []
    return NumberItem(str(raw)), []


@handles("email", "telephone", "phone")
def _string_item(
    spec: FieldSpec, cols: Mapping[str, Any], ctx: FieldContext
) -> tuple[FieldItem, list[Issue]]:
    suffix = "email" if "email" in cols else "value"
    return StringItem(_text(cols.get(suffix))), []


@handles("link_field")
def _link_item(
    spec: FieldSpec, cols: Mapping[str, Any], ctx: FieldContext
) -> tuple[FieldItem, list[Issue]]:
    original = _text(cols.get("url"))
    url = "/" if original == "<front>" else ctx.rewrite(original)
    problems: list[Issue] = []
    attributes: dict[str, Any] = {}
    raw = cols.get("attributes")
    if raw:
        try:
            decoded = unserialize(raw, f"{spec.data_table}.{spec.column('attributes')}")
        except SchemaError as exc:
            problems.append(f"attributes kept as stored: {exc}")
            decoded = {"raw": _text(raw)}
        if isinstance(decoded, dict):
            attributes = {str(k): _plain(v) for k, v in decoded.items()}
    return LinkItem(url, _text(cols.get("title")), attributes, original), problems


_REFERENCE_COLUMNS = {
    "entityreference": "target_id",
    "node_reference": "nid",
    "user_reference": "uid",
}


@handles("entityreference", "node_reference", "user_reference")
def _reference_item(
    spec: FieldSpec, cols: Mapping[str, Any], ctx: FieldContext
) -> tuple[FieldItem, list[Issue]]:
    raw = cols.get(_REFERENCE_COLUMNS[spec.type])
    target = int(raw) if raw is not None else 0
    if spec.type == "node_reference":
        entity = "node"
    elif spec.type == "user_reference":
        entity = "user"
    else:
        entity = str(spec.settings.get("target_type") or "node")
    url: str | None = None
    problem: str | None = None
    if entity == "node":
        url = ctx.node_url(target)
        if url is None:
            problem = f"node {target} is not in the export (missing, unpublished or filtered out)"
    elif entity == "taxonomy_term":
        term = ctx.term(target)
        url = term[2] if term else None
        if term is None:
            problem = f"term {target}: {ctx.missing_term(target)}"
    elif entity == "user" and not ctx.user_exported(target):
        problem = f"user {target} does not exist"
    return ReferenceItem(entity, target, url), [problem] if problem else []


@handles("file", "image")
def _file_item(
    spec: FieldSpec, cols: Mapping[str, Any], ctx: FieldContext
) -> tuple[FieldItem, list[Issue]]:
    fid = int(cols.get("fid") or 0)
    found = ctx.file(fid)
    problems: list[Issue] = []
    if found is None:
        problems.append(("missing_file", f"file {fid} is not in file_managed"))
    uri, url, mime = found if found is not None else (None, None, None)
    if found is not None and url is None:
        problems.append(f"{uri} is not a public file: not published")
    return (
        FileItem(
            fid=fid,
            url=url,
            uri=uri,
            mime=mime,
            alt=_text(cols.get("alt")),
            title=_text(cols.get("title")),
            description=_text(cols.get("description")),
            display=_int_or_none(cols.get("display")),
            width=_int_or_none(cols.get("width")),
            height=_int_or_none(cols.get("height")),
        ),
        problems,
    )


def _int_or_none(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


@handles("taxonomy_term_reference")
def _term_item(
    spec: FieldSpec, cols: Mapping[str, Any], ctx: FieldContext
) -> tuple[FieldItem, list[Issue]]:
    tid = int(cols.get("tid") or 0)
    term = ctx.term(tid)
    if term is None:
        return TermItem(tid, None, None, None), [
            ("dangling_term_ref", f"term {tid}: {ctx.missing_term(tid)}")
        ]
    return TermItem(tid, *term), []


@handles(*NESTED_ENTITIES)
def _nested_item(
    spec: FieldSpec, cols: Mapping[str, Any], ctx: FieldContext
) -> tuple[FieldItem, list[Issue]]:
    entity = NESTED_ENTITIES[spec.type]
    item_id = int(cols.get("value") or 0)
    revision = _int_or_none(cols.get("revision_id"))
    found = ctx.nested(entity, item_id, revision)
    if found is None:
        return NestedItem(entity, item_id, revision, None), [
            f"{entity} {item_id} does not exist: its values cannot be exported"
        ]
    bundle, archived, values, problems = found
    return NestedItem(entity, item_id, revision, bundle, archived, tuple(values)), list(problems)


@handles("date", "datetime", "datestamp")
def _date_item(
    spec: FieldSpec, cols: Mapping[str, Any], ctx: FieldContext
) -> tuple[FieldItem, list[Issue]]:
    settings = spec.settings
    handling = str(settings.get("tz_handling") or "site")
    granularity = settings.get("granularity") or {}
    has_time = isinstance(granularity, dict) and bool(granularity.get("hour"))
    stored_in = str(settings.get("timezone_db") or "UTC") if handling != "none" else ""
    if handling == "date" and cols.get("timezone"):
        shown_in = _text(cols.get("timezone"))
    elif handling == "utc":
        shown_in = "UTC"
    else:
        shown_in = ctx.timezone
    problems: list[Issue] = []
    values: list[str | None] = []
    for suffix in ("value", "value2"):
        raw = cols.get(suffix)
        text, problem = _iso(raw, spec.type, has_time, stored_in, shown_in)
        if problem:
            problems.append(problem)
        values.append(text)
    end = values[1] if "value2" in cols and values[1] != values[0] else None
    return DateItem(values[0], end, shown_in if has_time else None), problems


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _iso(
    raw: Any, ftype: str, has_time: bool, stored_in: str, shown_in: str
) -> tuple[str | None, str | None]:
    """A stored date as ISO 8601 in ``shown_in`` (date only when the field has no time)."""
    if raw is None or raw == "":
        return None, None
    try:
        if ftype == "datestamp":
            moment = datetime.fromtimestamp(int(raw), UTC)
        elif isinstance(raw, datetime):
            moment = raw
        else:
            moment = datetime.fromisoformat(_text(raw).replace(" ", "T"))
    except (ValueError, OverflowError, OSError):
        return _text(raw), f"date {_text(raw)!r} cannot be read: kept as stored"
    if not has_time:
        return moment.date().isoformat(), None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_zone(stored_in or shown_in))
    return moment.astimezone(_zone(shown_in)).isoformat(), None


# --------------------------------------------------------------------------- rendering


AttachmentId = Callable[[int], int | None]
"""fid → the WordPress id of the file's attachment, when the export wrote one."""


def item_data(
    item: FieldItem, timezone: str | None = None, attachment_id: AttachmentId | None = None
) -> dict[str, Any]:
    """The item's fields without empty ones (TOML has no null; JSON stays short).

    A nested item's ``fields`` are grouped by field name like ``grouped`` (dates in
    ``timezone`` when given); a file value, at any depth, gets the ``wp_id`` of its
    attachment when ``attachment_id`` knows it.
    """
    data: dict[str, Any] = {}
    for name in item.__slots__:
        value = getattr(item, name)
        if value is None or value == "" or value == {}:
            continue
        data[name] = value
    if isinstance(item, NestedItem):
        data["fields"] = grouped(item.fields, timezone, attachment_id)
    elif isinstance(item, FileItem) and attachment_id and (wp_id := attachment_id(item.fid)):
        data["wp_id"] = wp_id
    return data


def grouped(
    values: Sequence[FieldValue],
    timezone: str | None = None,
    attachment_id: AttachmentId | None = None,
) -> dict[str, Any]:
    """Field name → list of ``{language, delta, …item}``, dates in ``timezone`` when given."""
    out: dict[str, list[Any]] = {}
    for v in values:
        item = v.item
        if timezone and isinstance(item, DateItem) and item.timezone:
            item = DateItem(_shift(item.value, timezone), _shift(item.end, timezone), timezone)
        data = {
            "language": v.language,
            "delta": v.delta,
            **item_data(item, timezone, attachment_id),
        }
        out.setdefault(v.field, []).append(data)
    return out


def scalar(item: FieldItem) -> str | int | float | None:
    """The one plain value of a simple item (number, email, phone); None when structured."""
    if isinstance(item, NumberItem | StringItem):
        return item.value
    return None


def postmeta(
    values: Sequence[FieldValue], attachment_id: AttachmentId = lambda fid: None
) -> list[tuple[str, str]]:
    """WXR ``wp:postmeta`` pairs: one ``field_<name>`` per value; structured values as JSON.

    A structured value carries its ``language`` and ``delta`` so translations and
    order survive; a simple one (number, email, phone) is its plain text. Nodes,
    terms and users keep their Drupal ids in WordPress; a file value, top-level or
    inside a field_collection or paragraphs item, gets the ``wp_id`` of its
    attachment when ``attachment_id`` knows it.
    """
    pairs: list[tuple[str, str]] = []
    for v in values:
        simple = scalar(v.item)
        if simple is not None and v.language == "und":
            text = str(simple)
        else:
            data = {
                "language": v.language,
                "delta": v.delta,
                **item_data(v.item, attachment_id=attachment_id),
            }
            text = json.dumps(data, ensure_ascii=False, sort_keys=False)
        pairs.append((f"field_{v.field}", text))
    return pairs


def front_matter_fields(values: Sequence[FieldValue], timezone: str | None) -> dict[str, Any]:
    """Hugo ``[params.fields]``: field name → list of values, dates in ``timezone``."""
    return grouped(values, timezone)


def _shift(value: str | None, timezone: str) -> str | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value).astimezone(_zone(timezone)).isoformat()
    except ValueError:
        return value
