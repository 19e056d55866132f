"""WordPress WXR 1.2: the fixture round-trips; every silent importer repair is made impossible."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import query, run_sql, url_of
from export_helpers import BASE_URL, cli, run_export
from lxml import etree

from migrate.cli import main
from migrate.config import ConnectionSpec
from migrate.errors import MigrateError
from migrate.export import WriterOptions, get_writer, writer_names
from migrate.export import wxr as wxr_module
from migrate.export.fields import FieldValue, FileItem, NestedItem, RawItem, StringItem
from migrate.export.fields import postmeta as field_postmeta
from migrate.export.records import (
    AuthorRecord,
    Body,
    CommentRecord,
    FileRecord,
    FileRef,
    NodeRecord,
    RedirectRecord,
    TermRecord,
    TermRef,
    VocabularyRecord,
)
from migrate.export.state import StateStore
from migrate.export.wxr import (
    ATTACHMENT_ID_OFFSET,
    CheckedFile,
    WxrWriter,
    _meta_xml,
    _SpanWriter,
    cdata,
    check_written,
)
from migrate.export.wxr_validate import WxrFile, read_wxr, title_date_key, validate_wxr


def _files(out: Path) -> list[Path]:
    return sorted(out.glob("wxr-*.xml"))


def _parsed(out: Path) -> list[WxrFile]:
    return [read_wxr(p) for p in _files(out)]


def _items(out: Path) -> list[Any]:
    return [item for wxr in _parsed(out) for item in wxr.items]


@pytest.fixture(scope="module")
def broken_wxr(broken_db: ConnectionSpec, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wxr") / "out"
    run_export(broken_db, out, to="wxr", batch_size=60, target_options=(("max_items", 25),))
    return out


def test_wxr_is_a_registered_target() -> None:
    assert {"wxr", "hugo"} <= set(writer_names())
    assert isinstance(get_writer("wxr"), WxrWriter)


def test_cdata_keeps_any_text_including_the_terminator() -> None:
    text = "a]]>b ]]]]> <![CDATA[ x ]]> \x00\x0b đ"
    root = etree.fromstring(f"<r>{cdata(text)}</r>".encode())
    assert root.text == text.replace("\x00", "").replace("\x0b", "")


def test_field_meta_a_worker_writes_is_the_meta_written_with_the_attachments_known() -> None:
    """A worker leaves a gap at each file value's ``wp_id`` (the attachments are the
    writer's state); filled in, the bytes are those of writing the meta whole, escaping
    included, and text that only looks like a ``wp_id`` stays as it is."""

    def image(fid: int, alt: str) -> FieldValue:
        return FieldValue("field_img", "image", "und", fid, FileItem(fid, None, alt=alt))

    inner = (image(1, "]]"), image(3, "x\x01"))
    values = (
        image(1, "a]]"),
        image(2, ">b"),
        FieldValue("field_para", "paragraphs", "vi", 0, NestedItem("p", 7, 7, "x", False, inner)),
        FieldValue("field_raw", "raw", "und", 0, RawItem({"wp_id": 5, "s": ', "wp_id": 9'})),
        FieldValue("field_mail", "email", "und", 0, StringItem(', "wp_id": 12}]]>')),
    )
    for attachments in ({}, {"1": {}, "3": {}}, {"1": {}, "2": {}, "3": {}}):
        out = _SpanWriter()
        out.meta([("_drupal_nid", "1")], values, "\t\t", "wp:postmeta")
        whole = _meta_xml(
            [
                ("_drupal_nid", "1"),
                *field_postmeta(
                    values,
                    lambda fid, a=attachments: (
                        ATTACHMENT_ID_OFFSET + fid if str(fid) in a else None
                    ),
                ),
            ]
        )
        assert out.spans().render(attachments) == whole.encode()
    # the four file values, the raw column's key and the email's text
    assert whole.count('"wp_id": ') == 6


def test_broken_fixture_round_trips(broken_wxr: Path, ground_truth: dict[str, Any]) -> None:
    counts = ground_truth["counts_broken"]
    assert validate_wxr(_files(broken_wxr)) == []
    parsed = _parsed(broken_wxr)
    assert all(len(w.items) <= 25 for w in parsed)
    assert len(parsed) > 8
    items = [i for w in parsed for i in w.items]
    posts = [i for i in items if i.post_type != "attachment"]
    assert sorted(i.post_id for i in posts) == list(range(1, counts["nodes"] + 1))
    assert {i.post_type for i in posts} == {"post", "page"}
    assert sum(i.post_type == "page" for i in posts) == counts["nodes_by_type"]["page"]
    assert sum(i.status == "draft" for i in posts) == counts["nodes_unpublished"]
    assert sum(len(i.comments) for i in posts) == counts["comments"]
    attachments = [i for i in items if i.post_type == "attachment"]
    assert len(attachments) == counts["file_managed"]
    assert all(i.attachment_url and i.attachment_url.startswith(BASE_URL) for i in attachments)
    last = parsed[-1]
    terms = {(t.taxonomy, t.slug) for t in last.terms}
    assert len(last.terms) == sum(v["terms"] for v in counts["vocabularies"].values())
    assert {t.taxonomy for t in last.terms} == {"category", "post_tag"}  # don_vi: a tag
    used = {(d, s) for i in posts for d, s, _ in i.terms}
    assert used <= terms
    for item in posts:
        assert item.meta("_drupal_nid") == [str(item.post_id)]
        assert item.meta("_drupal_path") == [f"node/{item.post_id}"]
        assert item.creator in last.authors


def test_threaded_comments_keep_their_parents(broken_wxr: Path) -> None:
    replies = 0
    for item in _items(broken_wxr):
        seen: set[int] = set()
        for c in item.comments:
            if c.parent:
                replies += 1
                assert c.parent in seen
            seen.add(c.comment_id)
    assert replies > 0


def test_main_image_is_the_thumbnail(broken_wxr: Path) -> None:
    items = _items(broken_wxr)
    attachment_ids = {i.post_id for i in items if i.post_type == "attachment"}
    thumbs = [int(v) for i in items for v in i.meta("_thumbnail_id")]
    assert thumbs
    assert set(thumbs) <= attachment_ids


def test_clean_fixture_exports_every_vocabulary(
    clean_db: ConnectionSpec, tmp_path: Path, ground_truth: dict[str, Any]
) -> None:
    out = tmp_path / "out"
    run_export(clean_db, out, to="wxr")
    assert validate_wxr(_files(out)) == []
    last = _parsed(out)[-1]
    assert len(last.terms) == ground_truth["counts_clean"]["terms_total_rows"]
    manifest = json.loads((out / "wxr-manifest.json").read_text(encoding="utf-8"))
    assert manifest["media"] == {"no_files_dir": ground_truth["counts_clean"]["file_managed"]}


# --------------------------------------------------------------------------- constructed records


def _vocab(vid: int, machine: str, hierarchy: int) -> VocabularyRecord:
    return VocabularyRecord(vid, machine, machine.title(), "", hierarchy, 0, machine)


def _term(tid: int, vocab: str, name: str, slug: str, parents: tuple[int, ...] = ()) -> TermRecord:
    return TermRecord(tid, 1, vocab, name, "", None, 0, parents, slug, f"/{vocab}/{slug}/")


def _node(nid: int, title: str, slug: str, created: int = 1_400_000_000, **kw: Any) -> NodeRecord:
    base: dict[str, Any] = {
        "nid": nid,
        "vid": nid,
        "type": "article",
        "target_type": "article",
        "language": "vi",
        "title": title,
        "slug": slug,
        "path": f"/{slug}/",
        "status": 1,
        "promote": 1,
        "sticky": 0,
        "created": created,
        "changed": created,
        "author": 1,
        "body": Body("<p>x</p>"),
    }
    base.update(kw)
    return NodeRecord(**base)


def _writer(out: Path, **extra: Any) -> WxrWriter:
    writer = WxrWriter()
    writer.begin(out, WriterOptions(base_url=BASE_URL, extra=extra))
    return writer


def test_title_and_date_collisions_are_resolved_and_reported(tmp_path: Path) -> None:
    writer = _writer(tmp_path)
    author = AuthorRecord(1, "biên tập", "Biên tập", 0, 1)
    nodes = [
        _node(1, "Thông báo", "thong-bao"),
        _node(2, "thong bao ", "thong-bao-2"),
        _node(3, "Thông báo", "thong-bao-3"),
    ]
    writer.write_batch(1, [author, *nodes])
    writer.finish({})
    items = _items(tmp_path)
    assert [i.post_date for i in items] == [
        "2014-05-13 16:53:20",
        "2014-05-13 16:53:21",
        "2014-05-13 16:53:22",
    ]
    assert validate_wxr(_files(tmp_path)) == []
    manifest = json.loads((tmp_path / "wxr-manifest.json").read_text(encoding="utf-8"))
    assert [s["id"] for s in manifest["date_shifts"]] == ["2", "3"]
    assert items[0].creator == "bien-tap"


def test_slugs_are_unique_ascii_and_never_contain_slashes(tmp_path: Path) -> None:
    writer = _writer(tmp_path)
    writer.write_batch(
        1,
        [
            _vocab(1, "chuyen_muc", 1),
            _term(1, "chuyen_muc", "Tin tức", "tin-tuc"),
            _term(2, "chuyen_muc", "Tin tức", "tin-tuc"),
            _node(1, "Đào tạo", "dao-tao", created=1),
            _node(2, "Đào tạo", "dao-tao", created=2),
            _node(3, "Tin/Bài", "tin/bai", created=3),
        ],
    )
    writer.settle()  # the files take their names once checked
    items = _items(tmp_path)
    assert [i.post_name for i in items] == ["dao-tao", "dao-tao-2", "tin-bai"]
    assert [t.slug for t in _parsed(tmp_path)[0].terms] == ["tin-tuc", "tin-tuc-2"]
    assert validate_wxr(_files(tmp_path)) == []


def test_parents_come_first_and_undefined_parents_become_top_level(tmp_path: Path) -> None:
    writer = _writer(tmp_path)
    writer.write_batch(
        1,
        [
            _vocab(1, "chuyen_muc", 1),
            _term(1, "chuyen_muc", "Tin tức", "tin-tuc"),
            _term(3, "chuyen_muc", "Hoạt động", "hoat-dong", parents=(1,)),
            _term(4, "chuyen_muc", "Mồ côi", "mo-coi", parents=(99,)),
            _term(5, "chuyen_muc", "Tuyển sinh", "tuyen-sinh", parents=(3, 1)),
            _node(1, "Bài", "bai", terms=(TermRef("f", "chuyen_muc", 5, "Tuyển sinh", "/"),)),
        ],
    )
    writer.finish({})
    wxr = _parsed(tmp_path)[0]
    order = [t.slug for t in wxr.terms]
    parents = {t.slug: t.parent for t in wxr.terms}
    assert order.index("tin-tuc") < order.index("hoat-dong") < order.index("tuyen-sinh")
    assert parents == {
        "tin-tuc": "",
        "hoat-dong": "tin-tuc",
        "mo-coi": "",
        "tuyen-sinh": "hoat-dong",
    }
    assert wxr.items[0].terms == [("category", "tuyen-sinh", "Tuyển sinh")]
    problems = json.loads((tmp_path / "wxr-manifest.json").read_text())["problems"]
    assert {p["id"] for p in problems if p["kind"] == "term"} == {"4", "5"}


def test_undeclared_authors_get_a_declared_stand_in(tmp_path: Path) -> None:
    writer = _writer(tmp_path)
    writer.write_batch(1, [_node(1, "Bài", "bai", author=7), _node(2, "Khách", "khach", author=0)])
    writer.settle()
    wxr = _parsed(tmp_path)[0]
    assert [i.creator for i in wxr.items] == ["drupal-user-7", "anonymous"]
    assert validate_wxr(_files(tmp_path)) == []


def test_raw_terminator_in_content_survives(tmp_path: Path) -> None:
    body = "<p>if (a[b[0]]>c) ]]> done</p>"
    comment = CommentRecord(5, 0, "01/", 0, "Khách", "Hỏi", Body("trả lời ]]>"), 1, 1, 1)
    writer = _writer(tmp_path)
    writer.write_batch(
        1, [_node(1, "Mã", "ma", body=Body(body, "tóm ]]> tắt"), comments=(comment,))]
    )
    writer.settle()
    item = _items(tmp_path)[0]
    assert item.content == body
    assert item.excerpt == "tóm ]]> tắt"
    assert item.comments[0].content == "trả lời ]]>"


def test_files_split_at_max_items_and_attachments_are_items(tmp_path: Path) -> None:
    writer = _writer(tmp_path, max_items=2)
    files = [
        FileRecord(
            i,
            f"public://a/{i}.jpg",
            f"{i}.jpg",
            "image/jpeg",
            1,
            1,
            1,
            1,
            f"a/{i}.jpg",
            None,
            None,
            None,
        )
        for i in (1, 2, 3)
    ]
    refs = writer.write_batch(1, files)
    assert not _files(tmp_path)  # an attachment waits for the node that uses it
    assert all(r.target.startswith(".wxr-state/") for r in refs)
    image = FileRef("field_image", 0, 2, "public://a/2.jpg", None, "image/jpeg", 1)
    other = _node(2, "Khác", "khac")
    writer.write_batch(2, [_node(1, "Ảnh", "anh", files=(image,)), other])
    writer.write_batch(3, [RedirectRecord("node/1", "/anh/", "node", 1, "system_path")])
    writer.finish({})
    # Node 1 and its attachment share a file even past max_items; node 2 goes on alone;
    # the files no node uses are written after the nodes, two to a file.
    assert [p.name for p in _files(tmp_path)] == [
        "wxr-00002-01.xml",
        "wxr-00002-02.xml",
        "wxr-00003-01.xml",
    ]
    first, second, rest = _parsed(tmp_path)
    assert [(i.post_id, i.parent) for i in first.items] == [(1, 0), (ATTACHMENT_ID_OFFSET + 2, 1)]
    assert [i.post_id for i in second.items] == [2]
    assert [(i.post_id, i.parent) for i in rest.items] == [
        (ATTACHMENT_ID_OFFSET + 1, 0),
        (ATTACHMENT_ID_OFFSET + 3, 0),
    ]
    assert first.items[0].meta("_thumbnail_id") == [str(ATTACHMENT_ID_OFFSET + 2)]
    assert validate_wxr(_files(tmp_path)) == []


def test_a_file_two_nodes_use_is_attached_once(tmp_path: Path) -> None:
    writer = _writer(tmp_path)
    writer.write_batch(
        1,
        [
            FileRecord(
                7, "public://a.jpg", "a.jpg", "image/jpeg", 1, 1, 1, 1, "a.jpg", None, None, None
            )
        ],
    )
    image = FileRef("field_image", 0, 7, "public://a.jpg", None, "image/jpeg", 1)
    writer.write_batch(
        2, [_node(1, "Một", "mot", files=(image,)), _node(2, "Hai", "hai", files=(image,))]
    )
    writer.finish({})
    items = _items(tmp_path)
    assert [(i.post_id, i.parent) for i in items] == [(1, 0), (ATTACHMENT_ID_OFFSET + 7, 1), (2, 0)]
    assert [i.meta("_thumbnail_id") for i in items if i.post_type == "post"] == [
        [str(ATTACHMENT_ID_OFFSET + 7)]
    ] * 2
    assert validate_wxr(_files(tmp_path)) == []


def test_resumed_writer_reuses_names_and_dates(tmp_path: Path) -> None:
    first = _writer(tmp_path)
    first.write_batch(1, [_node(1, "Tin", "tin"), _node(2, "Tin", "tin")])
    first.settle()  # batch 1 complete, as the engine marks it after settling
    again = _writer(tmp_path)
    again.discard_batch(2)
    again.write_batch(2, [_node(3, "Tin", "tin")])
    again.settle()
    items = _items(tmp_path)
    assert [i.post_name for i in items] == ["tin", "tin-2", "tin-3"]
    assert len({i.post_date for i in items}) == 3
    again.discard_batch(2)
    assert [i.post_id for i in _items(tmp_path)] == [1, 2]


def test_remove_drops_exactly_the_item(tmp_path: Path) -> None:
    writer = _writer(tmp_path)
    refs = writer.write_batch(1, [_node(1, "A", "a"), _node(2, "B", "b"), _node(3, "C", "c")])
    writer.remove([refs[2], refs[1]])
    assert [i.post_id for i in _items(tmp_path)] == [1]
    writer.remove([refs[1]])
    assert validate_wxr(_files(tmp_path)) == []
    writer.remove([refs[0]])
    assert _files(tmp_path) == []


# --------------------------------------------------------------------------- the validator

_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:wp="http://wordpress.org/export/1.2/"
 xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>
<wp:wxr_version>1.2</wp:wxr_version><wp:base_site_url>http://x</wp:base_site_url>
<wp:base_blog_url>http://x</wp:base_blog_url>
<wp:author><wp:author_login>a</wp:author_login></wp:author>
"""


def _item(pid: int, extra: str = "", title: str = "T", name: str = "", creator: str = "a") -> str:
    return (
        f"<item><title>{title}</title><dc:creator>{creator}</dc:creator>"
        f"<wp:post_id>{pid}</wp:post_id><wp:post_date>2014-01-01 00:00:00</wp:post_date>"
        f"<wp:post_name>{name or f'p{pid}'}</wp:post_name><wp:status>publish</wp:status>"
        f"<wp:post_type>post</wp:post_type>{extra}</item>"
    )


def _codes(tmp_path: Path, body: str) -> set[str]:
    path = tmp_path / "bad.xml"
    path.write_text(_HEAD + body + "</channel></rss>", encoding="utf-8")
    return {i.code for i in validate_wxr([path])}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (_item(1, '<category domain="category" nicename="x">X</category>'), "item_term_undefined"),
        (_item(1, '<category domain="category">X</category>'), "item_term_incomplete"),
        (
            "<wp:category><wp:category_nicename>c</wp:category_nicename>"
            "<wp:category_parent>p</wp:category_parent></wp:category>"
            "<wp:category><wp:category_nicename>p</wp:category_nicename></wp:category>",
            "term_parent_order",
        ),
        (
            "<wp:category><wp:category_nicename>c</wp:category_nicename></wp:category>"
            "<wp:category><wp:category_nicename>c</wp:category_nicename></wp:category>",
            "term_slug_duplicate",
        ),
        (_item(1) + _item(2), "title_date_collision"),
        (
            _item(1, title="A", name="same") + _item(2, title="B", name="same"),
            "post_name_duplicate",
        ),
        (_item(1, name="a/b"), "post_name_slash"),
        (_item(1, "<content:encoded><![CDATA[x]]>y]]></content:encoded>"), "cdata"),
        (_item(1, creator="ghost"), "author_undeclared"),
        (
            _item(
                1,
                "<wp:comment><wp:comment_id>2</wp:comment_id>"
                "<wp:comment_parent>3</wp:comment_parent></wp:comment>",
            ),
            "comment_parent",
        ),
    ],
)
def test_validator_catches_what_the_importer_would_silently_repair(
    tmp_path: Path, body: str, code: str
) -> None:
    assert code in _codes(tmp_path, body)


def test_validator_accepts_a_minimal_good_file(tmp_path: Path) -> None:
    assert _codes(tmp_path, _item(1)) == set()


def _attachment(pid: int) -> str:
    return (
        f"<item><title>f{pid}</title><dc:creator>a</dc:creator>"
        f"<wp:post_id>{pid}</wp:post_id><wp:post_date>2014-01-02 00:00:00</wp:post_date>"
        f"<wp:post_name>f{pid}</wp:post_name><wp:status>inherit</wp:status>"
        "<wp:post_type>attachment</wp:post_type>"
        f"<wp:attachment_url>http://x/f{pid}.jpg</wp:attachment_url></item>"
    )


def test_validator_checks_across_files_one_item_at_a_time(tmp_path: Path) -> None:
    """Files are checked in order against the ones before (ids, names, title+date), and a
    thumbnail may name an attachment of any file of the set, even a later one."""
    thumb = (
        "<wp:postmeta><wp:meta_key>_thumbnail_id</wp:meta_key>"
        "<wp:meta_value>{}</wp:meta_value></wp:postmeta>"
    )
    files = []
    for number, body in enumerate(
        [
            _item(1, thumb.format(9), title="A"),
            _item(1, title="B", name="other") + _item(2, thumb.format(8), title="C"),
            _attachment(9),
        ],
        1,
    ):
        files.append(tmp_path / f"wxr-{number}.xml")
        files[-1].write_text(_HEAD + body + "</channel></rss>", encoding="utf-8")
    issues = validate_wxr(files)
    assert sorted((i.file, i.code) for i in issues) == [
        ("wxr-2.xml", "post_id_duplicate"),
        ("wxr-2.xml", "thumbnail_missing"),
    ]
    assert "wxr-2.xml item 2 _thumbnail_id 8" in str(issues[-1])


# --------------------------------------------------------------------------- kill and resume


def _args(spec: ConnectionSpec, out: Path) -> list[str]:
    return [
        "export",
        "--db",
        url_of(spec),
        "--out",
        str(out),
        "--to",
        "wxr",
        "--batch-size",
        "3",
        "--max-items",
        "2",
        "--include-unpublished",
        "--base-url",
        BASE_URL,
        "--format",
        "json",
    ]


_CHECKED_IN_THIS_PROCESS: list[str] = []


def _third_file_fails(tmp: Path) -> CheckedFile:
    """``check_written`` as if the writer had a bug that shows in the third file it wrote."""
    _CHECKED_IN_THIS_PROCESS.append(tmp.name)
    if len(_CHECKED_IN_THIS_PROCESS) == 3:
        return CheckedFile("", [], [], "a defect planted by the test")
    return check_written(tmp)


def test_a_file_failing_its_check_leaves_its_batch_to_be_redone(
    broken_db: ConnectionSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files are checked in another process while the next batch is built, so a batch is
    marked complete only once its files passed and took their names: a failed check
    stops the run with no file of that batch or a later one in place, and the next run
    redoes them."""
    out = tmp_path / "wxr"
    monkeypatch.setattr(wxr_module, "check_written", _third_file_fails)
    with pytest.raises(MigrateError, match=r"WXR validation failed for (wxr-\d+-01\.xml)") as exc:
        run_export(broken_db, out, to="wxr", batch_size=40)
    failed = re.search(r"wxr-\d+-01\.xml", str(exc.value))
    assert failed is not None
    landed = sorted(p.name for p in out.glob("wxr-*.xml"))
    assert len(landed) == 2 and all(name < failed.group() for name in landed)
    assert not list(out.glob(".*.tmp"))
    with StateStore(out, create=False) as state:
        batches = {b.batch_no: b.status for b in state.batches()}
    failed_batch = int(failed.group()[4:9])
    assert all(status != "complete" for no, status in batches.items() if no >= failed_batch)
    monkeypatch.undo()
    summary = run_export(broken_db, out, to="wxr", batch_size=40)
    assert summary.reconciliation is not None and summary.reconciliation.reconciled
    ids = [i.post_id for i in _items(out)]
    assert len(ids) == len(set(ids))
    assert len([i for i in ids if i < ATTACHMENT_ID_OFFSET]) == 218


def test_sigkill_mid_export_resumes_without_duplicates(
    broken_db: ConnectionSpec, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    proc = cli(*_args(broken_db, victim))
    deadline = time.monotonic() + 120
    # 142 files make 96 attachment files at 3 per batch and 2 per file: kill among the nodes.
    while len(list(victim.glob("wxr-*.xml"))) < 130:
        assert proc.poll() is None, "the export finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resumed = cli(*_args(broken_db, victim))
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err.decode()
    assert validate_wxr(_files(victim)) == []
    items = _items(victim)
    ids = [i.post_id for i in items]
    assert len(ids) == len(set(ids))
    assert len([i for i in ids if i < ATTACHMENT_ID_OFFSET]) == 218
    assert not list(victim.glob(".*.tmp"))


def test_validate_wxr_command(broken_wxr: Path, tmp_path: Path) -> None:
    good = CliRunner().invoke(main, ["validate-wxr", *map(str, _files(broken_wxr))])
    assert good.exit_code == 0, good.output
    bad = tmp_path / "bad.xml"
    bad.write_text(_HEAD + _item(1) + _item(2) + "</channel></rss>", encoding="utf-8")
    result = CliRunner().invoke(main, ["validate-wxr", str(bad)])
    assert result.exit_code == 1
    assert "title_date_collision" in result.output


def test_a_file_parsed_again_keeps_its_findings_for_the_next_run(
    broken_db: ConnectionSpec, tmp_path: Path
) -> None:
    """Findings kept for other bytes or another version of the code are not used: the
    file is parsed again, once, and what that parse found is kept again (a re-run after an
    upgrade parsed every earlier file in ``finish`` and in the read-back on every run)."""
    out = tmp_path / "wxr"
    run_export(broken_db, out, to="wxr")
    kept = sorted((out / ".wxr-state").glob("*/wxr-*.json"))
    assert {p.parent.name for p in kept} == {"checked", "read"}
    for path in kept:
        path.unlink()
    # As after an upgrade: the writer's kept index (and its check) is not for this code.
    (out / ".wxr-state" / "index.sqlite.sealed").unlink()
    rec = run_export(broken_db, out, to="wxr", update=True).reconciliation
    assert rec is not None and rec.reconciled
    assert sorted((out / ".wxr-state").glob("*/wxr-*.json")) == kept


def test_the_writers_index_commits_as_it_goes(
    broken_db: ConnectionSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index commits every ``COMMIT_EVERY`` rows, with the cross-file check's rows in
    the same transaction (a check that committed it broke every export past 5,000 rows)."""
    from migrate.export import wxr

    monkeypatch.setattr(wxr, "COMMIT_EVERY", 3)
    out = tmp_path / "wxr"
    summary = run_export(broken_db, out, to="wxr")
    assert summary.reconciliation is not None and summary.reconciliation.reconciled
    assert validate_wxr(_files(out)) == []


def _post_slots(out: Path) -> dict[str, Any]:
    """Every post's slot (name, date shift) as the batch states on disk hold them."""
    slots: dict[str, Any] = {}
    for path in sorted((out / ".wxr-state").glob("batch-*.json")):
        slots.update(json.loads(path.read_text(encoding="utf-8")).get("posts", {}))
    return slots


def test_an_edited_post_keeps_its_slot_on_disk(
    broken_db_rw: ConnectionSpec, tmp_path: Path
) -> None:
    """A node whose body changed is rewritten under its old name and date; its slot stays
    in the batch states, so a rebuilt state still holds that name and title+date taken.
    (It was dropped with the old item's state: a new post of the same title and date
    would then have gone unshifted, and the importer would have skipped it.)"""
    out = tmp_path / "wxr"
    run_export(broken_db_rw, out, to="wxr")
    before = _post_slots(out)
    [(nid,)] = query(broken_db_rw, "SELECT MIN(nid) FROM node WHERE status = 1")
    run_sql(
        broken_db_rw,
        "UPDATE field_data_body SET body_value = CONCAT(body_value, '<p>sửa</p>')"
        f" WHERE entity_type = 'node' AND entity_id = {nid}",
        "UPDATE field_revision_body SET body_value = CONCAT(body_value, '<p>sửa</p>')"
        f" WHERE entity_type = 'node' AND entity_id = {nid}",
    )
    summary = run_export(broken_db_rw, out, to="wxr", update=True)
    assert summary.updated["node"] == 1
    after = _post_slots(out)
    assert after == before
    writer = WxrWriter()
    writer.begin(out, WriterOptions())  # the state as the next run rebuilds it
    slot = after[str(nid)]
    assert not writer.state.index.reserve(f"post:{slot['type']}", slot["slug"])
    key = title_date_key(slot["type"], slot["title"], slot["date"])
    assert not writer.state.index.add_title_date(key)
