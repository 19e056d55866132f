"""Where the public URLs of a dropped or remapped term should send visitors.

taxonomy_breadcrumb warns on every ``/taxonomy/term/N`` that does not load, so a
term the repair drops keeps warning for whoever follows an old link, unless that
URL is redirected. A remapped term goes to its replacement; a dropped one to its
parent, else its vocabulary's page (the taxonomy_breadcrumb vocabulary path, else
the live menu link above the term's old one), else the front page. With the
redirect module installed the plan inserts its rows; without it, the rules are
written for the old site's web server (nginx and Apache) next to the plan.

The decisions are pure functions of what the planner read, tested table by table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from migrate.durable import write_durably
from migrate.errors import BadInput
from migrate.export.redirects import Redirect, build_redirect_map, render

FRONT = ""


@dataclass(frozen=True)
class TermRedirect:
    """One old URL of a gone term (path, no leading slash) and where it should go now."""

    source: str
    target: str
    tid: int
    why: str

    @property
    def url_target(self) -> str:
        """The target as a web server writes it: a root-relative URL."""
        return "/" + self.target

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str) -> TermRedirect:
        if not isinstance(data, dict) or not all(
            isinstance(data.get(k), str) for k in ("source", "target", "why")
        ):
            raise BadInput(f"{where}: a redirect needs source, target and why (strings)")
        tid = data.get("tid")
        if not isinstance(tid, int) or isinstance(tid, bool):
            raise BadInput(f"{where}: a redirect's tid must be an integer")
        return cls(data["source"], data["target"], tid, data["why"])


@dataclass(frozen=True)
class Fate:
    """What the plan does with a term, as far as its URL is concerned."""

    action: str  # restore, remap or drop
    target: int | None = None


def target_of(
    tid: int,
    fate: Fate,
    parents: Sequence[int],
    fates: Mapping[int, Fate],
    live: frozenset[int] | set[int],
    vocabulary_page: str | None,
    menu_parent: str | None,
) -> tuple[str, str]:
    """(target path, why) for a dropped or remapped term; pure.

    ``live`` are the terms that load after the plan (live now, or restored);
    ``vocabulary_page``/``menu_parent`` are live paths or None.
    """
    if fate.action == "remap" and fate.target is not None:
        return f"taxonomy/term/{fate.target}", f"tid {tid} remapped to {fate.target}"
    for parent in parents:
        if parent == 0:
            continue
        above = fates.get(parent)
        if parent in live and (above is None or above.action == "restore"):
            return f"taxonomy/term/{parent}", f"tid {tid} dropped: its parent {parent}"
        if above is not None and above.action == "remap" and above.target is not None:
            return (
                f"taxonomy/term/{above.target}",
                f"tid {tid} dropped: its parent {parent}, remapped to {above.target}",
            )
    if vocabulary_page:
        return vocabulary_page, f"tid {tid} dropped: its vocabulary's page"
    if menu_parent:
        return menu_parent, f"tid {tid} dropped: the menu link above its old one"
    return FRONT, f"tid {tid} dropped: no live parent or vocabulary page, the front page"


def sources_of(tid: int, aliases: Sequence[str]) -> list[str]:
    """Every public path of a term: its system path, its feed, each old alias."""
    paths = [f"taxonomy/term/{tid}", f"taxonomy/term/{tid}/feed"]
    paths += [a for a in dict.fromkeys(aliases) if a and a not in paths]
    return paths


def redirects_for(tid: int, sources: Sequence[str], target: str, why: str) -> list[TermRedirect]:
    """One redirect per source; a feed goes to the target's feed when that is a term."""
    out = []
    for source in sources:
        to = target
        if source.endswith("/feed") and target.startswith("taxonomy/term/"):
            to = f"{target}/feed"
        out.append(TermRedirect(source, to, tid, why))
    return out


def rules_paths(plan_path: Path) -> tuple[Path, Path]:
    """The nginx and Apache rules files written next to a plan."""
    stem = plan_path.name.removesuffix(".json")
    return (
        plan_path.with_name(f"{stem}.redirects.nginx.conf"),
        plan_path.with_name(f"{stem}.redirects.apache.conf"),
    )


def write_rules(redirects: Sequence[TermRedirect], plan_path: Path) -> list[Path]:
    """Write the web-server rules for these redirects next to the plan; the files written.

    The ``?q=`` spellings Drupal also answered are added by the shared map builder.
    """
    if not redirects:
        return []
    candidates = [Redirect(r.source, r.url_target, "term_gone", "term", r.tid) for r in redirects]
    rules = build_redirect_map(candidates).redirects
    written = []
    for path, fmt in zip(rules_paths(plan_path), ("nginx", "apache"), strict=True):
        write_durably(path, render(rules, fmt))
        written.append(path)
    return written
