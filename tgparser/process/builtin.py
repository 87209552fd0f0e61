"""The builtin processor: offline, deterministic, fast. Every document field but entities."""

from __future__ import annotations

import hashlib
import json
import operator
from collections import Counter
from collections.abc import Mapping
from typing import Any

from tgparser.process.ads import ad_reasons
from tgparser.process.clean import clean_message
from tgparser.process.keywords import keywords_of_words, summary
from tgparser.process.language import _NOT_TEXT, language_of_words, words_of
from tgparser.process.noise import noise_reason
from tgparser.storage.documents import PROCESS_MESSAGE_COLUMNS, ProcessorIdentity, document_values

# Bump when any builtin field would come out differently: every document is then redone.
VERSION = "1"
IDENTITY = ProcessorIdentity("builtin", VERSION)
DUPLICATE_MIN_CHARS = 20  # shorter texts ("+1", "спасибо") repeat without being copies


def text_hash(text_clean: str) -> str:
    """The hash of a text as duplicates compare it: case, punctuation and spacing ignored;
    empty for texts too short to call a copy."""
    return _hash(words_of(text_clean.lower()))


def _hash(words: list[str]) -> str:
    normal = " ".join(words)
    if len(normal) < DUPLICATE_MIN_CHARS:
        return ""
    return hashlib.blake2b(normal.encode(), digest_size=16).hexdigest()


def builtin_fields(message: dict[str, Any]) -> dict[str, Any]:
    """The builtin document fields of a stored message (duplicates are found by the run,
    which sees other messages)."""
    cleaned = clean_message(message.get("text") or "", message.get("entities"))
    text = cleaned.text
    # One pass over the words serves language, keywords and the duplicate hash.
    text_lower = text.lower()
    words = words_of(text_lower)
    plain, lower, tokens = text, text_lower, words
    if "://" in text or "www." in text or "@" in text or "#" in text:
        plain = _NOT_TEXT.sub(" ", text)  # links, mentions, hashtags: no language, no topic
        lower = plain.lower()
        tokens = words_of(lower)
    counts = Counter(tokens)
    language = language_of_words(counts, lower)
    reasons = ad_reasons(text, cleaned.urls, cleaned.hashtags, text_lower)
    noise = noise_reason(
        text,
        kind=message["kind"],
        action=message.get("action"),
        media_kind=message.get("media_kind"),
        has_urls=bool(cleaned.urls),
    )
    return {
        "chat_id": message["chat_id"],
        "message_id": message["message_id"],
        "content_hash": message["content_hash"],
        "text_clean": text,
        "text_hash": "" if noise else _hash(words),
        "language": language,
        "urls": cleaned.urls,
        "hashtags": cleaned.hashtags,
        "mentions": cleaned.mentions,
        "is_ad": bool(reasons),
        "ad_reasons": reasons,
        "is_noise": noise is not None,
        "noise_reason": noise,
        "duplicate_of_chat_id": None,
        "duplicate_of_message_id": None,
        "keywords": keywords_of_words(tokens, counts, plain, lower, language)
        if noise is None
        else [],
        "summary": summary(text) if noise is None else "",
        "entities": None,
    }


def builtin_document(message: dict[str, Any]) -> dict[str, Any]:
    return {
        **builtin_fields(message),
        "processor": IDENTITY.processor,
        "processor_version": IDENTITY.version,
        "model": "",
        "prompt_id": "",
        "tokens_in": 0,
        "tokens_out": 0,
        "cost": 0.0,
    }


def builtin_documents(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documents of a page of messages."""
    return [builtin_document(m) for m in messages]


# What the builtin processor reads of a message.
INPUT_FIELDS = ("chat_id", "message_id", "content_hash", "text", "entities", "kind", "action")
INPUT_FIELDS += ("media_kind",)
_READ = operator.itemgetter(*(PROCESS_MESSAGE_COLUMNS.index(c) for c in INPUT_FIELDS))
_ENTITIES = INPUT_FIELDS.index("entities")


def builtin_values(rows: list[tuple[Any, ...]], encoders: Mapping[str, Any]) -> list[list[Any]]:
    """The documents of a page of `pending_message_values` rows (messages as stored) in
    their stored form (`document_values` with a backend's `encoders`), `processed_at` left
    for the writer: what a worker process runs, so the main process only writes."""
    documents = []
    for row in rows:
        values = list(_READ(row))
        entities = values[_ENTITIES]
        if isinstance(entities, str):  # JSON text (SQLite); PostgreSQL's driver decodes it
            values[_ENTITIES] = json.loads(entities)
        documents.append(builtin_document(dict(zip(INPUT_FIELDS, values, strict=True))))
    return document_values(documents, encoders)
