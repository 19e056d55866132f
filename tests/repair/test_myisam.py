"""MyISAM tables cannot roll back: refused unless --allow-non-transactional."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import checksums, connect

from migrate import api
from migrate.config import ConnectionSpec
from migrate.errors import PreconditionFailed


def test_myisam_refused_then_allowed(broken_db_rw: ConnectionSpec, tmp_path: Path) -> None:
    conn = connect(broken_db_rw)
    with conn.cursor() as cur:
        cur.execute("ALTER TABLE taxonomy_index ENGINE=MyISAM")
    conn.close()
    plan = api.plan_repair(broken_db_rw)
    before = checksums(broken_db_rw, plan.tables())
    with pytest.raises(PreconditionFailed, match=r"taxonomy_index \(MyISAM\)"):
        api.apply_repair(broken_db_rw, plan, yes=True, journal=tmp_path / "j.jsonl")
    assert checksums(broken_db_rw, plan.tables()) == before
    report = api.apply_repair(
        broken_db_rw, plan, yes=True, journal=tmp_path / "j2.jsonl", allow_non_transactional=True
    )
    assert report.non_transactional == ["taxonomy_index (MyISAM)"]
    api.undo_repair(broken_db_rw, tmp_path / "j2.jsonl")
    assert checksums(broken_db_rw, plan.tables()) == before
