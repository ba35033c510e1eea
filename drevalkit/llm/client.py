"""LLM client: structured output from any OpenAI-compatible endpoint, with retries, caching and usage accounting.

Structured output uses ``response_format: json_schema`` when the server supports it and falls back to
``json_object`` or plain text (schema in the prompt, validation, a repair turn) when it does not. Every valid answer
is cached in the store, keyed by model, messages, schema, parameters and sample index, so a repeated run makes no
calls. Transient failures (429, 5xx, timeouts, dropped connections) are retried with jittered exponential backoff
that honours ``Retry-After``; invalid output is retried a bounded number of times and then fails explicitly.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar

import openai
from pydantic import BaseModel, ValidationError

from ..config import Settings
from ..retry import backoff_delay, retry_after_seconds
from ..schemas import JudgeInfo, Usage, stable_hash
from ..store import Store
from ..text import redact_secrets
from .backends import ChatBackend
from .errors import LLMCallFailed, LLMError, LLMOutputError, LLMUnavailable

T = TypeVar("T", bound=BaseModel)

STRUCTURED_MODES = ("json_schema", "json_object", "text")
_REPAIR_ECHO_CHARS = 4000
_RETRY_MAX_TOKENS = 32768  # a cut-off answer is retried with twice the tokens up to this (never below the setting)


@dataclass
class LLMResult(Generic[T]):
    value: T
    usage: Usage
    cached: bool


class _InvalidOutput(Exception):
    pass


def strict_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """JSON Schema of ``model`` in the strict form OpenAI, vLLM and SGLang accept: closed objects, all required."""
    schema = model.model_json_schema(by_alias=True)

    def tighten(node: Any) -> None:
        if isinstance(node, dict):
            node.pop("default", None)
            if "const" in node:  # single-value Literal: an enum of one is understood by every server
                node["enum"] = [node.pop("const")]
            if node.get("type") == "object" and "properties" in node:
                node["additionalProperties"] = False
                node["required"] = list(node["properties"])
            for value in node.values():
                tighten(value)
        elif isinstance(node, list):
            for value in node:
                tighten(value)

    tighten(schema)
    return schema


@lru_cache(maxsize=1024)
def _model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``strict_json_schema`` once per model class (milliseconds of pydantic work a call otherwise); never mutated."""
    return strict_json_schema(model)


@dataclass(frozen=True)
class StructuredOutput(Generic[T]):
    """What a structured call asks for when its schema varies per call: the ``model`` that validates the answer,
    the strict JSON ``schema`` sent (and part of the cache key), and the validation ``context`` with which the
    model's validators check what the schema constrains beyond the model (e.g. each claim's own evidence ids).
    A plain model class stands for ``StructuredOutput(model, strict_json_schema(model), None)``, built once."""

    model: type[T]
    schema: dict[str, Any]
    context: Any = None

    def validate(self, data: Any) -> T:
        return self.model.model_validate(data, context=self.context)

    def validate_json(self, text: str) -> T:
        return self.model.model_validate_json(text, context=self.context)


def _as_output(output: type[T] | StructuredOutput[T]) -> StructuredOutput[T]:
    return output if isinstance(output, StructuredOutput) else StructuredOutput(output, _model_schema(output))


# the content is stripped after the match: "\s*(.*?)\s*```$" was cubic in a run of spaces
_JSON_FENCE = re.compile(r"^```(?:json)?(.*)```$", re.DOTALL)


def parse_json_object(text: str) -> Any:
    """Parse a JSON object from model text, tolerating code fences and prose around it."""
    stripped = text.strip()
    fenced = _JSON_FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1).strip()
    try:
        return json.loads(stripped)
    except json.JSONDecodeError:
        start, end = stripped.find("{"), stripped.rfind("}")
        if start == -1 or end <= start:
            raise
        return json.loads(stripped[start : end + 1])


def _describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{where}: {err['msg']}")
    more = len(exc.errors()) - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _cache_hit_usage(stored: Any) -> Usage:
    """A cache hit spends nothing, but keeps what the answer cost when it was asked (the usage stored beside it;
    an answer cached by an older dreval may lack it), so judging costs stay comparable across systems."""

    def number(name: str) -> float:
        value = stored.get(name, 0) if isinstance(stored, dict) else 0
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else 0

    return Usage(
        cache_hits=1,
        from_cache_prompt_tokens=int(number("prompt_tokens")),
        from_cache_completion_tokens=int(number("completion_tokens")),
        from_cache_cost=float(number("cost")),
    )


# vLLM: "maximum context length"; SGLang: "longer than the model's context length"; llama.cpp: "exceeds the
# available context size" (type exceed_context_size_error); others: "context window", "too many tokens"
_OVERFLOW_WORDS = ("context length", "context window", "maximum context", "too many tokens", "context size")


def is_context_overflow(exc: openai.APIStatusError) -> bool:
    """A refusal because prompt and completion do not fit the model's context, in the words each server uses."""
    text = str(exc).lower()
    return any(word in text for word in _OVERFLOW_WORDS)


_FORMAT_WORDS = ("response_format", "json_schema", "json_object", "schema", "structured", "guided", "grammar")


def _is_format_rejection(exc: openai.APIStatusError) -> bool:
    """A 400/422 that blames the structured-output request (not the prompt, e.g. a content filter or its length)."""
    text = str(exc).lower()
    return exc.status_code in (400, 422) and not is_context_overflow(exc) and any(w in text for w in _FORMAT_WORDS)


class LLMClient:
    """One backend and model. Concurrency is bounded by one semaphore per client (one client per endpoint)."""

    def __init__(self, settings: Settings, backend: ChatBackend, store: Store | None = None):
        self.settings = settings
        self.backend = backend
        self.model = self.backend.model
        self.endpoint = self.backend.endpoint
        limit = self.backend.max_concurrency
        self._semaphore = asyncio.Semaphore(min(settings.concurrency, limit) if limit else settings.concurrency)
        self._store = store if settings.cache else None
        self._mode_index = (
            0
            if settings.structured_output in ("auto", "json_schema")
            else STRUCTURED_MODES.index(settings.structured_output)
        )
        self._auto_mode = settings.structured_output == "auto"
        self._secrets = settings.secrets()  # redacted from every error text an endpoint's answer goes into

    @property
    def mode(self) -> str:
        return STRUCTURED_MODES[self._mode_index]

    @property
    def judge_info(self) -> JudgeInfo:
        return JudgeInfo(
            model=self.model,
            endpoint=self.endpoint,
            backend=self.backend.name,
            model_sha256=self.backend.model_sha256,
            identity=self.backend.identity,
            structured_output=self.settings.structured_output,
        )

    async def close(self) -> None:
        await self.backend.close()

    async def check(self) -> None:
        """Fail fast with a one-line reason when the backend cannot serve this run."""
        await self.backend.check()

    def cache_key(self, messages: list[dict[str, str]], schema: dict[str, Any], params: dict[str, Any]) -> str:
        """Answers are shared only by calls to the same weights: the model name and the backend's identity (its
        endpoint, the local model's sha256, or a ``cache_scope`` the user gives deliberate replicas)."""
        return stable_hash(
            {
                "model": self.model,
                "identity": self.backend.identity,
                "backend": self.backend.name,
                "messages": messages,
                "schema": schema,
                "params": params,
            },
            64,
        )

    async def structured(
        self,
        messages: list[dict[str, str]],
        output: type[T] | StructuredOutput[T],
        *,
        sample: int = 0,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> LLMResult[T]:
        """Ask for an answer that validates against ``output``; raises an ``LLMError`` subclass on failure."""
        spec = _as_output(output)
        schema = spec.schema
        params = {
            "temperature": self.settings.judge_temperature() if temperature is None else temperature,
            "max_tokens": max_tokens or self.settings.max_tokens,
            "seed": self.settings.seed + sample,
            "sample": sample,
        }
        key = ""
        if self._store is not None:
            # hashing a report-sized prompt and reading the store: off the event loop, in one hop
            key, hit = await asyncio.to_thread(self._cached, self._store, messages, schema, params)
            if hit is not None:
                try:
                    value = spec.validate_json(hit[0])
                except ValidationError:
                    value = None
                if value is not None:
                    return LLMResult(value, _cache_hit_usage(hit[1]), cached=True)

        usage = Usage()
        try:
            value, content = await self._generate(messages, spec, params, usage)
        except LLMError as exc:
            usage.failed_calls += 1
            exc.usage = usage
            raise
        if self._store is not None:
            await self._store.arun(self._store.put_llm, key, self.model, content, usage.model_dump())
        return LLMResult(value, usage, cached=False)

    def _cached(
        self, store: Store, messages: list[dict[str, str]], schema: dict[str, Any], params: dict[str, Any]
    ) -> tuple[str, tuple[str, dict[str, Any]] | None]:
        """The call's cache key and the answer stored under it, if any."""
        key = self.cache_key(messages, schema, params)
        return key, store.get_llm(key)

    async def structured_or_reason(
        self,
        messages: list[dict[str, str]],
        output: type[T] | StructuredOutput[T],
        usage: Usage,
        *,
        sample: int = 0,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> T | str:
        """``structured`` for a call whose failure is one result's problem, not the run's: the answer, or the reason
        the call failed as text. What the call consumed is added to ``usage`` either way; ``LLMUnavailable`` (no
        call can succeed) still propagates."""
        try:
            result = await self.structured(
                messages, output, sample=sample, temperature=temperature, max_tokens=max_tokens
            )
        except LLMUnavailable:
            raise
        except LLMError as exc:
            usage.add(exc.usage)
            return str(exc)
        usage.add(result.usage)
        return result.value

    async def _generate(
        self, messages: list[dict[str, str]], output: StructuredOutput[T], params: dict[str, Any], usage: Usage
    ) -> tuple[T, str]:
        conversation = list(messages)
        max_tokens = params["max_tokens"]
        last_problem = ""
        for attempt in range(self.settings.invalid_retries + 1):
            usage.repairs += attempt > 0  # a new attempt after invalid output
            content, finish_reason = await self._complete(
                conversation, output.model.__name__, output.schema, params, max_tokens, usage
            )
            try:
                if finish_reason == "length":
                    raise _InvalidOutput(f"the answer was cut off at {max_tokens} tokens")
                value = output.validate(parse_json_object(content))
                return value, value.model_dump_json(by_alias=True)
            except json.JSONDecodeError as exc:
                last_problem = f"not valid JSON ({exc.msg} at position {exc.pos})"
            except ValidationError as exc:
                last_problem = f"does not match the schema ({_describe_validation_error(exc)})"
            except _InvalidOutput as exc:
                last_problem = str(exc)
                # more room for the next attempt, up to a cap, but never less than the caller asked for
                max_tokens = max(max_tokens, min(max_tokens * 2, _RETRY_MAX_TOKENS))
                continue
            conversation = conversation + [
                {"role": "assistant", "content": content[:_REPAIR_ECHO_CHARS]},
                {
                    "role": "user",
                    "content": f"That answer is {last_problem}. Reply again with only the corrected JSON object.",
                },
            ]
        raise LLMOutputError(f"model output invalid after {self.settings.invalid_retries + 1} attempts: {last_problem}")

    @staticmethod
    def _with_schema(messages: list[dict[str, str]], schema: dict[str, Any]) -> list[dict[str, str]]:
        """Append the schema to the last message, so the shared prefix (instructions, report) stays identical."""
        instruction = (
            "\n\nAnswer with a single JSON object, and nothing else, that conforms to this JSON Schema:\n"
            "```json\n" + json.dumps(schema, ensure_ascii=False) + "\n```"
        )
        last = dict(messages[-1])
        last["content"] = last["content"] + instruction
        return [*messages[:-1], last]

    def _response_format(self, name: str, schema: dict[str, Any]) -> dict[str, Any] | None:
        if self.mode == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": name[:64], "schema": schema, "strict": True}}
        if self.mode == "json_object":
            return {"type": "json_object"}
        return None

    def _request(
        self, messages: list[dict[str, str]], name: str, schema: dict[str, Any], params: dict[str, Any], max_tokens: int
    ) -> dict[str, Any]:
        """The request as the current structured-output mode sends it (the schema in the prompt unless the server
        enforces it)."""
        request: dict[str, Any] = {
            "model": self.model,
            "messages": messages if self.mode == "json_schema" else self._with_schema(messages, schema),
            "temperature": params["temperature"],
            "max_tokens": max_tokens,
            "seed": params["seed"],
        }
        response_format = self._response_format(name, schema)
        if response_format is not None:
            request["response_format"] = response_format
        return request

    async def _complete(
        self,
        messages: list[dict[str, str]],
        name: str,
        schema: dict[str, Any],
        params: dict[str, Any],
        max_tokens: int,
        usage: Usage,
    ) -> tuple[str, str | None]:
        """One chat completion with transient-error retries; returns (content, finish_reason).

        In ``auto`` mode a request the server rejects (400/422) moves the client to the next structured-output mode
        for good, and the call is sent again in that mode.
        """
        attempt = 0
        while True:
            mode_used = self._mode_index
            request = self._request(messages, name, schema, params, max_tokens)
            try:
                async with self._semaphore:
                    started = time.perf_counter()
                    response = await self.backend.create(request)
                    usage.latency_s += time.perf_counter() - started
            except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
                raise LLMUnavailable(f"the judge endpoint rejected the API key ({exc.status_code})") from None
            except openai.NotFoundError as exc:
                raise LLMUnavailable(
                    f"the judge endpoint {self.endpoint} has no model {self.model!r} or no chat API ({exc.status_code})"
                ) from None
            except openai.APIStatusError as exc:
                if exc.status_code == 429 and "insufficient_quota" in str(exc):
                    raise LLMUnavailable("the judge endpoint reports exhausted credit (insufficient_quota)") from None
                if _is_format_rejection(exc) and self._auto_mode and mode_used < len(STRUCTURED_MODES) - 1:
                    self._mode_index = max(self._mode_index, mode_used + 1)
                    continue
                if exc.status_code in (408, 409, 429) or exc.status_code >= 500:
                    attempt = await self._backoff(
                        attempt,
                        usage,
                        f"HTTP {exc.status_code}",
                        retry_after_seconds(exc.response.headers if exc.response is not None else None),
                    )
                    continue
                raise LLMCallFailed(
                    f"the judge rejected the request (HTTP {exc.status_code}): {short_error(exc, secrets=self._secrets)}"
                ) from None
            except openai.APITimeoutError:
                attempt = await self._backoff(attempt, usage, f"no answer within {self.settings.timeout:g}s", None)
                continue
            except openai.APIConnectionError as exc:
                try:
                    problem = redact_secrets(f"connection failed ({exc.__cause__ or exc})", self._secrets)
                    attempt = await self._backoff(attempt, usage, problem, None)
                except LLMCallFailed as failed:
                    raise LLMUnavailable(f"cannot reach the judge endpoint {self.endpoint}: {failed}") from None
                continue
            if not hasattr(response, "choices"):
                raise LLMUnavailable(
                    f"{self.endpoint} answered with something that is not a chat completion; "
                    "check --base-url (it usually ends in /v1)"
                )
            usage.calls += 1
            self._account(response, usage)
            if not response.choices:
                return "", None
            choice = response.choices[0]
            return choice.message.content or "", choice.finish_reason

    async def _backoff(self, attempt: int, usage: Usage, problem: str, retry_after: float | None) -> int:
        if attempt >= self.settings.max_retries:
            raise LLMCallFailed(f"{problem}; gave up after {attempt + 1} attempts")
        usage.retries += 1
        await asyncio.sleep(backoff_delay(attempt, self.settings.backoff_base, self.settings.backoff_max, retry_after))
        return attempt + 1

    def _account(self, response: Any, usage: Usage) -> None:
        price = self.settings.price_for(self.model)
        if price is None:
            usage.unpriced_calls += 1
        reported = getattr(response, "usage", None)
        if reported is None:
            return
        prompt = reported.prompt_tokens or 0
        completion = reported.completion_tokens or 0
        details = getattr(reported, "prompt_tokens_details", None)
        cached = (getattr(details, "cached_tokens", None) or 0) if details is not None else 0
        usage.prompt_tokens += prompt
        usage.completion_tokens += completion
        usage.cached_tokens += cached
        if price is not None:
            usage.cost += price.cost(prompt, cached, completion)


def short_error(exc: Exception, limit: int = 300, secrets: Iterable[str] = ()) -> str:
    """The error on one line, at most ``limit`` characters, with ``secrets`` (the keys the caller sent) redacted:
    an endpoint may echo the key it rejected ("Incorrect API key provided: sk-...")."""
    text = redact_secrets(" ".join(str(exc).split()), secrets)
    return text if len(text) <= limit else text[: limit - 3] + "..."
