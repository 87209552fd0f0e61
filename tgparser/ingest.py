"""`ingest`: bring every followed chat up to date, safely from cron.

For each source, in order (each step commits as it goes, so a crash loses at most the batch in
flight and a rerun carries on):

1. **new**: messages above the high-water mark, oldest first;
2. **backfill**: older history below the low-water mark, down to the `since` floor;
3. **refresh**: recent messages again (edits become versions; views, reactions, counters);
4. **counters**: views and comment counters of older posts, without adding a view;
5. **comments**: the threads whose newest comment moved past what is stored.

Invariant kept by every commit: each message with low_water_id <= id <= high_water_id is stored.
A source is worked by one process at a time (a lock in the database); a FloodWait above the
cap stores a "not before" time and moves on. Nothing here prints: progress goes through a
`Progress` the caller gives.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from tgparser.config import Settings
from tgparser.errors import EXIT_ERROR, EXIT_TEMPFAIL, TgparserError
from tgparser.storage import Storage
from tgparser.storage.base import Row, utcnow

log = logging.getLogger(__name__)

PHASES = ("new", "backfill", "refresh", "counters", "comments")


@dataclass
class IngestOptions:
    refresh_window: timedelta = timedelta(days=3)
    # How far back post counters (views, comment counts) are re-read each run; new comments
    # on posts older than this are not looked for. None: every post.
    counters_window: timedelta | None = timedelta(days=30)
    max_flood_wait: int = 300  # seconds; longer FloodWaits defer the source
    batch_size: int = 100  # messages per commit
    takeout: bool = False  # backfill through a takeout session (friendlier limits)
    lock_ttl: timedelta = timedelta(minutes=10)  # refreshed at every commit

    @property
    def effective_lock_ttl(self) -> timedelta:
        """Long enough to outlast a FloodWait that Telethon sleeps through between commits."""
        return max(self.lock_ttl, timedelta(seconds=2 * self.max_flood_wait + 60))


@dataclass
class SourceResult:
    """What happened to one source in one run."""

    label: str
    chat_id: int | None
    status: str  # ok | failed | deferred | locked
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    edited: int = 0
    comments: int = 0
    phases: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    not_before: datetime | None = None
    run_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["not_before"] = self.not_before.isoformat() if self.not_before else None
        return data


@dataclass
class IngestSummary:
    results: list[SourceResult]

    @property
    def exit_code(self) -> int:
        """0 when every source succeeded (or was busy in another run); 1 when any failed;
        75 (EX_TEMPFAIL) when none failed but some were deferred by a FloodWait."""
        statuses = {r.status for r in self.results}
        if "failed" in statuses:
            return EXIT_ERROR
        if "deferred" in statuses:
            return EXIT_TEMPFAIL
        return 0


class Progress(Protocol):
    def source_started(self, label: str) -> None: ...
    def phase(self, name: str) -> None: ...
    def advanced(self, count: int) -> None: ...
    def source_finished(self, result: SourceResult) -> None: ...


class NoProgress:
    def source_started(self, label: str) -> None:
        pass

    def phase(self, name: str) -> None:
        pass

    def advanced(self, count: int) -> None:
        pass

    def source_finished(self, result: SourceResult) -> None:
        pass


class LockLost(TgparserError):
    """Another run took this source's lock (ours had expired)."""


def source_label(source: Row) -> str:
    return f"@{source['username']}" if source.get("username") else str(source["chat_id"])


def ingest(
    storage: Storage,
    settings: Settings,
    sources: Sequence[Row],
    options: IngestOptions | None = None,
    progress: Progress | None = None,
    unknown: Sequence[tuple[str, str]] = (),
) -> IngestSummary:
    """Ingest the given sources one after another; one failing source never stops the others.

    `unknown` are REFs the caller could not match to a source, with their errors: they count
    as failed sources in the summary, so its exit code covers them.
    """
    failures = [SourceResult(ref, None, "failed", error=error) for ref, error in unknown]
    return asyncio.run(
        _ingest(
            storage,
            settings,
            sources,
            options or IngestOptions(),
            progress or NoProgress(),
            failures,
        )
    )


async def _ingest(
    storage: Storage,
    settings: Settings,
    sources: Sequence[Row],
    options: IngestOptions,
    progress: Progress,
    results: list[SourceResult],
) -> IngestSummary:
    from tgparser.telegram.client import open_client

    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    client = None
    try:
        for source in sources:
            label = source_label(source)
            progress.source_started(label)
            not_before = source.get("not_before")
            if not_before and not_before > utcnow():
                # Deferred by an earlier FloodWait: not a single request before that time.
                result = SourceResult(
                    label,
                    source["chat_id"],
                    "deferred",
                    not_before=not_before,
                    error=f"deferred by a FloodWait until {not_before:%Y-%m-%d %H:%M:%S} UTC",
                )
            elif not storage.acquire_lock(source["chat_id"], owner, options.effective_lock_ttl):
                result = SourceResult(
                    label,
                    source["chat_id"],
                    "locked",
                    error="another ingest is working on it; skipped",
                )
            else:
                try:
                    storage.close_interrupted_runs(source["chat_id"])
                    if client is None:  # connect only when a source needs Telegram
                        client = await open_client(settings, flood_sleep=options.max_flood_wait)
                    result = await SourceIngest(
                        storage, client, source, options, progress, owner
                    ).run()
                finally:
                    storage.release_lock(source["chat_id"], owner)
            results.append(result)
            progress.source_finished(result)
    finally:
        if client is not None:
            await client.disconnect()
    return IngestSummary(results)


class SourceIngest:
    """One source's run: the five phases, each committing batch by batch."""

    def __init__(
        self,
        storage: Storage,
        client: Any,
        source: Row,
        options: IngestOptions,
        progress: Progress,
        owner: str,
    ) -> None:
        from tgparser.telegram.fetch import input_peer

        self.storage = storage
        self.client = client
        self.source = source
        self.options = options
        self.progress = progress
        self.owner = owner
        self.chat_id: int = source["chat_id"]
        self.peer = input_peer(self.chat_id, source.get("access_hash"))
        self.is_broadcast = source["type"] == "channel"
        self.result = SourceResult(source_label(source), self.chat_id, "ok")
        self.fetched_ids: set[int] = set()  # this chat's messages fetched by this run

    async def run(self) -> SourceResult:
        from tgparser.telegram.fetch import Deferred

        result = self.result
        if self.source["type"] != "group" and self.source.get("access_hash") is None:
            result.status = "failed"
            result.error = (
                "known from a Telegram Desktop export only: run `tgparser source add "
                f"{result.label}` to follow it through the API"
            )
            return result
        result.run_id = self.storage.start_run(self.chat_id)
        try:
            for phase in PHASES:
                self.progress.phase(phase)
                before = result.fetched
                await getattr(self, f"_{phase}")()
                result.phases[phase] = result.fetched - before
            self.storage.update_source(self.chat_id, not_before=None)
        except Deferred as exc:
            result.status = "deferred"
            result.not_before = utcnow() + timedelta(seconds=exc.seconds)
            result.error = (
                f"{exc} (over the {self.options.max_flood_wait} s cap); deferred until "
                f"{result.not_before:%Y-%m-%d %H:%M:%S} UTC"
            )
            self.storage.update_source(self.chat_id, not_before=result.not_before)
        except BaseException as exc:
            result.status = "failed"
            result.error = _one_line(exc)
            log.debug("ingest of %s failed", result.label, exc_info=True)
            self._finish_run()
            if not isinstance(exc, Exception):
                raise  # KeyboardInterrupt and friends: recorded, then stop the whole run
            return result
        self._finish_run()
        return result

    def _finish_run(self) -> None:
        r = self.result
        assert r.run_id is not None
        self.storage.finish_run(
            r.run_id,
            status=r.status,
            fetched=r.fetched,
            inserted=r.inserted,
            updated=r.updated,
            error=r.error,
            details={"phases": r.phases, "edited": r.edited, "comments": r.comments},
        )

    # -- saving ----------------------------------------------------------------------------

    def _save(
        self,
        messages: Sequence[Any],
        *,
        threads: Sequence[int] | None = None,
        thread_cursors: dict[int, int] | None = None,
        **cursor: Any,
    ) -> None:
        """One batch and its cursor moves, in ONE transaction.

        Messages of the source's own chat by default; comments when `threads` gives, for each
        message, the channel post whose thread it belongs to. `thread_cursors` marks threads
        whose comments are now all stored; `cursor` moves the source's marks.
        """
        from tgparser.telegram.mapping import records_for

        records = records_for(
            messages, chat_id=self.chat_id, is_broadcast=self.is_broadcast, threads=threads
        )
        with self.storage.transaction():
            saved = self.storage.upsert_messages(records)
            for post_id, synced_max in (thread_cursors or {}).items():
                self.storage.set_thread_cursor(self.chat_id, post_id, synced_max)
            if cursor:
                self.storage.update_source(self.chat_id, **cursor)
            self._keep_lock()
        self.source.update(cursor)
        r = self.result
        r.fetched += len(messages)
        r.inserted += saved.inserted
        r.updated += saved.updated
        r.edited += saved.edited
        if threads is None:
            self.fetched_ids.update(m.id for m in messages)
        else:
            r.comments += saved.inserted
        self.progress.advanced(len(messages))

    def _keep_lock(self) -> None:
        ttl = self.options.effective_lock_ttl
        if not self.storage.refresh_lock(self.chat_id, self.owner, ttl):
            raise LockLost("lost the source lock to another run (it had expired)")

    async def _batches(self, messages: AsyncIterator[Any]) -> AsyncIterator[list[Any]]:
        """Group messages into batches. When Telegram fails mid-batch (a FloodWait over the
        cap, a dropped connection), the messages already received are still handed out, so
        they are committed before the error goes on: they are complete up to that point."""
        batch: list[Any] = []
        try:
            async for message in messages:
                batch.append(message)
                if len(batch) >= self.options.batch_size:
                    yield batch
                    batch = []
        except Exception:
            if batch:
                yield batch
            raise
        if batch:
            yield batch

    # -- phases ----------------------------------------------------------------------------

    async def _new(self) -> None:
        from tgparser.telegram.fetch import fetch_top, iter_history

        top_id, total = await fetch_top(self.client, self.peer)
        high = self.source.get("high_water_id")
        if high is None:
            # First run: claim the top; backfill fetches everything from it downwards.
            self.storage.update_source(self.chat_id, high_water_id=top_id, telegram_count=total)
            self.source["high_water_id"] = top_id
            return
        self.storage.update_source(self.chat_id, telegram_count=total)
        if top_id <= high:
            return  # nothing new: skip the paging request
        async for batch in self._batches(iter_history(self.client, self.peer, above=high)):
            self._save(batch, high_water_id=max(high, *(m.id for m in batch)))

    async def _backfill(self) -> None:
        if self.source.get("backfill_done"):
            return
        low = self.source.get("low_water_id")
        start = low if low is not None else (self.source.get("high_water_id") or 0) + 1
        floor = _since(self.source)
        if start <= 1:
            self._mark_backfilled()
            return
        if self.options.takeout:
            from tgparser.telegram.fetch import open_takeout

            async with open_takeout(self.client) as takeout:
                await self._backfill_from(takeout, start, floor)
        else:
            await self._backfill_from(self.client, start, floor)

    async def _backfill_from(self, client: Any, start: int, floor: datetime | None) -> None:
        from tgparser.telegram.fetch import iter_history

        reached_floor = False

        async def until_floor() -> AsyncIterator[Any]:
            nonlocal reached_floor
            async for message in iter_history(client, self.peer, below=start):
                if floor is not None and message.date < floor:
                    reached_floor = True
                    return
                yield message

        async for batch in self._batches(until_floor()):
            low = min(m.id for m in batch)
            self._save(batch, low_water_id=low)
        # The history ran out (or reached the floor) without error: nothing older is owed.
        self._mark_backfilled()
        log.debug("backfill of %s done (floor reached: %s)", self.result.label, reached_floor)

    def _mark_backfilled(self) -> None:
        self.storage.update_source(self.chat_id, backfill_done=True)
        self.source["backfill_done"] = True

    async def _refresh(self) -> None:
        from tgparser.telegram.fetch import PAGE, fetch_by_ids

        since = utcnow() - self.options.refresh_window
        # What this run just fetched is already current.
        ids = [
            i
            for i in self.storage.message_ids(self.chat_id, since=since)
            if i not in self.fetched_ids
        ]
        for start in range(0, len(ids), PAGE):
            found = await fetch_by_ids(self.client, self.peer, ids[start : start + PAGE])
            if found:
                self._save(found)

    async def _counters(self) -> None:
        from tgparser.telegram.fetch import PAGE, fetch_counters

        if not self.is_broadcast or self.options.counters_window == timedelta(0):
            return
        refreshed_since = utcnow() - self.options.refresh_window
        window = self.options.counters_window
        since = None if window is None else utcnow() - window
        # Recent posts were re-read whole by the refresh (or just fetched): skip them.
        skip = set(self.storage.message_ids(self.chat_id, since=refreshed_since))
        skip |= self.fetched_ids
        ids = [
            i
            for i in self.storage.message_ids(self.chat_id, kind="post", since=since)
            if i not in skip
        ]
        for start in range(0, len(ids), PAGE):
            chunk = ids[start : start + PAGE]
            counters = await fetch_counters(self.client, self.peer, chunk)
            self.storage.update_counters(self.chat_id, counters)
            self._keep_lock()
            self.progress.advanced(0)

    async def _comments(self) -> None:
        from tgparser.telegram.fetch import CommentsUnavailable, ThreadGone, iter_thread

        options = self.source.get("options") or {}
        if not self.source.get("linked_chat_id") or not options.get("comments", True):
            return
        # Comments of many threads share a transaction: most threads hold a few comments, and
        # a commit per thread would cost more than fetching it. A thread's cursor moves in the
        # same commit as its last comments, so a crash makes the next run fetch the unfinished
        # threads again (duplicates are merged), and never skips a comment.
        pending: list[Any] = []
        pending_threads: list[int] = []
        finished: dict[int, int] = {}

        def flush() -> None:
            if pending or finished:
                self._save(pending, threads=pending_threads, thread_cursors=finished)
                pending.clear()
                pending_threads.clear()
                finished.clear()

        try:
            for post_id, reported_max, synced in self.storage.threads_to_fetch(self.chat_id):
                seen = synced
                try:
                    async for comment in iter_thread(self.client, self.peer, post_id, above=synced):
                        pending.append(comment)
                        pending_threads.append(post_id)
                        seen = max(seen, comment.id)
                        if len(pending) >= self.options.batch_size:
                            flush()
                except ThreadGone:
                    log.debug("post %s of %s has no thread any more", post_id, self.result.label)
                # max() also covers a reported newest comment that was deleted meanwhile.
                finished[post_id] = max(seen, reported_max)
                if len(finished) >= self.options.batch_size:
                    flush()
        except CommentsUnavailable as exc:
            self.result.warnings.append(str(exc))  # the posts are fine: not a failure
        except Exception:
            flush()  # what came before the error is complete: keep it, then report the error
            raise
        flush()


def _since(source: Row) -> datetime | None:
    value = (source.get("options") or {}).get("since")
    return datetime.fromisoformat(value) if value else None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, TgparserError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
