"""The LLM kernel: a client with structured output, retries, a cache and usage accounting, over chat backends."""

from .backends import CHAT_BACKENDS, ChatBackend
from .client import LLMClient, LLMResult, StructuredOutput, parse_json_object, strict_json_schema
from .errors import LLMCallFailed, LLMError, LLMOutputError, LLMUnavailable
from .factory import backend_kind, open_llm

__all__ = [
    "CHAT_BACKENDS",
    "ChatBackend",
    "LLMCallFailed",
    "LLMClient",
    "LLMError",
    "LLMOutputError",
    "LLMResult",
    "LLMUnavailable",
    "StructuredOutput",
    "backend_kind",
    "open_llm",
    "parse_json_object",
    "strict_json_schema",
]
