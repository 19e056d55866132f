"""WXR as the importer takes it: nothing lost to an unmapped type, no silent rename, problems.

Each case edits a copy of the broken fixture the way real sites differ from it
and reads the written files back with the strict parser the validator uses.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from conftest import query, run_sql
from export_helpers import run_export
from lxml import etree

from migrate.config import ConnectionSpec
from migrate.export.wxr_validate import NS, WxrItem, read_wxr


def _items(out: Path) -> list[WxrItem]:
    return [i for p in sorted(out.glob("wxr-*.xml")) for i in read_wxr(p).items]


def _manifest(out: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((out / "wxr-manifest.json").read_text(encoding="utf-8"))


def test_unmapped_type_loses_no_node(broken_db_rw: ConnectionSpec, tmp_path: Path) -> None:
    run_sql(broken_db_rw, "UPDATE node SET type = 'event' WHERE nid % 4 = 0 AND type = 'article'")
    events = {int(r[0]) for r in query(broken_db_rw, "SELECT nid FROM node WHERE type = 'event'")}
    assert events
    run_export(broken_db_rw, tmp_path, to="wxr")
    posts = {i.post_id: i for i in _items(tmp_path) if i.post_type != "attachment"}
    assert len(posts) == int(query(broken_db_rw, "SELECT COUNT(*) FROM node")[0][0])
    header = read_wxr(sorted(tmp_path.glob("wxr-*.xml"))[-1])
    declared = {t.slug for t in header.terms if t.taxonomy == "category"}
    for nid in events:
        item = posts[nid]
        assert item.post_type == "post"
        assert item.meta("_drupal_type") == ["event"]
        assert ("category", "drupal-event", "event") in item.terms
    assert "drupal-event" in declared


def test_final_slug_is_the_linked_one(broken_db_rw: ConnectionSpec, tmp_path: Path) -> None:
    # An attachment whose file is named like a node's slug used to push the node to X-node.
    run_export(broken_db_rw, tmp_path / "first", to="wxr")
    slugs = dict(
        sqlite3.connect(tmp_path / "first" / "state.sqlite")
        .execute("SELECT source_id, slug FROM slugs WHERE kind = 'node'")
        .fetchall()
    )
    some = sorted(slugs.items())[:5]
    for (_, slug), (fid,) in zip(
        some, query(broken_db_rw, "SELECT fid FROM file_managed ORDER BY fid LIMIT 5"), strict=False
    ):
        run_sql(broken_db_rw, f"UPDATE file_managed SET filename = '{slug}.pdf' WHERE fid = {fid}")
    out = tmp_path / "second"
    run_export(broken_db_rw, out, to="wxr")
    names = {i.post_id: i.post_name for i in _items(out) if i.post_type != "attachment"}
    linked = dict(
        sqlite3.connect(out / "state.sqlite")
        .execute("SELECT source_id, slug FROM slugs WHERE kind = 'node'")
        .fetchall()
    )
    assert names == {int(n): s for n, s in linked.items()}
    assert not [r for r in _manifest(out)["renamed_slugs"] if r["kind"] == "node"]


def test_problems_list_dead_terms_and_lost_parents(
    broken_db: ConnectionSpec, tmp_path: Path
) -> None:
    run_export(broken_db, tmp_path, to="wxr")
    details = [p["detail"] for p in _manifest(tmp_path)["problems"]]
    assert any(d.startswith("dangling_term_ref") for d in details)
    assert any("parent" in d for d in details)


def test_commenter_email_only_when_asked(broken_db: ConnectionSpec, tmp_path: Path) -> None:
    registered = query(broken_db, "SELECT COUNT(*) FROM comment WHERE uid > 0")[0][0]
    assert registered
    run_export(broken_db, tmp_path / "plain", to="wxr")
    run_export(broken_db, tmp_path / "emails", to="wxr", include_emails=True)
    for name, expect in (("plain", False), ("emails", True)):
        emails = [
            (
                c.findtext("wp:comment_user_id", namespaces=NS),
                c.findtext("wp:comment_author_email", namespaces=NS),
            )
            for p in (tmp_path / name).glob("wxr-*.xml")
            for c in etree.parse(str(p)).iterfind(".//wp:comment", NS)
        ]
        mine = [e for uid, e in emails if uid and int(uid) > 0]
        assert len(mine) == registered
        assert all("@" in (e or "") for e in mine) == expect, name
        if not expect:
            assert not any(e for _, e in emails)


def test_bytes_are_reproducible(broken_db: ConnectionSpec, tmp_path: Path) -> None:
    run_export(broken_db, tmp_path / "a", to="wxr")
    run_export(broken_db, tmp_path / "b", to="wxr")
    a = sorted((tmp_path / "a").glob("wxr-*.xml"))
    assert a
    for path in a:
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes(), path.name


def test_default_term_urls_are_the_ones_wordpress_serves(
    broken_db: ConnectionSpec, tmp_path: Path
) -> None:
    run_export(broken_db, tmp_path, to="wxr")
    linked = dict(
        sqlite3.connect(tmp_path / "state.sqlite")
        .execute("SELECT source_id, path FROM slugs WHERE kind = 'term'")
        .fetchall()
    )
    last = sorted(tmp_path.glob("wxr-*.xml"))[-1]
    header = read_wxr(last)
    # Without a mapping every term is a category or a tag: a custom taxonomy nobody
    # registered would be refused by the importer and served nowhere.
    assert {t.taxonomy for t in header.terms} <= {"category", "post_tag"}
    bases = {"category": "category", "post_tag": "tag"}
    served = {
        t.term_id: f"/{bases[t.taxonomy]}/{t.slug}/" for t in header.terms if t.term_id in linked
    }
    vocabularies = dict(
        query(
            broken_db,
            "SELECT d.tid, v.machine_name FROM taxonomy_term_data d"
            " JOIN taxonomy_vocabulary v USING (vid)",
        )
    )
    hierarchical = {
        int(r[0])
        for r in query(
            broken_db,
            "SELECT d.tid FROM taxonomy_term_data d JOIN taxonomy_vocabulary v USING (vid)"
            " WHERE v.hierarchy > 0",
        )
    }
    assert len(served) == len(vocabularies)
    assert {tid: linked[tid] for tid in served} == served  # links go where WordPress serves
    assert all(served[t].startswith("/category/") for t in hierarchical)
    assert any(p.startswith("/tag/") for p in served.values())
    # vocabularies merged into one taxonomy keep unique slugs and stay told apart
    assert len({(t.taxonomy, t.slug) for t in header.terms}) == len(header.terms)
    root = etree.parse(str(last)).getroot()
    for elem in root.iterfind("channel/*", NS):
        ident = elem.findtext("wp:term_id", namespaces=NS)
        if ident is None:
            continue
        meta = {
            m.findtext("wp:meta_key", namespaces=NS): m.findtext("wp:meta_value", namespaces=NS)
            for m in elem.iterfind("wp:termmeta", NS)
        }
        if int(ident) in vocabularies:
            assert meta["_drupal_tid"] == ident
            assert meta["_drupal_vocabulary"] == vocabularies[int(ident)]


def test_commenter_data_only_with_its_flags(broken_db_rw: ConnectionSpec, tmp_path: Path) -> None:
    run_sql(
        broken_db_rw,
        "UPDATE comment SET mail = CONCAT('guest', cid, '@example.org'),"
        " homepage = 'https://guest.example', hostname = CONCAT('10.0.0.', cid) WHERE uid = 0",
    )
    anonymous = int(query(broken_db_rw, "SELECT COUNT(*) FROM comment WHERE uid = 0")[0][0])
    assert anonymous
    for name, flags in (
        ("plain", {}),
        ("all", {"include_emails": True, "include_hostnames": True}),
    ):
        run_export(broken_db_rw, tmp_path / name, to="wxr", **flags)
        found = [
            tuple(
                c.findtext(f"wp:comment_{k}", namespaces=NS) or ""
                for k in ("user_id", "author_email", "author_url", "author_IP")
            )
            for p in (tmp_path / name).glob("wxr-*.xml")
            for c in etree.parse(str(p)).iterfind(".//wp:comment", NS)
        ]
        guests = [f for f in found if f[0] == "0"]
        assert len(guests) == anonymous
        assert all(url == "https://guest.example" for _, _, url, _ in guests)
        if flags:
            assert all(
                mail.startswith("guest") and ip.startswith("10.0.0.") for _, mail, _, ip in guests
            )
        else:
            assert not any(mail or ip for _, mail, _, ip in guests)


def test_attachments_follow_the_node_that_uses_them(
    broken_db: ConnectionSpec, tmp_path: Path
) -> None:
    run_export(broken_db, tmp_path, to="wxr", target_options=(("max_items", 25),))
    users: dict[int, set[int]] = {}
    for fid, nid in query(
        broken_db,
        "SELECT u.fid, u.id FROM file_usage u JOIN node n ON n.nid = u.id WHERE u.type = 'node'",
    ):
        users.setdefault(int(fid), set()).add(int(nid))
    assert users
    where: dict[int, tuple[str, int]] = {}  # post id → (file, position)
    attachments = []
    for path in sorted(tmp_path.glob("wxr-*.xml")):
        for pos, item in enumerate(read_wxr(path).items):
            assert item.post_id not in where, "each item once"
            where[item.post_id] = (path.name, pos)
            if item.post_type == "attachment":
                attachments.append(item)
    public = int(
        query(broken_db, "SELECT COUNT(*) FROM file_managed WHERE uri LIKE 'public://%'")[0][0]
    )
    assert len(attachments) == public
    for item in attachments:
        fid = int(item.meta("_drupal_fid")[0])
        if fid in users:
            # The importer keeps post_parent only when the parent is in the same file.
            assert item.parent in users[fid], fid
            assert where[item.parent][0] == where[item.post_id][0]
            assert where[item.parent][1] < where[item.post_id][1]
        else:
            assert item.parent == 0, fid
    assert sum(1 for i in attachments if i.parent) == len(users)
