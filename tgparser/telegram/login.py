"""Logging in to Telegram: interactive, or in two steps for servers without a terminal.

- `login(settings, prompts=…)`: asks for phone, code and (if set) the 2FA password.
- `send_code(settings, phone)`: step one; keeps the half-done session in a private file.
- `finish_login(settings, code=…, password=…)`: step two (and three, for a 2FA password).

No printing here: questions go through the `Prompts` the caller gives.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tgparser.config import Settings
from tgparser.errors import TgparserError
from tgparser.telegram import client as tg


@dataclass
class Prompts:
    phone: Callable[[], str]
    code: Callable[[], str]
    password: Callable[[], str]  # should not echo


@dataclass
class LoginResult:
    user: dict[str, Any]
    session: str
    already: bool = False  # the stored session was logged in already


class PasswordNeeded(TgparserError):
    """The account has two-step verification and no password was given."""


def _explain(exc: Exception) -> TgparserError:
    from telethon import errors

    known = {
        errors.PhoneNumberInvalidError: "the phone number is not valid (use +<country><number>)",
        errors.PhoneCodeInvalidError: "the login code is wrong",
        errors.PhoneCodeExpiredError: "the login code expired: request a new one",
        errors.PasswordHashInvalidError: "the two-step verification password is wrong",
        errors.ApiIdInvalidError: "api_id / api_hash are not valid (see my.telegram.org)",
        errors.PhoneNumberBannedError: "this phone number is banned by Telegram",
    }
    for kind, message in known.items():
        if isinstance(exc, kind):
            return TgparserError(message)
    if isinstance(exc, errors.FloodWaitError):
        return TgparserError(f"Telegram asks to wait {exc.seconds} s before trying again")
    if isinstance(exc, errors.RPCError):
        return TgparserError(f"Telegram refused the login: {exc.message}")
    return TgparserError(f"login failed: {exc}")


def login(settings: Settings, prompts: Prompts, *, password: str | None = None) -> LoginResult:
    """Interactive login with a fresh session; the session is saved on success."""
    return asyncio.run(_login(settings, prompts, password))


async def _login(settings: Settings, prompts: Prompts, password: str | None) -> LoginResult:
    from telethon import errors

    existing = tg.stored_session(settings)
    if existing and not settings.session and not _usable(settings, existing):
        existing = None  # a damaged session file: log in afresh, which replaces it
    if existing:
        client = tg.make_client(settings, existing)
        async with _connected(client):
            if await client.is_user_authorized():
                me = await client.get_me()
                return LoginResult(tg.describe_user(me), existing, already=True)
    client = tg.make_client(settings, None)
    async with _connected(client):
        phone = prompts.phone().strip()
        try:
            sent = await client.send_code_request(phone)
            try:
                await client.sign_in(
                    phone, prompts.code().strip(), phone_code_hash=sent.phone_code_hash
                )
            except errors.SessionPasswordNeededError:
                await client.sign_in(password=password or prompts.password())
        except errors.RPCError as exc:
            raise _explain(exc) from None
        return await _finish(client)


def _usable(settings: Settings, session: str) -> bool:
    try:
        tg.make_client(settings, session)
    except tg.BadSession:
        return False
    return True


def send_code(settings: Settings, phone: str) -> None:
    """Step one of a non-interactive login: Telegram sends the code to the account's apps."""
    asyncio.run(_send_code(settings, phone))


async def _send_code(settings: Settings, phone: str) -> None:
    from telethon import errors

    client = tg.make_client(settings, None)
    async with _connected(client):
        try:
            sent = await client.send_code_request(phone.strip())
        except errors.RPCError as exc:
            raise _explain(exc) from None
        tg.save_pending_login(phone.strip(), sent.phone_code_hash, client.session.save())


def has_pending_login() -> bool:
    return tg.load_pending_login() is not None


def finish_login(
    settings: Settings, *, code: str | None, password: str | None, phone: str | None = None
) -> LoginResult:
    """Step two: the code (and the 2FA password, now or in a third call)."""
    return asyncio.run(_finish_login(settings, code, password, phone))


async def _finish_login(
    settings: Settings, code: str | None, password: str | None, phone: str | None
) -> LoginResult:
    from telethon import errors

    pending = tg.load_pending_login()
    if pending is None:
        raise TgparserError("no login in progress: run `tgparser login --phone +…` first")
    if phone and phone.strip() != pending["phone"]:
        raise TgparserError(f"the pending login is for another phone number ({pending['phone']})")
    client = tg.make_client(settings, pending["session"])
    async with _connected(client):
        try:
            if code:
                try:
                    await client.sign_in(
                        pending["phone"], code.strip(), phone_code_hash=pending["phone_code_hash"]
                    )
                except errors.SessionPasswordNeededError:
                    if not password:
                        # Keep the half-done session: `login --password …` finishes it.
                        tg.save_pending_login(
                            pending["phone"], pending["phone_code_hash"], client.session.save()
                        )
                        raise PasswordNeeded(
                            "this account has two-step verification: run "
                            "`tgparser login --password …` to finish"
                        ) from None
                    await client.sign_in(password=password)
            elif password:
                await client.sign_in(password=password)
            else:
                raise TgparserError("give the login code with --code (and --password if set)")
        except errors.RPCError as exc:
            raise _explain(exc) from None
        result = await _finish(client)
    tg.pending_login_file().unlink(missing_ok=True)
    return result


async def _finish(client: Any) -> LoginResult:
    me = await client.get_me()
    session = client.session.save()
    tg.write_private(tg.session_file(), session)
    return LoginResult(tg.describe_user(me), session)


def whoami(settings: Settings) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        client = await tg.open_client(settings)
        try:
            return tg.describe_user(await client.get_me())
        finally:
            await client.disconnect()

    return asyncio.run(run())


def logout(settings: Settings) -> bool:
    """End the session at Telegram and delete the local copy. False when there was none."""

    async def run() -> bool:
        session = tg.stored_session(settings)
        if session and _usable(settings, session):
            client = tg.make_client(settings, session)
            async with _connected(client):
                if await client.is_user_authorized():
                    await client.log_out()
        existed = tg.session_file().exists() or bool(session)
        tg.session_file().unlink(missing_ok=True)
        tg.pending_login_file().unlink(missing_ok=True)
        return existed

    return asyncio.run(run())


class _connected:
    """`async with`: connect, always disconnect."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def __aenter__(self) -> Any:
        try:
            await self.client.connect()
        except (OSError, EOFError) as exc:  # EOFError: asyncio.IncompleteReadError
            raise tg.unreachable(self.client, exc) from None
        return self.client

    async def __aexit__(self, *exc: object) -> None:
        await self.client.disconnect()
