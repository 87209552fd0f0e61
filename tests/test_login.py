"""`tgparser login / whoami / logout` against the fake Telegram's real login protocol
(codes bound to a session, SRP-checked two-step verification passwords)."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faketg import FakeTelegram
from tests.tgharness import Harness
from tgparser.telegram.client import pending_login_file, session_file

PHONE = "+15551234567"


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    world = FakeTelegram(strict_sessions=True)  # only sessions that logged in are authorized
    with world.patch():
        yield world


@pytest.fixture
def tg(fake: FakeTelegram, sqlite_url: str) -> Harness:
    return Harness(fake, sqlite_url, logged_in=False)


def _assert_private(path: Path) -> None:
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_interactive_login_saves_a_private_session(tg: Harness, fake: FakeTelegram) -> None:
    fake.register_account(PHONE, first_name="Ada", username="ada_archive")
    result = tg.run("login", input=f"{PHONE}\n{fake.login_code}\n")
    assert "logged in as @ada_archive" in result.stderr
    assert result.stdout == ""  # no session printed unless asked
    _assert_private(session_file())
    who = tg.run("whoami", "--json")
    assert json.loads(who.stdout)["username"] == "ada_archive"
    again = tg.run("login")
    assert "already logged in as @ada_archive" in again.stderr


def test_interactive_login_with_two_step_password(tg: Harness, fake: FakeTelegram) -> None:
    fake.register_account(PHONE, password="correct horse", username="ada_archive")
    result = tg.run("login", input=f"{PHONE}\n{fake.login_code}\ncorrect horse\n")
    assert "logged in as @ada_archive" in result.stderr
    assert "correct horse" not in result.stdout + result.stderr  # the prompt hides it


def test_wrong_code_and_wrong_password_are_one_line_errors(tg: Harness, fake: FakeTelegram) -> None:
    fake.register_account(PHONE, password="right one")
    bad_code = tg.run("login", input=f"{PHONE}\n00000\n", expect=1)
    assert bad_code.stderr.strip().splitlines()[-1] == "Error: the login code is wrong"
    bad_password = tg.run("login", input=f"{PHONE}\n{fake.login_code}\nwrong one\n", expect=1)
    assert bad_password.stderr.strip().splitlines()[-1] == (
        "Error: the two-step verification password is wrong"
    )
    assert not session_file().exists()


def test_two_step_login_for_servers(tg: Harness, fake: FakeTelegram) -> None:
    fake.register_account(PHONE, username="cron_box")
    first = tg.run("login", "--phone", PHONE)
    assert "login code sent" in first.stderr
    _assert_private(pending_login_file())
    assert not session_file().exists()

    second = tg.run("login", "--code", fake.last_code, "--print-session")
    session = second.stdout.strip()
    assert session and session == session_file().read_text()
    assert not pending_login_file().exists()
    assert fake.login_code not in second.stderr

    # A cron box with nothing but the string session in its environment.
    session_file().unlink()
    tg.env["TGPARSER_SESSION"] = session
    assert json.loads(tg.run("whoami", "--json").stdout)["username"] == "cron_box"


def test_two_step_login_with_a_password_in_a_third_call(tg: Harness, fake: FakeTelegram) -> None:
    fake.register_account(PHONE, password="s3cret", username="cron_box")
    tg.run("login", "--phone", PHONE)
    needs = tg.run("login", "--code", fake.last_code, expect=1)
    assert "two-step verification" in needs.stderr
    assert "--password" in needs.stderr
    done = tg.run("login", "--password", "s3cret")
    assert "logged in as @cron_box" in done.stderr
    assert "s3cret" not in done.stderr


def test_code_and_password_in_one_call(tg: Harness, fake: FakeTelegram) -> None:
    fake.register_account(PHONE, password="s3cret", username="cron_box")
    tg.run("login", "--phone", PHONE)
    tg.run("login", "--code", fake.last_code, "--password", "s3cret")
    assert json.loads(tg.run("whoami", "--json").stdout)["username"] == "cron_box"


def test_code_without_a_pending_login(tg: Harness) -> None:
    result = tg.run("login", "--code", "12345", expect=1)
    assert "no login in progress" in result.stderr


def test_logout_ends_the_session(tg: Harness, fake: FakeTelegram) -> None:
    fake.register_account(PHONE, username="ada_archive")
    tg.run("login", input=f"{PHONE}\n{fake.login_code}\n")
    assert "logged out" in tg.run("logout").stderr
    assert not session_file().exists()
    assert fake.authorized is False
    who = tg.run("whoami", expect=1)
    assert "not logged in to Telegram: run `tgparser login` first" in who.stderr


def test_missing_api_credentials(tg: Harness) -> None:
    tg.env.clear()
    result = tg.run("login", "--phone", PHONE, expect=1)
    assert result.stderr.startswith("Error: Telegram API credentials are missing")
    assert len(result.stderr.strip().splitlines()) == 1


def test_api_hash_never_printed(tg: Harness, fake: FakeTelegram) -> None:
    fake.register_account(PHONE, username="ada_archive")
    result = tg.run("-v", "login", input=f"{PHONE}\n{fake.login_code}\n")
    assert tg.env["TGPARSER_API_HASH"] not in result.stdout + result.stderr
    shown = tg.run("config", "show", "--json")
    assert tg.env["TGPARSER_API_HASH"] not in shown.stdout


def test_credentials_given_as_flags_are_kept_for_later_commands(
    tg: Harness, fake: FakeTelegram, isolated_home: Path
) -> None:
    fake.register_account(PHONE, username="ada_archive")
    api_hash = tg.env.pop("TGPARSER_API_HASH")
    api_id = tg.env.pop("TGPARSER_API_ID")
    config = isolated_home / "config" / "tgparser" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('# my settings\npg_schema = "mine"')  # no trailing newline on purpose

    result = tg.run(
        "login", "--api-id", api_id, "--api-hash", api_hash, input=f"{PHONE}\n{fake.login_code}\n"
    )

    assert f"saved api_id and api_hash in {config}" in result.stderr
    assert config.read_text() == (
        f'# my settings\npg_schema = "mine"\napi_id = {api_id}\napi_hash = "{api_hash}"\n'
    )
    _assert_private(config)
    assert json.loads(tg.run("whoami", "--json").stdout)["username"] == "ada_archive"
    shown = json.loads(tg.run("config", "show", "--json").stdout)
    assert shown["origins"]["api_hash"] == "file"
    assert shown["settings"]["api_hash"] == "***"


def test_password_from_the_environment(tg: Harness, fake: FakeTelegram) -> None:
    fake.register_account(PHONE, password="from env", username="cron_box")
    tg.env["TGPARSER_2FA_PASSWORD"] = "from env"
    tg.run("login", "--phone", PHONE)  # step one still only sends the code
    done = tg.run("login", "--code", fake.last_code)
    assert "logged in as @cron_box" in done.stderr
    assert stat.S_IMODE(session_file().parent.stat().st_mode) == 0o700
