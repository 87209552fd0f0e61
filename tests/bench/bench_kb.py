"""Benchmark: `tgparser export kb` on a generated, processed archive.

    .venv/bin/python -m tests.bench.bench_kb [--messages N] [--backend sqlite|postgresql|both]

Builds a generated archive (tests/bench/archive.py) of N messages, gives nine in ten a
`builtin` document (one in twenty of them an ad) and, when N allows, topics over the posts,
then times `tgparser export kb --out DIR` in a child process and reports its wall and CPU
time and its peak RSS. It runs
at N/5 and at N messages, so a flat memory shows as the same peak at both sizes.

Target: 100,000 messages in at most 10 s, peak memory flat.
PostgreSQL: TGPARSER_TEST_PG_URL, or a throwaway cluster as in the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.archive import fill
from tests.bench.measure import bench_postgres, run_measured
from tgparser.storage import Storage, open_storage
from tgparser.storage.base import utcnow


def add_documents(storage: Storage) -> int:
    """A `builtin` document for nine messages in ten, made from their current content."""
    p = storage.placeholder
    mod = "%%" if p == "%s" else "%"  # psycopg reads % as a placeholder
    storage._execute(
        "INSERT INTO documents (chat_id, message_id, processor, processor_version, "
        "content_hash, text_clean, language, is_ad, keywords, summary, processed_at) "
        "SELECT chat_id, message_id, 'builtin', 'bench', content_hash, text, 'en', "
        f"(message_id {mod} 20 = 1), '[\"database\", \"index\"]', '', {p} FROM messages "
        f"WHERE message_id {mod} 10 <> 0",
        (storage._encode("timestamp", utcnow()),),
    )
    return storage._query("SELECT count(*) FROM documents")[0][0]


def bench(name: str, url: str, n: int, pg_schema: str, workdir: Path) -> None:
    for size in (n // 5, n):
        with open_storage(url, pg_schema=pg_schema) as storage:
            if size != n // 5:
                for table in ("documents", "message_versions", "messages", "sources"):
                    storage.delete_all(table)
            start = time.perf_counter()
            count = fill(storage, size)
            documents = add_documents(storage)
            print(
                f"{name}: generated {count:,} messages, {documents:,} documents in "
                f"{time.perf_counter() - start:.0f} s"
            )
        out = workdir / f"kb-{name}"
        command = [sys.executable, "-m", "tgparser", "--db", url, "-q", "export", "kb"]
        env = {**os.environ, "TGPARSER_PG_SCHEMA": pg_schema}
        cpu = _children_cpu()
        wall, rss = run_measured([*command, "--out", str(out)], env=env)
        cpu = _children_cpu() - cpu
        manifest = json.loads((out / "manifest.json").read_text())
        entries = manifest["counts"]["entries"]
        size_mb = sum(f.stat().st_size for f in out.iterdir()) / 1e6
        print(
            f"{name}: export kb of {count:,} messages: {wall:.1f} s wall, {cpu:.1f} s CPU "
            f"({entries:,} entries, {entries / wall:,.0f}/s, {size_mb:.0f} MB), "
            f"peak RSS {rss:.0f} MB"
        )
        # again, replacing the KB just written (the swap of a rerun)
        cpu = _children_cpu()
        wall, rss = run_measured([*command, "--out", str(out)], env=env)
        cpu = _children_cpu() - cpu
        print(
            f"{name}: rerun replacing it: {wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS {rss:.0f} MB"
        )


def _children_cpu() -> float:
    """User + system CPU seconds of the finished child processes so far: on a shared machine
    a steadier measure than wall time (the database server's share is not in it)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="tgparser-bench-"))
    schema = f"bench_{os.getpid()}"
    try:
        if args.backend in ("sqlite", "both"):
            url = f"sqlite:///{workdir / 'archive.db'}"
            bench("sqlite", url, args.messages, schema, workdir)
        if args.backend in ("postgresql", "both"):
            with bench_postgres(schema) as url:
                bench("postgresql", url, args.messages, schema, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
