"""Where a file may be read from and written to: one decision for every target and rollback.

A ``file_managed.uri`` comes from an untrusted database, the files folder may hold
symbolic links, and an export folder's own state and batch files may have been
edited by hand. So every path the toolkit reads from ``--files-dir`` or writes to
(or removes from) ``--out`` is decided here, and nowhere else:

* a ``public://`` URI names a file under ``--files-dir`` only if its relative path
  is plain: no ``..``/``.`` or dots-only name (also percent-encoded), no absolute
  path, Windows drive or backslash, no NUL or control character, no empty segment,
  no name over 255 bytes or path over 2,048 bytes (``unsafe_reason``);
* the file is read only where it *resolves* inside ``--files-dir`` (a symbolic link
  that leaves it is not followed) and never inside the site's private files folder
  (``locate``);
* a path in ``--out`` is written or removed only where it resolves inside ``--out``
  (``inside_out``).

A file refused here is never read; the caller lists it with the reason given here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from migrate.errors import StateError

PUBLIC = "public://"
PRIVATE = "private://"

MAX_NAME_BYTES = 255
"""Longest file or folder name Linux file systems accept."""
MAX_PATH_BYTES = 2048
"""Longest relative path accepted: what is left of PATH_MAX (4,096) under a deep --out."""

OK = "ok"
PRIVATE_FILE = "private"
UNSUPPORTED = "unsupported_scheme"
UNSAFE = "unsafe_path"
NO_FILES_DIR = "no_files_dir"
MISSING = "missing"
OUTSIDE = "outside_files_dir"
INTO_PRIVATE = "private_path"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")


def unsafe_reason(rel: str) -> str | None:
    """Why ``rel`` may not name a file below a folder, or None when it may."""
    if not rel:
        return "empty path"
    if "\x00" in rel:
        return "NUL byte in the path"
    if _CONTROL.search(rel):
        return "control character in the path"
    if "\\" in rel:
        return "backslash in the path (a Windows separator)"
    if rel.startswith("/"):
        return "absolute path"
    if _DRIVE.match(rel):
        return "Windows drive path"
    try:
        size = len(rel.encode("utf-8"))
    except UnicodeEncodeError:
        return "path is not valid Unicode"
    if size > MAX_PATH_BYTES:
        return f"path longer than {MAX_PATH_BYTES} bytes"
    for segment in rel.split("/"):
        if not segment:
            return "empty path segment (//)"
        decoded = unquote(segment)
        if not decoded.strip("."):
            return f"a name made only of dots ({segment!r})"
        if "/" in decoded or "\\" in decoded or "\x00" in decoded:
            return f"an encoded separator or NUL in {segment!r}"
        if len(segment.encode("utf-8")) > MAX_NAME_BYTES:
            return f"a name longer than {MAX_NAME_BYTES} bytes"
    return None


def public_relative(uri: str) -> str | None:
    """``public://a/b.jpg`` → ``a/b.jpg``; None for another scheme or an unsafe path."""
    if not uri.startswith(PUBLIC):
        return None
    rel = uri[len(PUBLIC) :]
    return None if unsafe_reason(rel) else rel


@dataclass(frozen=True, slots=True)
class FileLocation:
    """Where a ``file_managed`` URI may be read from, or why it may not be read at all."""

    status: str
    reason: str = ""
    rel: str | None = None
    """The safe path under ``--files-dir`` (also when the file itself is refused)."""
    source: Path | None = None
    """The resolved file to read: set only when ``status`` is ``ok``."""

    @property
    def ok(self) -> bool:
        return self.status == OK


def _within(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def locate(uri: str, files_dir: Path | None, private_dir: Path | None = None) -> FileLocation:
    """Decide whether the file of ``uri`` may be read, and from where (module docstring)."""
    if uri.startswith(PRIVATE):
        return FileLocation(PRIVATE_FILE, "private file: not published by the export")
    if not uri.startswith(PUBLIC):
        return FileLocation(UNSUPPORTED, f"cannot copy {uri!r}: not a public:// file")
    rel = uri[len(PUBLIC) :]
    why = unsafe_reason(rel)
    if why is not None:
        return FileLocation(UNSAFE, f"refused {uri!r}: {why}")
    if files_dir is None:
        return FileLocation(NO_FILES_DIR, "no --files-dir given", rel)
    root = files_dir.resolve()
    candidate = root / rel
    try:
        real = candidate.resolve(strict=True)
    except FileNotFoundError:
        return FileLocation(MISSING, f"not found: {candidate}", rel)
    except (OSError, RuntimeError) as exc:
        return FileLocation(UNSAFE, f"refused {uri!r}: cannot resolve it ({exc})", rel)
    if not _within(real, root):
        why = "a symbolic link leads out of --files-dir"
        return FileLocation(OUTSIDE, f"refused {uri!r}: {why}", rel)
    if private_dir is not None and _within(real, private_dir.resolve()):
        return FileLocation(
            INTO_PRIVATE, f"refused {uri!r}: it resolves into the private files folder", rel
        )
    if not real.is_file():
        return FileLocation(MISSING, f"not a regular file: {candidate}", rel)
    return FileLocation(OK, "", rel, real)


def private_dir(
    files_dir: Path | None, public_path: str | None, private_path: str | None
) -> Path | None:
    """The site's private files folder on this machine, when it can be told.

    ``file_private_path`` is absolute, or relative to Drupal's root, which is
    ``--files-dir`` without its ``file_public_path`` tail (``sites/default/files``).
    """
    if not private_path:
        return None
    private = Path(private_path)
    if private.is_absolute():
        return private
    if files_dir is None:
        return None
    public = Path((public_path or "sites/default/files").strip("/"))
    for folder in (files_dir.absolute(), files_dir.resolve()):  # as given, or behind a link
        if folder.parts[-len(public.parts) :] == public.parts:
            return Path(*folder.parts[: -len(public.parts)]) / private
    return None


def inside_out(out_dir: Path, rel: str) -> Path:
    """``out_dir/rel`` for writing or removing; StateError when it would leave ``out_dir``.

    The folders on the way must resolve inside ``out_dir`` (a link planted there is
    not followed); the last name may be a link, which is replaced or removed, never
    followed.
    """
    why = unsafe_reason(rel)
    if why is not None:
        raise StateError(f"{out_dir}: refusing {rel!r}: {why}")
    path = out_dir / rel
    root = out_dir.resolve()
    if not _within(path.parent.resolve(), root) or path.resolve(strict=False) == root:
        raise StateError(f"{out_dir}: refusing {rel!r}: it leads out of the output folder")
    return path
