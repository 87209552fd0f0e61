"""Benchmark: `tgparser process`, builtin and llm.

    .venv/bin/python -m tests.bench.bench_process [--messages N] [--idle-messages M]
        [--llm-messages K] [--parts builtin,idle,llm] [--jobs 1,2,]

- builtin: a generated archive (tests/bench/archive.py) of N/4 and N messages on SQLite;
  `tgparser -q process --jobs J` end to end (a child process: start-up, reading, processing,
  writing) for each J of `--jobs` (default "1,": one process, then the default of one
  worker per core), on a fresh copy of the archive each: wall and messages/s, CPU seconds of
  the run and its workers (µs a message, messages per CPU-second), peak RSS of the largest
  process at both sizes (memory must not grow with the archive), the load average.
  Target: >= 5,000 messages/s, flat peak RSS.
- idle: an archive of M messages that are all processed already (messages and their builtin
  documents written by SQL, as `process` leaves them, because processing a million messages
  first would take the benchmark's whole budget); then `tgparser -q process` with nothing to
  do, wall time of the whole command. Target: well under a second.
- llm: K messages against the fake OpenAI-compatible server (tests/fakellm.py) answering
  after 200 ms, `--concurrency 8`, one message per request (llm_batch=1, the worst case) and
  the default batching. Target: >= 30 messages/s.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.archive import fill
from tests.bench.measure import run_measured
from tgparser.storage import open_storage


def tgparser(url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "tgparser", "--db", url, "-q", *args]


def bench_builtin(folder: Path, n: int, jobs: list[str]) -> None:
    for size in (max(1, n // 4), n):
        template = folder / f"builtin-{size}.db"
        with open_storage(f"sqlite:///{template}".replace("////", "///")) as storage:
            storage.ensure_schema()
            start = time.perf_counter()
            fill(storage, size)
            print(f"builtin: generated {size:,} messages in {time.perf_counter() - start:.0f} s")
        for job in jobs:
            copy = folder / f"builtin-{size}-{job}.db"
            shutil.copyfile(template, copy)
            url = f"sqlite:///{copy}".replace("////", "///")
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            wall, rss = run_measured(tgparser(url, "process", *(["--jobs", job] if job else [])))
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            # CPU of the run and of its worker processes (reaped by it, so counted here). On
            # a shared machine the wall time includes waiting for a core; the CPU time is
            # what the run itself cost.
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            print(
                f"builtin --jobs {job or 'default'}: {size:,} messages in {wall:.1f} s wall "
                f"({size / wall:,.0f} messages/s), {cpu:.2f} s CPU ({cpu / size * 1e6:,.0f} µs "
                f"a message, {size / cpu:,.0f} messages per CPU-second), peak RSS {rss:.0f} MB "
                f"(largest process), load average {os.getloadavg()[0]:.1f}"
            )
            copy.unlink()
        url = f"sqlite:///{template}".replace("////", "///")
        run_measured(tgparser(url, "process"))
        wall, _ = run_measured(tgparser(url, "process"))
        print(f"builtin: second run (nothing pending) {wall:.2f} s")


IDLE_SQL = [
    # M messages over 20 chats, each with a builtin document of its current content.
    """
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {m})
    INSERT INTO messages (chat_id, message_id, kind, date, text, raw, content_hash,
                          first_seen_at, updated_at)
    SELECT -1000000000000 - (i % 20), i, 'post',
           strftime('%Y-%m-%dT%H:%M:%S.000000Z', 1600000000 + i * 60, 'unixepoch'),
           'message ' || i, '{{}}', 'h' || i,
           '2024-01-01T00:00:00.000000Z', '2024-01-01T00:00:00.000000Z'
    FROM n
    """,
    """
    INSERT INTO documents (chat_id, message_id, processor, processor_version, content_hash,
                           text_clean, processed_at)
    SELECT chat_id, message_id, 'builtin', '{version}', content_hash, text,
           '2024-01-01T00:00:00.000000Z'
    FROM messages
    """,
    """
    INSERT INTO process_chats (chat_id, processor, identity, scanned_to)
    SELECT DISTINCT chat_id, 'builtin', '{identity}', '2024-06-01T00:00:00.000000Z'
    FROM messages
    """,
]


def bench_idle(folder: Path, m: int) -> None:
    from tgparser.process.builtin import IDENTITY

    url = f"sqlite:///{folder}/idle-{m}.db".replace("////", "///")
    with open_storage(url) as storage:
        storage.ensure_schema()
        start = time.perf_counter()
        with storage.transaction():
            for sql in IDLE_SQL:
                storage._execute(sql.format(m=m, version=IDENTITY.version, identity=IDENTITY.key))
        print(f"idle: wrote {m:,} processed messages in {time.perf_counter() - start:.0f} s")
    for _ in range(3):
        wall, rss = run_measured(tgparser(url, "process"))
        print(
            f"idle: process with nothing pending on {m:,} messages: {wall:.2f} s, RSS {rss:.0f} MB"
        )
    wall, _ = run_measured([sys.executable, "-m", "tgparser", "--version"])
    print(f"idle: (for scale) tgparser --version: {wall:.2f} s")
    from tgparser.process.run import BuiltinProcessor, ProcessOptions, run_process, select_chats

    with open_storage(url) as storage:  # the work itself, without Python's start-up
        for _ in range(3):
            start = time.perf_counter()
            chats = select_chats(storage, ())
            summary = run_process(storage, BuiltinProcessor(), chats, ProcessOptions())
            assert summary.processed == 0
            took = (time.perf_counter() - start) * 1000
            print(f"idle: finding nothing to do in {len(chats)} chats, in process: {took:.0f} ms")


def bench_llm(folder: Path, k: int) -> None:
    from tests.factories import make_message, make_source
    from tests.fakellm import FakeLLM

    with FakeLLM("bench-model") as fake:
        fake.delay = 0.2
        env = {**os.environ, "TGPARSER_LLM_URL": fake.url, "TGPARSER_LLM_MODEL": "bench-model"}
        for batch, label in (("1", "one message a request"), ("8", "batches of up to 8")):
            url = f"sqlite:///{folder}/llm-{k}-{batch}.db".replace("////", "///")
            with open_storage(url) as storage:  # a fresh archive: nothing in the cache
                storage.ensure_schema()
                storage.upsert_source(make_source())
                storage.upsert_messages(
                    [
                        make_message(i, text=f"Пост {i}: как настроить репликацию PostgreSQL")
                        for i in range(1, k + 1)
                    ]
                )
            env["TGPARSER_LLM_BATCH"] = batch
            before = len(fake.requests)
            command = tgparser(url, "process", "--processor", "llm", "--concurrency", "8")
            wall, rss = run_measured(command, env)
            print(
                f"llm ({label}): {k:,} messages in {wall:.1f} s ({k / wall:,.1f} messages/s), "
                f"{len(fake.requests) - before:,} requests, peak RSS {rss:.0f} MB"
            )
        assert not fake.problems, fake.problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=40_000)
    parser.add_argument("--idle-messages", type=int, default=1_000_000)
    parser.add_argument("--llm-messages", type=int, default=600)
    parser.add_argument("--parts", default="builtin,idle,llm")
    parser.add_argument(
        "--jobs",
        default="1,",
        help="comma-separated --jobs values for the builtin part; empty: the default",
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    with tempfile.TemporaryDirectory(prefix="tgparser-bench-") as tmp:
        folder = Path(tmp)
        if "builtin" in parts:
            bench_builtin(folder, args.messages, args.jobs.split(","))
        if "idle" in parts:
            bench_idle(folder, args.idle_messages)
        if "llm" in parts:
            bench_llm(folder, args.llm_messages)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
