"""Rollback removes exactly what a batch wrote; a re-run puts it back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from export_helpers import bundle_files, by_key, records, run_export

from migrate import api
from migrate.config import ConnectionSpec
from migrate.errors import BadInput, StateError


@pytest.fixture
def exported(broken_db: ConnectionSpec, tmp_path: Path) -> Path:
    out = tmp_path / "bundle"
    run_export(broken_db, out, batch_size=50)
    return out


def _node_batches(out: Path) -> dict[int, set[int]]:
    found: dict[int, set[int]] = {}
    for path in sorted((out / "nodes").glob("batch-*.jsonl")):
        no = int(path.stem.split("-")[1])
        found[no] = {json.loads(line)["nid"] for line in path.read_text("utf-8").splitlines()}
    return found


def test_rollback_of_one_batch_removes_exactly_its_items(
    exported: Path, broken_db: ConnectionSpec
) -> None:
    before = bundle_files(exported)
    batches = _node_batches(exported)
    victim = sorted(batches)[1]
    summary = api.rollback(exported, batch=victim)
    assert summary.batches == [victim]
    assert summary.removed == {"node": len(batches[victim])}
    after = bundle_files(exported)
    gone = f"nodes/batch-{victim:06d}.jsonl"
    assert set(before) - set(after) == {gone}
    assert all(after[name] == before[name] for name in after)
    remaining = set(by_key(exported, "node", "nid"))
    assert not remaining & batches[victim]
    report = api.status(exported)
    assert report.counts["node"] == 218 - len(batches[victim])
    assert report.batches.get("rolled_back") == 1

    again = run_export(broken_db, exported, batch_size=50)
    assert again.added == {"node": len(batches[victim])}
    assert set(by_key(exported, "node", "nid")) == remaining | batches[victim]
    redone = {r["nid"]: r for r in records(exported, "node")}
    original = {
        json.loads(line)["nid"]: json.loads(line) for line in before[gone].decode().splitlines()
    }
    assert all(redone[nid] == original[nid] for nid in batches[victim])


def test_rollback_all_empties_the_bundle(exported: Path) -> None:
    summary = api.rollback(exported, all=True)
    assert summary.removed["node"] == 218
    assert bundle_files(exported) == {}
    assert api.status(exported).counts == {}


def test_rollback_refuses_bad_requests(exported: Path, tmp_path: Path) -> None:
    with pytest.raises(BadInput):
        api.rollback(exported)
    with pytest.raises(BadInput):
        api.rollback(exported, batch=1, all=True)
    with pytest.raises(StateError):
        api.rollback(exported, batch=999)
    with pytest.raises(StateError):
        api.rollback(tmp_path / "nothing-here", all=True)


def test_files_are_copied_durably_and_rolled_back(
    broken_db: ConnectionSpec, tmp_path: Path
) -> None:
    files_dir = tmp_path / "sites-default-files"
    image = files_dir / "field" / "image" / "IMG_20121010_8979.jpg"
    image.parent.mkdir(parents=True)
    image.write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "bundle"
    run_export(broken_db, out, batch_size=500, files_dir=files_dir, workers=0)
    files = by_key(out, "file", "fid")
    assert files[1]["exported_path"] == "media/field/image/IMG_20121010_8979.jpg"
    assert (out / files[1]["exported_path"]).read_bytes() == image.read_bytes()
    missing = [f for f in files.values() if f["exported_path"] is None]
    assert len(missing) == 141
    assert all(p["kind"] == "missing_file" for f in missing for p in f["problems"])
    [file_batch] = {int(p.stem.split("-")[1]) for p in (out / "files").glob("batch-*.jsonl")}
    api.rollback(out, batch=file_batch)
    assert not (out / "media" / "field" / "image" / "IMG_20121010_8979.jpg").exists()
    assert "file" not in api.status(out).counts
