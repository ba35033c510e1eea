"""The agent's endpoint: raw chat completions (``tools``, ``tool_calls``, extra body fields) through the AsyncOpenAI
SDK, with the retries, backoff and error types of the judge's client.

Transient failures (408/409/429/5xx, timeouts, dropped connections) are retried with jittered exponential backoff
that honours ``Retry-After``, up to ``max_retries``; then the call raises ``LLMCallFailed``. An endpoint that cannot
serve the run at all (key rejected, unknown model, no credit, unreachable) raises ``LLMUnavailable``. A request the
server refuses because the conversation no longer fits its context raises ``ContextOverflow``. With a ``deadline``,
no attempt, wait or retry runs past it: ``DeadlineReached`` says the time cap came first.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import openai
from openai import AsyncOpenAI

from ..config import OPENAI_DEFAULT_URL, redact_url
from ..llm.client import is_context_overflow, short_error
from ..llm.errors import LLMCallFailed, LLMUnavailable
from ..retry import backoff_delay, retry_after_seconds
from ..text import redact_secrets


class ContextOverflow(LLMCallFailed):
    """The server refused the request because prompt and completion do not fit the model's context."""


class DeadlineReached(LLMCallFailed):
    """The task's time cap passed before the call could be answered."""


@dataclass
class RawToolCall:
    """A native tool call as the server sent it; ``arguments`` is the raw JSON text (it may be malformed)."""

    id: str
    name: str
    arguments: str


@dataclass
class Reply:
    content: str
    reasoning: str = ""  # reasoning_content, when the server splits the model's thinking off (a reasoning parser)
    tool_calls: list[RawToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    usage_reported: bool = False
    latency_s: float = 0.0
    retries: int = 0
    problems: list[str] = field(default_factory=list)  # what the retries were for


class AgentEndpoint:
    """One OpenAI-compatible endpoint and model, used by ``label`` ("agent", or "extraction") in messages."""

    def __init__(
        self,
        base_url: str | None,
        api_key: str | None,
        model: str,
        *,
        timeout: float,
        max_retries: int,
        backoff_base: float,
        backoff_max: float,
        label: str = "agent",
    ):
        self.model = model
        self.base_url = base_url or OPENAI_DEFAULT_URL
        self.endpoint = redact_url(self.base_url)
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.label = label
        self._secrets = [api_key] if api_key else []  # redacted from every error text made of an answer
        self._client = AsyncOpenAI(
            base_url=self.base_url, api_key=api_key or "not-needed", max_retries=0, timeout=timeout
        )

    async def close(self) -> None:
        await self._client.close()

    async def check(self) -> None:
        """Fail fast, in one line, when the endpoint cannot be used (unreachable, key rejected, not an API)."""
        try:
            models = await self._client.with_options(timeout=min(self.timeout, 15.0), max_retries=1).models.list()
        except openai.AuthenticationError as exc:
            raise LLMUnavailable(
                f"the {self.label} endpoint {self.endpoint} rejected the API key ({exc.status_code})"
            ) from None
        except openai.APIConnectionError as exc:
            raise LLMUnavailable(
                f"cannot reach the {self.label} endpoint {self.endpoint}: "
                f"{redact_secrets(str(exc.__cause__ or exc), self._secrets)}"
            ) from None
        except openai.APIStatusError:
            return  # many servers do not implement /models; the first real call will tell
        except Exception as exc:  # noqa: BLE001 - the SDK fails in many ways on a body that is not its API's
            raise LLMUnavailable(
                f"{self.endpoint} does not answer like an OpenAI-compatible API "
                f"({type(exc).__name__}); check --base-url (it usually ends in /v1)"
            ) from None
        if not hasattr(models, "data"):
            raise LLMUnavailable(f"{self.endpoint} does not answer like an OpenAI-compatible API; check --base-url")

    async def complete(self, request: dict[str, Any], *, deadline: float | None = None) -> Reply:
        """One chat completion (``request`` holds everything but the model), retried on transient failures."""
        attempt = 0
        retries = 0
        problems: list[str] = []
        kwargs = {"model": self.model, **request}
        while True:
            timeout = self.timeout
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DeadlineReached("the time cap was reached while waiting for the model")
                timeout = min(timeout, left)
            started = time.perf_counter()
            try:
                response = await self._client.chat.completions.create(**kwargs, timeout=timeout)
            except openai.APIStatusError as exc:
                failure = self._refusal(exc)
                if failure is not None:
                    raise failure from None
                headers = exc.response.headers if exc.response is not None else None
                problem = f"HTTP {exc.status_code}"
                attempt = await self._backoff(attempt, problem, retry_after_seconds(headers), deadline, problems)
                retries += 1
                continue
            except openai.APITimeoutError:
                if deadline is not None and time.monotonic() >= deadline - 0.01:
                    raise DeadlineReached("the time cap was reached while the model was answering") from None
                attempt = await self._backoff(attempt, f"no answer within {timeout:g}s", None, deadline, problems)
                retries += 1
                continue
            except openai.APIConnectionError as exc:
                try:
                    attempt = await self._backoff(
                        attempt,
                        redact_secrets(f"connection failed ({exc.__cause__ or exc})", self._secrets),
                        None,
                        deadline,
                        problems,
                    )
                except DeadlineReached:
                    raise
                except LLMCallFailed as failed:
                    raise LLMUnavailable(f"cannot reach the {self.label} endpoint {self.endpoint}: {failed}") from None
                retries += 1
                continue
            latency = time.perf_counter() - started
            if not hasattr(response, "choices"):
                raise LLMUnavailable(
                    f"{self.endpoint} answered with something that is not a chat completion; "
                    "check --base-url (it usually ends in /v1)"
                )
            reply = _reply(response)
            reply.latency_s, reply.retries, reply.problems = latency, retries, problems
            return reply

    def _refusal(self, exc: openai.APIStatusError) -> LLMCallFailed | LLMUnavailable | None:
        """The error to raise for an HTTP error that retrying cannot fix; None for one worth retrying."""
        if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
            return LLMUnavailable(f"the {self.label} endpoint rejected the API key ({exc.status_code})")
        if isinstance(exc, openai.NotFoundError):
            return LLMUnavailable(
                f"the {self.label} endpoint {self.endpoint} has no model {self.model!r} or no "
                f"chat API ({exc.status_code})"
            )
        if exc.status_code == 429 and "insufficient_quota" in str(exc):
            return LLMUnavailable(f"the {self.label} endpoint reports exhausted credit (insufficient_quota)")
        if exc.status_code in (400, 413, 422) and is_context_overflow(exc):
            return ContextOverflow(
                f"the {self.label} endpoint refused the request: it does not fit the "
                f"model's context ({short_error(exc, 200, self._secrets)})"
            )
        if exc.status_code in (408, 409, 429) or exc.status_code >= 500:
            return None
        return LLMCallFailed(
            f"the {self.label} endpoint rejected the request (HTTP {exc.status_code}): {short_error(exc, secrets=self._secrets)}"
        )

    async def _backoff(
        self, attempt: int, problem: str, retry_after: float | None, deadline: float | None, problems: list[str]
    ) -> int:
        problems.append(problem)
        if attempt >= self.max_retries:
            raise LLMCallFailed(f"{problem}; gave up after {attempt + 1} attempts")
        delay = backoff_delay(attempt, self.backoff_base, self.backoff_max, retry_after)
        if deadline is not None and time.monotonic() + delay >= deadline:
            raise DeadlineReached(f"the time cap was reached while retrying ({problem})")
        await asyncio.sleep(delay)
        return attempt + 1


def _reply(response: Any) -> Reply:
    reply = Reply(content="")
    usage = getattr(response, "usage", None)
    if usage is not None:
        reply.usage_reported = True
        reply.prompt_tokens = usage.prompt_tokens or 0
        reply.completion_tokens = usage.completion_tokens or 0
        details = getattr(usage, "prompt_tokens_details", None)
        reply.cached_tokens = (getattr(details, "cached_tokens", None) or 0) if details is not None else 0
    if not response.choices:
        return reply
    choice = response.choices[0]
    message = choice.message
    reply.finish_reason = choice.finish_reason
    reply.content = message.content or ""
    extra = getattr(message, "model_extra", None) or {}
    reasoning = getattr(message, "reasoning_content", None) or extra.get("reasoning_content") or extra.get("reasoning")
    reply.reasoning = reasoning if isinstance(reasoning, str) else ""
    for call in message.tool_calls or []:
        function = getattr(call, "function", None)
        if function is None:
            continue
        arguments = function.arguments
        if not isinstance(arguments, str):  # some servers send an object instead of its JSON text
            arguments = json.dumps(arguments)
        reply.tool_calls.append(RawToolCall(id=call.id or "", name=function.name or "", arguments=arguments or ""))
    return reply
