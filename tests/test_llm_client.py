import asyncio
import json

import pytest
from pydantic import BaseModel, ConfigDict, Field

from drevalkit.config import Price
from drevalkit.llm import LLMCallFailed, LLMOutputError, LLMUnavailable, open_llm, parse_json_object, strict_json_schema
from drevalkit.store import Store
from drevalkit.testing.openai_server import FakeOpenAIServer


class Verdict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rationale: str
    score: float = Field(ge=0, le=10)
    tags: list[str] = Field(min_length=1, max_length=3)


MESSAGES = [{"role": "system", "content": "You judge."}, {"role": "user", "content": "Judge this text."}]


def run(coro):
    return asyncio.run(coro)


async def _ask(settings, store=None, messages=MESSAGES, **kw):
    client = open_llm(settings, store)
    try:
        return await client.structured(messages, Verdict, **kw), client
    finally:
        await client.close()


def test_strict_schema_is_closed_and_fully_required():
    schema = strict_json_schema(Verdict)
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"rationale", "score", "tags"}
    assert schema["properties"]["score"]["maximum"] == 10


def test_parse_json_object_tolerates_fences_and_prose():
    assert parse_json_object('```json\n{"a": 1}\n```') == {"a": 1}
    assert parse_json_object('Sure! Here it is: {"a": {"b": 2}} Hope this helps.') == {"a": {"b": 2}}
    with pytest.raises(json.JSONDecodeError):
        parse_json_object("no json here")


def test_structured_output_usage_and_cost(judge_server, make_settings):
    settings = make_settings(judge_server, prices={judge_server.model: Price(input=1.0, output=2.0)})
    result, client = run(_ask(settings))
    assert isinstance(result.value, Verdict) and 0 <= result.value.score <= 10
    request = judge_server.requests[-1]
    assert request["response_format"]["type"] == "json_schema"
    assert request["response_format"]["json_schema"]["strict"] is True
    assert result.usage.calls == 1 and result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
    expected = (result.usage.prompt_tokens * 1.0 + result.usage.completion_tokens * 2.0) / 1e6
    assert result.usage.cost == pytest.approx(expected) and result.usage.unpriced_calls == 0


def test_a_call_to_a_model_without_a_price_is_counted_unpriced(judge_server, make_settings):
    # no price table: the cost is unknown, not zero (the scorecard says "unknown")
    result, _ = run(_ask(make_settings(judge_server)))
    assert result.usage.calls == 1 and result.usage.prompt_tokens > 0
    assert (result.usage.cost, result.usage.unpriced_calls) == (0.0, 1)


def test_cache_second_identical_call_makes_no_request(judge_server, make_settings, tmp_path):
    settings = make_settings(judge_server)
    with Store(tmp_path / "store.sqlite3") as store:
        first, _ = run(_ask(settings, store))
        second, _ = run(_ask(settings, store))
        other_sample, _ = run(_ask(settings, store, sample=1))
    assert judge_server.completions == 2
    assert second.cached and second.usage.calls == 0 and second.usage.cache_hits == 1
    assert second.value == first.value
    assert not other_sample.cached
    # a new store object on the same file (a new process) still hits
    with Store(tmp_path / "store.sqlite3") as store:
        again, _ = run(_ask(settings, store))
    assert again.cached and judge_server.completions == 2


@pytest.mark.parametrize("fault", ["429", "500", "timeout"])
def test_transient_faults_are_retried(make_settings, fault):
    with FakeOpenAIServer(hang_seconds=3.0) as server:  # margin: a loaded machine must not time out a normal call
        server.faults.extend([fault, fault])
        result, _ = run(_ask(make_settings(server, timeout=2.0)))
    assert result.usage.retries == 2 and result.usage.calls == 1
    assert server.faults_injected == [fault, fault]


def test_retry_after_header_is_honoured(make_settings):
    with FakeOpenAIServer() as server:
        server.faults.append("429")
        original = server.handle_chat

        def slow_down(body):
            status, payload, headers = original(body)
            if status == 429:
                headers = {"retry-after": "0.3"}
            return status, payload, headers

        server.handle_chat = slow_down
        settings = make_settings(server, backoff_base=0.0, backoff_max=0.0)
        started = asyncio.run(_timed(settings))
    assert started >= 0.3


async def _timed(settings):
    loop = asyncio.get_running_loop()
    start = loop.time()
    await _ask(settings)
    return loop.time() - start


def test_retries_exhausted_is_an_explicit_failure(make_settings):
    with FakeOpenAIServer() as server:
        server.faults.extend(["500"] * 10)
        with pytest.raises(LLMCallFailed, match="HTTP 500; gave up after 3 attempts") as info:
            run(_ask(make_settings(server, max_retries=2)))
    assert info.value.usage.retries == 2 and info.value.usage.failed_calls == 1


@pytest.mark.parametrize("fault", ["invalid_json", "garbage", "truncated", "schema_violation"])
def test_invalid_output_gets_a_bounded_repair(make_settings, fault):
    with FakeOpenAIServer() as server:
        server.faults.append(fault)
        result, _ = run(_ask(make_settings(server)))
        assert result.usage.calls == 2
        if fault != "truncated":
            repair = server.requests[-1]["messages"]
            assert (
                repair[-2]["role"] == "assistant"
                and "Reply again with only the corrected JSON" in repair[-1]["content"]
            )
        else:
            assert server.requests[-1]["max_tokens"] == 2 * server.requests[0]["max_tokens"]


def test_a_cut_off_answer_is_retried_with_no_fewer_tokens_than_configured(make_settings):
    # the retry doubles max_tokens up to a cap of 32768, but never below what was configured
    with FakeOpenAIServer() as server:
        server.faults.append("truncated")
        result, _ = run(_ask(make_settings(server, max_tokens=40000)))
    assert result.usage.calls == 2
    assert [body["max_tokens"] for body in server.requests] == [40000, 40000]


def test_persistent_garbage_fails_explicitly_and_is_not_cached(make_settings, tmp_path):
    with FakeOpenAIServer() as server, Store(tmp_path / "s.sqlite3") as store:
        server.responder = lambda body: "I cannot answer in JSON, sorry."
        with pytest.raises(LLMOutputError, match="invalid after 3 attempts: not valid JSON"):
            run(_ask(make_settings(server), store))
        assert server.completions == 3 and store.count_llm() == 0


def test_fallback_when_server_lacks_json_schema(make_settings):
    with FakeOpenAIServer(reject_formats=("json_schema",)) as server:
        (result, client) = run(_ask(make_settings(server)))
        assert client.mode == "json_object"
        last = server.requests[-1]
        assert last["response_format"] == {"type": "json_object"}
        assert "conforms to this JSON Schema" in last["messages"][-1]["content"]
        assert last["messages"][0] == MESSAGES[0]
    with FakeOpenAIServer(reject_formats=("json_schema", "json_object")) as server:
        (result, client) = run(_ask(make_settings(server)))
        assert client.mode == "text" and "response_format" not in server.requests[-1]
        assert isinstance(result.value, Verdict)


def test_configured_mode_is_used_directly(make_settings):
    with FakeOpenAIServer() as server:
        run(_ask(make_settings(server, structured_output="text")))
        assert len(server.requests) == 1 and "response_format" not in server.requests[0]


def test_unknown_model_and_dead_endpoint_are_unavailable(make_settings, judge_server):
    with pytest.raises(LLMUnavailable, match="no model 'other-model'"):
        run(_ask(make_settings(judge_server, model="other-model")))
    dead = make_settings(judge_server, base_url="http://127.0.0.1:9/v1", max_retries=1)
    with pytest.raises(LLMUnavailable, match="cannot reach the judge endpoint"):
        run(_ask(dead))


def test_check_reports_dead_endpoint_fast(make_settings, judge_server):
    async def check(settings):
        client = open_llm(settings)
        try:
            await client.check()
        finally:
            await client.close()

    run(check(make_settings(judge_server)))
    with pytest.raises(LLMUnavailable, match="cannot reach"):
        run(check(make_settings(judge_server, base_url="http://127.0.0.1:9/v1")))


def test_concurrency_is_bounded(make_settings):
    with FakeOpenAIServer(decode_tokens_per_s=2000) as server:
        active, peak = 0, 0
        original = server.handle_chat

        def counting(body):
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            try:
                return original(body)
            finally:
                active -= 1

        server.handle_chat = counting
        settings = make_settings(server, concurrency=2)

        async def many():
            client = open_llm(settings)
            try:
                msgs = [[{"role": "user", "content": f"q{i}"}] for i in range(8)]
                return await asyncio.gather(*(client.structured(m, Verdict) for m in msgs))
            finally:
                await client.close()

        results = run(many())
    assert len(results) == 8 and peak <= 2


def test_retry_after_that_is_not_a_finite_number_is_ignored():
    from drevalkit.retry import backoff_delay, retry_after_seconds

    for bad in ("nan", "inf", "-inf", "NaN"):
        assert retry_after_seconds({"retry-after": bad}) is None
        assert retry_after_seconds({"retry-after-ms": bad}) is None
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert 0 <= backoff_delay(0, 1.0, 60.0, retry_after_seconds({"retry-after": "nan"})) <= 1.0


def test_token_estimate_counts_ascii_by_four_and_other_characters_by_one():
    from drevalkit.llm.tokens import estimate_messages_tokens, estimate_tokens

    assert estimate_tokens("") == 0 and estimate_tokens("abcd") == 1 and estimate_tokens("abcde") == 2
    assert (
        estimate_tokens("韦伯望远镜") == 5 and estimate_tokens("ab韦伯") == 3 and estimate_tokens("café au lait") == 4
    )
    assert estimate_messages_tokens([{"role": "user", "content": "abcd" * 10}, {"role": "system"}]) == 10 + 2 * 8


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rationale: str


def test_a_cache_hit_keeps_what_the_answer_first_cost(judge_server, make_settings, tmp_path):
    settings = make_settings(judge_server, prices={judge_server.model: Price(input=1.0, output=2.0)})
    messages = [{"role": "system", "content": "You judge."}, {"role": "user", "content": "Judge this text."}]

    async def ask(store):
        client = open_llm(settings, store)
        try:
            return await client.structured(messages, Answer)
        finally:
            await client.close()

    with Store(tmp_path / "store.sqlite3") as store:
        first = asyncio.run(ask(store))
        second = asyncio.run(ask(store))
    assert not first.cached and first.usage.cost > 0 and first.usage.from_cache_cost == 0
    assert second.cached and second.usage.calls == 0 and second.usage.cost == 0 and second.usage.prompt_tokens == 0
    assert second.usage.cache_hits == 1
    assert second.usage.from_cache_prompt_tokens == first.usage.prompt_tokens > 0
    assert second.usage.from_cache_completion_tokens == first.usage.completion_tokens > 0
    assert second.usage.from_cache_cost == first.usage.cost


def test_the_endpoint_receives_the_request_as_built_with_the_key(make_settings):
    """The request goes through the SDK's lower-level ``post`` (no per-call transform of the typed parameters): the
    body is the client's request, key for key, and the bearer key is sent."""
    secret = "sk-test-SECRET123456789"
    with FakeOpenAIServer() as server:
        keys = []
        server.responder = lambda body: keys.append(server.authorization.value) or None
        result, client = run(_ask(make_settings(server, api_key=secret, max_tokens=900), sample=2, temperature=0.5))
    schema = strict_json_schema(Verdict)
    assert server.requests == [
        {
            "model": server.model,
            "messages": MESSAGES,
            "temperature": 0.5,
            "max_tokens": 900,
            "seed": client.settings.seed + 2,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "Verdict", "schema": schema, "strict": True},
            },
        }
    ]
    assert keys == [f"Bearer {secret}"] and isinstance(result.value, Verdict)


def test_a_key_echoed_by_the_endpoint_is_redacted_from_the_error(make_settings):
    """Issue 17, item 3: "Incorrect API key provided: <the key>" in a 400 must not carry the key into the error."""
    secret = "sk-test-SECRET123456789"
    with FakeOpenAIServer(fault_rate=1.0, fault_kinds=("echo_key",)) as server:
        with pytest.raises(LLMCallFailed) as caught:
            run(_ask(make_settings(server, api_key=secret)))
    message = str(caught.value)
    assert "HTTP 400" in message and "Incorrect API key provided: ***" in message
    assert "SECRET123456789" not in message and secret[:12] not in message


def test_redact_secrets_takes_whole_keys_and_long_prefixes_only():
    from drevalkit.text import environment_secrets, redact_secrets

    key = "sk-test-SECRET123456789"
    assert redact_secrets(f"bad key {key}; starts {key[:12]}...6789", [key]) == "bad key ***; starts ***...6789"
    assert redact_secrets("sk-test and sk-tes-x EMPTY", [key, "EMPTY", None]) == "sk-test and sk-tes-x EMPTY"
    assert redact_secrets(redact_secrets(key + key, [key]), [key]) == "******"
    assert environment_secrets({"SERPER_API_KEY": "a", "HF_TOKEN": "b", "PATH": "c", "KEYBOARD": "d"}) == ["a", "b"]
