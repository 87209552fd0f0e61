"""Documents made in worker processes while the main process reads and writes the archive.

The builtin processor is pure Python and bound by the CPU: one process uses one core. With
`jobs` > 1, pages of messages go to `jobs` worker processes (forked, so nothing is imported
again) and come back in the order they were sent, so duplicates, writes and the scan
position go exactly as in the serial path, and the documents are the same. At most
`jobs` + 1 pages are read and not yet written: memory stays flat, and a crash loses only
those pages (their messages are still pending for the next run). A run starts workers only
after PARALLEL_FROM messages, so small runs (cron every few minutes) never pay for them.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from tgparser.errors import TgparserError

PARALLEL_FROM = 1000  # messages a run has read before it starts worker processes
MAX_JOBS = 8
ORPHAN_CHECK_SECONDS = 1.0

Page = list[Any]  # messages as `pending_message_values` rows


def default_jobs() -> int:
    """The CPU cores this process may use (at most MAX_JOBS)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_JOBS))


class Workers:
    """A pool of `jobs` worker processes, started the first time a run has enough to do."""

    def __init__(self, jobs: int, start_from: int | None = None) -> None:
        self.jobs = jobs
        self.start_from = PARALLEL_FROM if start_from is None else start_from
        self.seen = 0
        self.pool: Any = None

    def documents(
        self, pages: Iterator[Page], compute: Callable[[Page], list[Any]]
    ) -> Iterator[tuple[Page, list[Any]]]:
        """(page, its documents: `compute(page)`) for each page, in order: computed here
        until the pool starts, then by the workers, with at most `jobs` + 1 pages in
        flight."""
        in_flight: deque[tuple[Page, list[Any]]] = deque()
        try:
            for page in pages:
                self.seen += len(page)
                if self.pool is None and self.jobs > 1 and self.seen >= self.start_from:
                    self.pool = _start_pool(self.jobs)
                if self.pool is None:
                    yield page, compute(page)
                    continue
                # Each page in `jobs` parts, one a worker: a chat of one page (a discussion
                # group's few comments) keeps every core busy too.
                size = -(-len(page) // self.jobs)
                parts = [page[i : i + size] for i in range(0, len(page), size)]
                in_flight.append((page, [self.pool.submit(compute, part) for part in parts]))
                if len(in_flight) > self.jobs:
                    yield _result(*in_flight.popleft())
            while in_flight:
                yield _result(*in_flight.popleft())
        finally:
            for _, futures in in_flight:  # stopped early: what is not written is not wanted
                for future in futures:
                    future.cancel()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


def _start_pool(jobs: int) -> Any:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork: the workers start with everything imported (and are children of this process,
    # so its rusage counts them); spawn where there is no fork.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context(method),
        initializer=_worker_started,
        initargs=(os.getpid(),),
    )


def _worker_started(parent: int) -> None:
    """Ctrl-C stops the main process, which stops the workers: they print nothing. A main
    process killed outright (SIGKILL, out of memory) cannot stop them, and a forked worker
    keeps its queue's pipe open: a watcher thread ends the worker when its parent is gone."""
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(ORPHAN_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _result(page: Page, futures: list[Any]) -> tuple[Page, list[Any]]:
    from concurrent.futures.process import BrokenProcessPool

    documents: list[Any] = []
    try:
        for future in futures:
            documents += future.result()
    except BrokenProcessPool as exc:
        raise TgparserError(
            "a worker process died (out of memory?); run again, or with --jobs 1"
        ) from exc
    return page, documents
