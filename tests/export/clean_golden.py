"""A golden record of what ``clean_body`` makes of every real body the fixtures hold.

The corpus is every node body and summary and every comment body of the three bundled
dumps (read with the dump reader, no server), plus the hand-picked bodies of
``fixtures/bodies/`` under each text format and with scripts allowed. For each text the
record keeps the SHA-256 of the cleaned HTML, the change counts and the problems, so a
speed change to the cleaner can be checked to produce byte-identical output
(``test_clean_golden.py``) without keeping the old code around.

Regenerate only when a change is *meant* to alter the output, and say so in its commit:

    PYTHONPATH=tests .venv/bin/python tests/export/clean_golden.py
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

from migrate.export.clean import MapLinkResolver, clean_body
from migrate.records import TextFormat
from migrate.schema import Drupal7
from migrate.source.dump import open_dump

ROOT = Path(__file__).resolve().parents[2]
DUMPS = ("drupal7-broken", "drupal7-clean", "drupal7-core-fields")
GOLDEN = Path(__file__).resolve().parent / "clean_golden.json"
OLD_HOST = "http://www.example.edu.vn"

Text = tuple[str, str, TextFormat | None, MapLinkResolver, bool]
"""key, value, format, resolver, allow_scripts"""


def _dump_texts(name: str, cache: Path) -> Iterator[Text]:
    with open_dump(ROOT / "fixtures" / f"{name}.sql.gz", cache_dir=cache / name) as source:
        formats = Drupal7(source).text_formats
        bodies = source.rows(
            "SELECT entity_type, entity_id, delta, body_value, body_summary, body_format"
            " FROM {field_data_body} ORDER BY entity_type, entity_id, delta"
        )
        comments = source.rows(
            "SELECT entity_id, delta, comment_body_value, comment_body_format"
            " FROM {field_data_comment_body} ORDER BY entity_id, delta"
        )
        aliases = dict(source.rows("SELECT alias, source FROM {url_alias}"))
        nids = [int(n) for (n,) in source.rows("SELECT nid FROM {node}")]
        tids = [int(t) for (t,) in source.rows("SELECT tid FROM {taxonomy_term_data}")]
    links = MapLinkResolver(
        [OLD_HOST],
        {nid: f"/bai/{nid}/" for nid in nids},
        alias_to_source=aliases,
        file_url=lambda uri: "/files/" + uri.removeprefix("public://"),
        term_urls={tid: f"/chuyen-muc/{tid}/" for tid in tids},
        missing_tids={2, 5, 9, 10, 11, 35, 43, 44, 51, 52, 53},
    )
    for etype, eid, delta, value, summary, fmt in bodies:
        key = f"{name}:{etype}/{eid}/{delta}"
        if value:
            yield f"{key}:body", value, formats.get(fmt), links, False
        if summary:
            yield f"{key}:summary", summary, formats.get(fmt), links, False
    for cid, delta, value, fmt in comments:
        if value:
            yield f"{name}:comment/{cid}/{delta}", value, formats.get(fmt), links, False


def _sample_texts(links: MapLinkResolver) -> Iterator[Text]:
    from test_clean import FORMATS  # the fixture site's formats, with their settings

    for path in sorted((ROOT / "fixtures" / "bodies").glob("*.html")):
        value = path.read_text(encoding="utf-8")
        for fmt in (*sorted(FORMATS), None):
            fmt_obj = FORMATS[fmt] if fmt else None
            yield f"bodies/{path.name}:{fmt}", value, fmt_obj, links, False
        yield f"bodies/{path.name}:full_html+scripts", value, FORMATS["full_html"], links, True


def texts(cache: Path) -> Iterator[Text]:
    """Every text of the corpus, in a fixed order."""
    last: MapLinkResolver | None = None
    for name in DUMPS:
        for text in _dump_texts(name, cache):
            last = text[3]
            yield text
    assert last is not None
    yield from _sample_texts(last)


def record(cache: Path) -> dict[str, dict[str, object]]:
    """What the cleaner makes of each text: HTML digest, change counts, problems."""
    out: dict[str, dict[str, object]] = {}
    for key, value, fmt, links, allow_scripts in texts(cache):
        result = clean_body(value, fmt, links=links, allow_scripts=allow_scripts)
        out[key] = {
            "sha256": hashlib.sha256(result.html.encode("utf-8")).hexdigest(),
            "stats": dict(sorted(result.stats.items())),
            "problems": result.problems,
        }
    return out


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="clean_golden_") as cache:
        found = record(Path(cache))
    lines = (f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in found.items())
    GOLDEN.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")
    print(f"{len(found)} texts recorded in {GOLDEN}")


if __name__ == "__main__":
    main()
