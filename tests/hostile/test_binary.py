"""Text columns stored as binary (VARBINARY, BLOB, LONGBLOB), as a charset migration leaves them.

A private copy of the broken site has its text columns converted to binary types on
MariaDB; it must audit and export exactly as the original does (every output file
read back and compared), from the server and from its mysqldump (plain, hex blobs,
``_binary`` literals). Bytes that are text in no charset the table may hold are one
line naming table, column and row, exit 5.
"""

from __future__ import annotations

import filecmp
import gzip
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import BROKEN_DUMP, query, run_sql, url_of
from harness import CliResult, assert_no_traceback, assert_one_line_error, run_cli

from migrate.config import ConnectionSpec

TO_BINARY = (
    "ALTER TABLE field_data_body MODIFY body_value LONGBLOB, MODIFY body_summary LONGBLOB",
    "ALTER TABLE field_revision_body MODIFY body_value LONGBLOB, MODIFY body_summary LONGBLOB",
    "ALTER TABLE node MODIFY title VARBINARY(255) NOT NULL DEFAULT ''",
    "ALTER TABLE node_revision MODIFY title VARBINARY(255) NOT NULL DEFAULT ''",
    "ALTER TABLE taxonomy_term_data MODIFY name VARBINARY(255) NOT NULL DEFAULT '',"
    " MODIFY description LONGBLOB",
    "ALTER TABLE taxonomy_vocabulary MODIFY name VARBINARY(255) NOT NULL DEFAULT ''",
    "ALTER TABLE comment MODIFY subject VARBINARY(64) NOT NULL DEFAULT ''",
    "ALTER TABLE field_data_comment_body MODIFY comment_body_value LONGBLOB",
    "ALTER TABLE users MODIFY name VARBINARY(60) NOT NULL DEFAULT ''",
    "ALTER TABLE url_alias MODIFY alias VARBINARY(255) NOT NULL DEFAULT ''",
    "ALTER TABLE menu_links MODIFY link_title BLOB",
)
TITLE_13 = "Thông tin tuyển sinh"


def without_progress(result: CliResult) -> CliResult:
    """The result with the JSON progress events a piped export writes to stderr left out."""
    lines = [x for x in result.stderr.splitlines(True) if not x.startswith('{"event"')]
    return CliResult(result.code, result.stdout, "".join(lines))


def mysqldump(spec: ConnectionSpec, dest: Path, *options: str) -> Path:
    client = shutil.which("mariadb-dump") or shutil.which("mysqldump")
    assert client, "mariadb-dump is needed"
    done = subprocess.run(
        [
            client,
            f"--host={spec.host}",
            f"--port={spec.port}",
            f"--user={spec.user}",
            "--default-character-set=utf8mb4",
            *options,
            spec.database,
        ],
        capture_output=True,
        check=False,
        env={"MYSQL_PWD": spec.password},
    )
    assert done.returncode == 0, done.stderr.decode()[:500]
    dest.write_bytes(done.stdout)
    return dest


@dataclass(frozen=True)
class Sites:
    original: ConnectionSpec
    binary: ConnectionSpec


@pytest.fixture(scope="module")
def sites(databases) -> Sites:  # type: ignore[no-untyped-def]
    """The broken site as loaded, and a private copy with its text columns made binary."""
    original = databases.create(BROKEN_DUMP)
    binary = databases.create(BROKEN_DUMP)
    run_sql(binary, *TO_BINARY)
    kinds = query(
        binary,
        "SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()"
        " AND TABLE_NAME = 'node' AND COLUMN_NAME = 'title'",
    )
    assert kinds == [("varbinary",)]
    return Sites(original, binary)


def _same_tree(left: Path, right: Path, skip: tuple[str, ...]) -> list[str]:
    """Relative paths whose bytes differ (or exist on one side only)."""
    found = []
    for path in sorted(left.rglob("*")):
        rel = path.relative_to(left)
        if path.is_dir() or rel.parts[0] in skip or rel.name in skip:
            continue
        other = right / rel
        if not other.exists() or not filecmp.cmp(path, other, shallow=False):
            found.append(str(rel))
    found += [
        str(p.relative_to(right))
        for p in right.rglob("*")
        if p.is_file()
        and not (left / p.relative_to(right)).exists()
        and p.relative_to(right).parts[0] not in skip
        and p.name not in skip
    ]
    return found


NOT_CONTENT = ("state.sqlite", "reconciliation.json", "index.sqlite.sealed")
"""Files or top folders that are no output: the run's state and report, and a kept
index's seal (a stamp of its folder's inodes and times)."""


def _text_of(tree: Path) -> str:
    return "\n".join(
        p.read_text(encoding="utf-8", errors="strict")
        for p in sorted(tree.rglob("*"))
        if p.is_file() and p.suffix in (".jsonl", ".xml", ".md", ".toml", ".json", ".yaml")
    )


@pytest.mark.parametrize("target", ["jsonl", "wxr", "hugo"])
def test_export_of_binary_columns_equals_the_original(
    sites: Sites, tmp_path: Path, target: str
) -> None:
    outs = {}
    for name, spec in (("original", sites.original), ("binary", sites.binary)):
        outs[name] = tmp_path / name
        result = run_cli("export", "--db", url_of(spec), "--to", target, "--out", str(outs[name]))
        assert result.code == 0, result.stderr[-2000:]
    assert _same_tree(outs["original"], outs["binary"], NOT_CONTENT) == []
    text = _text_of(outs["binary"])
    assert TITLE_13 in text
    assert re.search(r"(?<!\w)b['\"]|\\x[0-9a-f]{2}", text) is None


def test_audit_of_binary_columns_equals_the_original(sites: Sites) -> None:
    reports = []
    for spec in (sites.original, sites.binary):
        result = run_cli("audit", "--db", url_of(spec), "--format", "json")
        assert_no_traceback(result)
        assert result.code == 1, result.stderr
        report = json.loads(result.stdout)
        report.pop("source")
        reports.append(report)
    assert reports[0] == reports[1]
    assert reports[0]["summary"]["findings"] > 500


@pytest.mark.parametrize("options", [(), ("--hex-blob",)], ids=["plain", "hex-blob"])
def test_dump_of_binary_columns_audits_and_exports_like_the_server(
    sites: Sites, tmp_path: Path, options: tuple[str, ...]
) -> None:
    dump = mysqldump(sites.binary, tmp_path / "site.sql", *options)
    cache = str(tmp_path / "cache")
    audits = []
    for source in (["--db", url_of(sites.original)], ["--dump", str(dump), "--cache-dir", cache]):
        result = run_cli("audit", *source, "--format", "json")
        assert result.code == 1, result.stderr[-2000:]
        report = json.loads(result.stdout)
        report.pop("source")
        audits.append(report)
    assert audits[0] == audits[1]
    from_server, from_dump = tmp_path / "server", tmp_path / "dump"
    for source, out in (
        (["--db", url_of(sites.original)], from_server),
        (["--dump", str(dump), "--cache-dir", cache], from_dump),
    ):
        result = run_cli("export", *source, "--to", "jsonl", "--out", str(out))
        assert result.code == 0, result.stderr[-2000:]
    assert _same_tree(from_server, from_dump, NOT_CONTENT) == []


def test_binary_literal_in_a_dump_is_text(sites: Sites, tmp_path: Path) -> None:
    """``_binary '…'`` (MySQL 8's mysqldump) into a VARBINARY title, also in a gzip dump."""
    dump = mysqldump(sites.binary, tmp_path / "site.sql")
    title = "Tiếng Việt có dấu: ‘trích dẫn’ \\ 'nháy'"
    literal = title.replace("\\", "\\\\").replace("'", "\\'")
    patch = f"UPDATE `node` SET `title` = _binary '{literal}' WHERE `nid` = 13;\n"
    gz = tmp_path / "site.sql.gz"
    gz.write_bytes(gzip.compress(dump.read_bytes() + patch.encode("utf-8")))
    out = tmp_path / "out"
    result = run_cli(
        "export",
        "--dump",
        str(gz),
        "--cache-dir",
        str(tmp_path / "c"),
        "--to",
        "jsonl",
        "--out",
        str(out),
    )
    assert result.code == 0, result.stderr[-2000:]
    nodes = [
        json.loads(line)
        for batch in sorted((out / "nodes").glob("*.jsonl"))
        for line in batch.read_text(encoding="utf-8").splitlines()
    ]
    assert [n["title"] for n in nodes if n["nid"] == 13] == [title]


def _private_binary(databases, *statements: str) -> ConnectionSpec:  # type: ignore[no-untyped-def]
    spec = databases.create(BROKEN_DUMP)
    run_sql(spec, *TO_BINARY, *statements)
    return spec


UNDECODABLE = [
    (
        "node-title",
        "UPDATE node SET title = 0x41FF42 WHERE nid = 13",
        "audit",
        ("node.title", "nid=13", "0xff"),
    ),
    (
        "body-value",
        "UPDATE field_data_body SET body_value = CONCAT(body_value, 0xC328) WHERE entity_id = 13",
        "export",
        ("field_data_body.body_value", "0xc3"),
    ),
    (
        "term-name",
        "UPDATE taxonomy_term_data SET name = 0xE1BB WHERE tid = 1",
        "audit",
        ("taxonomy_term_data.name", "0xe1"),
    ),
    (
        "comment-subject",
        "UPDATE comment SET subject = 0x8081 WHERE cid = (SELECT MIN(cid)"
        " FROM (SELECT cid FROM comment) c)",
        "export",
        ("comment.subject", "0x80"),
    ),
]


@pytest.mark.parametrize(
    ("statement", "command", "names"),
    [c[1:] for c in UNDECODABLE],
    ids=[c[0] for c in UNDECODABLE],
)
def test_undecodable_binary_text_on_the_server_is_one_line_exit_5(
    databases, guarded, statement: str, command: str, names: tuple[str, ...]
) -> None:  # type: ignore[no-untyped-def]
    spec = _private_binary(databases, statement)
    args = ["--to", "jsonl", "--out", str(guarded.out)] if command == "export" else []
    result = without_progress(run_cli(command, "--db", url_of(spec), *args))
    assert_one_line_error(result, 5, "a binary column holding text")
    for name in names:
        assert name in result.stderr


def test_undecodable_binary_text_in_a_dump_is_one_line_exit_5(databases, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec = _private_binary(databases, "UPDATE node SET title = 0x41FF42 WHERE nid = 13")
    dump = mysqldump(spec, tmp_path / "site.sql", "--hex-blob")
    result = run_cli("audit", "--dump", str(dump), "--cache-dir", str(tmp_path / "c"))
    assert_one_line_error(result, 5, "node.title (a binary column holding text), row nid=13")
    assert "dump line" in result.stderr
    assert not list((tmp_path / "c").glob("*.sqlite")), "a failed load left a cache behind"


def test_undecodable_binary_literal_in_a_dump_patch_is_one_line_exit_5(
    sites: Sites, tmp_path: Path
) -> None:
    dump = mysqldump(sites.binary, tmp_path / "site.sql")
    with dump.open("ab") as fh:
        fh.write(b"UPDATE `node` SET `title` = _binary 0x41FF42 WHERE `nid` = 13;\n")
    result = run_cli("audit", "--dump", str(dump), "--cache-dir", str(tmp_path / "c"))
    assert_one_line_error(result, 5, "node.title (a binary column holding text), row of the UPDATE")


LATIN1 = (
    "ALTER TABLE taxonomy_vocabulary MODIFY name VARBINARY(255) NOT NULL DEFAULT ''",
    "ALTER TABLE taxonomy_vocabulary DEFAULT CHARACTER SET latin1",
    "UPDATE taxonomy_vocabulary SET name = 0x436166E9 WHERE vid = 1",
)


def _vocabulary_names(inspected: str) -> list[str]:
    return sorted(v["name"] for v in json.loads(inspected)["vocabularies"])


@pytest.mark.parametrize("source", ["server", "dump"])
def test_latin1_table_binary_text_is_read_by_its_declared_charset(
    databases, tmp_path: Path, source: str
) -> None:  # type: ignore[no-untyped-def]
    """Bytes that are not UTF-8 in a table declared latin1 are latin1: 'Caf\\xe9' is Café."""
    spec = databases.create(BROKEN_DUMP)
    run_sql(spec, *LATIN1)
    args: list[str] = ["--db", url_of(spec)]
    if source == "dump":
        dump = mysqldump(spec, tmp_path / "site.sql")
        args = ["--dump", str(dump), "--cache-dir", str(tmp_path / "c")]
    result = run_cli("inspect", *args, "--format", "json")
    assert result.code == 0, result.stderr[-2000:]
    assert "Café" in _vocabulary_names(result.stdout)
