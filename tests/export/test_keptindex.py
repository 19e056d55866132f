"""A writer's index kept from one run to the next (``migrate.export.keptindex``).

The WXR and Hugo writers keep their SQLite state index when a run finishes, so an
unchanged re-run does not rebuild it from every batch file. A kept index is a
cache: the tests check that it is used only for the batch files and the code it
was built from, and that a re-run with it writes the very bytes a re-run that
rebuilt it writes, on a site edited so that names clash.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import query, run_sql
from export_helpers import run_export

from migrate import api
from migrate.config import ConnectionSpec
from migrate.durable import write_durably
from migrate.errors import MigrateError
from migrate.export import ItemRef, WriterOptions, get_writer, keptindex
from migrate.export.hugo import SMALL_SECTIONS, HugoWriter
from migrate.export.keptindex import KeptIndex
from migrate.export.state import StateStore
from migrate.export.wxr import WxrWriter


def _index(tmp_path: Path) -> KeptIndex:
    for no in (1, 2):
        write_durably(tmp_path / f"batch-{no:05d}.json", b"{}")
    db = sqlite3.connect(tmp_path / "index.sqlite", isolation_level=None)
    db.executescript("CREATE TABLE t (x); BEGIN; INSERT INTO t VALUES (1);")
    kept = KeptIndex(tmp_path / "index.sqlite", "batch-*.json")
    kept.seal(db, {"terms": {"1": {"slug": "a"}}})
    db.close()
    return kept


def test_a_sealed_index_is_claimed_once(tmp_path: Path) -> None:
    kept = _index(tmp_path)
    assert kept.claim()
    db = sqlite3.connect(kept.path)
    assert db.execute("SELECT x FROM t").fetchall() == [(1,)]  # the seal came after the commit
    assert KeptIndex.sections(db) == {"terms": {"1": {"slug": "a"}}}
    # The claim broke the seal: a run cut short after it leaves nothing to trust.
    assert not kept.seal_path.exists()
    assert not kept.claim()
    assert not kept.path.exists()


@pytest.mark.parametrize("change", ["rewritten", "added", "removed", "code", "no seal"])
def test_an_index_is_rebuilt_when_its_inputs_changed(
    tmp_path: Path, change: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = _index(tmp_path)
    if change == "rewritten":  # the same bytes, written again: another file
        write_durably(tmp_path / "batch-00002.json", b"{}")
    elif change == "added":
        write_durably(tmp_path / "batch-00003.json", b"{}")
    elif change == "removed":
        (tmp_path / "batch-00001.json").unlink()
    elif change == "code":  # another version of the package
        monkeypatch.setattr(keptindex, "code_digest", lambda: "another")
    else:
        kept.seal_path.unlink()
    assert not kept.claim()
    assert not kept.path.exists()


def _output(out: Path, target: str) -> dict[str, bytes]:
    """What a consumer imports: the WXR files, or the Hugo site's pages."""
    pattern = "wxr-*.xml" if target == "wxr" else "content/**/*.md"
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.glob(pattern))}


@pytest.mark.parametrize("target", ["wxr", "hugo"])
def test_a_kept_index_writes_what_a_rebuilt_one_writes(
    broken_db_rw: ConnectionSpec,
    tmp_path: Path,
    target: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two outputs of one site; the site is edited so that a node takes the title and
    date of another (its post name, title+date key and page folder come from the
    index); one re-run uses its kept index, the other must rebuild it."""
    claims: list[bool] = []
    claim = KeptIndex.claim

    def spied(self: KeptIndex) -> bool:
        claims.append(claim(self))
        return claims[-1]

    monkeypatch.setattr(KeptIndex, "claim", spied)
    kept, rebuilt = tmp_path / "kept", tmp_path / "rebuilt"
    for out in (kept, rebuilt):
        assert run_export(broken_db_rw, out, to=target).reconciliation is not None
    assert claims == [False, False]

    same = run_export(broken_db_rw, kept, to=target, update=True)
    assert claims[-1] is True and same.batches == 0  # unchanged: the index is kept again
    [(a, b)] = query(
        broken_db_rw,
        "SELECT MIN(nid), MAX(nid) FROM node WHERE status = 1 AND type = 'article'",
    )
    run_sql(
        broken_db_rw,
        f"UPDATE node_revision r JOIN node n ON n.nid = {b} AND r.vid = n.vid"
        f" JOIN node m ON m.nid = {a} SET r.title = m.title",
        f"UPDATE node n JOIN node m ON m.nid = {a} SET n.title = m.title, n.created = m.created"
        f" WHERE n.nid = {b}",
    )
    (rebuilt / f".{target}-state" / "index.sqlite.sealed").unlink()
    claims.clear()
    for out in (kept, rebuilt):
        summary = run_export(broken_db_rw, out, to=target, update=True)
        assert summary.reconciliation is not None and summary.reconciliation.reconciled
        assert summary.updated["node"] >= 1
    assert claims[:2] == [True, False]
    assert _output(kept, target) == _output(rebuilt, target)
    assert _output(kept, target)


def test_a_kept_check_meets_a_file_edited_since(broken_db: ConnectionSpec, tmp_path: Path) -> None:
    """The kept cross-file check holds each file by its digest: an item given another
    file's post id after the run is found by the next one, as by a check built afresh."""
    out = tmp_path / "wxr"
    run_export(broken_db, out, to="wxr", batch_size=60, target_options=(("max_items", 25),))
    files = sorted(out.glob("wxr-*.xml"))
    assert len(files) >= 2
    ids = [re.findall(rb"<wp:post_id>(\d+)</wp:post_id>", f.read_bytes()) for f in files]
    edited = (
        files[-1]
        .read_bytes()
        .replace(
            b"<wp:post_id>" + ids[-1][0] + b"</wp:post_id>",
            b"<wp:post_id>" + ids[0][0] + b"</wp:post_id>",
            1,
        )
    )
    files[-1].write_bytes(edited)
    with pytest.raises(MigrateError, match="post_id_duplicate"):
        run_export(
            broken_db,
            out,
            to="wxr",
            batch_size=60,
            target_options=(("max_items", 25),),
            update=True,
        )


def _index_rows(out: Path, target: str) -> tuple[Any, Any]:
    """A writer's index as its ``begin`` leaves it: rows and the in-memory sections."""
    writer = get_writer(target)
    writer.begin(out, WriterOptions())
    return _writer_rows(writer)


def _writer_rows(writer: Any) -> tuple[Any, Any]:
    if isinstance(writer, WxrWriter):
        db = writer.state.index.db
        tables = ("posts", "holders", "names", "title_dates")
        rows = {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall()) for t in tables}
        return rows, {name: getattr(writer.state, name) for name in type(writer.state).SMALL}
    assert isinstance(writer, HugoWriter) and writer._maps is not None
    db = writer._maps.db
    rows = db.execute("SELECT map, key, value FROM entries ORDER BY map, key").fetchall()
    return rows, {name: writer.state[name] for name in SMALL_SECTIONS}


@pytest.mark.parametrize("target", ["wxr", "hugo"])
def test_a_kept_index_holds_what_a_rebuild_from_the_batch_files_holds(
    broken_db_rw: ConnectionSpec, tmp_path: Path, target: str
) -> None:
    """After a re-run that renamed a term, moved an alias and gave a node the title and
    date of another, the index the run kept is the one its batch files rebuild."""
    out = tmp_path / target
    run_export(broken_db_rw, out, to=target)
    [(tid,)] = query(broken_db_rw, "SELECT MIN(tid) FROM taxonomy_index")
    [(a, b)] = query(broken_db_rw, "SELECT MIN(nid), MAX(nid) FROM node WHERE status = 1")
    run_sql(
        broken_db_rw,
        f"UPDATE taxonomy_term_data SET name = 'Tên mới hẳn' WHERE tid = {tid}",
        f"UPDATE url_alias SET alias = CONCAT(alias, '-moi') WHERE source = 'node/{a}'",
        f"UPDATE node_revision r JOIN node n ON n.nid = {b} AND r.vid = n.vid"
        f" JOIN node m ON m.nid = {a} SET r.title = m.title",
        f"UPDATE node n JOIN node m ON m.nid = {a} SET n.title = m.title, n.created = m.created"
        f" WHERE n.nid = {b}",
    )
    summary = run_export(broken_db_rw, out, to=target, update=True)
    assert summary.batches >= 1 and summary.updated["term"] == 1
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)  # other inodes: the copy's index is not trusted, but rebuilt
    assert (out / f".{target}-state" / "index.sqlite.sealed").is_file()
    assert _index_rows(out, target) == _index_rows(copy, target)


def test_items_removed_leave_the_index_a_rebuild_would_build(
    broken_db: ConnectionSpec, tmp_path: Path
) -> None:
    """WXR's ``remove`` updates its index in place instead of rebuilding it: after a
    batch's items are removed (as ``rollback`` removes them), the index holds what one
    rebuilt from the batch files holds, names and title+date keys freed included."""
    out = tmp_path / "wxr"
    run_export(broken_db, out, to="wxr", batch_size=10)
    with StateStore(out, create=False) as state:
        done = [b.batch_no for b in state.batches() if b.status == "complete"]
        items = state.items_of_batches([done[len(done) // 2]])
    assert sum(i.kind == "node" for i in items) >= 5
    writer = WxrWriter()
    writer.begin(out, WriterOptions())
    before = _writer_rows(writer)
    writer.remove([ItemRef(i.kind, i.source_id, i.target) for i in items])
    after = _writer_rows(writer)
    assert len(after[0]["posts"]) < len(before[0]["posts"])
    assert len(after[0]["names"]) < len(before[0]["names"])
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    rebuilt = _index_rows(copy, "wxr")
    for name in after[0]:
        a, b = set(after[0][name]), set(rebuilt[0][name])
        assert a == b, (name, sorted(a - b)[:5], sorted(b - a)[:5])
    for name in after[1]:
        assert after[1][name] == rebuilt[1][name], name


def _count_state_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one each time a WXR writer reads every batch state."""
    reads: list[int] = []
    states = WxrWriter._batch_states

    def counted(self: WxrWriter) -> Any:
        reads.append(1)
        return states(self)

    monkeypatch.setattr(WxrWriter, "_batch_states", counted)
    return reads


def test_rewritten_posts_leave_the_batch_states_unread(
    broken_db_rw: ConnectionSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A re-run that rewrites posts in many batches (a term renamed) reads the batch
    states once for the renamed term, not once per batch of posts: a rewritten post's
    row in the index is already its new batch's (the reading made such a re-run
    quadratic in the batches). The index it leaves is the one a rebuild builds."""
    out = tmp_path / "wxr"
    run_export(broken_db_rw, out, to="wxr", batch_size=10)
    [(tid, nodes)] = query(
        broken_db_rw,
        "SELECT tid, COUNT(*) FROM taxonomy_index GROUP BY tid ORDER BY COUNT(*) DESC LIMIT 1",
    )
    run_sql(broken_db_rw, f"UPDATE taxonomy_term_data SET name = 'Tên mới' WHERE tid = {tid}")
    reads = _count_state_reads(monkeypatch)
    summary = run_export(broken_db_rw, out, to="wxr", batch_size=10, update=True)
    with StateStore(out, create=False) as state:
        rewritten = [
            b for b in state.batches() if b.phase == "nodes" and b.run_id == summary.run_id
        ]
    assert summary.updated["term"] == 1 and summary.updated["node"] >= int(nodes) >= 10
    assert len(rewritten) >= 5
    assert len(reads) <= 2  # the renamed term's removal, and finish's lists
    monkeypatch.undo()
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    assert _index_rows(out, "wxr") == _index_rows(copy, "wxr")


def test_a_rollback_reads_the_batch_states_for_terms_authors_and_files_only(
    broken_db: ConnectionSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rolling a whole export back removes one batch at a time, newest first. A batch of
    posts or redirects leaves the sections held in memory as they are, so its removal
    reads no other batch state (reading them all for each made a rollback quadratic in
    the batches); the index left is the one a rebuild builds."""
    out = tmp_path / "wxr"
    run_export(broken_db, out, to="wxr", batch_size=10)
    with StateStore(out, create=False) as state:
        phases = Counter(b.phase for b in state.batches())
    reads = _count_state_reads(monkeypatch)
    api.rollback(out, all=True)
    assert phases["nodes"] >= 20 and phases["redirects"] >= 1
    assert len(reads) <= sum(
        n for phase, n in phases.items() if phase not in ("nodes", "redirects")
    )
    monkeypatch.undo()
    writer = WxrWriter()
    writer.begin(out, WriterOptions())
    after = _writer_rows(writer)
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    assert after == _index_rows(copy, "wxr")
    assert after[0]["posts"] == [] and after[0]["holders"] == []
