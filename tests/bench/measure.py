"""Wall time and peak memory of one child process, measured honestly.

`ru_maxrss` from wait4() is polluted by the parent: a forked child's high-water mark starts
at the parent's size (a benchmark that just generated a large archive). /proc/<pid>/status's
VmHWM belongs to the child's own address space after exec, so it is polled instead.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def run_measured(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of `command`; its stdout is thrown away."""
    start = time.perf_counter()
    peak_kb = 0
    with open(os.devnull, "w") as sink:
        # stdin from /dev/null: pgloader's runtime opens /dev/tty otherwise.
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.PIPE, env=env
        )
        status = Path(f"/proc/{process.pid}/status")
        while process.poll() is None:
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak_kb = max(peak_kb, int(line.split()[1]))
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        error = process.stderr.read().decode(errors="replace") if process.stderr else ""
    elapsed = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed: {error[-3000:]}")
    return elapsed, peak_kb / 1024


@contextmanager
def bench_postgres(schema: str) -> Iterator[str]:
    """A PostgreSQL URL for a benchmark: TGPARSER_TEST_PG_URL, or a throwaway cluster started
    here; the benchmark's `schema` is dropped afterwards and the cluster stopped."""
    from tests import pgcluster
    from tgparser.storage import open_storage

    cluster = None
    url = os.environ.get("TGPARSER_TEST_PG_URL", "")
    if not url:
        cluster = pgcluster.start_cluster()
        url = cluster.url()
    try:
        yield url
    finally:
        try:
            with open_storage(url, pg_schema=schema) as storage:
                storage._execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        finally:
            if cluster is not None:
                cluster.stop()
