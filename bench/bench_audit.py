"""Benchmark ``drupal-migrate audit`` on synthetic Drupal 7 databases of 10k / 100k / 1M nodes.

Each size gets its own MariaDB database (``dm_bench_<hex>``, dropped afterwards),
built by ``build_database``: the broken fixture is loaded as-is (so every kind
of breakage is present with its exact ground truth), then its 218 nodes are
copied with offset ids until the size is reached. In the copies, references to
unloadable terms (and their taxonomy_index rows) survive in one copy out of
``BROKEN_EVERY``, and one body in ``FULL_BODY_EVERY`` keeps the fixture's
real HTML (the others get a short body with a node link), so the breakage
stays a few percent of the data, as on a real site.

The audit runs in a child process per size; the script prints wall time, peak
RSS and the finding counts. It asserts nothing about time.

    python bench/bench_audit.py                 # 10k and 100k
    python bench/bench_audit.py --sizes 10000 100000 1000000
    python bench/bench_audit.py --keep          # leave the databases for inspection
    python bench/bench_audit.py --jobs 1 2 4    # one audit per connection count (default 1 2)
    python bench/bench_audit.py --reuse dm_bench_abc   # audit a kept database again, no build
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pymysql
import scratch

from migrate.config import ConnectionSpec

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "fixtures" / "drupal7-broken.sql.gz"
OFFSET = 1000  # larger than any nid or vid of the fixture
BROKEN_EVERY = 50
FULL_BODY_EVERY = 20


def _columns(cur: pymysql.cursors.Cursor, table: str) -> list[str]:
    cur.execute(f"SHOW COLUMNS FROM `{table}`")
    return [r[0] for r in cur.fetchall()]


def _copy(
    cur: pymysql.cursors.Cursor,
    table: str,
    exprs: dict[str, str],
    where: str = "1",
    skip: tuple[str, ...] = (),
) -> None:
    """INSERT copies 1..K of a template table, with some columns computed from ``s.n``."""
    cols = [c for c in _columns(cur, table) if c not in skip]
    select = ", ".join(exprs.get(c, f"t.`{c}`") for c in cols)
    names = ", ".join(f"`{c}`" for c in cols)
    cur.execute(f"CREATE TABLE `tpl_{table}` AS SELECT * FROM `{table}`")
    cur.execute(
        f"INSERT INTO `{table}` ({names}) SELECT {select} FROM `tpl_{table}` t"
        f" CROSS JOIN bench_seq s WHERE {where}"
    )
    cur.execute(f"DROP TABLE `tpl_{table}`")


def build_database(spec: ConnectionSpec, nodes: int) -> str:
    """Create and fill a ``dm_bench_*`` database with about ``nodes`` nodes; return its name."""
    name = f"dm_bench_{uuid.uuid4().hex[:10]}"
    conn = scratch.connect()
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    conn.close()
    scratch.load(name, FIXTURE)
    conn = scratch.connect(name)
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM node")
        base = int(cur.fetchone()[0])
        copies = max(0, math.ceil((nodes - base) / base))
        cur.execute("SET SESSION max_recursive_iterations = 100000000")
        cur.execute("CREATE TABLE bench_seq (n INT PRIMARY KEY)")
        cur.execute(
            "INSERT INTO bench_seq WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL"
            f" SELECT n + 1 FROM s WHERE n < {copies}) SELECT n FROM s"
        )
        off = f"s.n * {OFFSET}"
        cur.execute(
            "CREATE TABLE bench_live AS SELECT t.tid FROM taxonomy_term_data t"
            " INNER JOIN taxonomy_vocabulary v ON v.vid = t.vid"
        )
        cur.execute("ALTER TABLE bench_live ADD PRIMARY KEY (tid)")
        _copy(cur, "node", {"nid": f"t.nid + {off}", "vid": f"t.vid + {off}", "tnid": "0"})
        _copy(cur, "node_revision", {"nid": f"t.nid + {off}", "vid": f"t.vid + {off}"})
        cur.execute("SELECT field_name, type FROM field_config WHERE deleted = 0")
        for field_name, ftype in cur.fetchall():
            for prefix in ("field_data_", "field_revision_"):
                table = prefix + field_name
                exprs = {
                    "entity_id": f"t.entity_id + {off}",
                    "revision_id": f"t.revision_id + {off}",
                }
                where = "t.entity_type = 'node'"
                if ftype == "taxonomy_term_reference":
                    col = f"{field_name}_tid"
                    where += (
                        f" AND (s.n % {BROKEN_EVERY} = 0 OR EXISTS"
                        f" (SELECT 1 FROM bench_live l WHERE l.tid = t.`{col}`))"
                    )
                if ftype in ("text_with_summary", "text_long"):
                    col = f"{field_name}_value"
                    exprs[col] = (
                        f"CASE WHEN s.n % {FULL_BODY_EVERY} = 0 THEN t.`{col}` ELSE"
                        f" CONCAT('<p>Bản sao ', t.entity_id + {off},"
                        " ' <a href=\"/node/', t.entity_id, '\">xem</a></p>') END"
                    )
                _copy(cur, table, exprs, where)
        _copy(
            cur,
            "taxonomy_index",
            {"nid": f"t.nid + {off}"},
            f"s.n % {BROKEN_EVERY} = 0 OR EXISTS (SELECT 1 FROM bench_live l WHERE l.tid = t.tid)",
        )
        _copy(
            cur,
            "url_alias",
            {
                "source": f"CONCAT('node/', CAST(SUBSTRING(t.source, 6) AS UNSIGNED) + {off})",
                "alias": "CONCAT(t.alias, '/c', s.n)",
            },
            "t.source LIKE 'node/%'",
            skip=("pid",),
        )
        cur.execute("DROP TABLE bench_seq")
        cur.execute("DROP TABLE bench_live")
        cur.execute("ANALYZE TABLE node, node_revision, taxonomy_index, url_alias")
    conn.close()
    return name


_CHILD = """
import json, os, resource, sys, time
import pymysql
from migrate import api
from migrate.audit import select_checks
from migrate.config import from_url
from migrate.report.jsonout import write_json
spec, jobs, server_pid = from_url(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
json_out = sys.argv[4]
ids = [c.id for c in select_checks(["*"])]
tick = os.sysconf("SC_CLK_TCK")
monitor = pymysql.connect(host=spec.host, port=spec.port, user=spec.user,
                          password=spec.password, unix_socket=spec.unix_socket, autocommit=True)
threads = []

def server_cpu():
    # CPU seconds of the server threads serving the audit's connections (same machine only).
    if not server_pid:
        return 0.0
    if not threads:
        with monitor.cursor() as cur:
            cur.execute("SELECT TID FROM information_schema.PROCESSLIST"
                        " WHERE DB = %s AND ID <> CONNECTION_ID()", (spec.database,))
            threads.extend(int(r[0]) for r in cur.fetchall())
    total = 0
    for tid in threads:
        try:
            with open(f"/proc/{server_pid}/task/{tid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / tick

marks = []
def mark(done, total):
    marks.append((time.perf_counter(), time.process_time(), server_cpu()))

start = time.perf_counter()
report = api.audit(spec, jobs=jobs, progress=mark)
audited = time.perf_counter() - start
with open(json_out, "w", encoding="utf-8") as out:
    write_json(report, out)
total = time.perf_counter() - start
counts = {r.id: r.count for r in report.checks if r.count}
report.close()
# Checks finish in registration order only on one connection.
spent = {}
if jobs == 1:
    for i, a, b in zip(ids, marks, marks[1:]):
        spent[i] = [round(y - x, 2) for x, y in zip(a, b)]
print(json.dumps({"audit_s": audited, "with_json_s": total, "counts": counts, "spent": spent,
                  "notes": report.notes,
                  "client_cpu_s": marks[-1][1] - marks[0][1] if marks else 0.0,
                  "server_cpu_s": marks[-1][2] - marks[0][2] if marks else 0.0,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _server_pid() -> int:
    """The MariaDB server's process id when it runs on this machine (else 0: no server CPU)."""
    conn = scratch.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT @@pid_file")
        pid_file = Path(str(cur.fetchone()[0]))
    conn.close()
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return 0
    return pid if Path(f"/proc/{pid}/task").is_dir() else 0


def measure(
    spec: ConnectionSpec, database: str, jobs: int, json_out: str = "/dev/null"
) -> dict[str, object]:
    """Run the audit (and the JSON writer, to ``json_out``) in a fresh process.

    Besides wall time it reports the CPU time of the audit process and of the
    server threads serving its connections (read from /proc when the server runs
    here): on a shared machine those two stay put while the wall time swings.
    """
    secret = f":{spec.password}" if spec.password else ""
    url = f"mysql://{spec.user}{secret}@{spec.host}:{spec.port}/{database}"
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, url, str(jobs), str(_server_pid()), json_out],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def _count(spec: ConnectionSpec, database: str) -> tuple[int, int]:
    conn = scratch.connect(database)
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM node")
        nodes = int(cur.fetchone()[0])
        refs = 0
        cur.execute("SELECT field_name FROM field_config WHERE type = 'taxonomy_term_reference'")
        for (field_name,) in cur.fetchall():
            for prefix in ("field_data_", "field_revision_"):
                cur.execute(f"SELECT COUNT(*) FROM `{prefix}{field_name}`")
                refs += int(cur.fetchone()[0])
    conn.close()
    return nodes, refs


def _buffer_pool_mb() -> int:
    conn = scratch.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT @@innodb_buffer_pool_size")
        size = int(cur.fetchone()[0])
    conn.close()
    return size // (1 << 20)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--keep", action="store_true", help="Do not drop the databases.")
    parser.add_argument(
        "--jobs",
        type=int,
        nargs="+",
        default=[1, 2],
        help="Audit once per value, with that many aligned connections (audit --jobs).",
    )
    parser.add_argument(
        "--reuse",
        metavar="NAME",
        nargs="+",
        help="Audit these kept dm_bench_* databases instead of building (never dropped).",
    )
    parser.add_argument(
        "--json",
        metavar="DIR",
        type=Path,
        help="Keep each run's JSON report as DIR/<database>-jobs<N>.json (to diff two versions).",
    )
    args = parser.parse_args(argv)
    spec = scratch.server()
    print(f"MariaDB innodb_buffer_pool_size: {_buffer_pool_mb()} MB")
    print(
        f"{'nodes':>9} {'term refs':>10} {'build s':>8} {'jobs':>4} {'audit s':>8} {'+json s':>8}"
        f" {'peak MB':>8}  findings"
    )
    sizes: list[int | str] = list(args.reuse) if args.reuse else list(args.sizes)
    for size in sizes:
        start = time.perf_counter()
        name = size if isinstance(size, str) else build_database(spec, size)
        built = time.perf_counter() - start
        try:
            nodes, refs = _count(spec, name)
            for jobs in args.jobs:
                out = args.json / f"{name}-jobs{jobs}.json" if args.json else Path("/dev/null")
                got = measure(spec, name, jobs, str(out))
                counts = got["counts"]
                assert isinstance(counts, dict)
                print(
                    f"{nodes:>9} {refs:>10} {built:>8.1f} {jobs:>4} {got['audit_s']:>8.2f}"
                    f" {got['with_json_s']:>8.2f} {got['peak_rss_mb']:>8.0f}"
                    f"  {sum(counts.values())}"
                    f" ({', '.join(f'{k}={v}' for k, v in sorted(counts.items()))})",
                    flush=True,
                )
                for note in got["notes"]:  # type: ignore[attr-defined]
                    print(f"          note: {note}")
                print(
                    f"          cpu: audit process {got['client_cpu_s']:.2f} s,"
                    f" server threads {got['server_cpu_s']:.2f} s"
                )
                spent = got["spent"]
                assert isinstance(spent, dict)
                if spent:
                    slow = sorted(spent.items(), key=lambda kv: -kv[1][0])
                    print("          checks by time (wall / audit cpu / server cpu, s):")
                    for check_id, (wall, client, server) in slow:
                        row = f"{wall:>6.2f} {client:>6.2f} {server:>6.2f}"
                        print(f"            {check_id:<36} {row}")
        finally:
            if args.keep or args.reuse:
                print(f"kept database {name}")
            else:
                conn = scratch.connect()
                with conn.cursor() as cur:
                    cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
                conn.close()
    print(
        f"(bench process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB)"
    )


if __name__ == "__main__":
    main()
