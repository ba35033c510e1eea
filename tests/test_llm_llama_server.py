"""llama.cpp's own HTTP server (drevalkit.llm.llama_server) with the tiny SmolLM2 GGUF: it starts on 127.0.0.1,
answers OpenAI-shaped chat completions with usage, splits its context across slots, and is gone after stop()."""

from __future__ import annotations

import httpx
import pytest

from drevalkit.llm.errors import LLMUnavailable
from drevalkit.llm.llama_server import LlamaServer

from .support import tiny_model_or_skip


def test_server_answers_with_usage_and_stops():
    server = LlamaServer(tiny_model_or_skip(), alias="smol", n_parallel=2, context_per_slot=1024, metrics=True)
    with server:
        assert server.base_url.startswith("http://127.0.0.1:")
        models = httpx.get(f"{server.base_url}/models", timeout=10).json()
        model = models["data"][0]
        assert "smol" in [model["id"], *model.get("aliases", [])]
        assert model["meta"]["n_ctx"] == 1024  # what one slot holds: n_ctx divided across the two
        body = {"model": "smol", "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 4}
        answer = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=60).json()
        assert answer["choices"][0]["finish_reason"] in ("length", "stop")
        assert answer["usage"]["completion_tokens"] <= 4
        assert answer["usage"]["prompt_tokens"] > 0
        counted = server.counters()  # the server's own count of what it did
        assert counted["tokens_predicted_total"] == answer["usage"]["completion_tokens"]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.base_url}/models", timeout=2)


def test_missing_model_is_one_clear_error(tmp_path):
    tiny_model_or_skip()  # xllamacpp with it
    with pytest.raises(LLMUnavailable, match="no GGUF model"):
        LlamaServer(tmp_path / "absent.gguf").start()


def test_counters_need_metrics_on(tmp_path):
    with pytest.raises(ValueError, match="metrics=True"):
        LlamaServer(tmp_path / "absent.gguf").counters()
