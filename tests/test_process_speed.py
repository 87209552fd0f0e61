"""The fast paths of the builtin processor give exactly what the plain code gives: the
tokenizer's single-byte fast paths against the regex they replace, the summary and whitespace
shortcuts against the plain code, documents made in worker processes and handed back in their
stored form against the serial path."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime

from tgparser.process.language import _TOKEN, words_of
from tgparser.storage.documents import PROCESS_MESSAGE_COLUMNS


def _samples() -> list[str]:
    cp1251 = bytes(b for b in range(256) if b != 0x98).decode("cp1251")
    rng = random.Random(7)
    tricky = "²³¹¼½¾ªºµ_ßñÀÿ ёЁїЇґҐєЄўЎ№«»—…\u00ad\u200b\t\n🙂👍🏽 𝐀𝐁 中文 ١٢٣ ﬁ Ⅻ"
    out = [
        "",
        "_",
        "a_b snake_case __init__ x2 2x 3d",
        "Hello, World! PostgreSQL 16.2 — fast_path; e-mail: a@b.c",
        "Привет, мир! База_данных «кластер» №5 — 100500 ёжиков",
        "Привіт, світ! Їжак ґанок є",
        "emoji 🙂 between words, дом🏠дом",
        "naïve café über straße",
        cp1251,
        cp1251.lower(),
        tricky,
    ]
    alphabets = [cp1251, tricky, "abc_ 12", "abcабв _-.,"]
    for alphabet in alphabets:
        for _ in range(200):
            out.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))))
    return out


def test_words_of_splits_every_text_as_the_regex_does() -> None:
    samples = _samples()
    assert any(s.isascii() for s in samples) and any(not s.isascii() for s in samples)
    for text in samples:
        assert words_of(text) == _TOKEN.findall(text), text


# -- worker processes (--jobs) ----------------------------------------------------------------

OTHER_ID = -1009000000002
TEXTS = [
    "Вышла новая версия PostgreSQL 17: ускорили VACUUM и репликацию. Подробнее: https://t.me/x/1",
    "Release notes: Kafka 3.7 brings KRaft by default, see www.example.com/kafka "
    "#kafka @apache_kafka",
    "Курс по аналитике со скидкой!\n\nРеклама. ООО «Школа», ИНН 7707083893, erid: 2VtzqwHxk9A",
    "+1",
    "🙂🙂",
    "Привіт! Це тест українською мовою, що має бути розпізнана 👍",
    "snake_case and __dunder__ names, 2x faster, ³√ and ½ of it",
    "Короткий пост о базах данных, индексах и запросах — без ссылок и тегов вообще",
]


def _archive(db_url: str) -> list[tuple[int, int]]:
    from tests.factories import make_message, make_source
    from tgparser.storage import open_storage

    messages = []
    for i in range(1, 241):
        chat = CHANNEL if i % 3 else OTHER_ID
        text = f"{TEXTS[i % len(TEXTS)]} {i % 7 if i % 5 else ''}".strip()  # many duplicates
        fields: dict = {"text": text}
        if i % 17 == 0:
            fields.update(fwd_from_id=CHANNEL, fwd_from_message_id=1)
        if i % 19 == 0:
            fields["entities"] = [
                {"type": "text_url", "offset": 0, "length": 5, "url": f"https://ex.am/{i}"}
            ]
        messages.append(make_message(i, chat, **fields))
    with open_storage(db_url) as store:
        store.ensure_schema()
        store.upsert_source(make_source(CHANNEL))
        store.upsert_source(make_source(OTHER_ID, username="other"))
        store.upsert_messages(messages)
    return [(m["chat_id"], m["message_id"]) for m in messages]


CHANNEL = -1001234567890


def _processed(db_url: str, jobs: int) -> dict:
    from tgparser.process.run import BuiltinProcessor, ProcessOptions, run_process, select_chats
    from tgparser.storage import open_storage

    keys = _archive(db_url)
    with open_storage(db_url) as store:
        options = ProcessOptions(jobs=jobs, page_size=20)
        summary = run_process(store, BuiltinProcessor(), select_chats(store, ()), options)
        assert summary.processed == len(keys) and summary.failed == 0
        docs = {}
        for key in keys:
            doc = store.get_document(*key)
            assert doc is not None
            del doc["processed_at"]
            docs[key] = doc
    return docs


def test_documents_made_by_worker_processes_are_the_serial_ones(
    db_url: str, tmp_path, monkeypatch
) -> None:
    from tgparser.process import parallel

    serial = _processed(f"sqlite:///{tmp_path}/serial.db", jobs=1)
    started = []
    start_pool = parallel._start_pool

    def counted(jobs: int):
        started.append(jobs)
        return start_pool(jobs)

    monkeypatch.setattr(parallel, "_start_pool", counted)
    monkeypatch.setattr(parallel, "PARALLEL_FROM", 40)  # two pages of 20, then the workers
    assert _processed(db_url, jobs=2) == serial
    assert started == [2]  # the workers did make documents
    assert sum(1 for d in serial.values() if d["duplicate_of_message_id"] is not None) > 50
    assert any(d["is_ad"] for d in serial.values()) and any(d["is_noise"] for d in serial.values())


def test_a_small_run_starts_no_worker_process(sqlite_url: str, monkeypatch) -> None:
    from tgparser.process import parallel

    def refused(jobs: int):
        raise AssertionError("a run under PARALLEL_FROM messages started workers")

    monkeypatch.setattr(parallel, "_start_pool", refused)
    assert parallel.PARALLEL_FROM > 240
    assert len(_processed(sqlite_url, jobs=4)) == 240


def test_jobs_option(sqlite_url: str) -> None:
    from click.testing import CliRunner

    from tgparser.cli import main

    _archive(sqlite_url)

    def run(*args: str):
        return CliRunner().invoke(main, ["--db", sqlite_url, "process", *args])

    bad = run("--jobs", "0")
    assert bad.exit_code == 2 and "--jobs" in bad.output
    llm = run("--processor", "llm", "--jobs", "2")
    assert llm.exit_code == 2 and "--jobs is for --processor builtin" in llm.output
    done = run("--jobs", "2", "--json")
    assert done.exit_code == 0, done.output
    assert '"processed": 240' in done.stdout


# -- the stored form a page function hands back (what the main process only writes) -------


def test_page_values_store_what_upsert_documents_stores(db_url: str, tmp_path) -> None:
    """builtin_values over undecoded pending rows, written by write_document_values, gives
    the documents upsert_documents gives for the decoded messages, on both backends."""
    from tgparser.process.builtin import IDENTITY, builtin_documents, builtin_values
    from tgparser.storage import open_storage
    from tgparser.storage.documents import DOCUMENT_INDEX

    keys = _archive(db_url)
    with open_storage(db_url) as store:
        rows = store.pending_message_values(CHANNEL, IDENTITY, limit=1000)
        messages = store.pending_messages(CHANNEL, IDENTITY, limit=1000)
        assert len(rows) == len(messages) > 100
        assert any(r[PROCESS_MESSAGE_COLUMNS.index("entities")] for r in rows)
        values = builtin_values(rows, store.encoders)
        assert all(v[DOCUMENT_INDEX["processed_at"]] is None for v in values)
        stamp = store._encode_timestamp(datetime(2026, 1, 1, tzinfo=UTC))
        for v in values:
            v[DOCUMENT_INDEX["processed_at"]] = stamp
        assert store.write_document_values(values) == len(values)
        fast = {k: store.get_document(*k) for k in keys if k[0] == CHANNEL}
        store.upsert_documents(builtin_documents(messages))
        plain = {k: store.get_document(*k) for k in fast}
    assert fast.keys() == plain.keys()
    for key, document in fast.items():
        assert document["processed_at"] == datetime(2026, 1, 1, tzinfo=UTC)
        del document["processed_at"], plain[key]["processed_at"]
        assert document == plain[key], key
    assert any(d["urls"] for d in fast.values()) and any(d["is_ad"] for d in fast.values())


def test_pending_message_values_page_by_stored_keys(db_url: str) -> None:
    """Keyset paging on the stored (undecoded) updated_at walks every pending message once,
    in the order pending_messages gives."""
    from tgparser.process.builtin import IDENTITY
    from tgparser.storage import open_storage

    _archive(db_url)
    updated, message = (PROCESS_MESSAGE_COLUMNS.index(c) for c in ("updated_at", "message_id"))
    with open_storage(db_url) as store:
        seen, after = [], None
        while page := store.pending_message_values(CHANNEL, IDENTITY, after=after, limit=7):
            seen += [r[message] for r in page]
            after = (page[-1][updated], page[-1][message])
        expected = [m["message_id"] for m in store.pending_messages(CHANNEL, IDENTITY, limit=1000)]
    assert seen == expected and len(set(seen)) == len(seen) == 160


class _InlinePool:
    """An executor that runs what it is given at once and records the sizes it was sent."""

    def __init__(self) -> None:
        self.parts: list[int] = []

    def submit(self, fn, part):
        from concurrent.futures import Future

        self.parts.append(len(part))
        future: Future = Future()
        future.set_result(fn(part))
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


def test_each_page_goes_to_the_workers_in_one_part_per_worker(monkeypatch) -> None:
    from tgparser.process import parallel

    pool = _InlinePool()
    monkeypatch.setattr(parallel, "_start_pool", lambda jobs: pool)
    pages = [list(range(start, start + size)) for start, size in ((0, 7), (7, 2), (9, 1))]
    workers = parallel.Workers(3, start_from=0)
    out = list(workers.documents(iter(pages), lambda part: [x * 10 for x in part]))
    workers.close()
    assert out == [(page, [x * 10 for x in page]) for page in pages]  # in order, whole pages
    assert pool.parts == [3, 3, 1, 1, 1, 1]


# -- fast paths of the text functions against the plain code they replace --------------------


def _summary_plain(text: str, limit: int = 280) -> str:
    """keywords.summary as written before its fast path: the pattern always runs."""
    from tgparser.process.keywords import _SENTENCE_END

    if len(text) <= limit and "\n" not in text:
        return text
    window, out, position = text[: limit + 2], "", 0
    for end in _SENTENCE_END.finditer(window):
        sentence = window[position : end.start()].strip()
        position = end.end()
        if not sentence:
            continue
        candidate = f"{out} {sentence}" if out else sentence
        if len(candidate) > limit:
            break
        out = candidate
    else:
        rest = window[position:].strip()
        candidate = f"{out} {rest}".strip() if out else rest
        if len(text) <= len(window) and len(candidate) <= limit:
            out = candidate
    if out:
        return out
    return f"{window[: limit - 1].rsplit(' ', 1)[0].rstrip(' ,;:—-')}…"


def test_summary_and_whitespace_fast_paths_give_the_plain_results() -> None:
    from tgparser.process.clean import _INVISIBLE, normalise_whitespace
    from tgparser.process.keywords import summary

    rng = random.Random(11)
    words = ["база", "данных", "PostgreSQL", "x", "", "\u00ad", "\u200b", "\u2069", "\t", "  "]
    marks = [" ", " ", " ", ". ", "! ", "? ", "… ", "\n", "\r\n", "\n\n\n", "» ", ".» "]
    texts = _samples()
    for _ in range(600):
        n = rng.randint(0, 120)
        texts.append("".join(rng.choice(words) + rng.choice(marks) for _ in range(n)))
    with_ends = 0
    for text in texts:
        assert summary(text) == _summary_plain(text), text
        with_ends += any(c in text[:282] for c in ".!?…\n")
        plain = _INVISIBLE.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
        plain = "\n".join(" ".join(line.split()) for line in plain.split("\n"))
        plain = re.sub(r"\n{3,}", "\n\n", plain).strip()
        assert normalise_whitespace(text) == plain, text
    assert 100 < with_ends < len(texts) - 100  # both paths were taken
