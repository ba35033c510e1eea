"""Where settings come from and how they are merged: defaults, ``dreval.toml``, ``DREVAL_*`` variables, then the
caller's overrides, with every invalid value reported in plain words and where it came from."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import ValidationError

from ..errors import DrevalError
from ..text import did_you_mean
from .settings import SECTIONS, Price, Settings, section_of
from .urls import is_openai_host

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIG_FILE_NAME = "dreval.toml"
ENV_PREFIX = "DREVAL_"


@dataclass(frozen=True)
class SettingProblem:
    """One invalid setting: its name, what is wrong in plain words, and where the value came from (the config
    file or the environment variable; None: the caller's overrides, i.e. a command-line option)."""

    name: str
    message: str
    origin: str | None = None

    def __str__(self) -> str:
        return f"{self.name}{f' ({self.origin})' if self.origin else ''}: {self.message}"


class ConfigError(DrevalError, ValueError):
    """Settings that cannot be used; the message says which and how to fix it. ``problems`` lists invalid values
    one by one, so a command can name the option the user typed instead of the setting."""

    def __init__(self, message: str, problems: tuple[SettingProblem, ...] = ()):
        super().__init__(message)
        self.problems = problems


_PLAIN_BOUNDS = {
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "more than"),
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "less than"),
}
_PLAIN_TYPES = {
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "int_type": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "missing": "is required",
}


def _unknown(loc: tuple[Any, ...]) -> str:
    """Why a key in ``loc`` is refused, with the known key it is closest to."""
    if len(loc) == 3 and loc[0] == "prices":
        return "is not a price rate" + did_you_mean(str(loc[-1]), Price.model_fields)
    return "is not a setting" + did_you_mean(str(loc[-1]), Settings.model_fields)


def plain_error(error: Mapping[str, Any]) -> str:
    """A pydantic error in the words of a message that follows the setting's name ("must be at least 1")."""
    kind, ctx = error.get("type", ""), error.get("ctx") or {}
    if kind == "extra_forbidden":
        return _unknown(tuple(error.get("loc", ())))
    if kind in _PLAIN_BOUNDS:
        key, words = _PLAIN_BOUNDS[kind]
        bound = ctx.get(key, "?")
        return f"must be {words} {bound:g}" if isinstance(bound, float) else f"must be {words} {bound}"
    if kind == "literal_error" and "expected" in ctx:
        return f"must be {ctx['expected']}"
    if kind in _PLAIN_TYPES:
        return _PLAIN_TYPES[kind]
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    # a validator's own message starts with the field it checks ("base_url must ..."); the caller names it
    subject = re.match(r"([a-z][a-z0-9_]*) (?=must\b|should\b|cannot\b|is\b|needs\b)", message)
    return message[subject.end() :] if subject and subject.group(1) in Settings.model_fields else message


# Keys read from the variables their services document, without the DREVAL_ prefix (prefixed ones also work).
_PLAIN_ENV = {"serper_api_key": "SERPER_API_KEY", "tavily_api_key": "TAVILY_API_KEY", "brave_api_key": "BRAVE_API_KEY"}


def _env_values(environ: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in Settings.model_fields:
        if name == "prices":
            continue
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = raw
    for name, variable in _PLAIN_ENV.items():
        if name not in values and environ.get(variable):
            values[name] = environ[variable]
    return values


# DREVAL_ variables that are not settings: read where they act
OTHER_VARIABLES = ("CONFIG", "LOCAL_VERBOSE", "TEST_ARTIFACTS")


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """One line for each ``DREVAL_*`` variable that no setting reads (a misspelt ``DREVAL_CONCURENCY`` would
    otherwise leave the default in force unseen), naming the closest setting's variable."""
    environ = os.environ if environ is None else environ
    names = [*(name.upper() for name in Settings.model_fields if name != "prices"), *OTHER_VARIABLES]
    known = [ENV_PREFIX + name for name in names]
    lines = []
    for variable in sorted(environ):
        if variable.startswith(ENV_PREFIX) and variable not in known:
            # matched without the prefix, which would make every name look close
            hint = did_you_mean(variable[len(ENV_PREFIX) :], names).replace("'", "'" + ENV_PREFIX, 1)
            lines.append(f"{variable} is not a dreval setting: ignored{hint}")
    return lines


def _file_values(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    values: dict[str, Any] = {}
    unknown = []
    for key, value in data.items():
        if key in SECTIONS and isinstance(value, dict):  # [judge], [fetch], ... tables hold their fields
            for name, inner in value.items():
                if name in Settings.model_fields and section_of(name) == key:
                    values[name] = inner
                elif name in Settings.model_fields:
                    unknown.append(f"{key}.{name} (it belongs in [{section_of(name)}])")
                else:
                    unknown.append(f"{key}.{name}{did_you_mean(name, Settings.model_fields)}")
        elif key in Settings.model_fields:
            values[key] = value
        else:
            unknown.append(key + did_you_mean(key, [*Settings.model_fields, *SECTIONS]))
    if unknown:
        raise ConfigError(
            f"config file {path} has unknown keys: {', '.join(sorted(unknown))} (see `dreval config` "
            "for the settings of each section)"
        )
    return values


@dataclass(frozen=True)
class ConfigSource:
    """The config file a run reads, how it was found, and whether it is trusted. A ``dreval.toml`` that merely sits
    in the working folder may have come with downloaded reports, so it is not trusted to send a key elsewhere or to
    open the fetch guard; a file the user named, or their own user config, is."""

    path: Path
    how: str
    trusted: bool = True

    def shown(self) -> str:
        """The path as the user would type it (``./dreval.toml`` for the one in the working folder)."""
        text = str(self.path)
        return text if self.path.is_absolute() or self.path.parent != Path(".") else f"./{text}"

    def describe(self) -> str:
        """The one line that says which file was read."""
        note = "" if self.trusted else "; not trusted for base URLs that receive a key, nor for allow_private_urls"
        return f"config: {self.shown()} ({self.how}{note})"


def user_config_file() -> Path:
    """The user's own ``dreval.toml`` (``~/.config/dreval/dreval.toml`` on Linux), found like the store's home."""
    return Path(platformdirs.user_config_dir("dreval")) / CONFIG_FILE_NAME


def find_config(config_file: Path | None = None, environ: Mapping[str, str] | None = None) -> ConfigSource | None:
    """The config file to read: the one named (``--config``, then ``DREVAL_CONFIG``), else ``./dreval.toml``
    (untrusted), else the user config; None when there is none."""
    environ = os.environ if environ is None else environ
    if config_file is not None:
        return ConfigSource(config_file, "named with --config")
    if environ.get(ENV_PREFIX + "CONFIG"):
        return ConfigSource(Path(environ[ENV_PREFIX + "CONFIG"]), "named by DREVAL_CONFIG")
    if Path(CONFIG_FILE_NAME).is_file():
        return ConfigSource(Path(CONFIG_FILE_NAME), "found in the working folder", trusted=False)
    user = user_config_file()
    return ConfigSource(user, "your user config") if user.is_file() else None


# Each URL that receives a key, with the key it receives: an untrusted file may set the URL only with its own key.
_KEYED_URLS = {
    "base_url": "api_key",
    "agent_base_url": "agent_api_key",
    "serper_url": "serper_api_key",
    "tavily_url": "tavily_api_key",
    "brave_url": "brave_api_key",
}


def _check_trust(source: ConfigSource, values: dict[str, Any], origins: dict[str, str | None]) -> None:
    """Refuse what an untrusted file may not do: point a URL at a key it did not set itself (the environment's, an
    option's), or allow private URLs. Settings overridden by the environment or an option are not the file's."""
    mine = f"in {source.path}"
    refused = []
    for url, key in _KEYED_URLS.items():
        if origins.get(url) == mine and values.get(key) and origins.get(key) != mine:
            refused.append(f"{section_of(url)}.{url} (it would receive {origins.get(key) or 'the key of an option'})")
    if origins.get("allow_private_urls") == mine and values["allow_private_urls"] is not False:
        refused.append("fetch.allow_private_urls")
    if refused:
        raise ConfigError(
            f"{source.shown()} was found in the working folder and is not trusted to set {', '.join(refused)}: "
            f"pass --config {source.shown()} to trust it, or move it to {user_config_file()}"
        )


def load_settings(
    config_file: Path | ConfigSource | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Merge defaults, the config file, the environment and explicit overrides (``None`` values are ignored). A file
    named here is trusted; without one, the file is found by ``find_config`` and may be untrusted."""
    environ = dict(os.environ) if environ is None else environ
    values: dict[str, Any] = {}
    origins: dict[str, str | None] = {}  # where each value came from, for error messages
    source = config_file if isinstance(config_file, ConfigSource) else find_config(config_file, environ)
    if source is not None:
        values.update(_file_values(source.path))
        origins.update(dict.fromkeys(values, f"in {source.path}"))
    from_env = _env_values(environ)
    values.update(from_env)
    origins.update(
        {
            k: _PLAIN_ENV[k] if k in _PLAIN_ENV and not environ.get(ENV_PREFIX + k.upper()) else ENV_PREFIX + k.upper()
            for k in from_env
        }
    )
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    values.update(given)
    origins.update(dict.fromkeys(given))
    # OPENAI_API_KEY only as a last resort, and only for OpenAI itself: never sent to another endpoint
    base_url = str(values.get("base_url") or "")
    if "api_key" not in values and environ.get("OPENAI_API_KEY") and (not base_url or is_openai_host(base_url)):
        values["api_key"] = environ["OPENAI_API_KEY"]
        origins["api_key"] = "OPENAI_API_KEY"
    if source is not None and not source.trusted:
        _check_trust(source, values, origins)
    return _validated(values, origins)


def with_overrides(settings: Settings, overrides: Mapping[str, Any]) -> Settings:
    """``settings`` with ``overrides`` applied and validated like any settings (``None`` values are ignored)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    return _validated({**settings.model_dump(), **given}, {}) if given else settings


def _validated(values: dict[str, Any], origins: Mapping[str, str | None]) -> Settings:
    """The settings, or a ``ConfigError`` naming every invalid or unknown one and where its value came from."""
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = tuple(
            SettingProblem(
                ".".join(str(p) for p in err["loc"]) or "settings",
                plain_error(err),
                origins.get(str(err["loc"][0])) if err["loc"] else None,
            )
            for err in exc.errors(include_url=False)
        )
        raise ConfigError(f"invalid settings: {'; '.join(map(str, problems))}", problems) from None
