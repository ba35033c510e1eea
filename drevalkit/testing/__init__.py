"""Local servers for tests, benchmarks and users' own tests, all on 127.0.0.1: an OpenAI-compatible judge with
fault injection and simulated latency (``FakeOpenAIServer``), a scripted research agent behind the same API
(``AgentServer``), search APIs (``FakeSearchServer``), web pages, hostile ones included (``PageServer``), and a
static site (``StaticSite``); and llama.cpp's real server with a tiny model (``tiny_llama_server``, ``llama.py``).

A rule-based judge (``rule_judge``) answers fact-check prompts deterministically: a stand-in, not a model, and any
figure computed with it says so. Each server also runs on its own: ``python -m drevalkit.testing.openai_server``,
``python -m drevalkit.testing.agent_server``; ``python -m drevalkit.testing.tour OUT`` runs every stage against them.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# name -> module: loaded on first use, so ``python -m drevalkit.testing.<server>`` runs its module only once
_EXPORTS = {
    "AgentServer": "agent_server",
    "FakeOpenAIServer": "openai_server",
    "FakeSearchServer": "search_server",
    "PageServer": "page_server",
    "ScriptedAgent": "agent_server",
    "StaticSite": "static_site",
    "tiny_llama_server": "llama",
    "tiny_model_path": "llama",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'drevalkit.testing' has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
