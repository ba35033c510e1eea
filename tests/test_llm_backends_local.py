"""The embedded local judge decodes ``local_parallel`` requests together in llama.cpp slots (the tiny SmolLM2 GGUF):
two requests really overlap, requests that share a prompt prefix stay in the slot that holds it, each call's usage is
counted, the judge's identity and cache keys do not depend on the slot count, each slot holds ``local_context``
tokens, and closing the backend stops llama.cpp's listener."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel, ConfigDict, Field

from drevalkit.config import Settings
from drevalkit.llm import LLMClient
from drevalkit.llm.backends.local import SHARED_PREFIX_CHARS, LocalChatBackend, SlotRouter
from drevalkit.llm.errors import LLMCallFailed
from drevalkit.llm.local_model import resolve_local_model

from .support import smollm2_model

COUNT = [{"role": "user", "content": "Count from 1 to 300, separated by commas."}]
TOKENS = 32  # a count to 300 does not stop before


def backend(home: Path, slots: int, context: int = 1024, model: Path | None = None) -> LocalChatBackend:
    settings = Settings(
        home=home, local_model=model or smollm2_model(), local_context=context, local_parallel=slots, local_threads=1
    )
    return LocalChatBackend(resolve_local_model(settings.local_model, settings.home), settings)


async def two_counts(chat: LocalChatBackend) -> list[tuple[float, dict]]:
    """Two requests sent at once: when each answer came back, and llama.cpp's timings of it."""

    async def count(seed: int) -> tuple[float, dict]:
        answer = await chat.create({"messages": COUNT, "max_tokens": TOKENS, "temperature": 0.0, "seed": seed})
        return time.perf_counter(), answer.model_extra["timings"]

    try:
        return list(await asyncio.gather(count(0), count(1)))
    finally:
        await chat.close()


@pytest.mark.parametrize("slots", [1, 2])
def test_two_slots_decode_two_requests_in_the_same_batches(tmp_path, slots):
    """With two slots both answers are decoded step by step together and come back together; with one, the second
    waits for the first, a whole decode later. Both runs are equally slowed by a busy machine."""
    pytest.importorskip("xllamacpp")
    chat = backend(tmp_path, slots)
    assert chat.max_concurrency == (1 if slots == 1 else None)  # with slots, the concurrency setting bounds requests
    (first, a), (second, b) = asyncio.run(two_counts(chat))
    assert a["predicted_n"] == b["predicted_n"] == TOKENS
    decode = min(a["predicted_ms"], b["predicted_ms"]) / 1000
    gap = abs(first - second)
    if slots == 1:
        assert gap > 0.8 * decode, (gap, decode)
    else:
        assert gap < 0.5 * decode, (gap, decode)


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str
    score: float = Field(ge=0, le=10)


def test_concurrent_structured_calls_each_count_their_usage(tmp_path):
    pytest.importorskip("xllamacpp")
    settings = Settings(
        home=tmp_path, local_model=smollm2_model(), local_context=1024, local_parallel=2, local_threads=1, max_tokens=64
    )
    chat = LocalChatBackend(resolve_local_model(settings.local_model, settings.home), settings)
    questions = [
        [{"role": "user", "content": f"Rate {city} as a capital city from 0 to 10. Answer in JSON."}]
        for city in ("Paris", "Oslo")
    ]

    async def ask():
        client = LLMClient(settings, chat)
        try:
            return await asyncio.gather(*(client.structured(q, Answer) for q in questions))
        finally:
            await client.close()

    results = asyncio.run(ask())
    for result in results:
        assert isinstance(result.value, Answer) and 0 <= result.value.score <= 10
        assert result.usage.calls == 1 and result.usage.prompt_tokens > 10 and result.usage.completion_tokens > 0
    assert results[0].usage.prompt_tokens == results[1].usage.prompt_tokens  # the same prompt but the city


def test_identity_cache_keys_and_config_hash_do_not_depend_on_the_slots(tmp_path):
    """The slot count changes how fast answers come, never which answers are cached or which judge gave them."""
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"GGUF" + b"\0" * 64)  # nothing is loaded: local_context is given, so no header is read
    messages = [{"role": "user", "content": "Rate Paris."}]
    schema = {"type": "object"}
    params = {"temperature": 0.0, "max_tokens": 64, "seed": 0, "sample": 0}
    seen = set()
    for slots in (1, 2, 4):
        settings = Settings(home=tmp_path, local_model=fake, local_context=1024, local_parallel=slots)
        chat = LocalChatBackend(resolve_local_model(fake, settings.home), settings)
        client = LLMClient(settings, chat)
        seen.add(
            (client.cache_key(messages, schema, params), client.judge_info.model_dump_json(), settings.config_hash())
        )
        assert chat.context_tokens == 1024
    assert len(seen) == 1


def test_each_slot_holds_local_context_tokens(tmp_path):
    """Two slots of 512 tokens: a prompt of about 700 tokens fits the 1024 they hold together but not one slot, and
    is refused with llama.cpp's numbers and the setting to change; a prompt that fits one slot is answered."""
    pytest.importorskip("xllamacpp")
    chat = backend(tmp_path, 2, context=512)
    assert chat.context_tokens == 512

    async def ask(words: int):
        return await chat.create({"messages": [{"role": "user", "content": "word " * words}], "max_tokens": 4})

    async def both():
        try:
            with pytest.raises(
                LLMCallFailed, match=r"exceeds the available context size \(512 tokens\).*local_context"
            ):
                await ask(700)
            return await ask(100)
        finally:
            await chat.close()

    answer = asyncio.run(both())
    assert 100 < answer.usage.prompt_tokens < 512


def test_closing_the_backend_stops_the_server(tmp_path):
    """xllamacpp's server also listens on a port of 127.0.0.1: nothing is left listening once the backend closes."""
    pytest.importorskip("xllamacpp")
    chat = backend(tmp_path, 2)

    async def run() -> str:
        await chat.check()
        address = chat._server.listening_address  # the port xllamacpp chose
        assert httpx.get(f"{address}/health", timeout=10).status_code == 200
        await chat.close()
        return address

    address = asyncio.run(run())
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{address}/health", timeout=2)


def test_requests_sharing_a_prefix_go_to_the_slot_that_holds_it():
    report = "A report. " * (SHARED_PREFIX_CHARS // 10 + 1)
    router = SlotRouter(3)
    first = router.take(report + "dimension 1")
    other = router.take("extract the claims")
    assert other != first  # nothing shared: an idle slot
    router.release(other)
    assert router.take(report + "dimension 2") == first  # waits for the busy slot that holds the report
    router.release(first)
    router.release(first)
    short = report[: SHARED_PREFIX_CHARS // 2] + "another report"  # too little shared to wait for
    third = router.take(short)
    assert third not in (first, other)  # the idle slot used longest ago (never): the report's stays
    router.release(third)
    assert router.take("verify the claims") == other  # now the one used longest ago
    assert router.take(report + "dimension 3") == first


PREFIX = "Here is a shared report. " + " ".join(f"Fact {i}: the value is {i * 7}." for i in range(60))


def test_a_shared_prefix_is_evaluated_once_with_more_slots_than_requests(tmp_path):
    """Four slots and three requests at once that share a report: each reuses the report from the one slot that
    evaluated it (llama.cpp gives another slot the whole prompt again); an unrelated request runs beside them."""
    pytest.importorskip("xllamacpp")
    chat = backend(tmp_path, 4)

    def ask(text: str) -> dict:
        return {"messages": [{"role": "user", "content": text}], "max_tokens": 4, "temperature": 0.0, "seed": 0}

    async def run():
        try:
            first = await chat.create(ask(PREFIX + "\n\nRate dimension A."))
            rest = await asyncio.gather(
                chat.create(ask("Something unrelated: list three colours.")),
                *(chat.create(ask(PREFIX + f"\n\nRate dimension {x}.")) for x in "BCD"),
            )
            return first, rest
        finally:
            await chat.close()

    first, (other, *dimensions) = asyncio.run(run())
    evaluated = first.model_extra["timings"]["prompt_n"]
    assert evaluated > 300
    for answer in dimensions:
        timings = answer.model_extra["timings"]
        assert timings["cache_n"] > evaluated - 10 and timings["prompt_n"] < 10, timings
    assert other.model_extra["timings"]["cache_n"] == 0


class Verdicts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cities: list[Answer] = Field(max_length=3)
    note: str


def test_structured_answers_come_without_line_breaks_between_json_tokens(tmp_path):
    """The local backend sends a JSON schema as a llama.cpp grammar with json.dumps' layout (", " and ": ", no other
    space): a model that pretty-prints unforced (SmolLM2 does) writes its JSON on one line, and it still validates."""
    pytest.importorskip("xllamacpp")
    from drevalkit.llm.client import strict_json_schema

    chat = backend(tmp_path, 1)
    schema = strict_json_schema(Verdicts)
    question = [{"role": "user", "content": "Rate Paris, Oslo and Rome as capitals from 0 to 10, in JSON."}]

    body = {"messages": question, "max_tokens": 200, "temperature": 0.0, "seed": 0}
    body["response_format"] = {"type": "json_schema", "json_schema": {"name": "Verdicts", "schema": schema}}

    async def run():
        try:
            forced = await chat.create(dict(body))
            unforced = chat._load().handle_chat_completions(dict(body))  # llama.cpp's own handling of the schema
            return forced, unforced
        finally:
            await chat.close()

    forced, unforced = asyncio.run(run())
    text = forced.choices[0].message.content
    assert "\n" not in text and "  " not in text and " ," not in text and '": ' in text  # json.dumps' layout
    Verdicts.model_validate_json(text)
    assert "\n" in unforced["choices"][0]["message"]["content"]  # what the grammar saves: the model's own layout
