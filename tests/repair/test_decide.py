"""The planner's choice per missing term, a pure function tested table by table."""

from __future__ import annotations

import pytest

from migrate.audit import REGISTRY, repair_checks
from migrate.errors import BadInput
from migrate.repair.operations import Decision
from migrate.repair.planner import REPAIR_CHECKS, Known, choose_action

ROW, VOCAB = "term_row_missing", "vocabulary_missing"
WEAK = "name 'olympic' only from low-confidence evidence (search_dataset)"

CASES = [
    # (known, override, mapped) → (action, reason)
    (Known(ROW, "Tin tức", "chuyen_muc", False, WEAK), None, None, ("restore", "name recovered")),
    (Known(ROW, None, "tags", False, WEAK), None, None, ("drop", WEAK)),
    (Known(ROW, "Tin tức", None, False, WEAK), None, None, ("drop", WEAK)),
    (Known(VOCAB, None, None, True, WEAK), None, None, ("restore", "vocabulary recovered")),
    (Known(VOCAB, None, None, False, WEAK), None, None, ("drop", WEAK)),
    (
        Known(ROW, "Tin tức", "chuyen_muc", False, WEAK),
        ("drop", "--strategy 1=drop"),
        None,
        ("drop", "--strategy 1=drop"),
    ),
    (
        Known(ROW, None, "tags", False, WEAK),
        None,
        Decision(43, "restore", "mapping m.yml:3", "Olympic"),
        ("restore", "mapping m.yml:3"),
    ),
    (
        Known(ROW, None, "tags", False, WEAK),
        None,
        Decision(35, "remap", "mapping m.yml:2", target=36),
        ("remap", "mapping m.yml:2"),
    ),
]


@pytest.mark.parametrize(("known", "override", "mapped", "want"), CASES)
def test_choose_action(known, override, mapped, want):
    assert choose_action(7, known, override, mapped) == want


@pytest.mark.parametrize(
    ("known", "override", "message"),
    [
        (Known(ROW, None, "tags", False, WEAK), ("restore", "--strategy 7=restore"), "restore"),
        (
            Known(VOCAB, None, None, False, WEAK),
            ("restore", "--strategy default=restore"),
            "restore",
        ),
        (Known(ROW, "x", "tags", False, WEAK), ("remap", "--strategy 7=remap"), "remap needs"),
    ],
)
def test_choices_that_cannot_be_carried_out_are_refused(known, override, message):
    with pytest.raises(BadInput, match=message):
        choose_action(7, known, override, None)


def test_the_plan_runs_exactly_the_checks_that_declare_repair_consumes_them():
    assert repair_checks() == REPAIR_CHECKS
    declared = {c.id for c in REGISTRY.values() if c.repair}
    assert declared == set(REPAIR_CHECKS)
    assert {"breadcrumb.notice_pages", "content.orphan_node_rows"} <= declared
    assert "breadcrumb.silent_changes" not in declared  # reported, not repaired from
