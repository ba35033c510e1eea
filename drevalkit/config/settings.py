"""The settings declaration: every field with its default, bounds, section and whether it can change a score.

Fields are grouped in sections (judge, local, search, fetch, factcheck, tasks, output, agent): ``dreval.toml`` takes
them flat or under ``[section]`` tables, and ``dreval config`` shows them by section. Each field declares whether it
can change a score; the config hash (and so the resume key) is computed from exactly those.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from ..layout import OutputLayout
from ..schemas import stable_hash
from .urls import check_base_url


def _declared(name: str) -> dict[str, Any]:
    """What ``setting`` declared for a field: its section, whether it can change a score, when it is used."""
    extra = Settings.model_fields[name].json_schema_extra
    return extra if isinstance(extra, dict) else {}


def score_fields() -> list[str]:
    """Names of the settings that can change a score."""
    return [name for name in Settings.model_fields if _declared(name).get("score")]


def section_of(name: str) -> str:
    """The section a setting belongs to: its ``[table]`` in ``dreval.toml`` and its group in ``dreval config``."""
    return str(_declared(name)["section"])


class Price(BaseModel):
    """Price in currency units per million tokens."""

    model_config = ConfigDict(extra="forbid")  # a misspelt rate would otherwise count as free

    input: float = 0.0
    cached_input: float | None = None
    output: float = 0.0

    def cost(self, prompt_tokens: int, cached_tokens: int, completion_tokens: int) -> float:
        cached_rate = self.input if self.cached_input is None else self.cached_input
        uncached = max(prompt_tokens - cached_tokens, 0)
        return (uncached * self.input + cached_tokens * cached_rate + completion_tokens * self.output) / 1e6


SECTIONS = ("judge", "local", "search", "fetch", "factcheck", "tasks", "output", "agent")


def setting(
    default: Any = None, *, section: str, score: bool = False, when: tuple[str, str] | None = None, **field: Any
) -> Any:
    """A settings field declared with its section and whether it can change a score. The config hash and the
    resume key are computed from the ``score=True`` fields, so they cannot drift from the code. ``when=(name,
    value)`` says the field is used only while setting ``name`` is ``value`` (a search backend's URL), so changing
    it re-scores only the runs that use it."""
    assert section in SECTIONS, section
    extra: dict[str, Any] = {"section": section, "score": score}
    if when is not None:
        extra["when"] = list(when)
    if "default_factory" in field:
        return Field(json_schema_extra=extra, **field)
    return Field(default=default, json_schema_extra=extra, **field)


class Settings(BaseModel):
    """Every setting of a run, validated once; ``config_hash`` covers exactly the ones that can change a score."""

    model_config = ConfigDict(extra="forbid")  # a misspelt setting is an error, never silently the default

    # judge: which model answers, and how it is asked
    backend: Literal["auto", "openai", "local"] = setting(
        "auto",
        section="judge",
        description="auto: the endpoint if DREVAL_BASE_URL or a key is set, else the local model",
    )
    base_url: str | None = setting(section="judge", description="OpenAI-compatible endpoint, e.g. http://host:8000/v1")
    api_key: SecretStr | None = setting(section="judge")
    model: str | None = setting(section="judge", score=True)
    cache_scope: str | None = setting(
        section="judge",
        description="share cached answers between endpoints that serve the same weights (replicas): "
        "give them the same name; by default answers are cached per endpoint",
    )
    context_tokens: int = setting(
        131072,
        section="judge",
        score=True,
        ge=512,
        description="the endpoint model's context window, in tokens: a report whose judging prompt and answer "
        "do not fit is judged on its start (the result says so)",
    )
    concurrency: int = setting(8, section="judge", ge=1, description="concurrent requests per LLM endpoint")
    timeout: float = setting(300.0, section="judge", gt=0, description="seconds per LLM call")
    max_retries: int = setting(6, section="judge", ge=0, description="retries on 429/5xx/timeouts/connection errors")
    invalid_retries: int = setting(2, section="judge", ge=0, description="extra attempts when the output is invalid")
    backoff_base: float = setting(1.0, section="judge", ge=0)
    backoff_max: float = setting(60.0, section="judge", ge=0)
    structured_output: Literal["auto", "json_schema", "json_object", "text"] = setting(
        "auto", section="judge", score=True
    )
    temperature: float | None = setting(section="judge", score=True, ge=0, le=2)
    max_tokens: int = setting(4096, section="judge", score=True, ge=16)
    seed: int = setting(0, section="judge", score=True)
    samples: int = setting(1, section="judge", score=True, ge=1, le=50)
    prices: dict[str, Price] = setting(section="judge", default_factory=dict)
    # the embedded local model
    local_model: Path | None = setting(section="local", description="GGUF file for the local backend")
    local_context: int = setting(
        16384,
        section="local",
        score=True,
        ge=0,
        description="context window of the local model in tokens; 0: as much as the model "
        "supports (its trained context length)",
    )
    local_threads: int | None = setting(section="local", ge=1, description="CPU threads for the local model")
    local_parallel: int = setting(
        2,
        section="local",
        ge=1,
        le=16,
        description="requests the local model decodes together (llama.cpp slots, each holding local_context "
        "tokens); 1: one at a time",
    )
    # fact-checking: search
    search: str = setting(
        "local",
        section="search",
        score=True,
        description="search backend: local, serper, searxng, tavily, brave (or a plug-in)",
    )
    search_results: int = setting(5, section="search", score=True, ge=1, le=20, description="results per query")
    search_concurrency: int = setting(4, section="search", ge=1)
    search_timeout: float = setting(
        15.0,
        section="search",
        gt=0,
        description="seconds a search may take: a search API's connect and read timeout, the cap on a local search",
    )
    serper_url: str = setting(
        "https://google.serper.dev/search", section="search", score=True, when=("search", "serper")
    )
    searxng_url: str | None = setting(section="search", score=True, when=("search", "searxng"))
    tavily_url: str = setting("https://api.tavily.com/search", section="search", score=True, when=("search", "tavily"))
    brave_url: str = setting(
        "https://api.search.brave.com/res/v1/web/search", section="search", score=True, when=("search", "brave")
    )
    serper_api_key: SecretStr | None = setting(section="search")
    tavily_api_key: SecretStr | None = setting(section="search")
    brave_api_key: SecretStr | None = setting(section="search")
    # fact-checking: fetching pages
    allow_private_urls: bool = setting(False, section="fetch", score=True)
    fetch_concurrency: int = setting(16, section="fetch", ge=1)
    fetch_per_host: int = setting(2, section="fetch", ge=1)
    fetch_timeout: float = setting(15.0, section="fetch", gt=0, description="connect and read timeout, seconds")
    fetch_total_timeout: float = setting(30.0, section="fetch", gt=0, description="cap on one fetch, seconds")
    fetch_max_mb: float = setting(
        10.0,
        section="fetch",
        score=True,
        gt=0,
        description="cap on a page's (decompressed) size and on a file that 'dreval "
        "corpus add' indexes, in MiB (2^20 bytes)",
    )
    fetch_max_redirects: int = setting(5, section="fetch", score=True, ge=0)
    extract_max_html_chars: int = setting(
        1_500_000,
        section="fetch",
        score=True,
        ge=10_000,
        description="markup of a page handed to the extractor; a longer page is cut (its note says so) and its "
        "text after the cut is no evidence",
    )
    extract_timeout: float = setting(
        20.0,
        section="fetch",
        gt=0,
        description="seconds one extraction in a worker process may take (a PDF is read for half of it); a page "
        "over it fails for this run only",
    )
    extract_memory_mb: int = setting(
        512,
        section="fetch",
        score=True,
        ge=64,
        description="address-space limit of an extraction worker, in MiB (POSIX); a page that needs more fails",
    )
    extract_workers: int = setting(
        2, section="fetch", ge=1, description="extraction worker processes, and so pages extracted at once"
    )
    # fact-checking: claims and verification
    max_claims: int = setting(40, section="factcheck", score=True, ge=1)
    evidence_per_claim: int = setting(
        5, section="factcheck", score=True, ge=1, le=20, description="passages shown per claim (cited first)"
    )
    rounds: int = setting(2, section="factcheck", score=True, ge=1, le=5)
    reverify: bool = setting(
        True,
        section="factcheck",
        score=True,
        description="send a verdict back once when its quote is not in its evidence or its "
        "figures differ from the quote",
    )
    embedding_model: str | None = setting(
        section="factcheck", score=True, description="sentence-transformers model path for ranking"
    )
    # task generation (dreval generate-tasks); none of these changes a score
    generator_model: str | None = setting(
        section="tasks", description="model that writes personas and tasks (default: model)"
    )
    answer_model: str | None = setting(
        section="tasks",
        description="model that answers each task without search "
        "for the necessity filter (default: judge_model, else model)",
    )
    judge_model: str | None = setting(
        section="tasks", description="model that judges the two task filters (default: model)"
    )
    task_candidates: int = setting(4, section="tasks", ge=1, le=12, description="candidate tasks per persona")
    task_language: str = setting(
        "en",
        section="tasks",
        pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?$",
        description="language of generated tasks (a code: en, zh, de, pt-BR, ...)",
    )
    qualification_threshold: float = setting(
        0.7,
        section="tasks",
        ge=0,
        le=1,
        description="keep a task the qualification judge says needs deep research with at least this confidence",
    )
    necessity_threshold: float = setting(
        0.7,
        section="tasks",
        ge=0,
        le=1,
        description="keep a task whose no-search answer scores at most this quality (0-1)",
    )
    dedup_method: Literal["auto", "embedding", "lexical"] = setting(
        "auto",
        section="tasks",
        description="near-duplicate detection: embedding (sentence-transformers), "
        "lexical, or auto (embedding when installed)",
    )
    dedup_threshold: float | None = setting(
        section="tasks",
        gt=0,
        le=1,
        description="similarity at which two tasks are near-duplicates (default 0.85 embedding, 0.5 lexical)",
    )
    searchability_min_results: int = setting(
        3, section="tasks", ge=1, description="distinct results a kept task's key queries must return"
    )
    searchability_min_domains: int = setting(2, section="tasks", ge=1, description="distinct web sites among them")
    searchability_queries: int = setting(3, section="tasks", ge=1, le=8, description="key queries searched per task")
    revalidate_days: int = setting(
        180,
        section="tasks",
        ge=1,
        description="a time-sensitive task is due for revalidation this many days after it was generated",
    )
    # output and storage
    out: Path = setting(Path("dreval-out"), section="output")
    home: Path = setting(section="output", default_factory=lambda: Path(platformdirs.user_cache_dir("dreval")))
    cache: bool = setting(True, section="output", description="read and write the LLM response cache")
    max_report_mb: float = setting(
        5.0, section="output", gt=0, description="cap on a report file's size, in MB (10^6 bytes)"
    )
    # the agent runner (dreval run-agent): the agent's own endpoint, separate from the judge's, and its limits
    agent_base_url: str | None = setting(section="agent", description="OpenAI-compatible endpoint of the agent model")
    agent_api_key: SecretStr | None = setting(section="agent")
    agent_model: str | None = setting(section="agent", description="agent model name as its endpoint knows it")
    agent_protocol: str = setting(
        "openai-tools", section="agent", description="how tools are offered: openai-tools, mirothinker (or a plug-in)"
    )
    agent_concurrency: int = setting(4, section="agent", ge=1, description="tasks run at once")
    agent_max_turns: int = setting(
        50, section="agent", ge=1, description="model calls per task before the final report is asked for"
    )
    agent_time_cap: float = setting(1800.0, section="agent", gt=0, description="seconds of research per task")
    agent_context_tokens: int = setting(
        131072, section="agent", ge=1024, description="context budget of the agent model in tokens"
    )
    agent_timeout: float = setting(600.0, section="agent", gt=0, description="seconds per agent model call")
    agent_max_tokens: int | None = setting(
        section="agent",
        ge=16,
        description="tokens per turn (default: the protocol's, 8192 for openai-tools and 16384 for mirothinker)",
    )
    agent_temperature: float | None = setting(section="agent", ge=0, le=2, description="default: the protocol's")
    agent_top_p: float | None = setting(section="agent", gt=0, le=1, description="default: the protocol's")
    agent_repetition_penalty: float | None = setting(
        section="agent", gt=0, description="sent as an extra body field; default: the protocol's"
    )
    agent_keep_tool_results: int = setting(
        5,
        section="agent",
        ge=-1,
        description="tool results kept verbatim in what is sent, older ones replaced by a placeholder; -1 keeps all",
    )
    agent_max_tool_chars: int = setting(
        100_000, section="agent", ge=1000, description="a tool result longer than this is cut, with a marker"
    )
    agent_page_chars: int = setting(
        20_000, section="agent", ge=500, description="characters of a read page given to the agent"
    )
    agent_extract: Literal["off", "agent", "judge"] = setting(
        "off",
        section="agent",
        description="summarise read pages with an 'extract what was asked' call to the "
        "agent's model or the judge's; off: the page text cut to agent_page_chars",
    )
    agent_max_failures: int = setting(
        3, section="agent", ge=1, description="malformed or repeated tool calls in a row that end a task"
    )

    @field_validator("local_context")
    @classmethod
    def _check_local_context(cls, value: int) -> int:
        if 0 < value < 512:
            raise ValueError("local_context must be 0 (the model's own maximum) or at least 512 tokens")
        return value

    @field_validator("base_url", "agent_base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        return check_base_url(value.strip()).rstrip("/") if value and value.strip() else None

    def judge_temperature(self) -> float:
        """Greedy for one sample; some randomness when repeated samples should show the judge's spread."""
        if self.temperature is not None:
            return self.temperature
        return 0.0 if self.samples == 1 else 0.7

    def config_hash(self) -> str:
        """Hash of every field declared ``score=True`` that this run uses (the judge temperature as it will be
        used; a backend's URL only when that backend is chosen)."""
        values = {name: getattr(self, name) for name in score_fields() if self.in_use(name)}
        values["temperature"] = self.judge_temperature()
        return stable_hash(values)

    def in_use(self, name: str) -> bool:
        """False for a setting that only matters with another backend than the one chosen."""
        when = _declared(name).get("when")
        return when is None or getattr(self, when[0]) == when[1]

    def secrets(self) -> list[str]:
        """The value of every secret setting that is set (judge, agent and search keys), for ``redact_secrets``."""
        values = (getattr(self, name) for name in type(self).model_fields)
        return [value.get_secret_value() for value in values if isinstance(value, SecretStr) and value]

    def price_for(self, model: str) -> Price | None:
        return self.prices.get(model)

    @property
    def layout(self) -> OutputLayout:
        return OutputLayout(self.out)

    @property
    def store_path(self) -> Path:
        return self.home / "store.sqlite3"

    @property
    def fetch_max_bytes(self) -> int:
        """``fetch_max_mb`` in bytes, for every reader of it (the fetcher, ``dreval corpus add``): one unit, MiB."""
        return int(self.fetch_max_mb * 1024 * 1024)
