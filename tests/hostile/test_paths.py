"""Path traversal and symbolic links: nothing outside --files-dir is read, nothing outside --out
is written or removed, in every target and by ``rollback``; every refused file is listed.

One hostile site is exported once per target (module-scoped): ``file_managed.uri`` of
one file per case is rewritten by SQL to a traversal, an absolute or Windows path, a
NUL byte, a long name, a ``private://`` traversal..., and the files folder holds links
that leave it or lead into the private files folder. The victim files sit next to the
files folder and the output; the tree is fingerprinted before and checked after
every case. The Hugo site is built by the real ``hugo``.
"""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from harness import (
    TreeGuard,
    assert_no_traceback,
    assert_one_line_error,
    run_cli,
)
from sites import BROKEN_DUMP, OLD_URL, db_url, execute, make_files_dir, set_variable

from migrate import paths

VICTIM = b"must survive\n"
SECRET = b"must never be published\n"
TARGETS = ("jsonl", "wxr", "hugo")


@dataclass(frozen=True)
class Case:
    name: str
    uri: str
    status: str
    reason: str


def _cases(root: Path) -> list[Case]:
    """Every hostile file URI, with the status and (part of) the reason it must be given."""
    up = "../" * 40
    return [
        Case("dotdot", "public://../../../../victim/victim.txt", paths.UNSAFE, "dots"),
        Case("deep_dotdot", f"public://{up}{root}/victim/victim.txt", paths.UNSAFE, "dots"),
        Case(
            "mid_dotdot",
            "public://field/image/../../../../../victim/victim.txt",
            "unsafe_path",
            "dots",
        ),
        Case("absolute", f"public:///{root}/victim/secret.txt", paths.UNSAFE, "absolute"),
        Case("etc_hostname", "public:///etc/hostname", paths.UNSAFE, "absolute"),
        Case("backslash", "public://..\\..\\..\\..\\victim\\victim.txt", paths.UNSAFE, "backslash"),
        Case(
            "percent_dots",
            "public://%2e%2e/%2e%2e/%2e%2e/%2e%2e/victim/victim.txt",
            paths.UNSAFE,
            "dots",
        ),
        Case(
            "percent_slash",
            "public://..%2f..%2f..%2f..%2fvictim/victim.txt",
            paths.UNSAFE,
            "separator",
        ),
        Case(
            "nul", "public://field/a.jpg\x00/../../../../../victim/victim.txt", paths.UNSAFE, "NUL"
        ),
        Case("long_name", "public://" + "a" * 300 + ".jpg", paths.UNSAFE, "255 bytes"),
        Case("long_path", "public://" + "/".join(["b" * 200] * 12), paths.UNSAFE, "2048 bytes"),
        Case("dots_only", "public://...", paths.UNSAFE, "only of dots"),
        Case("single_dot", "public://./field", paths.UNSAFE, "only of dots"),
        Case("windows_drive", "public://C:/victim/victim.txt", paths.UNSAFE, "drive"),
        Case("windows_unc", "public://\\\\server\\share\\x.jpg", paths.UNSAFE, "backslash"),
        Case("empty_segment", "public://field//x.jpg", paths.UNSAFE, "empty path segment"),
        Case(
            "private_traversal",
            "private://../../../../victim/secret.txt",
            paths.PRIVATE_FILE,
            "private",
        ),
        Case("file_scheme", "file:///etc/hostname", paths.UNSUPPORTED, "file:///etc/hostname"),
        Case("link_file_out", "public://link-out.txt", paths.OUTSIDE, "symbolic link"),
        Case("link_dir_out", "public://dir-out/secret.txt", paths.OUTSIDE, "symbolic link"),
        Case("link_etc", "public://etc-link/hostname", paths.OUTSIDE, "symbolic link"),
        Case(
            "private_folder",
            "public://private/hoso.pdf",
            paths.INTO_PRIVATE,
            "private files folder",
        ),
        Case(
            "link_into_private",
            "public://bang-diem.pdf",
            paths.INTO_PRIVATE,
            "private files folder",
        ),
        Case("link_loop", "public://loop/x.jpg", paths.UNSAFE, "cannot resolve"),
        Case("link_inside", "public://inside-link.jpg", paths.OK, ""),
    ]


CASE_NAMES = [c.name for c in _cases(Path("/r"))]


def _hostile_aliases(root: Path) -> list[tuple[str, str]]:
    """URL aliases that would put a redirect page outside the site, as Hugo writes them."""
    up = "../" * 40
    return [
        ("node/1", "../../victim/pwned-relative"),
        ("node/2", f"{up}{root}/victim/pwned-absolute"),
        ("node/3", "tin-tuc/..%2f..%2f..%2fvictim/pwned-encoded"),
        ("node/4", "a\x00/../../../victim/pwned-nul"),
        ("node/5", "..\\..\\victim\\pwned-backslash"),
    ]


@dataclass
class Exported:
    db: str
    root: Path
    files: Path
    guard: TreeGuard
    cases: dict[str, tuple[int, Case]]
    """case name → (fid, case)."""
    results: dict[str, Any]
    """target → the CLI result of its export."""

    def out(self, target: str) -> Path:
        return self.root / "out" / target


def _files_tree(files: Path, root: Path, inside_target: str) -> None:
    (files / "private").mkdir()
    (files / "private" / "hoso.pdf").write_bytes(b"private grades\n")
    (files / "link-out.txt").symlink_to(root / "victim" / "secret.txt")
    (files / "dir-out").symlink_to(root / "victim")
    (files / "etc-link").symlink_to("/etc")
    (files / "bang-diem.pdf").symlink_to("private/hoso.pdf")
    (files / "loop").symlink_to("loop")
    (files / "inside-link.jpg").symlink_to(inside_target)


@pytest.fixture(scope="module")
def exported(databases: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exported]:
    """The hostile site exported to every target, and the Hugo site built, once."""
    root = tmp_path_factory.mktemp("paths")
    (root / "victim").mkdir()
    (root / "victim" / "victim.txt").write_bytes(VICTIM)
    (root / "victim" / "secret.txt").write_bytes(SECRET)
    spec = databases.create(BROKEN_DUMP)
    files = root / "drupal" / "sites" / "default" / "files"
    made = make_files_dir(spec, files)
    first = sorted(made)[0]
    _files_tree(files, root, first)
    set_variable(spec, "file_private_path", "sites/default/files/private")
    # a hand-widened column: Drupal's 255 characters cannot hold the long-path case
    execute(spec, "ALTER TABLE file_managed MODIFY uri VARCHAR(4000) BINARY NOT NULL")
    cases: dict[str, tuple[int, Case]] = {}
    for fid, case in enumerate(_cases(root), start=1):
        execute(spec, "UPDATE file_managed SET uri = %s WHERE fid = %s", (case.uri, fid))
        if case.status == paths.OK:
            size = made[first]
            execute(spec, "UPDATE file_managed SET filesize = %s WHERE fid = %s", (size, fid))
        cases[case.name] = (fid, case)
    for source, alias in _hostile_aliases(root):
        execute(
            spec,
            "INSERT INTO url_alias (source, alias, language) VALUES (%s, %s, 'und')",
            (source, alias),
        )
    (root / "out").mkdir()
    guard = TreeGuard(root, root / "out")
    results: dict[str, Any] = {}
    for target in TARGETS:
        results[target] = run_cli(
            "export",
            "--db",
            db_url(spec),
            "--to",
            target,
            "--out",
            str(root / "out" / target),
            "--files-dir",
            str(files),
            "--old-url",
            OLD_URL,
        )
    yield Exported(db_url(spec), root, files, guard, cases, results)
    guard.assert_unchanged()


def _media_rows(out: Path) -> dict[int, dict[str, str]]:
    with (out / "media-report.csv").open(encoding="utf-8", newline="") as fh:
        return {int(row["fid"]): row for row in csv.DictReader(fh)}


def _jsonl_files(out: Path) -> dict[int, dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    for path in sorted((out / "files").glob("batch-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            data = json.loads(line)
            found[int(data["fid"])] = data
    return found


def _holds_victim(tree: Path) -> list[str]:
    """Files under ``tree`` whose bytes are a victim's (a copy made through a hole)."""
    return [
        str(p)
        for p in tree.rglob("*")
        if p.is_file() and not p.is_symlink() and p.read_bytes() in (VICTIM, SECRET)
    ]


@pytest.mark.parametrize("target", TARGETS)
def test_the_hostile_export_succeeds_and_copies_nothing_from_outside(
    exported: Exported, target: str
) -> None:
    result = exported.results[target]
    assert_no_traceback(result)
    assert result.code == 0, result.stderr[-2000:]
    out = exported.out(target)
    assert _holds_victim(out) == []
    assert not any(p.is_symlink() for p in out.rglob("*")), "a link was copied as a link"
    exported.guard.assert_unchanged()


@pytest.mark.parametrize("name", CASE_NAMES)
@pytest.mark.parametrize("target", TARGETS)
def test_each_refused_file_is_listed_with_its_reason(
    exported: Exported, target: str, name: str
) -> None:
    fid, case = exported.cases[name]
    out = exported.out(target)
    if target == "jsonl":
        record = _jsonl_files(out)[fid]
        details = " ".join(p["detail"] for p in record.get("problems", []))
        if case.status == paths.OK:
            assert record["exported_path"] and details == ""
            copy = out / record["exported_path"]
            assert copy.read_bytes() == (exported.files / record["relative_path"]).read_bytes()
        else:
            assert record["exported_path"] is None and record["url"] is None, record
            assert case.reason.lower() in details.lower(), details
    else:
        row = _media_rows(out)[fid]
        if case.status == paths.OK:
            assert row["status"] == "copied", row
        else:
            assert (row["status"], row["dest"]) == (case.status, ""), row
            assert case.reason.lower() in row["detail"].lower(), row
            manifest = "wxr-manifest.json" if target == "wxr" else "hugo-manifest.json"
            problems = json.loads((out / manifest).read_text(encoding="utf-8"))["problems"]
            assert any(str(p.get("id")) == str(fid) for p in problems), f"fid {fid} not listed"
    exported.guard.assert_unchanged()


def test_wxr_writes_no_attachment_for_a_refused_file(exported: Exported) -> None:
    text = "".join(p.read_text(encoding="utf-8") for p in exported.out("wxr").glob("wxr-*.xml"))
    for name, (fid, case) in exported.cases.items():
        meta = f"<wp:meta_value><![CDATA[{fid}]]></wp:meta_value>"
        written = f"<wp:meta_key><![CDATA[_drupal_fid]]></wp:meta_key>\n\t\t\t{meta}" in text
        assert written == (case.status == paths.OK), name
    assert VICTIM.decode() not in text and SECRET.decode() not in text


def test_the_built_hugo_site_publishes_nothing_from_outside(exported: Exported) -> None:
    hugo = shutil.which("hugo")
    if hugo is None:
        pytest.fail("hugo is needed (apt-get install hugo)")
    public = exported.root / "out" / "hugo-public"
    built = subprocess.run(
        [hugo, "--source", str(exported.out("hugo")), "--destination", str(public)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    assert len(list(public.rglob("*.html"))) > 100
    assert _holds_victim(public) == []
    assert not (public / "files" / "private").exists()
    assert not list((exported.root / "victim").glob("pwned-*")), "an alias escaped the site"
    problems = (exported.out("hugo") / "hugo-manifest.json").read_text(encoding="utf-8")
    assert problems.count("no redirect page") >= 3
    exported.guard.assert_unchanged()


def _copy_out(exported: Exported, target: str, name: str) -> Path:
    copy = exported.root / "out" / name
    shutil.copytree(exported.out(target), copy, symlinks=True)
    return copy


@pytest.mark.parametrize("target", TARGETS)
def test_rollback_all_removes_only_inside_out(exported: Exported, target: str) -> None:
    out = _copy_out(exported, target, f"rollback-{target}")
    result = run_cli("rollback", str(out), "--all")
    assert_no_traceback(result)
    assert result.code == 0, result.stderr
    if target == "jsonl":
        assert not list((out / "media").rglob("*.*")), "media copies left after rollback"
    exported.guard.assert_unchanged()


def _poison_jsonl_batch(out: Path, exported_path: str) -> None:
    """A bundle edited by hand: one file record names a path of the editor's choosing."""
    batch = sorted((out / "files").glob("batch-*.jsonl"))[0]
    lines = batch.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    first["exported_path"] = exported_path
    lines[0] = json.dumps(first, ensure_ascii=False)
    batch.write_text("\n".join(lines) + "\n", encoding="utf-8")


POISONED_PATHS = [
    ("media_dotdot", "media/../../../victim/victim.txt", "dots"),
    ("absolute", "{root}/victim/victim.txt", "not under media/"),
    ("state_file", "state.sqlite", "not under media/"),
    ("media_nul", "media/x\x00/../../../victim/victim.txt", "NUL"),
]


@pytest.mark.parametrize(
    ("name", "path", "reason"), POISONED_PATHS, ids=[p[0] for p in POISONED_PATHS]
)
def test_rollback_of_an_edited_bundle_refuses_a_path_outside(
    exported: Exported, name: str, path: str, reason: str
) -> None:
    out = _copy_out(exported, "jsonl", f"poisoned-{name}")
    _poison_jsonl_batch(out, path.format(root=exported.root))
    result = run_cli("rollback", str(out), "--all")
    assert_one_line_error(result, 8, reason)
    assert (out / "state.sqlite").is_file()
    exported.guard.assert_unchanged()


@pytest.mark.parametrize("target", TARGETS)
def test_rollback_refuses_a_state_target_outside_out(exported: Exported, target: str) -> None:
    """``state.sqlite`` edited by hand to name a victim as an item's output."""
    out = _copy_out(exported, target, f"bad-state-{target}")
    with sqlite3.connect(out / "state.sqlite") as db:
        db.execute(
            "UPDATE items SET target = ? WHERE batch_no = (SELECT MAX(batch_no) FROM items)",
            ("../../victim/victim.txt",),
        )
    result = run_cli("rollback", str(out), "--all")
    assert_one_line_error(result, 8, "refusing")
    exported.guard.assert_unchanged()


def test_a_planted_link_in_out_is_not_followed(exported: Exported) -> None:
    """A folder of --out replaced by a link to elsewhere: the copy refuses to go through it."""
    out = _copy_out(exported, "hugo", "planted")
    shutil.rmtree(out / "static" / "files" / "field")
    (out / "static" / "files" / "field").symlink_to(exported.root / "victim")
    shutil.rmtree(out / ".hugo-state")
    (out / "state.sqlite").unlink()
    result = exported.results["hugo"]
    assert result.code == 0
    rerun = run_cli(
        "export",
        "--db",
        exported.db,
        "--to",
        "hugo",
        "--out",
        str(out),
        "--files-dir",
        str(exported.files),
        "--old-url",
        OLD_URL,
    )
    assert_no_traceback(rerun)
    rows = _media_rows(out)
    refused = [
        r
        for r in rows.values()
        if r["uri"].startswith("public://field/") and paths.public_relative(r["uri"])
    ]
    assert refused and all(r["status"] == paths.UNSAFE for r in refused), refused[:3]
    assert all("leads out of the output folder" in r["detail"] for r in refused)
    exported.guard.assert_unchanged()


@pytest.mark.parametrize(
    ("rel", "reason"),
    [
        ("a/../b", "dots"),
        ("/etc/passwd", "absolute"),
        ("C:\\x", "backslash"),
        ("D:x", "drive"),
        ("%2E%2E", "dots"),
        ("a\x00b", "NUL"),
        ("a\nb", "control"),
        ("x" * 256, "255"),
        ("\udcff.jpg", "Unicode"),
        ("anh-tin/2012/ảnh 1.jpg", None),
    ],
)
def test_unsafe_reason(rel: str, reason: str | None) -> None:
    found = paths.unsafe_reason(rel)
    assert (found is None) == (reason is None), found
    if reason:
        assert reason.lower() in str(found).lower()


ROOT = Path("/var/www/site")
PRIVATE_DIRS = [
    # (files dir, file_public_path, file_private_path, the private folder found)
    (
        ROOT / "sites/default/files",
        "sites/default/files",
        "sites/default/files/private",
        ROOT / "sites/default/files/private",
    ),
    (ROOT / "sites/default/files", None, "../private", ROOT / "../private"),
    (ROOT / "sites/default/files", "sites/default/files", "/srv/private", Path("/srv/private")),
    (ROOT / "files", "sites/default/files", "private", None),
    (ROOT / "sites/default/files", "sites/default/files", "", None),
    (None, None, "sites/default/private", None),
    (None, None, "/srv/private", Path("/srv/private")),
]


@pytest.mark.parametrize(("files", "public", "private", "found"), PRIVATE_DIRS)
def test_the_private_folder_is_found_from_the_site_variables(
    files: Path | None, public: str | None, private: str, found: Path | None
) -> None:
    assert paths.private_dir(files, public, private) == found
