"""Benchmark: tgparser's own cost per ingested message, per backend.

Builds a fake channel of N posts (default 100,000; every 20th with two comments) and runs
the real `ingest` service through Telethon against the in-process fake Telegram, so what is
measured is Telethon's paging + our mapping + storage writes, with no network.

    .venv/bin/python -m tests.bench.bench_ingest [--messages N] [--backend sqlite|postgresql|both]

PostgreSQL: uses TGPARSER_TEST_PG_URL (in a schema of its own, dropped afterwards), or starts
a throwaway cluster like the test suite.
Target (2 cores): >= 20,000 messages/s on SQLite, >= 10,000 on PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests import pgcluster
from tests.faketg import FakeTelegram
from tests.tgharness import API_ENV, session_string


def build_world(messages: int) -> FakeTelegram:
    fake = FakeTelegram(
        start=datetime.now(UTC) - timedelta(days=400), tick=timedelta(minutes=3), roundtrip=False
    )
    channel = fake.add_channel("benchchannel", "Bench Channel")
    reader = fake.add_user("Reader", username="bench_reader")
    body = "Текст поста with some English words and a link https://example.org " * 6
    for i in range(1, messages + 1):
        post = fake.post(channel, f"{i}: {body}", views=i)
        if i % 20 == 0:
            fake.comment(channel, post.id, f"comment on {i}", from_user=reader)
            fake.comment(channel, post.id, f"second comment on {i}", from_user=reader)
    return fake


def run_once(db_url: str, messages: int, pg_schema: str) -> tuple[float, float, int]:
    """(wall seconds, seconds spent inside the fake Telegram, messages stored)."""
    from tgparser.config import load_settings
    from tgparser.ingest import IngestOptions, ingest
    from tgparser.sources import add_sources
    from tgparser.storage import open_storage

    fake = build_world(messages)
    # Time spent answering requests is Telegram's share, not the tool's: measure it apart.
    in_fake = 0.0
    answer = fake.handle

    def timed_handle(*args: object, **kwargs: object) -> object:
        nonlocal in_fake
        start = time.perf_counter()
        try:
            return answer(*args, **kwargs)
        finally:
            in_fake += time.perf_counter() - start

    fake.handle = timed_handle  # type: ignore[method-assign]
    env = {**os.environ, **API_ENV, "TGPARSER_SESSION": session_string()}
    settings = load_settings({"db": db_url, "pg_schema": pg_schema}, env=env)
    with fake.patch(), open_storage(db_url, pg_schema=pg_schema) as storage:
        storage.ensure_schema()
        add_sources(storage, settings, ["@benchchannel"])
        sources = storage.list_sources()
        start = time.perf_counter()
        summary = ingest(storage, settings, sources, IngestOptions())  # the CLI's defaults
        elapsed = time.perf_counter() - start
        (result,) = summary.results
        assert result.status == "ok", result.error
        stored = storage.count_messages()
        if storage.dialect == "postgresql":
            storage._execute(f"DROP SCHEMA {pg_schema} CASCADE")
    return elapsed, in_fake, stored


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="tgparser-bench-"))
    cluster = None
    try:
        targets = []
        if args.backend in ("sqlite", "both"):
            targets.append(("sqlite", f"sqlite:///{workdir / 'bench.db'}"))
        if args.backend in ("postgresql", "both"):
            url = os.environ.get("TGPARSER_TEST_PG_URL")
            if not url:
                cluster = pgcluster.start_cluster()
                url = cluster.url()
            targets.append(("postgresql", url))
        for name, url in targets:
            elapsed, in_fake, stored = run_once(url, args.messages, f"bench_{os.getpid()}")
            own = elapsed - in_fake
            print(
                f"{name:<10} {stored:>9,} messages: wall {elapsed:6.2f} s "
                f"({stored / elapsed:>7,.0f}/s), fake Telegram {in_fake:5.2f} s, "
                f"tgparser's own cost {own:6.2f} s = {stored / own:>7,.0f} messages/s"
            )
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
