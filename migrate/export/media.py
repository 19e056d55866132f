"""Copying a site's files into a target's media folder, verified, with nothing skipped silently.

Drupal stores ``public://`` files under ``sites/default/files`` (``--files-dir``);
``private://`` files live outside the web root and are never published by an
export, only reported. Each copy is checked twice: the source size against
``file_managed.filesize`` (a mismatch means the file on disk is not the one
Drupal recorded), and the copy's sha256 against the source's (the copy is what
we meant). Every file ends in exactly one ``MediaResult`` status, so the
reconciliation report accounts for all of ``file_managed``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from migrate import paths
from migrate.durable import copy_durably
from migrate.errors import BadInput, StateError, is_disk_full

COPIED = "copied"
UNCHANGED = "unchanged"
SIZE_MISMATCH = "size_mismatch"
COPY_FAILED = "copy_failed"
MISSING = paths.MISSING
PRIVATE = paths.PRIVATE_FILE
UNSUPPORTED = paths.UNSUPPORTED
NO_FILES_DIR = paths.NO_FILES_DIR
UNSAFE = paths.UNSAFE
"""The URI names a path that could leave --files-dir (``..``, absolute, NUL ...)."""
OUTSIDE = paths.OUTSIDE
"""A symbolic link in --files-dir leads out of it."""
INTO_PRIVATE = paths.INTO_PRIVATE
"""The file resolves into the site's private files folder."""

OK_STATUSES = frozenset({COPIED, UNCHANGED})
ATTACHMENT_ID_OFFSET = 1_000_000
"""A file's WordPress attachment post id is this plus its fid, so it never meets a nid."""
NOT_PUBLISHED = frozenset({PRIVATE, UNSUPPORTED, UNSAFE, OUTSIDE, INTO_PRIVATE})
"""Files an export must not publish at all, not even as a link to where they would be."""
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class MediaResult:
    """What happened to one file_managed row."""

    fid: int
    uri: str
    status: str
    dest: str | None = None
    size: int | None = None
    sha256: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def copy_verified(src: Path, dest: Path, sync: bool = True) -> str:
    """Copy one file durably and check the copy's sha256; return it. Raises OSError."""
    digest = copy_durably(src, dest, sync)
    if sha256_of(dest) != digest:
        dest.unlink(missing_ok=True)
        raise OSError(f"{dest}: checksum of the copy differs from {src}")
    return digest


def copy_file(
    fid: int,
    uri: str,
    expected_size: int | None,
    files_dir: Path | None,
    out_dir: Path,
    folder: str,
    sync: bool = True,
    private_dir: Path | None = None,
) -> MediaResult:
    """Copy one public file to ``out_dir/folder/<relative path>`` and verify it.

    ``migrate.paths`` decides whether the file may be read (inside --files-dir, not
    private) and where it may be written (inside ``out_dir``); a refused file is
    never opened and gets the reason as its detail. An existing identical copy
    (same size and sha256) is left alone, so a resumed export does not copy twice.
    """
    where = paths.locate(uri, files_dir, private_dir)
    if not where.ok or where.source is None or where.rel is None:
        return MediaResult(fid, uri, where.status, detail=where.reason)
    rel, src = where.rel, where.source
    try:
        dest = paths.inside_out(out_dir, f"{folder}/{rel}")
    except StateError as exc:
        return MediaResult(fid, uri, paths.UNSAFE, detail=str(exc))
    size = src.stat().st_size
    if (not dest.is_symlink() and dest.is_file() and dest.stat().st_size == size) and sha256_of(
        dest
    ) == sha256_of(src):
        status = UNCHANGED
        digest = sha256_of(dest)
    else:
        try:
            digest = copy_verified(src, dest, sync)
        except OSError as exc:
            if is_disk_full(exc):
                raise  # not this file's fault: the run stops and resumes later
            return MediaResult(fid, uri, COPY_FAILED, detail=str(exc))
        status = COPIED
    if expected_size is not None and size != expected_size:
        return MediaResult(
            fid,
            uri,
            SIZE_MISMATCH,
            dest=rel,
            size=size,
            sha256=digest,
            detail=f"file_managed says {expected_size} bytes, the file has {size}",
        )
    return MediaResult(fid, uri, status, dest=rel, size=size, sha256=digest)


def check_files_dir(files_dir: Path | None) -> None:
    """Fail early on a --files-dir that cannot be the site's files folder."""
    if files_dir is not None and not files_dir.is_dir():
        raise BadInput(f"--files-dir {files_dir} is not a directory")


def summarize(results: Iterable[MediaResult]) -> dict[str, int]:
    """Count of files per status, for the run summary."""
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return dict(sorted(counts.items()))


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _printable(text: str) -> str:
    """Control characters (a NUL in a hostile URI) as ``\\xNN``: CSV readers choke on them."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def reconciliation_csv(results: Sequence[MediaResult]) -> str:
    """One CSV row per file: what the operator checks before switching sites."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["fid", "uri", "status", "dest", "size", "sha256", "detail"])
    for r in sorted(results, key=lambda r: r.fid):
        row = [r.fid, r.uri, r.status, r.dest or "", r.size or "", r.sha256 or "", r.detail]
        writer.writerow([_printable(v) if isinstance(v, str) else v for v in row])
    return out.getvalue()
