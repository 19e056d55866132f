"""``--mapping FILE``: which target type a content type becomes, which taxonomy a vocabulary.

The file is YAML (a small, hand-edited file, so comments matter)::

    content_types:
      article: post
      page: page
    vocabularies:
      chuyen_muc: category
      tags: post_tag

Anything not mapped keeps its Drupal machine name. A malformed file is a
``BadInput`` naming the file and the line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from migrate.errors import BadInput

if TYPE_CHECKING:
    from migrate.schema import Drupal7

_SECTIONS = ("content_types", "vocabularies")


@dataclass(frozen=True)
class ExportMapping:
    content_types: dict[str, str] = field(default_factory=dict)
    vocabularies: dict[str, str] = field(default_factory=dict)

    def content_type(self, name: str) -> str:
        return self.content_types.get(name, name)

    def vocabulary(self, name: str) -> str:
        return self.vocabularies.get(name, name)

    def check_site(self, path: Path, site: Drupal7) -> None:
        """Refuse a content type or vocabulary the site does not have (nodes of a type
        whose ``node_type`` row is gone still count)."""
        types = {str(t) for (t,) in site.source.rows("SELECT type FROM {node_type}")}
        types |= {str(t) for (t,) in site.source.rows("SELECT DISTINCT type FROM {node}")}
        self.check(path, types, (v.machine_name for v in site.vocabularies.values()))

    def check(self, path: Path, content_types: Iterable[str], vocabularies: Iterable[str]) -> None:
        """Refuse a name the site does not have: a typo would silently map nothing."""
        for section, names, known in (
            ("content_types", self.content_types, set(content_types)),
            ("vocabularies", self.vocabularies, set(vocabularies)),
        ):
            unknown = sorted(set(names) - known)
            if unknown:
                have = ", ".join(sorted(known)) or "none"
                raise BadInput(
                    f"{path}: {section}: {unknown[0]!r} is not in this site (it has: {have})"
                )


def _line_of(node: Any) -> int:
    mark = getattr(node, "start_mark", None)
    return int(mark.line) + 1 if mark is not None else 1


def load_mapping(path: Path) -> ExportMapping:
    """Read and validate a mapping file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot read mapping file ({exc})") from None
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = int(mark.line) + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise BadInput(f"{path}:{line}: invalid YAML: {problem}") from None
    except RecursionError:
        raise BadInput(f"{path}: invalid YAML: nested too deep (a mapping is two levels)") from None
    if root is None:
        return ExportMapping()
    if not isinstance(root, yaml.MappingNode):
        raise BadInput(f"{path}:{_line_of(root)}: expected a mapping with {', '.join(_SECTIONS)}")
    sections: dict[str, dict[str, str]] = {s: {} for s in _SECTIONS}
    for key_node, value_node in root.value:
        key = key_node.value
        if key not in sections:
            raise BadInput(
                f"{path}:{_line_of(key_node)}: unknown section {key!r}"
                f" (expected {', '.join(_SECTIONS)})"
            )
        if not isinstance(value_node, yaml.MappingNode):
            raise BadInput(f"{path}:{_line_of(value_node)}: {key} must map names to names")
        for name_node, target_node in value_node.value:
            if not isinstance(target_node, yaml.ScalarNode) or not str(target_node.value).strip():
                raise BadInput(
                    f"{path}:{_line_of(target_node)}: {key}.{name_node.value} needs a name"
                )
            sections[key][str(name_node.value)] = str(target_node.value).strip()
    return ExportMapping(sections["content_types"], sections["vocabularies"])
