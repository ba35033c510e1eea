"""Any OpenAI-compatible chat endpoint (OpenAI, OpenRouter, vLLM, SGLang, Ollama, llama.cpp server)."""

from __future__ import annotations

import asyncio
import json
from functools import partial
from typing import Any

import openai
import pydantic_core
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion
from pydantic import ValidationError

from ...config import OPENAI_DEFAULT_URL, Settings, redact_url
from ...text import redact_secrets
from ..errors import LLMUnavailable
from . import CHAT_BACKENDS, ProgressFactory

# requests one SDK client sends at once before the next is opened (see OpenAIChatBackend._least_busy)
REQUESTS_PER_CLIENT = 32


class OpenAIChatBackend:
    name = "openai"
    model_sha256 = ""
    max_concurrency: int | None = None  # the settings decide

    def __init__(self, settings: Settings):
        if not settings.model:
            raise LLMUnavailable("no judge model set: pass --model or set DREVAL_MODEL")
        self.model = settings.model
        self.base_url = settings.base_url or OPENAI_DEFAULT_URL
        self.endpoint = redact_url(self.base_url)  # for messages: never the credentials a URL may carry
        # Two servers can serve different weights under one model alias: answers are cached per endpoint unless
        # the user names deliberate replicas of one model with a shared ``cache_scope``.
        self.identity = settings.cache_scope or self.endpoint
        self.context_tokens: int | None = settings.context_tokens
        self._check_timeout = min(settings.timeout, 15.0)
        self._secrets = settings.secrets()
        api_key = settings.api_key.get_secret_value() if settings.api_key else "not-needed"
        self._open = partial(
            AsyncOpenAI, base_url=self.base_url, api_key=api_key, max_retries=0, timeout=settings.timeout
        )
        self._clients = [self._open()]
        self._in_flight = [0]  # requests each client is sending now

    async def create(self, request: dict[str, Any]) -> Any:
        # The SDK's documented lower-level request: ``chat.completions.create`` would walk the whole typed request
        # (a report-sized prompt, a schema) to transform it, 3 ms of CPU a call for a body already in wire form.
        # The body goes as JSON bytes written by pydantic-core: the bytes the SDK's json.dumps writes, in a fifth
        # of the time (15 against 75 us for a 14 KB prompt). Timeouts, retries (none: the client retries), status
        # errors and the bearer key are the client's, as they were; the answer comes back as bytes, made a
        # ChatCompletion by ``completion_of``.
        content = pydantic_core.to_json(request)
        index = self._least_busy()
        self._in_flight[index] += 1
        try:
            body = await self._clients[index].post(
                "/chat/completions", content=content, cast_to=bytes, options={"security": {"bearer_auth": True}}
            )
        finally:
            self._in_flight[index] -= 1
        return completion_of(body)

    def _least_busy(self) -> int:
        """The client sending the fewest requests, a new one when each sends ``REQUESTS_PER_CLIENT``: the SDK's
        connection pool (httpcore's) walks all its connections and waiting requests on every request and answer,
        so one pool's CPU per call grows with the calls in flight (1.8 ms at 256, 1.3 in pools of 32 or fewer:
        benchmarks/llm_transport.py). The clients are alike; the calls in flight stay the client's bound."""
        index = min(range(len(self._clients)), key=self._in_flight.__getitem__)
        if self._in_flight[index] < REQUESTS_PER_CLIENT:
            return index
        self._clients.append(self._open())
        self._in_flight.append(0)
        return len(self._clients) - 1

    async def close(self) -> None:
        await asyncio.gather(*(client.close() for client in self._clients))

    async def check(self) -> None:
        try:
            models = await self._clients[0].with_options(timeout=self._check_timeout, max_retries=1).models.list()
        except openai.AuthenticationError as exc:
            raise LLMUnavailable(
                f"the judge endpoint {self.endpoint} rejected the API key ({exc.status_code})"
            ) from None
        except openai.APIConnectionError as exc:
            reason = redact_secrets(str(exc.__cause__ or exc), self._secrets)
            raise LLMUnavailable(f"cannot reach the judge endpoint {self.endpoint}: {reason}") from None
        except openai.APIStatusError:
            return  # many servers do not implement /models; the first real call will tell
        except Exception as exc:  # noqa: BLE001 - the SDK fails in many ways on a body that is not its API's
            raise LLMUnavailable(
                f"{self.endpoint} does not answer like an OpenAI-compatible API ({type(exc).__name__}); "
                "check --base-url (it usually ends in /v1)"
            ) from None
        if not hasattr(models, "data"):
            raise LLMUnavailable(f"{self.endpoint} does not answer like an OpenAI-compatible API; check --base-url")


def completion_of(body: bytes) -> ChatCompletion | str:
    """The ChatCompletion of a response body: validated by pydantic-core in one pass (8 us for a verdict batch),
    where the SDK's lenient construction walks the types in Python (140 us); a body that does not validate (a
    server that leaves a field out) is constructed the SDK's way, and one that is not a JSON object comes back as
    its text, as the SDK returns it."""
    try:
        return ChatCompletion.model_validate_json(body)
    except ValidationError:
        pass
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict):
        return ChatCompletion.construct(**data)
    return body.decode("utf-8", "replace")


@CHAT_BACKENDS.register("openai")
def make_openai_backend(settings: Settings, on_progress: ProgressFactory | None = None) -> OpenAIChatBackend:
    if not settings.base_url and not settings.api_key:
        from ..local_model import GET_A_JUDGE

        raise LLMUnavailable(GET_A_JUDGE)
    return OpenAIChatBackend(settings)
