"""Measure dump ingest: MB/s of SQL text and peak RSS, next to `mariadb < dump.sql`.

Each ingest runs in a fresh child process so its peak RSS (ru_maxrss) is its own;
the dump parser process it starts is reported next to it.
Figures printed are measured on this machine, nothing else.

    python bench/bench_ingest.py                   # the fixture and a generated ~1 GB dump
    python bench/bench_ingest.py --size-mb 200 --no-mariadb
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "fixtures" / "drupal7-broken.sql.gz"

CHILD = """
import json, resource, sys, time
from pathlib import Path
from migrate.source.dump import open_dump
path, cache, all_tables = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "1"
started = time.perf_counter()
source = open_dump(path, cache_dir=cache, refresh=True, all_tables=all_tables)
built = time.perf_counter() - started
started = time.perf_counter()
open_dump(path, cache_dir=cache)
reopen = time.perf_counter() - started
tables = len(source.table_names())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
parser = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps({"seconds": built, "reopen": reopen, "peak": peak, "parser_peak": parser,
                  "tables": tables}))
"""


def sql_bytes(path: Path) -> int:
    """Size of the SQL text (decompressed when gzip)."""
    with path.open("rb") as fh:
        if fh.read(2) != b"\x1f\x8b":
            return path.stat().st_size
    total = 0
    with gzip.open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            total += len(chunk)
    return total


def ingest(path: Path, cache: Path, all_tables: bool) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(cache), "1" if all_tables else "0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def mariadb_load(path: Path, client: str, args: list[str]) -> float:
    """Seconds for the mariadb client to load the dump into a scratch database."""
    name = f"dm_bench_{secrets.token_hex(5)}"
    subprocess.run([client, *args, "-e", f"CREATE DATABASE `{name}`"], check=True)
    try:
        started = time.perf_counter()
        if path.read_bytes()[:2] == b"\x1f\x8b":
            unzip = subprocess.Popen(["gzip", "-dc", str(path)], stdout=subprocess.PIPE)
            subprocess.run([client, *args, name], stdin=unzip.stdout, check=True)
            unzip.wait()
        else:
            with path.open("rb") as fh:
                subprocess.run([client, *args, name], stdin=fh, check=True)
        return time.perf_counter() - started
    finally:
        subprocess.run([client, *args, "-e", f"DROP DATABASE IF EXISTS `{name}`"], check=True)


def generate(target_mb: int, out: Path) -> float:
    """Write a dump of about target_mb MB of SQL; returns seconds taken."""
    sample = out.with_suffix(".sample.sql")
    script = str(REPO / "bench" / "generate_dump.py")
    subprocess.run(
        [sys.executable, script, "--nodes", "2000", "--out", str(sample)],
        check=True,
        capture_output=True,
    )
    base = sql_bytes(FIXTURE)
    per_node = (sample.stat().st_size - base) / 2000
    sample.unlink()
    nodes = max(1, int((target_mb * 1e6 - base) / per_node))
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, script, "--nodes", str(nodes), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def report(label: str, path: Path, cache: Path, all_tables: bool) -> None:
    size = sql_bytes(path)
    figures = ingest(path, cache, all_tables)
    selection = "all tables" if all_tables else "default tables"
    print(
        f"{label} ({selection}): {size / 1e6:.1f} MB SQL in {figures['seconds']:.2f} s = "
        f"{size / 1e6 / figures['seconds']:.1f} MB/s, peak RSS {figures['peak'] / 2**20:.0f} MiB "
        f"(+ parser process {figures['parser_peak'] / 2**20:.0f} MiB), "
        f"{figures['tables']:.0f} tables, cached reopen {figures['reopen'] * 1000:.0f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="generated dump size")
    parser.add_argument("--dump", type=Path, help="use this dump instead of generating one")
    parser.add_argument("--no-mariadb", action="store_true", help="skip the mariadb comparison")
    parser.add_argument("--mariadb-args", default="-h127.0.0.1 -uroot", help="client options")
    parser.add_argument("--workdir", type=Path, help="where to write the dump and caches")
    args = parser.parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="dm_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} CPUs, python {sys.version.split()[0]}")
    try:
        report("fixture drupal7-broken.sql.gz", FIXTURE, work / "cache", False)
        report("fixture drupal7-broken.sql.gz", FIXTURE, work / "cache", True)
        dump = args.dump
        if dump is None:
            dump = work / "generated.sql"
            seconds = generate(args.size_mb, dump)
            print(f"generated {dump.stat().st_size / 1e6:.0f} MB dump in {seconds:.1f} s")
        report(f"dump {dump.name}", dump, work / "cache", False)
        client = shutil.which("mariadb") or shutil.which("mysql")
        if not args.no_mariadb and client:
            options = args.mariadb_args.split()
            for label, path in (("fixture", FIXTURE), (dump.name, dump)):
                seconds = mariadb_load(path, client, options)
                size = sql_bytes(path)
                print(
                    f"mariadb < {label}: {size / 1e6:.1f} MB SQL in {seconds:.2f} s = "
                    f"{size / 1e6 / seconds:.1f} MB/s (all tables, server-side indexes)"
                )
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
