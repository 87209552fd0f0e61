"""The builtin processor's pieces: cleaning, language, ads, noise, keywords and summary."""

from __future__ import annotations

import pytest

from tgparser.process.ads import ad_reasons, valid_inn
from tgparser.process.builtin import builtin_fields, text_hash
from tgparser.process.clean import clean_message
from tgparser.process.keywords import SUMMARY_CHARS, keywords, summary
from tgparser.process.language import detect_language
from tgparser.process.noise import noise_reason


def _ads(text: str, entities: list | None = None) -> list[str]:
    cleaned = clean_message(text, entities)
    return ad_reasons(cleaned.text, cleaned.urls, cleaned.hashtags)


# -- cleaning -----------------------------------------------------------------------------------


def test_clean_keeps_entity_links_and_normalises_whitespace() -> None:
    text = (
        "🔥 Читайте   подробнее\u200b здесь\r\n\n\n\n#PostgreSQL @durov https://example.com/a?b=1."
    )
    # "здесь" is a text link; offsets count UTF-16 units, and 🔥 takes two.
    entities = [
        {"type": "bold", "offset": 3, "length": 7},
        {"type": "text_url", "offset": 24, "length": 5, "url": "https://x.org/p"},
    ]
    cleaned = clean_message(text, entities)
    assert cleaned.text == (
        "🔥 Читайте подробнее здесь (https://x.org/p)\n\n#PostgreSQL @durov https://example.com/a?b=1."
    )
    assert cleaned.urls == [
        {"url": "https://x.org/p", "domain": "x.org"},
        {"url": "https://example.com/a?b=1", "domain": "example.com"},
    ]
    assert cleaned.hashtags == ["#PostgreSQL"]
    assert cleaned.mentions == ["@durov"]


def test_clean_adds_nothing_to_a_plain_text() -> None:
    assert clean_message("Просто текст.", None).text == "Просто текст."
    assert clean_message("", None).text == ""
    # A link whose text is its address is not repeated.
    shown = clean_message(
        "https://t.me/x", [{"type": "text_url", "offset": 0, "length": 14, "url": "https://t.me/x"}]
    )
    assert shown.text == "https://t.me/x"
    assert clean_message("www.Example.org/page", None).urls == [
        {"url": "https://www.Example.org/page", "domain": "example.org"}
    ]


# -- language -----------------------------------------------------------------------------------

LANGUAGE_SAMPLES = {
    "ru": [
        "Спасибо",
        "Вышла новая версия PostgreSQL 17",
        "Сегодня мы расскажем, как ускорить запросы к базе данных. Это важно для всех, кто "
        "работает с большими таблицами и хочет, чтобы отчёты строились быстрее.",
    ],
    "uk": [
        "Дякую",
        "Вийшла нова версія PostgreSQL 17",
        "Сьогодні ми розповімо, як пришвидшити запити до бази даних. Це важливо для всіх, хто "
        "працює з великими таблицями і хоче, щоб звіти будувалися швидше.",
    ],
    "en": [
        "Thank you",
        "PostgreSQL 17 is out with a faster vacuum",
        "Today we explain how to speed up database queries. This matters for everyone who "
        "works with large tables and wants reports to be built faster.",
    ],
    "de": [
        "Die neue Version ist da und sie ist schneller",
        "Heute erklären wir, wie man Datenbankabfragen beschleunigt. Das ist wichtig für alle, "
        "die mit großen Tabellen arbeiten.",
    ],
    "es": [
        "La nueva versión ya está aquí",
        "Hoy explicamos cómo acelerar las consultas a la base de datos. Esto es importante "
        "para todos los que trabajan con tablas grandes.",
    ],
    "it": [
        "La nuova versione è più veloce",
        "Oggi spieghiamo come velocizzare le query al database. Questo è importante per chi "
        "lavora con tabelle grandi e vuole report più rapidi.",
    ],
    "tr": [
        "Yeni sürüm çıktı ve çok daha hızlı",
        "Bugün veritabanı sorgularını nasıl hızlandıracağımızı anlatıyoruz. Bu, büyük "
        "tablolarla çalışan herkes için önemli.",
    ],
    "fa": [
        "نسخه جدید منتشر شد",
        "امروز توضیح می‌دهیم که چگونه پرس‌وجوهای پایگاه داده را سریع‌تر کنیم. این برای همه "
        "کسانی که با جدول‌های بزرگ کار می‌کنند مهم است.",
    ],
    "ar": [
        "صدر الإصدار الجديد",
        "اليوم نشرح كيف نسرع الاستعلامات في قاعدة البيانات. هذا مهم لكل من يعمل مع الجداول "
        "الكبيرة ويريد تقارير أسرع.",
    ],
}


@pytest.mark.parametrize(
    ("language", "text"),
    [(lang, text) for lang, texts in LANGUAGE_SAMPLES.items() for text in texts],
)
def test_language_of_short_and_long_texts(language: str, text: str) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize("text", ["", "+1", "ok", "👍👍", "12345", "https://example.com/x"])
def test_language_undetermined_when_too_short(text: str) -> None:
    assert detect_language(text) == "und"


def test_ukrainian_and_russian_told_apart_with_english_terms_mixed_in() -> None:
    assert detect_language("Налаштування Kubernetes ingress для production кластера") == "uk"
    assert detect_language("Настройка Kubernetes ingress для production кластера") == "ru"
    assert detect_language("Що нового в Python 3.13? Free-threaded build і JIT") == "uk"
    assert detect_language("Что нового в Python 3.13? Free-threaded build и JIT") == "ru"


# -- advertising ----------------------------------------------------------------------------------


def test_erid_in_the_text_is_an_ad() -> None:
    post = (
        "Курс «Аналитик данных» со скидкой 40% до конца недели!\n"
        "Записывайтесь: https://school.example/da\n\n"
        "Реклама. ООО «Школа Данных», ИНН 7707083893, erid: 2VtzqwHxk9A"
    )
    reasons = _ads(post)
    assert "erid token 2VtzqwHxk9A in the text" in reasons
    assert "advertiser ИНН 7707083893 (valid checksum)" in reasons
    assert any(r.startswith("ad label «Реклама. ООО «Школа Данных»") for r in reasons)


def test_erid_in_a_link_query_is_an_ad() -> None:
    post = "Новый смартфон уже в продаже — подробнее"
    link = {
        "type": "text_url",
        "offset": 33,
        "length": 9,
        "url": "https://shop.example/phone?erid=LjN8KXfgA&utm_source=telegram",
    }
    assert _ads(post, [link]) == [
        "erid=LjN8KXfgA in the link https://shop.example/phone?erid=LjN8KXfgA&utm_source=telegram"
    ]


def test_a_standalone_reklama_line_is_an_ad() -> None:
    assert _ads("Лучший VPN для работы — попробуйте бесплатно.\n\n#реклама") == ["hashtag #реклама"]
    assert _ads("Реклама\nЛучший VPN для работы, попробуйте бесплатно.") == [
        "ad marker line «Реклама»"
    ]
    assert _ads("Материал опубликован на правах рекламы.") == ["«на правах рекламы»"]
    assert _ads("Скидка 20% по промокоду DATA20 на все тарифы") == ["promo code DATA20"]


@pytest.mark.parametrize(
    "text",
    [
        "Рекламный рынок вырос на 20% в 2024 году, сообщает АКАР.",
        "Реклама в Telegram дорожает: разбираем, почему CPM вырос вдвое.",
        "Реклама: как её продавать и не потерять аудиторию — лекция в четверг",
        "Закон о маркировке: erid — это идентификатор, который выдаёт ОРД.",
        "erid tokens are required for paid posts in Russia since 2022",
        "ИНН 7707083894 — пример неверного номера",
        "The advertising market grew by 20% last year.",
        "Пригласите друга по ссылке https://example.com/?ref=abc — это всё.",
    ],
)
def test_prose_about_advertising_is_not_an_ad(text: str) -> None:
    assert _ads(text) == []


def test_two_referral_links_are_an_ad_one_is_not() -> None:
    one = "Бот: https://t.me/somebot?start=ref_12345"
    two = one + " и сервис https://service.example/ref/abc"
    assert _ads(one) == []
    assert _ads(two) == [
        "referral link https://t.me/somebot?start=ref_12345",
        "referral link https://service.example/ref/abc",
    ]


def test_inn_checksums() -> None:
    assert valid_inn("7707083893")  # a legal entity
    assert valid_inn("500100732259")  # an individual
    assert not valid_inn("7707083894")
    assert not valid_inn("500100732258")
    assert not valid_inn("123")


# -- noise --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "action", "media", "reason"),
    [
        ("", "service", "MessageActionPinMessage", None, "service (MessageActionPinMessage)"),
        ("", "post", None, None, "empty"),
        ("", "post", None, "photo", "empty (photo)"),
        ("", "comment", None, "sticker", "sticker"),
        ("👍🔥🔥", "comment", None, None, "emoji only"),
        ("+1", "comment", None, None, "too short"),
        ("спасибо!", "comment", None, None, "too short"),
        ("ok", "message", None, None, "too short"),
        ("Вышел PostgreSQL 17", "post", None, None, None),
        ("а где почитать?", "comment", None, None, None),
    ],
)
def test_noise(text: str, kind: str, action: str | None, media: str | None, reason: str | None):
    cleaned = clean_message(text, None)
    assert (
        noise_reason(cleaned.text, kind=kind, action=action, media_kind=media, has_urls=False)
        == reason
    )


def test_a_short_link_is_content_not_noise() -> None:
    assert noise_reason("x.com/a", kind="post", action=None, media_kind=None, has_urls=True) is None


# -- keywords, summary, duplicates ----------------------------------------------------------------


def test_keywords_skip_stop_words_group_forms_and_keep_product_names() -> None:
    text = (
        "Вышла новая версия PostgreSQL 17. В ней ускорили VACUUM и репликацию базы данных. "
        "Базы данных теперь работают быстрее, а индексы меньше."
    )
    found = keywords(text, "ru")
    assert set(found[:3]) == {"PostgreSQL", "базы", "данных"}
    assert "VACUUM" in found
    assert not {"в", "и", "а", "ней", "теперь"} & set(found)
    assert keywords("This is the one and only", "en") == []
    assert keywords("Ось це нова версія, яка працює швидше", "uk") == [
        "нова",
        "версія",
        "працює",
        "швидше",
    ] or "це" not in keywords("Ось це нова версія, яка працює швидше", "uk")


def test_summary_is_the_lead_cut_at_a_sentence() -> None:
    short = "Одна фраза. Вторая фраза."
    assert summary(short) == short
    long = "Первое предложение о главном. " + "Второе предложение подробнее. " * 20
    cut = summary(long)
    assert len(cut) <= SUMMARY_CHARS
    assert cut.startswith("Первое предложение о главном. Второе")
    assert cut.endswith(".")
    word_wall = "слово " * 100
    assert summary(word_wall).endswith("…") and len(summary(word_wall)) <= SUMMARY_CHARS


def test_text_hash_ignores_case_spacing_and_punctuation_but_not_words() -> None:
    base = text_hash("Новая версия PostgreSQL вышла сегодня!")
    assert base == text_hash("новая   версия postgresql — вышла сегодня")
    assert base != text_hash("Новая версия MySQL вышла сегодня!")
    assert text_hash("+1") == ""


def test_builtin_fields_of_a_message() -> None:
    message = {
        "chat_id": -100,
        "message_id": 7,
        "kind": "post",
        "text": "Реклама\nКупите курс по Python со скидкой! https://school.example/?erid=Kra23fzH2",
        "entities": None,
        "action": None,
        "media_kind": None,
        "content_hash": "h",
    }
    fields = builtin_fields(message)
    assert fields["is_ad"] is True and len(fields["ad_reasons"]) == 2
    assert fields["language"] == "ru"
    assert fields["urls"][0]["domain"] == "school.example"
    assert fields["summary"].startswith("Реклама")
    assert fields["entities"] is None
    assert fields["is_noise"] is False and fields["text_hash"]
