"""Where tgparser keeps its files: the user config and data folders.

The bottom of the house: `config` (settings) and `storage.urls` (the default archive file)
both need the data folder, and neither may import the other's floor.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

APP_NAME = "tgparser"


def config_dir() -> Path:
    found = _xdg_dir("XDG_CONFIG_HOME", ".config")
    if found is None:
        import platformdirs

        found = platformdirs.user_config_path(APP_NAME)
    return found


def data_dir() -> Path:
    found = _xdg_dir("XDG_DATA_HOME", ".local/share")
    if found is None:
        import platformdirs

        found = platformdirs.user_data_path(APP_NAME)
    return found


def _xdg_dir(variable: str, default: str) -> Path | None:
    """platformdirs' answer on Linux in the usual case, without importing it (it imports
    tempfile, shutil and random: a tenth of a one-shot `tgparser search`): `$XDG_…` when it is
    an absolute path, else `~/<default>` when HOME is one. None: ask platformdirs.
    `tests/test_startup.py` checks both agree."""
    if sys.platform != "linux":
        return None
    from pathlib import Path

    base = os.environ.get(variable, "")
    if not base:
        home = os.environ.get("HOME", "")
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, default)
    elif not os.path.isabs(base):
        return None
    return Path(base) / APP_NAME
