"""Undo gives back identical tables: CHECKSUM TABLE before apply equals after undo."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import CACHE_TABLES, checksums

from migrate import api
from migrate.config import ConnectionSpec
from migrate.errors import StateError

MAPPING = Path(__file__).resolve().parents[2] / "mappings" / "drupal7-vn.yml"


def test_undo_restores_checksums(broken_db_rw: ConnectionSpec, tmp_path: Path) -> None:
    plan = api.plan_repair(broken_db_rw, MAPPING)
    tables = plan.tables() + CACHE_TABLES
    assert {"url_alias", "taxonomy_index", "taxonomy_term_data"} <= set(tables)
    before = checksums(broken_db_rw, tables)
    journal = tmp_path / "j.jsonl"
    api.apply_repair(broken_db_rw, plan, yes=True, journal=journal, batch_size=50)
    assert checksums(broken_db_rw, tables) != before
    report = api.undo_repair(broken_db_rw, journal)
    assert report.records > len(plan.operations)  # cache rows are journaled too
    assert checksums(broken_db_rw, tables) == before
    with pytest.raises(StateError, match="already undone"):
        api.undo_repair(broken_db_rw, journal)
