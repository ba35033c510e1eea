"""The embedded judge: a GGUF model run in-process with xllamacpp (llama.cpp), behind the same ChatBackend interface
as an OpenAI-compatible endpoint, so structured output, retries, the cache and usage accounting work unchanged.

xllamacpp serves OpenAI-shaped chat completions in-process, with JSON-schema constrained decoding and prompt-prefix
reuse. With ``local_parallel`` slots (each of ``local_context`` tokens), requests in different slots are decoded
together in one batch, which on a CPU costs less than decoding them one after the other; ``SlotRouter`` keeps
requests that share a prompt prefix in one slot, where llama.cpp reuses the prefix. The slot count changes speed
only, never the judge's identity or cache keys. The model loads on first use, in a thread.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

from openai.types.chat import ChatCompletion
from pydantic import ValidationError

from ...config import Settings
from ..errors import LLMCallFailed, LLMUnavailable
from ..gguf import GGUFError, context_length
from ..local_model import INSTALL_LOCAL, LocalModel, LocalModelError, resolve_local_model
from . import CHAT_BACKENDS, ProgressFactory

# Request fields the in-process server understands; others (e.g. the OpenAI client's extras) are dropped.
_FIELDS = ("messages", "max_tokens", "temperature", "seed", "response_format", "top_p", "stop")
# A prompt prefix this long (about 128 tokens) takes longer to evaluate again in another slot than decoding two
# answers together saves on a CPU (benchmarks/local_judge.py): a request sharing it waits for the slot holding it.
SHARED_PREFIX_CHARS = 512
# JSON as Python's json.dumps writes it by default, on one line (", " and ": " between tokens, no other space): the
# pretty-printed JSON these models write unforced spent about a tenth of the demo's generated tokens on newlines and
# indents (benchmarks/local_judge.py), and this layout, the commonest in their training, changes least what they say.
JSON_LAYOUT = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}


def available_cpus() -> int:
    """CPUs this process may use (affinity and container limits), not the host's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _trained_context(model: LocalModel) -> int:
    """The context length the model was trained with, from its GGUF metadata (``local_context = 0``)."""
    try:
        length = context_length(model.path)
    except (OSError, GGUFError) as exc:
        raise LLMUnavailable(f"cannot read the context length of {model.path}: {exc}") from None
    if not length:
        raise LLMUnavailable(f"{model.path} does not say its context length: set local_context to a number")
    return length


def _shared_prefix(a: str, b: str) -> int:
    """Length of the common prefix of ``a`` and ``b`` (a binary search of slice comparisons: C speed)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


class SlotRouter:
    """The llama.cpp slot of each request. llama.cpp reuses a prompt prefix only in the slot that holds it: a request
    that shares at least ``SHARED_PREFIX_CHARS`` with a slot's last prompt goes to that slot, even busy (llama.cpp
    queues it); any other to the least busy slot, of those the one used longest ago (its prompt is the least likely
    to be needed again)."""

    def __init__(self, slots: int):
        self._prompts = [""] * slots
        self._busy = [0] * slots
        self._used = [0] * slots  # when each slot was last given a request
        self._clock = 0

    def take(self, prompt: str) -> int:
        shared = [_shared_prefix(prompt, last) for last in self._prompts]
        slots = range(len(shared))
        slot = max(slots, key=lambda i: (shared[i], -self._busy[i]))
        if shared[slot] < SHARED_PREFIX_CHARS:
            slot = min(slots, key=lambda i: (self._busy[i], self._used[i]))
        self._clock += 1
        self._prompts[slot], self._used[slot] = prompt, self._clock
        self._busy[slot] += 1
        return slot

    def release(self, slot: int) -> None:
        self._busy[slot] -= 1


@lru_cache(maxsize=256)
def _grammar(schema_json: str) -> str:
    """llama.cpp's grammar for a JSON schema, in the ``JSON_LAYOUT`` (llguidance's ``x-guidance``)."""
    import xllamacpp

    schema = {**json.loads(schema_json), "x-guidance": JSON_LAYOUT}
    return str(xllamacpp.json_schema_to_grammar(schema))


def compact_json_request(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with its ``json_schema`` response format sent as a grammar that writes the JSON on one line, in the
    ``JSON_LAYOUT``: the same JSON, fewer tokens to generate. Unchanged if the schema cannot be converted here (the
    runtime then reports the problem itself)."""
    response_format = body.get("response_format") or {}
    schema = (response_format.get("json_schema") or {}).get("schema")
    if response_format.get("type") != "json_schema" or not isinstance(schema, dict):
        return body
    try:
        grammar = _grammar(json.dumps(schema))  # key order kept: it is the order the model writes
    except Exception:  # noqa: BLE001 - the converter reports an unsupported schema with several types
        return body
    if not grammar.startswith("%llguidance"):  # a GBNF grammar would not know the whitespace setting
        return body
    return {**{k: v for k, v in body.items() if k != "response_format"}, "grammar": grammar}


def prompt_text(messages: list[dict[str, Any]]) -> str:
    """The messages as one text, in the order the model reads them (for comparing prefixes)."""
    return "\n".join(f"{m.get('role')}\n{m.get('content')}" for m in messages)


class LocalChatBackend:
    name = "local"
    endpoint = "in-process (xllamacpp)"
    max_concurrency: int | None  # 1: one request at a time; None: the concurrency setting (llama.cpp queues them)
    context_tokens: int | None  # what one request may use (one slot)

    def __init__(self, model: LocalModel, settings: Settings):
        self.local = model
        self.model = model.label
        self.model_sha256 = model.sha256
        self.identity = model.sha256  # the exact weights
        self._context = settings.local_context or _trained_context(model)
        self.context_tokens = self._context
        self._threads = settings.local_threads or available_cpus()
        self._slots = settings.local_parallel
        # with slots, more requests than slots are sent: one queued for a busy slot must not hold up a free one
        self.max_concurrency = 1 if self._slots == 1 else None
        self._requests = 1 if self._slots == 1 else max(settings.concurrency, self._slots)
        self._router = SlotRouter(self._slots)
        self._server: Any = None
        self._load_lock = threading.Lock()
        self._workers: ThreadPoolExecutor | None = None

    def _params(self) -> Any:
        """llama.cpp's settings: the model, the slots and the context of each, the threads."""
        try:
            import xllamacpp
        except ImportError:
            raise LLMUnavailable(f"the local judge needs xllamacpp: {INSTALL_LOCAL}") from None
        params = xllamacpp.CommonParams()
        params.model.path = str(self.local.path)
        params.n_ctx = self._context * self._slots  # llama.cpp divides it across the slots
        params.n_parallel = self._slots
        params.cpuparams.n_threads = self._threads
        params.cpuparams_batch.n_threads = self._threads
        params.warmup = False
        params.verbosity = -1 if not os.environ.get("DREVAL_LOCAL_VERBOSE") else 3
        return params

    def _load(self) -> Any:
        with self._load_lock:
            if self._server is not None:
                return self._server
            params = self._params()
            import xllamacpp

            try:
                self._server = xllamacpp.Server(params)
            except Exception as exc:  # noqa: BLE001 - the runtime reports load failures with several types
                raise LLMUnavailable(f"cannot load the local model {self.local.path}: {exc}") from None
            return self._server

    async def check(self) -> None:
        await asyncio.to_thread(self._load)

    async def create(self, request: dict[str, Any]) -> ChatCompletion:
        server = await asyncio.to_thread(self._load)
        if self._workers is None:
            # a thread per request, blocked for its whole generation: threads of their own, so that the default
            # executor, which the store and the document workers share, is never starved
            self._workers = ThreadPoolExecutor(self._requests, thread_name_prefix="dreval-local")
        body = compact_json_request({key: request[key] for key in _FIELDS if key in request})
        slot = body["id_slot"] = self._router.take(prompt_text(body.get("messages") or []))
        try:
            answer = await asyncio.get_running_loop().run_in_executor(
                self._workers, server.handle_chat_completions, body
            )
        except Exception as exc:  # noqa: BLE001 - e.g. a schema the runtime cannot turn into a grammar
            raise LLMCallFailed(f"the local model could not run the request: {exc}") from None
        finally:
            self._router.release(slot)
        if not isinstance(answer, dict) or "error" in answer:
            error = answer.get("error") if isinstance(answer, dict) else answer
            message = str(error.get("message", error) if isinstance(error, dict) else error)
            if "context size" in message:
                message += f" (local_context: tokens per request, {self._slots} at once)"
            raise LLMCallFailed(f"the local model rejected the request: {message}")
        try:
            return ChatCompletion.model_validate(answer)
        except ValidationError as exc:
            raise LLMCallFailed(f"the local model returned an unexpected answer: {exc.errors()[0]['msg']}") from None

    async def close(self) -> None:
        if self._workers is not None:
            self._workers.shutdown(wait=False)
            self._workers = None
        self._server = None


@CHAT_BACKENDS.register("local")
def make_local_backend(settings: Settings, on_progress: ProgressFactory | None = None) -> LocalChatBackend:
    try:
        model = resolve_local_model(settings.local_model, settings.home, on_progress=on_progress)
    except (LocalModelError, OSError) as exc:
        raise LLMUnavailable(str(exc)) from None
    return LocalChatBackend(model, settings)
