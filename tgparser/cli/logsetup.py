"""Logging of a command: configured as always, but `logging` is imported only if something logs.

Importing `logging` (with traceback, string and textwrap) is a noticeable part of a one-shot
command's start, and most commands never log anything: search, export, stats. So when nothing
has imported `logging` yet, `setup_logging` configures it the moment a module imports it —
before that module can make a logger or log a line — instead of importing it to configure it
now. A command that does log (ingest, Telethon, a driver's warning) prints exactly what it
printed before; one that does not never loads `logging` at all.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

FORMAT = "%(levelname)s %(name)s: %(message)s"


def setup_logging(verbose: bool) -> None:
    """Log to stderr: everything with -v, else warnings (Telethon's only errors: it warns about
    each reconnect, and tgparser reports what failed in one line)."""
    if verbose or "logging" in sys.modules:
        import logging

        _configure(logging, verbose)
        return
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _ConfigureOnImport)]
    sys.meta_path.insert(0, _ConfigureOnImport(verbose))


def _configure(logging: ModuleType, verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, stream=sys.stderr, format=FORMAT
    )
    if not verbose:
        logging.getLogger("telethon").setLevel(logging.ERROR)


class _ConfigureOnImport:
    """An import finder for `logging` alone: the usual path finder finds it, and its loader is
    wrapped so that `_configure` runs right after the module's own code."""

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "logging":
            return None
        sys.meta_path.remove(self)  # once
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenConfigure(spec.loader, self.verbose)
        return spec


class _ThenConfigure:
    def __init__(self, loader: Any, verbose: bool) -> None:
        self.loader = loader
        self.verbose = verbose

    def create_module(self, spec: Any) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        module.__loader__ = module.__spec__.loader = self.loader  # as if found the usual way
        _configure(module, self.verbose)
