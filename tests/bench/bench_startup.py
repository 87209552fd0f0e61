"""Start-up time of one-shot commands, as whole processes, the way a shell or cron runs them.

    .venv/bin/python -m tests.bench.bench_startup [--runs 21] [--tgparser PATH]
        [--baseline PATH] [--zipapp PATH] [--install] [--install-baseline GIT_REF]

Runs `--help`, `--version` and `search … --json` on a small SQLite archive (imported from the
test suite's Telegram Desktop fixture) N times each, and reports the median wall time and the
median CPU time (user + system) of each. The variants — the installed command, optionally an
older one (`--baseline`) and the single-file build (`--zipapp`, default `dist/tgparser` when it
exists) — take turns run by run, so a machine shared with other work slows them alike; CPU time
is the steadier figure there. The zipapp's first run extracts it and is reported on its own.

`--install` also measures this checkout installed the way users install it (`pipx install .`:
not editable, so without the editable-install finder a development venv carries): a wheel
built with `python -m build`, pip-installed into a throwaway venv. `--install-baseline REF`
does the same with a git revision (e.g. `main`) and measures it as the baseline. Both need
pip to reach the package index (or its cache) for the dependencies.
Targets: search ≤ 200 ms; zipapp `--help` ≤ 1.5 × the installed one; `--help` no slower than
the baseline.
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

ROOT = Path(__file__).resolve().parents[2]

TARGET_SEARCH_S = 0.200
TARGET_ZIPAPP_RATIO = 1.5


def run_once(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of `command`."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def install(source: Path, workdir: Path, name: str) -> str:
    """Build a wheel of `source` and pip-install it into a new venv; its `tgparser`."""
    dist = workdir / f"dist-{name}"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(source)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    venv = workdir / f"venv-{name}"
    base = os.path.realpath(sys._base_executable)  # type: ignore[attr-defined]
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    wheel = next(dist.glob("tgparser-*.whl"))
    pip = [str(venv / "bin/python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, str(wheel)], check=True)
    print(f"installed {name}: {wheel.name} into a fresh venv")
    return str(venv / "bin/tgparser")


def checkout(ref: str, workdir: Path) -> Path:
    """The files of git revision `ref` of this repository, in a folder of their own."""
    target = workdir / f"src-{ref.replace('/', '_')}"
    target.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument(
        "--tgparser",
        default=str(Path(sys.executable).with_name("tgparser")),
        help="the installed command (default: the one beside this Python)",
    )
    parser.add_argument("--baseline", help="another installed tgparser to compare with")
    parser.add_argument("--zipapp", default="dist/tgparser", help="the single-file build")
    parser.add_argument(
        "--install", action="store_true", help="also measure a non-editable install of this tree"
    )
    parser.add_argument(
        "--install-baseline", metavar="REF", help="install git REF the same way, as the baseline"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tgp-startup-") as tmp:
        home = Path(tmp)
        builds = home / "builds"
        builds.mkdir()
        installed_wheel = install(ROOT, builds, "checkout") if args.install else None
        if args.install_baseline:
            source = checkout(args.install_baseline, builds)
            args.baseline = install(source, builds, args.install_baseline)
        env = {
            # A user's shell: bytecode caches may be written (as after a pip/pipx install).
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith("TGPARSER_") and k != "PYTHONDONTWRITEBYTECODE"
            },
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CONFIG_HOME": str(home / "config"),
        }
        # `#!/usr/bin/env python3` must find a real interpreter (not a version manager's shim
        # script): the one this benchmark runs on, as the installed command uses it.
        bindir = home / "bin"
        bindir.mkdir()
        base = os.path.realpath(sys._base_executable)  # type: ignore[attr-defined]
        (bindir / "python3").symlink_to(base)
        env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
        export = home / "result.json"
        export.write_text(json.dumps(channel_export()), encoding="utf-8")
        db = str(home / "archive.db")
        subprocess.run(
            [args.tgparser, "-q", "--db", db, "import", "desktop", str(export)], env=env, check=True
        )

        variants = {"installed": [args.tgparser]}
        if installed_wheel:
            variants["wheel"] = [installed_wheel]
        # each variant searches an archive its own version made: an older baseline refuses a
        # database migrated past what it knows
        dbs = dict.fromkeys(variants, db)
        if args.baseline:
            variants["baseline"] = [args.baseline]
            dbs["baseline"] = str(home / "baseline.db")
            subprocess.run(
                [args.baseline, "-q", "--db", dbs["baseline"], "import", "desktop", str(export)],
                env=env,
                check=True,
            )
        zipapp = Path(args.zipapp)
        if zipapp.is_file():
            variants["zipapp"] = [str(zipapp.resolve())]
            size = zipapp.stat().st_size / 1e6
            first = run_once([str(zipapp.resolve()), "--version"], env)
            print(f"zipapp {zipapp}: {size:.1f} MB; first run (extract, compile) {first[0]:.1f} s")
        commands = {
            "--help": ["--help"],
            "--version": ["--version"],
            "search docs --json": ["--db", "{db}", "search", "docs", "--json"],
        }
        # The floor: the interpreter of the measured install starting, and importing Click.
        python = str(Path(variants.get("wheel", variants["installed"])[0]).with_name("python"))
        for label, code in (
            ("python -c pass", "pass"),
            ("python -c 'import click'", "import click"),
        ):
            run_once([python, "-c", code], env)
            runs = [run_once([python, "-c", code], env) for _ in range(args.runs)]
            print(
                f"floor {label:24} {statistics.median(w for w, _ in runs) * 1000:9.1f} ms "
                f"{statistics.median(c for _, c in runs) * 1000:9.1f} ms (wall, CPU medians)"
            )
        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"{args.runs} runs each, taking turns, after a warm-up; {os.cpu_count()} CPUs")
        print(f"load average before: {load}")
        print(f"{'':30} {'wall median':>12} {'CPU median':>12}")
        cpu: dict[tuple[str, str], float] = {}
        wall: dict[tuple[str, str], float] = {}
        for label, extra in commands.items():
            samples: dict[str, list[tuple[float, float]]] = {v: [] for v in variants}
            argv = {
                v: [*command, *(a.format(db=dbs.get(v, db)) for a in extra)]
                for v, command in variants.items()
            }
            for command in argv.values():
                run_once(command, env)  # warm-up: bytecode caches, page cache
            for _ in range(args.runs):
                for variant, command in argv.items():
                    samples[variant].append(run_once(command, env))
            for variant, runs in samples.items():
                wall[variant, label] = statistics.median(w for w, _ in runs)
                cpu[variant, label] = statistics.median(c for _, c in runs)
                print(
                    f"{variant + ' ' + label:30} {wall[variant, label] * 1000:9.1f} ms "
                    f"{cpu[variant, label] * 1000:9.1f} ms"
                )

        print("load average after: " + " ".join(f"{x:.1f}" for x in os.getloadavg()))
        for variant in ("installed", "wheel"):
            if variant in variants:
                figure = wall[variant, "search docs --json"]
                verdict = "met" if figure <= TARGET_SEARCH_S else "NOT met"
                print(f"{variant} search ≤ {TARGET_SEARCH_S * 1000:.0f} ms wall: {verdict}")
        if "zipapp" in variants:
            for name, figures in (("wall", wall), ("CPU", cpu)):
                ratio = figures["zipapp", "--help"] / figures["installed", "--help"]
                verdict = "met" if ratio <= TARGET_ZIPAPP_RATIO else "NOT met"
                print(f"zipapp/installed --help, {name}: {ratio:.2f} (≤ 1.5: {verdict})")
        if "baseline" in variants:
            for variant in ("installed", "wheel"):
                for label in commands:
                    if variant in variants:
                        ratio = cpu[variant, label] / cpu["baseline", label]
                        print(f"{variant}/baseline {label}, CPU: {ratio:.2f}")


if __name__ == "__main__":
    main()
