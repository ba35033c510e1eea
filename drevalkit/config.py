"""One settings object, from (lowest to highest priority) defaults, ``dreval.toml``, ``DREVAL_*`` env vars, CLI options."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import platformdirs
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator

from .schemas import stable_hash

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIG_FILE_NAME = "dreval.toml"
ENV_PREFIX = "DREVAL_"


def redact_url(url: str) -> str:
    """A URL without credentials, query string or fragment: safe for messages, logs and results."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "(invalid URL)"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if port:
        host = f"{host}:{port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


class ConfigError(ValueError):
    """Settings that cannot be used; the message says which and how to fix it."""


class Price(BaseModel):
    """Price in currency units per million tokens."""

    input: float = 0.0
    cached_input: float | None = None
    output: float = 0.0

    def cost(self, prompt_tokens: int, cached_tokens: int, completion_tokens: int) -> float:
        cached_rate = self.input if self.cached_input is None else self.cached_input
        uncached = max(prompt_tokens - cached_tokens, 0)
        return (uncached * self.input + cached_tokens * cached_rate + completion_tokens * self.output) / 1e6


class Settings(BaseModel):
    backend: Literal["auto", "openai", "local"] = Field(
        default="auto", description="auto: the endpoint if DREVAL_BASE_URL or a key is set, else the local model"
    )
    base_url: str | None = None
    api_key: SecretStr | None = None
    model: str | None = None
    concurrency: int = Field(default=8, ge=1, description="concurrent requests per LLM endpoint")
    local_model: Path | None = Field(default=None, description="GGUF file for the local backend")
    local_context: int = Field(default=16384, ge=512, description="context window of the local model, tokens")
    local_threads: int | None = Field(default=None, ge=1, description="CPU threads for the local model")
    timeout: float = Field(default=300.0, gt=0, description="seconds per LLM call")
    max_retries: int = Field(default=6, ge=0, description="retries on 429/5xx/timeouts/connection errors")
    invalid_retries: int = Field(default=2, ge=0, description="extra attempts when the output is invalid")
    backoff_base: float = Field(default=1.0, ge=0)
    backoff_max: float = Field(default=60.0, ge=0)
    structured_output: Literal["auto", "json_schema", "json_object", "text"] = "auto"
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int = Field(default=4096, ge=16)
    seed: int = 0
    samples: int = Field(default=1, ge=1, le=50)
    out: Path = Path("dreval-out")
    home: Path = Field(default_factory=lambda: Path(platformdirs.user_cache_dir("dreval")))
    cache: bool = True
    max_report_mb: float = Field(default=5.0, gt=0)
    prices: dict[str, Price] = Field(default_factory=dict)
    # fact-checking: search
    search: str = Field(default="local", description="search backend: local, serper, searxng, tavily, brave")
    search_results: int = Field(default=5, ge=1, le=20, description="results per query")
    search_concurrency: int = Field(default=4, ge=1)
    serper_url: str = "https://google.serper.dev/search"
    searxng_url: str | None = None
    tavily_url: str = "https://api.tavily.com/search"
    brave_url: str = "https://api.search.brave.com/res/v1/web/search"
    serper_api_key: SecretStr | None = None
    tavily_api_key: SecretStr | None = None
    brave_api_key: SecretStr | None = None
    # fact-checking: fetching pages
    allow_private_urls: bool = False
    fetch_concurrency: int = Field(default=16, ge=1)
    fetch_per_host: int = Field(default=2, ge=1)
    fetch_timeout: float = Field(default=15.0, gt=0, description="connect and read timeout, seconds")
    fetch_total_timeout: float = Field(default=30.0, gt=0, description="cap on one fetch, seconds")
    fetch_max_mb: float = Field(default=10.0, gt=0, description="cap on a page's (decompressed) size")
    fetch_max_redirects: int = Field(default=5, ge=0)
    # fact-checking: claims and verification
    max_claims: int = Field(default=40, ge=1)
    evidence_per_claim: int = Field(default=5, ge=1, le=20, description="passages shown per claim (cited first)")
    rounds: int = Field(default=2, ge=1, le=5)
    embedding_model: str | None = Field(default=None, description="sentence-transformers model path for ranking")

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    def judge_temperature(self) -> float:
        """Greedy for one sample; some randomness when repeated samples should show the judge's spread."""
        if self.temperature is not None:
            return self.temperature
        return 0.0 if self.samples == 1 else 0.7

    def endpoint_label(self) -> str:
        """The endpoint without credentials or query string, safe to record in results and messages."""
        return redact_url(self.base_url) if self.base_url else ""

    def config_hash(self) -> str:
        """Hash of the settings that can change a score (not secrets, paths or concurrency)."""
        return stable_hash(
            {
                "model": self.model,
                "temperature": self.judge_temperature(),
                "max_tokens": self.max_tokens,
                "seed": self.seed,
                "samples": self.samples,
                "search": self.search,
                "search_results": self.search_results,
                "max_claims": self.max_claims,
                "rounds": self.rounds,
                "evidence_per_claim": self.evidence_per_claim,
            }
        )

    def price_for(self, model: str) -> Price | None:
        return self.prices.get(model)

    @property
    def store_path(self) -> Path:
        return self.home / "store.sqlite3"


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
    unknown = sorted(set(data) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(f"config file {path} has unknown keys: {', '.join(unknown)}")
    return data


def load_settings(
    config_file: Path | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Merge defaults, the config file, the environment and explicit overrides (``None`` values are ignored)."""
    environ = dict(os.environ) if environ is None else environ
    values: dict[str, Any] = {}
    if config_file is None and environ.get(ENV_PREFIX + "CONFIG"):
        config_file = Path(environ[ENV_PREFIX + "CONFIG"])
    if config_file is None and Path(CONFIG_FILE_NAME).is_file():
        config_file = Path(CONFIG_FILE_NAME)
    if config_file is not None:
        values.update(_file_values(config_file))
    values.update(_env_values(environ))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    # OPENAI_API_KEY only as a last resort, and only for OpenAI itself: never sent to another endpoint
    base_url = str(values.get("base_url") or "")
    if "api_key" not in values and environ.get("OPENAI_API_KEY") and (not base_url or "api.openai.com" in base_url):
        values["api_key"] = environ["OPENAI_API_KEY"]
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors(include_url=False)
        )
        raise ConfigError(f"invalid settings: {problems}") from None
