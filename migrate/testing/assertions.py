"""Assertions for a site's migration tests, with failure messages that say what is wrong.

Each raises ``AssertionError`` naming the check, node or URL at fault and the
first few offending items, so a failing CI run reads like a to-do list.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from typing import Any

from migrate.audit import AuditReport
from migrate.testing.site import ExportBundle

SHOWN = 5
_MISSING = object()


def assert_no_findings(audit: AuditReport, *patterns: str) -> None:
    """No finding of any check whose id matches one of ``patterns`` (globs; none: all)."""
    wanted = patterns or ("*",)
    problems: list[str] = []
    for result in audit.checks:
        if result.count and any(fnmatch.fnmatchcase(result.id, p) for p in wanted):
            examples = "; ".join(f.message for f in result.examples(SHOWN))
            more = f" (and {result.count - SHOWN} more)" if result.count > SHOWN else ""
            problems.append(f"  {result.id}: {result.count} finding(s): {examples}{more}")
    if problems:
        raise AssertionError(
            f"expected no findings of {', '.join(wanted)}, found:\n" + "\n".join(problems)
        )


def _value(record: Mapping[str, Any], dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def assert_exported(
    bundle: ExportBundle, *, nid: int, fields: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Node ``nid`` is in the export and each of ``fields`` has the expected value.

    Keys are record keys, dotted for nested ones (``body.format``, ``terms.0.name``);
    a callable value is a predicate the actual value must satisfy. Returns the record.
    """
    record = bundle.nodes.get(nid)
    if record is None:
        have = sorted(bundle.nodes)
        shown = ", ".join(map(str, have[:10])) + (", ..." if len(have) > 10 else "")
        raise AssertionError(
            f"node {nid} was not exported ({len(have)} nodes were: {shown or 'none'})"
        )
    wrong: list[str] = []
    for key, expected in (fields or {}).items():
        actual = _value(record, key)
        if actual is _MISSING:
            wrong.append(f"  {key}: missing from the record (keys: {', '.join(record)})")
        elif callable(expected):
            check: Callable[[Any], Any] = expected
            if not check(actual):
                name = getattr(expected, "__name__", "the predicate")
                wrong.append(f"  {key}: {actual!r} does not satisfy {name}")
        elif actual != expected:
            wrong.append(f"  {key}: expected {expected!r}, exported {actual!r}")
    if wrong:
        raise AssertionError(f"node {nid} ({record.get('title')!r}) differs:\n" + "\n".join(wrong))
    return record


def assert_redirect(bundle: ExportBundle, old: str, new: str) -> None:
    """The old URL ``old`` redirects to ``new`` in the export's redirect map."""
    target = bundle.redirect_for(old)
    if target is None:
        raise AssertionError(
            f"no redirect for {old!r} ({len(bundle.redirects)} old URLs redirect;"
            " is the node or term exported, and its alias in url_alias?)"
        )
    if target != new:
        raise AssertionError(f"{old!r} redirects to {target!r}, expected {new!r}")
