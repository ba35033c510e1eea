"""Chat backends: where completions come from (an OpenAI-compatible endpoint, the embedded local model, or a
plug-in registered under the ``drevalkit.chat_backends`` entry-point group)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ...config import Settings
from ...registry import Registry


class ChatBackend(Protocol):
    """Where chat completions come from: an OpenAI-compatible endpoint or the embedded local model."""

    name: str
    model: str  # the model's name in requests, results and cache keys
    endpoint: str  # where it runs, safe to print (no credentials)
    identity: str  # what distinguishes the weights behind ``model`` (endpoint or file hash), for cache keys
    model_sha256: str
    max_concurrency: int | None  # a cap of the backend itself (the local model generates one answer at a time)
    context_tokens: int | None  # the context window, when the backend knows it

    async def create(self, request: dict[str, Any]) -> Any:
        """A chat completion (the SDK's ChatCompletion type); raises openai errors or an ``LLMError``."""

    async def check(self) -> None:
        """Raise ``LLMUnavailable`` with a one-line reason when the backend cannot serve this run."""

    async def close(self) -> None: ...


# A factory builds a backend from settings; ``on_progress(description, total)`` reports long preparation (e.g.
# assembling a model file) and returns a callback fed with units done.
ProgressFactory = Callable[[str, int], Callable[[int], None]]
BackendFactory = Callable[[Settings, ProgressFactory | None], ChatBackend]
CHAT_BACKENDS: Registry[BackendFactory] = Registry("chat backend", "drevalkit.chat_backends")
