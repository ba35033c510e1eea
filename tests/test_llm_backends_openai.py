"""The openai backend's answers as the client reads them: a whole chat completion (validated in one pass), one a
server wrote without the fields dreval does not use (constructed the SDK's lenient way), and a page that is no
chat completion at all (a clear error, as before)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from drevalkit.llm import LLMUnavailable, open_llm
from drevalkit.llm.backends.openai import OpenAIChatBackend, completion_of
from drevalkit.testing.base import JSONHandler, LocalHTTPServer
from drevalkit.testing.openai_server import FakeOpenAIServer


class Verdict(BaseModel):
    rationale: str
    score: int


ANSWER = json.dumps({"rationale": "fine", "score": 7})
MESSAGES = [{"role": "user", "content": "Judge this."}]


class _Answering(LocalHTTPServer):
    """Answers every chat request with ``payload`` (a dict as JSON, a str as an HTML page)."""

    model = "judge"

    def __init__(self, payload: Any):
        self.payload = payload

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> _Answering:
        server = self

        class Handler(JSONHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                self._send(200, server.payload)

        return self._serve(Handler)


def _ask(settings):
    async def go():
        client = open_llm(settings)
        try:
            return await client.structured(MESSAGES, Verdict)
        finally:
            await client.close()

    return asyncio.run(go())


def test_a_whole_completion_is_read_with_its_usage(make_settings):
    payload = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "judge",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": 40,
            "completion_tokens": 9,
            "total_tokens": 49,
            "prompt_tokens_details": {"cached_tokens": 32},
        },
    }
    with _Answering(payload) as server:
        result = _ask(make_settings(server, cache=False))
    assert result.value == Verdict(rationale="fine", score=7)
    assert (result.usage.calls, result.usage.prompt_tokens, result.usage.cached_tokens) == (1, 40, 32)
    assert result.usage.completion_tokens == 9


def test_a_completion_without_the_fields_dreval_does_not_use_is_read(make_settings):
    payload = {
        "choices": [{"message": {"content": ANSWER}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 40, "completion_tokens": 9},
    }
    assert completion_of(json.dumps(payload).encode()).created is None  # constructed: validation refuses it
    with _Answering(payload) as server:
        result = _ask(make_settings(server, cache=False))
    assert result.value == Verdict(rationale="fine", score=7)
    assert (result.usage.prompt_tokens, result.usage.completion_tokens, result.usage.cached_tokens) == (40, 9, 0)


@pytest.mark.parametrize("payload", ["<html><body>Welcome to nginx!</body></html>", [1, 2]])
def test_an_answer_that_is_no_chat_completion_says_so(make_settings, payload):
    with _Answering(payload) as server, pytest.raises(LLMUnavailable, match="not a chat completion"):
        _ask(make_settings(server, cache=False, max_retries=0))


def test_the_request_arrives_as_it_was_built(make_settings):
    """The body is written by pydantic-core, not the SDK: every character and number arrives as it was."""
    text = 'Zürich 東京 \u2028 tab\t quote" back\\slash \x00 😀 ' + "long " * 3000
    schema = Verdict.model_json_schema()
    request = {
        "model": "test-judge",
        "messages": [{"role": "system", "content": "Judge."}, {"role": "user", "content": text}],
        "temperature": 0.7,
        "max_tokens": 512,
        "seed": 12345678901,
        "response_format": {"type": "json_schema", "json_schema": {"name": "v", "schema": schema, "strict": True}},
    }

    async def send(backend):
        try:
            return await backend.create(request)
        finally:
            await backend.close()

    with FakeOpenAIServer() as server:
        completion = asyncio.run(send(OpenAIChatBackend(make_settings(server))))
    assert server.requests == [request]
    assert Verdict.model_validate_json(completion.choices[0].message.content)


def test_calls_in_flight_are_spread_over_clients_of_32_and_all_closed(make_settings):
    """One SDK client's connection pool costs more CPU per call the more calls it holds: past 32 in flight the
    backend opens another client. Every call is answered and counted, failed ones too, and close closes them all."""

    async def run(backend, count):
        try:
            completions = await asyncio.gather(
                *(backend.create(_request(i)) for i in range(count)), return_exceptions=True
            )
            return completions, list(backend._in_flight), [client.is_closed() for client in backend._clients]
        finally:
            await backend.close()

    with FakeOpenAIServer(decode_tokens_per_s=200) as server:  # answers take a while: all 80 are in flight at once
        server.faults.extend(["500"] * 5)
        backend = OpenAIChatBackend(make_settings(server))
        completions, in_flight, closed = asyncio.run(run(backend, 80))
    failed = [c for c in completions if isinstance(c, Exception)]
    assert len(failed) == 5 and all(isinstance(c, openai.InternalServerError) for c in failed)
    assert all(c.choices[0].message.content for c in completions if not isinstance(c, Exception))
    assert len(server.requests) == 80
    assert in_flight == [0, 0, 0] and closed == [False] * 3  # 80 at once: 32 + 32 + 16
    assert all(client.is_closed() for client in backend._clients)


def _request(i: int) -> dict[str, Any]:
    return {"model": "test-judge", "messages": [{"role": "user", "content": f"Say {i}."}], "max_tokens": 16}
