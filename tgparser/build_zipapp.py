"""Build `dist/tgparser`: one executable file with tgparser and every runtime dependency.

    python -m tgparser.build_zipapp [--output dist/tgparser] [--python 3.12 ...] [--extra NAME]

Run from a checkout (or pass `--source DIR`), with pip and shiv installed (the `test` extra
has shiv) and PyPI reachable. The file is a shiv zipapp (https://shiv.readthedocs.io): its
first run extracts the bundled packages once into `~/.cache/tgparser/` and compiles their
bytecode (under a file lock, in a temporary folder renamed into place, so two cron jobs
starting together are safe; `SHIV_ROOT=/dir` puts it elsewhere); later runs import from there
at installed speed.

pip installs tgparser and its dependencies for the Python running this script; the compiled
parts (psycopg's binary driver with its bundled libpq, ijson's C parser) are then added for
every other `--python` version, from the same releases' manylinux wheels, so one file serves
CPython 3.11 to 3.14 on Linux x86_64. What it was built for is recorded in the file and shown
by `tgparser --version`.
"""

from __future__ import annotations

import argparse
import email.parser
import json
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

DEFAULT_PYTHONS = ("3.11", "3.12", "3.13", "3.14")
# Wheels this old and newer run on glibc ≥ 2.17 (CentOS 7 and every Linux since).
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64")
CACHE_ROOT = "~/.cache/tgparser"
SHEBANG = "/usr/bin/env python3"
# Dependencies of dependencies that tgparser never reaches, left out of the file (smaller, and
# fewer entries for Python to read at each start), each with the imports that would need it: a
# package stays in whenever tgparser's own code mentions one of them.
UNUSED: dict[str, tuple[str, ...]] = {
    "pip": ("pip",),  # for sqlite-utils' own `sqlite-utils install` command
    "tzdata": ("tzdata", "zoneinfo", "dateutil"),  # dateutil's fallback for zone names
    "pygments": ("pygments", "rich.syntax", "rich.traceback"),  # rich's highlighting
    "markdown_it": ("markdown_it", "rich.markdown"),  # rich's Markdown renderer
    "mdurl": ("mdurl", "markdown_it", "rich.markdown"),
}


class BuildError(Exception):
    pass


def _pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise BuildError(f"pip {' '.join(args[:2])} failed:\n{done.stderr.strip()[-3000:]}")


def _dist_infos(site: Path) -> list[Path]:
    return sorted(site.glob("*.dist-info"))


def _wheel_tags(dist_info: Path) -> tuple[bool, list[str]]:
    """(is pure Python, the wheel's tags) from its WHEEL file."""
    wheel = email.parser.Parser().parsestr((dist_info / "WHEEL").read_text(encoding="utf-8"))
    return wheel.get("Root-Is-Purelib", "true").lower() == "true", wheel.get_all("Tag") or []


def _name_version(dist_info: Path) -> tuple[str, str]:
    meta = email.parser.Parser().parsestr(
        (dist_info / "METADATA").read_text(encoding="utf-8"), headersonly=True
    )
    return meta["Name"], meta["Version"]


def _min_glibc(tags: list[str]) -> tuple[int, int] | None:
    """The oldest glibc a binary wheel's tags promise to run on (None: not a Linux wheel)."""
    found = []
    for tag in tags:
        platform = tag.rsplit("-", 1)[-1]
        if platform.startswith("manylinux2014"):
            found.append((2, 17))
        elif match := re.match(r"manylinux_(\d+)_(\d+)_", platform):
            found.append((int(match.group(1)), int(match.group(2))))
    return min(found) if found else None


def _fetch_compiled_parts(site: Path, python: str, workdir: Path) -> Path:
    """Install the binary dependencies of `site`, same releases, built for `python`."""
    pins = ["==".join(_name_version(d)) for d in _dist_infos(site) if not _wheel_tags(d)[0]]
    target = workdir / f"py{python}"
    target.mkdir()
    if not pins:
        return target
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    _pip(
        "install",
        "--target",
        str(target),
        "--no-deps",
        "--no-compile",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        python,
        *platforms,
        *pins,
    )
    return target


def _add_files(site: Path, target: Path) -> None:
    """Copy what `site` lacks from `target` (the compiled modules and their libraries)."""
    for path in sorted(target.rglob("*")):
        relative = path.relative_to(target)
        if relative.parts[0].endswith(".dist-info") or relative.parts[0] == "bin":
            continue
        destination = site / relative
        if path.is_file() and not destination.exists():
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)


def _unused(package: Path) -> list[str]:
    """The UNUSED packages that nothing in tgparser's code (at `package`) imports."""
    code = "\n".join(
        path.read_text(encoding="utf-8")
        for path in package.rglob("*.py")
        if path.name != "build_zipapp.py"  # this file names them to leave them out
    )
    mentioned = set(re.findall(r"(?:import|from)\s+([\w.]+)", code))
    return [
        name
        for name, needs in UNUSED.items()
        if not any(m == n or m.startswith(n + ".") for m in mentioned for n in needs)
    ]


def build(
    source: Path, output: Path, pythons: list[str], extras: list[str], keep: Path | None = None
) -> dict[str, object]:
    """Build the zipapp at `output`; return what it was built for."""
    host = f"{sys.version_info.major}.{sys.version_info.minor}"
    if sys.implementation.name != "cpython" or not sys.platform.startswith("linux"):
        raise BuildError("build on CPython on Linux: the file bundles Linux x86_64 wheels")
    if shutil.which("shiv") is None and not _has_module("shiv"):
        raise BuildError("shiv is not installed: pip install shiv (or the 'test' extra)")
    pythons = sorted({host, *pythons}, key=lambda v: tuple(map(int, v.split("."))))
    with tempfile.TemporaryDirectory(prefix="tgparser-zipapp-") as tmp:
        workdir = Path(tmp)
        site = workdir / "site-packages"
        requirement = f"{source.resolve()}[{','.join(extras)}]" if extras else str(source.resolve())
        _pip("install", "--target", str(site), "--no-compile", requirement)
        others = [python for python in pythons if python != host]
        with ThreadPoolExecutor(max_workers=4) as pool:  # pip waits on the network: overlap
            staged = list(
                pool.map(lambda python: _fetch_compiled_parts(site, python, workdir), others)
            )
        for target in staged:
            _add_files(site, target)
        shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts: the zipapp is one
        for name in _unused(site / "tgparser"):
            for path in (site / name, *site.glob(f"{name}-*.dist-info")):
                shutil.rmtree(path, ignore_errors=True)
        glibc = [g for d in _dist_infos(site) if (g := _min_glibc(_wheel_tags(d)[1])) is not None]
        oldest = max(glibc, default=(2, 17))
        info: dict[str, object] = {
            "pythons": pythons,
            "platform": f"Linux x86_64, glibc ≥ {oldest[0]}.{oldest[1]}",
            "extras": extras,
        }
        (site / "tgparser" / "_zipapp.json").write_text(json.dumps(info), encoding="utf-8")
        if keep is not None:
            shutil.copytree(site, keep, dirs_exist_ok=True)
        output.parent.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "shiv",
            "--site-packages",
            str(site),
            "--entry-point",
            "tgparser.cli:run",
            "--output-file",
            str(output),
            "--python",
            SHEBANG,
            "--root",
            CACHE_ROOT,
            "--reproducible",
            # Compile the bytecode once, at extraction, as pip does at install time: start-up
            # must not depend on whether the user's Python may write __pycache__ folders.
            "--compile-pyc",
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise BuildError(f"shiv failed:\n{done.stderr.strip()[-3000:]}")
    return info


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tgparser.build_zipapp", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--source", type=Path, default=None, help="tgparser checkout to build")
    parser.add_argument("--output", "-o", type=Path, default=Path("dist/tgparser"))
    parser.add_argument(
        "--python",
        action="append",
        metavar="X.Y",
        help="CPython version the file must run on; repeatable "
        f"(default: {', '.join(DEFAULT_PYTHONS)})",
    )
    parser.add_argument("--extra", action="append", default=[], help="optional extra to bundle")
    args = parser.parse_args(argv)
    source = args.source or _find_source()
    if source is None:
        parser.error("no pyproject.toml here or above: pass --source CHECKOUT")
    if not (source / "pyproject.toml").is_file():
        parser.error(f"{source} is not a tgparser checkout (no pyproject.toml)")
    try:
        info = build(source, args.output, list(args.python or DEFAULT_PYTHONS), args.extra)
    except BuildError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    size = args.output.stat().st_size / 1e6
    pythons = ", ".join(info["pythons"])  # type: ignore[arg-type]
    print(f"built {args.output} ({size:.1f} MB) for CPython {pythons}; {info['platform']}")
    return 0


def _find_source() -> Path | None:
    for folder in (Path.cwd(), *Path.cwd().parents, Path(__file__).resolve().parents[1]):
        if (folder / "pyproject.toml").is_file() and (folder / "tgparser").is_dir():
            return folder
    return None


if __name__ == "__main__":
    sys.exit(main())
