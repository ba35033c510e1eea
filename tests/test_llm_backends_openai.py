"""The openai backend's answers as the client reads them: a whole chat completion (validated in one pass), one a
server wrote without the fields dreval does not use (constructed the SDK's lenient way), and a page that is no
chat completion at all (a clear error, as before); and the two HTTP transports under the SDK (its httpx pool,
aiohttp's when the fast extra is installed) sending the same request and failing the same ways."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import socket
import threading
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from drevalkit.llm import LLMCallFailed, LLMUnavailable, open_llm
from drevalkit.llm.backends.openai import OpenAIChatBackend, completion_of
from drevalkit.llm.client import LLMClient
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


# -- the HTTP transports under the SDK: its httpx pool, and aiohttp's (the fast extra) when it is installed --------

needs_aiohttp = pytest.mark.skipif(importlib.util.find_spec("aiohttp") is None, reason="openai[aiohttp] not installed")
TRANSPORTS = ["httpx", pytest.param("aiohttp", marks=needs_aiohttp)]


def _through(settings, transport):
    """One structured call through the whole client (retries, usage, errors) over ``transport``."""

    async def go():
        backend = OpenAIChatBackend(settings, transport)
        assert backend.transport == transport
        client = LLMClient(settings, backend)
        try:
            return await client.structured(MESSAGES, Verdict)
        finally:
            await client.close()

    return asyncio.run(go())


class _RawReply(threading.Thread):
    """A TCP server on 127.0.0.1 that reads each request's head and answers ``reply`` bytes (b"": hangs up)."""

    def __init__(self, reply: bytes):
        super().__init__(daemon=True)
        self.reply = reply
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.model = "judge"

    def run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data and (chunk := conn.recv(65536)):
                    data += chunk
                conn.sendall(self.reply)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_each_transport_sends_the_same_request_and_reads_the_same_answer(make_settings, transport):
    with FakeOpenAIServer() as server:
        result = _through(make_settings(server, cache=False), transport)
        with FakeOpenAIServer() as other:
            expected = _through(make_settings(other, cache=False), "httpx")
    assert server.requests == other.requests and len(server.requests) == 1
    assert result.value == expected.value
    assert result.usage.calls == 1 and result.usage.prompt_tokens > 0
    assert result.usage.model_dump(exclude={"latency_s"}) == expected.usage.model_dump(exclude={"latency_s"})


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_each_transport_retries_an_error_status_and_a_timeout(make_settings, transport):
    with FakeOpenAIServer(hang_seconds=3.0) as server:
        server.faults.extend(["500", "timeout"])
        result = _through(make_settings(server, cache=False, timeout=0.5, max_retries=2), transport)
        assert (result.usage.calls, result.usage.retries, len(server.requests)) == (1, 2, 3)
        server.faults.append("timeout")
        with pytest.raises(LLMCallFailed, match=r"no answer within 0\.5s; gave up after 1 attempts"):
            _through(make_settings(server, cache=False, timeout=0.5, max_retries=0), transport)
        server.faults.append("echo_key")  # a 400 that is not about the request's format: not retried
        with pytest.raises(LLMCallFailed, match=r"rejected the request \(HTTP 400\)"):
            _through(make_settings(server, cache=False, max_retries=2), transport)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("reply", [b"", b"garbage\r\n\r\n", None])
def test_each_transport_reports_a_dead_or_broken_endpoint_unreachable(make_settings, transport, reply):
    """A server that hangs up, one that answers no HTTP, and no server at all: connection errors, retried and then
    reported unreachable (aiohttp's adapter in the SDK would say 'timed out', or let aiohttp's own error out)."""
    server = _RawReply(reply or b"")
    server.start()
    if reply is None:
        server.sock.close()  # the port is closed: the connection is refused
    try:
        settings = make_settings(server, cache=False, max_retries=1)
        with pytest.raises(LLMUnavailable, match="cannot reach the judge endpoint .* connection failed"):
            _through(settings, transport)
    finally:
        server.sock.close()


def test_the_aiohttp_transport_is_used_when_installed_and_asked_for_only_then(make_settings, monkeypatch):
    with FakeOpenAIServer() as server:
        settings = make_settings(server)
        expected = "aiohttp" if importlib.util.find_spec("aiohttp") else "httpx"
        assert OpenAIChatBackend(settings).transport == expected

        def missing(**_kwargs):  # what the SDK's DefaultAioHttpClient does without its extra
            raise RuntimeError("To use the aiohttp client you must have installed the package with the `aiohttp` extra")

        monkeypatch.setattr(openai, "DefaultAioHttpClient", missing)
        assert OpenAIChatBackend(settings).transport == "httpx"
        with pytest.raises(LLMUnavailable, match=r"needs the openai\[aiohttp\] extra"):
            OpenAIChatBackend(settings, "aiohttp")
