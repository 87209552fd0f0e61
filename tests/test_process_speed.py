"""The fast paths of the builtin processor give exactly what the plain code gives: the
tokenizer's single-byte fast paths against the regex they replace."""

from __future__ import annotations

import random

from tgparser.process.language import _TOKEN, words_of


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
