"""Benchmark: NDJSON export against `sqlite-utils query --nl`, and search latency.

    .venv/bin/python -m tests.bench.bench_export [--messages N] [--backend sqlite|postgresql|both]

Builds a generated archive (tests/bench/archive.py) of N messages, then
- times `tgparser export messages --format ndjson -o /dev/null` and, on SQLite,
  `sqlite-utils query --nl` running the equivalent SELECT on the same file; peak RSS of each;
- runs two-word searches (20 different queries, 3 rounds) and reports the median latency.

Targets: export at least as fast as sqlite-utils with flat memory; search median < 50 ms.
PostgreSQL: TGPARSER_TEST_PG_URL, or a throwaway cluster as in the test suite.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.archive import fill, search_queries
from tests.bench.measure import bench_postgres, run_measured
from tgparser.export import EXPORT_COLUMNS, FIELDS, export_messages, export_record, write_records
from tgparser.search_query import parse
from tgparser.storage import open_storage
from tgparser.storage.base import MessageFilter

QUERIES = search_queries()


def bench(name: str, url: str, n: int, pg_schema: str) -> None:
    with open_storage(url, pg_schema=pg_schema) as storage:
        start = time.perf_counter()
        count = fill(storage, n)
        print(f"{name}: generated {count:,} messages in {time.perf_counter() - start:.0f} s")
        latencies = []
        for _ in range(3):
            for query in QUERIES:
                t = time.perf_counter()
                storage.search_messages(parse(query), MessageFilter(), limit=20)
                latencies.append((time.perf_counter() - t) * 1000)
    print(
        f"{name}: search, two words, {len(latencies)} runs: median "
        f"{statistics.median(latencies):.1f} ms, p90 "
        f"{sorted(latencies)[int(len(latencies) * 0.9)]:.1f} ms"
    )

    bench_export(name, url, count, pg_schema)


def bench_export(name: str, url: str, count: int, pg_schema: str) -> None:
    """NDJSON export as users run it (the CLI, objects made by the database), the Python
    writer it replaced (export_record + json per row, in-process), and on SQLite
    `sqlite-utils query --nl` on the same SELECT."""
    env_cmd = [sys.executable, "-m", "tgparser", "--db", url]
    os.environ["TGPARSER_PG_SCHEMA"] = pg_schema
    wall, rss = run_measured([*env_cmd, "-q", "export", "messages", "-o", "-"])
    print(
        f"{name}: tgparser export ndjson: {wall:.1f} s ({count / wall:,.0f} rows/s), "
        f"peak RSS {rss:.0f} MB"
    )
    with open_storage(url, pg_schema=pg_schema) as storage, open(os.devnull, "w") as sink:
        start = time.perf_counter()
        rows = storage.iter_export(MessageFilter(), columns=EXPORT_COLUMNS)
        write_records((export_record(r) for r in rows), sink, "ndjson", FIELDS)
        python_wall = time.perf_counter() - start
        start = time.perf_counter()
        export_messages(storage, sink, filters=MessageFilter())
        db_wall = time.perf_counter() - start
    print(
        f"{name}: in-process, Python writer {python_wall:.1f} s "
        f"({count / python_wall:,.0f} rows/s); database-made {db_wall:.1f} s "
        f"({count / db_wall:,.0f} rows/s): {python_wall / db_wall:.1f}x"
    )
    if name == "sqlite":
        path = url.removeprefix("sqlite:///")
        # The same columns the export reads (its fields are made of them), same order.
        columns = ", ".join(f"m.{c}" for c in EXPORT_COLUMNS)
        select = (
            f"SELECT {columns}, s.username FROM messages m LEFT JOIN sources s "
            "ON s.chat_id = COALESCE(m.parent_chat_id, m.chat_id) "
            "ORDER BY m.chat_id, m.date, m.message_id"
        )
        tool = shutil.which("sqlite-utils") or str(Path(sys.executable).with_name("sqlite-utils"))
        for extra, label in (([], ""), (["--json-cols"], " --json-cols")):
            tool_wall, rss = run_measured(
                [tool, "query", "/" + path.lstrip("/"), select, "--nl", *extra]
            )
            print(
                f"{name}: sqlite-utils query --nl{label}: {tool_wall:.1f} s "
                f"({count / tool_wall:,.0f} rows/s), peak RSS {rss:.0f} MB; "
                f"tgparser is {tool_wall / wall:.1f}x as fast"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="tgparser-bench-"))
    schema = f"bench_{os.getpid()}"
    try:
        if args.backend in ("sqlite", "both"):
            bench("sqlite", f"sqlite:///{workdir / 'archive.db'}", args.messages, schema)
        if args.backend in ("postgresql", "both"):
            with bench_postgres(schema) as url:
                bench("postgresql", url, args.messages, schema)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
