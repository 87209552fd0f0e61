"""Benchmark: `tgparser db copy` SQLite -> PostgreSQL against a bare COPY loop and pgloader.

    .venv/bin/python -m tests.bench.bench_copy [--messages 200000]

Builds a generated SQLite archive of N messages with ~3 KB rows (tests/bench/archive.py),
then loads it into fresh PostgreSQL databases (a throwaway cluster, as in the test suite):
1. `tgparser db copy --to …`, then `tgparser db verify --against …`;
2. a bare psycopg COPY loop over the same rows into the same schema (about the server's own
   limit for this data);
3. pgloader with default settings, when the `pgloader` command exists (Debian: pgloader).
Each runs as its own process: wall time, rows/s and peak RSS.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from tests import pgcluster
from tests.bench.archive import fill
from tests.bench.measure import run_measured
from tgparser.storage import open_storage

BARE_COPY = r"""
import sqlite3, sys, psycopg
from tgparser.storage.columns import TABLE_COLUMNS
source, target = sys.argv[1], sys.argv[2]
columns = ", ".join(TABLE_COLUMNS["messages"])
db = sqlite3.connect(source)
with psycopg.connect(target, autocommit=True) as conn:
    conn.execute("SET search_path TO tgparser")
    cursor = db.execute(f"SELECT {columns} FROM messages")
    with conn.transaction(), conn.cursor().copy(f"COPY messages ({columns}) FROM STDIN") as cp:
        while rows := cursor.fetchmany(5000):
            for row in rows:
                cp.write_row(row)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="tgparser-bench-"))
    cluster = pgcluster.start_cluster()
    try:
        sqlite_path = workdir / "archive.db"
        with open_storage(str(sqlite_path)) as storage:
            count = fill(storage, args.messages, long=True)
            total = sum(storage.count_rows(t) for t in ("messages", "message_versions"))
        size = sqlite_path.stat().st_size / 1e6
        print(
            f"archive: {count:,} messages ({total:,} rows with versions), {size:,.0f} MB "
            f"SQLite file, {size * 1e6 / total / 1000:.1f} KB per row"
        )

        def fresh_db(name: str) -> str:
            with open_storage(cluster.url()) as admin:
                admin._execute(f"DROP DATABASE IF EXISTS {name}")
                admin._execute(f"CREATE DATABASE {name}")
            return cluster.url(name)

        tgparser = [sys.executable, "-m", "tgparser", "--db", str(sqlite_path), "-q"]
        target = fresh_db("bench_tgparser")
        wall, rss = run_measured([*tgparser, "db", "copy", "--to", target])
        print(
            f"tgparser db copy:       {wall:6.1f} s  {total / wall:>8,.0f} rows/s  "
            f"peak RSS {rss:4.0f} MB"
        )
        wall_v, rss_v = run_measured([*tgparser, "db", "verify", "--against", target])
        print(
            f"tgparser db verify:     {wall_v:6.1f} s  (+{wall_v / wall:.0%} on the copy)  "
            f"peak RSS {rss_v:4.0f} MB"
        )

        bare_target = fresh_db("bench_bare")
        with open_storage(bare_target) as storage:
            storage.migrate()
        wall, rss = run_measured([sys.executable, "-c", BARE_COPY, str(sqlite_path), bare_target])
        with open_storage(bare_target) as storage:
            rows = storage.count_rows("messages")
        print(
            f"bare COPY loop:         {wall:6.1f} s  {rows / wall:>8,.0f} rows/s  "
            f"peak RSS {rss:4.0f} MB (messages only)"
        )

        pgloader = shutil.which("pgloader")
        if pgloader:
            loader_target = fresh_db("bench_pgloader")
            try:
                wall, rss = run_measured([pgloader, f"sqlite://{sqlite_path}", loader_target])
                print(
                    f"pgloader (defaults):    {wall:6.1f} s  {total / wall:>8,.0f} rows/s  "
                    f"peak RSS {rss:4.0f} MB"
                )
            except RuntimeError as exc:
                # SBCL's debugger wants a terminal after a fatal error: show what came before.
                lines = [line for line in str(exc).splitlines() if line.strip()]
                reason = next((line for line in lines if "exhausted" in line.lower()), lines[-1])
                print(f"pgloader (defaults):    failed: {reason.strip()[:200]}")
        else:
            print("pgloader: not installed (apt-get install pgloader)")
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
