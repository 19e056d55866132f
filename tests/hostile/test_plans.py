"""Hand-edited plans, hostile strategies and mappings: refused in one line, nothing written.

Every plan case edits the fixture's real default plan in one place and runs the
real ``repair apply`` against a private MariaDB copy: the exit code, the one
line, no journal, and ``CHECKSUM TABLE`` of every table before and after. The
injection from issue 16 (a key column ``nid` >= 0 OR `nid`` that deleted every
row of ``taxonomy_index``) is among them. Then: apply and ``repair plan --sql``
render the same statements (the script loaded into one copy gives the tables
the apply gives another).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import assert_no_traceback, assert_one_line_error, run_cli
from plans_support import BROKEN_DUMP, Databases, table_checksums, url_of

from migrate import api
from migrate.config import ConnectionSpec
from migrate.errors import BadInput
from migrate.repair.operations import Plan

Edit = Callable[[dict[str, Any]], Any]


@pytest.fixture(scope="module")
def site(databases: Databases) -> ConnectionSpec:
    """One private copy of the broken site for every refusal (each checks it is unchanged)."""
    return databases.create(BROKEN_DUMP)


@pytest.fixture(scope="module")
def plan_data(site: ConnectionSpec) -> dict[str, Any]:
    return api.plan_repair(site).to_dict()


def _first(data: dict[str, Any], kind: str, table: str) -> dict[str, Any]:
    return next(o for o in data["operations"] if o["kind"] == kind and o["table"] == table)


def _index_delete(data: dict[str, Any]) -> dict[str, Any]:
    return _first(data, "delete", "taxonomy_index")


def _inject_key(data: dict[str, Any]) -> None:
    op = _index_delete(data)
    op["key"] = {"nid` >= 0 OR `nid": 0}
    op["after_prior"] = True  # no fingerprint to match: only the name check stands between


def _set(path: str, value: Any) -> Edit:
    """Set one field of the first operation of KIND TABLE (``delete taxonomy_index.key``)."""
    head, name = path.rsplit(".", 1)
    kind, table = head.split(" ")

    def edit(data: dict[str, Any]) -> None:
        _first(data, kind, table)[name] = value

    return edit


def _top(name: str, value: Any) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        data[name] = value

    return edit


def _decision(name: str, value: Any) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        data["decisions"][0][name] = value

    return edit


def _replace(value: Any) -> Edit:
    return lambda data: value


UPDATE = "update field_data_field_tags"
DELETE = "delete taxonomy_index"
INSERT = "insert taxonomy_term_data"

# (id, edit of the plan's JSON, text the one line must hold)
PLAN_CASES: list[tuple[str, Edit, str]] = [
    ("key-injection", _inject_key, "not a valid name"),
    ("after-injection", _set(f"{UPDATE}.after", {"delta` = 0, `deleted": 1}), "not a valid name"),
    ("table-injection", _set(f"{DELETE}.table", "taxonomy_index` WHERE 1=1 -- "), "not a valid"),
    ("uppercase-column", _set(f"{DELETE}.key", {"NID": 5}), "not a valid name"),
    ("long-column", _set(f"{DELETE}.key", {"x" * 300 + "`": 1}), "..."),
    ("unknown-column", _set(f"{DELETE}.key", {"nosuch": 5}), "'nosuch' is not a column of"),
    ("unknown-after-column", _set(f"{UPDATE}.after", {"colour": 1}), "not a column of"),
    ("unknown-table", _set(f"{DELETE}.table", "no_such_table"), "does not exist in this site"),
    ("kind-unknown", _set(f"{DELETE}.kind", "truncate"), "kind 'truncate' is not one of"),
    ("kind-missing", _set(f"{DELETE}.kind", None), "kind None is not one of"),
    ("key-string", _set(f"{DELETE}.key", "nid = 5"), "key must be an object"),
    ("key-list", _set(f"{DELETE}.key", [["nid", 5]]), "key must be an object"),
    ("key-empty", _set(f"{DELETE}.key", {}), "key is empty"),
    ("key-value-object", _set(f"{DELETE}.key", {"nid": {"x": 1}}), "is not a column value"),
    ("key-value-list", _set(f"{DELETE}.key", {"nid": [1, 2]}), "is not a column value"),
    ("bad-base64", _set(f"{DELETE}.key", {"nid": {"b64": "!!!"}}), "does not decode"),
    ("bad-decimal", _set(f"{DELETE}.key", {"nid": {"dec": "1e"}}), "does not decode"),
    ("rows-negative", _set(f"{DELETE}.rows", -1), "rows must be a count"),
    ("rows-text", _set(f"{DELETE}.rows", "all"), "rows must be a count"),
    ("tid-text", _set(f"{DELETE}.tid", "5"), "tid must be"),
    ("after-prior-text", _set(f"{DELETE}.after_prior", "yes"), "after_prior must be"),
    ("before-number", _set(f"{DELETE}.before", 7), "before must be"),
    ("delete-with-values", _set(f"{DELETE}.after", {"tid": 1}), "a delete writes no values"),
    ("insert-without-values", _set(f"{INSERT}.after", {}), "needs the values to write"),
    ("op-extra-field", _set(f"{DELETE}.sql", "DROP TABLE node"), "unknown field 'sql'"),
    ("op-not-object", lambda d: d["operations"].insert(0, 42), "operation 1: an operation must"),
    ("operations-object", _top("operations", {"0": {}}), "operations must be a list"),
    ("checks-not-texts", _top("checks", [1]), "checks must be a list of texts"),
    ("source-number", _top("source", 5), "source must be text"),
    ("plan-extra-field", _top("post_sql", "DROP TABLE node"), "unknown field 'post_sql'"),
    ("decision-action", _decision("action", "burn"), "action 'burn' is not one of"),
    ("decision-tid-text", _decision("tid", "2"), "tid must be a term id"),
    ("redirect-broken", lambda d: d["redirects"].append({"source": "x"}), "a redirect needs"),
    ("version", _top("version", 99), "plan format 99"),
    ("json-list", _replace([{"format": "drupal-migrate-repair-plan"}]), "not a drupal-migrate"),
    ("json-string", _replace("DELETE FROM node"), "not a drupal-migrate repair plan"),
]


def _write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("edit", "words"), [c[1:] for c in PLAN_CASES], ids=[c[0] for c in PLAN_CASES]
)
def test_hostile_plan_is_refused_and_nothing_written(
    site: ConnectionSpec, plan_data: dict[str, Any], guarded: Any, edit: Edit, words: str
) -> None:
    data = copy.deepcopy(plan_data)
    replaced = edit(data)
    guarded.out.mkdir()
    plan = _write(guarded.out / "plan.json", data if replaced is None else replaced)
    journal = guarded.out / "journal.jsonl"
    before = table_checksums(site)
    done = run_cli(
        "repair", "apply", str(plan), "--db", url_of(site), "--yes", "--journal", str(journal),
        cwd=guarded.out,
    )  # fmt: skip
    assert_one_line_error(done, 2, words)
    assert str(plan) in done.stderr
    assert not journal.exists()
    assert table_checksums(site) == before


RAW_CASES: list[tuple[str, bytes, str]] = [
    ("not-json", b'{"format": "drupal-migrate-repair-plan",', "not JSON"),
    ("nested-deep", b"[" * 100_000, "nested too deep"),
    ("not-utf8", b"\xff\xfe{\x00}\x00", "not UTF-8"),
    ("empty", b"", "not JSON"),
]


@pytest.mark.parametrize(
    ("raw", "words"), [c[1:] for c in RAW_CASES], ids=[c[0] for c in RAW_CASES]
)
def test_unreadable_plan_file_is_one_line(
    site: ConnectionSpec, guarded: Any, raw: bytes, words: str
) -> None:
    guarded.out.mkdir()
    plan = guarded.out / "plan.json"
    plan.write_bytes(raw)
    before = table_checksums(site)
    done = run_cli("repair", "apply", str(plan), "--db", url_of(site), "--yes", cwd=guarded.out)
    assert_one_line_error(done, 2, words)
    assert list(guarded.out.iterdir()) == [plan]
    assert table_checksums(site) == before


def test_injection_on_the_dump_path_is_refused_too(plan_data: dict[str, Any], guarded: Any) -> None:
    """``repair apply --dump`` validates the same way: no patch with the injected name."""
    data = copy.deepcopy(plan_data)
    _inject_key(data)
    guarded.out.mkdir()
    plan = _write(guarded.out / "plan.json", data)
    repaired = guarded.out / "repaired"
    done = run_cli(
        "repair", "apply", str(plan), "--dump", str(BROKEN_DUMP), "--out", str(repaired),
        "--yes", cwd=guarded.out, env={"DRUPAL_MIGRATE_CACHE": str(guarded.out / "cache")},
    )  # fmt: skip
    assert_one_line_error(done, 2, "not a valid name")
    assert not (repaired / "repair.sql").exists() and not (repaired / "repaired.sql.gz").exists()


def test_loaded_plan_keeps_redirects_and_refuses_injection_in_process(
    plan_data: dict[str, Any], tmp_path: Path
) -> None:
    plan = Plan.load(_write(tmp_path / "plan.json", plan_data))
    assert plan.redirects and plan.to_dict()["redirects"] == plan_data["redirects"]
    assert plan == Plan.from_dict(plan_data)
    data = copy.deepcopy(plan_data)
    _inject_key(data)
    with pytest.raises(BadInput, match=r"operation \d+ \(delete taxonomy_index\): key column"):
        Plan.from_dict(data)


# (id, extra arguments of repair plan, mapping text or None, text the one line must hold)
PLAN_INPUT_CASES: list[tuple[str, list[str], str | None, str]] = [
    ("strategy-unknown-tid", ["--strategy", "99999=drop"], None, "tid 99999 is not a missing term"),
    ("strategy-live-tid", ["--strategy", "1=drop"], None, "tid 1 is not a missing term"),
    ("strategy-bad-action", ["--strategy", "35=explode"], None, "TID=ACTION"),
    ("mapping-unknown-vocabulary", [], 'remap:\n  35: "nosuch: Sport"\n', "unknown vocabulary"),
    ("mapping-nested-lists", [], "[" * 10_000, "nested too deep"),
    ("mapping-nested-objects", [], "{a: " * 10_000, "nested too deep"),
    ("mapping-list", [], "- 35\n- 36\n", "expected sections"),
]


@pytest.fixture
def mapping_file(guarded: Any) -> Iterator[Callable[[str], Path]]:
    def make(text: str) -> Path:
        guarded.out.mkdir(exist_ok=True)
        path = guarded.out / "map.yml"
        path.write_text(text, encoding="utf-8")
        return path

    yield make


@pytest.mark.parametrize(
    ("args", "mapping", "words"),
    [c[1:] for c in PLAN_INPUT_CASES],
    ids=[c[0] for c in PLAN_INPUT_CASES],
)
def test_hostile_strategy_or_mapping_is_refused(
    site: ConnectionSpec,
    mapping_file: Callable[[str], Path],
    guarded: Any,
    args: list[str],
    mapping: str | None,
    words: str,
) -> None:
    extra = ["--mapping", str(mapping_file(mapping))] if mapping is not None else []
    guarded.out.mkdir(exist_ok=True)
    out = guarded.out / "plan.json"
    done = run_cli("repair", "plan", "--db", url_of(site), *args, *extra, "-o", str(out))
    assert_one_line_error(done, 2, words)
    assert not out.exists()


def test_apply_and_sql_script_render_the_same_statements(
    databases: Databases, guarded: Any
) -> None:
    """One renderer: the --sql script loaded into one copy = the apply on another."""
    applied, scripted = databases.create(BROKEN_DUMP), databases.create(BROKEN_DUMP)
    guarded.out.mkdir()
    plan = guarded.out / "plan.json"
    made = run_cli("repair", "plan", "--db", url_of(applied), "-o", str(plan), cwd=guarded.out)
    assert made.code == 0, made.stderr
    script = run_cli("repair", "plan", "--db", url_of(scripted), "--sql")
    assert_no_traceback(script)
    assert script.code == 0 and script.stdout.rstrip().endswith("COMMIT;")
    done = run_cli(
        "repair", "apply", str(plan), "--db", url_of(applied), "--yes", "--keep-caches",
        "--journal", str(guarded.out / "j.jsonl"), cwd=guarded.out,
    )  # fmt: skip
    assert done.code == 0, done.stderr
    databases.load(str(scripted.database), script.stdout)
    tables = Plan.load(plan).tables()
    a, b = table_checksums(applied), table_checksums(scripted)
    assert {t: a[t] for t in tables} == {t: b[t] for t in tables}
    assert a == b  # --keep-caches: nothing else differs either


# (id, export mapping text, text of the one line)
EXPORT_MAPPING_CASES: list[tuple[str, str, str]] = [
    ("unknown-vocabulary", "vocabularies:\n  nosuch: category\n", "'nosuch' is not in this site"),
    ("unknown-content-type", "content_types:\n  articel: post\n", "'articel' is not in this site"),
    ("nested-deep", "[" * 10_000, "nested too deep"),
]


@pytest.mark.parametrize(
    ("text", "words"),
    [c[1:] for c in EXPORT_MAPPING_CASES],
    ids=[c[0] for c in EXPORT_MAPPING_CASES],
)
def test_export_mapping_naming_what_the_site_lacks_is_refused(
    site: ConnectionSpec, mapping_file: Callable[[str], Path], guarded: Any, text: str, words: str
) -> None:
    mapping = mapping_file(text)
    out = guarded.out / "export"
    done = run_cli("export", "--db", url_of(site), "--out", str(out), "--mapping", str(mapping))
    assert_one_line_error(done, 2, words)
    assert not out.exists()
