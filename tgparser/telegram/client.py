"""Building a Telethon client from tgparser's settings, and keeping its session safe.

The session is a Telethon *string* session: kept in `<data dir>/session` (mode 0600) after
`tgparser login`, or supplied through TGPARSER_SESSION (or the `session` setting) so a cron box
or a container needs no file at all. Chats are addressed through the access hashes stored in
`sources`, so a string session never has to re-resolve usernames.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tgparser import __version__
from tgparser.config import Settings, data_dir
from tgparser.errors import ConfigError, TgparserError

if TYPE_CHECKING:
    from telethon import TelegramClient

DEFAULT_FLOOD_SLEEP = 300  # seconds Telethon may sleep through a FloodWait by itself


class NotLoggedIn(TgparserError):
    """No usable Telegram session."""


def session_file() -> Path:
    return data_dir() / "session"


def pending_login_file() -> Path:
    """Between `login --phone` and `login --code`: the phone code hash and the session."""
    return data_dir() / "login-pending.json"


def write_private(path: Path, text: str) -> None:
    """Write a secret file readable by its owner only, atomically (no moment at 0644)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to an existing file
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def stored_session(settings: Settings) -> str | None:
    """The session string to use: the setting (env/config) wins over the session file."""
    if settings.session:
        return settings.session
    path = session_file()
    if path.exists():
        return path.read_text().strip() or None
    return None


def api_credentials(settings: Settings) -> tuple[int, str]:
    if not settings.api_id or not settings.api_hash:
        raise ConfigError(
            "Telegram API credentials are missing: get them at https://my.telegram.org and set "
            "TGPARSER_API_ID and TGPARSER_API_HASH (or api_id / api_hash in the config file)"
        )
    return int(settings.api_id), str(settings.api_hash)


def make_client(
    settings: Settings, session: str | None, *, flood_sleep: int = DEFAULT_FLOOD_SLEEP
) -> TelegramClient:
    """A (not yet connected) Telethon client. Telethon is imported here, and only here."""
    from telethon import TelegramClient
    from telethon.sessions import StringSession

    api_id, api_hash = api_credentials(settings)
    return TelegramClient(
        StringSession(session or ""),
        api_id,
        api_hash,
        flood_sleep_threshold=flood_sleep,
        receive_updates=False,  # an archiver pulls history; it needs no update stream
        device_model="tgparser",
        app_version=__version__,
    )


async def connect_authorized(client: TelegramClient) -> TelegramClient:
    """Connect and make sure the session is logged in."""
    try:
        await client.connect()
    except (OSError, EOFError) as exc:  # EOFError: asyncio.IncompleteReadError
        raise TgparserError(f"cannot reach Telegram: {exc}") from None
    if not await client.is_user_authorized():
        raise NotLoggedIn("not logged in to Telegram: run `tgparser login` first")
    return client


async def open_client(
    settings: Settings, *, flood_sleep: int = DEFAULT_FLOOD_SLEEP
) -> TelegramClient:
    """A connected, logged-in client from the stored session; disconnect it when done."""
    session = stored_session(settings)
    if not session:
        raise NotLoggedIn("not logged in to Telegram: run `tgparser login` first")
    client = make_client(settings, session, flood_sleep=flood_sleep)
    try:
        await connect_authorized(client)
    except BaseException:
        await client.disconnect()
        raise
    return client


def save_pending_login(phone: str, phone_code_hash: str, session: str) -> None:
    write_private(
        pending_login_file(),
        json.dumps({"phone": phone, "phone_code_hash": phone_code_hash, "session": session}),
    )


def load_pending_login() -> dict[str, Any] | None:
    path = pending_login_file()
    if not path.exists():
        return None
    return json.loads(path.read_text())


def describe_user(user: Any) -> dict[str, Any]:
    name = " ".join(p for p in (user.first_name, user.last_name) if p)
    return {"id": user.id, "username": user.username, "name": name, "bot": bool(user.bot)}
