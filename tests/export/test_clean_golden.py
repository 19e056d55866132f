"""The cleaner's output on every real body of the fixtures, against the golden record.

``clean_golden.json`` was written by ``clean_golden.py`` from the cleaner as it was
before its passes were made cheaper; a speed change must leave every digest, change
count and problem as it was (see that module to regenerate after a meant change).
"""

from __future__ import annotations

import json
from pathlib import Path

from clean_golden import GOLDEN, record


def test_every_fixture_body_cleans_to_the_recorded_output(tmp_path: Path) -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    found = record(tmp_path)
    assert len(found) == len(golden) > 600
    changed = [key for key in golden if found.get(key) != golden[key]]
    assert not changed, f"{len(changed)} texts clean differently, first: {changed[:5]}"
