"""The cross-file WXR check records a chunk of items at once when none can clash: it must
find exactly what checking them one by one finds, and leave the same keys behind."""

from __future__ import annotations

import random
import sqlite3

import pytest

from migrate.export import wxr_validate
from migrate.export.wxr_validate import ItemKey, SetCheck


def _files(seed: int) -> list[list[ItemKey]]:
    """Files of items drawn from small pools, so ids, names and title+dates clash."""
    rng = random.Random(seed)
    names = ["", "tin-tuc", "gioi-thieu", "lich", "anh-1", *(f"bai-{i}" for i in range(400))]
    titles = ["Tin tức", "tin tuc ", "Lịch", "Đào tạo", *(f"Bài {i}" for i in range(400))]
    files = []
    for _ in range(rng.randint(1, 5)):
        items = []
        for _ in range(rng.randint(0, 30)):
            kind = rng.choice(["post", "post", "page", "attachment"])
            items.append(
                ItemKey(
                    rng.randint(1, 300),
                    kind,
                    rng.choice(names),
                    rng.choice(titles),
                    rng.choice(["2015-01-01 00:00:00", "2016-02-02 10:00:00"]),
                    tuple(str(rng.randint(1, 300)) for _ in range(rng.randint(0, 1))),
                )
            )
        files.append(items)
    return files


def _check(files: list[list[ItemKey]], at_once: bool) -> tuple[list[str], list[tuple[object, ...]]]:
    db = sqlite3.connect(":memory:", isolation_level=None)
    check = SetCheck(db)
    if not at_once:
        check._add_at_once = lambda name, keyed: False  # type: ignore[method-assign]
    issues = [str(i) for n, items in enumerate(files) for i in check.add(f"f{n}", iter(items))]
    tables = sorted(
        (table, *row)
        for table in ("check_ids", "check_names", "check_title_dates")
        for row in db.execute(f"SELECT * FROM {table}")
    )
    db.close()
    return issues, tables


@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_chunks_recorded_at_once_find_what_one_by_one_finds(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wxr_validate, "CHECK_CHUNK", chunk)
    clean = 0
    for seed in range(300):
        files = _files(seed)
        slow = _check(files, at_once=False)
        assert _check(files, at_once=True) == slow, seed
        clean += not slow[0]
    assert clean > 0  # some sets have no issue at all: the fast path ran whole


def test_a_clean_chunk_is_recorded_at_once() -> None:
    items = [
        ItemKey(i, "post", f"bai-{i}", f"Bài {i}", "2015-01-01 00:00:00", ()) for i in range(50)
    ]
    db = sqlite3.connect(":memory:", isolation_level=None)
    check = SetCheck(db)
    check._add_one = None  # type: ignore[assignment,method-assign]  # must not be needed
    assert check.add("f0", items) == []
    assert db.execute("SELECT COUNT(*) FROM check_names").fetchone() == (100,)
