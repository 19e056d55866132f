"""Findings + evidence + mapping + overrides → a Plan of row operations.

The planner decides per missing tid (restore, remap or drop; every choice and
its reason kept in the plan), then derives the rows to change from the
findings' tids: term-reference rows (deltas compacted as Drupal keeps them),
hierarchy, menu links, aliases, breadcrumb rows and a taxonomy_index rebuilt
the way ``taxonomy_build_node_index()`` does. It only reads.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from collections.abc import Mapping as MappingType
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from migrate.audit import repair_checks
from migrate.audit.breadcrumb import NoticePage
from migrate.audit.context import TermState
from migrate.audit.findings import Entity, Finding, MissingTable
from migrate.audit.links import AliasRoute, BodyLinkRoute, BreadcrumbRoute, MenuRoute
from migrate.audit.orphans import OrphanRows
from migrate.audit.taxonomy import (
    FieldRef,
    HierarchyRow,
    IndexRow,
    StaleIndexRow,
    TermWithoutVocabulary,
    UnreachableTerm,
)
from migrate.errors import BadInput, SchemaError
from migrate.links import term_id_of
from migrate.repair.evidence import Evidence, MissingTerm, Recovery, recover_terms
from migrate.repair.mapping import Mapping
from migrate.repair.operations import Decision, Operation, Plan, fingerprint, read_rows
from migrate.repair.redirects import Fate, TermRedirect, redirects_for, sources_of, target_of
from migrate.schema import Drupal7

# The checks declared with ``@check(..., repair=True)``: their findings are the input.
REPAIR_CHECKS = repair_checks()
ACTIONS = ("restore", "remap", "drop")


EVIDENCE_MODEL = (
    "evidence model (the same for a database and a dump): high = the site recorded it"
    " (term row, watchdog, own or child hierarchy rows, a field allowing one vocabulary);"
    " medium = an editor typed it next to the term's path (menu link title, body link text,"
    " breadcrumb path); low = reconstructed (alias slug + lower-case search index, weight"
    " bounded by the order an options widget stored). Threshold: a term is restored when"
    " its name has medium or better evidence; its description too (a text rebuilt from the"
    " other terms' pattern is low and never written); every other restored value (weight,"
    " parents, alias) is taken from its best evidence at any level; each decision lists"
    " where every value came from."
)


def drop_reason(term: MissingTerm) -> str:
    """Why a term without a mapping is dropped: never 'no name' when a weak name exists."""
    weak = term.name("low")
    if weak is None:
        return "no name recovered and no mapping"
    sources = sorted({e.source for e in term.evidence if e.name is not None})
    return (
        f"name {weak!r} only from low-confidence evidence ({', '.join(sources)}); restoring"
        " needs medium or better (map it to restore anyway)"
    )


@dataclass(frozen=True)
class Known:
    """What the evidence gives for one missing term, as far as the choice is concerned."""

    state: str
    name: str | None  # medium or better
    vocabulary: str | None
    vocabulary_recoverable: bool  # its lost vocabulary row can be rebuilt
    drop_reason: str


def choose_action(
    tid: int, known: Known, override: tuple[str, str] | None, mapped: Decision | None
) -> tuple[str, str]:
    """(action, reason) for one missing term: the override, else the mapping, else restore
    when the evidence allows it, else drop. Pure; refuses what cannot be carried out."""
    if known.state == "vocabulary_missing":
        restorable = known.vocabulary_recoverable
    elif mapped is not None and mapped.action == "restore":
        restorable = known.vocabulary is not None  # the mapping gives the name
    else:
        restorable = known.name is not None and known.vocabulary is not None
    if override:
        action, reason = override
    elif mapped:
        action, reason = mapped.action, mapped.reason
    elif restorable:
        recovered = "vocabulary" if known.state == "vocabulary_missing" else "name"
        action, reason = "restore", f"{recovered} recovered"
    else:
        action, reason = "drop", known.drop_reason
    if action == "restore" and not restorable:
        raise BadInput(f"tid {tid}: cannot restore: no name or vocabulary recovered")
    if action == "remap" and not (mapped and mapped.action == "remap"):
        raise BadInput(f"tid {tid}: remap needs a target in the mapping file")
    return action, reason


def missing_term(entity: Entity) -> tuple[int, TermState] | None:
    """The unloadable term an entity names, with why it does not load; pure."""
    match entity:
        case HierarchyRow():
            return entity.unloadable, entity.term_state
        case FieldRef() | TermWithoutVocabulary():
            return entity.tid, entity.kind
        case IndexRow() if entity.kind != "node_missing":
            return entity.tid, entity.kind
        case AliasRoute() | MenuRoute() | BreadcrumbRoute() | NoticePage():
            return entity.tid, entity.term_state
        case BodyLinkRoute() if entity.tid is not None and entity.term_state is not None:
            return entity.tid, entity.term_state
    return None


def index_node(entity: Entity) -> int | None:
    """The node whose taxonomy_index rows an entity says are wrong; pure."""
    return entity.nid if isinstance(entity, IndexRow | StaleIndexRow) else None


def missing_terms(findings: Iterable[Finding]) -> tuple[dict[int, str], set[int]]:
    """Unloadable tids (with their state) and the nodes whose index needs a rebuild."""
    missing: dict[int, str] = {}
    nodes: set[int] = set()
    for f in findings:
        if (nid := index_node(f.entity)) is not None:
            nodes.add(nid)
        if (found := missing_term(f.entity)) is not None:
            missing[found[0]] = found[1]
    return dict(sorted(missing.items())), nodes


def body_link_counts(findings: Iterable[Finding]) -> dict[int, int]:
    """tid → body links that lead (or may lead) to it; pure."""
    counts: dict[int, int] = {}
    for f in findings:
        if isinstance(f.entity, BodyLinkRoute):
            for tid in f.entity.maybe_tids:
                counts[tid] = counts.get(tid, 0) + 1
    return counts


def body_link_entities(findings: Iterable[Finding]) -> list[BodyLinkRoute]:
    """The body links the audit found and attributed: ``recover`` reads these same ones."""
    return [f.entity for f in findings if isinstance(f.entity, BodyLinkRoute)]


def unreadable_tables(findings: Iterable[Finding]) -> list[str]:
    """Tables a repair check could not read (they are missing), sorted; pure."""
    return sorted({f.entity.table for f in findings if isinstance(f.entity, MissingTable)})


@dataclass
class _Terms:
    """Live terms: tid → (vocabulary machine name, name)."""

    by_tid: dict[int, tuple[str, str]] = field(default_factory=dict)

    def find(self, vocabulary: str, name: str) -> int | None:
        for tid, (vocab, term) in self.by_tid.items():
            if vocab == vocabulary and term.casefold() == name.casefold():
                return tid
        return None


def _live_terms(site: Drupal7) -> _Terms:
    rows = site.source.rows(
        "SELECT t.tid, v.machine_name, t.name FROM {taxonomy_term_data} t"
        " JOIN {taxonomy_vocabulary} v ON v.vid = t.vid"
    )
    return _Terms({int(t): (str(v), str(n)) for t, v, n in rows})


def _field_vocabularies(site: Drupal7, missing: Iterable[int]) -> dict[int, list[tuple[str, ...]]]:
    """For each missing tid, the allowed vocabularies of every field referencing it."""
    wanted = set(missing)
    found: dict[int, list[tuple[str, ...]]] = {}
    for info in site.term_reference_fields:
        column = info.storage.column("tid")
        for (tid,) in site.source.rows(
            f"SELECT DISTINCT `{column}` FROM {{{info.storage.revision_table}}}"
        ):
            if int(tid) in wanted:
                found.setdefault(int(tid), []).append(info.allowed_vocabularies)
    return found


def _resolve_mapping(
    mapping: Mapping, site: Drupal7, missing: MappingType[int, str], live: _Terms
) -> dict[int, Decision]:
    decided: dict[int, Decision] = {}
    allowed = _field_vocabularies(site, missing)
    for tid, entry in mapping.entries.items():
        where = mapping.where(tid)
        if tid not in missing:
            raise BadInput(f"{where}: unknown tid {tid}: not a missing term of this site")
        if entry.action == "drop":
            decided[tid] = Decision(tid, "drop", f"mapping {where}")
            continue
        if entry.action == "restore":
            decided[tid] = Decision(tid, "restore", f"mapping {where}", name=str(entry.target))
            continue
        target = entry.target
        if isinstance(target, str):
            vocabulary, _, name = target.partition(":")
            found = live.find(vocabulary.strip(), name.strip())
            if vocabulary.strip() not in {v for v, _ in live.by_tid.values()}:
                raise BadInput(f"{where}: unknown vocabulary {vocabulary.strip()!r} in {target!r}")
            if found is None:
                raise BadInput(f"{where}: unknown term {target!r}")
            target = found
        if isinstance(target, int) and target in mapping.entries:
            chain = [tid, target]
            while chain[-1] in mapping.entries and mapping.entries[chain[-1]].action == "remap":
                nxt = mapping.entries[chain[-1]].target
                if not isinstance(nxt, int) or nxt in chain:
                    chain.append(nxt)  # type: ignore[arg-type]
                    break
                chain.append(nxt)
            raise BadInput(
                f"{where}: remap cycle or chain {' → '.join(str(t) for t in chain)}"
                " (targets must be live terms)"
            )
        if not isinstance(target, int) or target not in live.by_tid:
            raise BadInput(f"{where}: unknown tid {target} (no live term has it)")
        vocab, name = live.by_tid[target]
        for vocabularies in allowed.get(tid, []):
            if vocabularies and vocab not in vocabularies:
                raise BadInput(
                    f"{where}: target {target} '{name}' is in vocabulary {vocab!r}, which a"
                    f" field referencing tid {tid} does not allow ({', '.join(vocabularies)})"
                )
        decided[tid] = Decision(
            tid, "remap", f"mapping {where}", name=name, vocabulary=vocab, target=target
        )
    return decided


@dataclass
class Strategies:
    """Command-line overrides: per-tid actions, hierarchy edges to cut, parents to use."""

    actions: dict[str, str] = field(default_factory=dict)
    breaks: list[tuple[int, int]] = field(default_factory=list)
    reparent: dict[int, int] = field(default_factory=dict)


def _edge(item: str, value: str) -> tuple[int, int]:
    child, sep, parent = value.partition(":")
    if not sep or not child.strip().isdigit() or not parent.strip().isdigit():
        raise BadInput(f"--strategy {item!r}: use break=TID:PARENT or reparent=TID:PARENT")
    return int(child), int(parent)


def parse_strategies(items: Iterable[str]) -> Strategies:
    """``35=drop``, ``default=drop``, ``break=6:7`` (cut a cycle), ``reparent=22:14``."""
    found = Strategies()
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if sep and key == "break":
            found.breaks.append(_edge(item, value))
        elif sep and key == "reparent":
            child, parent = _edge(item, value)
            found.reparent[child] = parent
        elif sep and value in ACTIONS and (key.isdigit() or key == "default"):
            found.actions[key] = value
        else:
            raise BadInput(
                f"--strategy {item!r}: use TID=ACTION or default=ACTION"
                f" (ACTION: {', '.join(ACTIONS)}), break=TID:PARENT or reparent=TID:PARENT"
            )
    return found


class Planner:
    def __init__(
        self,
        site: Drupal7,
        findings: list[Finding],
        *,
        mapping: Mapping | None = None,
        strategies: Strategies | None = None,
    ) -> None:
        unread = unreadable_tables(findings)
        if unread:
            raise SchemaError(
                f"{site.source.label}: cannot plan a repair: table(s) {', '.join(unread)}"
                " missing, so the checks that read them could not run (recreate them first)"
            )
        self.site = site
        self.src = site.source
        self.missing, self.index_nodes = missing_terms(findings)
        self.mapping = mapping
        self.strategies = strategies or Strategies()
        self.body_links = body_link_counts(findings)
        self.orphan_rows = [f.entity for f in findings if isinstance(f.entity, OrphanRows)]
        self.cycles = [
            f.entity
            for f in findings
            if isinstance(f.entity, UnreachableTerm) and f.entity.kind == "cycle"
        ]
        self.live = _live_terms(site)
        self.recovery: Recovery = recover_terms(site, self.missing, body_link_entities(findings))
        self.ops: list[Operation] = []
        self.notes: list[str] = [EVIDENCE_MODEL]
        self.web_rules: list[TermRedirect] = []
        self.field_nodes: set[int] = set()

    # -- decisions ---------------------------------------------------------
    def decide(self) -> dict[int, Decision]:
        mapped = (
            _resolve_mapping(self.mapping, self.site, self.missing, self.live)
            if self.mapping
            else {}
        )
        unknown = [
            k for k in self.strategies.actions if k != "default" and int(k) not in self.missing
        ]
        if unknown:
            missing = ", ".join(str(t) for t in self.missing) or "none"
            raise BadInput(
                f"--strategy {unknown[0]}={self.strategies.actions[unknown[0]]}: tid {unknown[0]}"
                f" is not a missing term of this site (missing: {missing})"
            )
        decisions: dict[int, Decision] = {}
        for tid, state in self.missing.items():
            term = self.recovery.terms[tid]
            evidence = tuple(f"{e.source} ({e.confidence})" for e in term.evidence) + tuple(
                f"value {v}" for v in term.value_sources()
            )
            actions = self.strategies.actions
            override = actions.get(str(tid)) or actions.get("default")
            label = f"--strategy {tid if str(tid) in actions else 'default'}={override}"
            name = term.name()
            vocab = term.vocabulary
            lost = self.recovery.vocabularies.get(term.vid or -1)
            choice = mapped.get(tid)
            if choice and choice.action == "restore" and state == "term_row_missing":
                choice = Decision(tid, "restore", choice.reason, choice.name, vocab, None, evidence)
            action, reason = choose_action(
                tid,
                Known(state, name, vocab, bool(lost and lost.machine_name), drop_reason(term)),
                (override, label) if override else None,
                choice,
            )
            if action == "remap" and choice:
                decisions[tid] = Decision(
                    tid, "remap", reason, choice.name, choice.vocabulary, choice.target, evidence
                )
            elif action == "restore":
                restored_name = choice.name if choice and choice.action == "restore" else name
                decisions[tid] = Decision(
                    tid, "restore", reason, restored_name, vocab, None, evidence
                )
            else:
                decisions[tid] = Decision(
                    tid, "drop", reason, term.name("low"), vocab, None, evidence
                )
        return decisions

    # -- operations --------------------------------------------------------
    def op(
        self,
        kind: str,
        table: str,
        key: dict[str, Any],
        reason: str,
        tid: int | None,
        after: dict[str, Any] | None = None,
        *,
        after_prior: bool = False,
    ) -> None:
        rows = [] if after_prior else read_rows(self.src, table, key)
        if kind == "insert" and rows:
            raise BadInput(f"{table} {key}: row already exists; cannot insert")
        self.ops.append(
            Operation(
                kind=kind,  # type: ignore[arg-type]
                table=table,
                key=key,
                before=None if kind == "insert" or after_prior else fingerprint(rows),
                after=after or {},
                rows=len(rows),
                reason=reason,
                tid=tid,
                after_prior=after_prior,
            )
        )

    def build(self) -> Plan:
        decisions = self.decide()
        self.vocabularies(decisions)
        for tid, d in decisions.items():
            if d.action == "restore" and self.missing[tid] == "term_row_missing":
                self.restore_term(d, decisions)
        self.field_rows(decisions)
        self.hierarchy(decisions)
        self.routes(decisions)
        self.orphans()
        self.term_redirects(decisions)
        self.reindex(decisions)
        return Plan(
            source=self.src.label,
            decisions=list(decisions.values()),
            operations=self.ops,
            checks=list(REPAIR_CHECKS),
            notes=self.notes,
            redirects=self.web_rules,
            created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )

    def vid_of(self, machine: str | None) -> int | None:
        for vocab in self.site.vocabularies.values():
            if vocab.machine_name == machine:
                return vocab.vid
        for lost in self.recovery.vocabularies.values():
            if lost.machine_name == machine:
                return lost.vid
        return None

    def vocabularies(self, decisions: dict[int, Decision]) -> None:
        for vid, lost in self.recovery.vocabularies.items():
            users = [
                d
                for d in decisions.values()
                if d.action == "restore" and self.recovery.terms[d.tid].vid == vid
            ]
            if not users or not lost.machine_name:
                continue
            self.notes.append(
                f"vocabulary {vid} ({lost.machine_name}) is restored with weight 0 and no"
                " description: nothing in the database records either (its name: "
                + ", ".join(f"{e.source} ({e.confidence})" for e in lost.evidence if e.name)
                + ")"
            )
            self.op(
                "insert",
                "taxonomy_vocabulary",
                {"vid": vid},
                f"restore vocabulary {vid}",
                None,
                {
                    "vid": vid,
                    "name": lost.name or lost.machine_name,
                    "machine_name": lost.machine_name,
                    "description": "",
                    "hierarchy": 0,
                    "module": "taxonomy",
                    "weight": 0,
                },
            )

    def restore_term(self, d: Decision, decisions: dict[int, Decision]) -> None:
        term = self.recovery.terms[d.tid]
        vid = self.vid_of(d.vocabulary)
        reason = f"restore tid {d.tid}"
        described = term.described()
        self.op(
            "insert",
            "taxonomy_term_data",
            {"tid": d.tid},
            reason,
            d.tid,
            {
                "tid": d.tid,
                "vid": vid,
                "name": d.name,
                "description": described.description if described else "",
                "format": self._format_of(term, described),
                "weight": term.weight,
            },
        )
        own = {
            int(p)
            for (p,) in self.src.rows(
                "SELECT parent FROM {taxonomy_term_hierarchy} WHERE tid = ?", (d.tid,)
            )
        }
        if not own:
            placed: list[int] = []
            for parent in term.parents:
                fate = decisions.get(parent)
                if fate and fate.action == "remap":
                    same = fate.target is not None and fate.vocabulary == d.vocabulary
                    parent = fate.target if same and fate.target is not None else 0
                elif (fate and fate.action == "drop") or (
                    parent and parent not in self.live.by_tid and not fate
                ):
                    parent = 0
                if parent in placed:
                    continue
                placed.append(parent)
                row = {"tid": d.tid, "parent": parent}
                self.op("insert", "taxonomy_term_hierarchy", row, reason, d.tid, dict(row))
        alias = term.alias
        source = f"taxonomy/term/{d.tid}"
        if alias and self.site.optional_table("url_alias"):
            exists = self.src.scalar(
                "SELECT COUNT(*) FROM {url_alias} WHERE source = ? OR alias = ?", (source, alias)
            )
            if not exists:
                pid = int(self.src.scalar("SELECT COALESCE(MAX(pid), 0) FROM {url_alias}") or 0)
                pid += 1 + sum(1 for o in self.ops if o.table == "url_alias" and o.kind == "insert")
                self.op(
                    "insert",
                    "url_alias",
                    {"pid": pid},
                    reason,
                    d.tid,
                    {"pid": pid, "source": source, "alias": alias, "language": "und"},
                )

    @staticmethod
    def _format_of(term: MissingTerm, described: Evidence | None) -> str | None:
        """The text format of a restored description: its own evidence, else the one every
        described term of the vocabulary uses (a rendered description names none)."""
        if described is None:
            return None
        if described.format:
            return described.format
        return next(
            (e.format for e in term.evidence if e.source == "description pattern" and e.format),
            None,
        )

    def field_rows(self, decisions: dict[int, Decision]) -> None:
        """Drop and remap inside each (entity, revision, language) list, deltas kept 0..n-1."""
        change = {t: d for t, d in decisions.items() if d.action in ("drop", "remap")}
        if not change:
            return
        marks = ",".join("?" for _ in change)
        for info in self.site.term_reference_fields:
            col = info.storage.column("tid")
            for table, group in (
                (info.storage.data_table, ("entity_type", "entity_id", "language")),
                (
                    info.storage.revision_table,
                    ("entity_type", "entity_id", "revision_id", "language"),
                ),
            ):
                keys = self.src.rows(
                    f"SELECT DISTINCT {', '.join(group)} FROM {{{table}}}"
                    f" WHERE deleted = 0 AND `{col}` IN ({marks}) ORDER BY {', '.join(group)}",
                    list(change),
                )
                pk: tuple[str, ...] = ("entity_type", "entity_id", "deleted", "delta", "language")
                if "revision_id" in group:
                    pk = ("entity_type", "entity_id", "revision_id", "deleted", "delta", "language")
                gone = {o.nid for o in self.orphan_rows}
                for values in keys:
                    if values[0] == "node" and int(values[1]) in gone:
                        continue  # the node is gone: orphans() deletes all its rows
                    selector = dict(zip(group, values, strict=True)) | {"deleted": 0}
                    rows = sorted(
                        read_rows(self.src, table, selector), key=lambda r: int(r["delta"])
                    )
                    self._compact(table, col, pk, rows, change)
                    if values[0] == "node":
                        self.field_nodes.add(int(values[1]))

    def _compact(
        self,
        table: str,
        col: str,
        pk: tuple[str, ...],
        rows: list[dict[str, Any]],
        change: dict[int, Decision],
    ) -> None:
        kept: list[int] = []
        updates: list[tuple[dict[str, Any], dict[str, Any], str, int]] = []
        for row in rows:
            key = {c: row[c] for c in pk}
            tid = int(row[col])
            d = change.get(tid)
            new_tid = d.target if d and d.action == "remap" else (None if d else tid)
            if new_tid is None or new_tid in kept:
                why = "drop" if new_tid is None else "remap"
                what = f"tid {tid}" if new_tid is None else f"tid {tid} → {new_tid} (duplicate)"
                self.op("delete", table, key, f"{why} {what}", tid)
                continue
            after: dict[str, Any] = {}
            if new_tid != tid:
                after[col] = new_tid
            if int(row["delta"]) != len(kept):
                after["delta"] = len(kept)
            kept.append(int(new_tid))
            if after:
                label = "remap" if col in after else "compact"
                updates.append(
                    (
                        key,
                        after,
                        f"{label} tid {tid}" + (f" → {new_tid}" if col in after else " delta"),
                        tid,
                    )
                )
        for key, after, reason, tid in updates:
            self.op("update", table, key, reason, tid, after)

    def hierarchy(self, decisions: dict[int, Decision]) -> None:
        """Rows of gone terms go; children of gone parents move to root, the remap target
        (same vocabulary) or the parent given with ``reparent=``; ``break=`` edges are cut."""
        gone = {t: d for t, d in decisions.items() if d.action in ("drop", "remap")}
        rows = self.src.rows(
            "SELECT tid, parent FROM {taxonomy_term_hierarchy} ORDER BY tid, parent"
        )
        parents: dict[int, list[int]] = {}
        for tid, parent in rows:
            parents.setdefault(int(tid), []).append(int(parent))
        for child, parent in self.strategies.breaks:
            if parent not in parents.get(child, []):
                raise BadInput(f"--strategy break={child}:{parent}: no such hierarchy row")
        for child, parent in self.strategies.reparent.items():
            if parent != 0 and parent not in self.live.by_tid:
                raise BadInput(f"--strategy reparent={child}:{parent}: {parent} is not a live term")
        for tid, plist in parents.items():
            if tid in gone:
                for parent in plist:
                    key = {"tid": tid, "parent": parent}
                    reason = f"{gone[tid].action} tid {tid}"
                    self.op("delete", "taxonomy_term_hierarchy", key, reason, tid)
                continue
            cut = [p for p in plist if p in gone or (tid, p) in self.strategies.breaks]
            good = [p for p in plist if p not in cut]
            for parent in cut:
                new = self.strategies.reparent.get(tid, 0)
                d = gone.get(parent)
                if (
                    d
                    and d.action == "remap"
                    and d.target is not None
                    and tid not in (self.strategies.reparent)
                ):
                    mine = self.live.by_tid.get(tid, (None, ""))[0]
                    if self.live.by_tid[d.target][0] == mine:
                        new = d.target
                key = {"tid": tid, "parent": parent}
                label = "break" if (tid, parent) in self.strategies.breaks else "reparent"
                if new in good or (new == 0 and good):
                    reason = f"{label} {tid}: parent {parent} cut, other parents remain"
                    self.op("delete", "taxonomy_term_hierarchy", key, reason, parent)
                else:
                    reason = f"{label} {tid}: {parent} → {new}"
                    self.op(
                        "update", "taxonomy_term_hierarchy", key, reason, parent, {"parent": new}
                    )
                    good.append(new)
        broken = {c for c, _ in self.strategies.breaks}
        seen: set[frozenset[int]] = set()
        for cycle in self.cycles:
            members = list(cycle.cycle or (cycle.tid,))
            if frozenset(members) in seen:
                continue
            seen.add(frozenset(members))
            if not broken & set(members):
                self.notes.append(
                    f"hierarchy cycle {' → '.join(str(t) for t in members)} left as is:"
                    " cut it with --strategy break=TID:PARENT"
                )
        for tid in gone:
            if self.missing[tid] == "vocabulary_missing":
                self.op("delete", "taxonomy_term_data", {"tid": tid}, f"drop tid {tid}", tid)

    def routes(self, decisions: dict[int, Decision]) -> None:
        for tid, d in decisions.items():
            if d.action == "restore":
                continue
            if self.body_links.get(tid):
                self.notes.append(
                    f"{self.body_links[tid]} body link(s) to tid {tid} stay broken after"
                    f" {d.action}: text is not rewritten here (the export rewrites links)"
                )
            path = f"taxonomy/term/{tid}"
            if self.site.optional_table("menu_links"):
                for (mlid,) in self.src.rows(
                    "SELECT mlid FROM {menu_links} WHERE link_path = ? ORDER BY mlid", (path,)
                ):
                    if d.action == "remap":
                        self.op(
                            "update",
                            "menu_links",
                            {"mlid": int(mlid)},
                            f"remap tid {tid} menu link",
                            tid,
                            {"link_path": f"taxonomy/term/{d.target}"},
                        )
                    else:
                        self.drop_menu_link(int(mlid), tid)
            if self.site.optional_table("url_alias"):
                for (pid,) in self.src.rows(
                    "SELECT pid FROM {url_alias} WHERE source = ? OR source LIKE ? ORDER BY pid",
                    (path, path + "/%"),
                ):
                    self.op(
                        "delete", "url_alias", {"pid": int(pid)}, f"{d.action} tid {tid} alias", tid
                    )
            if self.site.optional_table("taxonomy_breadcrumb_term") and self.src.scalar(
                "SELECT COUNT(*) FROM {taxonomy_breadcrumb_term} WHERE tid = ?", (tid,)
            ):
                self.op(
                    "delete",
                    "taxonomy_breadcrumb_term",
                    {"tid": tid},
                    f"{d.action} tid {tid} breadcrumb",
                    tid,
                )

    def drop_menu_link(self, mlid: int, tid: int | None, reason: str = "") -> None:
        """Delete a link as menu_link_delete() does: children move up to its parent."""
        cols = ["plid", "depth"] + [f"p{i}" for i in range(1, 10)]
        item = dict(
            zip(
                cols,
                self.src.one(
                    f"SELECT {', '.join(cols)} FROM {{menu_links}} WHERE mlid = ?", (mlid,)
                )
                or (),
                strict=False,
            )
        )
        reason = reason or f"drop tid {tid} menu link"
        self.op("delete", "menu_links", {"mlid": mlid}, reason, tid)
        level = int(item["depth"])
        for row in self.src.rows(
            f"SELECT mlid, plid, depth, {', '.join(cols[2:])} FROM {{menu_links}}"
            f" WHERE p{level} = ? AND mlid <> ? ORDER BY depth, mlid",
            (mlid, mlid),
        ):
            path = [int(p) for p in row[3:] if int(p) and int(p) != mlid]
            after: dict[str, Any] = {"depth": int(row[2]) - 1}
            after |= {f"p{i}": (path + [0] * 9)[i - 1] for i in range(1, 10)}
            if int(row[1]) == mlid:
                after["plid"] = int(item["plid"])
            self.op(
                "update",
                "menu_links",
                {"mlid": int(row[0])},
                reason + " (child moves up)",
                tid,
                after,
            )
        plid = int(item["plid"])
        if plid and not self.src.scalar(
            "SELECT COUNT(*) FROM {menu_links} WHERE plid = ? AND mlid <> ?", (plid, mlid)
        ):
            self.op(
                "update",
                "menu_links",
                {"mlid": plid},
                reason + " (parent has no children)",
                tid,
                {"has_children": 0},
            )

    def orphans(self) -> None:
        """Delete what nodes that no longer exist left behind: field rows, menu links."""
        for orphan in self.orphan_rows:
            reason = f"orphan node {orphan.nid}"
            if orphan.kind == "menu_link":
                for mlid in orphan.mlids:
                    self.drop_menu_link(mlid, None, f"{reason} menu link")
            else:
                key = {"entity_type": "node", "entity_id": orphan.nid}
                self.op("delete", orphan.table, key, f"{reason} {orphan.kind}", None)

    def term_redirects(self, decisions: dict[int, Decision]) -> None:
        """Every public URL of a dropped or remapped term gets a redirect: a redirect module
        row when the module is installed, else a web-server rule written next to the plan."""
        fates = {t: Fate(d.action, d.target) for t, d in decisions.items()}
        live = set(self.live.by_tid) | {t for t, d in decisions.items() if d.action == "restore"}
        pages: dict[int, str] = {}
        if self.site.optional_table("taxonomy_breadcrumb_vocabulary"):
            pages = {
                int(v): str(p)
                for v, p in self.src.rows("SELECT vid, path FROM {taxonomy_breadcrumb_vocabulary}")
                if p and str(p) != "<none>"
            }
        module = bool(self.site.optional_table("redirect")) and self.site.module_enabled("redirect")
        for tid, d in decisions.items():
            if d.action == "restore":
                continue
            term = self.recovery.terms[tid]
            path = f"taxonomy/term/{tid}"
            aliases: list[str] = []
            if self.site.optional_table("url_alias"):
                aliases = [
                    str(a)
                    for (a,) in self.src.rows(
                        "SELECT alias FROM {url_alias} WHERE source = ? ORDER BY pid", (path,)
                    )
                ]
            aliases += [e.alias for e in term.evidence if e.alias]
            vid = term.vid if term.vid is not None else self.vid_of(term.vocabulary)
            target, why = target_of(
                tid,
                fates[tid],
                term.parents,
                fates,
                live,
                pages.get(vid) if vid is not None else None,
                self._menu_parent(path, live),
            )
            if module:
                for rule in redirects_for(tid, sources_of(tid, aliases), target, why):
                    self.redirect(rule)
            else:
                # A web server sends visitors to the URL the site shows: the target's alias.
                shown = self._alias_of(target, decisions) or target
                self.web_rules += redirects_for(tid, sources_of(tid, aliases), shown, why)
        if self.web_rules:
            gone = sorted({r.tid for r in self.web_rules})
            self.notes.append(
                f"{len(self.web_rules)} URL(s) of {len(gone)} dropped or remapped term(s)"
                f" ({', '.join(str(t) for t in gone)}) keep the line-92 warning unless the web"
                " server redirects them (no redirect module): `repair plan -o PLAN.json` writes"
                " the rules as PLAN.redirects.nginx.conf and PLAN.redirects.apache.conf; after"
                " apply, breadcrumb.notice_pages lists them as fix = web_server_rule"
            )

    def _alias_of(self, path: str, decisions: dict[int, Decision]) -> str | None:
        """The alias a live or restored term page will have after the plan."""
        tid = term_id_of(path, exact=True)
        if tid is None:
            return None
        if tid in decisions:
            return self.recovery.terms[tid].alias if decisions[tid].action == "restore" else None
        if not self.site.optional_table("url_alias"):
            return None
        alias = self.src.scalar(
            "SELECT alias FROM {url_alias} WHERE source = ? ORDER BY pid DESC", (path,)
        )
        return str(alias) if alias else None

    def _menu_parent(self, path: str, live: set[int]) -> str | None:
        """The live path of the menu link above a term's old link, if any."""
        if not self.site.optional_table("menu_links"):
            return None
        for (parent_path,) in self.src.rows(
            "SELECT p.link_path FROM {menu_links} m INNER JOIN {menu_links} p ON p.mlid = m.plid"
            " WHERE m.link_path = ? ORDER BY m.mlid",
            (path,),
        ):
            parent = str(parent_path)
            tid = term_id_of(parent, exact=True)
            if tid is None or tid in live:
                return parent
        return None

    def redirect(self, rule: TermRedirect) -> None:
        """A redirect module row for one old URL, unless one exists already."""
        language = "und"
        digest = redirect_hash(rule.source, language)
        if self.src.scalar("SELECT COUNT(*) FROM {redirect} WHERE hash = ?", (digest,)):
            self.notes.append(f"/{rule.source}: a redirect for it exists already; left as is")
            return
        rid = int(self.src.scalar("SELECT COALESCE(MAX(rid), 0) FROM {redirect}") or 0) + 1
        rid += sum(1 for o in self.ops if o.table == "redirect")
        values = {
            "rid": rid, "hash": digest, "type": "redirect", "uid": 0, "source": rule.source,
            "source_options": "a:0:{}", "redirect": rule.target or "<front>",
            "redirect_options": "a:0:{}", "language": language, "status_code": 0, "count": 0,
            "access": 0, "status": 1,
        }  # fmt: skip
        columns = set(self.src.columns("redirect"))
        row = {k: v for k, v in values.items() if k in columns}
        self.op("insert", "redirect", {"rid": rid}, f"redirect {rule.why}", rule.tid, row)

    def reindex(self, decisions: dict[int, Decision]) -> None:
        """Rebuild taxonomy_index rows of affected nodes exactly as taxonomy_build_node_index()."""
        if not self.site.optional_table("taxonomy_index"):
            return
        nodes = set(self.index_nodes) | self.field_nodes
        live_now = {t for t, d in decisions.items() if d.action in ("restore",)}
        fields = self.site.term_reference_fields
        per_node: dict[int, set[int]] = {}
        for info in fields:
            col = info.storage.column("tid")
            for nid, tid in self.src.rows(
                f"SELECT entity_id, `{col}` FROM {{{info.storage.data_table}}}"
                " WHERE entity_type = 'node' AND deleted = 0"
            ):
                per_node.setdefault(int(nid), set()).add(int(tid))
        for nid, tids in per_node.items():
            if tids & live_now:
                nodes.add(nid)
        for nid in sorted(nodes):
            node = self.src.one("SELECT status, sticky, created FROM {node} WHERE nid = ?", (nid,))
            expected: list[dict[str, Any]] = []
            if node is not None and int(node[0]) == 1:
                final: list[int] = []
                for tid in sorted(per_node.get(nid, set())):
                    d = decisions.get(tid)
                    new = tid if d is None or d.action == "restore" else d.target
                    if new is not None and new not in final:
                        final.append(int(new))
                expected = [
                    {"nid": nid, "tid": t, "sticky": int(node[1]), "created": int(node[2])}
                    for t in final
                ]
            current = read_rows(self.src, "taxonomy_index", {"nid": nid})
            if fingerprint(current) == fingerprint(expected):
                continue
            reason = f"reindex node {nid}"
            if current:
                self.op("delete", "taxonomy_index", {"nid": nid}, reason, None)
            for row in expected:
                self.op(
                    "insert",
                    "taxonomy_index",
                    dict(row),
                    reason,
                    int(row["tid"]),
                    dict(row),
                    after_prior=True,
                )


def redirect_hash(source: str, language: str) -> str:
    """redirect_hash(): drupal_hash_base64(serialize(ksorted [language, source]))."""

    def php(text: str) -> str:
        return f's:{len(text.encode("utf-8"))}:"{text}";'

    data = f"a:2:{{{php('language')}{php(language)}{php('source')}{php(source)}}}"
    digest = base64.b64encode(hashlib.sha256(data.encode("utf-8")).digest()).decode("ascii")
    return digest.replace("+", "-").replace("/", "_").rstrip("=")


def build_plan(
    site: Drupal7,
    findings: list[Finding],
    *,
    mapping: Mapping | None = None,
    strategies: Strategies | None = None,
) -> Plan:
    """The plan for these findings; reads the site, writes nothing."""
    return Planner(site, findings, mapping=mapping, strategies=strategies).build()
