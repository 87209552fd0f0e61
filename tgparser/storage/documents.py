"""Storage of knowledge documents (`tgparser process`): documents, the failures journal, the
LLM response cache and the per-chat scan state of process runs.

A mixin of `Storage` (both adapters), kept out of base.py. A document is derived data keyed by
(chat_id, message_id, processor) and stamped with the `content_hash` of the message it was made
from and the identity of what made it (processor version, model, prompt id): a message is
*pending* for a processor identity when no document of that identity carries its current hash.

The "current document" of a message, for consumers: the `llm` row when it exists and was made
from the message's current content, else the `builtin` row (see `current_document_sql`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from tgparser.storage.columns import TABLE_COLUMNS

if TYPE_CHECKING:
    from tgparser.storage.base import MessageFilter, Row, Storage

    _Base = Storage
else:
    _Base = object

DOCUMENT_COLUMNS = tuple(TABLE_COLUMNS["documents"])
DOCUMENT_INDEX = {c: i for i, c in enumerate(DOCUMENT_COLUMNS)}  # positions in stored rows
_DOCUMENT_COLUMN_SET = frozenset(DOCUMENT_COLUMNS)
FAILURE_COLUMNS = tuple(TABLE_COLUMNS["document_failures"])
CACHE_COLUMNS = tuple(TABLE_COLUMNS["llm_cache"])
# What processing reads of a message (never raw, the largest column).
PROCESS_MESSAGE_COLUMNS = (
    "chat_id",
    "message_id",
    "kind",
    "date",
    "text",
    "entities",
    "action",
    "media_kind",
    "fwd_from_id",
    "fwd_from_message_id",
    "parent_chat_id",
    "parent_message_id",
    "content_hash",
    "updated_at",
)
# What a document column holds when a processor leaves it out.
DOCUMENT_DEFAULTS: dict[str, Any] = {
    "model": "",
    "prompt_id": "",
    "text_clean": "",
    "text_hash": "",
    "language": "und",
    "urls": [],
    "hashtags": [],
    "mentions": [],
    "is_ad": False,
    "ad_reasons": [],
    "is_noise": False,
    "keywords": [],
    "summary": "",
    "tokens_in": 0,
    "tokens_out": 0,
    "cost": 0.0,
}
_IN_CHUNK = 400  # values per IN (…): well under SQLite's parameter limit


class ProcessorIdentity(NamedTuple):
    """What made a document: a document of another identity is not current.

    (A named tuple: every command defines this class on start, and defining a frozen
    dataclass costs several times as much.)"""

    processor: str  # builtin | llm
    version: str
    model: str = ""
    prompt_id: str = ""

    @property
    def key(self) -> str:
        return f"{self.processor}/{self.version}/{self.model}/{self.prompt_id}"


class ChatClaim(NamedTuple):
    """A process run's hold on one chat for one processor, with the chat's scan position."""

    chat_id: int
    processor: str
    owner: str
    scanned_to: datetime | None  # every message updated before this was examined


def new_owner() -> str:
    import uuid  # here: uuid imports platform, and a one-shot search never needs it

    return uuid.uuid4().hex


class DocumentsMixin(_Base):
    """Document storage methods; mixed into `Storage`, so both adapters have them."""

    # -- documents ----------------------------------------------------------------------------

    def upsert_documents(self, rows: Sequence[Row]) -> int:
        """Insert or replace documents (keyed by chat_id, message_id, processor); clears the
        failure journal entry of each, in one transaction. Returns how many were written."""
        if not rows:
            return 0
        for row in rows:
            if not row.keys() <= _DOCUMENT_COLUMN_SET:
                unknown = set(row) - _DOCUMENT_COLUMN_SET
                raise ValueError(f"unknown documents column(s): {', '.join(sorted(unknown))}")
        values = document_values(rows, self.encoders, processed_at=_utcnow())
        return self.write_document_values(values)

    def write_document_values(self, values: Sequence[Sequence[Any]]) -> int:
        """`upsert_documents` of documents already in their stored form (`document_values`
        with this backend's encoders): the page's insert is all that is left to do here,
        while worker processes make the values."""
        if not values:
            return 0
        p = self.placeholder
        key = ("chat_id", "message_id", "processor")
        chat, message, processor = (DOCUMENT_INDEX[c] for c in key)
        with self.transaction():
            self._executemany(self._upsert_sql("documents", DOCUMENT_COLUMNS, key), values)
            processors = {v[processor] for v in values}
            if self._query(
                f"SELECT EXISTS (SELECT 1 FROM document_failures WHERE processor IN "
                f"({', '.join([p] * len(processors))}))",
                sorted(processors),
            )[0][0]:
                self._executemany(
                    f"DELETE FROM document_failures WHERE chat_id = {p} AND message_id = {p} "
                    f"AND processor = {p}",
                    [(v[chat], v[message], v[processor]) for v in values],
                )
        return len(values)

    def get_document(self, chat_id: int, message_id: int, processor: str = "builtin") -> Row | None:
        p = self.placeholder
        rows = self._select(
            "documents",
            f"WHERE chat_id = {p} AND message_id = {p} AND processor = {p}",
            (chat_id, message_id, processor),
        )
        return rows[0] if rows else None

    def current_document(self, chat_id: int, message_id: int) -> Row | None:
        """The `llm` document when it was made from the message's current content, else the
        `builtin` one (whatever content it was made from), else None."""
        message = self._query(
            f"SELECT content_hash FROM messages WHERE chat_id = {self.placeholder} "
            f"AND message_id = {self.placeholder}",
            (chat_id, message_id),
        )
        llm = self.get_document(chat_id, message_id, "llm")
        if llm is not None and message and llm["content_hash"] == message[0][0]:
            return llm
        return self.get_document(chat_id, message_id, "builtin")

    def count_documents(self, processor: str | None = None) -> int:
        p = self.placeholder
        where, params = ("", ()) if processor is None else (f"WHERE processor = {p}", (processor,))
        return self._query(f"SELECT count(*) FROM documents {where}", params)[0][0]

    def iter_current_documents(
        self,
        f: MessageFilter,
        *,
        no_ads: bool = False,
        no_noise: bool = False,
        batch_size: int = 2000,
    ) -> Iterator[Row]:
        """The current document of each message a filter selects, streamed in (chat_id, date,
        message_id) order. Each row has every documents column plus the message's `kind`,
        `date`, `parent_chat_id`, `parent_message_id` and `source_username`."""
        clauses, params = self._filter_sql(f)
        clauses.append(current_document_sql("d", "m"))
        if no_ads:
            clauses.append(f"d.is_ad = {self._bool_sql(False)}")
        if no_noise:
            clauses.append(f"d.is_noise = {self._bool_sql(False)}")
        doc_columns = ", ".join(f"d.{c}" for c in DOCUMENT_COLUMNS)
        extra = ("kind", "date", "parent_chat_id", "parent_message_id")
        sql = (
            f"SELECT {doc_columns}, {', '.join(f'm.{c}' for c in extra)}, s.username "
            "FROM messages m JOIN documents d "
            "ON d.chat_id = m.chat_id AND d.message_id = m.message_id "
            "LEFT JOIN sources s ON s.chat_id = COALESCE(m.parent_chat_id, m.chat_id) "
            f"WHERE {' AND '.join(clauses)} ORDER BY m.chat_id, m.date, m.message_id"
        )
        n = len(DOCUMENT_COLUMNS)
        for values in self._stream(sql, params, batch_size):
            row = self._decode_row("documents", DOCUMENT_COLUMNS, values[:n])
            row["kind"] = values[n]
            row["date"] = self._decode("timestamp", values[n + 1])
            row["parent_chat_id"], row["parent_message_id"] = values[n + 2], values[n + 3]
            row["source_username"] = values[n + 4]
            yield row

    def _bool_sql(self, value: bool) -> str:
        if self.dialect == "sqlite":
            return "1" if value else "0"
        return "true" if value else "false"

    # -- what is pending ------------------------------------------------------------------------

    def archive_chat_ids(self) -> list[int]:
        """Every chat with stored messages, by a skip scan of the (chat_id, …) index: one index
        probe per chat, not a read of every message."""
        rows = self._query(
            "WITH RECURSIVE c(id) AS ("
            "SELECT (SELECT min(chat_id) FROM messages) "
            "UNION ALL SELECT (SELECT min(chat_id) FROM messages WHERE chat_id > c.id) "
            "FROM c WHERE c.id IS NOT NULL) SELECT id FROM c WHERE id IS NOT NULL"
        )
        return [r[0] for r in rows]

    def pending_messages(
        self,
        chat_id: int,
        identity: ProcessorIdentity,
        *,
        after: tuple[datetime, int] | None = None,
        **options: Any,
    ) -> list[Row]:
        """`pending_message_values` decoded into rows; `after` is the previous page's last
        (updated_at, message_id) as decoded values, `options` are the same filters."""
        if after is not None:
            after = (self._encode_timestamp(after[0]), after[1])
        rows = self.pending_message_values(chat_id, identity, after=after, **options)
        return [self._decode_row("messages", PROCESS_MESSAGE_COLUMNS, r) for r in rows]

    def pending_message_values(
        self,
        chat_id: int,
        identity: ProcessorIdentity,
        *,
        updated_from: datetime | None = None,
        after: tuple[Any, int] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        reprocess: bool = False,
        include_failed: bool = False,
        limit: int = 500,
    ) -> list[tuple[Any, ...]]:
        """One page of a chat's messages that need a document of `identity`, in
        (updated_at, message_id) order from `after` (exclusive; keyset paging, so writing
        documents between pages is safe), as the backend stores them: a tuple of
        PROCESS_MESSAGE_COLUMNS per message (JSON columns as the driver hands them back; the
        builtin processor decodes what it reads itself, in its worker processes). `after` is
        the stored `updated_at` and the message id of the previous page's last message.
        Only messages updated at or after `updated_from` (the chat's scan position) are
        looked at: index-backed on (chat_id, updated_at, message_id). Messages journaled as
        failed for this identity and content are left out unless `include_failed`;
        `reprocess` takes every message."""
        p = self.placeholder
        ts = self._encode_timestamp
        clauses = [f"m.chat_id = {p}"]
        params: list[Any] = [chat_id]
        if updated_from is not None:
            clauses.append(f"m.updated_at >= {p}")
            params.append(ts(updated_from))
        if after is not None:
            clauses.append(f"(m.updated_at, m.message_id) > ({p}, {p})")
            params += [after[0], after[1]]
        if since is not None:
            clauses.append(f"m.date >= {p}")
            params.append(ts(since))
        if until is not None:
            clauses.append(f"m.date < {p}")
            params.append(ts(until))
        same = (
            f"t.chat_id = m.chat_id AND t.message_id = m.message_id AND t.processor = {p} "
            f"AND t.content_hash = m.content_hash AND t.processor_version = {p} "
            f"AND t.model = {p} AND t.prompt_id = {p}"
        )
        ident = [identity.processor, identity.version, identity.model, identity.prompt_id]
        if not reprocess:
            clauses.append(f"NOT EXISTS (SELECT 1 FROM documents t WHERE {same})")
            params += ident
            if not include_failed:
                clauses.append(f"NOT EXISTS (SELECT 1 FROM document_failures t WHERE {same})")
                params += ident
        columns = ", ".join(f"m.{c}" for c in PROCESS_MESSAGE_COLUMNS)
        sql = (
            f"SELECT {columns} FROM messages m WHERE {' AND '.join(clauses)} "
            f"ORDER BY m.updated_at, m.message_id LIMIT {int(limit)}"
        )
        return self._query(sql, params)

    def failed_messages(
        self, identity: ProcessorIdentity, chat_ids: Sequence[int] | None = None
    ) -> list[Row]:
        """Messages journaled as failed for this processor identity (whatever content they
        failed on: a retry processes their current content), oldest failure first."""
        p = self.placeholder
        columns = ", ".join(f"m.{c}" for c in PROCESS_MESSAGE_COLUMNS)
        clauses = [
            f"f.processor = {p}",
            f"f.processor_version = {p}",
            f"f.model = {p}",
            f"f.prompt_id = {p}",
        ]
        params: list[Any] = [identity.processor, identity.version, identity.model]
        params.append(identity.prompt_id)
        if chat_ids is not None:
            if not chat_ids:
                return []
            clauses.append(f"f.chat_id IN ({', '.join([p] * len(chat_ids))})")
            params += list(chat_ids)
        sql = (
            f"SELECT {columns} FROM document_failures f JOIN messages m "
            "ON m.chat_id = f.chat_id AND m.message_id = f.message_id "
            f"WHERE {' AND '.join(clauses)} ORDER BY f.first_failed_at, f.chat_id, f.message_id"
        )
        return [
            self._decode_row("messages", PROCESS_MESSAGE_COLUMNS, r)
            for r in self._query(sql, params)
        ]

    def _encode_timestamp(self, value: datetime) -> Any:
        return self._encode("timestamp", value)

    def message_texts(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], tuple]:
        """(text, entities) of stored messages by (chat_id, message_id)."""
        p = self.placeholder
        by_chat: dict[int, list[int]] = {}
        for chat_id, message_id in keys:
            by_chat.setdefault(chat_id, []).append(message_id)
        found: dict[tuple[int, int], tuple] = {}
        for chat_id, ids in by_chat.items():
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = ids[start : start + _IN_CHUNK]
                rows = self._query(
                    f"SELECT message_id, text, entities FROM messages WHERE chat_id = {p} "
                    f"AND message_id IN ({', '.join([p] * len(chunk))})",
                    [chat_id, *chunk],
                )
                for message_id, text, entities in rows:
                    found[(chat_id, message_id)] = (text, self._decode("json", entities))
        return found

    # -- failures ---------------------------------------------------------------------------------

    def record_failures(self, rows: Sequence[Row]) -> None:
        """Journal failed messages: (chat_id, message_id, processor) with identity fields,
        content_hash and error; `attempts` grows on each failure of the same message."""
        if not rows:
            return
        p = self.placeholder
        now = self._encode_timestamp(_utcnow())
        columns = FAILURE_COLUMNS
        marks = ", ".join([p] * len(columns))
        sql = (
            f"INSERT INTO document_failures ({', '.join(columns)}) VALUES ({marks}) "
            "ON CONFLICT (chat_id, message_id, processor) DO UPDATE SET "
            "processor_version = excluded.processor_version, model = excluded.model, "
            "prompt_id = excluded.prompt_id, content_hash = excluded.content_hash, "
            "error = excluded.error, attempts = document_failures.attempts + 1, "
            "last_attempt_at = excluded.last_attempt_at"
        )
        values = []
        for row in rows:
            full = {"model": "", "prompt_id": "", **row, "attempts": 1}
            encoded = self._encode_row("document_failures", full, columns)
            encoded[columns.index("first_failed_at")] = now
            encoded[columns.index("last_attempt_at")] = now
            values.append(encoded)
        with self.transaction():
            self._executemany(sql, values)

    def list_failures(self, processor: str | None = None) -> list[Row]:
        p = self.placeholder
        where, params = ("", ()) if processor is None else (f"WHERE processor = {p}", (processor,))
        return self._select(
            "document_failures", where, params, "ORDER BY last_attempt_at, chat_id, message_id"
        )

    # -- LLM response cache ----------------------------------------------------------------------

    def cached_responses(self, model: str, prompt_id: str, hashes: Iterable[str]) -> dict[str, Row]:
        """Cached replies by input hash, among `hashes`."""
        p = self.placeholder
        wanted = list(dict.fromkeys(hashes))
        found: dict[str, Row] = {}
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start : start + _IN_CHUNK]
            rows = self._select(
                "llm_cache",
                f"WHERE model = {p} AND prompt_id = {p} "
                f"AND input_hash IN ({', '.join([p] * len(chunk))})",
                [model, prompt_id, *chunk],
            )
            found.update((r["input_hash"], r) for r in rows)
        return found

    def cache_responses(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        columns = CACHE_COLUMNS
        marks = ", ".join([self.placeholder] * len(columns))
        with self.transaction():
            self._executemany(
                f"INSERT INTO llm_cache ({', '.join(columns)}) VALUES ({marks}) "
                "ON CONFLICT (model, prompt_id, input_hash) DO NOTHING",
                (self._encode_row("llm_cache", r, columns) for r in rows),
            )

    # -- duplicates --------------------------------------------------------------------------------

    def documents_with_text_hashes(
        self, chat_id: int, processor: str, hashes: Iterable[str]
    ) -> list[tuple[int, str, int | None]]:
        """(message_id, text_hash, duplicate_of_message_id) of a chat's documents whose
        normalised text hash is among `hashes`."""
        p = self.placeholder
        wanted = [h for h in dict.fromkeys(hashes) if h]
        out: list[tuple[int, str, int | None]] = []
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start : start + _IN_CHUNK]
            out += [
                (r[0], r[1], r[2])
                for r in self._query(
                    "SELECT message_id, text_hash, duplicate_of_message_id FROM documents "
                    f"WHERE chat_id = {p} AND processor = {p} "
                    f"AND text_hash IN ({', '.join([p] * len(chunk))}) AND text_hash <> ''",
                    [chat_id, processor, *chunk],
                )
            ]
        return out

    def set_duplicate_of(
        self, processor: str, changes: Sequence[tuple[int, int, int | None, int | None]]
    ) -> None:
        """Point documents (chat_id, message_id) at the message they duplicate."""
        if not changes:
            return
        p = self.placeholder
        self._executemany(
            f"UPDATE documents SET duplicate_of_chat_id = {p}, duplicate_of_message_id = {p} "
            f"WHERE chat_id = {p} AND message_id = {p} AND processor = {p}",
            [(dc, dm, c, m, processor) for c, m, dc, dm in changes],
        )

    def forward_copies(self, origins: Iterable[tuple[int, int]]) -> dict[tuple[int, int], list]:
        """For each forward origin (chat, message): the original message if it is archived,
        and every archived forward of it, as (chat_id, message_id, date), earliest first;
        the original (when archived) comes first."""
        p = self.placeholder
        by_chat: dict[int, list[int]] = {}
        for chat_id, message_id in dict.fromkeys(origins):
            by_chat.setdefault(chat_id, []).append(message_id)
        found: dict[tuple[int, int], list] = {}
        for chat_id, ids in by_chat.items():
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = ids[start : start + _IN_CHUNK]
                marks = ", ".join([p] * len(chunk))
                originals = self._query(
                    f"SELECT chat_id, message_id, date FROM messages WHERE chat_id = {p} "
                    f"AND message_id IN ({marks})",
                    [chat_id, *chunk],
                )
                for c, m, d in originals:
                    found.setdefault((c, m), []).append((c, m, self._decode("timestamp", d)))
                copies = self._query(
                    "SELECT chat_id, message_id, date, fwd_from_message_id FROM messages "
                    f"WHERE fwd_from_id = {p} AND fwd_from_message_id IN ({marks}) "
                    "ORDER BY date, chat_id, message_id",
                    [chat_id, *chunk],
                )
                for c, m, d, origin in copies:
                    found.setdefault((chat_id, origin), []).append(
                        (c, m, self._decode("timestamp", d))
                    )
        return found

    # -- per-chat scan state and locks -----------------------------------------------------------

    def claim_chat(
        self, chat_id: int, processor: str, owner: str, ttl: timedelta
    ) -> ChatClaim | None:
        """Hold a chat for one process run of `processor`; None when another live run holds it.
        A hold expires after `ttl` unless refreshed, and a hold of a dead process on this host
        is taken over at once, so a crash never blocks a chat for long."""
        from tgparser.storage.base import _process_alive, host_identity

        p = self.placeholder
        now = _utcnow()
        host = host_identity()
        with self.transaction():
            self._execute(
                f"INSERT INTO process_chats (chat_id, processor) VALUES ({p}, {p}) "
                "ON CONFLICT (chat_id, processor) DO NOTHING",
                (chat_id, processor),
            )
        row = self._select(
            "process_chats", f"WHERE chat_id = {p} AND processor = {p}", (chat_id, processor)
        )[0]
        held_by = row["owner"]
        if held_by is not None and held_by != owner:
            stale = (row["expires_at"] is not None and row["expires_at"] <= now) or (
                row["host"] == host and row["pid"] is not None and not _process_alive(row["pid"])
            )
            if not stale:
                return None
        # Conditional on the holder we saw: of two runs racing for a chat, one wins.
        holder_sql = "owner IS NULL" if held_by is None else f"owner = {p}"
        params: list[Any] = [owner, host, os.getpid(), self._encode_timestamp(now + ttl)]
        params += [chat_id, processor] + ([] if held_by is None else [held_by])
        with self.transaction():
            taken = self._execute(
                f"UPDATE process_chats SET owner = {p}, host = {p}, pid = {p}, expires_at = {p} "
                f"WHERE chat_id = {p} AND processor = {p} AND {holder_sql}",
                params,
            )
        if not taken:
            return None
        return ChatClaim(chat_id, processor, owner, row["scanned_to"] if row["identity"] else None)

    def chat_scan_position(self, chat_id: int, identity: ProcessorIdentity) -> datetime | None:
        """Messages updated before this were all examined by a run of this identity."""
        p = self.placeholder
        rows = self._query(
            f"SELECT identity, scanned_to FROM process_chats WHERE chat_id = {p} "
            f"AND processor = {p}",
            (chat_id, identity.processor),
        )
        if not rows or rows[0][0] != identity.key or rows[0][1] is None:
            return None
        return self._decode("timestamp", rows[0][1])

    def refresh_chat(self, claim: ChatClaim, ttl: timedelta) -> bool:
        p = self.placeholder
        return (
            self._execute(
                f"UPDATE process_chats SET expires_at = {p} WHERE chat_id = {p} "
                f"AND processor = {p} AND owner = {p}",
                (
                    self._encode_timestamp(_utcnow() + ttl),
                    claim.chat_id,
                    claim.processor,
                    claim.owner,
                ),
            )
            > 0
        )

    def release_chat(
        self,
        claim: ChatClaim,
        *,
        identity: ProcessorIdentity | None = None,
        scanned_to: datetime | None = None,
    ) -> None:
        """Let go of a chat; with `scanned_to`, record that every message of the chat updated
        before it has been examined by `identity`."""
        p = self.placeholder
        sets, params = "owner = NULL, host = NULL, pid = NULL, expires_at = NULL", []
        if identity is not None and scanned_to is not None:
            sets += f", identity = {p}, scanned_to = {p}"
            params += [identity.key, self._encode_timestamp(scanned_to)]
        self._execute(
            f"UPDATE process_chats SET {sets} WHERE chat_id = {p} AND processor = {p} "
            f"AND owner = {p}",
            [*params, claim.chat_id, claim.processor, claim.owner],
        )

    # -- stats ---------------------------------------------------------------------------------

    def document_stats(self) -> dict[int, dict[str, int]]:
        """Per chat id (a comment counts under its channel post's chat): processed (messages
        with a current document), pending (without one), failed, ads."""
        owner = "COALESCE(m.parent_chat_id, m.chat_id)"
        current = current_document_sql("d", "m")
        rows = self._query(
            f"SELECT {owner}, count(*), count(d.message_id), "
            f"sum(CASE WHEN d.is_ad THEN 1 ELSE 0 END), "
            "sum(CASE WHEN d.message_id IS NOT NULL AND d.content_hash <> m.content_hash "
            "THEN 1 ELSE 0 END) "
            "FROM messages m LEFT JOIN documents d "
            f"ON d.chat_id = m.chat_id AND d.message_id = m.message_id AND {current} "
            f"GROUP BY {owner}"
        )
        failed = dict(
            self._query(
                f"SELECT {owner}, count(*) FROM document_failures f JOIN messages m "
                "ON m.chat_id = f.chat_id AND m.message_id = f.message_id "
                f"GROUP BY {owner}"
            )
        )
        out = {}
        for chat_id, total, with_doc, ads, stale in rows:
            processed = with_doc - (stale or 0)
            out[chat_id] = {
                "processed": processed,
                "pending": total - processed,
                "failed": failed.get(chat_id, 0),
                "ads": ads or 0,
            }
        return out


def current_document_sql(d: str = "d", m: str = "m") -> str:
    """SQL condition: document `d` is the current document of message `m` (the `llm` row made
    from the message's current content when there is one, else the `builtin` row)."""
    return (
        f"{d}.processor = CASE WHEN EXISTS (SELECT 1 FROM documents l WHERE l.chat_id = "
        f"{m}.chat_id AND l.message_id = {m}.message_id AND l.processor = 'llm' AND "
        f"l.content_hash = {m}.content_hash) THEN 'llm' ELSE 'builtin' END"
    )


def _json_or_empty(convert: Any, empty: Any, value: Any) -> Any:
    return empty if value == [] else convert(value)


def document_values(
    rows: Iterable[Row], encoders: Mapping[str, Any], processed_at: datetime | None = None
) -> list[list[Any]]:
    """Documents in their stored form, what `write_document_values` writes: a list per
    document in DOCUMENT_COLUMNS order, columns left out at their DOCUMENT_DEFAULTS, each
    value converted by a backend's `encoders` (JSON encoded, booleans as the backend keeps
    them). A function of the rows alone, so worker processes can run it; `processed_at`
    None leaves that column for the writer to stamp."""
    defaults = {**DOCUMENT_DEFAULTS, "processed_at": processed_at}
    converters = _document_converters(encoders)
    values = []
    for row in rows:
        # The hot path of `process`: columns picked and converted without a call per column.
        encoded = list(map({**defaults, **row}.get, DOCUMENT_COLUMNS))
        for index, convert in converters:
            value = encoded[index]
            if value is not None:
                encoded[index] = convert(value)
        values.append(encoded)
    return values


def _document_converters(encoders: Mapping[str, Any]) -> list[tuple[int, Any]]:
    """(position, converter) of each documents column whose values the backend converts;
    an empty list, the commonest JSON value, skips the encoder."""
    types = TABLE_COLUMNS["documents"]
    out: list[tuple[int, Any]] = []
    for index, column in enumerate(DOCUMENT_COLUMNS):
        convert = encoders.get(types[column])
        if convert is None:
            continue
        if types[column] == "json":
            empty = convert([])
            convert = functools.partial(_json_or_empty, convert, empty)
        out.append((index, convert))
    return out


def _utcnow() -> datetime:
    from tgparser.storage.base import utcnow

    return utcnow()


def not_an_ad_sql(m: str = "m") -> str:
    """SQL condition: message `m` has no current document flagged as an ad."""
    return (
        f"NOT EXISTS (SELECT 1 FROM documents d WHERE d.chat_id = {m}.chat_id AND "
        f"d.message_id = {m}.message_id AND d.is_ad AND {current_document_sql('d', m)})"
    )
