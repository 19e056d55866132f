"""Property-based hostile input: PHP unserialize, the dump-statement parser, the HTML cleaner.

Hypothesis generates what a damaged or hostile site could hold. Each path either gives
the right answer (round trips where one is defined) or raises the toolkit's own error
(a ``MigrateError``, shown as one line); never anything else.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any

import phpserialize
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import html as lxml_html
from pymysql.converters import escape_string

from migrate.errors import MigrateError, SchemaError
from migrate.export.clean import clean_body
from migrate.phpdata import unserialize, unserialize_array
from migrate.records import Filter, TextFormat
from migrate.source.dump import open_dump

BODIES = Path(__file__).resolve().parents[2] / "fixtures" / "bodies"
# No example database: a run writes nothing outside its temporary folders.
FAST = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
SLOW = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# --- PHP serialize ---------------------------------------------------------------------------

php_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
php_keys = st.integers(min_value=-1000, max_value=1000) | st.text(max_size=10).filter(
    lambda k: not re.fullmatch(r"-?[1-9][0-9]*|0", k)
)


def _php_arrays(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.dictionaries(php_keys, inner, max_size=5)


php_values = st.recursive(php_scalars, _php_arrays, max_leaves=25)


@FAST
@given(php_values)
def test_unserialize_round_trips_what_php_serialize_writes(value: Any) -> None:
    assert unserialize(phpserialize.dumps(value), "t.c") == value


@FAST
@given(st.binary(max_size=200))
def test_unserialize_of_any_bytes_is_a_value_or_a_schema_error(raw: bytes) -> None:
    try:
        unserialize(raw, "t.c")
    except SchemaError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("t.c: ")


@FAST
@given(php_values, st.integers(min_value=0, max_value=60))
def test_cut_serialized_data_is_a_value_or_a_schema_error(value: Any, cut: int) -> None:
    raw = phpserialize.dumps(value)
    with contextlib.suppress(SchemaError):
        unserialize(raw[: max(0, len(raw) - cut)], "t.c")


@SLOW
@given(st.integers(min_value=500, max_value=6000), st.sampled_from(["a", "O"]))
def test_deep_nesting_is_a_schema_error_not_a_recursion_error(depth: int, kind: str) -> None:
    opener = b'O:8:"stdClass":1:{i:0;' if kind == "O" else b"a:1:{i:0;"
    raw = opener * depth + b"i:1;" + b"}" * depth
    try:
        unserialize(raw, "t.c")
    except SchemaError as exc:
        assert "nested too deeply" in str(exc)


@FAST
@given(php_scalars)
def test_a_scalar_where_drupal_stores_an_array_is_a_schema_error(value: Any) -> None:
    raw = phpserialize.dumps(value)
    if value is None or value == "":
        assert unserialize_array(raw, "field_config row id=1") == {}
        return
    with pytest.raises(SchemaError, match="not the array Drupal stores"):
        unserialize_array(raw, "field_config row id=1")


# --- dump statements -------------------------------------------------------------------------

TABLE = (
    b"CREATE TABLE `node` (`nid` int NOT NULL, `title` varchar(255), `body` longtext,"
    b" `bin` varbinary(255), PRIMARY KEY (`nid`)) DEFAULT CHARSET=utf8mb4;\n"
)
CACHE = (
    b"CREATE TABLE `cache_filter` (`cid` varchar(255) NOT NULL, `data` longblob,"
    b" PRIMARY KEY (`cid`)) DEFAULT CHARSET=utf8mb4;\n"
)
texts = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)


def _load(tmp_path: Path, name: str, sql: bytes) -> Any:
    path = tmp_path / f"{name}.sql"
    path.write_bytes(sql)
    return open_dump(path, cache_dir=tmp_path / "cache", all_tables=True)


def _literal(value: str | bytes | None) -> bytes:
    if value is None:
        return b"NULL"
    if isinstance(value, bytes):
        return b"0x" + value.hex().encode() if value else b"''"
    return ("'" + escape_string(value) + "'").encode("utf-8")


rows = st.lists(
    st.tuples(
        st.one_of(st.none(), texts),
        st.one_of(st.none(), texts),
        st.one_of(st.none(), st.binary(max_size=30)),
        st.one_of(st.none(), texts),
    ),
    min_size=1,
    max_size=8,
)


@SLOW
@given(rows, st.booleans())
def test_dumped_rows_load_back_as_written(tmp_path: Path, data: list[Any], binary: bool) -> None:
    """INSERTs written as mysqldump escapes them load back value for value.

    ``node.bin`` is a VARBINARY column of a Drupal table, so it holds text (written as
    ``_binary '…'`` or as a hex literal) and comes back decoded; ``cache_filter.data``
    is binary by design and comes back as the same bytes.
    """
    values, blobs = [], []
    for nid, (title, body, raw, bin_text) in enumerate(data, start=1):
        encoded = None if bin_text is None else bin_text.encode("utf-8")
        bin_literal = b"_binary " + _literal(bin_text) if binary and bin_text is not None else None
        values.append(
            b"(%d,%s,%s,%s)"
            % (nid, _literal(title), _literal(body), bin_literal or _literal(encoded))
        )
        blobs.append(b"('c%d',%s)" % (nid, _literal(raw)))
    sql = TABLE + b"INSERT INTO `node` VALUES " + b",".join(values) + b";\n"
    sql += CACHE + b"INSERT INTO `cache_filter` VALUES " + b",".join(blobs) + b";\n"
    name = f"rows-{abs(hash(sql))}"
    with _load(tmp_path, name, sql) as src:
        got = src.rows("SELECT title, body, bin FROM {node} ORDER BY nid")
        cached = src.rows("SELECT data FROM {cache_filter} ORDER BY CAST(substr(cid, 2) AS INT)")
    assert got == [(t, b, s) for t, b, _, s in data]
    assert [r for (r,) in cached] == [r for _, _, r, _ in data]


@SLOW
@given(st.binary(max_size=300))
def test_any_bytes_after_a_create_table_is_loaded_or_one_error(tmp_path: Path, tail: bytes) -> None:
    sql = TABLE + b"INSERT INTO `node` VALUES " + tail
    try:
        _load(tmp_path, f"junk-{abs(hash(sql))}", sql).close()
    except MigrateError as exc:
        assert "\n" not in str(exc)


@SLOW
@given(
    st.lists(
        st.sampled_from(
            [
                b"'",
                b'"',
                b"\\",
                b"`",
                b"(",
                b")",
                b",",
                b";",
                b"\n",
                b"/*",
                b"*/",
                b"--",
                b"#",
                b"_binary",
                b"0x",
                b"x'",
                b"NULL",
                b"1",
                b"a",
                b"\xc3",
                b"\xff",
                b" ",
            ]
        ),
        max_size=40,
    )
)
def test_statement_fragments_are_loaded_or_one_error(tmp_path: Path, parts: list[bytes]) -> None:
    sql = TABLE + b"INSERT INTO `node` VALUES (1," + b"".join(parts) + b");\n"
    try:
        _load(tmp_path, f"frag-{abs(hash(sql))}", sql).close()
    except MigrateError as exc:
        assert "\n" not in str(exc)


# --- HTML cleaner ----------------------------------------------------------------------------


def _formats() -> dict[str, TextFormat]:
    data = json.loads((BODIES / "filter-formats.json").read_text(encoding="utf-8"))
    return {
        name: TextFormat(
            name,
            fmt["name"],
            bool(fmt["status"]),
            tuple(
                Filter(f["module"], f["name"], f["weight"], bool(f["status"]), f["settings"])
                for f in fmt["filters"]
            ),
        )
        for name, fmt in data.items()
    }


FORMATS = _formats()
html_pieces = st.sampled_from(
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "<a href='javascript:x()'>",
        '<a href=" jav&#x09;ascript:x">',
        "<svg onload=x>",
        "<div>",
        "</div>",
        "<b><i>",
        "</i>",
        "<p style='x:expression(1)'>",
        "<!--",
        "-->",
        "<![CDATA[",
        "]]>",
        "<iframe src=//x>",
        "<math><mi xlink:href='javascript:x'>",
        "Tiếng Việt",
        "&amp;",
        "&#0;",
        "\x00",
        "\ud7ff",
        "<",
        ">",
        '"',
        "'",
        "=",
        "\n\n",
        "<o:p>",
        "<font face=x>",
        "<table><tr><td>",
        "</table>",
        "<object data=x>",
        "<embed src=x>",
        "<form action=javascript:x>",
        "<base href=x>",
    ]
)
bodies = st.lists(html_pieces | st.text(max_size=10), max_size=30).map("".join)


def _scripting(html: str) -> list[str]:
    """Script elements, on* attributes and javascript: URLs left in cleaned HTML."""
    if not html.strip():
        return []
    found = []
    root = lxml_html.fragment_fromstring(html, create_parent="div")
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        if el.tag.lower() == "script":
            found.append(el.tag)
        for name, value in el.attrib.items():
            if name.lower().startswith("on"):
                found.append(name)
            if re.sub(r"[\x00-\x20]", "", value).lower().startswith(("javascript:", "vbscript:")):
                found.append(f"{name}={value}")
    return found


@FAST
@given(bodies, st.sampled_from(["filtered_html", "full_html", "plain_text", None]))
def test_cleaned_html_never_scripts_and_never_raises(body: str, fmt_name: str | None) -> None:
    fmt = FORMATS.get(fmt_name) if fmt_name else None
    result = clean_body(body, fmt, links=None)
    assert isinstance(result.html, str)
    assert _scripting(result.html) == []


@FAST
@given(st.binary(max_size=200))
def test_any_bytes_as_a_body_are_cleaned_not_raised(raw: bytes) -> None:
    result = clean_body(raw, FORMATS["filtered_html"], links=None)
    assert _scripting(result.html) == []


@FAST
@given(texts.filter(lambda t: "<" not in t and "&" not in t and t.strip() == t and t))
def test_plain_words_survive_filtered_html(text: str) -> None:
    """Text without markup is not lost: its words are in the cleaned HTML's text."""
    result = clean_body(text, FORMATS["filtered_html"], links=None)
    shown = lxml_html.fragment_fromstring(result.html, create_parent="div").text_content()
    words = [w for w in re.findall(r"\w+", text) if w.isascii()]
    assert all(w in shown for w in words)
