"""One settings object, from (lowest to highest priority) defaults, ``dreval.toml``, ``DREVAL_*`` env vars, CLI options.

``settings`` declares the fields (with their sections and whether they can change a score, from which the config
hash is computed), ``loading`` reads and merges the sources, ``urls`` checks and redacts endpoint URLs.
"""

from .loading import (
    CONFIG_FILE_NAME,
    ENV_PREFIX,
    ConfigError,
    ConfigSource,
    SettingProblem,
    find_config,
    load_settings,
    plain_error,
    unknown_variables,
    user_config_file,
    with_overrides,
)
from .settings import SECTIONS, Price, Settings, score_fields, section_of, setting
from .urls import OPENAI_DEFAULT_URL, check_base_url, is_openai_host, redact_url

__all__ = [
    "CONFIG_FILE_NAME",
    "ENV_PREFIX",
    "OPENAI_DEFAULT_URL",
    "SECTIONS",
    "ConfigError",
    "ConfigSource",
    "Price",
    "SettingProblem",
    "Settings",
    "check_base_url",
    "find_config",
    "is_openai_host",
    "load_settings",
    "plain_error",
    "redact_url",
    "score_fields",
    "section_of",
    "setting",
    "unknown_variables",
    "user_config_file",
    "with_overrides",
]
