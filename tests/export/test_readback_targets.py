"""The WXR and Hugo read-back: one parse per WXR file, a fast reader for Hugo front matter.

Both shortcuts must give exactly what the slow, general path gives, and fall back to it
for any text they were not made for.
"""

from __future__ import annotations

import json
import os
import random
import re
import tomllib
from pathlib import Path

import pytest
from export_helpers import run_export

from migrate.config import ConnectionSpec
from migrate.errors import MigrateError, StateError, Unaccounted
from migrate.export.hugo import front_matter
from migrate.export.readback import (
    PAGE_DEPTH,
    WXR_READ,
    Part,
    _front_matter,
    _is_page,
    _walk,
    read_hugo,
    read_wxr,
)
from migrate.export.wxr import CHECKED


@pytest.fixture(scope="module")
def wxr_out(core_fields_db: ConnectionSpec, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("readback") / "wxr"
    run_export(core_fields_db, out, to="wxr", batch_size=4)
    return out


def test_wxr_items_kept_by_the_writer_are_what_a_parse_finds(wxr_out: Path) -> None:
    kept = sorted(map(repr, read_wxr(wxr_out)))
    stored = sorted((wxr_out / WXR_READ).glob("wxr-*.json"))
    assert len(stored) == len(list(wxr_out.glob("wxr-*.xml"))) > 0
    moved = wxr_out.parent / "moved"
    (wxr_out / WXR_READ).rename(moved)
    try:
        parsed = sorted(map(repr, read_wxr(wxr_out)))
    finally:
        moved.rename(wxr_out / WXR_READ)
    assert kept == parsed
    assert any(line.startswith("Found(kind='node'") for line in kept)


def test_wxr_file_edited_after_writing_is_parsed_again(wxr_out: Path, tmp_path: Path) -> None:
    out = tmp_path / "copy"
    out.mkdir()
    for path in wxr_out.glob("wxr-*.xml"):
        (out / path.name).write_bytes(path.read_bytes())
    (out / WXR_READ).mkdir(parents=True)
    for path in (wxr_out / WXR_READ).glob("*.json"):
        (out / WXR_READ / path.name).write_bytes(path.read_bytes())
    before = [f for f in read_wxr(out) if f.kind == "node"]
    target = next(p for p in sorted(out.glob("wxr-*.xml")) if b"<wp:comment>" in p.read_bytes())
    text = target.read_text(encoding="utf-8")
    target.write_text(re.sub(r"\t\t<wp:comment>.*?</wp:comment>\n", "", text, count=1, flags=re.S))
    after = [f for f in read_wxr(out) if f.kind == "node"]
    comments = lambda found: sum(dict(f.parts).get("comments", 0) for f in found)  # noqa: E731
    assert comments(after) == comments(before) - 1


def _random_text(rng: random.Random) -> str:
    alphabet = ['"', "\\", "\x7f", "\t", "\n", "\x00", "=", ",", "{", "}", "[", "]", " ", "đ", "é"]
    return "".join(
        rng.choice(alphabet) if rng.random() < 0.4 else chr(rng.randint(32, 0x2FFF))
        for _ in range(rng.randint(0, 12))
    )


def _random_value(rng: random.Random, depth: int = 0) -> object:
    pick = rng.random()
    if depth < 3 and pick < 0.2:
        return {_random_text(rng): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    if depth < 3 and pick < 0.35:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if pick < 0.5:
        return rng.randint(-(10**12), 10**12)
    if pick < 0.55:
        return rng.random() * 10 ** rng.randint(-30, 30)
    if pick < 0.6:
        return rng.random() < 0.5
    return _random_text(rng)


def test_front_matter_the_writer_writes_reads_as_tomllib_reads_it(tmp_path: Path) -> None:
    """Pages are read back with rtoml (fast); on what the writer writes, even from hostile
    text, it must read what the reference TOML reader reads."""
    rng = random.Random(19)
    path = tmp_path / "index.md"
    for _ in range(300):
        data = {_random_text(rng): _random_value(rng) for _ in range(rng.randint(1, 5))}
        page = front_matter(data) + "body"
        assert _front_matter(page, path) == (tomllib.loads(page[4:].split("+++\n")[0]), "body")


@pytest.mark.parametrize(
    "head",
    [
        "a = null",
        'a = "x\\/"',
        "a = 01",
        "a = [1, null]",
        'a = "\\ud800"',
        "a = 1\na = 2",
        'a = {"b" = 1, b = 2}',
        'a = {"b": 1}',
        "a = +1",
        "a.b = 1",
        "[t]\na = 1",
        "a = {b.c = 1}",
        "a = 'literal'",
        "a = inf",
        'a = ["a\tb", "c"]',
        "# comment\na = 1",
        "a = 1979-05-27",
        "a = 99999999999999999999",
        "a = 1e400",
    ],
)
def test_any_front_matter_reads_as_tomllib_reads_it_or_is_a_one_line_error(
    head: str, tmp_path: Path
) -> None:
    path = tmp_path / "index.md"
    try:
        expected = tomllib.loads(head)
    except tomllib.TOMLDecodeError:
        with pytest.raises(StateError, match="front matter is not valid TOML"):
            _front_matter(f"+++\n{head}\n+++\n", path)
    else:
        assert _front_matter(f"+++\n{head}\n+++\nbody", path) == (expected, "body")


def test_hugo_read_back_streams_every_page(tmp_path: Path) -> None:
    for n in range(3):
        page = tmp_path / "content" / "article" / f"p{n}" / "index.md"
        page.parent.mkdir(parents=True)
        page.write_text(front_matter({"title": f"P{n}", "drupal_nid": n}) + "\nbody\n")
    (tmp_path / "content" / "article" / "p0" / "notes.txt").write_text("not a page")
    found = sorted(f.key for f in read_hugo(tmp_path) if f.kind == "node")
    assert found == ["0", "1", "2"]


def test_an_item_taken_out_of_a_wxr_file_is_unaccounted(
    core_fields_db: ConnectionSpec, tmp_path: Path
) -> None:
    out = tmp_path / "wxr"
    run_export(core_fields_db, out, to="wxr", batch_size=4)
    path = next(p for p in sorted(out.glob("wxr-*.xml")) if b"_drupal_nid" in p.read_bytes())
    path.write_bytes(re.sub(rb"<item>.*?</item>", b"", path.read_bytes(), count=1, flags=re.S))
    with pytest.raises(Unaccounted):
        run_export(core_fields_db, out, to="wxr", batch_size=4)


def test_a_rerun_checks_earlier_files_from_what_their_validation_kept(
    core_fields_db: ConnectionSpec, tmp_path: Path
) -> None:
    """A re-run's cross-file check built afresh takes each earlier file's items from
    ``CHECKED`` while the file's bytes are those validated, and parses a file edited
    since (which a kept check finds changed)."""
    out = tmp_path / "wxr"
    run_export(core_fields_db, out, to="wxr", batch_size=4)
    files = sorted(p for p in out.glob("wxr-*.xml") if b"_drupal_nid" in p.read_bytes())
    assert len(list((out / CHECKED).glob("wxr-*.json"))) == len(list(out.glob("wxr-*.xml")))
    first_id = re.search(rb"<wp:post_id>(\d+)</wp:post_id>", files[0].read_bytes())
    assert first_id is not None
    kept = out / CHECKED / f"{files[1].name}.json"
    saved = kept.read_bytes()
    data = json.loads(saved)
    data["items"][0][0] = int(first_id.group(1))
    kept.write_text(json.dumps(data))
    # Without the check the writer's kept index holds (``keptindex``): from CHECKED.
    (out / ".wxr-state" / "index.sqlite.sealed").unlink()
    with pytest.raises(MigrateError, match="post_id_duplicate"):
        run_export(core_fields_db, out, to="wxr", batch_size=4)
    kept.write_bytes(saved)
    run_export(core_fields_db, out, to="wxr", batch_size=4)
    text = files[1].read_bytes()
    edited = re.sub(
        rb"<wp:post_id>\d+</wp:post_id>",
        b"<wp:post_id>" + first_id.group(1) + b"</wp:post_id>",
        text,
        count=1,
    )
    files[1].write_bytes(edited)
    with pytest.raises(MigrateError, match="post_id_duplicate"):
        run_export(core_fields_db, out, to="wxr", batch_size=4)


@pytest.mark.parametrize("count", [2, 3, 4])
def test_folders_shared_out_among_parts_cover_the_tree_once(count: int, tmp_path: Path) -> None:
    """Reading in parts shares out whole page folders (and the files beside them): every
    page is walked by exactly one part, whatever its depth."""
    root = tmp_path / "content"
    pages = [root / "_index.md", root / "news" / "_index.md", root / "news" / "leaf.md"]
    pages += [root / "news" / f"slug-{i}" / "index.md" for i in range(40)]
    pages += [root / "news" / "slug-1" / "deeper" / "index.md", root / "tags" / "a" / "_index.md"]
    for page in pages:
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text("+++\n+++\n", encoding="utf-8")
    whole = sorted(_walk(root, _is_page))
    assert whole == sorted(map(str, pages))
    shares = [sorted(_walk(root, _is_page, Part(i, count), PAGE_DEPTH)) for i in range(count)]
    assert sorted(p for share in shares for p in share) == whole
    assert all(share for share in shares)  # 40 folders: every part gets some
    bundle = os.path.join(root / "news" / "slug-1", "")
    assert len({i for i, share in enumerate(shares) for p in share if p.startswith(bundle)}) == 1
