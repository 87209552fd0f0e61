"""Parsing chat references: every form a user may paste, and clear refusals."""

from __future__ import annotations

import pytest

from tgparser.telegram.refs import BadReference, ChatRef, parse_ref


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@ExpertNews", ChatRef("@ExpertNews", username="expertnews")),
        ("expert_news", ChatRef("expert_news", username="expert_news")),
        ("https://t.me/expertnews", ChatRef("https://t.me/expertnews", username="expertnews")),
        ("t.me/expertnews/123", ChatRef("t.me/expertnews/123", username="expertnews", post_id=123)),
        ("https://t.me/s/expertnews", ChatRef("https://t.me/s/expertnews", username="expertnews")),
        ("telegram.me/expertnews", ChatRef("telegram.me/expertnews", username="expertnews")),
        (
            "https://www.t.me/expertnews",
            ChatRef("https://www.t.me/expertnews", username="expertnews"),
        ),
        (
            "https://t.me/expertforum/42/1007",
            ChatRef("https://t.me/expertforum/42/1007", username="expertforum", post_id=1007),
        ),
        (
            "https://t.me/c/1234567890/55",
            ChatRef("https://t.me/c/1234567890/55", chat_id=-1001234567890, post_id=55),
        ),
        ("t.me/c/1234567890", ChatRef("t.me/c/1234567890", chat_id=-1001234567890)),
        ("-1001234567890", ChatRef("-1001234567890", chat_id=-1001234567890)),
        ("1234567890", ChatRef("1234567890", chat_id=-1001234567890)),
        ("-4567", ChatRef("-4567", chat_id=-4567)),
        (
            "tg://resolve?domain=expertnews&post=9",
            ChatRef("tg://resolve?domain=expertnews&post=9", username="expertnews", post_id=9),
        ),
        ("  @expertnews  ", ChatRef("@expertnews", username="expertnews")),
    ],
)
def test_accepted_forms(text: str, expected: ChatRef) -> None:
    assert parse_ref(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("@a", "not a valid Telegram username"),
        ("@has space", "not a valid Telegram username"),
        ("https://t.me/+AbCdEfGh", "invite link"),
        ("https://t.me/joinchat/AbCdEf", "invite link"),
        ("https://t.me/c/notanumber/5", "t.me/c/<channel id>"),
        ("https://example.org/expertnews", "is not a chat reference"),
        ("0", "is not a chat id"),
        ("tg://user?id=5", "only tg://resolve"),
        ("https://t.me/", "a link to no chat"),
    ],
)
def test_refused_forms(text: str, reason: str) -> None:
    with pytest.raises(BadReference) as info:
        parse_ref(text)
    assert reason in str(info.value)
    assert "\n" not in str(info.value)


def test_label() -> None:
    assert parse_ref("t.me/expertnews").label == "@expertnews"
    assert (
        parse_ref("t.me/c/77/1").label == "-1000000000077"
    )  # -(10**12 + 77), as Telethon marks it
