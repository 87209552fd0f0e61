"""Running the real CLI against the fake Telegram, on either storage backend."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from click.testing import CliRunner, Result
from telethon.crypto import AuthKey
from telethon.sessions import StringSession

from tests.faketg import FakeTelegram
from tgparser.cli import main
from tgparser.storage import Storage, open_storage

API_ENV = {"TGPARSER_API_ID": "12345", "TGPARSER_API_HASH": "0123456789abcdef0123456789abcdef"}


def session_string() -> str:
    """A logged-in-looking Telethon string session (the fake accepts any auth key)."""
    session = StringSession()
    session.set_dc(2, "149.154.167.51", 443)
    session.auth_key = AuthKey(os.urandom(256))
    return session.save()


class Harness:
    """`tg.run(...)` invokes `tgparser --db <url> …` with API credentials and a session."""

    def __init__(self, fake: FakeTelegram, db_url: str, *, logged_in: bool = True) -> None:
        self.fake = fake
        self.db_url = db_url
        self.env = dict(API_ENV)
        if logged_in:
            self.env["TGPARSER_SESSION"] = session_string()

    def run(self, *args: str, expect: int | None = 0, input: str | None = None) -> Result:
        result = CliRunner().invoke(main, ["--db", self.db_url, *args], env=self.env, input=input)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        if expect is not None:
            assert result.exit_code == expect, (result.exit_code, result.stdout, result.stderr)
        return result

    def ingest(self, *args: str, expect: int | None = 0) -> dict[str, Any]:
        """Run `ingest --json` and return the per-source summaries by label."""
        result = self.run("ingest", "--json", *args, expect=expect)
        summary = json.loads(result.stdout)
        assert summary["exit_code"] == result.exit_code
        return {s["label"]: s for s in summary["sources"]}

    @contextmanager
    def storage(self) -> Iterator[Storage]:
        store = open_storage(self.db_url)
        try:
            yield store
        finally:
            store.close()

    def ids(self, chat_id: int, kind: str | None = None) -> list[int]:
        with self.storage() as store:
            return store.message_ids(chat_id, kind=kind)

    def source(self, chat_id: int) -> dict[str, Any]:
        with self.storage() as store:
            found = store.get_source(chat_id)
        assert found is not None
        return found


def recent_world(days_ago: float = 5, tick: timedelta = timedelta(minutes=1)) -> FakeTelegram:
    """A fake whose clock starts `days_ago` days back: posts fall outside the default 3-day
    refresh window unless a test dates them later."""
    return FakeTelegram(start=datetime.now(UTC) - timedelta(days=days_ago), tick=tick)
