"""Helpers shared by the repair tests: checksums and reference sets read straight from MariaDB."""

from __future__ import annotations

from conftest import connect

from migrate.config import ConnectionSpec


def checksums(spec: ConnectionSpec, tables: list[str]) -> dict[str, int]:
    conn = connect(spec)
    with conn.cursor() as cur:
        cur.execute("CHECKSUM TABLE " + ", ".join(f"`{t}`" for t in tables))
        found = {name.split(".")[-1]: value for name, value in cur.fetchall()}
    conn.close()
    return found


def valid_references(spec: ConnectionSpec) -> set[tuple[int, str, int]]:
    """(nid, field, tid) of current term references whose term loads."""
    conn = connect(spec)
    found: set[tuple[int, str, int]] = set()
    with conn.cursor() as cur:
        for field in ("tags", "chuyen_muc", "don_vi", "chuyen_de"):
            cur.execute(
                f"SELECT f.entity_id, f.field_{field}_tid FROM field_data_field_{field} f"
                " JOIN taxonomy_term_data t ON t.tid = f.field_{field}_tid"
                " JOIN taxonomy_vocabulary v ON v.vid = t.vid".replace("{field}", field)
            )
            found |= {(int(n), field, int(t)) for n, t in cur.fetchall()}
    conn.close()
    return found


def scalar(spec: ConnectionSpec, sql: str) -> object:
    conn = connect(spec)
    with conn.cursor() as cur:
        cur.execute(sql)
        row = cur.fetchone()
    conn.close()
    return row[0] if row else None


CACHE_TABLES = ["cache_field", "cache_page", "cache_menu", "cache_path"]
