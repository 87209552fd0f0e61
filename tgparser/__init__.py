"""tgparser: archive Telegram channels and their comments into a database you own."""

import sys

# The one place the version is set: the wheel, the sdist and the zipapp read it from here.
__version__ = "0.1.0"

if sys.version_info < (3, 11):  # noqa: UP036 - a zipapp started by an older python3
    raise SystemExit(
        f"tgparser needs Python 3.11 or newer; this python3 is {sys.version.split()[0]}"
    )
