"""Hugo: the exported fixture builds with Debian's hugo; every node, alias and term has its page."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from export_helpers import hugo_node_page, hugo_node_pages, run_export, run_hugo_export
from hugo_build import build_hugo

from migrate import api
from migrate.config import ConnectionSpec
from migrate.export import _REGISTRY, WriterOptions, register_writer
from migrate.export.hugo import HugoWriter, front_matter
from migrate.export.records import Body, NodeRecord, PreparedRecord
from migrate.export.wxr_validate import read_wxr, validate_wxr

MAPPING = Path(__file__).resolve().parents[2] / "mappings" / "drupal7-vn.yml"

MISSING = 2
"""Files the synthetic files directory leaves out, to see them reported."""


def _front(path: Path) -> tuple[dict[str, Any], str]:
    text = path.read_text(encoding="utf-8")
    _, head, body = text.split("+++\n", 2)
    return tomllib.loads(head), body


def _make_files_dir(spec: ConnectionSpec, root: Path) -> dict[str, int]:
    """A stand-in sites/default/files: every public file with its recorded size, but two."""
    with api.connect(spec) as site:
        rows = site.source.rows("SELECT uri, filesize FROM {file_managed} ORDER BY fid")
    made: dict[str, int] = {}
    for uri, size in rows[MISSING:]:
        rel = str(uri).removeprefix("public://")
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(i % 251 for i in range(int(size))))
        made[rel] = int(size)
    return made


@pytest.fixture(scope="module")
def hugo_site(
    broken_db: ConnectionSpec, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    root = tmp_path_factory.mktemp("hugo")
    files = root / "files"
    _make_files_dir(broken_db, files)
    out = root / "site"
    run_hugo_export(broken_db, out, batch_size=40, files_dir=files)
    public = root / "public"
    return out, public, build_hugo(out, public)


def test_build_is_green(hugo_site: tuple[Path, Path, subprocess.CompletedProcess[str]]) -> None:
    _, _, built = hugo_site
    assert built.returncode == 0, built.stderr
    output = built.stdout + built.stderr
    assert not re.search(r"\b(WARN|ERROR)\b", output), output


def test_every_node_has_its_page(
    hugo_site: tuple[Path, Path, subprocess.CompletedProcess[str]], ground_truth: dict[str, Any]
) -> None:
    out, public, _ = hugo_site
    pages = hugo_node_pages(out)
    assert len(pages) == ground_truth["counts_broken"]["nodes"]
    nids = set()
    for folder, path in pages.items():
        front, _ = _front(path)
        nids.add(front["drupal_nid"])
        page = public / folder / "index.html"
        assert page.is_file(), page
        assert front["slug"].isascii()
    assert len(nids) == len(pages)
    # One file per page, and a bundle only for a page with image copies beside it.
    bundles = [p for p in pages.values() if p.name == "index.md"]
    assert 0 < len(bundles) < len(pages)
    assert all(len(list(p.parent.iterdir())) > 1 for p in bundles)


def test_every_alias_has_a_redirect_page(
    hugo_site: tuple[Path, Path, subprocess.CompletedProcess[str]], ground_truth: dict[str, Any]
) -> None:
    out, public, _ = hugo_site
    aliases = 0
    terms = {
        p.parent.relative_to(out / "content").as_posix(): p
        for p in out.glob("content/**/_index.md")
    }
    for folder, path in [*hugo_node_pages(out).items(), *terms.items()]:
        front, _ = _front(path)
        url = "/" + folder + "/"
        for alias in front.get("aliases", []):
            assert alias.startswith("/")
            page = public / alias.strip("/") / "index.html"
            assert page.is_file(), alias
            assert f'url={url}"' in page.read_text(encoding="utf-8").replace(
                "http://www.example.edu.vn", ""
            )
            aliases += 1
    counts = ground_truth["counts_broken"]
    # node/N for every node, taxonomy/term/N for every term, and every stored alias that
    # points at exported content and differs from the new URL.
    assert aliases >= counts["nodes"] + counts["url_aliases_node"]


def test_every_term_has_its_taxonomy_page(
    hugo_site: tuple[Path, Path, subprocess.CompletedProcess[str]], ground_truth: dict[str, Any]
) -> None:
    out, public, _ = hugo_site
    config = tomllib.loads((out / "hugo.toml").read_text(encoding="utf-8"))
    taxonomies = set(config["taxonomies"].values())
    assert taxonomies == {"chuyen-muc", "don-vi", "tags"}
    terms = [p for t in taxonomies for p in (out / "content" / t).glob("*/_index.md")]
    expected = sum(v["terms"] for v in ground_truth["counts_broken"]["vocabularies"].values())
    assert len(terms) == expected
    for term in terms:
        front, _ = _front(term)
        assert (public / term.parent.relative_to(out / "content") / "index.html").is_file()
        assert f"/taxonomy/term/{front['drupal_tid']}" in front["aliases"]


def test_images_are_copied_into_bundles_and_missing_files_reported(
    hugo_site: tuple[Path, Path, subprocess.CompletedProcess[str]],
) -> None:
    out, public, _ = hugo_site
    with_images = 0
    for bundle in hugo_node_pages(out).values():
        front, body = _front(bundle)
        for name in front.get("images", []):
            assert (bundle.parent / name).is_file()
            with_images += 1
        for src in re.findall(r'<img[^>]*src="([^"]+)"', body):
            if not src.startswith(("/files/", "http")):
                assert (bundle.parent / src).is_file(), src
    assert with_images > 0
    report = (out / "media-report.csv").read_text(encoding="utf-8").splitlines()
    assert sum(",missing," in line for line in report) == MISSING
    assert sum(",copied," in line for line in report) == len(report) - 1 - MISSING
    assert (public / "files").is_dir()


def test_front_matter_survives_any_title() -> None:
    title = 'Nhà "A"\\B\n+++ ]]> đ'
    data = tomllib.loads(front_matter({"title": title}).split("+++\n")[1])
    assert data["title"] == title


def test_markdown_bodies(tmp_path: Path) -> None:
    writer = HugoWriter()
    writer.begin(tmp_path, WriterOptions(extra={"markdown": True}))
    node = NodeRecord(
        nid=1, vid=1, type="article", target_type="article", language="vi",
        title="Tin", slug="tin", path="/article/tin/", status=1, promote=0, sticky=0,
        created=1_400_000_000, changed=1_400_000_000, author=1,
        body=Body("<h2>Mục</h2><p>Đoạn <strong>đậm</strong></p>"),
    )  # fmt: skip
    writer.write_batch(1, [node])
    writer.finish({})
    front, body = _front(hugo_node_page(tmp_path, "article/tin"))
    assert "markup" not in front
    assert "## Mục" in body and "**đậm**" in body
    built = build_hugo(tmp_path, tmp_path / "public")
    assert built.returncode == 0, built.stderr
    assert "<h2" in (tmp_path / "public/article/tin/index.html").read_text(encoding="utf-8")


def test_repaired_fixture_exports_to_both_targets(
    broken_db_rw: ConnectionSpec, tmp_path: Path, ground_truth: dict[str, Any]
) -> None:
    plan = api.plan_repair(broken_db_rw, MAPPING)
    api.apply_repair(broken_db_rw, plan, yes=True, journal=tmp_path / "journal.jsonl")
    with api.connect(broken_db_rw) as site:
        terms = site.source.scalar(
            "SELECT COUNT(*) FROM {taxonomy_term_data} t"
            " JOIN {taxonomy_vocabulary} v ON v.vid = t.vid"
        )
    wxr = tmp_path / "wxr"
    run_export(broken_db_rw, wxr, to="wxr")
    files = sorted(wxr.glob("wxr-*.xml"))
    assert validate_wxr(files) == []
    assert len(read_wxr(files[-1]).terms) == terms
    hugo = tmp_path / "hugo"
    run_hugo_export(broken_db_rw, hugo)
    built = build_hugo(hugo, tmp_path / "public")
    assert built.returncode == 0, built.stderr
    assert not re.search(r"\b(WARN|ERROR)\b", built.stdout + built.stderr)
    assert len(list(hugo.glob("content/*/*/_index.md"))) == terms
    assert len(hugo_node_pages(hugo)) == ground_truth["counts_broken"]["nodes"]


def _page_node(nid: int, path: str, body: str = "<p>x</p>") -> NodeRecord:
    return NodeRecord(
        nid=nid, vid=nid, type="article", target_type="article", language="vi",
        title=f"Tin {nid}", slug=f"tin-{nid}", path=path, status=1, promote=0, sticky=0,
        created=1, changed=1, author=1, body=Body(body),
    )  # fmt: skip


def test_a_page_is_one_file_unless_it_holds_images(tmp_path: Path) -> None:
    """A page without images is ``<folder>.md``; with images (or named ``index``, which
    as a file would make Hugo read its whole folder as one bundle) it is a bundle. A page
    that gains an image moves into a bundle, and a link at a page's path is replaced,
    never written through."""
    files = tmp_path / "files"
    files.mkdir()
    (files / "anh.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    out = tmp_path / "out"
    (out / "content" / "article").mkdir(parents=True)
    outside = tmp_path / "outside.txt"
    outside.write_text("theirs", encoding="utf-8")
    (out / "content" / "article" / "linked.md").symlink_to(outside)
    writer = HugoWriter()
    writer.begin(out, WriterOptions(files_dir=files))
    image = '<p><img src="/files/anh.png" alt="a"></p>'
    first = [
        _page_node(1, "/article/tin/"),
        _page_node(2, "/article/index/"),
        _page_node(3, "/article/anh/", image),
        _page_node(4, "/article/linked/"),
    ]
    writer.write_batch(1, first)
    content = out / "content" / "article"
    assert (content / "tin.md").is_file() and not (content / "tin").exists()
    assert (content / "index" / "index.md").is_file() and not (content / "index.md").exists()
    assert sorted(p.name for p in (content / "anh").iterdir()) == ["anh.png", "index.md"]
    assert not (content / "linked.md").is_symlink()
    assert outside.read_text(encoding="utf-8") == "theirs"
    writer.write_batch(2, [_page_node(1, "/article/tin/", image)])
    writer.finish({})
    assert not (content / "tin.md").exists()
    assert sorted(p.name for p in (content / "tin").iterdir()) == ["anh.png", "index.md"]
    built = build_hugo(out, tmp_path / "public")
    assert built.returncode == 0, built.stderr
    for folder in ("tin", "index", "anh", "linked"):
        page = tmp_path / "public" / "article" / folder / "index.html"
        assert page.is_file(), folder
    assert (tmp_path / "public" / "article" / "tin" / "anh.png").is_file()
    assert hugo_node_pages(out).keys() == {
        f"article/{f}" for f in ("tin", "index", "anh", "linked")
    }


def test_aliases_are_decoded_paths(tmp_path: Path) -> None:
    writer = HugoWriter()
    writer.begin(tmp_path, WriterOptions())
    node = NodeRecord(
        nid=1, vid=1, type="article", target_type="article", language="vi",
        title="Tin", slug="tin", path="/article/tin/", status=1, promote=0, sticky=0,
        created=1, changed=1, author=1, body=Body("<p>x</p>"),
        aliases=("tin-tức/bài viết", "tin%20a/b%C3%A0i", "article/tin"),
    )  # fmt: skip
    writer.write_batch(1, [node])
    front, _ = _front(hugo_node_page(tmp_path, "article/tin"))
    assert front["aliases"] == ["/node/1", "/tin-tức/bài viết", "/tin a/bài"]
    built = build_hugo(tmp_path, tmp_path / "public")
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "public/tin-tức/bài viết/index.html").is_file()


@dataclass(frozen=True)
class _InWhichProcess:
    """A ``prepare_node`` that also says which process ran it."""

    inner: Any

    def __call__(self, record: NodeRecord) -> tuple[int, Any]:
        return os.getpid(), self.inner(record)


@pytest.fixture
def tagging_writer() -> Iterator[tuple[str, set[int]]]:
    """The Hugo writer, noting the processes that prepared the pages it is given."""
    pids: set[int] = set()

    @register_writer("hugo-tagged")
    class Tagged(HugoWriter):
        reads_back_as = "hugo"

        def begin(self, out_dir: Path, options: WriterOptions) -> None:
            super().begin(out_dir, options)
            self.prepare_node = _InWhichProcess(self.prepare_node)  # type: ignore[assignment]

        def write_batch(self, batch_no: int, records: Any) -> Any:
            plain = []
            for r in records:
                if isinstance(r, PreparedRecord):
                    pid, value = r.value
                    pids.add(pid)
                    r = PreparedRecord(r.KIND, r.key, value, r.digest, r.detail)
                plain.append(r)
            return super().write_batch(batch_no, plain)

    yield "hugo-tagged", pids
    _REGISTRY.pop("hugo-tagged")


def test_pages_are_prepared_in_the_workers_as_they_would_be_here(
    broken_db: ConnectionSpec, tagging_writer: tuple[str, set[int]], tmp_path: Path
) -> None:
    name, pids = tagging_writer
    run_export(broken_db, tmp_path / "workers", to=name, batch_size=20, workers=2)
    assert pids and os.getpid() not in pids
    run_hugo_export(broken_db, tmp_path / "serial", batch_size=20, workers=0)
    pages = {
        str(p.relative_to(tmp_path / "serial")): p.read_bytes()
        for p in sorted((tmp_path / "serial" / "content").rglob("*.md"))
    }
    assert len(pages) > 20
    for rel, text in pages.items():
        assert (tmp_path / "workers" / rel).read_bytes() == text, rel
