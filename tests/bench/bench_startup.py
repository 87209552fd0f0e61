"""Start-up time of one-shot commands, as whole processes, the way a shell or cron runs them.

    .venv/bin/python -m tests.bench.bench_startup [--runs 21] [--tgparser PATH] [--zipapp PATH]

Runs `--help`, `--version` and `search … --json` on a small SQLite archive (imported from the
test suite's Telegram Desktop fixture) N times each and reports the median and the fastest wall
time. With `--zipapp` (default `dist/tgparser` when it exists) it runs the single-file build
the same way and reports its `--help` time as a ratio of the installed command's (target:
≤ 1.5). The first run of a zipapp extracts it; that run is reported separately and not counted.
Targets: search ≤ 200 ms median on SQLite; `--help` no slower than before lazy loading.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.test_import_desktop import channel_export

TARGET_SEARCH_S = 0.200
TARGET_ZIPAPP_RATIO = 1.5


def wall_times(command: list[str], env: dict[str, str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def report(label: str, times: list[float]) -> float:
    median = statistics.median(times)
    print(f"{label:<34} median {median * 1000:7.1f} ms   fastest {min(times) * 1000:7.1f} ms")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument(
        "--tgparser",
        default=str(Path(sys.executable).with_name("tgparser")),
        help="the installed command to time (default: the one beside this Python)",
    )
    parser.add_argument("--zipapp", default="dist/tgparser", help="the single-file build")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tgp-startup-") as tmp:
        home = Path(tmp)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TGPARSER_")},
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_CACHE_HOME": str(home / "cache"),
        }
        export = home / "result.json"
        export.write_text(json.dumps(channel_export()), encoding="utf-8")
        db = str(home / "archive.db")
        subprocess.run(
            [args.tgparser, "-q", "--db", db, "import", "desktop", str(export)], env=env, check=True
        )

        commands = {
            "--help": ["--help"],
            "--version": ["--version"],
            "search docs --json": ["--db", db, "search", "docs", "--json"],
        }
        print(f"{args.runs} runs each, after one warm-up run; {os.cpu_count()} CPUs")
        medians: dict[str, float] = {}
        for label, extra in commands.items():
            command = [args.tgparser, *extra]
            wall_times(command, env, 1)
            medians[label] = report(f"tgparser {label}", wall_times(command, env, args.runs))

        zipapp = Path(args.zipapp)
        if zipapp.is_file():
            print(f"zipapp {zipapp} ({zipapp.stat().st_size / 1e6:.1f} MB)")
            first = wall_times([str(zipapp.resolve()), "--version"], env, 1)[0]
            print(f"{'first run (extracts once)':<34} {first * 1000:7.1f} ms")
            zip_medians: dict[str, float] = {}
            for label, extra in commands.items():
                command = [str(zipapp.resolve()), *extra]
                times = wall_times(command, env, args.runs)
                zip_medians[label] = report(f"zipapp {label}", times)
            ratio = zip_medians["--help"] / medians["--help"]
            verdict = "met" if ratio <= TARGET_ZIPAPP_RATIO else "NOT met"
            print(
                f"zipapp/installed --help ratio: {ratio:.2f} "
                f"(target ≤ {TARGET_ZIPAPP_RATIO}: {verdict})"
            )
        else:
            print(f"no zipapp at {zipapp}: build it with `python -m tgparser.build_zipapp`")

        search = medians["search docs --json"]
        verdict = "met" if search <= TARGET_SEARCH_S else "NOT met"
        print(f"search target ≤ {TARGET_SEARCH_S * 1000:.0f} ms: {verdict}")


if __name__ == "__main__":
    main()
