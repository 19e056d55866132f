"""Media copy: verified by size and sha256, and every file accounted for in the report."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import pytest

from migrate.errors import BadInput
from migrate.export import media


@pytest.fixture
def files_dir(tmp_path: Path) -> Path:
    root = tmp_path / "files"
    (root / "anh-tin/2012").mkdir(parents=True)
    (root / "anh-tin/2012/ảnh 1.jpg").write_bytes(b"\xff\xd8jpeg")
    return root


def test_copy_verifies_and_is_idempotent(files_dir: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    uri = "public://anh-tin/2012/ảnh 1.jpg"
    first = media.copy_file(7, uri, 6, files_dir, tmp_path, "out")
    assert first.status == media.COPIED
    assert first.sha256 == hashlib.sha256(b"\xff\xd8jpeg").hexdigest()
    assert (dest / "anh-tin/2012/ảnh 1.jpg").read_bytes() == b"\xff\xd8jpeg"
    again = media.copy_file(7, uri, 6, files_dir, tmp_path, "out")
    assert again.status == media.UNCHANGED
    assert not list(dest.rglob(".*.tmp"))


def test_every_kind_of_trouble_is_reported(files_dir: Path, tmp_path: Path) -> None:
    results = [
        media.copy_file(1, "public://anh-tin/2012/ảnh 1.jpg", 999, files_dir, tmp_path, "out"),
        media.copy_file(2, "public://gone.pdf", 10, files_dir, tmp_path, "out"),
        media.copy_file(3, "private://hoso/bang-diem.pdf", 10, files_dir, tmp_path, "out"),
        media.copy_file(4, "public://../etc/passwd", 10, files_dir, tmp_path, "out"),
        media.copy_file(5, "public://x.pdf", 10, None, tmp_path, "out"),
    ]
    assert [r.status for r in results] == [
        media.SIZE_MISMATCH,
        media.MISSING,
        media.PRIVATE,
        media.UNSAFE,
        media.NO_FILES_DIR,
    ]
    assert not any(r.ok for r in results)
    assert "999" in results[0].detail
    assert not (tmp_path / "etc").exists()
    rows = list(csv.DictReader(io.StringIO(media.reconciliation_csv(results))))
    assert [row["status"] for row in rows] == [r.status for r in results]
    assert media.summarize(results) == {
        "missing": 1,
        "no_files_dir": 1,
        "private": 1,
        "size_mismatch": 1,
        "unsafe_path": 1,
    }


def test_a_files_dir_must_be_a_directory(tmp_path: Path) -> None:
    media.check_files_dir(None)
    with pytest.raises(BadInput):
        media.check_files_dir(tmp_path / "nope")
