"""The JSONL bundle: one file per batch per kind, each line ``records.to_dict(record)``.

Layout of an export directory::

    vocabularies/ terms/ authors/ files/ nodes/ redirects/   batch-000001.jsonl ...
    media/<relative path>      copies from --files-dir (FileRecord.exported_path)
    bundle.schema.json         the JSON Schema every line validates against
    manifest.json              counts per kind, written by finish()

Every file is written to a temp name, fsynced, renamed, and the directory
fsynced, so a batch file either exists whole or not at all.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from migrate import paths
from migrate.durable import copy_durably, fsync_dir, write_durably
from migrate.errors import StateError
from migrate.export import ItemRef, PathUrls, UrlScheme, WriterOptions, register_writer
from migrate.export.records import EncodedRecord, FileRecord, Record, to_json

SCHEMA_NAME = "bundle.schema.json"
KIND_DIRS = {
    "vocabulary": "vocabularies",
    "term": "terms",
    "author": "authors",
    "file": "files",
    "node": "nodes",
    "redirect": "redirects",
}
_KEY_FIELDS = {
    "vocabulary": "vid",
    "term": "tid",
    "author": "uid",
    "file": "fid",
    "node": "nid",
    "redirect": "source",
}


MEDIA_DIR = "media"


def batch_name(batch_no: int) -> str:
    return f"batch-{batch_no:06d}.jsonl"


def _record(path: Path, line: str) -> dict[str, Any]:
    try:
        data = json.loads(line)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise StateError(f"{path}: a line is not a bundle record; was the file edited?")
    return data


def _media_copy(out_dir: Path, batch_file: Path, exported: Any) -> Path:
    """The copy a file record names, which must lie under ``media/`` in the bundle."""
    rel = str(exported)
    if not rel.startswith(MEDIA_DIR + "/"):
        raise StateError(f"{batch_file}: refusing to remove {rel!r}: not under {MEDIA_DIR}/")
    return paths.inside_out(out_dir, rel)


@register_writer("jsonl")
class JsonlWriter:
    """Writes the bundle described in the module docstring."""

    urls: UrlScheme = PathUrls()
    takes_encoded = True

    def __init__(self) -> None:
        self.out_dir = Path()
        self.options = WriterOptions()

    def begin(self, out_dir: Path, options: WriterOptions) -> None:
        self.out_dir = out_dir
        self.options = options
        try:
            for name in KIND_DIRS.values():
                (out_dir / name).mkdir(parents=True, exist_ok=True)
            schema = resources.files("migrate.export").joinpath(SCHEMA_NAME).read_bytes()
            target = out_dir / SCHEMA_NAME
            if not target.exists() or target.read_bytes() != schema:
                write_durably(target, schema)
        except OSError as exc:
            raise StateError(f"{out_dir}: cannot prepare the bundle ({exc})") from None

    def write_batch(
        self, batch_no: int, records: Sequence[Record | EncodedRecord]
    ) -> list[ItemRef]:
        groups: dict[str, list[Record | EncodedRecord]] = defaultdict(list)
        for record in records:
            groups[record.KIND].append(record)
        refs: list[ItemRef] = []
        for kind, group in groups.items():
            if kind == "file":
                for record in group:
                    assert isinstance(record, FileRecord)
                    self._copy(record)
            rel = f"{KIND_DIRS[kind]}/{batch_name(batch_no)}"
            lines = [r.line if isinstance(r, EncodedRecord) else to_json(r) for r in group]
            write_durably(self.out_dir / rel, b"\n".join(lines) + b"\n")
            refs.extend(ItemRef(kind, r.key, rel) for r in group)
        return refs

    def _copy(self, record: FileRecord) -> None:
        """Copy a file the reader found publishable, decided again here by ``migrate.paths``."""
        if record.exported_path is None:
            return
        where = paths.locate(record.uri, self.options.files_dir, self.options.private_dir)
        if where.source is None:
            raise StateError(f"{record.uri}: changed while exporting: {where.reason}")
        copy_durably(where.source, paths.inside_out(self.out_dir, record.exported_path))

    def remove(self, items: Sequence[ItemRef]) -> None:
        by_file: dict[str, set[str]] = defaultdict(set)
        for item in items:
            by_file[item.target].add(item.source_id)
        for rel, keys in by_file.items():
            path = paths.inside_out(self.out_dir, rel)
            if not path.is_file():
                continue
            kept: list[str] = []
            copies: list[Path] = []
            for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
                data = _record(path, line)
                key = str(data.get(_KEY_FIELDS.get(str(data.get("kind")), ""), ""))
                if key not in keys:
                    kept.append(line)
                elif data.get("kind") == "file" and data.get("exported_path"):
                    # every copy is checked before any is removed: a batch file edited to
                    # name a path outside media/ is refused whole
                    copies.append(_media_copy(self.out_dir, path, data["exported_path"]))
            for copy in copies:
                copy.unlink(missing_ok=True)
            if kept:
                write_durably(path, "".join(kept))
            else:
                path.unlink()
                fsync_dir(path.parent)

    def discard_batch(self, batch_no: int) -> None:
        name = batch_name(batch_no)
        for sub in KIND_DIRS.values():
            folder = self.out_dir / sub
            for stray in (folder / name, folder / f".{name}.tmp"):
                stray.unlink(missing_ok=True)

    def finish(self, summary: Mapping[str, Any]) -> None:
        manifest = {
            "format": "drupal-migrate-jsonl",
            "version": 1,
            "schema": SCHEMA_NAME,
            "directories": KIND_DIRS,
            "counts": dict(sorted(dict(summary.get("counts", {})).items())),
        }
        data = json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
        write_durably(self.out_dir / "manifest.json", data)
