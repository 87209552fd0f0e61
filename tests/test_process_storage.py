"""Document storage (tgparser/storage/documents.py) on both backends."""

from __future__ import annotations

from datetime import timedelta

from tests.factories import CHANNEL_ID, make_message, make_source
from tgparser.storage import Storage
from tgparser.storage.base import MessageFilter, utcnow
from tgparser.storage.documents import ProcessorIdentity, new_owner

BUILTIN = ProcessorIdentity("builtin", "1")


def _doc(message: dict, **fields) -> dict:
    return {
        "chat_id": message["chat_id"],
        "message_id": message["message_id"],
        "processor": "builtin",
        "processor_version": "1",
        "content_hash": message["content_hash"],
        **fields,
    }


def test_documents_round_trip_and_pending_follows_content_and_identity(storage: Storage) -> None:
    storage.upsert_source(make_source())
    storage.upsert_messages([make_message(i) for i in range(1, 6)])
    assert storage.archive_chat_ids() == [CHANNEL_ID]
    first = storage.pending_messages(CHANNEL_ID, BUILTIN, limit=3)
    assert [r["message_id"] for r in first] == [1, 2, 3]
    last = first[-1]
    rest = storage.pending_messages(CHANNEL_ID, BUILTIN, after=(last["updated_at"], 3))
    assert [r["message_id"] for r in rest] == [4, 5]

    urls = [{"url": "https://a.example/x", "domain": "a.example"}]
    storage.upsert_documents([_doc(first[0], urls=urls, is_ad=True, ad_reasons=["erid"], cost=0.5)])
    doc = storage.get_document(CHANNEL_ID, 1)
    assert doc["urls"] == urls and doc["is_ad"] is True and doc["cost"] == 0.5
    assert doc["model"] == "" and doc["keywords"] == [] and doc["entities"] is None
    assert doc["processed_at"].tzinfo is not None
    assert [r["message_id"] for r in storage.pending_messages(CHANNEL_ID, BUILTIN)] == [2, 3, 4, 5]
    # Another version of the processor: nothing of it exists yet.
    assert len(storage.pending_messages(CHANNEL_ID, ProcessorIdentity("builtin", "2"))) == 5
    # An edit makes the message pending again.
    storage.upsert_messages([make_message(1, text="edited", content_hash="new")])
    assert 1 in [r["message_id"] for r in storage.pending_messages(CHANNEL_ID, BUILTIN)]
    # The current document: the builtin one, as no llm document exists.
    rows = list(storage.iter_current_documents(MessageFilter()))
    assert [(r["message_id"], r["processor"], r["kind"]) for r in rows] == [(1, "builtin", "post")]
    assert list(storage.iter_current_documents(MessageFilter(), no_ads=True)) == []
    stats = storage.document_stats()[CHANNEL_ID]
    assert stats == {"processed": 0, "pending": 5, "failed": 0, "ads": 1}


def test_llm_document_is_current_only_for_the_current_content(storage: Storage) -> None:
    message = make_message(1)
    storage.upsert_messages([message])
    storage.upsert_documents(
        [_doc(message, summary="builtin"), _doc(message, processor="llm", summary="llm")]
    )
    assert storage.current_document(CHANNEL_ID, 1)["summary"] == "llm"
    storage.upsert_messages([make_message(1, text="edited", content_hash="new")])
    assert storage.current_document(CHANNEL_ID, 1)["summary"] == "builtin"
    assert [r["summary"] for r in storage.iter_current_documents(MessageFilter())] == ["builtin"]


def test_failures_are_journaled_counted_and_skipped_until_retried(storage: Storage) -> None:
    message = make_message(2)
    storage.upsert_messages([message])
    failure = {**_doc(message), "error": "invalid reply"}
    storage.record_failures([failure])
    storage.record_failures([{**failure, "error": "timeout"}])
    [journaled] = storage.list_failures()
    assert (journaled["attempts"], journaled["error"]) == (2, "timeout")
    assert storage.pending_messages(CHANNEL_ID, BUILTIN) == []
    assert len(storage.pending_messages(CHANNEL_ID, BUILTIN, include_failed=True)) == 1
    assert [r["message_id"] for r in storage.failed_messages(BUILTIN)] == [2]
    storage.upsert_documents([_doc(message)])  # a success clears the journal entry
    assert storage.list_failures() == []


def test_llm_cache_and_duplicate_lookups(storage: Storage) -> None:
    row = {
        "model": "m",
        "prompt_id": "p",
        "input_hash": "h1",
        "response": {"summary": "s"},
        "tokens_in": 10,
        "tokens_out": 5,
        "cost": 0.25,
        "created_at": utcnow(),
    }
    storage.cache_responses([row])
    storage.cache_responses([{**row, "response": {"summary": "other"}}])  # first one kept
    found = storage.cached_responses("m", "p", ["h1", "h2"])
    assert list(found) == ["h1"] and found["h1"]["response"] == {"summary": "s"}
    assert storage.cached_responses("other-model", "p", ["h1"]) == {}

    original = make_message(7)
    forward = make_message(3, chat_id=-1009, fwd_from_id=CHANNEL_ID, fwd_from_message_id=7)
    storage.upsert_messages([original, forward])
    copies = storage.forward_copies([(CHANNEL_ID, 7)])
    assert [c[:2] for c in copies[(CHANNEL_ID, 7)]] == [(CHANNEL_ID, 7), (-1009, 3)]

    storage.upsert_documents([_doc(original, text_hash="t")])
    assert storage.documents_with_text_hashes(CHANNEL_ID, "builtin", ["t", "u"]) == [(7, "t", None)]
    storage.set_duplicate_of("builtin", [(CHANNEL_ID, 7, CHANNEL_ID, 1)])
    assert storage.get_document(CHANNEL_ID, 7)["duplicate_of_message_id"] == 1


def test_chat_claims_exclude_a_second_run_and_keep_the_scan_position(storage: Storage) -> None:
    ttl = timedelta(minutes=5)
    claim = storage.claim_chat(CHANNEL_ID, "builtin", new_owner(), ttl)
    assert claim is not None and claim.scanned_to is None
    assert storage.claim_chat(CHANNEL_ID, "builtin", new_owner(), ttl) is None
    assert storage.claim_chat(CHANNEL_ID, "llm", new_owner(), ttl) is not None  # its own
    assert storage.refresh_chat(claim, ttl)
    mark = utcnow()
    storage.release_chat(claim, identity=BUILTIN, scanned_to=mark)
    assert storage.chat_scan_position(CHANNEL_ID, BUILTIN) == mark
    assert storage.chat_scan_position(CHANNEL_ID, ProcessorIdentity("builtin", "2")) is None
    again = storage.claim_chat(CHANNEL_ID, "builtin", new_owner(), ttl)
    assert again is not None
    # An expired hold is taken over.
    storage.release_chat(again)
    expired = storage.claim_chat(CHANNEL_ID, "builtin", new_owner(), -ttl)
    assert expired is not None
    assert storage.claim_chat(CHANNEL_ID, "builtin", new_owner(), ttl) is not None
