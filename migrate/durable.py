"""Writing files so that a kill, a crash or a power cut leaves the old file or the new one.

Every writer of the toolkit (export batches, manifests, media copies, the
reconciliation report, repair journals) goes through these: a temp file in the
same folder, fsync, rename over the target, fsync the folder, so the rename
itself survives too.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TextIO

_CHUNK = 1 << 20


def fsync_dir(path: Path) -> None:
    """Make the folder's entries (a rename, a new or removed file) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _replacing(path: Path, sync: bool) -> Iterator[BinaryIO]:
    """A temp file beside ``path`` that replaces it once the block has written it all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as fh:
        yield fh
        fh.flush()
        if sync:
            os.fsync(fh.fileno())
    os.replace(tmp, path)
    if sync:
        fsync_dir(path.parent)


def write_durably(path: Path, data: str | bytes, sync: bool = True) -> None:
    """Replace ``path`` with ``data`` (str is written as UTF-8) atomically and durably.

    ``sync=False`` keeps the atomic rename but leaves flushing to one ``os.sync()``
    by the caller, for writers of many small files.
    """
    with _replacing(path, sync) as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)


@contextmanager
def text_writer(path: Path, sync: bool = True) -> Iterator[TextIO]:
    """A UTF-8 stream that replaces ``path`` durably once the block has written it all.

    For reports too large to build as one string (an audit of a million findings).
    """
    with _replacing(path, sync) as fh:
        text = io.TextIOWrapper(fh, encoding="utf-8", newline="")
        yield text
        text.flush()
        text.detach()


def copy_durably(src: Path, dest: Path, sync: bool = True) -> str:
    """Copy ``src`` to ``dest`` as ``write_durably`` writes; return the sha256 of what was read.

    The digest lets a caller check the copy against what it read, in one pass over the source.
    """
    digest = hashlib.sha256()
    with src.open("rb") as fin, _replacing(dest, sync) as fout:
        while chunk := fin.read(_CHUNK):
            digest.update(chunk)
            fout.write(chunk)
    return digest.hexdigest()
