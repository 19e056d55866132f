"""Reading an export back from disk: what each target really holds, counted per entity.

The reconciliation (``migrate.export.reconcile``) compares these counts with the
source, so it proves what was written rather than trusting what the writers
were asked to write. Each target has one reader here, looked up by the
writer's ``reads_back_as`` (its own name by default):

* ``jsonl``: every line of every ``*/batch-*.jsonl`` file;
* ``wxr``: every ``wxr-*.xml`` file (items, their post meta and comments, the
  channel's authors and terms);
* ``hugo``: every page bundle's and term page's front matter and body, the
  media copies, and the redirect pages.

A reader yields ``Found`` (an entity and what hangs off it, counted), ``Listed``
(an entity the target left out on purpose, with the writer's reason) and
declares in ``ReadBack.not_carried`` what its format cannot hold at all. Files
are parsed one at a time (XML with iterparse), so memory stays flat.
"""

from __future__ import annotations

import csv
import json
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from lxml import etree

from migrate.errors import StateError
from migrate.export.fields import COMMENT_BODY

BODY = "body"
"""The part name of a node's body: counted with the body field's other values."""
BODIES = (BODY, COMMENT_BODY)
"""Fields whose empty values are no values to carry (the source counts them the same way)."""
COMMENT_PREFIX = "comment."
"""Parts of a node counting its comments' field values: ``comment.field:<name>``."""


@dataclass(frozen=True, slots=True)
class Found:
    """One entity found in the output, and its parts (``comments``, ``field:<name>``...)."""

    kind: str
    key: str
    parts: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Listed:
    """An entity the writer left out and said why (in its own report)."""

    kind: str
    key: str
    reason: str


@dataclass
class ReadBack:
    """One target's reader: the items it finds, and what its format never holds."""

    items: Callable[[Path], Iterator[Found | Listed]]
    not_carried: dict[str, str] = field(default_factory=dict)
    """``kind`` or ``kind.part`` → why this target has no place for it."""
    files: Callable[[Path], list[Path]] | None = None
    """When every item comes from exactly one file and no file's items depend on
    another's: the output's files, so the reconciliation can keep each file's items
    by the digest of its bytes and parse only the files whose bytes changed."""
    read_file: Callable[[bytes], Iterator[Found | Listed]] | None = None
    """The items of one file of ``files``, from its bytes."""


_READERS: dict[str, ReadBack] = {}


def register_readback(name: str, readback: ReadBack) -> None:
    _READERS[name] = readback


def readback_for(name: str) -> ReadBack:
    found = _READERS.get(name)
    if found is None:
        raise StateError(f"export target {name!r} cannot be read back, so it cannot be reconciled")
    return found


def _field_part(name: str) -> str:
    return f"field:{name}"


def _blank(*texts: Any) -> bool:
    return not any(isinstance(t, str) and t.strip() for t in texts)


def nested_part(entity: str, name: str) -> str:
    """The part counting the values of field ``name`` of nested items (``paragraphs_item``...)."""
    return f"{entity}.field:{name}"


def _counted(values: Any, prefix: str = "") -> Counter[str]:
    """``field:<name>`` (with ``prefix``) → number of JSON field values (empty bodies aside).

    Values of nested items (``item.fields``, a list of values again) count under
    ``<entity>.field:<name>``, at any depth.
    """
    counts: Counter[str] = Counter()
    for v in values or ():
        name, item = v["field"], v["item"]
        if name in BODIES and _blank(item.get("value"), item.get("summary")):
            continue
        counts[prefix + "field:" + name] += 1
        if "fields" in item and item.get("entity"):
            _listed_nested(item, prefix, counts)
    return counts


def _listed_nested(item: dict[str, Any], prefix: str, counts: Counter[str]) -> None:
    """Count the values inside a JSONL nested item (a list of values), at any depth."""
    stack = [item]
    while stack:
        parent = stack.pop()
        entity = str(parent["entity"])
        for child in parent.get("fields") or ():
            counts[prefix + nested_part(entity, str(child["field"]))] += 1
            inner = child["item"]
            if "fields" in inner and inner.get("entity"):
                stack.append(inner)


def _grouped_nested(value: Any, prefix: str, counts: Counter[str]) -> None:
    """Count the nested item values inside one grouped value (WXR JSON, Hugo front matter)."""
    stack = [value]
    while stack:
        v = stack.pop()
        fields = v.get("fields") if isinstance(v, dict) else None
        if not isinstance(fields, dict) or not v.get("entity"):
            continue
        for name, children in fields.items():
            for child in children:
                counts[prefix + nested_part(str(v["entity"]), str(name))] += 1
                stack.append(child)


def _comment_fields(
    comments: Any, body: Callable[[Any], Any], fields: Callable[[Any], Any]
) -> Counter[str]:
    """``comment.field:<name>`` of a node's comments: their field values and shown bodies."""
    counts: Counter[str] = Counter()
    for comment in comments or ():
        counts.update(fields(comment))
        if not _blank(body(comment)):
            counts[COMMENT_PREFIX + _field_part(COMMENT_BODY)] += 1
    return counts


def _node_parts(
    body: bool, fields: Counter[str], comments: int, aliases: int | None, revisions: int
) -> tuple[tuple[str, int], ...]:
    counts = Counter(fields)
    if body:
        counts[_field_part(BODY)] += 1
    parts = [("comments", comments), ("revisions", revisions), *sorted(counts.items())]
    if aliases is not None:
        parts.append(("aliases", aliases))
    return tuple(parts)


# --------------------------------------------------------------------------- JSONL

_JSONL_KEYS = {
    "vocabulary": "vid",
    "term": "tid",
    "author": "uid",
    "file": "fid",
    "node": "nid",
    "redirect": "source",
}


def jsonl_files(out_dir: Path) -> list[Path]:
    return sorted(out_dir.glob("*/batch-*.jsonl"))


def read_jsonl(out_dir: Path) -> Iterator[Found | Listed]:
    for path in jsonl_files(out_dir):
        yield from read_jsonl_file(path.read_bytes())


def read_jsonl_file(text: bytes) -> Iterator[Found | Listed]:
    """The items of one JSONL batch file."""
    for line in text.split(b"\n"):
        if not line.strip():
            continue
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # a line cut short or mangled holds nothing: its item is unaccounted
        kind = str(data.get("kind"))
        key = str(data.get(_JSONL_KEYS.get(kind, ""), ""))
        if kind == "node":
            body = data.get("body") or {}
            fields = _counted(data.get("fields"))
            fields.update(
                _comment_fields(
                    data.get("comments"),
                    lambda c: (c.get("body") or {}).get("value"),
                    lambda c: _counted(c.get("fields"), COMMENT_PREFIX),
                )
            )
            yield Found(
                kind,
                key,
                _node_parts(
                    not _blank(body.get("value"), body.get("summary")),
                    fields,
                    len(data.get("comments", ())),
                    len(data.get("aliases", ())),
                    len(data.get("revisions", ())),
                ),
            )
        elif kind == "term":
            parts = _counted(data.get("fields"))
            parts["parents"] = len(data.get("parents", ()))
            yield Found(kind, key, tuple(sorted(parts.items())))
        elif kind == "author":
            yield Found(kind, key, tuple(sorted(_counted(data.get("fields")).items())))
        else:
            yield Found(kind, key)


register_readback("jsonl", ReadBack(read_jsonl, files=jsonl_files, read_file=read_jsonl_file))


# --------------------------------------------------------------------------- WXR

_WP = "{http://wordpress.org/export/1.2/}"
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
_EXCERPT = "{http://wordpress.org/export/1.2/excerpt/}encoded"
_TERM_TAGS = {f"{_WP}category", f"{_WP}tag", f"{_WP}term"}


def read_wxr(out_dir: Path) -> Iterator[Found | Listed]:
    seen: set[tuple[str, str]] = set()
    for path in sorted(out_dir.glob("wxr-*.xml")):
        tags = ("item", f"{_WP}author", *_TERM_TAGS)
        for _, elem in etree.iterparse(str(path), events=("end",), tag=tags):
            if elem.tag == "item":
                yield from _wxr_item(elem)
            else:
                kind = "author" if elem.tag == f"{_WP}author" else "term"
                ident = elem.findtext(f"{_WP}author_id" if kind == "author" else f"{_WP}term_id")
                # every file declares the authors and terms it needs: count each once
                if ident and (kind, ident) not in seen:
                    seen.add((kind, ident))
                    meta = _meta(elem, "termmeta")
                    yield Found(kind, ident.strip(), tuple(sorted(_meta_fields(meta).items())))
            elem.clear()
    yield from _media_left_out(out_dir)


def _media_left_out(out_dir: Path) -> Iterator[Listed]:
    """Files the media report says were not published (private, missing...), with why."""
    report = out_dir / "media-report.csv"
    if not report.is_file():
        return
    with report.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["status"] not in ("copied", "unchanged"):
                detail = row["detail"]
                yield Listed(
                    "file", row["fid"], f"{row['status']}: {detail}" if detail else row["status"]
                )


def _meta(elem: Any, tag: str) -> list[tuple[str, str]]:
    """(key, value) of an element's ``wp:postmeta``, ``wp:commentmeta`` or ``wp:termmeta``."""
    return [
        (m.findtext(f"{_WP}meta_key") or "", m.findtext(f"{_WP}meta_value") or "")
        for m in elem.iterfind(f"{_WP}{tag}")
    ]


def _meta_fields(meta: list[tuple[str, str]], prefix: str = "") -> Counter[str]:
    """``field:<name>`` → values written as ``field_<name>`` meta (empty bodies aside).

    A nested item's value is JSON holding its own values: those count too.
    """
    counts: Counter[str] = Counter()
    for k, v in meta:
        if not k.startswith("field_"):
            continue
        name = k.removeprefix("field_")
        if name in BODIES and _blank(_json_text(v)):
            continue
        counts[prefix + _field_part(name)] += 1
        if v.startswith("{") and '"entity"' in v and '"fields"' in v:
            try:
                _grouped_nested(json.loads(v), prefix, counts)
            except ValueError:
                continue
    return counts


def _wxr_item(item: Any) -> Iterator[Found]:
    meta = _meta(item, "postmeta")
    keys = dict(meta)
    if item.findtext(f"{_WP}post_type") == "attachment":
        if "_drupal_fid" in keys:
            yield Found("file", keys["_drupal_fid"])
        return
    if "_drupal_nid" not in keys:
        return
    fields = _meta_fields(meta)
    comments = item.findall(f"{_WP}comment")
    fields.update(
        _comment_fields(
            comments,
            lambda c: c.findtext(f"{_WP}comment_content"),
            lambda c: _meta_fields(_meta(c, "commentmeta"), COMMENT_PREFIX),
        )
    )
    yield Found(
        "node",
        keys["_drupal_nid"],
        _node_parts(
            not _blank(item.findtext(_CONTENT), item.findtext(_EXCERPT)),
            fields,
            len(comments),
            sum(1 for k, _ in meta if k == "_drupal_alias"),
            0,
        ),
    )


def _json_text(value: str) -> str:
    """The text of a body value written as JSON (other languages' bodies), for the blank test."""
    try:
        data = json.loads(value)
    except ValueError:
        return value
    if isinstance(data, dict):
        return " ".join(str(data.get(k) or "") for k in ("value", "summary"))
    return value


register_readback(
    "wxr",
    ReadBack(
        read_wxr,
        {
            "vocabulary": "WXR has no vocabulary records: each term names its taxonomy",
            "redirect": "WXR holds no redirects: `drupal-migrate redirects DIR` writes them"
            " from the export state",
            "node.revisions": "WXR holds the current revision of each post only",
            "term.parents": "WXR holds one parent per term",
            "author.field:*": "a WXR author has no meta: user fields are in the JSONL export",
        },
    ),
)


# --------------------------------------------------------------------------- Hugo

_HUGO_STATE = ".hugo-state"


def _front_matter(path: Path) -> tuple[dict[str, Any], str]:
    text = path.read_text(encoding="utf-8")
    if not text.startswith("+++\n"):
        return {}, text
    head, sep, body = text[4:].partition("\n+++\n")
    if not sep:
        head, body = head.removesuffix("+++\n"), ""
    try:
        return tomllib.loads(head), body
    except tomllib.TOMLDecodeError as exc:
        raise StateError(f"{path}: front matter is not valid TOML ({exc})") from None


def read_hugo(out_dir: Path) -> Iterator[Found | Listed]:
    content = out_dir / "content"
    for path in sorted(content.rglob("*.md")) if content.is_dir() else []:
        data, body = _front_matter(path)
        aliases = [str(a).lstrip("/") for a in data.get("aliases", ())]
        for alias in aliases:
            yield Found("redirect", alias)
        params = data.get("params") or {}
        if "drupal_nid" in data:
            fields = _hugo_fields(params.get("fields"))
            comments = data.get("comments") or params.get("comments") or ()
            fields.update(
                _comment_fields(
                    comments,
                    lambda c: c.get("body"),
                    lambda c: _hugo_fields(c.get("fields"), COMMENT_PREFIX),
                )
            )
            yield Found(
                "node",
                str(data["drupal_nid"]),
                _node_parts(
                    not _blank(body, data.get("summary")),
                    fields,
                    len(comments),
                    None,
                    0,
                ),
            )
        elif "drupal_tid" in data:
            fields = _hugo_fields(params.get("fields"))
            yield Found("term", str(data["drupal_tid"]), tuple(sorted(fields.items())))
        elif "drupal_vid" in data:
            yield Found("vocabulary", str(data["drupal_vid"]))
    static = out_dir / "static"
    for page in sorted(static.rglob("index.html")) if static.is_dir() else []:
        rel = page.parent.relative_to(static).as_posix()
        if not rel.startswith("files/"):
            yield Found("redirect", rel)
    yield from _hugo_media(out_dir)
    yield from _hugo_problems(out_dir)


def _hugo_fields(fields: Any, prefix: str = "") -> Counter[str]:
    """``field:<name>`` → values under a front matter ``fields`` table (empty bodies aside)."""
    counts: Counter[str] = Counter()
    for name, values in (fields or {}).items():
        for v in values:
            if name in BODIES and _blank(v.get("value"), v.get("summary")):
                continue
            counts[prefix + _field_part(name)] += 1
            _grouped_nested(v, prefix, counts)
    return counts


def _hugo_media(out_dir: Path) -> Iterator[Found | Listed]:
    """Files: a copy must be on disk under ``static/files``; the rest listed with their status."""
    report = out_dir / "media-report.csv"
    if not report.is_file():
        return
    with report.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            fid, status, dest = row["fid"], row["status"], row["dest"]
            if dest and (out_dir / "static" / "files" / dest).is_file():
                yield Found("file", fid)
            else:
                yield Listed("file", fid, f"{status}: {row['detail']}" if row["detail"] else status)


def _hugo_problems(out_dir: Path) -> Iterator[Listed]:
    """Old paths the writer could not give a page (another page answers there), with why."""
    for path in sorted((out_dir / _HUGO_STATE).glob("batch-*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StateError(f"{path}: unreadable Hugo writer state ({exc})") from None
        for problem in data.get("problems", ()):
            if problem.get("kind") == "alias":
                yield Listed("redirect", str(problem["id"]).lstrip("/"), str(problem["detail"]))


register_readback(
    "hugo",
    ReadBack(
        read_hugo,
        {
            "author": "Hugo has no author records: each page names its author",
            "node.revisions": "a Hugo page holds the current revision only",
            "node.aliases": "checked as redirects (front matter aliases and redirect pages)",
            "term.parents": "Hugo taxonomies are flat",
        },
    ),
)
