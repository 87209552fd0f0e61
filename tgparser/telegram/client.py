"""Building a Telethon client from tgparser's settings, and keeping its session safe.

The session is a Telethon *string* session: kept in `<data dir>/session` (mode 0600) after
`tgparser login`, or supplied through TGPARSER_SESSION (or the `session` setting) so a cron box
or a container needs no file at all. Chats are addressed through the access hashes stored in
`sources`, so a string session never has to re-resolve usernames.
"""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tgparser import __version__
from tgparser.config import Settings
from tgparser.errors import ConfigError, TgparserError
from tgparser.paths import data_dir

if TYPE_CHECKING:
    from telethon import TelegramClient

DEFAULT_FLOOD_SLEEP = 300  # seconds Telethon may sleep through a FloodWait by itself


class NotLoggedIn(TgparserError):
    """No usable Telegram session."""


class BadSession(NotLoggedIn):
    """The session string (setting, environment or file) is not a Telethon string session."""


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
    try:
        string_session = StringSession(session or "")
    except (ValueError, struct.error):  # binascii.Error is a ValueError
        raise BadSession(_bad_session_message(settings, session or "")) from None
    return TelegramClient(
        string_session,
        api_id,
        api_hash,
        flood_sleep_threshold=flood_sleep,
        receive_updates=False,  # an archiver pulls history; it needs no update stream
        device_model="tgparser",
        app_version=__version__,
    )


def _bad_session_message(settings: Settings, session: str) -> str:
    if settings.session and session == settings.session:
        origin = settings.origins.get("session")
        where = "TGPARSER_SESSION" if origin == "env" else "the `session` setting"
        return (
            f"{where} is not a valid Telegram session string: set it to what "
            "`tgparser login --print-session` printed, or remove it and run `tgparser login`"
        )
    return (
        f"the session file {session_file()} is damaged (not a Telegram session string): "
        "run `tgparser login` again"
    )


def unreachable(client: Any, exc: BaseException) -> TgparserError:
    """ "cannot reach Telegram" in words a user can act on: which address, and why."""
    session = getattr(client, "session", None)
    where = ""
    if session is not None and session.server_address:
        where = f" at {session.server_address}:{session.port} (data center {session.dc_id})"
    return TgparserError(
        f"cannot reach Telegram{where}: {_network_reason(exc)}; this is a network problem "
        "(check the internet connection, firewall or proxy)"
    )


def _network_reason(exc: BaseException) -> str:
    import asyncio
    import socket

    if isinstance(exc, asyncio.IncompleteReadError):
        # Telethon reads the first bytes of an answer as a packet length: an absurd length is
        # another protocol answering (b"HTTP" read as a number is 1347703880).
        if exc.expected is not None and exc.expected > 1 << 24:
            return (
                "something that is not Telegram answered (an HTTP proxy, firewall or captive "
                "portal in the way?)"
            )
        return "the connection was closed before Telegram answered"
    if isinstance(exc, socket.gaierror):
        return f"the address cannot be looked up ({exc.strerror or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return "the connection was refused"
    if isinstance(exc, TimeoutError):
        return "no answer (timed out)"
    match = re.search(r"failed (\d+) time", str(exc))
    if isinstance(exc, ConnectionError) and match:  # Telethon gave up after its retries
        return f"no connection after {match.group(1)} attempts"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


async def connect_authorized(client: TelegramClient) -> TelegramClient:
    """Connect and make sure the session is logged in."""
    try:
        await client.connect()
    except (OSError, EOFError) as exc:  # EOFError: asyncio.IncompleteReadError
        raise unreachable(client, exc) from None
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
