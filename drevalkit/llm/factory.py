"""Choosing and building the judge: which chat backend serves this run, and the client over it."""

from __future__ import annotations

from ..config import Settings
from ..store import Store
from .backends import CHAT_BACKENDS, ProgressFactory
from .client import LLMClient


def backend_kind(settings: Settings) -> str:
    """``auto`` means an endpoint when one is configured (a base URL, or a key with a model), else the local model."""
    if settings.backend != "auto":
        return settings.backend
    return "openai" if settings.base_url or (settings.api_key and settings.model) else "local"


def _load_builtin_backends() -> None:
    from .backends import local, openai  # noqa: F401 - registering is the import's effect


def open_llm(settings: Settings, store: Store | None = None, on_progress: ProgressFactory | None = None) -> LLMClient:
    """The judge for these settings; raises ``LLMUnavailable`` with a one-line reason when there is none."""
    _load_builtin_backends()
    factory = CHAT_BACKENDS.get(backend_kind(settings))
    return LLMClient(settings, factory(settings, on_progress), store)
