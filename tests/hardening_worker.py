"""A separate `tgparser import desktop` process, for the concurrent-writers test.

Two of these start together (a file barrier lines them up) and import the same export into
the same fresh database at the same moment.

    python -m tests.hardening_worker DB_URL BARRIER_DIR NAME EXPORT
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from click.testing import CliRunner

from tgparser.cli import main as cli


def main(db_url: str, barrier: Path, name: str, export: str) -> int:
    (barrier / f"ready-{name}").touch()
    deadline = time.monotonic() + 60
    while len(list(barrier.glob("ready-*"))) < 2:
        if time.monotonic() > deadline:
            print("the other worker never came", file=sys.stderr)
            return 99
        time.sleep(0.005)
    result = CliRunner().invoke(cli, ["--db", db_url, "import", "desktop", export, "--json"])
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4]))
