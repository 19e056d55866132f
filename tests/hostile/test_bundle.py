"""The output folder and the dump cache under hostile conditions.

* another Drupal site exported into an existing bundle is refused (exit 8, one line)
  unless ``--allow-other-site``; the same site (a dump, its MariaDB copy, a repaired
  or earlier state of it) is not;
* a read-only ``--out`` says the folder is not writable (exit 8, one line);
* a full disk (a real, small tmpfs) is one line with the folder and a resume hint,
  and the same command resumes once there is room;
* a dump cache cut in half or overwritten is detected and rebuilt.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import Guarded
from harness import (
    CliResult,
    assert_no_traceback,
    assert_one_line_error,
    run_cli,
)
from sites import BROKEN_DUMP, FIXTURES, db_url, set_variable

CLEAN_DUMP = FIXTURES / "drupal7-clean.sql.gz"
CORE_FIELDS_DUMP = FIXTURES / "drupal7-core-fields.sql.gz"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One dump cache for the module: each fixture dump is loaded once."""
    return tmp_path_factory.mktemp("dump-cache")


def _export(source: list[str], out: Path, cache: Path, *extra: str) -> CliResult:
    return run_cli(
        "export",
        *source,
        "--to",
        "jsonl",
        "--out",
        str(out),
        "--limit",
        "3",
        "--workers",
        "0",
        *extra,
        env={"DRUPAL_MIGRATE_CACHE": str(cache)},
    )


# ------------------------------------------------------------------ another site


@pytest.fixture(scope="module")
def rekeyed_db(databases: Any) -> str:
    """The broken site's copy whose installation key was changed: another installation."""
    spec = databases.create(BROKEN_DUMP)
    set_variable(spec, "drupal_private_key", "another-installation-entirely")
    return db_url(spec)


@pytest.fixture(scope="module")
def copy_db(databases: Any) -> str:
    """The broken site loaded into MariaDB: the same site as its dump."""
    return db_url(databases.create(BROKEN_DUMP))


SITE_PAIRS = [
    # (case, first source, second source, extra options, exit code of the second run)
    # The same site before and after its breakage: accepted; the reconciliation then
    # reports what changed since (exit 9), as for any stale bundle.
    ("clean_then_broken_same_site", "clean", "broken", ("--update",), 9),
    ("dump_then_its_mariadb_copy", "broken", "copy", (), 0),
    ("core_fields_is_another_site", "broken", "core_fields", (), 8),
    ("changed_private_key", "broken", "rekeyed", (), 8),
    # Mixing on purpose: done, and the reconciliation says the bundle is not one site.
    ("another_site_allowed", "broken", "core_fields", ("--allow-other-site",), 9),
    ("another_site_then_first_again", "core_fields", "broken", (), 8),
]


@pytest.mark.parametrize(
    ("first", "second", "extra", "code"),
    [p[1:] for p in SITE_PAIRS],
    ids=[p[0] for p in SITE_PAIRS],
)
def test_another_site_is_not_mixed_into_a_bundle(
    guarded: Guarded,
    cache: Path,
    copy_db: str,
    rekeyed_db: str,
    first: str,
    second: str,
    extra: tuple[str, ...],
    code: int,
) -> None:
    sources = {
        "broken": ["--dump", str(BROKEN_DUMP)],
        "clean": ["--dump", str(CLEAN_DUMP)],
        "core_fields": ["--dump", str(CORE_FIELDS_DUMP)],
        "copy": ["--db", copy_db],
        "rekeyed": ["--db", rekeyed_db],
    }
    done = _export(sources[first], guarded.out, cache)
    assert done.code == 0, done.stderr[-1500:]
    before = sorted(p.relative_to(guarded.out) for p in guarded.out.rglob("*.jsonl"))
    again = _export(sources[second], guarded.out, cache, *extra)
    if code == 8:
        assert_one_line_error(again, 8, "holds an export of")
        assert "--allow-other-site" in again.stderr
        after = sorted(p.relative_to(guarded.out) for p in guarded.out.rglob("*.jsonl"))
        assert after == before, "a refused run wrote into the bundle"
    else:
        assert_no_traceback(again)
        assert "holds an export of" not in again.stderr
        assert again.code == code, again.stderr[-1500:]


# ------------------------------------------------------------------ mounts


@contextmanager
def tmpfs(path: Path, options: str) -> Iterator[Path]:
    """A real tmpfs at ``path`` (root only); the test is skipped only when mounting fails."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def _remount(path: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True)


def test_a_read_only_out_says_so(guarded: Guarded, cache: Path) -> None:
    with tmpfs(guarded.out, "size=4m,ro"):
        result = _export(["--dump", str(BROKEN_DUMP)], guarded.out, cache)
    assert_one_line_error(result, 8, "not writable")
    assert str(guarded.out) in result.stderr


@pytest.mark.parametrize("command", ["export", "rollback", "status"])
def test_a_bundle_made_read_only_says_so(guarded: Guarded, cache: Path, command: str) -> None:
    """Writing to it is one line saying why; reading it (``status``) still works."""
    with tmpfs(guarded.out, "size=16m"):
        done = _export(["--dump", str(BROKEN_DUMP)], guarded.out, cache)
        assert done.code == 0, done.stderr[-1500:]
        _remount(guarded.out, "ro")
        if command == "export":
            result = _export(["--dump", str(BROKEN_DUMP)], guarded.out, cache)
        elif command == "rollback":
            result = run_cli("rollback", str(guarded.out), "--all")
        else:
            result = run_cli("status", str(guarded.out), "--format", "json")
    if command == "status":
        assert_no_traceback(result)
        assert result.code == 0, result.stderr
        assert json.loads(result.stdout)["counts"]["node"] == 3
    else:
        assert_one_line_error(result, 8, "not writable")


FULL_SIZES = ["24k", "64k", "160k", "400k", "1m"]


@pytest.mark.parametrize("target", ["jsonl", "hugo"])
@pytest.mark.parametrize("size", FULL_SIZES)
def test_a_full_disk_is_one_line_and_the_run_resumes(
    guarded: Guarded, cache: Path, target: str, size: str
) -> None:
    """The export fills a tmpfs of ``size``; with room again, the same command finishes."""
    command = [
        "export",
        "--dump",
        str(BROKEN_DUMP),
        "--to",
        target,
        "--out",
        str(guarded.out),
        "--batch-size",
        "50",
        "--workers",
        "0",
    ]
    env = {"DRUPAL_MIGRATE_CACHE": str(cache)}
    with tmpfs(guarded.out, f"size={size}"):
        full = run_cli(*command, env=env)
        assert_one_line_error(full, 1, "no space left on the device")
        assert "run the same command again" in full.stderr
        _remount(guarded.out, "size=64m")
        resumed = run_cli(*command, env=env)
        assert_no_traceback(resumed)
        assert resumed.code == 0, resumed.stderr[-1500:]
        report = json.loads((guarded.out / "reconciliation.json").read_text(encoding="utf-8"))
        nodes = next(c for c in report["counts"] if c["what"] == "nodes")
        assert nodes["found"] + nodes["left_out"] == nodes["source"] > 0, nodes


def test_a_full_cache_disk_is_one_line(guarded: Guarded) -> None:
    with tmpfs(guarded.out, "size=256k"):
        result = run_cli("inspect", "--dump", str(BROKEN_DUMP), "--cache-dir", str(guarded.out))
    assert_one_line_error(result, 1, "no space left on the device")
    assert str(guarded.out) in result.stderr


# ------------------------------------------------------------------ damaged dump cache


def _inspect(cache: Path, *extra: str) -> CliResult:
    return run_cli(
        "inspect", "--dump", str(BROKEN_DUMP), "--cache-dir", str(cache), "--format", "json", *extra
    )


def _cut_in_half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(b"not a database at all\n" * 100)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _header_only(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


def _zero_tail(path: Path) -> None:
    """Same size, its second half zeroed: the header still agrees, the pages do not."""
    data = path.read_bytes()
    half = len(data) // 2
    path.write_bytes(data[:half] + bytes(len(data) - half))


DAMAGE = [
    ("cut_in_half", _cut_in_half),
    ("garbage", _garbage),
    ("empty", _empty),
    ("header_only", _header_only),
]


@pytest.mark.parametrize("damage", [d[1] for d in DAMAGE], ids=[d[0] for d in DAMAGE])
def test_a_damaged_dump_cache_is_rebuilt(guarded: Guarded, damage: Any) -> None:
    cache = guarded.out / "cache"
    first = _inspect(cache)
    assert first.code == 0, first.stderr[-1500:]
    [built] = list(cache.glob("*.sqlite"))
    damage(built)
    again = _inspect(cache)
    assert_no_traceback(again)
    assert again.code == 0, again.stderr[-1500:]
    assert json.loads(again.stdout) == json.loads(first.stdout)


def test_a_cache_damaged_inside_is_one_line_with_the_cure(guarded: Guarded) -> None:
    """Damage the header cannot show is met when read: one line that names --refresh."""
    cache = guarded.out / "cache"
    assert _inspect(cache).code == 0
    [built] = list(cache.glob("*.sqlite"))
    _zero_tail(built)
    broken = _inspect(cache)
    if broken.code != 0:
        assert_one_line_error(broken, 6, "--refresh")
    cured = _inspect(cache, "--refresh")
    assert cured.code == 0, cured.stderr[-1500:]
