"""Optional extras: which are installed, and one clear error when a command needs a missing one.

`OPTIONAL_EXTRAS` mirrors `[project.optional-dependencies]` in pyproject.toml (all but `test`):
extra name -> the modules it provides. Adding an extra is one line here (a test checks the two
agree). Presence is checked with `importlib.util.find_spec`, which imports nothing, so
`tgparser --version` stays fast even when the extra is a heavy numerical library.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from functools import cache
from typing import Any

from tgparser.errors import TgparserError

OPTIONAL_EXTRAS: dict[str, tuple[str, ...]] = {
    "topics": ("numpy", "scipy"),
}

# Written by `python -m tgparser.build_zipapp` into the package it bundles; absent otherwise.
BUILD_INFO = "_zipapp.json"


def missing_modules(extra: str) -> list[str]:
    """The modules of `extra` that cannot be imported here (empty: the extra is present)."""
    return [name for name in OPTIONAL_EXTRAS[extra] if importlib.util.find_spec(name) is None]


def extras_status() -> dict[str, bool]:
    """Every optional extra and whether it is installed."""
    return {extra: not missing_modules(extra) for extra in OPTIONAL_EXTRAS}


@cache
def zipapp_info() -> dict[str, Any] | None:
    """What the single-file build was made for (Pythons, platform, extras), or None."""
    package = os.path.dirname(__file__)
    try:
        if os.path.isdir(package):  # not through importlib.resources: `--version` start-up
            with open(os.path.join(package, BUILD_INFO), encoding="utf-8") as f:
                text = f.read()
        else:
            from importlib import resources

            text = (resources.files("tgparser") / BUILD_INFO).read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        return None
    info: dict[str, Any] = json.loads(text)
    return info


def python_tag() -> str:
    """`3.12` for the running interpreter: the form the zipapp's build info uses."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def install_hint(extra: str) -> str:
    """How to get `extra`, for the way this tgparser was installed."""
    if zipapp_info() is not None:
        return f"build the file with it: python -m tgparser.build_zipapp --extra {extra}"
    packages = " ".join(OPTIONAL_EXTRAS[extra])
    return f"pipx inject tgparser {packages} (or: pip install 'tgparser[{extra}]')"


def require(extra: str) -> None:
    """Raise a one-line error naming the missing modules and how to get them."""
    missing = missing_modules(extra)
    if missing:
        raise TgparserError(
            f"this needs the optional extra '{extra}' ({', '.join(missing)} not installed); "
            + install_hint(extra)
        )
