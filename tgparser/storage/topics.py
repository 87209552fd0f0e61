"""Storage of topics (`tgparser topics`): topic spaces, topics, their members, known topics.

A mixin of `Storage` (both adapters), kept out of base.py. Tables (migration 0006_topics):

- `topic_spaces` — one row per space ('chat:<chat_id>' or 'all'): the document frequencies its
  vectors use, so a daily run can place new documents without re-reading the old ones.
- `topics` — one row per topic card; ids never change ('<chat_id>:<message_id>' of the post that
  founded it, 'all:<chat_id>:<message_id>' in the all-sources space, 'k<n>' for known topics).
- `topic_members` — a topic's ranked bundle: (space, topic_id, chat_id, message_id) with role
  (anchor | supporting), kind (post | comment | duplicate), score (0–1) and a justification.
- `known_topics` — topics the user declared (`topics add`).

A topic's centroid ({term: weight}, ~100 terms) is stored as packed text (migration 0008; it
was JSON): its terms on one line, their weights on the next, each separated by one space —
a daily build turns every active topic's centroid into one matrix with a few C-level calls
(`packed_centroids`) instead of decoding thousands of JSON objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from tgparser.storage.columns import TABLE_COLUMNS
from tgparser.storage.documents import current_document_sql

if TYPE_CHECKING:
    from tgparser.storage.base import Row, Storage

    _Base = Storage
else:
    _Base = object

TOPIC_COLUMNS = tuple(TABLE_COLUMNS["topics"])
MEMBER_COLUMNS = tuple(TABLE_COLUMNS["topic_members"])
SPACE_COLUMNS = tuple(TABLE_COLUMNS["topic_spaces"])
KNOWN_COLUMNS = tuple(TABLE_COLUMNS["known_topics"])
MemberKey = tuple[str, str, int, int]  # (space, topic_id, chat_id, message_id)
_IN_CHUNK = 400


def pack_weights(value: dict[str, float] | str) -> str:
    """{term: weight} as stored: 'term term …' newline 'weight weight …' ('' when empty).
    Terms never contain whitespace (they are words); weights are written as Python writes a
    float, so they read back exactly. Packed text passes through (a copy between backends)."""
    if isinstance(value, str):
        return value
    if not value:
        return ""
    terms = " ".join(value)
    if len(terms.split()) != len(value):  # one C call: an empty term or one with a space
        raise ValueError(f"a centroid term cannot be empty or hold whitespace: {terms!r}")
    return terms + "\n" + " ".join([repr(float(w)) for w in value.values()])


def unpack_weights(text: str) -> dict[str, float]:
    """The {term: weight} of `pack_weights`' text, in the order it was written."""
    if not text:
        return {}
    terms, weights = text.split("\n")
    return dict(zip(terms.split(" "), map(float, weights.split(" ")), strict=True))


class TopicsMixin(_Base):
    """Topic storage methods; mixed into `Storage`, so both adapters have them."""

    # -- what a build reads -------------------------------------------------------------------

    def _candidates_from(self, chat_ids: Sequence[int], since: Any) -> tuple[str, list[Any]]:
        """FROM … WHERE of a space's candidates: the current document of every post, message
        and comment of these chats, ads and noise left out (they never take part)."""
        from tgparser.storage.base import MessageFilter

        clauses, params = self._filter_sql(MessageFilter(sources=tuple(chat_ids), since=since))
        clauses.append(current_document_sql("d", "m"))
        clauses.append("m.kind IN ('post', 'message', 'comment')")
        clauses.append("NOT d.is_ad AND NOT d.is_noise")
        sql = (
            "FROM messages m JOIN documents d "
            "ON d.chat_id = m.chat_id AND d.message_id = m.message_id "
            f"WHERE {' AND '.join(clauses)}"
        )
        return sql, params

    def topic_candidates(
        self, chat_ids: Sequence[int], since: Any = None
    ) -> Iterator[tuple[Any, ...]]:
        """The current document of every message of these chats (and of their comments) that
        is neither an ad nor noise, without its text, in (chat, date) order: tuples of
        (chat_id, message_id, kind, date, parent_chat_id, parent_message_id,
        duplicate_of_chat_id, duplicate_of_message_id, processor, processed_at).

        `date` is fixed-width ISO-8601 UTC text ('YYYY-MM-DDTHH:MM:SS.ffffffZ': it sorts and
        compares as the time does; parsing 100,000 of them was a second of a daily run);
        `processed_at` is a datetime for comments and duplicates, None for the others."""
        where, params = self._candidates_from(chat_ids, since)
        sql = (
            f"SELECT m.chat_id, m.message_id, m.kind, {self._timestamp_text('m.date')}, "
            "m.parent_chat_id, m.parent_message_id, d.duplicate_of_chat_id, "
            "d.duplicate_of_message_id, d.processor, CASE WHEN m.kind = 'comment' OR "
            "d.duplicate_of_message_id IS NOT NULL THEN d.processed_at END "
            f"{where} ORDER BY m.chat_id, m.date, m.message_id"
        )
        decode = self.decoders.get("timestamp")
        for values in self._stream(sql, params, 5000):
            if values[9] is not None and decode is not None:
                yield (*values[:9], decode(values[9]))
            else:
                yield tuple(values)

    def topic_fingerprint(self, chat_ids: Sequence[int], since: Any = None) -> list[Any]:
        """What a space's candidates are, in one aggregate: their number, how many of them are
        posts (not comments nor duplicates), how many have an LLM document, the newest
        `processed_at` and the newest message date (as text). A build that finds the same
        fingerprint as the last one has nothing new to place."""
        where, params = self._candidates_from(chat_ids, since)
        sql = (
            "SELECT count(*), sum(CASE WHEN m.kind <> 'comment' AND d.duplicate_of_message_id "
            "IS NULL THEN 1 ELSE 0 END), sum(CASE WHEN d.processor = 'llm' THEN 1 ELSE 0 END), "
            f"max({self._timestamp_text('d.processed_at')}), "
            f"max({self._timestamp_text('m.date')}) {where}"
        )
        count, posts, llm, processed, newest = self._query(sql, params)[0]
        return [int(count), int(posts or 0), int(llm or 0), processed, newest]

    def document_texts(
        self, keys: Iterable[tuple[tuple[int, int], str]]
    ) -> dict[tuple[int, int], str]:
        """text_clean of documents by ((chat_id, message_id), processor)."""
        out: dict[tuple[int, int], str] = {}
        keys = list(keys)
        p = self.placeholder
        for start in range(0, len(keys), _IN_CHUNK):
            chunk = keys[start : start + _IN_CHUNK]
            values = ", ".join([f"({p}, {p}, {p})"] * len(chunk))
            params = [v for (chat, message), proc in chunk for v in (chat, message, proc)]
            sql = (
                "SELECT d.chat_id, d.message_id, d.text_clean FROM documents d "
                f"JOIN (VALUES {values}) AS k (c, m, p) "
                "ON d.chat_id = k.c AND d.message_id = k.m AND d.processor = k.p"
            )
            if self.dialect == "sqlite":
                sql = (
                    "WITH k (c, m, p) AS (VALUES " + values + ") SELECT d.chat_id, d.message_id, "
                    "d.text_clean FROM documents d JOIN k ON d.chat_id = k.c AND "
                    "d.message_id = k.m AND d.processor = k.p"
                )
            for chat_id, message_id, text in self._query(sql, params):
                out[(chat_id, message_id)] = text or ""
        return out

    # -- spaces ---------------------------------------------------------------------------------

    def get_topic_space(self, space: str) -> Row | None:
        rows = self._select("topic_spaces", f"WHERE space = {self.placeholder}", (space,))
        return rows[0] if rows else None

    def topic_space_head(self, space: str) -> Row | None:
        """A space's row without `doc_freq` (the largest value of a space: a build that has
        nothing to place does not decode it)."""
        columns = [c for c in SPACE_COLUMNS if c != "doc_freq"]
        rows = self._query(
            f"SELECT {', '.join(columns)} FROM topic_spaces WHERE space = {self.placeholder}",
            (space,),
        )
        return self._decode_row("topic_spaces", columns, rows[0]) if rows else None

    def topic_space_doc_freq(self, space: str) -> dict[str, int]:
        rows = self._query(
            f"SELECT doc_freq FROM topic_spaces WHERE space = {self.placeholder}", (space,)
        )
        return dict(self._decode("json", rows[0][0])) if rows else {}

    def count_topics(self, space: str, status: str) -> int:
        p = self.placeholder
        return int(
            self._query(
                f"SELECT count(*) FROM topics WHERE space = {p} AND status = {p}", (space, status)
            )[0][0]
        )

    def list_topic_spaces(self) -> list[Row]:
        return self._select("topic_spaces", tail="ORDER BY space")

    # -- topics ---------------------------------------------------------------------------------

    def get_topic(self, topic_id: str) -> Row | None:
        rows = self._select("topics", f"WHERE id = {self.placeholder}", (topic_id,))
        return rows[0] if rows else None

    def list_topics(
        self,
        *,
        spaces: Sequence[str] | None = None,
        statuses: Sequence[str] | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[Row]:
        """Topics, biggest first; filtered by space, status or id when given."""
        p = self.placeholder
        clauses: list[str] = []
        params: list[Any] = []
        for column, values in (("space", spaces), ("status", statuses), ("id", ids)):
            if values is not None:
                if not values:
                    return []
                clauses.append(f"{column} IN ({', '.join([p] * len(values))})")
                params += list(values)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        return self._select("topics", where, params, "ORDER BY size DESC, id")

    def topic_members(
        self, topic_id: str, *, limit: int | None = None, space: str | None = None
    ) -> list[Row]:
        """A topic's bundle, ranked: anchors first, then by score."""
        p = self.placeholder
        where, params = f"WHERE topic_id = {p}", [topic_id]
        if space is not None:
            where += f" AND space = {p}"
            params.append(space)
        tail = "ORDER BY CASE role WHEN 'anchor' THEN 0 ELSE 1 END, score DESC, chat_id, message_id"
        if limit is not None:
            tail += f" LIMIT {int(limit)}"
        return self._select("topic_members", where, params, tail)

    def space_members(self, space: str) -> list[Row]:
        return self._select("topic_members", f"WHERE space = {self.placeholder}", (space,))

    def space_member_keys(self, space: str) -> list[tuple[str, int, int, str]]:
        """(topic_id, chat_id, message_id, kind) of every item of a space: what a daily build
        needs of the members it does not rewrite (nothing decoded)."""
        return self._query(  # type: ignore[return-value]
            "SELECT topic_id, chat_id, message_id, kind FROM topic_members "
            f"WHERE space = {self.placeholder}",
            (space,),
        )

    def members_of_topics(self, space: str, topic_ids: Sequence[str]) -> list[Row]:
        """The full member rows of these topics of a space."""
        p = self.placeholder
        out: list[Row] = []
        ids = list(topic_ids)
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            out += self._select(
                "topic_members",
                f"WHERE space = {p} AND topic_id IN ({', '.join([p] * len(chunk))})",
                [space, *chunk],
            )
        return out

    def topic_heads(self, space: str) -> list[Row]:
        """id, status, type, keywords and centroid of a space's topics: what a daily build
        needs of the topics it does not rewrite (the rest of a row is read only for those it
        does: `topics_by_id`). The centroid is left packed (`pack_weights` text): the build
        decodes all of them into one matrix at once."""
        columns = ("id", "status", "type", "keywords")
        rows = self._query(
            f"SELECT {', '.join(columns)}, centroid FROM topics WHERE space = "
            f"{self.placeholder} ORDER BY size DESC, id",
            (space,),
        )
        out = []
        for *values, centroid in rows:
            row = self._decode_row("topics", columns, values)
            row["centroid"] = centroid
            out.append(row)
        return out

    def topics_by_id(self, topic_ids: Sequence[str]) -> list[Row]:
        """Full topic rows by id (any order)."""
        p = self.placeholder
        out: list[Row] = []
        ids = list(topic_ids)
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            out += self._select("topics", f"WHERE id IN ({', '.join([p] * len(chunk))})", chunk)
        return out

    def topics_of_messages(
        self, keys: Iterable[tuple[int, int]], *, active_only: bool = True
    ) -> dict[tuple[int, int], list[str]]:
        """(chat_id, message_id) -> ids of the topics the message belongs to."""
        keys = list(keys)
        out: dict[tuple[int, int], list[str]] = {}
        p = self.placeholder
        status = "AND t.status = 'active'" if active_only else ""
        for start in range(0, len(keys), _IN_CHUNK):
            chunk = keys[start : start + _IN_CHUNK]
            cond = " OR ".join([f"(tm.chat_id = {p} AND tm.message_id = {p})"] * len(chunk))
            sql = (
                "SELECT DISTINCT tm.chat_id, tm.message_id, tm.topic_id FROM topic_members tm "
                f"JOIN topics t ON t.id = tm.topic_id WHERE ({cond}) {status} "
                "ORDER BY tm.topic_id"
            )
            for chat_id, message_id, topic_id in self._query(
                sql, [v for key in chunk for v in key]
            ):
                out.setdefault((chat_id, message_id), []).append(topic_id)
        return out

    def topic_message_keys(self, topic_id: str) -> list[tuple[int, int]]:
        """Every message of a topic's bundle (posts, comments, duplicates)."""
        rows = self._query(
            "SELECT DISTINCT chat_id, message_id FROM topic_members WHERE topic_id = "
            f"{self.placeholder} ORDER BY chat_id, message_id",
            (topic_id,),
        )
        return [(c, m) for c, m in rows]

    def save_topic_space(
        self,
        space: Row,
        topics: Sequence[Row],
        add_members: Sequence[Row],
        drop_members: Sequence[MemberKey],
    ) -> None:
        """Write one build of a space in one transaction: the space row, the topics that
        changed (insert or replace), and the member changes."""
        p = self.placeholder
        # a column left out of `space` keeps its stored value (an unchanged doc_freq: the
        # largest value of a space is not encoded and written again)
        space_columns = [c for c in SPACE_COLUMNS if c in space]
        with self.transaction():
            self._executemany(
                self._upsert_sql("topic_spaces", space_columns, ("space",)),
                [self._encode_row("topic_spaces", space, space_columns)],
            )
            if topics:
                self._executemany(
                    self._upsert_sql("topics", TOPIC_COLUMNS, ("id",)),
                    (self._encode_row("topics", t, TOPIC_COLUMNS) for t in topics),
                )
            if drop_members:
                self._executemany(
                    f"DELETE FROM topic_members WHERE space = {p} AND topic_id = {p} "
                    f"AND chat_id = {p} AND message_id = {p}",
                    list(drop_members),
                )
            if add_members:
                self._executemany(
                    self._upsert_sql(
                        "topic_members",
                        MEMBER_COLUMNS,
                        ("space", "topic_id", "chat_id", "message_id"),
                    ),
                    (self._encode_row("topic_members", m, MEMBER_COLUMNS) for m in add_members),
                )

    def update_topic_card(self, topic_id: str, fields: Row) -> None:
        """Set text fields of a topic's card (an LLM wrote them); `updated_at` moves."""
        from tgparser.storage.base import utcnow

        fields = {**fields, "updated_at": utcnow()}
        p = self.placeholder
        columns = list(fields)
        values = self._encode_row("topics", fields, columns)
        self._execute(
            f"UPDATE topics SET {', '.join(f'{c} = {p}' for c in columns)} WHERE id = {p}",
            [*values, topic_id],
        )

    # -- known topics ---------------------------------------------------------------------------

    def add_known_topic(self, row: Row) -> Row:
        """Insert a known topic with the next free id ('k1', 'k2', …) and its topic card."""
        with self.transaction():
            numbers = [
                int(r[0][1:])
                for r in self._query("SELECT id FROM known_topics")
                if r[0][1:].isdigit()
            ]
            row = {**row, "id": f"k{max(numbers, default=0) + 1}"}
            self._insert_rows("known_topics", KNOWN_COLUMNS, [row])
        return row

    def list_known_topics(self, *, active_only: bool = False) -> list[Row]:
        where = "WHERE status = 'active'" if active_only else ""
        return self._select("known_topics", where, (), "ORDER BY created_at, id")

    def get_known_topic(self, known_id: str) -> Row | None:
        rows = self._select("known_topics", f"WHERE id = {self.placeholder}", (known_id,))
        return rows[0] if rows else None

    def set_topic_status(self, topic_id: str, status: str, updated_at: Any) -> bool:
        """Set a topic's status (and its known topic's, for 'k…' ids); False when unknown."""
        p = self.placeholder
        stamp = self._encode("timestamp", updated_at)
        with self.transaction():
            changed = self._execute(
                f"UPDATE topics SET status = {p}, updated_at = {p} WHERE id = {p}",
                (status, stamp, topic_id),
            )
            changed += self._execute(
                f"UPDATE known_topics SET status = {p}, updated_at = {p} WHERE id = {p}",
                (status, stamp, topic_id),
            )
        return changed > 0
