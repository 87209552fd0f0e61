"""Benchmark: `tgparser db copy` SQLite -> PostgreSQL, side by side with its floors.

    .venv/bin/python -m tests.bench.bench_copy [--messages 100000] [--archive FILE]
        [--search-scale 10] [--skip-variants]

Builds a generated SQLite archive of N messages with ~6.5 KB rows (tests/bench/archive.py;
`--archive` reuses one made before, `--keep` keeps the one made now), starts a throwaway
PostgreSQL cluster with the server's default durability (fsync on), and loads the archive
into fresh databases, each as its own process (wall time, rows/s, peak RSS):
1. a bare psycopg COPY loop into a plain `messages` table: no search column, no secondary
   index (the floor of the data itself);
2. the same loop into the schema as migrated (search column and every index kept up to date
   row by row: what a naive load costs);
3. `tgparser db copy`, then `tgparser db copy --verify` into another fresh database, then
   `tgparser db verify --against` (reads both sides again);
4. unless `--skip-variants`: `db copy` into the schema with the stored `search` column
   replaced by an expression GIN index (`to_tsvector('simple', search_text(text))`), and
   with lz4 TOAST compression turned off, to weigh both choices.
Then disk per message (`pg_total_relation_size`) and ranked search latency (20 two-word
queries x 3 rounds, top 20 by ts_rank_cd) on the stored-column and expression-index
databases, after growing each to N x `--search-scale` messages server-side (texts repeated
under new ids, raw JSON left out) so the 1M figure needs no 1M-row archive file.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests import pgcluster
from tests.bench.archive import fill, search_queries
from tests.bench.measure import run_measured
from tgparser.search_query import parse, to_tsquery
from tgparser.storage import open_storage
from tgparser.storage.base import MessageFilter

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

PLAIN = """
DROP INDEX IF EXISTS messages_search;
ALTER TABLE messages DROP COLUMN search;
DO $$ DECLARE r record; BEGIN
  FOR r IN SELECT indexname FROM pg_indexes WHERE schemaname = 'tgparser'
      AND tablename = 'messages' AND indexname NOT LIKE '%pkey' LOOP
    EXECUTE 'DROP INDEX tgparser.' || quote_ident(r.indexname);
  END LOOP; END $$;
"""
EXPRESSION = """
DROP INDEX messages_search;
ALTER TABLE messages DROP COLUMN search;
CREATE INDEX messages_search ON messages USING gin (to_tsvector('simple', search_text(text)));
"""
PGLZ = """
ALTER TABLE messages ALTER COLUMN text SET COMPRESSION pglz, ALTER COLUMN raw SET COMPRESSION pglz;
ALTER TABLE message_versions ALTER COLUMN text SET COMPRESSION pglz;
"""
STORED_VECTOR = "m.search"
EXPRESSION_VECTOR = "to_tsvector('simple', search_text(m.text))"


def line(label: str, wall: float, rows: int, rss: float, note: str = "") -> None:
    print(
        f"{label:<44} {wall:6.1f} s  {rows / wall:>7,.0f} rows/s  peak RSS {rss:4.0f} MB  {note}",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--archive", type=Path, help="reuse this generated SQLite archive")
    parser.add_argument("--keep", type=Path, help="keep the generated archive here")
    parser.add_argument("--search-scale", type=int, default=10)
    parser.add_argument("--skip-variants", action="store_true")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="tgparser-bench-"))
    cluster = pgcluster.start_cluster(durable=True)
    try:
        sqlite_path = args.archive or args.keep or workdir / "archive.db"
        if not args.archive:
            with open_storage(str(sqlite_path)) as storage:
                fill(storage, args.messages, long=True)
        with open_storage(str(sqlite_path)) as storage:
            count = storage.count_rows("messages")
            total = sum(storage.count_rows(t) for t in ("messages", "message_versions"))
        size = sqlite_path.stat().st_size / 1e6
        print(
            f"archive: {count:,} messages ({total:,} rows with versions), {size:,.0f} MB "
            f"SQLite file, {size * 1e6 / total / 1000:.1f} KB per row; PostgreSQL "
            f"{cluster_version(cluster)} with default durability (fsync on)",
            flush=True,
        )

        def fresh_db(name: str, *setup: str) -> str:
            with open_storage(cluster.url()) as admin:
                admin._execute(f"DROP DATABASE IF EXISTS {name}")
                admin._execute(f"CREATE DATABASE {name}")
            if setup:
                with open_storage(cluster.url(name)) as storage:
                    storage.migrate()
                    for sql in setup:
                        storage._execute(sql)
            return cluster.url(name)

        bare = [sys.executable, "-c", BARE_COPY, str(sqlite_path)]
        wall, rss = run_measured([*bare, fresh_db("bench_plain", PLAIN)])
        line("floor: bare COPY, plain table (messages)", wall, count, rss)
        wall, rss = run_measured([*bare, fresh_db("bench_bare", "SELECT 1")])
        line("bare COPY into the migrated schema", wall, count, rss, "(messages only)")
        anchor = wall

        tgparser = [sys.executable, "-m", "tgparser", "--db", str(sqlite_path), "-q"]
        stored = fresh_db("bench_stored")
        wall, rss = run_measured([*tgparser, "db", "copy", "--to", stored])
        line("tgparser db copy", wall, total, rss, f"({wall / anchor:.2f}x the bare COPY)")
        copy_wall = wall
        wall, rss = run_measured([*tgparser, "db", "copy", "--verify", "--to", fresh_db("b_v")])
        line("tgparser db copy --verify", wall, total, rss, f"(+{wall / copy_wall - 1:.0%})")
        wall, rss = run_measured([*tgparser, "db", "verify", "--against", stored])
        line("tgparser db verify --against (no copy)", wall, total, rss)

        databases = {"stored search column": (stored, STORED_VECTOR)}
        if not args.skip_variants:
            expression = fresh_db("bench_expr", EXPRESSION)
            wall, rss = run_measured([*tgparser, "db", "copy", "--to", expression])
            line("db copy, expression GIN index instead", wall, total, rss)
            databases["expression index"] = (expression, EXPRESSION_VECTOR)
            wall, rss = run_measured([*tgparser, "db", "copy", "--to", fresh_db("b_pglz", PGLZ)])
            line("db copy, pglz instead of lz4", wall, total, rss)

        for label, (url, _) in databases.items():
            with open_storage(url) as storage:
                size = storage._query("SELECT pg_total_relation_size('messages')")[0][0]
            print(f"disk, {label}: {size / 1e6:,.0f} MB, {size / count / 1000:.2f} KB/message")

        if args.search_scale > 1:
            for label, (url, vector) in databases.items():
                with open_storage(url) as storage:
                    grown = grow(storage, args.search_scale)
                    median, p90 = search_latency(storage, vector)
                    print(
                        f"search, {label}, {grown:,} messages: median {median:.1f} ms, "
                        f"p90 {p90:.1f} ms (ranked, top 20)",
                        flush=True,
                    )
                    if vector == STORED_VECTOR:
                        median, p90 = search_latency(storage, None)
                        print(
                            f"search, `tgparser search` path, {grown:,} messages: median "
                            f"{median:.1f} ms, p90 {p90:.1f} ms (with snippets)"
                        )
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def cluster_version(cluster: pgcluster.Cluster) -> str:
    with open_storage(cluster.url()) as storage:
        return storage.server_version()


def grow(storage, scale: int) -> int:
    """Repeat the texts under new message ids until the table holds `scale` times its rows."""
    start = time.perf_counter()
    base = storage.count_rows("messages")
    span = storage._query("SELECT max(message_id) + 1 FROM messages")[0][0]
    columns = "chat_id, kind, date, text, content_hash, first_seen_at, updated_at"
    for k in range(1, scale):
        storage._execute(
            f"INSERT INTO messages (message_id, raw, {columns}) "
            f"SELECT message_id + {k * span}, '{{}}'::jsonb, {columns} FROM messages "
            f"WHERE message_id < {span}"
        )
    storage._execute("VACUUM ANALYZE messages")
    grown = storage.count_rows("messages")
    print(f"  grew {base:,} -> {grown:,} messages in {time.perf_counter() - start:.0f} s")
    return grown


def search_latency(storage, vector: str | None) -> tuple[float, float]:
    latencies = []
    for _ in range(3):
        for query in search_queries():
            groups = parse(query)
            t = time.perf_counter()
            if vector is None:
                storage.search_messages(groups, MessageFilter(), limit=20)
            else:
                storage._query(
                    f"SELECT m.chat_id, m.message_id, ts_rank_cd({vector}, q) AS score "
                    "FROM messages m, to_tsquery('simple', %s) q "
                    f"WHERE {vector} @@ q ORDER BY score DESC, m.date DESC LIMIT 20",
                    (to_tsquery(groups),),
                )
            latencies.append((time.perf_counter() - t) * 1000)
    latencies.sort()
    return statistics.median(latencies), latencies[int(len(latencies) * 0.9)]


if __name__ == "__main__":
    sys.exit(main())
