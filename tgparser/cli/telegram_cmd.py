"""`tgparser login`, `whoami`, `logout`: the Telegram session."""

from __future__ import annotations

import click

from tgparser.cli.app import App, pass_app
from tgparser.cli.params import rejects_json


@rejects_json("login talks to a person; `tgparser --json whoami` reports the account after")
@click.command(short_help="Log in to Telegram; the session stays in the data folder (0600).")
@click.option("--api-id", type=int, help="Telegram API id [env: TGPARSER_API_ID].")
@click.option("--api-hash", help="Telegram API hash [env: TGPARSER_API_HASH].")
@click.option("--phone", help="Non-interactive step 1: send the login code to this number.")
@click.option("--code", help="Non-interactive step 2: the code Telegram sent.")
@click.option(
    "--password",
    envvar="TGPARSER_2FA_PASSWORD",
    help="Two-step verification password (prompted, hidden, if needed) "
    "[env: TGPARSER_2FA_PASSWORD, which keeps it out of the process list].",
)
@click.option(
    "--print-session",
    is_flag=True,
    help="Print the session string (for TGPARSER_SESSION) on stdout.",
)
@pass_app
def login(
    app: App,
    api_id: int | None,
    api_hash: str | None,
    phone: str | None,
    code: str | None,
    password: str | None,
    print_session: bool,
) -> None:
    """Log in to Telegram and keep the session in the data folder (mode 0600).

    Interactive: `tgparser login` asks for the phone number, the code and, if the account has
    one, the two-step verification password. On a server without a terminal, in two steps:
    `tgparser login --phone +4912345678` sends the code, then
    `tgparser login --code 12345 [--password …]` finishes.
    """
    from tgparser.telegram import login as service

    app.override_settings(api_id=api_id, api_hash=api_hash)
    settings = app.settings
    if phone and not code:
        service.send_code(settings, phone)
        _remember_credentials(app, api_id, api_hash)
        app.info(f"login code sent to {phone}: finish with `tgparser login --code CODE`")
        return
    if code or (password and service.has_pending_login()):
        result = service.finish_login(settings, code=code, password=password, phone=phone)
    else:
        prompts = service.Prompts(
            phone=lambda: click.prompt("Phone number (+country code)", err=True),
            code=lambda: click.prompt("Login code", err=True),
            password=lambda: click.prompt(
                "Two-step verification password", hide_input=True, err=True
            ),
        )
        result = service.login(settings, prompts, password=password)
    _remember_credentials(app, api_id, api_hash)
    user = result.user
    who = f"@{user['username']}" if user["username"] else user["name"] or str(user["id"])
    app.info(f"{'already logged in' if result.already else 'logged in'} as {who}")
    if print_session:
        click.echo(result.session)


def _remember_credentials(app: App, api_id: int | None, api_hash: str | None) -> None:
    """API credentials given as flags are kept in the config file for later commands."""
    from tgparser.config import remember_settings

    added = remember_settings({"api_id": api_id, "api_hash": api_hash}, app.settings.config_path)
    if added:
        app.info(f"saved {' and '.join(added)} in {app.settings.config_path}")


@click.command()
@click.option("--json", "json_flag", is_flag=True, help="Machine-readable JSON on stdout.")
@pass_app
def whoami(app: App, json_flag: bool) -> None:
    """Show the Telegram account the session belongs to."""
    from tgparser.telegram import login as service

    user = service.whoami(app.settings)
    if app.wants_json(json_flag):
        app.print_json(user)
        return
    click.echo(
        " ".join(
            str(p)
            for p in (
                user["name"],
                f"@{user['username']}" if user["username"] else None,
                f"(id {user['id']})",
            )
            if p
        )
    )


@click.command()
@pass_app
def logout(app: App) -> None:
    """End the Telegram session and delete the local session file."""
    from tgparser.telegram import login as service

    existed = service.logout(app.settings)
    if app.wants_json():
        app.print_json({"logged_out": existed})
    app.info("logged out" if existed else "no session to log out of")
