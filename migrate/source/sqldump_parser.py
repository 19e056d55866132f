"""A streaming reader for MySQL/MariaDB dump files (mysqldump, mariadb-dump, phpMyAdmin).

It works on raw bytes: values come out as the literal SQL tokens exactly as written
(``'it\\'s'``, ``0x1F8B``, ``NULL``, ``42``), because only the column type decides
whether a literal is text (decode with the client charset) or a blob (keep the bytes).
The file is read in chunks and scanned with regular expressions, so memory stays
bounded by the largest single row, never by the file.
"""

from __future__ import annotations

import codecs
import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from migrate.errors import DumpError

CHUNK = 1 << 22
LOOKAHEAD = 1 << 16
MAX_STATEMENT = 1 << 28
ROWS_PER_EVENT = 2000
SPLIT_WINDOW = 1 << 20

_SQ = rb"'[^'\\]*+(?:(?:\\.|'')[^'\\]*+)*+'"
_DQ = rb'"[^"\\]*+(?:(?:\\.|"")[^"\\]*+)*+"'
_NUM = rb"[-+]?(?:[0-9]++\.?[0-9]*+|\.[0-9]++)(?:[eE][-+]?[0-9]++)?"
VALUE = (
    rb"(?:" + _SQ + rb"|" + _DQ + rb"|_[A-Za-z0-9]++\s*+(?:" + _SQ + rb"|0x[0-9A-Fa-f]*+)"
    rb"|[xX]'[0-9A-Fa-f]*+'|[bB]'[01]*+'|0x[0-9A-Fa-f]++|0b[01]++|"
    + _NUM
    + rb"|(?i:NULL|TRUE|FALSE))"
)
VALUE_RE = re.compile(VALUE, re.S)
_ROW_RE = re.compile(
    rb"\s*+\(\s*+(" + VALUE + rb"(?:\s*+,\s*+" + VALUE + rb")*+)?\s*+\)\s*+([,;])", re.S
)
_STATEMENT_RE = re.compile(
    rb"(?:[^;'\"`/]++|" + _SQ + rb"|" + _DQ + rb"|`[^`]*+`|/\*.*?\*/|/)*+;", re.S
)
_SKIP_BODY_RE = re.compile(rb"(?:[^;'\"`]++|" + _SQ + rb"|" + _DQ + rb"|`[^`]*+`)*+", re.S)
_SKIP_RE = re.compile(rb"(?:\s++|--(?:[ \t\r][^\n]*+)?\n|#[^\n]*+\n|/\*(?![!M]).*?\*/)*+", re.S)
_NAME = rb"(?:`(?:[^`]|``)+`|[A-Za-z0-9_$]+)"
_QNAME = rb"(?:" + _NAME + rb"\s*\.\s*)?(" + _NAME + rb")"
_INSERT_RE = re.compile(
    rb"(INSERT|REPLACE)((?:\s+(?:LOW_PRIORITY|DELAYED|HIGH_PRIORITY|IGNORE))*)\s+(?:INTO\s+)?"
    + _QNAME
    + rb"\s*(?:\(([^)]*)\))?\s*VALUES?(?=[\s(])",
    re.I,
)
_CREATE_RE = re.compile(
    rb"CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMPORARY\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?" + _QNAME,
    re.I,
)
_ALTER_RE = re.compile(rb"ALTER\s+(?:IGNORE\s+)?TABLE\s+" + _QNAME, re.I)
_DROP_RE = re.compile(rb"DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?" + _QNAME + rb"\s*;", re.I)
_CONDITIONAL_RE = re.compile(rb"/\*(M?)!(\d*)(.*?)\*/\s*;?", re.S)
_DELIMITER_RE = re.compile(rb"DELIMITER[ \t]+(\S+)[^\n]*\n", re.I)
_DELIMITER_END_RE = re.compile(rb"^[ \t]*DELIMITER[ \t]+;[^\n]*(?:\n|\Z)", re.I | re.M)
_SPACE_RE = re.compile(rb"\s*")
_WORD_RE = re.compile(rb"[A-Za-z]+")
_SET_NAMES_RE = re.compile(rb"SET\s+NAMES\s+'?([A-Za-z0-9_]+)", re.I)
_SET_CLIENT_RE = re.compile(
    rb"SET\s+(?:@@(?:session\.)?)?character_set_client\s*=\s*'?(@?[A-Za-z0-9_]+)", re.I
)
_SAVE_CLIENT_RE = re.compile(rb"SET\s+(@\w+)\s*=\s*@@character_set_client", re.I)

_SKIPPED_STATEMENTS = frozenset(
    b"SET DROP LOCK UNLOCK USE START COMMIT BEGIN CREATE ALTER ROLLBACK SAVEPOINT FLUSH "
    b"SELECT GRANT ANALYZE OPTIMIZE RENAME".split()
)
_CHANGING_STATEMENTS = frozenset(b"UPDATE DELETE TRUNCATE".split())


@dataclass
class Column:
    """One column of a CREATE TABLE, reduced to what loading and querying need."""

    name: str
    base_type: str
    kind: str
    charset: str | None = None
    collation: str | None = None
    default: bytes | None = None
    default_is_expression: bool = False


@dataclass
class TableDef:
    """A CREATE TABLE statement: columns, keys and table options."""

    name: str
    columns: list[Column]
    primary: list[str] = field(default_factory=list)
    indexes: list[tuple[str, bool, list[str]]] = field(default_factory=list)
    engine: str | None = None
    charset: str | None = None
    collation: str | None = None
    line: int = 0


@dataclass
class Statement:
    """Anything in the dump: its kind, absolute byte span and what it carries.

    An UPDATE carries its SET list as ``columns`` and ``values``; an UPDATE or DELETE
    its WHERE as ``where``: (column, "=" or "IS NULL" or "IS NOT NULL", literal) terms.
    """

    kind: str
    start: int
    end: int
    table: str = ""
    tabledef: TableDef | None = None
    columns: list[str] | None = None
    values: list[bytes] = field(default_factory=list)
    width: int = 0
    charset: str = "utf8mb4"
    line: int = 0
    keys: list[tuple[str, str, list[str]]] = field(default_factory=list)
    first: bool = True
    where: list[tuple[str, str, bytes]] = field(default_factory=list)

    @property
    def rows(self) -> list[list[bytes]]:
        """The values regrouped by row."""
        w = self.width
        return [self.values[i : i + w] for i in range(0, len(self.values), w)] if w else []


_MYSQL_ESCAPES = {b"0": b"\0", b"b": b"\b", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"Z": b"\x1a"}
# Most frequent first: the replace loop stops as soon as no backslash is left.
_SIMPLE_ESCAPES = tuple(
    (b"\\" + char, _MYSQL_ESCAPES.get(char, char))
    for char in (b"n", b'"', b"'", b"r", b"t", b"0", b"Z", b"b")
)
# An escape Python's bytes literals read differently (or warn about); the backslash of
# an escaped backslash may match too, which only costs the fast path.
_NOT_PYTHON_ESCAPE_RE = re.compile(rb"\\(?:[^ntr'\"\\b0]|0[0-7])", re.S)
_BACKSLASH_ESCAPE_RE = re.compile(rb"\\(.)", re.S)
_SQ_ESCAPE_RE = re.compile(rb"\\(.)|''", re.S)
_DQ_ESCAPE_RE = re.compile(rb'\\(.)|""', re.S)


def _replace_escape(m: re.Match[bytes]) -> bytes:
    char = m.group(1)
    if char is None:
        return m.group(0)[:1]
    if char in (b"%", b"_"):
        return b"\\" + char
    return _MYSQL_ESCAPES.get(char, char)


def unescape(inner: bytes, quote: int = 39) -> bytes:
    """MySQL string escapes: \\0 \\n \\Z \\' \\\\ ..., doubled quotes; \\% and \\_ stay.

    Fastest path: when every escape means the same to Python (\\n \\" \\' ...; \\0 not
    before an octal digit), one C-level ``escape_decode`` pass. Next: split on escaped
    backslashes, then every remaining backslash escapes the byte after it, so plain
    replaces are exact; rare escapes fall back to a regex.
    """
    doubled = b"''" if quote == 39 else b'""'
    pattern = _SQ_ESCAPE_RE if quote == 39 else _DQ_ESCAPE_RE
    if b"\\" not in inner:
        return inner.replace(doubled, doubled[:1])
    if doubled in inner:
        return pattern.sub(_replace_escape, inner)
    if _NOT_PYTHON_ESCAPE_RE.search(inner) is None:
        return codecs.escape_decode(inner)[0]
    parts = inner.split(b"\\\\")
    for i, part in enumerate(parts):
        if b"\\" in part:
            for escaped, plain in _SIMPLE_ESCAPES:
                part = part.replace(escaped, plain)
                if b"\\" not in part:
                    break
            if b"\\" in part:
                # Not ``pattern``: quotes unescaped above must not read as doubled quotes.
                part = _BACKSLASH_ESCAPE_RE.sub(_replace_escape, part)
            parts[i] = part
    return b"\\".join(parts)


def unquote_name(raw: bytes) -> str:
    """`a``b` -> a`b ; plain names pass through."""
    if raw[:1] == b"`":
        raw = raw[1:-1].replace(b"``", b"`")
    return raw.decode("utf-8", "replace")


_INTEGER_TYPES = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year"}
_INTEGER_TYPES |= {"bool", "boolean"}
_REAL_TYPES = {"float", "double", "real"}
_DECIMAL_TYPES = {"decimal", "numeric", "dec", "fixed"}
_BLOB_TYPES = {"tinyblob", "blob", "mediumblob", "longblob", "binary", "varbinary", "bit"}
_DATE_TYPES = {"date", "datetime", "timestamp", "time"}


def _column_kind(base_type: str) -> str:
    if base_type in _INTEGER_TYPES:
        return "int"
    if base_type in _REAL_TYPES:
        return "real"
    if base_type in _DECIMAL_TYPES:
        return "decimal"
    if base_type in _BLOB_TYPES:
        return "blob"
    if base_type in _DATE_TYPES:
        return base_type
    if base_type == "char":
        return "char"
    return "text"


_DEF_TOKEN_RE = re.compile(
    rb"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`|[(),]|[^'\"`(),]+", re.S
)
_COLUMN_RE = re.compile(rb"\s*(" + _NAME + rb")\s+([A-Za-z]+)\s*(\([^)]*\))?(.*)", re.S)
_KEY_RE = re.compile(
    rb"\s*(PRIMARY\s+KEY|UNIQUE(?:\s+(?:KEY|INDEX))?|(?:FULLTEXT|SPATIAL)(?:\s+(?:KEY|INDEX))?"
    rb"|KEY|INDEX|CONSTRAINT|FOREIGN\s+KEY|CHECK|PERIOD)\b\s*(" + _NAME + rb")?(?:\s+USING\s+\w+)?"
    rb"\s*(?:\((.*)\))?",
    re.I | re.S,
)
_COMMENT_RE = re.compile(rb"\bCOMMENT\s+(?:'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.)*\")", re.I | re.S)
_CHARSET_RE = re.compile(rb"\b(?:CHARACTER\s+SET|CHARSET)\s*=?\s*'?(\w+)", re.I)
_COLLATE_RE = re.compile(rb"\bCOLLATE\s*=?\s*'?(\w+)", re.I)
_DEFAULT_RE = re.compile(
    rb"\bDEFAULT\s+(" + VALUE + rb"|[A-Za-z_]+(?:\(\d*\))?|\([^)]*\))", re.I | re.S
)
_ENGINE_RE = re.compile(rb"\b(?:ENGINE|TYPE)\s*=\s*(\w+)", re.I)


def _split_definitions(body: bytes) -> list[bytes]:
    parts: list[bytes] = []
    depth = 0
    current: list[bytes] = []
    for token in _DEF_TOKEN_RE.findall(body):
        if token == b"(":
            depth += 1
        elif token == b")":
            depth -= 1
        elif token == b"," and depth == 0:
            parts.append(b"".join(current))
            current = []
            continue
        current.append(token)
    if current:
        parts.append(b"".join(current))
    return [p.strip() for p in parts if p.strip()]


def _key_columns(raw: bytes) -> list[str]:
    names = []
    for part in _split_definitions(raw):
        m = re.match(_NAME, part.strip())
        if m:
            names.append(unquote_name(m.group(0)))
    return names


def parse_keys(definition: bytes) -> tuple[str, str, list[str]] | None:
    """A key clause -> (kind, name, columns); kind is primary/unique/index, or '' to ignore."""
    m = _KEY_RE.match(definition)
    if not m:
        return None
    word = m.group(1).upper().split()[0]
    name = unquote_name(m.group(2)) if m.group(2) else ""
    if word == b"PRIMARY":
        return "primary", name, _key_columns(m.group(3) or b"")
    if word == b"UNIQUE":
        return "unique", name, _key_columns(m.group(3) or b"")
    if word in (b"KEY", b"INDEX"):
        return "index", name, _key_columns(m.group(3) or b"")
    return "", name, []


def parse_create_table(name: str, statement: bytes, line: int) -> TableDef:
    """Columns, keys and options of a CREATE TABLE statement."""
    open_at = statement.index(b"(")
    depth = 0
    close_at = -1
    for token in _DEF_TOKEN_RE.finditer(statement, open_at):
        if token.group(0) == b"(":
            depth += 1
        elif token.group(0) == b")":
            depth -= 1
            if depth == 0:
                close_at = token.start()
                break
    if close_at < 0:
        raise ValueError("unbalanced parentheses")
    table = TableDef(name=name, columns=[], line=line)
    options = _COMMENT_RE.sub(b"", statement[close_at + 1 :])
    if m := _ENGINE_RE.search(options):
        table.engine = m.group(1).decode()
    if m := _CHARSET_RE.search(options):
        table.charset = m.group(1).decode().lower()
    if m := _COLLATE_RE.search(options):
        table.collation = m.group(1).decode().lower()
    for definition in _split_definitions(statement[open_at + 1 : close_at]):
        key = parse_keys(definition)
        if key is not None:
            kind, key_name, cols = key
            if kind == "primary":
                table.primary = cols
            elif kind:
                table.indexes.append((key_name or "_".join(cols), kind == "unique", cols))
            continue
        cm = _COLUMN_RE.match(definition)
        if not cm:
            raise ValueError(f"cannot read column definition {definition[:60]!r}")
        base = cm.group(2).decode().lower()
        rest = _COMMENT_RE.sub(b"", cm.group(4))
        column = Column(name=unquote_name(cm.group(1)), base_type=base, kind=_column_kind(base))
        if m := _CHARSET_RE.search(rest):
            column.charset = m.group(1).decode().lower()
        if m := _COLLATE_RE.search(rest):
            column.collation = m.group(1).decode().lower()
        if m := _DEFAULT_RE.search(rest):
            value = m.group(1)
            column.default = value
            column.default_is_expression = VALUE_RE.fullmatch(value) is None
        if re.search(rb"\bPRIMARY\s+KEY\b", rest, re.I):
            table.primary = [column.name]
        elif re.search(rb"\bUNIQUE\b", rest, re.I):
            table.indexes.append((column.name, True, [column.name]))
        table.columns.append(column)
    return table


class DumpReader:
    """Iterate the statements of a dump held in a binary file object, chunk by chunk.

    ``plan(table, columns)`` says what to do with an INSERT's rows: the number of values
    per row to expect, 0 if unknown, or None to step over them without tokenizing.
    """

    def __init__(
        self,
        fh: BinaryIO,
        label: str,
        *,
        position: Callable[[], int] | None = None,
        progress: Callable[[int], None] | None = None,
        plan: Callable[[str, list[str] | None], int | None] | None = None,
    ) -> None:
        self.fh = fh
        self.label = label
        self.buf = b""
        self.pos = 0
        self.base = 0
        self.lines_before = 0
        self._counted = 0
        self._counted_lines = 0
        self.eof = False
        self.charset = "utf8mb4"
        self.saved: dict[bytes, str] = {}
        self.names_seen: list[str] = []
        self._position = position
        self._progress = progress
        self.plan = plan
        self._classes: dict[bytes, int] = {}

    def line_at(self, offset: int) -> int:
        """Line number of an absolute offset inside the current buffer (counted incrementally)."""
        rel = max(0, min(offset - self.base, len(self.buf)))
        if rel < self._counted:
            self._counted, self._counted_lines = 0, self.lines_before
        self._counted_lines += self.buf.count(b"\n", self._counted, rel)
        self._counted = rel
        return self._counted_lines + 1

    def where(self, offset: int) -> str:
        return f"line {self.line_at(offset)} (byte {offset})"

    def error(self, offset: int, message: str) -> DumpError:
        return DumpError(f"{self.label}: {self.where(offset)}: {message}")

    def _fill(self, grow: bool = False) -> bool:
        if self.eof:
            return False
        if self.pos:
            self.lines_before = self.line_at(self.base + self.pos) - 1
            self._counted = 0
            self.base += self.pos
            self.buf = self.buf[self.pos :]
            self.pos = 0
        want = max(CHUNK, len(self.buf)) if grow else CHUNK
        if len(self.buf) > MAX_STATEMENT:
            raise self.error(self.base, "malformed statement, or a single row larger than 256 MiB")
        data = self.fh.read(want)
        if self._progress is not None and self._position is not None:
            self._progress(self._position())
        if not data:
            self.eof = True
            return False
        if self.base == 0 and not self.buf:
            data = self._check_start(data)
        self.buf += data
        return True

    def _check_start(self, data: bytes) -> bytes:
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            raise DumpError(
                f"{self.label}: line 1 (byte 0): the file is UTF-16 text (a PowerShell '>' "
                "redirect?); re-create it with mysqldump --result-file=FILE"
            )
        if data[:3] == b"\xef\xbb\xbf":
            self.base = 3
            return data[3:]
        return data

    def _match(self, pattern: re.Pattern[bytes]) -> re.Match[bytes] | None:
        """Match at pos, reading more until the match is certain or the file ends."""
        while True:
            m = pattern.match(self.buf, self.pos)
            if m is not None and (m.end() < len(self.buf) or self.eof):
                return m
            if not self._fill(grow=True):
                return pattern.match(self.buf, self.pos)

    def statements(self) -> Iterator[Statement]:
        """Every statement of the dump, INSERTs split into chunks of rows."""
        self._fill()
        while True:
            if len(self.buf) - self.pos < LOOKAHEAD and not self.eof:
                self._fill()
            m = _SKIP_RE.match(self.buf, self.pos)
            assert m is not None
            self.pos = m.end()
            if self.pos >= len(self.buf):
                if self._fill():
                    continue
                return
            if len(self.buf) - self.pos < LOOKAHEAD and not self.eof:
                continue
            yield from self._statement()

    def _statement(self) -> Iterator[Statement]:
        buf, pos = self.buf, self.pos
        start = self.base + pos
        head = buf[pos : pos + 2]
        if head == b"/*":
            if buf[pos + 2 : pos + 3] in (b"!", b"M"):
                m = self._match(_CONDITIONAL_RE)
                if m is None:
                    raise self.error(start, "unterminated /*! ... */ comment at end of file")
                self._set_charset(m.group(3))
                self.pos = m.end()
                yield Statement("other", start, self.base + self.pos)
            elif not self._fill(grow=True):
                raise self.error(start, "unterminated /* comment at end of file")
            return
        if head[:1] == b"#" or (head == b"--" and buf[pos + 2 : pos + 3] in b" \t\r\n"):
            if not self._fill(grow=True):
                self.pos = len(self.buf)
            return
        word_m = _WORD_RE.match(buf, pos)
        word = word_m.group(0).upper() if word_m else b""
        if word in (b"INSERT", b"REPLACE"):
            yield from self._insert(start)
        elif word == b"DELIMITER":
            yield self._delimiter_block(start)
        elif word == b"CREATE" and _CREATE_RE.match(buf, pos):
            yield self._create(start)
        elif word == b"ALTER" and _ALTER_RE.match(buf, pos):
            yield self._alter(start)
        elif word == b"DROP" and (m := _DROP_RE.match(buf, pos)):
            self.pos = m.end()
            yield Statement("drop", start, self.base + self.pos, table=unquote_name(m.group(1)))
        elif word in _SKIPPED_STATEMENTS:
            text = self._whole_statement(start)
            if word == b"SET":
                self._set_charset(text)
            yield Statement("other", start, self.base + self.pos)
        elif word in _CHANGING_STATEMENTS:
            yield self._change(start, word.decode())
        else:
            shown = buf[pos : pos + 30].decode("utf-8", "replace").split("\n")[0]
            raise self.error(start, f"not MySQL dump syntax: unexpected {shown!r}")

    def _whole_statement(self, start: int) -> bytes:
        m = self._match(_STATEMENT_RE)
        if m is None:
            raise self.error(start, "truncated statement at end of file (no closing ';')")
        self.pos = m.end()
        return m.group(0)

    def _set_charset(self, text: bytes) -> None:
        if m := _SET_NAMES_RE.search(text):
            self.charset = m.group(1).decode().lower()
            if self.charset not in self.names_seen:
                self.names_seen.append(self.charset)
        if m := _SAVE_CLIENT_RE.search(text):
            self.saved[m.group(1).lower()] = self.charset
        if m := _SET_CLIENT_RE.search(text):
            value = m.group(1)
            if value.startswith(b"@"):
                self.charset = self.saved.get(value.lower(), self.charset)
            else:
                self.charset = value.decode().lower()

    def _delimiter_block(self, start: int) -> Statement:
        m = self._match(_DELIMITER_RE)
        if m is None:
            raise self.error(start, "truncated DELIMITER line at end of file")
        if m.group(1) == b";":
            self.pos = m.end()
            return Statement("other", start, self.base + self.pos)
        self.pos = m.end()
        while True:
            end = _DELIMITER_END_RE.search(self.buf, self.pos)
            if end is not None:
                self.pos = end.end()
                return Statement("other", start, self.base + self.pos)
            if not self._fill(grow=True):
                raise self.error(start, "DELIMITER block never closed with 'DELIMITER ;'")

    def _create(self, start: int) -> Statement:
        line = self.line_at(start)
        m = _CREATE_RE.match(self.buf, self.pos)
        assert m is not None
        name = unquote_name(m.group(1))
        text = self._whole_statement(start)
        try:
            tabledef = parse_create_table(name, text, line)
        except (ValueError, IndexError) as exc:
            raise self.error(start, f"cannot read CREATE TABLE `{name}`: {exc}") from None
        return Statement("create", start, self.base + self.pos, table=name, tabledef=tabledef)

    def _alter(self, start: int) -> Statement:
        m = _ALTER_RE.match(self.buf, self.pos)
        assert m is not None
        name = unquote_name(m.group(1))
        text = self._whole_statement(start)
        keys = []
        for clause in _split_definitions(text[m.end() - m.start() : -1]):
            key = parse_keys(re.sub(rb"^\s*ADD\s+", b"", clause, flags=re.I))
            if key is not None and key[0]:
                keys.append(key)
        return Statement("alter", start, self.base + self.pos, table=name, keys=keys)

    def _change(self, start: int, verb: str) -> Statement:
        """An UPDATE, DELETE or TRUNCATE in the form a repair patch writes; others refused.

        A statement on a table the plan skips is stepped over once its target is known,
        as the rows of its INSERTs are: only writes to loaded tables matter.
        """
        line = self.line_at(start)
        text = self._whole_statement(start)
        parser = _ChangeParser(self, verb, text, start)
        table = parser.target()
        if self.plan is not None and self.plan(table, None) is None:
            return Statement("skipped", start, self.base + self.pos, table=table, line=line)
        columns, values, where = parser.rest()
        return Statement(
            verb.lower(),
            start,
            self.base + self.pos,
            table=table,
            columns=columns,
            values=values,
            charset=self.charset,
            line=line,
            where=where,
        )

    def _insert(self, start: int) -> Iterator[Statement]:
        m = self._match(_INSERT_RE)
        if m is None:
            raise self.error(start, "cannot read INSERT statement header")
        table = unquote_name(m.group(3))
        columns = _key_columns(m.group(4)) if m.group(4) is not None else None
        self.pos = m.end()
        line = self.line_at(start)
        ignore = b"IGNORE" in m.group(2).upper()
        kind = "replace" if m.group(1).upper() == b"REPLACE" else "ignore" if ignore else "insert"
        width = self.plan(table, columns) if self.plan is not None else 0
        if width is None:
            self._skip_statement(start)
            yield Statement("skipped", start, self.base + self.pos, table=table, line=line)
            return
        first = True
        while True:
            chunk_start = start if first else self.base + self.pos
            values, done, width = self._rows(table, width, line)
            yield Statement(
                kind,
                chunk_start,
                self.base + self.pos,
                table=table,
                columns=columns,
                values=values,
                width=width,
                charset=self.charset,
                line=line,
                first=first,
            )
            first = False
            if done:
                return

    def _rows(self, table: str, width: int, line: int) -> tuple[list[bytes], bool, int]:
        """Up to ROWS_PER_EVENT rows as one flat list of literals; (values, last?, width)."""
        values: list[bytes] = []
        findall = VALUE_RE.findall
        rows = 0
        while rows < ROWS_PER_EVENT:
            if width:
                run = self._split_rows(width)
                if run is not None:
                    found, count, done = run
                    values += found
                    rows += count
                    if done:
                        return values, True, width
                    continue
            row = _ROW_RE.match(self.buf, self.pos)
            if row is None:
                if self._fill(grow=True):
                    continue
                ahead = _SPACE_RE.match(self.buf, self.pos)
                raise self.error(
                    self.base + (ahead.end() if ahead else self.pos),
                    f"truncated or malformed row in INSERT INTO `{table}` "
                    f"(statement starts at line {line})",
                )
            found = findall(row.group(1)) if row.group(1) is not None else []
            if not width:
                width = len(found)
            if len(found) != width:
                raise self.error(
                    self.base + self.pos,
                    f"a row of INSERT INTO `{table}` has {len(found)} values for {width} columns",
                )
            self.pos = row.end()
            values += found
            rows += 1
            if row.group(2) == b";":
                return values, True, width
        return values, False, width

    def _split_rows(self, width: int) -> tuple[list[bytes], int, bool] | None:
        """Complete rows in the next MiB in one regex pass: (literals, rows, statement ended?).

        One split cuts the text into literals and the separators between them; each
        distinct separator is classified once (opener, comma, row joint, end, bad) and the
        sequence of classes is checked against ``o(i{w-1}j)*`` with one more regex. Rows
        whose separators are not all valid (the cut at the window end, a malformed row)
        are left for the exact row-by-row path, which reports errors.

        The split matches a string literal as ``'[^']*'``, a tight loop in ``re`` instead
        of a stop at every backslash: escaped backslashes and quotes are first masked
        with two other bytes (NUL, then 1 or 2) and put back in the literals afterwards.
        A window holding a raw NUL (mysqldump writes ``\\0``) gets the exact regex.
        """
        stop = self.buf.find(b";\n", self.pos, self.pos + SPLIT_WINDOW)
        end = stop + 2 if stop >= 0 else self.pos + SPLIT_WINDOW
        window = self.buf[self.pos : end]
        text = window.replace(b"\\\\", b"\0\1").replace(b"\\'", b"\0\2")
        masked = text != window
        if masked and b"\0" in window:
            parts = _SPLIT_RE.split(window)
            masked = False
        else:
            parts = _QUICK_SPLIT_RE.split(text)
        seps = parts[0::2]
        classes = self._classes
        if len(classes) > 4096:
            classes.clear()
        for sep in set(seps).difference(classes):
            classes[sep] = _classify(sep)
        kinds = bytes(map(classes.__getitem__, seps))
        m = _kinds_of(width).match(kinds)
        if m is None:
            return None
        rows = (m.end(1) - 1) // width
        done = m.group(2) is not None
        if done:
            rows += 1
        if not rows:
            return None
        last = 2 * rows * width
        closing = parts[last]
        rest = sum(map(len, parts[last:]))
        self.pos += len(window) - rest + closing.index(b";" if done else b",") + 1
        found = parts[1:last:2]
        if masked:
            found = [_unmask(value) if b"\0" in value else value for value in found]
        return found, rows, done

    def _skip_statement(self, start: int) -> None:
        """Step over a statement of any size without holding it all in memory."""
        while True:
            before = self.pos
            self.pos = _SKIP_BODY_RE.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf) and self.buf[self.pos] == 59:
                self.pos += 1
                return
            if not self._fill(grow=self.pos == before):
                raise self.error(start, "truncated statement at end of file (no closing ';')")


_SPLIT_RE = re.compile(rb"(" + VALUE + rb")", re.S)
# The same literals once escaped quotes and backslashes are masked (see _split_rows).
_QUICK_SQ = rb"'[^']*+(?:''[^']*+)*+'"
_QUICK_SPLIT_RE = re.compile(rb"(" + VALUE.replace(_SQ, _QUICK_SQ) + rb")", re.S)


def _unmask(value: bytes) -> bytes:
    return value.replace(b"\0\2", b"\\'").replace(b"\0\1", b"\\\\")


_SEPARATORS = (
    (re.compile(rb"\s*+,\s*+\Z"), ord("i")),
    (re.compile(rb"\s*+\)\s*+,\s*+\(\s*+\Z"), ord("j")),
    (re.compile(rb"\s*+\(\s*+\Z"), ord("o")),
    (re.compile(rb"\s*+\)\s*+;"), ord("e")),
)


def _classify(sep: bytes) -> int:
    """The role of the text between two literals of an INSERT (x: not valid there)."""
    for pattern, kind in _SEPARATORS:
        if pattern.match(sep):
            return kind
    return ord("x")


@functools.cache
def _kinds_of(width: int) -> re.Pattern[bytes]:
    """Separator classes of complete rows of ``width`` values: o, then (i{w-1} j)*."""
    inner = b"i" * (width - 1)
    return re.compile(rb"o((?:%sj)*+)(%se)?" % (inner, inner))


_CHANGE_TOKEN_RE = re.compile(
    rb"(" + VALUE + rb")(?![\w$])|(`(?:[^`]|``)+`)|([A-Za-z_$][\w$]*)|(<=>|<>|!=|<=|>=|\|\||&&|\S)",
    re.S,
)
_LITERAL, _QUOTED, _WORD, _PUNCT = 1, 2, 3, 4
_SUPPORTED = (
    "the reader applies only UPDATE t SET col = literal, ...; DELETE FROM t; TRUNCATE t; "
    "WHERE col = literal or col IS [NOT] NULL, joined by AND"
)


class _ChangeParser:
    """The tokens of one UPDATE, DELETE or TRUNCATE, read in the subset the loader applies.

    Anything outside it (joins, subqueries, functions, OR, ORDER BY, LIMIT ...) is a
    one-line error at the offending token: applying part of a statement, or guessing,
    would load a database that differs from what MySQL makes of the same dump.
    """

    def __init__(self, reader: DumpReader, verb: str, text: bytes, start: int) -> None:
        self.reader = reader
        self.verb = verb
        self.tokens: list[tuple[int, bytes, int]] = []
        pos = 0
        while True:
            pos = _SKIP_RE.match(text, pos).end()  # type: ignore[union-attr]
            m = _CHANGE_TOKEN_RE.match(text, pos)
            if m is None:
                break
            self.tokens.append((m.lastindex or _PUNCT, m.group(0), start + pos))
            pos = m.end()
        self.i = 1

    def refuse(self, what: str) -> DumpError:
        _, raw, offset = self.tokens[min(self.i, len(self.tokens) - 1)]
        shown = raw[:40].decode("utf-8", "replace")
        return self.reader.error(
            offset, f"unsupported {self.verb} in a dump: {what} at {shown!r} ({_SUPPORTED})"
        )

    def _peek(self) -> bytes:
        kind, raw, _ = self.tokens[self.i]
        return raw if kind == _QUOTED else raw.upper()

    def _take(self, *words: bytes) -> bool:
        if self._peek() in words:
            self.i += 1
            return True
        return False

    def _expect(self, word: bytes, what: str) -> None:
        if not self._take(word):
            raise self.refuse(what)

    def _name(self, what: str) -> str:
        kind, raw, _ = self.tokens[self.i]
        if kind not in (_QUOTED, _WORD) or raw.upper() in _KEYWORDS:
            raise self.refuse(f"expected {what}")
        self.i += 1
        return unquote_name(raw)

    def _literal(self, what: str) -> bytes:
        kind, raw, _ = self.tokens[self.i]
        if kind != _LITERAL:
            raise self.refuse(f"{what} must be a literal, not an expression")
        self.i += 1
        return raw

    def _column(self) -> str:
        name = self._name("a column name")
        if self._peek() in (b".", b"("):
            raise self.refuse("a qualified column name or a function call")
        return name

    def target(self) -> str:
        """The table written to; a multi-table form is refused here."""
        if self.verb == "UPDATE":
            while self._take(b"LOW_PRIORITY", b"IGNORE"):
                pass
        elif self.verb == "DELETE":
            while self._take(b"LOW_PRIORITY", b"QUICK", b"IGNORE"):
                pass
            self._expect(b"FROM", "a multi-table DELETE")
        else:
            self._take(b"TABLE")
        table = self._name("a table name")
        if self._take(b"."):
            table = self._name("a table name")
        follows = {"UPDATE": (b"SET",), "DELETE": (b"WHERE", b";"), "TRUNCATE": (b";",)}
        if self._peek() not in follows[self.verb]:
            raise self.refuse("a join, alias or clause after the table name")
        return table

    def rest(self) -> tuple[list[str], list[bytes], list[tuple[str, str, bytes]]]:
        """(SET columns, their literals, WHERE terms) of the statement after its target."""
        columns: list[str] = []
        values: list[bytes] = []
        if self._take(b"SET"):
            while True:
                columns.append(self._column())
                self._expect(b"=", "an assignment other than col = literal")
                values.append(self._literal("a value in SET"))
                if not self._take(b","):
                    break
        where: list[tuple[str, str, bytes]] = []
        if self._take(b"WHERE"):
            while True:
                self._condition(where)
                if not self._take(b"AND", b"&&"):
                    break
        if self._peek() in (b"OR", b"XOR", b"||"):
            raise self.refuse("OR in WHERE")
        if self._peek() != b";":
            raise self.refuse("a clause or operator")
        return columns, values, where

    def _condition(self, where: list[tuple[str, str, bytes]]) -> None:
        if self.tokens[self.i][0] == _LITERAL:
            first = self.i
            left = self._literal("a condition")
            self._expect(b"=", "a comparison other than =")
            right = self._literal("a condition")
            if left != right or not left.isdigit():
                self.i = first
                raise self.refuse("a condition between two literals other than 1 = 1")
            return
        column = self._column()
        if self._take(b"IS"):
            negated = self._take(b"NOT")
            if self._peek() != b"NULL":
                raise self.refuse("IS other than IS [NOT] NULL")
            self.i += 1
            where.append((column, "IS NOT NULL" if negated else "IS NULL", b"NULL"))
            return
        self._expect(b"=", "a comparison other than =")
        where.append((column, "=", self._literal("a compared value")))


_KEYWORDS = frozenset(
    b"SET WHERE AND OR XOR NOT IS FROM TABLE ORDER LIMIT JOIN INNER LEFT RIGHT CROSS "
    b"STRAIGHT_JOIN USING AS PARTITION IN LIKE BETWEEN SELECT RETURNING".split()
)
