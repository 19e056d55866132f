"""Fixtures of the hostile-input suite: a guarded temporary tree around the output folder."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness import REPO, TreeGuard

# pytest imports every conftest.py as the module ``conftest``, and the last one imported
# wins: the suite's other tests import the root's helpers with ``from conftest import ...``
# (collected after this folder, or at run time), so this conftest passes them on.
_ROOT_NAME = "drupal_migrate_tests_root_conftest"
if _ROOT_NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_ROOT_NAME, REPO / "tests" / "conftest.py")
    assert _spec is not None and _spec.loader is not None
    sys.modules[_ROOT_NAME] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[_ROOT_NAME])
_root = sys.modules[_ROOT_NAME]
FIXTURES = _root.FIXTURES
BROKEN_DUMP = _root.BROKEN_DUMP
CLEAN_DUMP = _root.CLEAN_DUMP
CORE_FIELDS_DUMP = _root.CORE_FIELDS_DUMP
SERVER_URL = _root.SERVER_URL
Databases = _root.Databases
connect = _root.connect
query = _root.query
run_sql = _root.run_sql
url_of = _root.url_of
_admin = _root._admin


@dataclass(frozen=True)
class Guarded:
    """``root`` holds ``out`` (the only place a run may write) and ``victim`` files beside it."""

    root: Path
    out: Path
    victim: Path


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[Guarded]:
    """A temp tree with victim files outside ``out``; fails the test if any of them changed."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "victim.txt").write_text("must survive\n", encoding="utf-8")
    (victim / "secret.txt").write_text("must never be published\n", encoding="utf-8")
    out = tmp_path / "out"
    guard = TreeGuard(tmp_path, out)
    yield Guarded(tmp_path, out, victim)
    guard.assert_unchanged()
