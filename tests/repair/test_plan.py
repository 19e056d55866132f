"""Plan: default choices per tid, the SQL script, and mapping errors with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrate import api
from migrate.config import ConnectionSpec
from migrate.errors import BadInput
from migrate.repair.operations import Plan
from migrate.repair.sql import literal

MAPPING = Path(__file__).resolve().parents[2] / "mappings" / "drupal7-vn.yml"


@pytest.fixture(scope="module")
def default_plan(broken_db: ConnectionSpec) -> Plan:
    return api.plan_repair(broken_db)


def test_default_choices(default_plan: Plan) -> None:
    actions = {d.tid: d.action for d in default_plan.decisions}
    assert actions == {
        2: "restore", 5: "restore", 9: "restore", 10: "restore", 11: "restore",
        35: "drop", 43: "drop", 44: "drop", 51: "restore", 52: "restore", 53: "restore",
    }  # fmt: skip
    assert default_plan.counts()["restore"] > 0
    again = Plan.from_dict(default_plan.to_dict())
    assert again.operations == default_plan.operations


def test_mapping_and_overrides(broken_db: ConnectionSpec) -> None:
    plan = api.plan_repair(broken_db, MAPPING, ["2=drop"])
    decided = {d.tid: d for d in plan.decisions}
    assert decided[35].action == "remap" and decided[35].target == 36
    assert decided[43].action == "restore" and decided[43].name == "Olympic"
    assert decided[2].action == "drop"


def test_sql_script(broken_db: ConnectionSpec, default_plan: Plan) -> None:
    script = api.plan_sql(broken_db, default_plan)
    assert script.startswith("-- drupal-migrate repair plan")
    assert "INSERT INTO `taxonomy_term_data`" in script and script.rstrip().endswith("COMMIT;")
    assert literal('it\'s \\ "x"\n') == "'it\\'s \\\\ \\\"x\\\"\\n'"
    assert literal(b"\x00\xff") == "X'00ff'" and literal(None) == "NULL"


@pytest.mark.parametrize(
    ("text", "suffix", "line", "words"),
    [
        ("remap:\n  999: 36\n", "yml", 2, "unknown tid 999"),
        ("remap:\n  35: 12345\n", "yml", 2, "unknown tid 12345"),
        ("remap:\n  35: 1\n", "yml", 2, "does not allow"),
        ("remap:\n  35: 43\n  43: 35\n", "yml", 2, "cycle"),
        ("remap:\n  35: 36\n  35: 37\n", "yml", 3, "duplicate key"),
        ("remap:\n  35: [36\n", "yml", 3, "bad YAML syntax"),
        ("tid,action,target\n35,remap,36\n35,drop,\n", "csv", 3, "duplicate key"),
        ("tid,action,target\n35,explode,36\n", "csv", 2, "action"),
    ],
)
def test_mapping_errors(
    broken_db: ConnectionSpec, tmp_path: Path, text: str, suffix: str, line: int, words: str
) -> None:
    path = tmp_path / f"map.{suffix}"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BadInput) as err:
        api.plan_repair(broken_db, path)
    message = str(err.value)
    assert message.startswith(f"{path}:{line}: ") and words in message
    assert "\n" not in message
