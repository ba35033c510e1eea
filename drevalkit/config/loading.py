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

from pydantic import ValidationError

from ..errors import DrevalError
from .settings import SECTIONS, Settings, section_of
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


def plain_error(error: Mapping[str, Any]) -> str:
    """A pydantic error in the words of a message that follows the setting's name ("must be at least 1")."""
    kind, ctx = error.get("type", ""), error.get("ctx") or {}
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
                else:
                    unknown.append(f"{key}.{name}")
        elif key in Settings.model_fields:
            values[key] = value
        else:
            unknown.append(key)
    if unknown:
        raise ConfigError(
            f"config file {path} has unknown keys: {', '.join(sorted(unknown))} (see `dreval config` "
            "for the settings of each section)"
        )
    return values


def load_settings(
    config_file: Path | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Merge defaults, the config file, the environment and explicit overrides (``None`` values are ignored)."""
    environ = dict(os.environ) if environ is None else environ
    values: dict[str, Any] = {}
    origins: dict[str, str | None] = {}  # where each value came from, for error messages
    if config_file is None and environ.get(ENV_PREFIX + "CONFIG"):
        config_file = Path(environ[ENV_PREFIX + "CONFIG"])
    if config_file is None and Path(CONFIG_FILE_NAME).is_file():
        config_file = Path(CONFIG_FILE_NAME)
    if config_file is not None:
        values.update(_file_values(config_file))
        origins.update(dict.fromkeys(values, f"in {config_file}"))
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
