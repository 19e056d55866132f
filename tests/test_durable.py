"""Durable writes: a reader sees the old file or the new one, never a part, never a temp."""

from __future__ import annotations

import hashlib
from pathlib import Path

from migrate.durable import copy_durably, write_durably


def test_a_durable_write_replaces_the_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.txt"
    write_durably(target, "một")
    write_durably(target, b"hai")
    assert target.read_bytes() == b"hai"
    assert [p.name for p in target.parent.iterdir()] == ["b.txt"]


def test_text_is_written_as_utf8(tmp_path: Path) -> None:
    target = tmp_path / "vi.txt"
    write_durably(target, "Tin tức", sync=False)
    assert target.read_bytes() == "Tin tức".encode()


def test_a_durable_copy_returns_the_sha256_of_what_it_read(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(bytes(range(256)) * 5000)
    dest = tmp_path / "deep" / "dir" / "copy.bin"
    digest = copy_durably(src, dest)
    assert dest.read_bytes() == src.read_bytes()
    assert digest == hashlib.sha256(src.read_bytes()).hexdigest()
    assert [p.name for p in dest.parent.iterdir()] == ["copy.bin"]
