"""Write a synthetic Drupal 7 dump of N nodes, grown from the real broken fixture.

Every table of the fixture is kept; the node-shaped rows (nodes, revisions, field
rows, comments, node aliases, taxonomy_index, ...) are cloned with id offsets, so each
copy carries the fixture's breakage too (field rows and index rows pointing at the
deleted terms). Terms, vocabularies, menus and caches stay as they are. The output is
plain MariaDB SQL (``mariadb db < FILE``), written as a stream; gzip when FILE ends .gz.

    python bench/generate_dump.py --nodes 100000 --out /tmp/d7-100k.sql.gz
"""

from __future__ import annotations

import argparse
import gzip
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from migrate.source.sqldump_parser import DumpReader, TableDef, unescape

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "drupal7-broken.sql.gz"
STATEMENT_BYTES = 1 << 20

# Cloned tables: column -> which id space it lives in. Field tables are handled apart.
CLONED = {
    "node": {"nid": "nid", "vid": "vid", "tnid": "nid"},
    "node_revision": {"nid": "nid", "vid": "vid"},
    "node_comment_statistics": {"nid": "nid", "cid": "cid"},
    "comment": {"cid": "cid", "pid": "cid", "nid": "nid"},
    "taxonomy_index": {"nid": "nid"},
    "node_access": {"nid": "nid"},
    "history": {"nid": "nid"},
    "url_alias": {"pid": "pid"},
    "file_usage": {"id": "nid"},
}
BODY_COLUMNS = ("body_value", "body_summary")


def escape(raw: bytes) -> bytes:
    """A MySQL single-quoted literal for raw bytes."""
    for plain, escaped in ((b"\\", b"\\\\"), (b"'", b"\\'"), (b"\n", b"\\n"), (b"\r", b"\\r")):
        raw = raw.replace(plain, escaped)
    return b"'" + raw.replace(b"\0", b"\\0").replace(b"\x1a", b"\\Z") + b"'"


def _literal_text(token: bytes) -> bytes:
    return unescape(token[1:-1]) if token[:1] == b"'" else token


class Generator:
    """Holds the fixture in memory (a few MB) and streams the grown dump."""

    def __init__(self, fixture: Path, nodes: int, body_bytes: int | None) -> None:
        self.data = gzip.decompress(fixture.read_bytes())
        self.nodes = nodes
        self.body_bytes = body_bytes
        self.tables: dict[str, TableDef] = {}
        self.rows: dict[str, list[list[bytes]]] = {}
        self.events: list[tuple[str, int, int, str, bool]] = []
        reader = DumpReader(io.BytesIO(self.data), str(fixture), plan=self._plan)
        for st in reader.statements():
            if st.tabledef is not None:
                self.tables[st.table] = st.tabledef
            if st.kind == "insert":
                self.rows.setdefault(st.table, []).extend(st.rows)
            self.events.append((st.kind, st.start, st.end, st.table, st.first))
        self.original = sorted(int(row[0]) for row in self.rows["node"])
        self.rank = {nid: i for i, nid in enumerate(self.original)}
        self.span = {
            "nid": self._max("node", 0) + 1,
            "vid": self._max("node_revision", 1) + 1,
            "cid": self._max("comment", 0) + 1,
            "pid": self._max("url_alias", 0) + 1,
        }
        self.copies = -(-nodes // len(self.original))
        if body_bytes is not None:
            self._cap_bodies(body_bytes)

    def _plan(self, table: str, columns: list[str] | None) -> int | None:
        if self._cloned(table):
            return len(columns) if columns else 0
        return None

    @staticmethod
    def _cloned(table: str) -> bool:
        return table in CLONED or table.startswith(("field_data_", "field_revision_"))

    def _max(self, table: str, index: int) -> int:
        return max((int(row[index]) for row in self.rows.get(table, [])), default=0)

    def _cap_bodies(self, limit: int) -> None:
        for table, rows in self.rows.items():
            names = [c.name for c in self.tables[table].columns]
            for index in [i for i, name in enumerate(names) if name in BODY_COLUMNS]:
                for row in rows:
                    if row[index][:1] == b"'":
                        text = unescape(row[index][1:-1])[:limit]
                        row[index] = escape(text.decode("utf-8", "ignore").encode("utf-8"))

    def _row_nid(self, table: str, row: list[bytes], names: list[str]) -> int | None:
        """The original node a row belongs to, or None for rows that are not cloned."""
        if table.startswith(("field_data_", "field_revision_")):
            if row[0] == b"'node'":
                return int(row[names.index("entity_id")])
            if row[0] == b"'comment'":
                return self.comment_nid.get(int(row[names.index("entity_id")]))
            return None
        if table == "url_alias":
            source = _literal_text(row[names.index("source")])
            parts = source.split(b"/")
            is_node = len(parts) == 2 and parts[0] == b"node" and parts[1].isdigit()
            return int(parts[1]) if is_node else None
        if table == "file_usage":
            return int(row[names.index("id")]) if row[names.index("type")] == b"'node'" else None
        if table == "comment":
            return int(row[names.index("nid")])
        nid = int(row[names.index("nid")])
        return nid if nid in self.rank else None

    def _transform(self, table: str) -> Callable[[list[bytes], int], list[bytes]]:
        names = [c.name for c in self.tables[table].columns]
        if table.startswith(("field_data_", "field_revision_")):
            ids = {"entity_id": "nid", "revision_id": "vid"}
        else:
            ids = CLONED[table]
        positions = [(names.index(col), space) for col, space in ids.items() if col in names]
        alias = names.index("alias") if table == "url_alias" else -1
        source = names.index("source") if table == "url_alias" else -1

        def transform(row: list[bytes], k: int) -> list[bytes]:
            out = list(row)
            is_comment = table.startswith("field_") and row[0] == b"'comment'"
            for index, space in positions:
                value = int(row[index])
                if value:
                    space = "cid" if is_comment else space
                    out[index] = str(value + k * self.span[space]).encode()
            if alias >= 0:
                nid = int(_literal_text(row[source]).split(b"/")[1])
                out[source] = b"'node/%d'" % (nid + k * self.span["nid"])
                out[alias] = row[alias][:-1] + b"-%d'" % k
            return out

        return transform

    def write(self, out: BinaryIO) -> int:
        """Stream the dump; returns the number of nodes written."""
        self.comment_nid = {int(r[0]): int(r[2]) for r in self.rows.get("comment", [])}
        position = 0
        for kind, start, end, table, first in self.events:
            if kind == "insert" and self._cloned(table):
                out.write(self.data[position:start])
                if first:
                    self._write_table(out, table)
            else:
                out.write(self.data[position:end])
            position = end
        out.write(self.data[position:])
        return min(self.nodes, self.copies * len(self.original))

    def _write_table(self, out: BinaryIO, table: str) -> None:
        names = [c.name for c in self.tables[table].columns]
        rows = self.rows[table]
        owners = [self._row_nid(table, row, names) for row in rows]
        transform = self._transform(table)
        header = b"INSERT INTO `" + table.encode() + b"` VALUES "
        batch: list[bytes] = []
        size = 0
        per_copy = len(self.original)
        for k in range(self.copies):
            for row, nid in zip(rows, owners, strict=True):
                if k and nid is None:
                    continue
                if (
                    nid is not None
                    and nid in self.rank
                    and k * per_copy + self.rank[nid] >= self.nodes
                ):
                    continue
                text = b"(" + b",".join(transform(row, k) if k else row) + b")"
                batch.append(text)
                size += len(text) + 1
                if size >= STATEMENT_BYTES:
                    out.write(header + b",\n".join(batch) + b";\n")
                    batch, size = [], 0
        if batch:
            out.write(header + b",\n".join(batch) + b";\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, required=True, help="number of nodes to write")
    parser.add_argument("--out", type=Path, required=True, help="output file (.gz: gzipped)")
    parser.add_argument("--body-bytes", type=int, help="cap each body to this many bytes")
    parser.add_argument("--fixture", type=Path, default=FIXTURE, help="the dump to grow from")
    args = parser.parse_args(argv)
    started = time.monotonic()
    generator = Generator(args.fixture, args.nodes, args.body_bytes)
    gzipped = args.out.name.endswith(".gz")
    with gzip.open(args.out, "wb", 1) if gzipped else args.out.open("wb") as out:
        written = generator.write(out)  # type: ignore[arg-type]
    seconds = time.monotonic() - started
    size = args.out.stat().st_size
    print(f"{args.out}: {written} nodes, {size / 1e6:.1f} MB on disk, {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
