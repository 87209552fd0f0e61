"""`tgparser process`: make the pending documents of the archive, chat by chat.

A message is pending when no document of the current processor identity carries its current
`content_hash`. Each chat keeps a scan position (`process_chats.scanned_to`): a later run
looks only at messages updated since (minus a safety margin for writers still committing),
through the (chat_id, updated_at, message_id) index, so a run with nothing to do reads almost
nothing. A run holds each chat it works (`process_chats.owner`): a second run at the same time
skips it, so no message is processed twice. Documents are written page by page, each page in
one transaction: a crash loses at most the page in flight.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from tgparser.errors import TgparserError
from tgparser.process.builtin import IDENTITY as BUILTIN_IDENTITY
from tgparser.process.builtin import builtin_documents, builtin_values
from tgparser.process.parallel import Workers
from tgparser.storage import Storage
from tgparser.storage.base import Row, utcnow
from tgparser.storage.documents import (
    DOCUMENT_INDEX,
    PROCESS_MESSAGE_COLUMNS,
    ChatClaim,
    ProcessorIdentity,
    document_values,
    new_owner,
)

PAGE_SIZE = 500  # messages read, processed and committed together
HOLD_TTL = timedelta(minutes=15)  # a run's hold on a chat, refreshed every page
# A writer computes updated_at before it commits; rows it commits after our scan began may
# carry an earlier time. Rescanning this much before the scan's start catches them.
SCAN_MARGIN = timedelta(minutes=10)


@dataclass
class ProcessOptions:
    since: datetime | None = None
    until: datetime | None = None
    limit: int | None = None
    reprocess: bool = False
    retry_failed: bool = False
    dry_run: bool = False
    max_cost: float | None = None
    page_size: int = PAGE_SIZE
    jobs: int = 1  # processes making documents (a processor with `page_values`)


@dataclass
class Budget:
    """Money for a run: requests are sent only while their worst case still fits."""

    max_cost: float | None = None
    spent: float = 0.0
    reserved: float = 0.0
    exhausted: bool = False

    def reserve(self, amount: float) -> bool:
        if self.max_cost is not None and self.spent + self.reserved + amount > self.max_cost:
            self.exhausted = True
            return False
        self.reserved += amount
        return True

    def settle(self, reserved: float, actual: float) -> None:
        self.reserved -= reserved
        self.spent += actual


@dataclass
class Outcome:
    """What a processor made of a page."""

    documents: list[Row] = field(default_factory=list)
    failures: list[tuple[Row, str, int]] = field(default_factory=list)  # message, error, attempts
    skipped: int = 0  # left pending: over the budget
    tokens_in: int = 0  # paid for in this run (cache hits cost nothing)
    tokens_out: int = 0
    cost: float = 0.0
    cached: int = 0


@dataclass
class Estimate:
    messages: int = 0  # that need a document
    to_send: int = 0  # messages that would be sent to the model (not noise, not cached)
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0


class Processor(Protocol):
    identity: ProcessorIdentity

    def process(self, storage: Storage, messages: list[Row], budget: Budget) -> Outcome: ...

    def estimate(self, storage: Storage, messages: list[Row]) -> Estimate: ...

    def close(self) -> None: ...


class BuiltinProcessor:
    identity = BUILTIN_IDENTITY
    # A page's documents from the page alone (messages as stored in, documents as stored
    # out): what worker processes run (`--jobs`), and a run without them too.
    page_values = staticmethod(builtin_values)

    def process(self, storage: Storage, messages: list[Row], budget: Budget) -> Outcome:
        return Outcome(documents=builtin_documents(messages))

    def estimate(self, storage: Storage, messages: list[Row]) -> Estimate:
        return Estimate(messages=len(messages))

    def close(self) -> None:
        pass


@dataclass
class ChatResult:
    chat_id: int
    source: Row | None  # the followed chat (for a discussion group: its channel)
    comments_of: bool = False  # the chat is the discussion group of `source`
    status: str = "ok"  # ok | busy | stopped
    processed: int = 0
    failed: int = 0
    ads: int = 0
    noise: int = 0
    duplicates: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "chat_id": self.chat_id,
            "source_chat_id": self.source["chat_id"] if self.source else None,
            "comments": self.comments_of,
            "status": self.status,
            "processed": self.processed,
            "failed": self.failed,
            "ads": self.ads,
            "noise": self.noise,
            "duplicates": self.duplicates,
        }


@dataclass
class ProcessSummary:
    processor: str
    model: str
    prompt_id: str
    dry_run: bool = False
    processed: int = 0
    skipped: int = 0
    failed: int = 0
    ads: int = 0
    noise: int = 0
    duplicates: int = 0
    cached: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    stopped: str | None = None  # why the run stopped early: limit | max-cost
    estimate: Estimate | None = None
    chats: list[ChatResult] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "processor": self.processor,
            "model": self.model or None,
            "prompt_id": self.prompt_id or None,
            "dry_run": self.dry_run,
            "processed": self.processed,
            "skipped": self.skipped,
            "failed": self.failed,
            "ads": self.ads,
            "noise": self.noise,
            "duplicates": self.duplicates,
            "cached": self.cached,
            "tokens": {"in": self.tokens_in, "out": self.tokens_out},
            "cost": round(self.cost, 6),
            "stopped": self.stopped,
            "busy_chats": [c.chat_id for c in self.chats if c.status == "busy"],
            "exit_code": self.exit_code,
        }
        if self.estimate is not None:
            data["estimate"] = {
                "messages": self.estimate.messages,
                "to_send": self.estimate.to_send,
                "tokens": {"in": self.estimate.tokens_in, "out": self.estimate.tokens_out},
                "cost": round(self.estimate.cost, 6),
            }
        data["chats"] = [c.as_dict() for c in self.chats]
        return data


class NoProgress:
    def source_started(self, label: str) -> None: ...
    def phase(self, name: str) -> None: ...
    def advanced(self, count: int) -> None: ...
    def source_finished(self, result: Any) -> None: ...


# -- which chats ----------------------------------------------------------------------------


def select_chats(storage: Storage, refs: Sequence[str]) -> list[tuple[int, Row | None, bool]]:
    """(chat id, its followed source, whether it is that source's discussion group) of each
    chat to process: the named ones (a channel with its comments), else every chat in the
    archive but paused ones, followed and imported alike."""
    sources = storage.list_sources()
    by_id = {s["chat_id"]: s for s in sources}
    linked = {s["linked_chat_id"]: s for s in sources if s.get("linked_chat_id") is not None}
    if refs:
        from tgparser.sources import find_source

        chosen: list[tuple[int, Row | None, bool]] = []
        for ref in refs:
            source = find_source(storage, ref)
            for chat_id, comments in ((source["chat_id"], False), (source["linked_chat_id"], True)):
                if chat_id is not None and all(c[0] != chat_id for c in chosen):
                    chosen.append((chat_id, source, comments))
        return chosen
    chosen = []
    for chat_id in storage.archive_chat_ids():
        own = by_id.get(chat_id)
        parent = linked.get(chat_id)
        if (own and own["status"] == "paused") or (
            own is None and parent and parent["status"] == "paused"
        ):
            continue
        chosen.append((chat_id, own or parent, own is None and parent is not None))
    return chosen


# -- the run --------------------------------------------------------------------------------


def run_process(
    storage: Storage,
    processor: Processor,
    chats: list[tuple[int, Row | None, bool]],
    options: ProcessOptions,
    progress: Any = None,
) -> ProcessSummary:
    identity = processor.identity
    shown = progress is not None
    progress = progress or NoProgress()
    summary = ProcessSummary(identity.processor, identity.model, identity.prompt_id)
    summary.dry_run = options.dry_run
    if options.dry_run:
        summary.estimate = Estimate()
    budget = Budget(options.max_cost)
    # Worker processes only for a processor that needs nothing but the page, and without a
    # --limit (which counts what is written before the next page is read).
    parallel = getattr(processor, "page_values", None) is not None and options.limit is None
    workers = Workers(options.jobs if parallel and not options.dry_run else 1)
    try:
        _run_chats(storage, processor, chats, options, progress, shown, summary, budget, workers)
    finally:
        workers.close()
    return summary


def _run_chats(
    storage: Storage,
    processor: Processor,
    chats: list[tuple[int, Row | None, bool]],
    options: ProcessOptions,
    progress: Any,
    shown: bool,
    summary: ProcessSummary,
    budget: Budget,
    workers: Workers,
) -> None:
    identity = processor.identity
    owner = new_owner()
    started = utcnow()
    for chat_id, source, comments in chats:
        result = ChatResult(chat_id, source, comments)
        summary.chats.append(result)
        if summary.stopped:
            result.status = "stopped"
            continue
        if options.dry_run:
            _estimate_chat(storage, processor, chat_id, options, summary)
            continue
        claim = storage.claim_chat(chat_id, identity.processor, owner, HOLD_TTL)
        if claim is None:
            result.status = "busy"
            continue
        if shown:
            progress.source_started(
                str(chat_id) if source is None else _short_label(source, comments)
            )
        progress.phase("processing")
        complete = False
        try:
            complete = _process_chat(
                storage, processor, claim, options, budget, summary, result, progress, workers
            )
        finally:
            # The scan position moves only after a whole, unfiltered scan of the chat.
            whole = complete and not (options.since or options.until or options.retry_failed)
            storage.release_chat(
                claim,
                identity=identity if whole else None,
                scanned_to=started - SCAN_MARGIN if whole else None,
            )
        if not complete:
            result.status = "stopped"
        progress.source_finished(result)


def _short_label(source: Row, comments: bool) -> str:
    from tgparser.sources import chat_label

    return f"{chat_label(source)} comments" if comments else chat_label(source)


def _pages(
    storage: Storage,
    identity: ProcessorIdentity,
    chat_id: int,
    options: ProcessOptions,
    remaining: Any,
    stored: bool = False,
):
    """The chat's pending messages, page by page (keyset paging: safe to write between):
    as dicts, or `stored`, as `pending_message_values` rows (tuples of the stored values of
    PROCESS_MESSAGE_COLUMNS, for a processor with `page_values`)."""
    if options.retry_failed:
        failed = storage.failed_messages(identity, [chat_id])
        if stored:
            failed = [tuple(map(m.get, PROCESS_MESSAGE_COLUMNS)) for m in failed]
        for start in range(0, len(failed), options.page_size):
            yield failed[start : start + options.page_size]
        return
    mark = None if options.reprocess else storage.chat_scan_position(chat_id, identity)
    after = None
    while True:
        size = min(options.page_size, remaining())
        if size <= 0:
            return
        read = storage.pending_message_values if stored else storage.pending_messages
        page = read(
            chat_id,
            identity,
            updated_from=mark,
            after=after,
            since=options.since,
            until=options.until,
            reprocess=options.reprocess,
            limit=size,
        )
        if not page:
            return
        last = page[-1]
        after = (
            (last[_UPDATED_AT], last[_MESSAGE_ID])
            if stored
            else (
                last["updated_at"],
                last["message_id"],
            )
        )
        yield page


def _process_chat(
    storage: Storage,
    processor: Processor,
    claim: ChatClaim,
    options: ProcessOptions,
    budget: Budget,
    summary: ProcessSummary,
    result: ChatResult,
    progress: Any,
    workers: Workers,
) -> bool:
    """Process a chat's pending messages; True when it was done whole (no limit, no budget
    stop)."""
    identity = processor.identity

    def remaining() -> int:
        if options.limit is None:
            return options.page_size
        return options.limit - summary.processed - summary.failed

    page_values = getattr(processor, "page_values", None)
    pages = _pages(storage, identity, claim.chat_id, options, remaining, page_values is not None)
    if page_values is not None:
        # Documents made from the page alone, as stored: here the page is only written.
        compute = functools.partial(page_values, encoders=storage.encoders)
        made = ((_origins_of_values(p), v, Outcome()) for p, v in workers.documents(pages, compute))
    else:
        made = ((_origins_of_rows(p), None, processor.process(storage, p, budget)) for p in pages)
    for origins, made_values, outcome in made:
        values = made_values or document_values(outcome.documents, storage.encoders)
        if values:
            stamp = storage._encode_timestamp(utcnow())
            for row in values:
                row[_PROCESSED_AT] = stamp
            changes = assign_duplicates(storage, identity.processor, values, origins)
            with storage.transaction():
                storage.write_document_values(values)
                storage.set_duplicate_of(identity.processor, changes)
        if outcome.failures:
            storage.record_failures(
                [
                    {
                        "chat_id": m["chat_id"],
                        "message_id": m["message_id"],
                        "processor": identity.processor,
                        "processor_version": identity.version,
                        "model": identity.model,
                        "prompt_id": identity.prompt_id,
                        "content_hash": m["content_hash"],
                        "error": error,
                    }
                    for m, error, _ in outcome.failures
                ]
            )
        ads = sum(1 for row in values if row[_IS_AD])
        noise = sum(1 for row in values if row[_IS_NOISE])
        duplicates = sum(1 for row in values if row[_DUPLICATE_OF[1]] is not None)
        for target in (summary, result):
            target.processed += len(values)
            target.failed += len(outcome.failures)
            target.ads += ads
            target.noise += noise
            target.duplicates += duplicates
        summary.skipped += outcome.skipped
        summary.cached += outcome.cached
        summary.tokens_in += outcome.tokens_in
        summary.tokens_out += outcome.tokens_out
        summary.cost += outcome.cost
        progress.advanced(len(values) + len(outcome.failures))
        if not storage.refresh_chat(claim, HOLD_TTL):
            raise TgparserError(
                f"lost the hold on chat {claim.chat_id} (the run stalled longer than "
                f"{HOLD_TTL}); run again"
            )
        if budget.exhausted:
            summary.stopped = "max-cost"
            return False
        if options.limit is not None and remaining() <= 0:
            summary.stopped = "limit"
            return False
    return True


def _estimate_chat(
    storage: Storage,
    processor: Processor,
    chat_id: int,
    options: ProcessOptions,
    summary: ProcessSummary,
) -> None:
    assert summary.estimate is not None
    estimate = summary.estimate

    def remaining() -> int:
        if options.limit is None:
            return options.page_size
        return options.limit - estimate.messages

    for page in _pages(storage, processor.identity, chat_id, options, remaining):
        part = processor.estimate(storage, page)
        estimate.messages += part.messages
        estimate.to_send += part.to_send
        estimate.tokens_in += part.tokens_in
        estimate.tokens_out += part.tokens_out
        estimate.cost += part.cost


# -- duplicates -----------------------------------------------------------------------------


_MESSAGE = {c: i for i, c in enumerate(PROCESS_MESSAGE_COLUMNS)}
_UPDATED_AT, _MESSAGE_ID = _MESSAGE["updated_at"], _MESSAGE["message_id"]
_KEY = operator.itemgetter(DOCUMENT_INDEX["chat_id"], DOCUMENT_INDEX["message_id"])
_TEXT_HASH = DOCUMENT_INDEX["text_hash"]
_DUPLICATE_OF = (DOCUMENT_INDEX["duplicate_of_chat_id"], DOCUMENT_INDEX["duplicate_of_message_id"])
_IS_AD, _IS_NOISE = DOCUMENT_INDEX["is_ad"], DOCUMENT_INDEX["is_noise"]
_PROCESSED_AT = DOCUMENT_INDEX["processed_at"]
_FORWARD = operator.itemgetter(
    _MESSAGE["chat_id"], _MESSAGE_ID, _MESSAGE["fwd_from_id"], _MESSAGE["fwd_from_message_id"]
)


Origins = dict[tuple[int, int], tuple[int, int]]


def _origins_of_values(page: list[tuple[Any, ...]]) -> Origins:
    """(chat_id, message_id) -> the (chat, message) it forwards, of a page's forwards."""
    return {
        (c, m): (fc, fm)
        for c, m, fc, fm in map(_FORWARD, page)
        if fc is not None and fm is not None
    }


def _origins_of_rows(page: list[Row]) -> Origins:
    return _origins_of_values([tuple(map(m.get, PROCESS_MESSAGE_COLUMNS)) for m in page])


def assign_duplicates(
    storage: Storage, processor: str, values: list[list[Any]], origins: Origins
) -> list[tuple[int, int, int | None, int | None]]:
    """Set `duplicate_of` on a page's documents (stored rows, `document_values`): a forward
    (`origins`: what each forward of the page forwards) points at the original post (when
    archived) or at the earliest archived forward of it; otherwise a text points at the first
    message (lowest id) of its chat with the same normalised text. Returns changes to make to
    stored documents that a page's earlier message now precedes."""
    dup_chat, dup_message = _DUPLICATE_OF
    copies = storage.forward_copies(origins.values()) if origins else {}
    if copies:
        for row in values:
            key = _KEY(row)
            origin = origins.get(key)
            if origin and copies.get(origin):
                first = copies[origin][0]
                if (first[0], first[1]) != key:
                    row[dup_chat], row[dup_message] = first[:2]
    changes: list[tuple[int, int, int | None, int | None]] = []
    by_chat: dict[int, list[list[Any]]] = {}
    for row in values:
        if row[_TEXT_HASH]:
            by_chat.setdefault(row[0], []).append(row)
    for chat_id, rows in by_chat.items():
        stored = storage.documents_with_text_hashes(
            chat_id, processor, (r[_TEXT_HASH] for r in rows)
        )
        page_ids = {r[1] for r in rows}
        first: dict[str, int] = {}
        for message_id, text_hash, _ in stored:
            if message_id not in page_ids:
                first[text_hash] = min(first.get(text_hash, message_id), message_id)
        for row in rows:
            h = row[_TEXT_HASH]
            first[h] = min(first.get(h, row[1]), row[1])
        for row in rows:
            original = first[row[_TEXT_HASH]]
            if original != row[1] and row[dup_message] is None:
                row[dup_chat], row[dup_message] = chat_id, original
        for message_id, text_hash, duplicate_of in stored:
            original = first[text_hash]
            later = message_id not in page_ids and original < message_id
            if later and (duplicate_of is None or original < duplicate_of):
                changes.append((chat_id, message_id, chat_id, original))
    return changes
