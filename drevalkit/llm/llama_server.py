"""llama.cpp's own OpenAI-compatible HTTP server for one GGUF model, started in this process through xllamacpp and
bound to 127.0.0.1.

It is the real server users run (``llama-server``), not a stand-in: the tests and benchmarks drive dreval through it,
and a backend can use it to decode several requests at once (``n_parallel`` slots). llama.cpp divides ``n_ctx``
across the slots, so ``context_per_slot`` is what one request may use.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from .errors import LLMUnavailable
from .local_model import INSTALL_LOCAL

_HEALTH_TIMEOUT_S = 120.0
_MAX_METRIC_LINES = 1000


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the server binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class LlamaServer:
    """One llama.cpp server on 127.0.0.1; ``start()`` returns its ``/v1`` base URL, ``stop()`` (or leaving the
    ``with`` block) shuts it down. ``metrics=True`` serves llama.cpp's own token counts, read with ``counters()``."""

    def __init__(
        self,
        model_path: Path | str,
        *,
        alias: str = "local",
        n_parallel: int = 1,
        context_per_slot: int = 4096,
        threads: int | None = None,
        jinja: bool = True,
        cache_ram_mib: int | None = None,
        port: int | None = None,
        metrics: bool = False,
    ):
        if n_parallel < 1 or context_per_slot < 256:
            raise ValueError("a llama.cpp server needs n_parallel >= 1 and context_per_slot >= 256")
        self.model_path = Path(model_path)
        self.alias = alias
        self.n_parallel = n_parallel
        self.context_per_slot = context_per_slot
        self.threads = threads
        self.jinja = jinja
        self.cache_ram_mib = cache_ram_mib
        self.port = port
        self.metrics_enabled = metrics
        self._server: Any = None
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _params(self) -> Any:
        try:
            import xllamacpp
        except ImportError:
            raise LLMUnavailable(f"llama.cpp's server needs xllamacpp: {INSTALL_LOCAL}") from None
        params = xllamacpp.CommonParams()
        params.model.path = str(self.model_path)
        params.model_alias = {self.alias}  # a set of names: a plain string would become one alias per character
        params.hostnames = ["127.0.0.1"]
        params.port = self.port
        params.n_parallel = self.n_parallel
        params.n_ctx = self.context_per_slot * self.n_parallel  # llama.cpp divides it across the slots
        params.use_jinja = self.jinja
        params.warmup = False
        params.endpoint_metrics = self.metrics_enabled
        params.verbosity = 3 if os.environ.get("DREVAL_LOCAL_VERBOSE") else -1
        if self.threads:
            params.cpuparams.n_threads = self.threads
            params.cpuparams_batch.n_threads = self.threads
        if self.cache_ram_mib is not None:
            params.cache_ram_mib = self.cache_ram_mib
        return params

    def start(self) -> str:
        """Load the model, listen, and wait until ``/health`` says the server is ready."""
        with self._lock:
            if self._server is None:
                if not self.model_path.is_file():
                    raise LLMUnavailable(f"no GGUF model at {self.model_path}")
                self.port = self.port or free_port()
                params = self._params()
                import xllamacpp

                try:
                    self._server = xllamacpp.Server(params)
                except Exception as exc:  # noqa: BLE001 - the runtime reports load failures with several types
                    raise LLMUnavailable(f"llama.cpp's server could not load {self.model_path}: {exc}") from None
                self._wait_healthy()
        return self.base_url

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + _HEALTH_TIMEOUT_S
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                answer = httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2.0)
                if answer.status_code == 200:
                    return
                last = f"HTTP {answer.status_code}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(0.1)
        self.stop()
        raise LLMUnavailable(
            f"llama.cpp's server on port {self.port} was not ready in {_HEALTH_TIMEOUT_S:.0f} s ({last})"
        )

    def counters(self) -> dict[str, float]:
        """llama.cpp's own counters from ``/metrics`` (started with ``metrics=True``), without the ``llamacpp:``
        prefix: ``tokens_predicted_total``, ``prompt_tokens_total`` (not from the cache),
        ``prompt_tokens_cached_total``, ... What the server counted, to hold dreval's usage accounting against."""
        if not self.metrics_enabled:
            raise ValueError("llama.cpp's counters need LlamaServer(..., metrics=True)")
        answer = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=10.0)
        answer.raise_for_status()
        found = {}
        for line in answer.text.splitlines()[:_MAX_METRIC_LINES]:
            name, _, value = line.partition(" ")
            if name.startswith("llamacpp:") and value:
                try:
                    found[name.removeprefix("llamacpp:")] = float(value)
                except ValueError:
                    continue
        return found

    def stop(self) -> None:
        """Shut the server down (xllamacpp stops it when the object goes)."""
        with self._lock:
            self._server = None

    def __enter__(self) -> LlamaServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
