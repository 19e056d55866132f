"""Benchmark ``clean_body`` over every node body of the fixture dump.

The dump is read with the toolkit's own dump reader (no database server needed);
each body is cleaned with its real text format and a resolver that knows every
node, alias, file and term of the site, exactly as an export would. The script
prints microseconds per body and bodies per second, per format and overall, for
the best of ``--rounds`` rounds. It asserts nothing.

    python bench/bench_clean.py
    python bench/bench_clean.py --dump fixtures/drupal7-clean.sql.gz --rounds 50
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from migrate.export.clean import MapLinkResolver, clean_body
from migrate.records import TextFormat
from migrate.schema import Drupal7
from migrate.source.dump import open_dump

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "fixtures" / "drupal7-broken.sql.gz"


def load(dump: Path) -> tuple[list[tuple[str, TextFormat | None]], MapLinkResolver]:
    with tempfile.TemporaryDirectory(prefix="bench_clean_") as cache:
        source = open_dump(dump, cache_dir=Path(cache))
        with source:
            formats = Drupal7(source).text_formats
            rows = source.rows(
                "SELECT entity_id, body_value, body_format FROM {field_data_body}"
                " WHERE entity_type = 'node' ORDER BY entity_id"
            )
            aliases = dict(source.rows("SELECT alias, source FROM {url_alias}"))
            tids = [int(t) for (t,) in source.rows("SELECT tid FROM {taxonomy_term_data}")]
    links = MapLinkResolver(
        ["http://www.example.edu.vn"],
        {int(nid): f"/bai/{nid}/" for nid, _, _ in rows},
        alias_to_source=aliases,
        file_url=lambda uri: "/files/" + uri.removeprefix("public://"),
        term_urls={tid: f"/chuyen-muc/{tid}/" for tid in tids},
        missing_tids={2, 5, 9, 10, 11, 35, 43, 44, 51, 52, 53},
    )
    return [(value, formats.get(fmt)) for _, value, fmt in rows], links


def measure(bodies: list[tuple[str, TextFormat | None]], links: MapLinkResolver) -> float:
    start = time.perf_counter()
    for value, fmt in bodies:
        clean_body(value, fmt, links=links)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dump", type=Path, default=FIXTURE)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    bodies, links = load(args.dump)
    size = sum(len(v.encode("utf-8")) for v, _ in bodies) / len(bodies)
    print(f"{len(bodies)} bodies from {args.dump.name}, {size / 1024:.1f} KiB on average")
    groups: dict[str, list[tuple[str, TextFormat | None]]] = {"all": bodies}
    for value, fmt in bodies:
        groups.setdefault(fmt.format if fmt else "(unknown)", []).append((value, fmt))
    measure(bodies, links)  # warm-up: regex compilation, caches
    for name, group in groups.items():
        best = min(measure(group, links) for _ in range(args.rounds))
        per_body = best / len(group)
        print(
            f"{name:>14}: {len(group):4d} bodies  {per_body * 1e6:7.1f} µs/body"
            f"  {1 / per_body:9,.0f} bodies/s (best of {args.rounds})"
        )


if __name__ == "__main__":
    main()
