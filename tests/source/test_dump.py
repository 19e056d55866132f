"""The dump reader: syntax, charsets, caching, bad input, and identity with MariaDB."""

from __future__ import annotations

import gzip
import io
import json
import multiprocessing
import random
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import query

from migrate.errors import BadInput, DumpError, NotDrupal7
from migrate.identifiers import Prefix
from migrate.schema import Drupal7
from migrate.source import dump as dump_module
from migrate.source.dump import open_dump
from migrate.source.mysql import MySQLSource
from migrate.source.sqldump_parser import (
    _DQ_ESCAPE_RE,
    _SQ_ESCAPE_RE,
    CHUNK,
    DumpReader,
    _replace_escape,
    unescape,
)
from migrate.source.sqlite import SQLiteSource

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
BROKEN = FIXTURES / "drupal7-broken.sql.gz"
CLEAN = FIXTURES / "drupal7-clean.sql.gz"
REPO = FIXTURES.parent

NODE_TABLE = b"""CREATE TABLE `node` (
  `nid` int(10) unsigned NOT NULL AUTO_INCREMENT COMMENT 'Primary; key',
  `type` varchar(32) NOT NULL DEFAULT '' COMMENT 'It''s the type',
  `title` varchar(255) NOT NULL DEFAULT '',
  PRIMARY KEY (`nid`),
  KEY `node_type` (`type`(4))
) ENGINE=MyISAM DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci COMMENT='The base; table';
"""


@pytest.fixture(autouse=True, params=["inline", "forked"])
def parser_process(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs with the parser in this process and in a forked one."""
    if request.param == "inline" and request.node.get_closest_marker("slow"):
        pytest.skip("measures subprocesses, which pick the mode by dump size")
    monkeypatch.setattr(dump_module, "FORK_FROM", 0 if request.param == "forked" else 1 << 62)


def write(tmp_path: Path, sql: bytes, name: str = "dump.sql") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(sql)
    return path


def load(tmp_path: Path, sql: bytes, **options: Any) -> SQLiteSource:
    options.setdefault("all_tables", True)
    return open_dump(write(tmp_path, sql), cache_dir=tmp_path / "cache", **options)


def cache_files(tmp_path: Path) -> list[str]:
    """Cached databases and anything half-built (the sha256 memo files aside)."""
    folder = tmp_path / "cache"
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("sha256-"))


# --- syntax ------------------------------------------------------------------------------


def test_create_table_options_keys_and_engine(tmp_path: Path) -> None:
    src = load(tmp_path, NODE_TABLE + b"INSERT INTO `node` VALUES (1,'page','A');\n")
    assert src.columns("node") == ["nid", "type", "title"]
    assert src.table_engine("node") == "MyISAM"
    assert src.charset() == "utf8mb3_general_ci"
    indexes = src.rows("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'node'")
    assert any("node_type" in name for (name,) in indexes)


def test_ci_collation_compares_like_mariadb_and_bin_does_not(tmp_path: Path) -> None:
    sql = (
        b"CREATE TABLE `t` (`a` varchar(9), `b` varchar(9) CHARACTER SET utf8mb3 "
        b"COLLATE utf8mb3_bin) DEFAULT CHARSET=utf8mb3;\nINSERT INTO `t` VALUES ('Abc','Abc');\n"
    )
    src = load(tmp_path, sql)
    assert src.scalar("SELECT COUNT(*) FROM {t} WHERE a = 'aBC'") == 1
    assert src.scalar("SELECT COUNT(*) FROM {t} WHERE b = 'aBC'") == 0


def test_extended_single_row_and_column_list_inserts(tmp_path: Path) -> None:
    sql = NODE_TABLE + (
        b"INSERT INTO `node` VALUES (1,'page','One'),(2,'article','Two');\n"
        b"INSERT INTO `node` VALUES (3,'page','Three');\n"
        b"INSERT INTO `node` (`title`, `nid`) VALUES ('Four', 4), ('Five',5);\n"
        b"INSERT INTO node VALUES\n(6,'page','Six'),\n(7,'page','Seven');\n"
    )
    rows = load(tmp_path, sql).rows("SELECT nid, type, title FROM {node} ORDER BY nid")
    assert rows[:3] == [(1, "page", "One"), (2, "article", "Two"), (3, "page", "Three")]
    assert rows[3:5] == [(4, "", "Four"), (5, "", "Five")]
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5, 6, 7]


def test_mysql_string_escapes(tmp_path: Path) -> None:
    sql = (
        b"CREATE TABLE `t` (`id` int, `s` text, `b` longblob);\n"
        b"INSERT INTO `t` VALUES (1,'it\\'s \\\\ \\0 \\n \\r \\t \\Z \\b','x\\0y\\\\'),"
        b"(2,'doubled ''quotes''','50\\% \\_'),(3,\"dq \\\" \"\"x\"\"\",''),(4,'\\q','\\'\\'');\n"
    )
    rows = load(tmp_path, sql).rows("SELECT id, s, b FROM {t} ORDER BY id")
    assert rows[0] == (1, "it's \\ \0 \n \r \t \x1a \b", b"x\0y\\")
    assert rows[1] == (2, "doubled 'quotes'", b"50\\% \\_")
    assert rows[2] == (3, 'dq " "x"', b"")
    assert rows[3] == (4, "q", b"''")


def test_unescape_fast_paths_agree_with_the_plain_rule() -> None:
    # Every path of unescape must match one regex pass over the escapes, for any mix.
    rng = random.Random(7)
    pieces = [b"a", b"0", b"7", b"8", b"x", b"%", b"_", b"Z", b"\xc3\xa9", b"\\", b"\\\\"]
    pieces += [b"\\" + bytes([c]) for c in b"ntr0bZ'\"%_qx17\xff"]
    for quote, doubled, rule in ((39, b"''", _SQ_ESCAPE_RE), (34, b'""', _DQ_ESCAPE_RE)):
        for _ in range(5000):
            inner = b"".join(rng.choice([*pieces, doubled]) for _ in range(rng.randint(1, 12)))
            if (len(inner) - len(inner.rstrip(b"\\"))) % 2:
                inner += b"n"
            assert unescape(inner, quote) == rule.sub(_replace_escape, inner), inner


def test_fast_row_split_agrees_with_the_exact_row_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # Rows split a MiB at a time (escapes masked) must give the same literals as the
    # row-by-row regexes, whatever the mix of escapes, quotes, NULs and window cuts.
    rng = random.Random(11)
    pieces = [b"a", b"x" * 300, b"\\'", b"\\\\", b"''", b'"', b'\\"', b"\\n", b"\\0", b",", b")"]
    literals = [b"NULL", b"-1.5e3", b"0x1F", b"_binary '\\'\\\\x'", b'"dq \\" ""x"""']
    rows = []
    for i in range(6000):
        text = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        if i == 4700:
            text += b"\0\1\0\2"
        rows.append(b"(%d,'%s',%s)" % (i, text, rng.choice(literals)))
    sql = b"".join(
        b"INSERT INTO `t` VALUES " + b",\n".join(rows[k : k + 1500]) + b";\n"
        for k in range(0, len(rows), 1500)
    )
    assert len(sql) > 2 * 2**20

    def values() -> list[bytes]:
        reader = DumpReader(io.BytesIO(sql), "t.sql", plan=lambda table, columns: 3)
        return [v for st in reader.statements() for v in st.values]

    fast = values()
    monkeypatch.setattr(DumpReader, "_split_rows", lambda self, width: None)
    assert fast == values()


def test_binary_hex_and_null_literals(tmp_path: Path) -> None:
    sql = (
        b"CREATE TABLE `t` (`id` int, `data` longblob, `v` varbinary(8), `s` varchar(9));\n"
        b"INSERT INTO `t` VALUES (1,_binary 'a:1:{i:0;s:1:\\\"x\\\";}',0x00FF,0x414243),"
        b"(2,X'1f8b',x'',NULL),(3,NULL,_binary '',_utf8mb4'caf\xc3\xa9');\n"
    )
    rows = load(tmp_path, sql).rows("SELECT id, data, v, s FROM {t} ORDER BY id")
    assert rows[0] == (1, b'a:1:{i:0;s:1:"x";}', b"\x00\xff", "ABC")
    assert rows[1] == (2, b"\x1f\x8b", b"", None)
    assert rows[2] == (3, None, b"", "café")


def test_numbers_and_decimals(tmp_path: Path) -> None:
    sql = (
        b"CREATE TABLE `t` (`i` bigint, `f` float, `d` double, `n` decimal(10,2));\n"
        b"INSERT INTO `t` VALUES (-5,0.30103,1e-06,'12.50'),(9223372036854775807,-1.5,2,NULL);\n"
    )
    rows = load(tmp_path, sql).rows("SELECT i, f, d, n FROM {t} ORDER BY i")
    assert rows == [(-5, 0.30103, 1e-06, Decimal("12.50")), (2**63 - 1, -1.5, 2.0, None)]


def test_conditional_comments_locks_sandbox_and_delimiter_blocks(tmp_path: Path) -> None:
    sql = (
        b"/*M!999999\\- enable the sandbox mode */ \n"
        b"-- MariaDB dump\n# a hash comment\n/* a plain comment; with 'quotes */\n"
        b"/*!40101 SET NAMES utf8mb4 */;\n/*!40103 SET TIME_ZONE='+00:00' */;\n"
        b'SET SQL_MODE = "NO_AUTO_VALUE_ON_ZERO";\nSTART TRANSACTION;\n'
        b"DROP TABLE IF EXISTS `node`;\n" + NODE_TABLE + b"LOCK TABLES `node` WRITE;\n"
        b"/*!40000 ALTER TABLE `node` DISABLE KEYS */;\n"
        b"INSERT INTO `node` VALUES (1,'page','x;y');\n"
        b"/*!40000 ALTER TABLE `node` ENABLE KEYS */;\nUNLOCK TABLES;\n"
        b"DELIMITER ;;\n/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER "
        b"tr BEFORE INSERT ON node FOR EACH ROW BEGIN\n  INSERT INTO node VALUES (99,'x','y');\n"
        b"END */;;\nDELIMITER ;\n"
        b"DELIMITER $$\nCREATE PROCEDURE p() BEGIN SELECT ';'; DELETE FROM node; END$$\n"
        b"DELIMITER ;\nCOMMIT;\n"
    )
    src = load(tmp_path, sql)
    assert src.rows("SELECT nid, title FROM {node}") == [(1, "x;y")]


def test_phpmyadmin_alter_table_keys(tmp_path: Path) -> None:
    sql = (
        b"CREATE TABLE IF NOT EXISTS `t` (\n  `a` int(11) NOT NULL,\n  `b` varchar(5) NOT NULL\n"
        b") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n\nINSERT INTO `t` (`a`, `b`) VALUES\n"
        b"(1, 'x'),\n(2, 'y');\n\nALTER TABLE `t`\n  ADD PRIMARY KEY (`a`),\n"
        b"  ADD KEY `bk` (`b`);\n"
    )
    src = load(tmp_path, sql)
    indexes = src.rows("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 't'")
    assert len(indexes) == 2 and any("UNIQUE" in text for (text,) in indexes)


def test_rows_and_keys_arriving_after_the_next_table(tmp_path: Path) -> None:
    # Keys are built when the next CREATE TABLE arrives; later rows still load into a
    # table without them (a duplicate of a UNIQUE key is kept, REPLACE has no conflict).
    sql = (
        b"CREATE TABLE `t` (`a` int NOT NULL, `b` varchar(5), UNIQUE KEY `ub` (`b`));\n"
        b"INSERT INTO `t` VALUES (1,'x');\nCREATE TABLE `u` (`c` int);\n"
        b"INSERT INTO `t` VALUES (2,'x');\nREPLACE INTO `t` VALUES (3,'x');\n"
        b"ALTER TABLE `t` ADD KEY `ak` (`a`);\n"
    )
    src = load(tmp_path, sql)
    assert sorted(src.rows("SELECT a, b FROM {t}")) == [(1, "x"), (2, "x"), (3, "x")]
    indexes = src.rows("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name='t'")
    assert sorted(name for name, _ in indexes) == ["t__0_ub", "t__1_ak"]
    assert not any("UNIQUE" in text for _, text in indexes)


def test_big_dumps_get_big_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = load(tmp_path / "small", NODE_TABLE + b"INSERT INTO `node` VALUES (1,'page','A');\n")
    monkeypatch.setattr(dump_module, "BIG_PAGES_FROM", 0)
    big = load(tmp_path / "big", NODE_TABLE + b"INSERT INTO `node` VALUES (1,'page','A');\n")
    assert small.scalar("PRAGMA page_size") == 4096 and big.scalar("PRAGMA page_size") == 65536
    assert big.rows("SELECT * FROM {node}") == [(1, "page", "A")]


def test_latin1_and_utf8mb4_client_charsets(tmp_path: Path) -> None:
    latin = (
        b"/*!40101 SET NAMES latin1 */;\nCREATE TABLE `t` (`s` text, `b` blob) "
        b"DEFAULT CHARSET=utf8mb3;\nINSERT INTO `t` VALUES ('caf\xe9 \x80 \x81','caf\xe9');\n"
    )
    assert load(tmp_path, latin).rows("SELECT s, b FROM {t}") == [("café € \x81", b"caf\xe9")]
    emoji = (
        b"/*!40101 SET NAMES utf8mb4 */;\nCREATE TABLE `u` (`s` text) DEFAULT CHARSET=utf8mb4;\n"
        b"INSERT INTO `u` VALUES ('\xf0\x9f\x98\x80');\n"
    )
    assert load(tmp_path / "x", emoji).rows("SELECT s FROM {u}") == [("\U0001f600",)]


def test_gzip_is_detected_by_content_not_name(tmp_path: Path) -> None:
    sql = NODE_TABLE + b"INSERT INTO `node` VALUES (1,'page','A');\n"
    zipped = write(tmp_path, gzip.compress(sql), "looks-plain.sql")
    plain = write(tmp_path, sql, "looks-zipped.sql.gz")
    for path in (zipped, plain):
        src = open_dump(path, cache_dir=tmp_path / "cache")
        assert src.scalar("SELECT title FROM {node}") == "A"


def test_bom_and_windows_line_endings(tmp_path: Path) -> None:
    sql = b"\xef\xbb\xbf-- dump\r\n" + NODE_TABLE.replace(b"\n", b"\r\n")
    sql += b"INSERT INTO `node` VALUES\r\n(1,'page','A\\r\\n'),\r\n(2,'page','B');\r\n"
    assert load(tmp_path, sql).scalar("SELECT COUNT(*) FROM {node}") == 2


# --- selection and prefixes -------------------------------------------------------------


def _site(prefix: str) -> bytes:
    parts = []
    for table in ("cache", "cache_filter", "filter", "node", "system", "field_data_body"):
        parts.append(
            b"CREATE TABLE `%s%s` (`id` int, `name` varchar(9));\n"
            b"INSERT INTO `%s%s` VALUES (1,'%s');\n"
            % (prefix.encode(), table.encode(), prefix.encode(), table.encode(), table.encode())
        )
    return b"".join(parts)


def test_default_selection_skips_caches_and_detects_prefix(tmp_path: Path) -> None:
    src = open_dump(write(tmp_path, _site("d7_")), cache_dir=tmp_path / "cache")
    assert src.prefix == Prefix("d7_")
    # cache_filter is kept (recover reads the hashes of filtered texts); other caches not.
    assert src.table_names() == {
        "d7_filter", "d7_node", "d7_system", "d7_field_data_body", "d7_cache_filter"
    }  # fmt: skip
    assert src.scalar("SELECT name FROM {filter}") == "filter"
    assert src.scalar("SELECT name FROM {cache_filter}") == "cache_filter"
    loaded = {name: flag for name, _, flag, _ in src.dump_tables()}
    assert loaded["d7_cache"] is False and loaded["d7_node"] is True


def test_explicit_prefix_is_honoured(tmp_path: Path) -> None:
    dump = write(tmp_path, _site("a_") + _site("b_"))
    with pytest.raises(BadInput, match="several Drupal sites"):
        open_dump(dump, cache_dir=tmp_path / "cache")
    src = open_dump(dump, cache_dir=tmp_path / "cache", prefix=Prefix("b_"))
    assert src.table_names() == {
        "b_filter", "b_node", "b_system", "b_field_data_body", "b_cache_filter"
    }  # fmt: skip


def test_all_tables_flag_loads_caches(tmp_path: Path) -> None:
    src = open_dump(write(tmp_path, _site("")), cache_dir=tmp_path / "cache", all_tables=True)
    assert {"cache", "cache_filter"} <= src.table_names()
    assert (
        "cache"
        not in open_dump(write(tmp_path, _site("")), cache_dir=tmp_path / "c2").table_names()
    )


# --- cache ----------------------------------------------------------------------------


def test_second_open_reuses_cache_and_refresh_rebuilds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dump = write(tmp_path, _site(""))
    first = open_dump(dump, cache_dir=tmp_path / "cache")
    built = first.meta()["built_at"]
    real_build = dump_module._build
    calls: list[Path] = []

    def counting_build(*args: Any) -> None:
        calls.append(args[0])
        real_build(*args)

    monkeypatch.setattr(dump_module, "_build", counting_build)
    again = open_dump(dump, cache_dir=tmp_path / "cache")
    assert calls == [] and again.meta()["built_at"] == built
    refreshed = open_dump(dump, cache_dir=tmp_path / "cache", refresh=True)
    assert len(calls) == 1 and refreshed.meta()["built_at"] != built
    assert [n for n in cache_files(tmp_path) if not n.endswith(".sqlite")] == []


def test_changed_dump_is_not_served_from_the_old_cache(tmp_path: Path) -> None:
    dump = write(tmp_path, NODE_TABLE + b"INSERT INTO `node` VALUES (1,'page','A');\n")
    assert open_dump(dump, cache_dir=tmp_path / "cache").scalar("SELECT title FROM {node}") == "A"
    dump.write_bytes(NODE_TABLE + b"INSERT INTO `node` VALUES (1,'page','B');\n")
    assert open_dump(dump, cache_dir=tmp_path / "cache").scalar("SELECT title FROM {node}") == "B"


def test_cache_is_read_only_and_copy_is_writable(tmp_path: Path) -> None:
    src = load(tmp_path, NODE_TABLE + b"INSERT INTO `node` VALUES (1,'page','A');\n")
    with pytest.raises(BadInput, match="read-only"):
        src.execute("DELETE FROM {node}")
    copy = src.copy(tmp_path / "repair.sqlite")
    with copy.transaction():
        assert copy.execute("UPDATE {node} SET title = ? WHERE nid = ?", ("B", 1)) == 1
    with pytest.raises(RuntimeError), copy.transaction():
        copy.execute("DELETE FROM {node}")
        raise RuntimeError("roll back")
    assert copy.rows("SELECT title FROM {node}") == [("B",)]
    assert src.rows("SELECT title FROM {node}") == [("A",)]
    assert copy.scalar("SELECT CONCAT('node/', nid) FROM {node}") == "node/1"


# --- UPDATE, DELETE, TRUNCATE ---------------------------------------------------------------

CHANGED_TABLE = (
    b"/*!40101 SET NAMES utf8mb4 */;\n"
    b"CREATE TABLE `site_t` (`id` int NOT NULL, `s` varchar(40), `c` char(5), `b` longblob, "
    b"`n` int, PRIMARY KEY (`id`), KEY `sk` (`s`)) DEFAULT CHARSET=utf8mb3;\n"
    b"INSERT INTO `site_t` VALUES (1,'it\\'s \\\\ \\n','ab',_binary 'x\\0\xff',10),"
    b"(2,'Abc','x',0x00FF10,20),(3,NULL,'',X'',30),(4,'caf\xc3\xa9','q',NULL,NULL),"
    b"(5,'keep','k','k',5);\n"
    b"CREATE TABLE `site_u` (`v` int, `w` varchar(9)) DEFAULT CHARSET=utf8mb4;\n"
    b"INSERT INTO `site_u` VALUES (1,'a'),(2,'b');\n"
)
# What a repair patch writes, and what a hand-edited dump may hold.
CHANGES = (
    b"SET SESSION sql_mode = REPLACE(@@SESSION.sql_mode, 'NO_BACKSLASH_ESCAPES', '');\n"
    b"START TRANSACTION;\n"
    b"UPDATE `site_t` SET `s` = 'was it\\'s', `n` = 11\n"
    b"  WHERE `s` = 'it\\'s \\\\ \\n' AND `c` = 'ab';\n"
    b"UPDATE `site_t` SET `b` = X'CAFE' WHERE `b` = _binary 'x\\0\xff';\n"
    b"update site_t set n = 21 where s = 'ABC';\n"
    b"DELETE FROM `site_t` WHERE `b` = 0x00ff10 AND `s` = 'nothing';\n"
    b"UPDATE `site_t` SET `c` = 'null' WHERE `s` IS NULL;\n"
    b"UPDATE `site_t` SET `c` = 'eq' WHERE `s` = NULL;\n"
    b"UPDATE `site_t` SET `n` = 99 WHERE `id` = '4.5';\n"
    b"UPDATE `site_t` SET `n` = 98 WHERE `id` = '4';\n"
    b"UPDATE `site_t` SET `s` = 'CAF\xc3\x89', `s` = 'caf\xc3\xa9!' WHERE `s` = 'caf\xc3\xa9';\n"
    b"INSERT INTO `site_t` VALUES (6,'late','l',NULL,6);\n"
    b"DELETE FROM `site_t` WHERE `n` IS NOT NULL AND `id` = 5;\n"
    b"UPDATE `site_t` SET `b` = NULL, `c` = '' WHERE `id` = 6;\n"
    b"/*!40101 SET NAMES latin1 */;\n"
    b"UPDATE `site_t` SET `s` = 'caf\xe9' WHERE `id` = 2;\n"
    b"TRUNCATE TABLE `site_u`;\nINSERT INTO `site_u` VALUES (3,'c'),(4,'d');\n"
    b"DELETE FROM `site_u` WHERE 1 = 1;\nINSERT INTO `site_u` VALUES (5,'e');\n"
    b"DELETE LOW_PRIORITY QUICK FROM site_u WHERE w = 'zz';\nTRUNCATE site_u;\n"
    b"INSERT INTO `site_u` VALUES (6,'f');\nCOMMIT;\n"
)


def test_changes_apply_in_dump_order_identical_to_mariadb(
    new_database: Any, tmp_path: Path
) -> None:
    dump = write(tmp_path, CHANGED_TABLE + CHANGES)
    spec = new_database(dump)
    src = open_dump(dump, cache_dir=tmp_path / "cache", all_tables=True)
    _assert_identical(src, spec)
    rows = src.rows("SELECT id, s, c, b, n FROM {site_t} ORDER BY id")
    assert rows == [
        (1, "was it's", "ab", b"\xca\xfe", 11),
        (2, "café", "x", b"\x00\xff\x10", 21),
        (3, None, "null", b"", 30),
        (4, "café!", "q", None, 98),
        (6, "late", "", None, 6),
    ]
    assert src.rows("SELECT v, w FROM {site_u}") == [(6, "f")]
    assert {name: rows for name, _, _, rows in src.dump_tables()} == {"site_t": 5, "site_u": 1}
    indexes = src.rows("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
    assert sorted(name for (name,) in indexes) == ["site_t__0_sk"]


def test_changes_use_an_index_before_the_keys_are_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rows arriving after an UPDATE leave the keys unbuilt until the end; the lookup
    # index made for the WHERE must still serve the next statements, then go.
    created: list[str] = []
    real = dump_module._Loader._lookup_index

    def spy(self: Any, table: Any, columns: list[str]) -> None:
        real(self, table, columns)
        created.extend(table.lookups.values())

    monkeypatch.setattr(dump_module._Loader, "_lookup_index", spy)
    rows = b",".join(b"(%d,%d,'t%d')" % (i, i % 50, i) for i in range(5000))
    sql = b"CREATE TABLE `t` (`nid` int, `tid` int, `s` varchar(9), KEY `n` (`nid`));\n"
    sql += b"INSERT INTO `t` VALUES " + rows + b";\n"
    for nid in range(0, 5000, 100):
        sql += b"DELETE FROM `t` WHERE `nid` = %d;\nINSERT INTO `t` VALUES (%d,1,'new');\n" % (
            nid,
            nid,
        )
    src = load(tmp_path, sql)
    assert src.scalar("SELECT COUNT(*) FROM {t} WHERE s = 'new'") == 50
    assert src.scalar("SELECT COUNT(*) FROM {t}") == 5000
    assert len(created) == 50 and set(created) == {'"t__lookup_0"'}
    indexes = src.rows("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
    assert [name for (name,) in indexes] == ["t__0_n"]


def test_changes_to_skipped_tables_are_ignored(tmp_path: Path) -> None:
    sql = _site("d7_") + (
        b"UPDATE `drupal`.`d7_node` SET `name` = 'renamed' WHERE `id` = 1;\n"
        b"DELETE FROM `d7_cache` WHERE 1 = 1;\n"
        b"UPDATE `d7_cache` SET `name` = CONCAT(`name`, 'x') WHERE `id` IN (1, 2);\n"
        b"TRUNCATE `d7_cache`;\n"
    )
    dump = write(tmp_path, sql)
    src = open_dump(dump, cache_dir=tmp_path / "cache")
    assert src.scalar("SELECT name FROM {node}") == "renamed"
    assert "d7_cache" not in src.table_names()
    message = _bad(tmp_path / "all", sql)
    assert "unsupported UPDATE in a dump" in message and "CONCAT" in message


@pytest.mark.parametrize(
    ("statement", "at", "what"),
    [
        (b"UPDATE `node` SET `title` = CONCAT(`title`, 'x');", b"CONCAT", "must be a literal"),
        (b"UPDATE node SET nid = nid + 1;", b"nid + 1", "must be a literal"),
        (b"UPDATE `node` SET `title` = 'x' WHERE `nid` = 1 OR `nid` = 2;", b"OR", "OR in WHERE"),
        (b"DELETE FROM `node` WHERE `nid` < 3;", b"< 3", "other than ="),
        (b"DELETE FROM node WHERE nid IN (SELECT nid FROM node);", b"IN (", "other than ="),
        (b"DELETE FROM node WHERE (nid = 1);", b"(nid", "expected a column"),
        (b"UPDATE node n JOIN node m ON 1 SET n.title = 'x';", b"n JOIN", "a join"),
        (b"UPDATE node, users SET title = 'x';", b", users", "a join"),
        (b"DELETE node FROM node WHERE nid = 1;", b"node FROM", "multi-table DELETE"),
        (b"UPDATE node SET title = 'x' ORDER BY nid LIMIT 1;", b"ORDER", "a clause"),
        (b"DELETE FROM node WHERE nid = 1 LIMIT 1;", b"LIMIT", "a clause"),
        (b"UPDATE node SET node.title = 'x';", b".title", "qualified column"),
        (b"DELETE FROM node WHERE 1 = 2;", b"1 = 2", "two literals"),
        (b"UPDATE node SET title = DEFAULT;", b"DEFAULT", "must be a literal"),
    ],
)
def test_unsupported_changes_are_one_line_errors(
    tmp_path: Path, statement: bytes, at: bytes, what: str
) -> None:
    sql = NODE_TABLE + b"INSERT INTO `node` VALUES (1,'page','A');\n\n" + statement + b"\n"
    message = _bad(tmp_path, sql)
    verb = statement.split()[0].decode().upper()
    offset = sql.index(at, len(NODE_TABLE))
    assert f"unsupported {verb} in a dump: " in message and what in message, message
    assert f"line 10 (byte {offset})" in message, message


def test_change_naming_an_unknown_column_or_a_bad_value(tmp_path: Path) -> None:
    base = NODE_TABLE + b"INSERT INTO `node` VALUES (1,'page','A');\n"
    message = _bad(tmp_path, base + b"UPDATE `node` SET `nope` = 1;\n")
    assert "UPDATE `node` names unknown column `nope`" in message and "line 9 " in message
    bad = base + b"/*!40101 SET NAMES utf8mb4 */;\nUPDATE `node` SET `title` = 'x\xff';\n"
    message = _bad(tmp_path / "bad", bad)
    offset = bad.index(b"\xff")
    assert f"(byte {offset})" in message and "utf8mb4" in message


# --- bad input ------------------------------------------------------------------------


def _bad(tmp_path: Path, sql: bytes, name: str = "bad.sql") -> str:
    dump = write(tmp_path, sql, name)
    with pytest.raises(DumpError) as caught:
        open_dump(dump, cache_dir=tmp_path / "cache", all_tables=True)
    message = str(caught.value)
    assert str(dump) in message and "\n" not in message
    assert cache_files(tmp_path) == []
    assert multiprocessing.active_children() == []
    return message


def test_truncated_gzip(tmp_path: Path) -> None:
    data = gzip.compress(NODE_TABLE + b"INSERT INTO `node` VALUES (1,'page','A');\n" * 2000)
    message = _bad(tmp_path, data[: len(data) // 2], "cut.sql.gz")
    assert "gzip" in message and "byte" in message


def test_truncated_statement_at_end(tmp_path: Path) -> None:
    message = _bad(tmp_path, NODE_TABLE + b"INSERT INTO `node` VALUES (1,'page','A'),\n(2,'pa")
    assert "line 9" in message and "truncated" in message


def test_truncated_create_table(tmp_path: Path) -> None:
    assert "truncated" in _bad(tmp_path, NODE_TABLE[:80])


def test_invalid_utf8_names_line_and_byte(tmp_path: Path) -> None:
    sql = b"/*!40101 SET NAMES utf8mb4 */;\n" + NODE_TABLE + b"INSERT INTO `node` VALUES\n"
    sql += b"(1,'page','ok'),\n(2,'page','bad \xff byte');\n"
    message = _bad(tmp_path, sql)
    offset = sql.index(b"\xff")
    assert f"line 11 (byte {offset})" in message and "utf8mb4" in message


def test_bad_byte_deep_in_a_gzip_dump_is_placed_exactly(tmp_path: Path) -> None:
    # The loader re-reads the file to word the error: past several read chunks here.
    rows = b",\n".join(b"(%d,'page','row %d')" % (i, i) for i in range(1, 300000))
    sql = NODE_TABLE + b"INSERT INTO `node` VALUES\n" + rows + b",\n(300000,'page','\xff');\n"
    assert len(sql) > 2 * CHUNK
    message = _bad(tmp_path, gzip.compress(sql), "deep.sql.gz")
    offset = sql.index(b"\xff")
    line = sql.count(b"\n", 0, offset) + 1
    assert f"line {line} (byte {offset})" in message


def test_not_a_sql_file(tmp_path: Path) -> None:
    assert "not MySQL dump syntax" in _bad(tmp_path, b"\x89PNG\r\n\x1a\nbinary garbage")


def test_utf16_powershell_dump(tmp_path: Path) -> None:
    assert "UTF-16" in _bad(tmp_path, "-- dump\r\n".encode("utf-16"))


def test_row_with_wrong_number_of_values(tmp_path: Path) -> None:
    message = _bad(tmp_path, NODE_TABLE + b"INSERT INTO `node` VALUES (1,'page');\n")
    assert "2 values for 3 columns" in message


def test_data_only_dump(tmp_path: Path) -> None:
    assert "before its CREATE TABLE" in _bad(tmp_path, b"INSERT INTO `node` VALUES (1,'a','b');\n")


def test_progress_reports_bytes_of_the_file(tmp_path: Path) -> None:
    dump = write(tmp_path, gzip.compress(_site("")), "site.sql.gz")
    calls: list[tuple[int, int]] = []
    open_dump(
        dump, cache_dir=tmp_path / "cache", progress=lambda done, total: calls.append((done, total))
    )
    assert calls and calls[-1] == (dump.stat().st_size, dump.stat().st_size)


def test_interrupt_stops_the_parser_process(tmp_path: Path) -> None:
    dump = write(tmp_path, gzip.compress(_site("")), "site.sql.gz")

    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        open_dump(dump, cache_dir=tmp_path / "cache", progress=interrupt)
    assert multiprocessing.active_children() == [] and cache_files(tmp_path) == []


def test_unexpected_parser_failure_surfaces_in_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: object, start: int) -> None:
        raise RuntimeError("parser bug")

    monkeypatch.setattr(DumpReader, "_create", broken)
    with pytest.raises(RuntimeError, match="parser bug"):
        load(tmp_path, NODE_TABLE)
    assert multiprocessing.active_children() == [] and cache_files(tmp_path) == []


def test_non_drupal_dump(tmp_path: Path) -> None:
    dump = write(
        tmp_path, b"CREATE TABLE `invoices` (`id` int);\nINSERT INTO `invoices` VALUES (1);\n"
    )
    with pytest.raises(NotDrupal7, match="no Drupal tables") as caught:
        open_dump(dump, cache_dir=tmp_path / "cache")
    assert str(dump) in str(caught.value)
    assert cache_files(tmp_path) == []


def test_drupal6_dump_is_named_as_such(tmp_path: Path) -> None:
    sql = (
        b"CREATE TABLE `system` (`filename` varchar(255), `name` varchar(255), `type` varchar(255),"
        b" `status` int, `schema_version` smallint, `info` text);\n"
        b"INSERT INTO `system` VALUES "
        b"('modules/system/system.module','system','module',1,6055,'');\n"
        b"CREATE TABLE `term_data` (`tid` int, `vid` int, `name` varchar(255));\n"
        b"CREATE TABLE `term_node` (`nid` int, `vid` int, `tid` int);\n"
        b"INSERT INTO `term_data` VALUES (1,1,'x');\n"
    )
    dump = write(tmp_path, sql)
    src = open_dump(dump, cache_dir=tmp_path / "cache")
    assert {"term_data", "term_node"} <= src.table_names()
    assert src.scalar("SELECT COUNT(*) FROM {term_data}") == 0
    with pytest.raises(NotDrupal7, match="Drupal 6") as caught:
        Drupal7(src)
    assert str(dump) in str(caught.value)


# --- identity with MariaDB ----------------------------------------------------------------


def _assert_identical(src: SQLiteSource, spec: Any) -> None:
    mysql = MySQLSource(spec)
    try:
        assert src.table_names() <= mysql.table_names()
        for table in sorted(src.table_names()):
            mine = sorted(src.rows(f"SELECT * FROM `{table}`"), key=repr)
            theirs = sorted(query(spec, f"SELECT * FROM `{table}`"), key=repr)
            assert len(mine) == len(theirs), table
            assert mine == theirs, table
            if src.table_engine(table) is not None:
                assert src.table_engine(table) == mysql.table_engine(table), table
    finally:
        mysql.close()


@pytest.mark.parametrize("fixture", ["broken_db", "clean_db"])
def test_fixture_rows_identical_to_mariadb(
    fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    spec = request.getfixturevalue(fixture)
    dump = BROKEN if fixture == "broken_db" else CLEAN
    src = open_dump(dump, cache_dir=tmp_path, all_tables=True)
    assert len(src.table_names()) == 83
    _assert_identical(src, spec)
    default = open_dump(dump, cache_dir=tmp_path)
    assert "cache_field" not in default.table_names()
    assert "field_revision_field_chuyen_muc" in default.table_names()
    assert default.charset() == MySQLSource(spec).charset()


def test_blobs_byte_identical_to_pymysql(broken_db: Any, tmp_path: Path) -> None:
    src = open_dump(BROKEN, cache_dir=tmp_path)
    for table, key, blob in (
        ("variable", "name", "value"),
        ("field_config", "id", "data"),
        ("system", "filename", "info"),
    ):
        mine = dict(src.rows(f"SELECT {key}, {blob} FROM {{{table}}}"))
        theirs = dict(query(broken_db, f"SELECT {key}, {blob} FROM `{table}`"))
        assert mine == theirs
        assert mine and all(isinstance(value, bytes) for value in mine.values())


def test_syntax_sampler_identical_to_mariadb(new_database: Any, tmp_path: Path) -> None:
    sql = (
        b"/*!40101 SET NAMES latin1 */;\n"
        b"CREATE TABLE `t` (`id` int NOT NULL, `s` varchar(40), `c` char(5), `b` longblob, "
        b"`f` float, `n` decimal(6,2), PRIMARY KEY (`id`)) DEFAULT CHARSET=utf8mb3;\n"
        b"INSERT INTO `t` VALUES (1,'caf\xe9 \\'q\\' \\\\ \\n','ab  ',_binary 'x\\0\xff',0.1,1.5),"
        b"(2,NULL,'',0x00FF10,-2.5e3,NULL),(3,'it''s','x',X'',3,'7');\n"
    )
    dump = write(tmp_path, sql)
    spec = new_database(dump)
    _assert_identical(open_dump(dump, cache_dir=tmp_path / "cache", all_tables=True), spec)


def test_tricky_rows_across_windows_identical_to_mariadb(new_database: Any, tmp_path: Path) -> None:
    fragments = [
        b"\\'),\n(",  # escaped quote, then what looks like a row joint
        b"\\\\\\');",  # escaped backslash, escaped quote
        b"''",
        b"\\\\",
        b";\n",
        b"0x41",
        b"NULL",
        "é".encode(),
        b" , ",
        b"\\n",
    ]
    rows = []
    for i in range(60000):
        text = b"".join(fragments[(i * 7 + k) % len(fragments)] for k in range(i % 9))
        rows.append(b"(%d,'%s',_binary '%s',%s)" % (i, text, text, b"NULL" if i % 5 else b"-1.5"))
    sql = b"CREATE TABLE `t` (`id` int, `s` text, `b` blob, `f` double) DEFAULT CHARSET=utf8mb4;\n"
    for start in range(0, len(rows), 9000):
        sql += b"INSERT INTO `t` VALUES " + b",\n".join(rows[start : start + 9000]) + b";\n"
    assert len(sql) > 2 * 2**20
    dump = write(tmp_path, sql)
    spec = new_database(dump)
    _assert_identical(open_dump(dump, cache_dir=tmp_path / "cache", all_tables=True), spec)


# --- memory ---------------------------------------------------------------------------


def _peak_rss_mb(dump: Path, cache: Path) -> float:
    code = (
        "import resource, sys; from pathlib import Path; from migrate.source.dump import open_dump;"
        "open_dump(Path(sys.argv[1]), cache_dir=Path(sys.argv[2]));"
        "print(max(resource.getrusage(who).ru_maxrss for who in "
        "(resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(dump), str(cache)],
        capture_output=True, text=True, check=True, cwd=REPO,
    )  # fmt: skip
    return float(done.stdout)


@pytest.mark.slow
def test_memory_stays_flat_as_the_dump_grows(tmp_path: Path) -> None:
    peaks = []
    for nodes in (500, 20000):
        dump = tmp_path / f"d{nodes}.sql"
        subprocess.run(
            [sys.executable, "bench/generate_dump.py", "--nodes", str(nodes), "--out", str(dump)],
            check=True, cwd=REPO, capture_output=True,
        )  # fmt: skip
        peaks.append(_peak_rss_mb(dump, tmp_path / "cache"))
    size = (tmp_path / "d20000.sql").stat().st_size / 2**20
    assert size > 90
    assert peaks[1] - peaks[0] < 40, (peaks, json.dumps({"dump_mb": size}))
