"""Mapping files: which missing tid becomes which live term, validated before anything runs.

YAML (``mappings/*.yml``)::

    remap:
      35: 36                    # by tid
      43: "tags: thể thao"      # by vocabulary machine name and term name
    restore:
      44: "sinh viên 5 tốt"     # restore with this name (overrides recovered names)
    drop: [12345]

CSV: a header ``tid,action,target`` and one row per tid; ``action`` is remap,
restore or drop; ``target`` is a tid, ``vocabulary: name`` or, for restore, the name.
Every error names the file and line.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from migrate.errors import BadInput

ACTIONS = ("remap", "restore", "drop")


@dataclass(frozen=True)
class Entry:
    tid: int
    action: str
    target: int | str | None
    line: int


@dataclass
class Mapping:
    """Validated-for-syntax entries; ``resolve`` checks them against the site."""

    path: Path
    entries: dict[int, Entry] = field(default_factory=dict)

    def where(self, tid: int) -> str:
        return f"{self.path}:{self.entries[tid].line}"


class _LineLoader(yaml.SafeLoader):
    """Records line numbers and refuses duplicate keys (PyYAML keeps the last silently)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        line = key_node.start_mark.line + 1
        if key in seen:
            raise BadInput(
                f"{loader.name}:{line}: duplicate key {key!r} (first on line {seen[key]})"
            )
        seen[key] = line
    mapping = loader.construct_mapping(node, deep=deep)
    return _Lines(mapping, {k: v for k, v in seen.items()})


class _Lines(dict):  # type: ignore[type-arg]
    def __init__(self, data: dict[Any, Any], lines: dict[Any, int]) -> None:
        super().__init__(data)
        self.lines = lines


_LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,  # type: ignore[arg-type]
)


def _tid(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadInput(f"{where}: {value!r} is not a term id")
    try:
        return int(value)
    except ValueError:
        raise BadInput(f"{where}: {value!r} is not a term id") from None


def _target(value: Any, where: str) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, str) and ":" in value:
        return value
    raise BadInput(f"{where}: target {value!r} must be a tid or 'vocabulary: name'")


def _add(mapping: Mapping, entry: Entry) -> None:
    if entry.tid in mapping.entries:
        first = mapping.entries[entry.tid].line
        raise BadInput(
            f"{mapping.path}:{entry.line}: duplicate key: tid {entry.tid} (first on line {first})"
        )
    mapping.entries[entry.tid] = entry


def _load_yaml(path: Path, text: str) -> Mapping:
    loader = _LineLoader(text)
    loader.name = str(path)
    try:
        data = loader.get_single_data()  # type: ignore[no-untyped-call]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise BadInput(f"{path}:{line}: bad YAML syntax ({exc.problem})") from None
    except RecursionError:
        raise BadInput(f"{path}: bad YAML: nested too deep (a mapping is two levels)") from None
    finally:
        loader.dispose()  # type: ignore[no-untyped-call]
    mapping = Mapping(path)
    if data is None:
        return mapping
    if not isinstance(data, _Lines):
        raise BadInput(f"{path}:1: expected sections remap/restore/drop")
    for section, body in data.items():
        line = data.lines[section]
        if section not in ACTIONS:
            raise BadInput(f"{path}:{line}: unknown section {section!r} (use remap, restore, drop)")
        if section == "drop":
            if not isinstance(body, list):
                raise BadInput(f"{path}:{line}: drop must be a list of tids")
            for value in body:
                _add(mapping, Entry(_tid(value, f"{path}:{line}"), "drop", None, line))
            continue
        if not isinstance(body, _Lines):
            raise BadInput(f"{path}:{line}: {section} must map tids to targets")
        for key, value in body.items():
            where = f"{path}:{body.lines[key]}"
            if section == "remap":
                target: int | str = _target(value, where)
            elif isinstance(value, str) and value.strip():
                target = value.strip()
            else:
                raise BadInput(f"{where}: restore needs the term name")
            _add(mapping, Entry(_tid(key, where), section, target, body.lines[key]))
    return mapping


def _load_csv(path: Path, text: str) -> Mapping:
    mapping = Mapping(path)
    reader = csv.reader(text.splitlines())
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return mapping
    except csv.Error as exc:
        raise BadInput(f"{path}:1: bad CSV ({exc})") from None
    if header[:2] != ["tid", "action"]:
        raise BadInput(f"{path}:1: the header must be tid,action,target")
    try:
        for row in reader:
            line = reader.line_num
            if not row or not "".join(row).strip():
                continue
            where = f"{path}:{line}"
            tid = _tid(row[0].strip(), where)
            action = row[1].strip().lower() if len(row) > 1 else ""
            value = row[2].strip() if len(row) > 2 else ""
            if action not in ACTIONS:
                raise BadInput(f"{where}: action {action!r} (use remap, restore or drop)")
            target: int | str | None = None
            if action == "remap":
                target = _target(value, where)
            elif action == "restore":
                if not value:
                    raise BadInput(f"{where}: restore needs the term name")
                target = value
            _add(mapping, Entry(tid, action, target, line))
    except csv.Error as exc:
        raise BadInput(f"{path}:{reader.line_num}: bad CSV ({exc})") from None
    return mapping


def load_mapping(path: Path) -> Mapping:
    """Parse a YAML or CSV mapping file; syntax errors and duplicate tids name file:line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"{path}: cannot read mapping ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path}:1: mapping is not UTF-8") from None
    if path.suffix.lower() == ".csv":
        return _load_csv(path, text)
    return _load_yaml(path, text)
