"""The audit → repair contract: the planner reads typed entities, table by table.

Each row is one entity a check yields and what the planner takes from it. A renamed
field fails here (and in mypy), instead of silently dropping a tid from a plan.
"""

from __future__ import annotations

import dataclasses

import pytest

from migrate.audit import available_checks, repair_checks
from migrate.audit.breadcrumb import NoticePage, SilentChange
from migrate.audit.content import MissingAuthor
from migrate.audit.findings import Finding, MissingTable, Severity
from migrate.audit.links import AliasRoute, BodyLinkRoute, BreadcrumbRoute, MenuRoute
from migrate.audit.orphans import OrphanRows
from migrate.audit.taxonomy import (
    FieldAllowsMissingVocabulary,
    FieldRef,
    HierarchyRow,
    IndexRow,
    StaleIndexRow,
    TermWithoutHierarchy,
    TermWithoutVocabulary,
    UnreachableTerm,
)
from migrate.repair.planner import (
    body_link_counts,
    index_node,
    missing_term,
    missing_terms,
    unreadable_tables,
)

FIELD = FieldRef(
    entity_type="node", entity_id=7, table="field_data_field_tags", bundle="article", vid=9,
    field="field_tags", language="und", delta=0, tid=35, kind="term_row_missing",
    current=True, status=1, title="A",
)  # fmt: skip
BODY = BodyLinkRoute(
    table="field_data_body", nid=8, vid=10, field="body", language="und", delta=0,
    href="/taxonomy/term/43", path="taxonomy/term/43", text="x", title="B", tid=43,
    candidates=(), kind="normal_path", current=True, term_state="term_row_missing",
)  # fmt: skip
AMBIGUOUS = dataclasses.replace(
    BODY, tid=None, candidates=(43, 44), kind="alias_removed", term_state=None
)
NOTICE = NoticePage(
    path="/taxonomy/term/44", tid=44, term_state="term_row_missing", alias_of=None, also=(),
    menu_links=(), linking_nodes=(), aliases=(), breadcrumb_term_row=False,
    nodes_referencing=0, http_status=404, referenced=False, fix="web_server_rule", evidence=(),
)  # fmt: skip

MISSING_TERM = [
    (FIELD, (35, "term_row_missing")),
    (dataclasses.replace(FIELD, kind="vocabulary_missing"), (35, "vocabulary_missing")),
    (TermWithoutVocabulary(tid=3, vid=4, name="x"), (3, "vocabulary_missing")),
    (
        HierarchyRow(tid=5, parent=6, kind="term_unloadable", term_state="term_row_missing"),
        (5, "term_row_missing"),
    ),
    (
        HierarchyRow(tid=5, parent=6, kind="parent_unloadable", term_state="vocabulary_missing"),
        (6, "vocabulary_missing"),
    ),
    (IndexRow(nid=1, tid=2, sticky=0, created=0, kind="term_row_missing"), (2, "term_row_missing")),
    (IndexRow(nid=1, tid=2, sticky=0, created=0, kind="node_missing"), None),
    (StaleIndexRow(nid=1, tid=2, kind="missing_row"), None),
    (
        AliasRoute(
            pid=1,
            source="taxonomy/term/9",
            alias="a",
            language="und",
            tid=9,
            term_state="term_row_missing",
        ),
        (9, "term_row_missing"),
    ),
    (
        MenuRoute(
            mlid=1,
            menu_name="main",
            path="taxonomy/term/9",
            title="t",
            tid=9,
            term_state="vocabulary_missing",
        ),
        (9, "vocabulary_missing"),
    ),
    (
        BreadcrumbRoute(path="p", tid=9, term_state="term_row_missing"),
        (9, "term_row_missing"),
    ),
    (BODY, (43, "term_row_missing")),
    (AMBIGUOUS, None),
    (NOTICE, (44, "term_row_missing")),
    (TermWithoutHierarchy(tid=1), None),
    (UnreachableTerm(tid=1, kind="cycle", parents=(2,), cycle=(1, 2, 1)), None),
    (FieldAllowsMissingVocabulary(field="f", vocabulary="v"), None),
    (OrphanRows(table="field_data_body", nid=1, kind="field_data", rows=2), None),
    (MissingTable(table="taxonomy_index"), None),
    (MissingAuthor(nid=1, uid=2, title=None), None),
]


@pytest.mark.parametrize(("entity", "expected"), MISSING_TERM, ids=lambda v: type(v).__name__)
def test_which_missing_term_each_entity_names(entity, expected):
    assert missing_term(entity) == expected


@pytest.mark.parametrize(
    ("entity", "expected"),
    [
        (IndexRow(nid=4, tid=2, sticky=0, created=0, kind="node_missing"), 4),
        (StaleIndexRow(nid=5, tid=2, kind="unpublished_node"), 5),
        (FIELD, None),
        (BODY, None),
    ],
    ids=lambda v: type(v).__name__,
)
def test_which_node_needs_its_index_rebuilt(entity, expected):
    assert index_node(entity) == expected


def _finding(entity) -> Finding:
    return Finding("x.y", Severity.ERROR, "m", entity)


def test_body_links_count_for_their_term_or_every_candidate():
    findings = [_finding(e) for e in (BODY, BODY, AMBIGUOUS, FIELD)]
    assert body_link_counts(findings) == {43: 3, 44: 1}


def test_missing_terms_sorts_and_collects_nodes():
    findings = [
        _finding(e) for e in (NOTICE, FIELD, StaleIndexRow(nid=5, tid=2, kind="missing_row"), BODY)
    ]
    assert missing_terms(findings) == (
        {35: "term_row_missing", 43: "term_row_missing", 44: "term_row_missing"},
        {5},
    )


def test_a_missing_table_stops_the_plan():
    findings = [_finding(FIELD), _finding(MissingTable(table="menu_links"))]
    assert unreadable_tables(findings) == ["menu_links"]


def test_entities_keep_their_json_form():
    """The JSON keys (audit.schema.json) are the dataclass fields, ``nid`` for a node's row."""
    assert list(FIELD.to_dict()) == [
        "entity_type", "nid", "table", "bundle", "vid", "field", "language", "delta", "tid",
        "kind", "current", "status", "title",
    ]  # fmt: skip
    term = dataclasses.replace(FIELD, entity_type="taxonomy_term")
    assert term.to_dict()["entity_id"] == 7 and "nid" not in term.to_dict()
    assert AMBIGUOUS.to_dict()["candidates"] == [43, 44]
    assert "mlids" not in OrphanRows(table="t", nid=1, kind="field_data", rows=1).to_dict()
    silent = SilentChange(
        path="/node/1", nid=1, type="article", status=1, title="t", kind="ancestor_gone",
        old_trail=("Home", "A"), new_trail=("Home",), old_tid=2, now_tid=2, lost_tids=(3,),
        certain=True, old_trail_exact=True,
    )  # fmt: skip
    assert silent.to_dict()["old_trail"] == ["Home", "A"] and silent.terms == (3,)


def test_every_repair_check_is_declared():
    """``repair=True`` is what makes ``repair plan`` run a check: the planner's inputs."""
    ids = {spec.id for spec in available_checks()}
    assert set(repair_checks()) <= ids
    assert "breadcrumb.silent_changes" not in repair_checks()
    assert "content.orphan_node_rows" in repair_checks()
