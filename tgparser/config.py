"""Settings, with the usual precedence: flag > environment (`TGPARSER_*`) > config file > default.

The config file is TOML in the platformdirs user config dir (`tgparser config path`), with the
same keys as the table below, e.g.::

    db = "postgresql://archiver@db.example.org/telegram"
    api_id = 12345
    api_hash = "0123456789abcdef0123456789abcdef"
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from tgparser.errors import ConfigError
from tgparser.paths import config_dir

if TYPE_CHECKING:
    from pathlib import Path

# pathlib, platformdirs, tomllib and the URL parser are imported where they are used: `--help`
# and `--version` load no settings, and most runs read no config file (start-up time).

ENV_PREFIX = "TGPARSER_"


def default_config_path() -> Path:
    return config_dir() / "config.toml"


class Setting(NamedTuple):
    """One setting tgparser reads from flags, the environment and the config file. (A named
    tuple: defining one costs a one-shot command far less than a frozen dataclass.)"""

    name: str
    type: type
    default: Any
    help: str
    secret: bool = False

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("db", str, None, "database URL (default: SQLite file in the user data dir)"),
    Setting("pg_schema", str, "tgparser", "PostgreSQL schema that holds tgparser's tables"),
    Setting("api_id", int, None, "Telegram API id (my.telegram.org)"),
    Setting("api_hash", str, None, "Telegram API hash", secret=True),
    Setting("session", str, None, "Telethon string session (instead of a session file)", True),
    Setting("llm_url", str, None, "OpenAI-compatible API base URL for `process --processor llm`"),
    Setting("llm_model", str, None, "model name for `process --processor llm`"),
    Setting("llm_api_key", str, None, "API key of the LLM server (else OPENAI_API_KEY)", True),
    Setting("llm_prices", str, None, "USD per 1M tokens in/out: model=IN/OUT;model2=IN/OUT"),
    Setting("llm_batch", int, 8, "short messages per LLM request (1: one message a request)"),
    Setting("llm_timeout", int, 60, "seconds to wait for one LLM reply"),
)
SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass
class Settings:
    """Effective settings, and where each value came from (flag, env, file, default)."""

    values: dict[str, Any]
    origins: dict[str, str]
    config_path: Path
    config_loaded: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def database_url(self) -> str:
        if self.values["db"]:
            return self.values["db"]
        from tgparser.storage.urls import default_database_url

        return default_database_url()

    def masked(self) -> dict[str, Any]:
        """Every setting for display: secrets replaced by `***`, passwords cut from URLs."""
        from tgparser.storage.urls import mask_password

        shown: dict[str, Any] = {}
        for setting in SETTINGS:
            value = self.values.get(setting.name)
            if setting.name == "db":
                value = mask_password(self.database_url)
            elif setting.secret and value:
                value = "***"
            shown[setting.name] = value
        return shown


def _coerce(setting: Setting, value: Any, where: str) -> Any:
    if value is None:
        return None
    if setting.type is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: {setting.name} must be a whole number")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: {setting.name} must be a whole number") from None
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {setting.name} must be a string")
    return value


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse the TOML config file; unknown keys are an error so typos do not pass silently."""
    import tomllib

    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    unknown = sorted(set(data) - set(SETTINGS_BY_NAME))
    if unknown:
        known = ", ".join(SETTINGS_BY_NAME)
        raise ConfigError(f"config file {path}: unknown setting {unknown[0]!r} (known: {known})")
    return data


def load_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    config_path: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Merge flags, environment, config file and defaults, in that order of precedence.

    `config_path` given explicitly (the `--config` flag or TGPARSER_CONFIG) must exist; the
    default file is optional.
    """
    from pathlib import Path

    flags = flags or {}
    env = os.environ if env is None else env
    explicit = config_path is not None or bool(env.get(ENV_PREFIX + "CONFIG"))
    path = Path(config_path or env.get(ENV_PREFIX + "CONFIG") or default_config_path())
    path = path.expanduser()
    file_values: dict[str, Any] = {}
    loaded = False
    if path.exists() or explicit:
        if explicit and not path.exists():
            raise ConfigError(f"config file {path} does not exist")
        file_values = read_config_file(path)
        loaded = True

    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for setting in SETTINGS:
        if flags.get(setting.name) is not None:
            value = _coerce(setting, flags[setting.name], f"--{setting.name.replace('_', '-')}")
            origin = "flag"
        elif env.get(setting.env):
            value = _coerce(setting, env[setting.env], setting.env)
            origin = "env"
        elif setting.name in file_values:
            value = _coerce(setting, file_values[setting.name], str(path))
            origin = "file"
        else:
            value, origin = setting.default, "default"
        values[setting.name] = value
        origins[setting.name] = origin
    return Settings(values=values, origins=origins, config_path=path, config_loaded=loaded)


def remember_settings(values: Mapping[str, Any], path: Path | None = None) -> list[str]:
    """Add settings the config file does not have yet; return the names added.

    Lines are appended, never rewritten, so a hand-edited file keeps its comments and its
    own values win. A file holding a secret is made readable by its owner only.
    """
    path = path or default_config_path()
    current = read_config_file(path) if path.exists() else {}
    lines = []
    for name, value in values.items():
        setting = SETTINGS_BY_NAME[name]
        if value is None or name in current:
            continue
        # JSON string escapes are valid TOML basic-string escapes.
        lines.append(f"{name} = {json.dumps(value) if setting.type is str else int(value)}\n")
    if not lines:
        return []
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        if path.stat().st_size and not path.read_bytes().endswith(b"\n"):
            f.write("\n")
        f.writelines(lines)
    if any(SETTINGS_BY_NAME[line.split(" ", 1)[0]].secret for line in lines):
        path.chmod(0o600)
    return [line.split(" ", 1)[0] for line in lines]
