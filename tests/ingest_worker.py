"""A separate `tgparser ingest` process against its own copy of a fake world.

Used by the overlapping-runs test: two of these start together (a file barrier lines them up),
and Telegram answers slowly, so both really try to work the same source at the same time.

    python -m tests.ingest_worker DB_URL BARRIER_DIR NAME
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from telethon.tl import functions

from tests.faketg import FakeTelegram
from tgparser.cli import main as cli

POSTS = 300


def build_world() -> FakeTelegram:
    """The same world every time (fixed seed and clock): same ids and access hashes."""
    fake = FakeTelegram(seed=7, start=datetime(2025, 6, 1, tzinfo=UTC), tick=timedelta(minutes=1))
    channel = fake.add_channel("racechannel", "Race Channel", with_discussion=False)
    for i in range(1, POSTS + 1):
        fake.post(channel, f"post {i}")
    return fake


def main(db_url: str, barrier: Path, name: str) -> int:
    fake = build_world()

    def slow_history(request: object) -> None:
        if isinstance(request, functions.messages.GetHistoryRequest):
            time.sleep(0.3)  # Telegram answering slowly keeps the first run busy

    fake.add_hook(slow_history)
    (barrier / f"ready-{name}").touch()
    deadline = time.monotonic() + 60
    while len(list(barrier.glob("ready-*"))) < 2:
        if time.monotonic() > deadline:
            print("the other worker never came", file=sys.stderr)
            return 99
        time.sleep(0.01)
    with fake.patch():
        result = CliRunner().invoke(cli, ["--db", db_url, "ingest", "--json"])
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2]), sys.argv[3]))
