"""The reconciliation report: what the source holds against what the bundle holds.

Every count is taken twice, from the Drupal database and from the state's id
map, and every difference is explained: a node that is not in the bundle is
listed (as id ranges) under the reason it is not, terms that cannot be loaded
are listed with why, and embedded items (revisions, comments, aliases) are
compared for exactly the nodes that were exported. Nodes are merged in nid
order from two streams, so memory does not grow with the site.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from migrate.export.reader import Reader
from migrate.export.state import StateStore
from migrate.schema import Drupal7

if TYPE_CHECKING:
    from migrate.export.engine import ExportOptions

_SENTINEL = 1 << 62


def _per_nid(site: Drupal7, sql: str) -> Iterator[tuple[int, int]]:
    for nid, n in site.source.stream(sql):
        yield int(nid), int(n)


def _embedded(
    site: Drupal7, state: StateStore, sql: str, key: str
) -> tuple[int, int, int, list[int]]:
    """(source total, source for exported nodes, exported, nids whose counts differ)."""
    exported_nodes = state.node_detail_counts(key)
    mine = next(exported_nodes, None)
    total = in_bundle = exported = 0
    differ: list[int] = []
    source_counts = _per_nid(site, sql)
    theirs = next(source_counts, None)
    while mine is not None or theirs is not None:
        m_nid = mine[0] if mine else _SENTINEL
        t_nid = theirs[0] if theirs else _SENTINEL
        if theirs is not None and t_nid <= m_nid:
            total += theirs[1]
        if mine is not None and m_nid <= t_nid:
            have = mine[1]
            want = theirs[1] if theirs is not None and t_nid == m_nid else 0
            exported += have
            in_bundle += want
            if have != want:
                differ.append(m_nid)
        if theirs is not None and t_nid <= m_nid:
            theirs = next(source_counts, None)
        if mine is not None and m_nid <= t_nid:
            mine = next(exported_nodes, None)
    return total, in_bundle, exported, differ


def _in_bundle(state: StateStore, nids: list[int]) -> int:
    """How many of ``nids`` (repeats counted) are exported nodes."""
    exported = state.exported_nodes(sorted(set(nids)))
    return sum(1 for nid in nids if nid in exported)


def reconcile(
    site: Drupal7, state: StateStore, reader: Reader, options: ExportOptions, run_id: int
) -> dict[str, Any]:
    """Build the report; ``reconciled`` is true only when every difference has a reason."""
    from migrate.export.engine import id_ranges

    failures = {i: r for k, i, s, r in state.events(run_id) if k == "node" and s == "failed"}
    selection = options.selection
    src: dict[str, Counter[str]] = defaultdict(Counter)
    out: dict[str, Counter[str]] = defaultdict(Counter)
    missing: dict[str, list[int]] = defaultdict(list)
    extra: list[int] = []
    exported_nodes = state.node_details()
    mine = next(exported_nodes, None)
    rows = site.source.stream("SELECT nid, type, status, changed FROM {node} ORDER BY nid")
    theirs = next(rows, None)
    while mine is not None or theirs is not None:
        m_nid = mine[0] if mine else _SENTINEL
        t_nid = int(theirs[0]) if theirs else _SENTINEL
        if theirs is not None and t_nid <= m_nid:
            _, ntype, status, changed = theirs
            label = "published" if int(status) else "unpublished"
            src[str(ntype)][label] += 1
            if t_nid < m_nid:
                reason = failures.get(str(t_nid)) or selection.excludes(
                    t_nid, str(ntype), int(status), int(changed)
                )
                missing[reason or "not exported yet (--limit, or the run stopped early)"].append(
                    t_nid
                )
            theirs = next(rows, None)
        if mine is not None and m_nid <= t_nid:
            detail = mine[1]
            label = "published" if int(detail.get("status", 0)) else "unpublished"
            out[str(detail.get("type"))][label] += 1
            if m_nid < t_nid:
                extra.append(m_nid)
            mine = next(exported_nodes, None)
    src_total = sum(sum(c.values()) for c in src.values())
    out_total = sum(sum(c.values()) for c in out.values())
    missing_total = sum(len(v) for v in missing.values())
    nodes = {
        "source": src_total,
        "exported": out_total,
        "source_by_type": {t: dict(c) for t, c in sorted(src.items())},
        "exported_by_type": {t: dict(c) for t, c in sorted(out.items())},
        "not_exported": [
            {"reason": reason, "count": len(ids), "ids": id_ranges(ids)}
            for reason, ids in sorted(missing.items())
        ],
        "in_bundle_but_gone_from_source": id_ranges(extra),
        "reconciled": src_total == out_total + missing_total - len(extra),
    }

    embedded: dict[str, Any] = {}
    queries = {
        "revisions": "SELECT nid, COUNT(*) FROM {node_revision} GROUP BY nid ORDER BY nid",
        "comments": "SELECT nid, COUNT(*) FROM {comment} GROUP BY nid ORDER BY nid",
    }
    if not site.source.has_table("comment"):
        queries.pop("comments")
    for key, sql in queries.items():
        total, in_bundle, exported, differ = _embedded(site, state, sql, key)
        entry: dict[str, Any] = {
            "source": total,
            "source_for_exported_nodes": in_bundle,
            "exported": exported,
        }
        if key == "revisions" and options.revisions == "current":
            entry["note"] = "only current revisions exported (--revisions all for every one)"
            entry["reconciled"] = exported == out_total
        else:
            entry["nodes_that_differ"] = id_ranges(differ)
            entry["reconciled"] = not differ
        embedded[key] = entry

    alias_total = alias_in_bundle = 0
    pending: list[int] = []
    for (source_path,) in site.source.stream(
        "SELECT source FROM {url_alias} WHERE source LIKE ?", ("node/%",)
    ):
        tail = str(source_path)[5:]
        alias_total += 1
        if tail.isdigit():
            pending.append(int(tail))
        if len(pending) >= 1000:
            alias_in_bundle += _in_bundle(state, pending)
            pending = []
    alias_in_bundle += _in_bundle(state, pending)
    alias_exported = sum(n for _, n in state.node_detail_counts("aliases"))
    taxonomy = reader.taxonomy
    assert taxonomy is not None
    term_alias_total = 0
    orphan_aliases = 0
    for (source_path,) in site.source.rows(
        "SELECT source FROM {url_alias} WHERE source LIKE ?", ("taxonomy/term/%",)
    ):
        term_alias_total += 1
        tail = str(source_path)[len("taxonomy/term/") :]
        if not tail.isdigit() or int(tail) not in taxonomy.info:
            orphan_aliases += 1
    term_alias_exported = sum(len(t.aliases) for t in taxonomy.terms)
    embedded["aliases"] = {
        "node": {
            "source": alias_total,
            "source_for_exported_nodes": alias_in_bundle,
            "exported": alias_exported,
            "reconciled": alias_in_bundle == alias_exported,
        },
        "term": {
            "source": term_alias_total,
            "exported": term_alias_exported,
            "not_exported": orphan_aliases,
            "not_exported_reason": "aliases of terms that do not exist or cannot be loaded",
            "reconciled": term_alias_total == term_alias_exported + orphan_aliases,
        },
    }

    counts = state.item_counts()
    terms_by_vocab: Counter[str] = Counter(t.vocabulary for t in taxonomy.terms)
    term_rows = int(site.source.scalar("SELECT COUNT(*) FROM {taxonomy_term_data}") or 0)
    terms = {
        "source_rows": term_rows,
        "loadable": len(taxonomy.terms),
        "exported": counts.get("term", 0),
        "by_vocabulary": dict(sorted(terms_by_vocab.items())),
        "not_exported": [
            {"tid": tid, "reason": why} for tid, why in sorted(taxonomy.unloadable.items())
        ],
        "reconciled": term_rows == counts.get("term", 0) + len(taxonomy.unloadable),
    }
    vocab_rows = len(taxonomy.vocabularies)
    files_src = int(site.source.scalar("SELECT COUNT(*) FROM {file_managed}") or 0)
    users_src = int(site.source.scalar("SELECT COUNT(*) FROM {users} WHERE uid > 0") or 0)
    simple = {
        "vocabularies": {"source": vocab_rows, "exported": counts.get("vocabulary", 0)},
        "files": {"source": files_src, "exported": counts.get("file", 0)},
        "authors": {"source": users_src, "exported": counts.get("author", 0)},
    }
    for entry in simple.values():
        entry["reconciled"] = entry["source"] == entry["exported"]
    events = state.events(run_id)
    skipped = [
        {"kind": k, "id": i, "status": s, "reason": r} for k, i, s, r in events if s != "failed"
    ]
    failed = [{"kind": k, "id": i, "reason": r} for k, i, s, r in events if s == "failed"]
    report: dict[str, Any] = {
        "source": site.source.label,
        "run": run_id,
        "nodes": nodes,
        **embedded,
        "terms": terms,
        **simple,
        "redirects": {
            "exported": counts.get("redirect", 0),
            "skipped": sum(1 for e in skipped if e["kind"] == "redirect"),
        },
        "skipped": skipped,
        "failed": failed,
    }
    aliases = embedded["aliases"]
    parts = [nodes, terms, *simple.values(), *embedded.values(), aliases["node"], aliases["term"]]
    report["reconciled"] = all(p.get("reconciled", True) for p in parts)
    return report
