"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks.

It answers ``/v1/chat/completions`` with JSON generated from the request's schema (``response_format`` json_schema,
or a schema block in the prompt for json_object / text mode), deterministically per request. It can inject faults
(429 with Retry-After, 500, hangs, invalid JSON, garbage, truncation, schema violations), reject structured-output
modes like servers without json_schema support, and simulate latency (prefill and decode rates) with a prefix cache,
reporting ``cached_tokens`` the way vLLM, SGLang and OpenAI do; ``max_sequences`` bounds how many requests are
computed at once (the rest queue), as on a GPU server. ``timeline`` records when each answered request arrived and
was answered, so tests can check ordering (e.g. that the first judging call finished before the others started).

``python -m drevalkit.testing.openai_server [--responder judge|tasks|both]`` serves it as a stand-in judge for a
person to try dreval without a model (see ``main``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from drevalkit.testing import rule_judge
from drevalkit.testing.base import JSONHandler, LocalHTTPServer
from drevalkit.testing.task_llm import TaskScript

_TOKEN = re.compile(r"\w+|[^\w\s]")
_SCHEMA_BLOCK = re.compile(r"```json\n(\{.*\})\n```", re.DOTALL)
FAULT_KINDS = ("429", "500", "timeout", "invalid_json", "garbage", "truncated", "schema_violation")
BLOCK = 16


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def _fraction(*parts: str) -> float:
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def fake_value(schema: dict[str, Any], defs: dict[str, Any], seed: str, path: str = "") -> Any:
    """A deterministic value that validates against ``schema``."""
    if "$ref" in schema:
        return fake_value(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, seed, path)
    if "anyOf" in schema:
        return fake_value(schema["anyOf"][0], defs, seed, path)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {key: fake_value(sub, defs, seed, f"{path}.{key}") for key, sub in schema.get("properties", {}).items()}
    if kind == "array":
        low, high = schema.get("minItems", 1), schema.get("maxItems", 4)
        count = max(low, min(high, 3))
        return [fake_value(schema.get("items", {}), defs, seed, f"{path}[{i}]") for i in range(count)]
    if kind in ("number", "integer"):
        low = schema.get("minimum", 0)
        high = schema.get("maximum", low + 10)
        value = low + (high - low) * (0.35 + 0.6 * _fraction(seed, path))
        return int(round(value)) if kind == "integer" else round(value, 1)
    if kind == "boolean":
        return _fraction(seed, path) > 0.5
    name = path.rsplit(".", 1)[-1] or "text"
    return f"{name.replace('_', ' ')} {int(_fraction(seed, path) * 1000)}"


class PrefixCache:
    """Block-level prefix cache over token sequences, like vLLM's automatic prefix caching."""

    def __init__(self, capacity_blocks: int = 200_000):
        self.capacity = capacity_blocks
        self._blocks: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _chain(tokens: list[str]) -> list[str]:
        hashes, running = [], hashlib.sha256()
        for start in range(0, len(tokens) - len(tokens) % BLOCK, BLOCK):
            running.update("\x00".join(tokens[start : start + BLOCK]).encode("utf-8"))
            hashes.append(running.copy().hexdigest())
        return hashes

    def lookup(self, tokens: list[str]) -> tuple[int, list[str]]:
        chain = self._chain(tokens)
        hit = 0
        with self._lock:
            for block in chain:
                if block not in self._blocks:
                    break
                self._blocks.move_to_end(block)
                hit += 1
        return hit * BLOCK, chain

    def insert(self, chain: list[str]) -> None:
        with self._lock:
            for block in chain:
                self._blocks[block] = None
                self._blocks.move_to_end(block)
            while len(self._blocks) > self.capacity:
                self._blocks.popitem(last=False)


class FakeOpenAIServer(LocalHTTPServer):
    def __init__(
        self,
        model: str = "test-judge",
        *,
        fault_rate: float = 0.0,
        fault_kinds: tuple[str, ...] = FAULT_KINDS,
        seed: int = 0,
        reject_formats: tuple[str, ...] = (),
        hang_seconds: float = 5.0,
        prefill_tokens_per_s: float | None = None,
        decode_tokens_per_s: float | None = None,
        prefix_cache: bool = True,
        max_sequences: int | None = None,
    ):
        self.model = model
        self.fault_rate = fault_rate
        self.fault_kinds = fault_kinds
        self.faults: deque[str] = deque()
        self.reject_formats = set(reject_formats)
        self.hang_seconds = hang_seconds
        self.prefill_rate = prefill_tokens_per_s
        self.decode_rate = decode_tokens_per_s
        self.cache = PrefixCache() if prefix_cache else None
        # A GPU server runs a bounded batch of sequences at once; the rest queue (None: unbounded).
        self.max_sequences = max_sequences
        self._slots = threading.BoundedSemaphore(max_sequences) if max_sequences else None
        # (received, answered, request body) of every completion answered 200, for ordering checks
        self.timeline: list[tuple[float, float, dict[str, Any]]] = []
        self.responder: Callable[[dict[str, Any]], str | None] | None = None
        self.requests: list[dict[str, Any]] = []
        self.completions = 0
        # seconds of simulated computation (prefill and decode sleeps) over every answered request: with
        # ``max_sequences`` at once, no client can be served in less than simulated_s / max_sequences
        self.simulated_s = 0.0
        self.faults_injected: list[str] = []
        self._rng = random.Random(seed)
        self.authorization = threading.local()  # the Authorization header of the request this thread answers
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAIServer:
        server = self

        class Handler(JSONHandler):
            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": "not found"}})
                    return
                server.authorization.value = self.headers.get("authorization", "")  # for the echo_key fault
                status, payload, headers = server.handle_chat(body)
                self._send(status, payload, headers)

        return self._serve(Handler)

    # -- behaviour -------------------------------------------------------------------------------------------
    def _next_fault(self) -> str | None:
        with self._lock:
            if self.faults:
                return self.faults.popleft()
            if self.fault_rate and self._rng.random() < self.fault_rate:
                return self._rng.choice(self.fault_kinds)
        return None

    @staticmethod
    def _schema_of(body: dict[str, Any]) -> dict[str, Any] | None:
        response_format = body.get("response_format") or {}
        if response_format.get("type") == "json_schema":
            return response_format["json_schema"]["schema"]
        match = _SCHEMA_BLOCK.search(body["messages"][-1]["content"])
        return json.loads(match.group(1)) if match else None

    def handle_chat(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        received = time.perf_counter()
        with self._lock:
            self.requests.append(body)
        if body.get("model") != self.model:
            return 404, {"error": {"message": f"model {body.get('model')!r} not found", "type": "not_found"}}, {}
        format_type = (body.get("response_format") or {}).get("type", "text")
        if format_type in self.reject_formats:
            return 400, {"error": {"message": f"response_format {format_type} is not supported"}}, {}

        fault = self._next_fault()
        if fault:
            with self._lock:
                self.faults_injected.append(fault)
        if fault == "429":
            return 429, {"error": {"message": "rate limited", "type": "rate_limit"}}, {"retry-after": "0"}
        if fault == "500":
            return 500, {"error": {"message": "internal error"}}, {}
        if fault == "echo_key":  # as OpenAI rejects a key: whole, then cut short (not in FAULT_KINDS' random pick)
            key = getattr(self.authorization, "value", "").removeprefix("Bearer ")
            message = f"Incorrect API key provided: {key}. Your key starts {key[:12]}...{key[-4:]}"
            return 400, {"error": {"message": message, "type": "invalid_request_error"}}, {}
        if fault == "timeout":
            time.sleep(self.hang_seconds)
            return 504, {"error": {"message": "gateway timeout"}}, {}

        if self._slots is None:
            return self._complete(body, fault, received)
        with self._slots:
            return self._complete(body, fault, received)

    def _complete(
        self, body: dict[str, Any], fault: str | None, received: float
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        prompt_text = "\n".join(f"<{m['role']}>{m['content']}" for m in body["messages"])
        tokens = _TOKEN.findall(prompt_text)
        cached, chain = self.cache.lookup(tokens) if self.cache else (0, [])
        prefill_s = (len(tokens) - cached) / self.prefill_rate if self.prefill_rate else 0.0
        time.sleep(prefill_s)
        if self.cache:
            self.cache.insert(chain)

        seed = hashlib.sha256(
            (prompt_text + str(body.get("seed")) + str(body.get("response_format"))).encode("utf-8")
        ).hexdigest()
        content = self.responder(body) if self.responder else None
        finish_reason = "stop"
        if content is None:
            schema = self._schema_of(body)
            content = json.dumps(fake_value(schema, schema.get("$defs", {}), seed)) if schema else "OK"
        if fault == "invalid_json":
            content = content[: max(1, len(content) // 2)] + " ,,}"
        elif fault == "garbage":
            content = "I am happy to help! The report looks excellent overall."
        elif fault == "truncated":
            content, finish_reason = content[: len(content) // 3], "length"
        elif fault == "schema_violation":
            content = json.dumps({"unexpected": True})
        completion_tokens = count_tokens(content)
        decode_s = completion_tokens / self.decode_rate if self.decode_rate else 0.0
        time.sleep(decode_s)
        with self._lock:
            self.completions += 1
            self.simulated_s += prefill_s + decode_s
            self.timeline.append((received, time.perf_counter(), body))
        return (
            200,
            {
                "id": f"chatcmpl-{seed[:12]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}
                ],
                "usage": {
                    "prompt_tokens": len(tokens),
                    "completion_tokens": completion_tokens,
                    "total_tokens": len(tokens) + completion_tokens,
                    "prompt_tokens_details": {"cached_tokens": cached},
                },
            },
            {},
        )


RESPONDERS = ("judge", "tasks", "both")


def make_responder(kind: str) -> Callable[[dict[str, Any]], str | None]:
    """The ``responder`` of a stand-in judge: ``judge`` (the rule-based fact-check judge: claim extraction and
    verification), ``tasks`` (the scripted LLM of ``dreval generate-tasks``) or ``both`` (the task script for the
    task-generation prompts, the rule judge for the rest). Whatever neither answers (rubrics, quality scores) gets
    the server's deterministic schema-filled values."""
    if kind == "judge":
        return rule_judge.respond
    if kind == "tasks":
        return TaskScript()
    if kind != "both":
        raise ValueError(f"unknown responder {kind!r}: one of {', '.join(RESPONDERS)}")
    script = TaskScript()

    def both(body: dict[str, Any]) -> str | None:
        # TaskScript answers only its own schemas (TaskDrafts, Qualification, ...) and rule_judge only
        # ExtractedClaims / BatchVerdicts, so the first that answers is the right one.
        answer = script(body)
        return answer if answer is not None else rule_judge.respond(body)

    return both


_ANSWERS = {
    "judge": "claim extraction and verification by fixed rules",
    "tasks": "the dreval generate-tasks prompts from a script",
    "both": "the dreval generate-tasks prompts from a script, claim extraction and verification by fixed rules",
}


def main(argv: list[str] | None = None) -> None:
    """Serve a stand-in judge so a person can try dreval's stages without a model, GPU or API key: prints its base
    URL and model name, then serves until interrupted (Ctrl-C, or kill). Its scores and verdicts are not
    judgements: rubrics and quality scores are deterministic values filled in from the request's schema."""
    parser = argparse.ArgumentParser(prog="python -m drevalkit.testing.openai_server", description=main.__doc__)
    parser.add_argument(
        "--responder",
        choices=RESPONDERS,
        default="judge",
        help="what answers: judge (rule-based fact-check judge, default), tasks (scripted task generation) or both",
    )
    parser.add_argument(
        "--model",
        default="stand-in-judge",
        help="the model name it answers to, shown in every result (default stand-in-judge)",
    )
    args = parser.parse_args(argv)
    server = FakeOpenAIServer(model=args.model)
    server.responder = make_responder(args.responder)
    with server:
        print(
            f"stand-in judge (rule-based, not a model) at {server.url}  model {server.model}  "
            f"responder {args.responder}",
            flush=True,
        )
        print(
            f"  answers {_ANSWERS[args.responder]}; rubrics and quality scores are schema-filled placeholder values",
            flush=True,
        )
        print(f"  DREVAL_BASE_URL={server.url} DREVAL_MODEL={server.model} dreval score ...", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
