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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from migrate.durable import copy_durably
from migrate.errors import BadInput

COPIED = "copied"
UNCHANGED = "unchanged"
SIZE_MISMATCH = "size_mismatch"
MISSING = "missing"
PRIVATE = "private"
UNSUPPORTED = "unsupported_scheme"
NO_FILES_DIR = "no_files_dir"
COPY_FAILED = "copy_failed"

OK_STATUSES = frozenset({COPIED, UNCHANGED})
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


def public_relative_path(uri: str) -> str | None:
    """``public://a/b.jpg`` → ``a/b.jpg``; None for other schemes or unsafe paths."""
    if not uri.startswith("public://"):
        return None
    rel = uri[len("public://") :].lstrip("/")
    parts = PurePosixPath(rel).parts
    if not parts or any(p in ("..", ".") for p in parts):
        return None
    return "/".join(parts)


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
    dest_root: Path,
    sync: bool = True,
) -> MediaResult:
    """Copy one public file to ``dest_root/<relative path>`` and verify it.

    An existing identical copy (same size and sha256) is left alone, so a resumed
    export does not copy twice.
    """
    if uri.startswith("private://"):
        return MediaResult(fid, uri, PRIVATE, detail="private file: not published by the export")
    rel = public_relative_path(uri)
    if rel is None:
        return MediaResult(fid, uri, UNSUPPORTED, detail=f"cannot copy {uri!r}")
    if files_dir is None:
        return MediaResult(fid, uri, NO_FILES_DIR, detail="no --files-dir given")
    src = files_dir / rel
    if not src.is_file():
        return MediaResult(fid, uri, MISSING, detail=f"not found: {src}")
    size = src.stat().st_size
    dest = dest_root / rel
    if dest.is_file() and dest.stat().st_size == size and sha256_of(dest) == sha256_of(src):
        status = UNCHANGED
        digest = sha256_of(dest)
    else:
        try:
            digest = copy_verified(src, dest, sync)
        except OSError as exc:
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


def reconciliation_csv(results: Sequence[MediaResult]) -> str:
    """One CSV row per file: what the operator checks before switching sites."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["fid", "uri", "status", "dest", "size", "sha256", "detail"])
    for r in sorted(results, key=lambda r: r.fid):
        writer.writerow(
            [r.fid, r.uri, r.status, r.dest or "", r.size or "", r.sha256 or "", r.detail]
        )
    return out.getvalue()
