"""Errors of LLM calls, shared by the client and every chat backend."""

from __future__ import annotations

from ..errors import EXIT_JUDGE, DrevalError
from ..schemas import Usage


class LLMError(DrevalError, RuntimeError):
    """A call that could not produce a valid answer. ``usage`` holds what the failed attempts consumed."""

    exit_code = EXIT_JUDGE

    def __init__(self, message: str, usage: Usage | None = None):
        super().__init__(message)
        self.usage = usage or Usage()


class LLMUnavailable(LLMError):
    """The endpoint cannot serve this run at all (unreachable, key rejected, unknown model, no credit)."""


class LLMOutputError(LLMError):
    """The model kept answering with output that does not match the schema."""


class LLMCallFailed(LLMError):
    """A call still failed after all retries (timeouts, server errors, rate limits, a rejected request)."""
