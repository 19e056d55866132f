"""Open a mysqldump/phpMyAdmin file (plain or gzip) as a ``Source``, with no MySQL server.

The dump is streamed once into an SQLite file cached under a key made of the dump's
sha256, the loader version and the table selection, so the next run opens instantly.
The cache is built in a temporary file and renamed only when complete: a bad dump
never leaves a half-built cache behind. A dump of 2 MiB or more is read and split into
rows by a forked process while this one converts and inserts them: two cores, two stages.

Values are converted the way MariaDB stores them and pymysql returns them: integers
as int, blob columns as the exact bytes, text decoded with the dump's client charset.
UPDATE, DELETE and TRUNCATE (a repair patch appended to a dump) apply where they stand,
their literals converted the same way.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import multiprocessing
import os
import pickle
import re
import signal
import sqlite3
import struct
import time
import uuid
import zlib
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, BinaryIO

from migrate.errors import (
    BadInput,
    DiskFull,
    DumpError,
    MigrateError,
    NotDrupal7,
    SchemaError,
    is_disk_full,
)
from migrate.identifiers import IDENTIFIER, Prefix
from migrate.source.sqldump_parser import (
    CHUNK,
    Column,
    DumpReader,
    Statement,
    TableDef,
    unescape,
)
from migrate.source.sqlite import SQLiteSource
from migrate.source.text import (
    TOOLKIT_TABLE_PREFIXES,
    TOOLKIT_TABLES,
    decode_binary_text,
    holds_text,
    mysql_latin1,
)

LOADER_VERSION = "4"
# Pipe capacity between the parser and the loader: a whole message, fewer wake-ups.
PIPE_BYTES = 1 << 20
_HEADER = struct.Struct("<Q")
# Dump file size (compressed or not) from which the cache gets 64 KiB pages.
BIG_PAGES_FROM = 32 << 20
# Dump file size from which the parser runs in a second process; below it, forking and
# shipping the rows cost more than the second core saves.
FORK_FROM = 2 << 20

# Tables the toolkit reads, unprefixed: ``migrate.source.text.TOOLKIT_TABLES``.
NEEDED_TABLES = TOOLKIT_TABLES
NEEDED_TABLE_PREFIXES = TOOLKIT_TABLE_PREFIXES
# Drupal 6 and 8+ marker tables: their schema lets detection say what the dump holds.
MARKER_TABLES = frozenset({"term_data", "term_node", "config", "key_value"})

DATA, SCHEMA = "data", "schema"
_NO_PREFIX = Prefix()


def default_cache_dir() -> Path:
    """$DRUPAL_MIGRATE_CACHE, else the XDG cache directory."""
    if env := os.environ.get("DRUPAL_MIGRATE_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "drupal-migrate"


def open_dump(
    path: Path,
    *,
    prefix: Prefix = _NO_PREFIX,
    cache_dir: Path | None = None,
    refresh: bool = False,
    all_tables: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> SQLiteSource:
    """Open a dump as a read-only Source, building its SQLite cache on first use.

    An empty ``prefix`` means "detect": tables are matched with or without a prefix
    and the prefix of the ``system`` table becomes the source's prefix.
    ``progress(done, total)`` reports bytes of the file read while building.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such dump file")
    auto = prefix == Prefix()
    selection = "all" if all_tables else "detect" if auto else f"prefix={prefix.describe()}"
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"{directory}: cannot create the dump cache directory: {exc}") from None
    digest = _file_sha256(path, directory, trust_memo=not refresh)
    key = hashlib.sha256(f"{digest}|{LOADER_VERSION}|{selection}".encode()).hexdigest()
    target = directory / f"{key[:32]}.sqlite"
    meta = {"dump": str(path), "sha256": digest, "loader": LOADER_VERSION, "selection": selection}
    selector = _Selector(prefix, auto, all_tables)
    built = refresh or not target.exists() or damage(target) is not None
    if built:
        _build_in(directory, path, target, selector, meta, progress)
    source = SQLiteSource(target, prefix, label=str(path))
    try:
        source.meta()
    except DumpError:  # damaged where the header cannot tell: rebuilt once, then trusted
        source.close()
        if built:
            raise
        _build_in(directory, path, target, selector, meta, progress)
        source = SQLiteSource(target, prefix, label=str(path))
    if auto:
        source.prefix = _detected_prefix(source, path)
    return source


def _build_in(
    directory: Path,
    path: Path,
    target: Path,
    selector: _Selector,
    meta: dict[str, str],
    progress: Callable[[int, int], None] | None,
) -> None:
    """Build the cache; a full disk is one line naming the cache folder."""
    try:
        _build(path, target, selector, meta, progress)
    except (OSError, sqlite3.Error) as exc:
        if not is_disk_full(exc):
            raise
        raise DiskFull(
            f"{directory}: no space left on the device for the dump cache; free some"
            " space (or give --cache-dir on another disk) and run the same command again"
        ) from None


_SQLITE_MAGIC = b"SQLite format 3\x00"


def damage(cache: Path) -> str | None:
    """What is wrong with a cache file (cut short, not SQLite), or None when it looks whole.

    Read from the 100-byte header, so a 1 GB cache is checked at once: the page size
    times the page count it records must be the file's size (a cache is written in
    rollback-journal mode and closed, so nothing of it lives in another file).
    """
    try:
        with cache.open("rb") as fh:
            header = fh.read(100)
        size = cache.stat().st_size
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        return "not an SQLite file"
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    counter_valid = header[24:28] == header[92:96]
    if counter_valid and pages and size != page_size * pages:
        return f"{size} bytes where its header says {page_size * pages}"
    return None


def _detected_prefix(source: SQLiteSource, path: Path) -> Prefix:
    found = source.meta().get("prefixes", "")
    prefixes = found.split(",") if found else []
    if len(prefixes) > 1:
        shown = ", ".join(repr(p) for p in prefixes)
        raise BadInput(
            f"{path}: the dump holds several Drupal sites (table prefixes {shown}); "
            "choose one with --prefix"
        )
    return Prefix(prefixes[0]) if prefixes else Prefix()


def _file_sha256(path: Path, directory: Path, *, trust_memo: bool) -> str:
    """The dump's sha256, remembered per (path, size, mtime, inode) so a reopen is instant."""
    stat = path.stat()
    identity = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ino}"
    memo_file = directory / f"sha256-{hashlib.sha256(identity.encode()).hexdigest()[:32]}"
    if trust_memo:
        try:
            remembered = memo_file.read_text().strip()
        except OSError:
            remembered = ""
        if len(remembered) == 64:
            return remembered
    with path.open("rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    tmp = memo_file.with_name(f".{memo_file.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(digest)
        os.replace(tmp, memo_file)
    except OSError:
        tmp.unlink(missing_ok=True)
    return digest


class _Selector:
    """Which tables of the dump to load: data, schema only, or not at all."""

    def __init__(self, prefix: Prefix, auto: bool, all_tables: bool) -> None:
        self.prefix = prefix
        self.auto = auto
        self.all_tables = all_tables
        self.seen: set[str] = set()

    def candidates(self, name: str) -> Iterator[tuple[str, str]]:
        """(unprefixed name, prefix) readings of a physical table name."""
        if not self.auto:
            default = self.prefix.default
            if name.startswith(default) and self.prefix.apply(name[len(default) :]) == name:
                yield name[len(default) :], default
            for table, table_prefix in self.prefix.per_table.items():
                if table_prefix + table == name:
                    yield table, table_prefix
            return
        yield name, ""
        for i, char in enumerate(name):
            # "cache_filter" is not table "filter" with prefix "cache_": table "cache" exists.
            if char == "_" and 0 < i < len(name) - 1 and name[:i] not in self.seen:
                yield name[i + 1 :], name[: i + 1]

    def role(self, name: str) -> str | None:
        self.seen.add(name)
        role = None
        for table, _ in self.candidates(name):
            if table in NEEDED_TABLES or table.startswith(NEEDED_TABLE_PREFIXES):
                return DATA
            if table in MARKER_TABLES:
                role = SCHEMA
        if self.all_tables and IDENTIFIER.match(name):
            return DATA
        return role

    def drupal_prefixes(self, loaded: set[str]) -> list[str]:
        return sorted({p for name in loaded for t, p in self.candidates(name) if t == "system"})


@contextmanager
def open_dump_bytes(path: Path) -> Iterator[tuple[BinaryIO, Callable[[], int]]]:
    """The dump's bytes, gunzipped when the content (not the name) says gzip.

    Yields the stream and a function telling how far into the file (compressed
    bytes) reading has got, for progress and error offsets.
    """
    raw = path.open("rb")
    try:
        is_gzip = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        if is_gzip:
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                yield unzipped, raw.tell  # type: ignore[misc]
        else:
            yield raw, raw.tell
    finally:
        raw.close()


def _build(
    path: Path,
    target: Path,
    selector: _Selector,
    meta: dict[str, str],
    progress: Callable[[int, int], None] | None,
) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    total = path.stat().st_size
    with contextlib.ExitStack() as stack:
        messages: Iterator[tuple[str, Any]]
        if total >= FORK_FROM:
            parser = _ParserProcess(path, selector, report_progress=progress is not None)
            messages = stack.enter_context(parser).messages()
        else:
            report = (lambda done: progress(done, total)) if progress is not None else None
            messages = stack.enter_context(contextlib.closing(_parse(path, selector, report)))
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            # MEMORY, not OFF: a CREATE UNIQUE INDEX that fails on duplicate keys must roll
            # back before the plain index replaces it. The build starts from an empty file,
            # so the journal holds next to nothing.
            for pragma in (
                f"page_size = {_page_size(total)}",
                "journal_mode = MEMORY",
                "synchronous = OFF",
                "locking_mode = EXCLUSIVE",
                "cache_size = -16384",
                "temp_store = FILE",
                "threads = 2",
            ):
                conn.execute(f"PRAGMA {pragma}")
            conn.execute("CREATE TABLE _dm_meta (key TEXT PRIMARY KEY, value TEXT)")
            conn.execute(
                "CREATE TABLE _dm_tables (name TEXT PRIMARY KEY, engine TEXT, collation TEXT, "
                "loaded INTEGER, rows INTEGER, line INTEGER)"
            )
            conn.execute("BEGIN")
            loader = _Loader(conn, path, selector)
            names_seen: list[str] = []
            for kind, payload in messages:
                if kind == "insert":
                    loader.insert(*payload)
                elif kind == "statement":
                    loader.handle(payload)
                elif kind == "progress" and progress is not None:
                    progress(payload, total)
                elif kind == "end":
                    names_seen = payload
            loaded = loader.finish()
            if not loaded:
                names = ", ".join(sorted(selector.seen)[:8]) or "none"
                raise NotDrupal7(
                    f"{path}: no Drupal tables in this dump (tables found: {names}"
                    f"{', ...' if len(selector.seen) > 8 else ''})"
                )
            meta["prefixes"] = ",".join(selector.drupal_prefixes(loaded))
            meta["built_at"] = f"{time.time():.6f}"
            meta["set_names"] = ",".join(names_seen)
            conn.executemany("INSERT INTO _dm_meta VALUES (?, ?)", meta.items())
            conn.execute("COMMIT")
            conn.close()
            os.replace(tmp, target)
        except BaseException:
            conn.close()
            tmp.unlink(missing_ok=True)
            raise


def _page_size(dump_bytes: int) -> int:
    """64 KiB pages for a big dump, 4 KiB for a small one.

    Index builds scan the table once per key, and scan fewer, fuller pages when they
    are big: a quarter less load time on big dumps, with audit and export no slower.
    A small dump is mostly nearly empty tables and indexes of at least a page each,
    which big pages only make slower to write and keep in memory.
    """
    return 65536 if dump_bytes >= BIG_PAGES_FROM else 4096


# --- the parser process ----------------------------------------------------------------------

_INSERTS = ("insert", "replace", "ignore")
_CHANGES = ("update", "delete", "truncate")


class _ParserProcess:
    """The dump read and split into rows in a forked child, while this process loads SQLite.

    Splitting rows and inserting them cost about the same, so the two stages keep both
    cores busy. Messages are length-prefixed pickles on a pipe; a full pipe blocks the
    child, so it stays a message or two ahead and memory stays flat. The child ignores
    Ctrl-C: the parent gets it and kills the child on the way out, as on any error.
    """

    def __init__(self, path: Path, selector: _Selector, *, report_progress: bool) -> None:
        self.path = path
        read_fd, write_fd = os.pipe()
        with contextlib.suppress(OSError):
            fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        self.pipe = open(read_fd, "rb", buffering=0)  # noqa: SIM115 - closed in __exit__
        self.buffer = bytearray(_HEADER.size)
        self.process = multiprocessing.get_context("fork").Process(
            target=_parse_in_child,
            args=(path, selector, write_fd, read_fd, report_progress),
            name="drupal-migrate dump parser",
            daemon=True,
        )
        try:
            self.process.start()
        except BaseException:
            self.pipe.close()
            raise
        finally:
            os.close(write_fd)

    def __enter__(self) -> _ParserProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.pipe.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join()

    def messages(self) -> Iterator[tuple[str, Any]]:
        """(kind, payload) in dump order, until "end"; the child's error is raised here."""
        while True:
            (size,) = _HEADER.unpack(self._read(_HEADER.size))
            kind, payload = pickle.loads(self._read(size))
            if kind == "error":
                raise payload
            yield kind, payload
            if kind == "end":
                return

    def _read(self, size: int) -> memoryview:
        """The next ``size`` bytes, read straight into a reused buffer (no copies)."""
        if len(self.buffer) < size:
            self.buffer = bytearray(size)
        view = memoryview(self.buffer)[:size]
        done = 0
        while done < size:
            got = self.pipe.readinto(view[done:])
            if not got:
                self.process.join()
                raise DumpError(
                    f"{self.path}: the dump parser process stopped unexpectedly "
                    f"(exit code {self.process.exitcode})"
                )
            done += got
        return view


def _parse_in_child(
    path: Path, selector: _Selector, write_fd: int, read_fd: int, report_progress: bool
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.close(read_fd)

    def send(kind: str, payload: Any) -> None:
        data = pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
        os.write(write_fd, _HEADER.pack(len(data)))
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view) :]

    try:
        try:
            report = (lambda done: send("progress", done)) if report_progress else None
            for kind, payload in _parse(path, selector, report):
                send(kind, payload)
        except BaseException as exc:
            send("error", _picklable(exc, path))
    except OSError:
        return
    finally:
        os.close(write_fd)


def _picklable(exc: BaseException, path: Path) -> BaseException:
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return DumpError(f"{path}: the dump parser failed: {exc!r}")
    return exc


def _parse(
    path: Path, selector: _Selector, progress: Callable[[int], None] | None
) -> Generator[tuple[str, Any], None, None]:
    """The loader's messages in dump order, then ("end", the SET NAMES charsets seen).

    ("statement", st) for CREATE, DROP and ALTER TABLE, UPDATE, DELETE and TRUNCATE;
    ("insert", (st, four_byte)) for a chunk of rows, ``four_byte`` telling whether its
    text may hold 4-byte UTF-8.
    """
    schema = _Schema(selector)
    with open_dump_bytes(path) as (fh, position):
        reader = DumpReader(fh, str(path), position=position, progress=progress, plan=schema.plan)
        schema.reader = reader
        statements = reader.statements()
        while True:
            try:
                st = next(statements, None)
            except (EOFError, OSError, zlib.error) as exc:
                end = reader.base + len(reader.buf)
                raise DumpError(
                    f"{path}: {reader.where(end)} of the SQL text (byte {position()} of the "
                    f"file): truncated or corrupt gzip data ({exc})"
                ) from None
            if st is None:
                yield "end", reader.names_seen
                return
            if st.kind in _INSERTS:
                first, last = max(st.start - reader.base, 0), st.end - reader.base
                four_byte = st.charset in _UTF8MB3 and any(
                    reader.buf.find(lead, first, last) >= 0 for lead in _FOUR_BYTE_LEADS
                )
                yield "insert", (st, four_byte)
                continue
            if st.kind == "create":
                assert st.tabledef is not None
                schema.create(st.tabledef)
            elif st.kind == "drop":
                schema.drop(st.table)
            elif st.kind != "alter" and st.kind not in _CHANGES:
                continue
            yield "statement", st


class _Schema:
    """The tables declared so far and the role of each loaded one.

    The parser process and the loader each keep one, fed the same CREATE and DROP
    statements in the same order, so the parser's plan matches what the loader does.
    """

    def __init__(self, selector: _Selector) -> None:
        self.selector = selector
        self.roles: dict[str, str] = {}
        self.declared: dict[str, TableDef] = {}
        self.reader: DumpReader | None = None

    def drop(self, name: str) -> bool:
        return self.roles.pop(name, None) is not None

    def create(self, tabledef: TableDef) -> str | None:
        self.drop(tabledef.name)
        role = self.selector.role(tabledef.name)
        self.declared[tabledef.name] = tabledef
        if role is not None:
            self.roles[tabledef.name] = role
        return role

    def plan(self, name: str, columns: list[str] | None) -> int | None:
        """The reader's question: how many values per row, or None to skip the rows."""
        role = self.roles.get(name)
        if role is None:
            if name not in self.declared:
                assert self.reader is not None
                raise self.reader.error(
                    self.reader.base + self.reader.pos,
                    f"`{name}` is written to before its CREATE TABLE (data-only dump?)",
                )
            return None
        if role != DATA:
            return None
        return len(columns) if columns is not None else len(self.declared[name].columns)


class _Position:
    """Byte offsets of the dump as the reader words them in errors: "line N (byte B)".

    The parser process does not ship the SQL text of every chunk for the sake of errors
    that almost never happen; on an error the file is read again up to the chunk.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.start = 0
        self.end = 0

    def text(self) -> bytes:
        """The SQL text of the chunk being loaded."""
        return _read_span(self.path, self.start, self.end)[1]

    def error(self, offset: int, message: str) -> DumpError:
        line = _read_span(self.path, offset, offset)[0] + 1
        return DumpError(f"{self.path}: line {line} (byte {offset}): {message}")


def _read_span(path: Path, start: int, end: int) -> tuple[int, bytes]:
    """(newlines before ``start``, SQL text from ``start`` to ``end``), streaming the file."""
    lines, offset, parts = 0, 0, []
    with open_dump_bytes(path) as (fh, _):
        while offset < end or offset <= start:
            data = fh.read(CHUNK)
            if not data:
                break
            lines += data.count(b"\n", 0, max(start - offset, 0))
            if offset + len(data) > start:
                parts.append(data[max(start - offset, 0) : end - offset])
            offset += len(data)
    return lines, b"".join(parts)


class _Table:
    """A table of the dump while it is being loaded."""

    def __init__(self, tabledef: TableDef, role: str, readings: list[str]) -> None:
        self.tabledef = tabledef
        self.role = role
        self.text_blobs = frozenset(
            c.name
            for c in tabledef.columns
            if c.kind == "blob" and c.base_type != "bit" and holds_text(readings, c.name)
        )
        """Binary columns holding text, decoded as they load (see ``migrate.source.text``)."""
        self.rows = 0
        self.by_name = {c.name.lower(): c for c in tabledef.columns}
        self.statements: dict[tuple[Any, ...], tuple[str, list[Callable[[bytes], Any]]]] = {}
        self.extra_keys: list[tuple[str, str, list[str]]] = []
        self.indexed = False
        self.indexes: list[str] = []
        self.lookups: dict[tuple[str, ...], str] = {}


class _Loader:
    """Turns parsed statements into SQLite tables and rows."""

    def __init__(self, conn: sqlite3.Connection, path: Path, selector: _Selector):
        self.conn = conn
        self.where = _Position(path)
        self.schema = _Schema(selector)
        self.tables: dict[str, _Table] = {}

    def handle(self, st: Statement) -> None:
        if st.kind == "create":
            self._index_all()
            self._create(st)
        elif st.kind == "drop":
            self._drop(st.table)
        elif st.kind == "alter" and st.keys and st.table in self.tables:
            self._unindex(self.tables[st.table])
            self.tables[st.table].extra_keys.extend(st.keys)
        elif st.kind in _CHANGES:
            self._change(st)

    def insert(self, st: Statement, four_byte: bool) -> None:
        """Load a chunk of rows; ``four_byte``: its text may hold 4-byte UTF-8 characters."""
        self.where.start, self.where.end = st.start, st.end
        table = self.tables.get(st.table)
        if table is not None and table.role == DATA:
            self._unindex(table)
            self._insert(table, st, four_byte)

    def _drop(self, name: str) -> None:
        if self.schema.drop(name):
            del self.tables[name]
            self.conn.execute(f'DROP TABLE "{name}"')

    def _change(self, st: Statement) -> None:
        """Apply an UPDATE, DELETE or TRUNCATE where it stands among the table's INSERTs.

        The literals are converted as an INSERT stores them and bound, never spliced in,
        so a compared value equals the stored one byte for byte; text columns compare
        with the collation the table was created with (NOCASE for MySQL's _ci).
        """
        self.where.start, self.where.end = st.start, st.end
        table = self.tables.get(st.table)
        if table is None or table.role != DATA:
            return
        name = _quoted(table.tabledef.name)
        if st.kind == "truncate":
            self.conn.execute(f"DELETE FROM {name}")
            table.rows = 0
            return
        charset = st.charset
        client = _utf8mb3 if charset in _UTF8MB3 else _decoder(charset, self.where, st.start)
        params: list[Any] = []
        assignments = []
        for column_name, token in zip(st.columns or [], st.values, strict=True):
            column = self._named(table, st, column_name)
            assignments.append(f"{_quoted(column.name)} = ?")
            params.append(self._bound(table, st, column, client, token))
        terms, lookup = [], []
        for column_name, op, token in st.where:
            column = self._named(table, st, column_name)
            if op == "=":
                terms.append(f"{_quoted(column.name)} = ?")
                params.append(self._bound(table, st, column, client, token, compared=True))
            else:
                terms.append(f"{_quoted(column.name)} {op}")
            if op != "IS NOT NULL":
                lookup.append(column.name)
        if st.kind == "update":
            sql = f"UPDATE {name} SET {', '.join(assignments)}"
        else:
            sql = f"DELETE FROM {name}"
        if terms:
            sql += " WHERE " + " AND ".join(terms)
        if lookup and not table.indexed:
            self._lookup_index(table, lookup)
        try:
            changed = self.conn.execute(sql, params).rowcount
        except sqlite3.IntegrityError as exc:
            raise self.where.error(st.start, f"{st.kind.upper()} `{st.table}`: {exc}") from None
        except OverflowError:
            raise self.where.error(
                st.start, f"{st.kind.upper()} `{st.table}`: an integer does not fit in 64 bits"
            ) from None
        if st.kind == "delete":
            table.rows -= changed

    def _named(self, table: _Table, st: Statement, name: str) -> Column:
        column = table.by_name.get(name.lower())
        if column is None:
            raise self.where.error(
                st.start, f"{st.kind.upper()} `{st.table}` names unknown column `{name}`"
            )
        return column

    def _bound(
        self,
        table: _Table,
        st: Statement,
        column: Column,
        client: Callable[[bytes], str],
        token: bytes,
        *,
        compared: bool = False,
    ) -> Any:
        """A literal as the value to bind: what an INSERT stores, or compares with.

        MySQL compares an integer column with a literal as numbers, unrounded:
        ``nid = '5.5'`` matches no row, though ``'5.5'`` stores as 6.
        """
        try:
            if compared and column.kind == "int":
                what, value = _literal(token)
                if what == "null":
                    return None
                number = _mysql_number(what, value)
                integral = number == number.to_integral_value()
                return int(number) if integral else float(number)
            text = column.name in table.text_blobs
            convert = _converter(column, table.tabledef, client, self.where, st.start, text)
            return convert(token)
        except ValueError as exc:
            raise self._bad_value(st, token, column.name, exc) from None

    def _lookup_index(self, table: _Table, columns: list[str]) -> None:
        """A plain index for the WHERE of changes to a table whose keys are not built yet.

        Without one, each UPDATE or DELETE of a patch scans the table. Being plain (not
        unique), it changes nothing for rows inserted later, so unlike the declared keys
        it stays across INSERTs until ``finish``, which builds the keys and drops it.
        """
        key = tuple(sorted(set(columns)))
        if key in table.lookups:
            return
        index = _quoted(f"{table.tabledef.name}__lookup_{len(table.lookups)}")
        names = ", ".join(_quoted(c) for c in key)
        self.conn.execute(f"CREATE INDEX {index} ON {_quoted(table.tabledef.name)} ({names})")
        table.lookups[key] = index

    def _create(self, st: Statement) -> None:
        tabledef = st.tabledef
        assert tabledef is not None
        self._drop(tabledef.name)
        role = self.schema.create(tabledef)
        if role is None:
            return
        self.conn.execute(_ddl(tabledef))
        readings = [t for t, _ in self.schema.selector.candidates(tabledef.name)]
        self.tables[tabledef.name] = _Table(tabledef, role, readings)

    def _prepared(
        self, table: _Table, st: Statement, strict: bool = False
    ) -> tuple[str, list[Callable[[bytes], Any]]]:
        columns_key = tuple(st.columns) if st.columns is not None else None
        cache_key = (st.kind, columns_key, st.charset, strict)
        found = table.statements.get(cache_key)
        if found is not None:
            return found
        if st.columns is None:
            columns = table.tabledef.columns
        else:
            try:
                columns = [table.by_name[name.lower()] for name in st.columns]
            except KeyError as exc:
                raise self.where.error(
                    st.start, f"INSERT INTO `{st.table}` names unknown column {exc}"
                ) from None
        verb = {"insert": "INSERT", "replace": "INSERT OR REPLACE", "ignore": "INSERT OR IGNORE"}
        names = ", ".join(f'"{c.name}"' for c in columns)
        marks = ", ".join("?" for _ in columns)
        sql = f'{verb[st.kind]} INTO "{table.tabledef.name}" ({names}) VALUES ({marks})'
        client = _utf8mb3 if strict else _decoder(st.charset, self.where, st.start)
        converters = [
            _converter(c, table.tabledef, client, self.where, st.start, c.name in table.text_blobs)
            for c in columns
        ]
        table.statements[cache_key] = (sql, converters)
        return sql, converters

    def _insert(self, table: _Table, st: Statement, four_byte: bool) -> None:
        strict = st.charset in _UTF8MB3 and four_byte
        sql, converters = self._prepared(table, st, strict)
        width, flat = st.width, st.values
        try:
            columns = [_convert_all(c, flat[j::width]) for j, c in enumerate(converters)]
        except (ValueError, UnicodeDecodeError):
            raise self._locate_bad_value(table, st, converters) from None
        try:
            self.conn.executemany(sql, zip(*columns, strict=True))
        except sqlite3.IntegrityError as exc:
            raise self.where.error(
                st.start, f"INSERT INTO `{st.table}` (statement at line {st.line}): {exc}"
            ) from None
        except OverflowError:
            raise self.where.error(
                st.start, f"INSERT INTO `{st.table}`: an integer does not fit in 64 bits"
            ) from None
        table.rows += len(flat) // width if width else 0

    def _locate_bad_value(
        self, table: _Table, st: Statement, converters: list[Callable[[bytes], Any]]
    ) -> MigrateError:
        names = [c.name for c in table.tabledef.columns] if st.columns is None else st.columns
        for row in st.rows:
            for name, convert, token in zip(names, converters, row, strict=True):
                try:
                    convert(token)
                except ValueError as exc:
                    return self._bad_value(st, token, name, exc, _row_key(table, names, row))
        return self.where.error(st.start, f"cannot read a row of `{st.table}`")

    def _bad_value(
        self, st: Statement, token: bytes, column: str, exc: ValueError, row: str = ""
    ) -> MigrateError:
        """The error for a literal that does not convert, at the byte where it fails."""
        if isinstance(exc, _UndecodableText):
            offset = self._offset(st, token)
            line = _read_span(self.where.path, offset, offset)[0] + 1
            where = row or f"of the {st.kind.upper()}"
            return SchemaError(f"{exc.message.replace('row ?', f'row {where}')} (dump line {line})")
        if isinstance(exc, UnicodeDecodeError):
            return self.where.error(
                self._offset(st, token) + exc.start + 1,
                f"bytes not valid in the dump's charset {st.charset} in "
                f"`{st.table}`.`{column}` ({exc.reason})",
            )
        return self.where.error(
            self._offset(st, token), f"bad value for `{st.table}`.`{column}`: {exc}"
        )

    def _index_all(self) -> None:
        """Create the declared keys of the tables loaded so far, after their rows: faster.

        A dump declares and fills one table at a time, so this runs when the next
        CREATE TABLE arrives, while the parser process reads on. Rows or keys arriving
        later for an indexed table drop its indexes again (``_unindex``): rows always go
        into a table without secondary indexes, so REPLACE, IGNORE and duplicate keys
        behave the same whatever the order of the dump.
        """
        for name, table in self.tables.items():
            if not table.indexed:
                table.indexes = self._create_indexes(name, table)
                table.indexed = True

    def _unindex(self, table: _Table) -> None:
        if table.indexed:
            for index in table.indexes:
                self.conn.execute(f"DROP INDEX {index}")
            table.indexes = []
            table.indexed = False

    def _create_indexes(self, name: str, table: _Table) -> list[str]:
        td = table.tabledef
        keys: list[tuple[str, str, list[str]]] = []
        if td.primary and not _inline_primary(td):
            keys.append(("primary", "PRIMARY", td.primary))
        keys += [("unique" if u else "index", n, cols) for n, u, cols in td.indexes]
        keys += [(kind, n, cols) for kind, n, cols in table.extra_keys]
        created = []
        for i, (kind, key_name, cols) in enumerate(keys):
            if not cols or any(c.lower() not in table.by_name for c in cols):
                continue
            index = f'"{name}__{i}_{key_name}"'
            columns = ", ".join(f'"{c}"' for c in cols)
            unique = "UNIQUE " if kind in ("primary", "unique") else ""
            try:
                self.conn.execute(f'CREATE {unique}INDEX {index} ON "{name}" ({columns})')
            except sqlite3.IntegrityError:
                self.conn.execute(f'CREATE INDEX {index} ON "{name}" ({columns})')
            created.append(index)
        return created

    def _offset(self, st: Statement, token: bytes) -> int:
        rel = self.where.text().find(token)
        return st.start + rel if rel >= 0 else st.start

    def finish(self) -> set[str]:
        """Create the keys still missing, drop the lookup indexes and record every table."""
        self._index_all()
        for table in self.tables.values():
            for index in table.lookups.values():
                self.conn.execute(f"DROP INDEX {index}")
        self.conn.executemany(
            "INSERT OR REPLACE INTO _dm_tables VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    name,
                    td.engine,
                    _table_collation(td),
                    int(name in self.tables and self.tables[name].role == DATA),
                    self.tables[name].rows if name in self.tables else 0,
                    td.line,
                )
                for name, td in self.schema.declared.items()
            ],
        )
        return set(self.tables)


# --- DDL -------------------------------------------------------------------------------------


def _quoted(name: str) -> str:
    """An SQLite identifier for a table or column name the dump declared."""
    return '"' + name.replace('"', '""') + '"'


_DECLARED = {
    "int": "INTEGER",
    "real": "REAL",
    "decimal": "DM_DECIMAL_TEXT",
    "blob": "BLOB",
    "date": "DM_DATE_TEXT",
    "datetime": "DM_DATETIME_TEXT",
    "timestamp": "DM_TIMESTAMP_TEXT",
    "time": "DM_TIME_TEXT",
}


def _case_insensitive(column: Column, table: TableDef) -> bool:
    """Whether MySQL compares this column case-insensitively (its collation ends in _ci)."""
    collation = column.collation
    if collation is None and column.charset is None:
        collation = table.collation
        charset = table.charset
    else:
        charset = column.charset
    if collation is None:
        return charset != "binary"
    return collation.endswith("_ci")


_DEFAULT_COLLATIONS = {"utf8mb3": "utf8mb3_general_ci", "latin1": "latin1_swedish_ci"}


def _table_collation(table: TableDef) -> str | None:
    """The collation MariaDB reports for the table (utf8 is spelled utf8mb3 since 10.6)."""
    collation = table.collation
    if collation is None and table.charset is not None:
        charset = "utf8mb3" if table.charset == "utf8" else table.charset
        collation = _DEFAULT_COLLATIONS.get(charset, f"{charset}_general_ci")
    if collation is not None and collation.startswith("utf8_"):
        collation = "utf8mb3_" + collation[5:]
    return collation


def _inline_primary(table: TableDef) -> bool:
    if len(table.primary) != 1:
        return False
    column = next((c for c in table.columns if c.name == table.primary[0]), None)
    return column is not None and column.kind == "int"


def _ddl(table: TableDef) -> str:
    inline = _inline_primary(table)
    parts = []
    for column in table.columns:
        if column.kind in ("text", "char"):
            declared = "TEXT COLLATE NOCASE" if _case_insensitive(column, table) else "TEXT"
        else:
            declared = _DECLARED[column.kind]
        text = f'"{column.name}" {declared}'
        if inline and column.name == table.primary[0]:
            text += " PRIMARY KEY"
        if column.default is not None:
            text += f" DEFAULT {_sqlite_default(column, table)}"
        parts.append(text)
    return f'CREATE TABLE "{table.name}" ({", ".join(parts)})'


def _sqlite_default(column: Column, table: TableDef) -> str:
    raw = column.default or b"NULL"
    if column.default_is_expression:
        word = raw.upper().split(b"(")[0]
        return "CURRENT_TIMESTAMP" if word.startswith(b"CURRENT_TIMESTAMP") else "NULL"
    value = _converter(column, table, _decoder("utf8mb4"), None, 0)(raw)
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"X'{value.hex()}'"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


# --- values ----------------------------------------------------------------------------------

_INTRODUCER_RE = re.compile(rb"_([A-Za-z0-9]+)\s*(.*)", re.S)
_LEADING_NUMBER_RE = re.compile(rb"\s*[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_FOUR_BYTE_RE = re.compile(rb"[\xf0-\xf4]")
_FOUR_BYTE_LEADS = (b"\xf0", b"\xf1", b"\xf2", b"\xf3", b"\xf4")
_UTF8MB3 = ("utf8", "utf8mb3")
_CODECS = {
    "utf8mb4": "utf-8",
    "ascii": "ascii",
    "latin2": "iso8859-2",
    "greek": "iso8859-7",
    "hebrew": "iso8859-8",
    "latin5": "iso8859-9",
    "latin7": "iso8859-13",
    "cp1250": "cp1250",
    "cp1251": "cp1251",
    "cp1256": "cp1256",
    "cp1257": "cp1257",
    "cp850": "cp850",
    "cp852": "cp852",
    "cp866": "cp866",
    "koi8r": "koi8-r",
    "koi8u": "koi8-u",
    "sjis": "shift_jis",
    "cp932": "cp932",
    "ujis": "euc-jp",
    "gbk": "gbk",
    "gb2312": "gb2312",
    "big5": "big5",
    "euckr": "euc-kr",
    "tis620": "tis-620",
    "ucs2": "utf-16-be",
    "utf16": "utf-16-be",
    "utf16le": "utf-16-le",
    "utf32": "utf-32-be",
}


def _utf8mb3(raw: bytes) -> str:
    text = raw.decode("utf-8")
    if len(text) != len(raw) and (m := _FOUR_BYTE_RE.search(raw)):
        raise UnicodeDecodeError(
            "utf8mb3", raw, m.start(), m.start() + 4, "4-byte character not valid in utf8mb3"
        )
    return text


def _utf8mb4(raw: bytes) -> str:
    return raw.decode("utf-8")


def _latin1(raw: bytes) -> str:
    """MySQL's latin1 is Windows-1252 with the five undefined bytes passed through."""
    return mysql_latin1(raw)


class _UndecodableText(ValueError):
    """A binary column holding text whose bytes decode in no charset it may have."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _binary_text(
    convert: Callable[[bytes], Any], column: Column, table: TableDef
) -> Callable[[bytes], Any]:
    """Wrap a blob converter for a column that holds text (see ``migrate.source.text``)."""
    charset = column.charset or table.charset

    def convert_binary_text(token: bytes) -> Any:
        value = convert(token)
        if not isinstance(value, bytes):
            return value
        try:
            text = decode_binary_text(
                value, table=table.name, column=column.name, row="?", charset=charset
            )
        except SchemaError as exc:
            raise _UndecodableText(exc.message) from None
        return text.rstrip("\x00") if column.base_type == "binary" else text

    return convert_binary_text


def _row_key(table: _Table, names: list[str], row: list[bytes]) -> str:
    """A row named by its primary key (else its first column) as the dump writes it."""
    keys = [n for n in table.tabledef.primary if n in names] or names[:1]
    return ", ".join(f"{n}={row[names.index(n)].decode('utf-8', 'replace')[:40]}" for n in keys)


def _decoder(
    charset: str | None, where: _Position | None = None, offset: int = 0
) -> Callable[[bytes], str]:
    name = (charset or "utf8mb4").lower()
    if name in ("utf8", "utf8mb3", "utf8mb4"):
        return _utf8mb4
    if name in ("latin1", "binary"):
        return _latin1
    codec = _CODECS.get(name)
    if codec is None:
        message = f"unsupported character set {name!r}"
        raise where.error(offset, message) if where else DumpError(message)
    return lambda raw: raw.decode(codec)


def _literal(token: bytes) -> tuple[str, Any]:
    """Any literal -> ("null"|"num"|"str"|"bin", value): the slow, general path."""
    first = token[:1]
    if first in (b"'", b'"'):
        return "str", unescape(token[1:-1], first[0])
    upper = token.upper()
    if upper == b"NULL":
        return "null", None
    if upper in (b"TRUE", b"FALSE"):
        return "num", b"1" if upper == b"TRUE" else b"0"
    if upper.startswith(b"0X") or upper.startswith(b"X'"):
        digits = token[2:] if upper.startswith(b"0X") else token[2:-1]
        return "bin", bytes.fromhex(("0" if len(digits) % 2 else "") + digits.decode())
    if upper.startswith(b"0B") or upper.startswith(b"B'"):
        bits = token[2:] if upper.startswith(b"0B") else token[2:-1]
        number = int(bits or b"0", 2)
        return "bin", number.to_bytes((len(bits) + 7) // 8, "big")
    if first == b"_":
        m = _INTRODUCER_RE.match(token)
        assert m is not None
        kind, value = _literal(m.group(2))
        if m.group(1).lower() != b"binary" and kind == "str":
            return "str:" + m.group(1).decode().lower(), value
        return "bin", value
    return "num", token


def _mysql_number(kind: str, value: Any) -> Decimal:
    """What MySQL makes of a literal used as a number: leading digits, else 0."""
    if kind == "bin":
        return Decimal(int.from_bytes(value, "big"))
    m = _LEADING_NUMBER_RE.match(value)
    try:
        return Decimal(m.group(0).strip().decode()) if m else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def _convert_all(convert: Callable[[bytes], Any], tokens: list[bytes]) -> list[Any]:
    """Convert one column of a batch with no Python code run per value where possible.

    Integer columns go through ``int`` directly; other columns convert each distinct
    literal once (bundles, languages, formats repeat on every row).
    """
    fast = getattr(convert, "fast", None)
    if fast is not None:
        try:
            return list(map(fast, tokens))
        except ValueError:
            pass
    distinct = set(tokens)
    if len(distinct) == len(tokens):
        return list(map(convert, tokens))
    converted = dict(zip(distinct, map(convert, distinct), strict=True))
    return list(map(converted.__getitem__, tokens))


def _converter(
    column: Column,
    table: TableDef,
    client: Callable[[bytes], str],
    where: _Position | None,
    offset: int,
    binary_text: bool = False,
) -> Callable[[bytes], Any]:
    """A function from a literal token to the Python value pymysql would return.

    ``binary_text``: a binary column holding text, decoded (``migrate.source.text``).
    """
    kind = column.kind
    own = _decoder(column.charset or table.charset, where, offset)

    def general(token: bytes) -> Any:
        what, value = _literal(token)
        if what == "null":
            return None
        if kind == "blob":
            return value
        if kind == "int":
            return int(_mysql_number(what, value).to_integral_value(ROUND_HALF_UP))
        if kind == "real":
            return float(_mysql_number(what, value))
        if kind == "decimal":
            return str(_mysql_number(what, value))
        if what == "num":
            return value.decode("ascii")
        if what == "bin":
            text = own(value)
        elif what.startswith("str:"):
            text = _decoder(what[4:], where, offset)(value)
        else:
            text = client(value)
        return text.rstrip(" ") if kind == "char" else text

    if kind == "int":

        def convert_int(token: bytes) -> Any:
            try:
                return int(token)
            except ValueError:
                return general(token)

        convert_int.fast = int  # type: ignore[attr-defined]
        return convert_int
    if kind == "real":

        def convert_real(token: bytes) -> Any:
            if token[:1] in b"'\"_xXbBnNtTfF" or token[:2] in (b"0x", b"0b"):
                return general(token)
            return float(token)

        convert_real.fast = float  # type: ignore[attr-defined]
        return convert_real
    if kind == "blob":

        def convert_blob(token: bytes) -> Any:
            if token[:1] == b"'":
                inner = token[1:-1]
                if b"\\" in inner or b"''" in inner:
                    return unescape(inner)
                return inner
            return general(token)

        return _binary_text(convert_blob, column, table) if binary_text else convert_blob
    if kind == "text":

        def convert_text(token: bytes) -> Any:
            if token[:1] == b"'":
                inner = token[1:-1]
                if b"\\" in inner or b"''" in inner:
                    inner = unescape(inner)
                return client(inner)
            return general(token)

        return convert_text
    return general
