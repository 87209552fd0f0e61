"""Benchmark: `tgparser db copy` SQLite -> PostgreSQL, side by side with its floors.

    .venv/bin/python -m tests.bench.bench_copy [--messages 100000] [--archive FILE]
        [--baseline main ...] [--search-scale 10] [--skip-variants] [--verify-pairs N]
    .venv/bin/python -m tests.bench.bench_copy --writes 20000 [--baseline main ...]

Builds a generated SQLite archive of N messages with ~6.5 KB rows (tests/bench/archive.py;
`--archive` reuses one made before, `--keep` keeps the one made now), starts a throwaway
PostgreSQL cluster with the server's default durability (fsync on), and loads the archive
into fresh databases, each as its own process (wall time, rows/s, peak RSS):
1. a bare psycopg COPY loop into a plain `messages` table: no search column, no secondary
   index (the floor of the data itself);
2. the same loop into the schema as migrated (search column and every index kept up to date
   row by row: what a naive load costs);
3. with `--baseline REF`: `db copy` and `db copy --verify` of that git revision's tgparser
   (`git archive REF`, run from a temporary folder): "today's" figure in the same run;
4. `tgparser db copy`, then `tgparser db copy --verify` into another fresh database, then
   `tgparser db verify --against` (reads both sides again); `--verify-pairs N` times N more
   pairs of `db copy` / `db copy --verify`, alternating, of this tree and of the first
   `--baseline`, and prints the median of what `--verify` adds (steadier than one pair where
   the machine's speed drifts);
5. unless `--skip-variants`: `db copy` into the schema with the stored `search` column
   replaced by an expression GIN index (`to_tsvector('simple', search_text(text))`), and
   with lz4 TOAST compression turned off, to weigh both choices.
Each line shows wall time and CPU seconds, the client's and the PostgreSQL server's (its
processes', reaped backends included): on a shared machine the wall time follows the
neighbours' load, the CPU seconds much less. Then disk per message
(`pg_total_relation_size`) and ranked search latency (20 two-word queries x 3 rounds, top
20 by ts_rank_cd) on the stored-column and expression-index databases, after growing each
to N x `--search-scale` messages server-side (texts repeated under new ids, raw JSON left
out) so the 1M figure needs no 1M-row archive file.
`--writes N` measures instead what storing N new posts (upsert_messages, as an ingest does)
and then refreshing their counters costs, for this tree and each `--baseline`.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
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
from tgparser.storage.migrations import load_migrations

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
DROP TRIGGER IF EXISTS messages_search_fill ON messages;
DROP INDEX IF EXISTS messages_search;
ALTER TABLE messages DROP COLUMN search;
DO $$ DECLARE r record; BEGIN
  FOR r IN SELECT indexname FROM pg_indexes WHERE schemaname = 'tgparser'
      AND tablename = 'messages' AND indexname NOT LIKE '%pkey' LOOP
    EXECUTE 'DROP INDEX tgparser.' || quote_ident(r.indexname);
  END LOOP; END $$;
"""
WRITES = r"""
import sys
sys.path.insert(0, sys.argv[1])
from tests.factories import make_message, make_source
from tgparser.storage import open_storage
url, n, phase = sys.argv[2], int(sys.argv[3]), sys.argv[4]
body = "Текст поста with some English words and a link https://example.org " * 6  # bench_ingest's
with open_storage(url) as storage:
    if phase == "new":
        storage.migrate()
        storage.upsert_source(make_source())
    views = 7 if phase == "refresh" else None
    records = [make_message(i, text=f"{i}: {body}", views=views or i) for i in range(1, n + 1)]
    for start in range(0, n, 500):
        storage.upsert_messages(records[start : start + 500])
"""
EXPRESSION = """
DROP TRIGGER IF EXISTS messages_search_fill ON messages;
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


class CPU:
    """CPU seconds used by the benchmark's children (the client) and by the cluster."""

    def __init__(self, cluster: pgcluster.Cluster) -> None:
        self.postmaster = int((cluster.datadir / "postmaster.pid").read_text().split()[0])

    def server(self) -> float:
        # The postmaster's own time plus its reaped children's (the backends that finished),
        # plus the live children's (checkpointer, WAL writer, running backends).
        total = 0.0
        for pid in [self.postmaster, *self._children()]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks = sum(int(f) for f in fields[11:13])  # utime, stime
            if pid == self.postmaster:
                ticks += sum(int(f) for f in fields[13:15])  # cutime, cstime
            total += ticks / os.sysconf("SC_CLK_TCK")
        return total

    def _children(self) -> list[int]:
        path = Path(f"/proc/{self.postmaster}/task/{self.postmaster}/children")
        return [int(p) for p in path.read_text().split()]

    @staticmethod
    def client() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime


def measured(cpu: CPU, command: list[str], label: str, rows: int, note: str = "") -> float:
    client, server = cpu.client(), cpu.server()
    wall, rss = run_measured(command)
    client, server = cpu.client() - client, cpu.server() - server
    print(
        f"{label:<42} {wall:6.1f} s {rows / wall:>7,.0f} rows/s  CPU client {client:5.1f} s "
        f"server {server:5.1f} s  RSS {rss:4.0f} MB  {note}",
        flush=True,
    )
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--archive", type=Path, help="reuse this generated SQLite archive")
    parser.add_argument("--keep", type=Path, help="keep the generated archive here")
    parser.add_argument(
        "--baseline",
        action="append",
        default=[],
        help="also time this git revision's db copy (e.g. main; repeatable: the first one "
        "with --verify too)",
    )
    parser.add_argument(
        "--verify-pairs",
        type=int,
        default=0,
        metavar="N",
        help="also time N more pairs of db copy / db copy --verify, alternating, of this tree "
        "and of the first --baseline (the median of what --verify adds: a steadier figure on "
        "a machine whose speed drifts)",
    )
    parser.add_argument("--search-scale", type=int, default=10)
    parser.add_argument("--skip-variants", action="store_true")
    parser.add_argument(
        "--skip-floors",
        action="store_true",
        help="leave out the bare COPY loops (to compare revisions' copy and --verify only)",
    )
    parser.add_argument(
        "--writes",
        type=int,
        metavar="N",
        help="instead: store N new posts through upsert_messages, then refresh their "
        "counters, with this tree and each --baseline (CPU of the writer and of the server)",
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="tgparser-bench-"))
    cluster = pgcluster.start_cluster(durable=True)
    try:

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

        def settle() -> None:
            # The load before has left dirty pages: write them out now, not during the next.
            with open_storage(cluster.url()) as admin:
                admin._execute("CHECKPOINT")
            os.sync()

        cpu = CPU(cluster)
        if args.writes:
            trees = {"this tree": str(Path.cwd())}
            for n, ref in enumerate(args.baseline):
                trees[ref] = str(checkout(ref, workdir, n))
            for n, (label, tree) in enumerate(trees.items()):
                url = fresh_db(f"w{n}")
                for phase in ("new", "refresh"):
                    command = [sys.executable, "-c", WRITES, tree, url, str(args.writes), phase]
                    measured(cpu, command, f"{label}: {phase} messages", args.writes)
            return 0
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

        bare = [sys.executable, "-c", BARE_COPY, str(sqlite_path)]
        anchor = None
        if not args.skip_floors:
            measured(
                cpu, [*bare, fresh_db("bench_plain", PLAIN)], "floor: bare COPY, plain table", count
            )
            anchor = measured(
                cpu,
                [*bare, fresh_db("bench_bare", "SELECT 1")],
                "bare COPY, migrated schema",
                count,
            )
        bases = {}
        paired: dict[str, list[str]] = {}
        for n, ref in enumerate(args.baseline):
            old = baseline(ref, sqlite_path, workdir, n)
            if n == 0:
                paired[ref] = old
            bases[ref] = measured(
                cpu,
                [*old, "db", "copy", "--to", fresh_db(f"b_base{n}")],
                f"{ref}: db copy",
                total,
            )
            if n == 0:
                measured(
                    cpu,
                    [*old, "db", "copy", "--verify", "--to", fresh_db("b_base_v")],
                    f"{ref}: db copy --verify",
                    total,
                )
        tgparser = [sys.executable, "-m", "tgparser", "--db", str(sqlite_path), "-q"]
        stored = fresh_db("bench_stored")
        wall = measured(cpu, [*tgparser, "db", "copy", "--to", stored], "tgparser db copy", total)
        notes = [f"{wall / anchor:.2f}x the bare COPY"] if anchor else []
        notes += [f"{wall / base:.2f}x {ref}" for ref, base in bases.items()]
        note = f"({', '.join(notes)})"
        print(f"{'':<42} {note}")
        wall_v = measured(
            cpu,
            [*tgparser, "db", "copy", "--verify", "--to", fresh_db("b_v")],
            "tgparser db copy --verify",
            total,
        )
        print(f"{'':<42} (--verify adds {wall_v / wall - 1:+.0%})")
        if args.verify_pairs:
            paired["this tree"] = tgparser
            verify_pairs(cpu, paired, fresh_db, settle, total, args.verify_pairs)
        measured(
            cpu,
            [*tgparser, "db", "verify", "--against", stored],
            "tgparser db verify --against",
            total,
        )

        databases = {"stored search column": (stored, STORED_VECTOR)}
        if not args.skip_variants:
            expression = fresh_db("bench_expr", EXPRESSION)
            measured(
                cpu,
                [*tgparser, "db", "copy", "--to", expression],
                "db copy, expression index",
                total,
            )
            databases["expression index"] = (expression, EXPRESSION_VECTOR)
            pglz = fresh_db("b_pglz", PGLZ)
            measured(
                cpu, [*tgparser, "db", "copy", "--to", pglz], "db copy, pglz instead of lz4", total
            )

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


def verify_pairs(
    cpu: CPU, trees: dict[str, list[str]], fresh_db, settle, rows: int, pairs: int
) -> None:
    """`db copy` and `db copy --verify` timed in turn, `pairs` times for each tree (the
    order alternating, and the trees taking turns, so a machine that slows down or speeds up
    during the run weighs on all alike; each run starts after a checkpoint, so none pays for
    writing out the one before): what `--verify` adds is the median of the pairs' ratios."""
    ratios: dict[str, list[float]] = {label: [] for label in trees}
    for n in range(pairs):
        order = [False, True] if n % 2 == 0 else [True, False]
        for tree, prefix in trees.items():
            walls = {}
            for verify in order:
                flag = ["--verify"] if verify else []
                label = f"{tree}, pair {n + 1}: db copy{' --verify' if verify else ''}"
                target = fresh_db(f"b_pair{int(verify)}")
                settle()
                walls[verify] = measured(
                    cpu, [*prefix, "db", "copy", *flag, "--to", target], label, rows
                )
            ratios[tree].append(walls[True] / walls[False])
            print(f"{'':<42} (--verify adds {ratios[tree][-1] - 1:+.0%})", flush=True)
    for tree, found in ratios.items():
        print(
            f"{tree}: --verify adds, median of {pairs} pairs: {statistics.median(found) - 1:+.0%} "
            f"(pairs: {', '.join(f'{r - 1:+.0%}' for r in found)})",
            flush=True,
        )


def baseline(ref: str, archive: Path, workdir: Path, n: int = 0) -> list[str]:
    """The `tgparser` command of git revision `ref`, reading a copy of the archive that claims
    only the schema versions that revision knows (the rows are the same)."""
    source = checkout(ref, workdir, n)
    known = max(int(p.name[:4]) for p in (source / "tgparser/storage/sql/sqlite").glob("0*.sql"))
    copy = workdir / f"baseline{n}.db"
    shutil.copyfile(archive, copy)
    with open_storage(str(copy)) as storage:
        storage._execute(f"DELETE FROM schema_migrations WHERE version > {known}")
        # Tables of later migrations (empty in a generated archive) would be foreign to it.
        for migration in load_migrations("sqlite"):
            if migration.version > known:
                for table in sorted(migration.tables | migration.virtual_tables):
                    storage._execute(f"DROP TABLE IF EXISTS {table}")
    return [
        sys.executable,
        "-c",
        f"import sys; sys.path.insert(0, {str(source)!r}); "
        "from tgparser.cli import main; sys.exit(main())",
        "--db",
        str(copy),
        "-q",
    ]


def checkout(ref: str, workdir: Path, n: int) -> Path:
    """tgparser and its tests as of git revision `ref`, in a folder of their own."""
    source = workdir / f"baseline{n}"
    if not source.exists():
        source.mkdir()
        tar = subprocess.run(
            ["git", "archive", ref, "tgparser", "tests"], check=True, capture_output=True
        )
        subprocess.run(["tar", "-x", "-C", str(source)], input=tar.stdout, check=True)
    return source


def cluster_version(cluster: pgcluster.Cluster) -> str:
    with open_storage(cluster.url()) as storage:
        return storage.server_version()


def grow(storage, scale: int) -> int:
    """Repeat the texts under new message ids until the table holds `scale` times its rows
    (the stored search vectors repeated with them; the search index built once after)."""
    start = time.perf_counter()
    base = storage.count_rows("messages")
    span = storage._query("SELECT max(message_id) + 1 FROM messages")[0][0]
    columns = "chat_id, kind, date, text, content_hash, first_seen_at, updated_at"
    if storage._query(
        "SELECT 1 FROM pg_attribute WHERE attrelid = 'messages'::regclass AND attname = 'search'"
        " AND NOT attisdropped"
    ):
        columns += ", search"
    (index,) = storage._query("SELECT pg_get_indexdef('messages_search'::regclass)")[0]
    storage._execute("DROP INDEX messages_search")
    for k in range(1, scale):
        storage._execute(
            f"INSERT INTO messages (message_id, raw, {columns}) "
            f"SELECT message_id + {k * span}, '{{}}'::jsonb, {columns} FROM messages "
            f"WHERE message_id < {span}"
        )
    storage._execute("SET maintenance_work_mem = '256MB'")
    storage._execute(index)
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
