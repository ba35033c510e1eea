"""Extraction under time and memory limits: a warm pool of worker processes for the kinds of page that may be slow
(PDFs, large HTML), each worker under an address-space limit and killed when it overruns its time.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..text import collapse_whitespace
from .extract import DEFAULT_LIMITS, HTML_TYPES, PDF_TYPE, Extracted, ExtractionError, ExtractionLimits, extract_page

INLINE_MAX_BYTES = 64 * 1024  # HTML up to this size is extracted in-process (well under a second whatever it holds)
WORKER_START_TIMEOUT_S = 60.0  # a new worker must be ready (imports done) within this
WORKER_RECYCLE_MB = 384  # a worker whose resident memory grew beyond this is replaced after its extraction
PDF_TIME_SHARE = 0.5  # a PDF's pages are read until this share of the time limit is spent; the rest is left out

_KILLED = -getattr(signal, "SIGKILL", 9)  # a worker's exit code when something outside it killed it
_PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent ends
_PARENT_POLL_S = 0.25  # how often a worker checks, where the kernel cannot tell it, that its parent still runs


def needs_worker(content_type: str, size: int, inline_max_bytes: int = INLINE_MAX_BYTES) -> bool:
    """Whether a body is extracted in a worker process: it may take long or much memory (PDFs, HTML over
    ``inline_max_bytes``)."""
    return content_type == PDF_TYPE or (content_type in HTML_TYPES and size > inline_max_bytes)


def limit_memory(megabytes: int) -> None:
    try:
        import resource  # POSIX only: imported here so that this module imports everywhere
    except ImportError:  # Windows: no address-space limit; the time limit still applies
        return
    limit = megabytes * 1024 * 1024
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):  # e.g. macOS, where RLIMIT_AS cannot be lowered like this
        pass


def _resident_mb() -> float:
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


def die_with_parent(parent: int) -> None:  # pragma: no cover - runs in the worker process
    """End this worker when the process that started it ends, even by SIGKILL (no cleanup of its own runs then), so
    that a busy worker does not go on extracting. On Linux the kernel kills it (PR_SET_PDEATHSIG, sent when the
    thread that started it ends: the pool's spawner); elsewhere a thread sees it reparented. (Only there: a second
    thread gets a malloc arena of its own, whose reserve counts against the worker's address-space limit.)"""
    if os.getppid() != parent:  # it ended before this worker could ask to be told
        os._exit(0)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0:
                if os.getppid() == parent:  # else it ended in between
                    return
                os._exit(0)
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_POLL_S)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="drevalkit-parent-watch").start()


def _worker_main(conn: Any, memory_mb: int, parent: int) -> None:  # pragma: no cover - runs in the worker process
    """A worker's loop: one (content_type, data, charset) in, one answer out, until told to stop."""
    die_with_parent(parent)
    limit_memory(memory_mb)
    # pypdf logs its repairs of broken files; the caller reports the page's fate in one line of its own
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        recycle = False
        try:
            content_type, data, charset, time_budget, max_html_chars = request
            extracted = extract_page(
                content_type, data, charset, time_budget=time_budget, max_html_chars=max_html_chars
            )
            answer: tuple[Any, ...] = ("ok", extracted.text, extracted.title, extracted.note)
        except ValueError as exc:
            answer = ("error", str(exc))
        except MemoryError:
            answer, recycle = (
                ("error", f"extraction ran out of memory (over the {memory_mb} MB limit, extract_memory_mb)"),
                True,
            )
        except RecursionError:
            answer, recycle = ("error", "extraction failed: the page is nested too deeply"), True
        except Exception as exc:  # noqa: BLE001 - a bug or a crash of an extractor on this page: one page fails
            answer = ("error", f"extraction failed: {type(exc).__name__}: {collapse_whitespace(str(exc))[:300]}")
        request = data = None  # free the body before measuring
        recycle = recycle or _resident_mb() > WORKER_RECYCLE_MB
        try:
            conn.send((*answer, recycle))
        except (OSError, MemoryError):
            return
        if recycle:
            return


class _Worker:
    def __init__(self, context: Any, memory_mb: int):
        self.conn, child_conn = context.Pipe()
        self.process = context.Process(
            target=_worker_main, args=(child_conn, memory_mb, os.getpid()), daemon=True, name="drevalkit-extract"
        )
        self.process.start()
        child_conn.close()
        self.ready = False

    def wait_ready(self, timeout: float) -> None:
        if self.ready:
            return
        if not self.conn.poll(timeout):
            raise ExtractionError(f"extraction failed: no worker process started within {timeout:g} s", durable=False)
        try:
            message = self.conn.recv()
        except (EOFError, OSError):
            raise ExtractionError(
                f"extraction failed: the worker process exited at start (exit code {self.process.exitcode})",
                durable=False,
            ) from None
        self.ready = message[0] == "ready"

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()


class _Job:
    """One extraction, so that the caller can give up on it (the worker running it is killed)."""

    def __init__(self) -> None:
        self.cancelled = False
        self.worker: _Worker | None = None


class ExtractionPool:
    """Worker processes (``spawn``ed, so no state of this process is shared) that extract one page each at a time.

    Workers start on demand and stay warm between pages; one that is too slow, dies, or runs out of memory is
    replaced. Thread-safe: ``run`` blocks the calling thread until its page is done.
    """

    def __init__(self, size: int = DEFAULT_LIMITS.workers, memory_mb: int = DEFAULT_LIMITS.memory_mb):
        import multiprocessing

        self.size = max(1, size)
        self.memory_mb = memory_mb
        self._context = multiprocessing.get_context("spawn")
        # Workers are started from one thread that lives as long as the process: the kernel ties a worker's life to
        # the thread that started it, and the threads that call ``run`` (asyncio's) come and go.
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drevalkit-extract-spawner")
        self._lock = threading.Condition()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._closed = False
        self.started = 0  # worker processes started so far (for tests and benchmarks)
        self.killed = 0  # ... and killed because they were too slow or their caller gave up

    @property
    def busy(self) -> int:
        """How many workers are extracting a page now."""
        with self._lock:
            return len(self._busy)

    def _start(self) -> _Worker:
        self.started += 1
        try:
            return self._spawner.submit(_Worker, self._context, self.memory_mb).result()
        except (OSError, RuntimeError) as exc:  # RuntimeError: the spawner is shut down (the interpreter is exiting)
            self.started -= 1
            raise ExtractionError(f"extraction failed: cannot start a worker process: {exc}", durable=False) from None

    def _acquire(self, job: _Job) -> _Worker:
        with self._lock:
            while True:
                if self._closed:
                    raise ExtractionError("extraction failed: the extraction pool is closed", durable=False)
                if job.cancelled:
                    raise ExtractionError("extraction cancelled", durable=False)
                if self._idle:
                    worker = self._idle.pop()
                    break
                if len(self._busy) < self.size:
                    worker = self._start()
                    break
                self._lock.wait(0.5)
            self._busy.add(worker)
            job.worker = worker
            return worker

    def _release(self, worker: _Worker, *, keep: bool) -> None:
        with self._lock:
            self._busy.discard(worker)
            if keep and not self._closed:
                self._idle.append(worker)
            self._lock.notify()
        if not keep:
            worker.kill()

    def run(
        self,
        content_type: str,
        data: bytes,
        charset: str | None,
        *,
        timeout: float = DEFAULT_LIMITS.timeout,
        max_html_chars: int = DEFAULT_LIMITS.max_html_chars,
        job: _Job | None = None,
    ) -> Extracted:
        """Extract in a worker within ``timeout`` seconds, HTML cut to ``max_html_chars``; raises ExtractionError."""
        job = job or _Job()
        worker = self._acquire(job)
        keep = False
        try:
            worker.wait_ready(WORKER_START_TIMEOUT_S)
            try:
                worker.conn.send((content_type, data, charset, timeout * PDF_TIME_SHARE, max_html_chars))
                answered = worker.conn.poll(timeout)
                answer = worker.conn.recv() if answered else None
            except (EOFError, OSError):  # the worker died: crashed, killed by the OOM killer, or cancelled below
                if job.cancelled:
                    raise ExtractionError("extraction cancelled", durable=False) from None
                worker.process.join(1)
                code = worker.process.exitcode
                cause = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                raise ExtractionError(
                    f"extraction failed: the worker process died ({cause})", durable=code != _KILLED
                ) from None
            if answer is None:
                with self._lock:
                    self.killed += 1
                raise ExtractionError(
                    f"extraction timed out: not done within {timeout:g} s (extract_timeout)", durable=False
                )
            kind, *fields, recycle = answer
            keep = not recycle
            if kind != "ok":
                raise ExtractionError(fields[0])
            return Extracted(*fields)
        finally:
            job.worker = None
            self._release(worker, keep=keep and not job.cancelled)

    def cancel(self, job: _Job) -> None:
        """Give up on ``job``: kill the worker running it (its thread then returns at once)."""
        job.cancelled = True
        worker = job.worker
        if worker is not None:
            with self._lock:
                self.killed += 1
            if worker.process.is_alive():
                worker.process.kill()
        with self._lock:
            self._lock.notify_all()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers = self._idle + list(self._busy)
            self._idle.clear()
            self._lock.notify_all()
        for worker in workers:
            if worker.process.is_alive():
                worker.process.kill()
        for worker in workers:
            worker.process.join(5)
        self._spawner.shutdown(wait=False)


_pools: dict[tuple[int, int], ExtractionPool] = {}  # by (workers, memory limit)
_pools_pid: int | None = None
_pools_lock = threading.Lock()


def extraction_pool(limits: ExtractionLimits = DEFAULT_LIMITS) -> ExtractionPool:
    """The process-wide pool of ``limits.workers`` workers under ``limits.memory_mb`` (created on first use, closed
    at exit; a forked child gets its own)."""
    global _pools_pid
    key = (limits.workers, limits.memory_mb)
    with _pools_lock:
        if _pools_pid != os.getpid():
            _pools.clear()
            _pools_pid = os.getpid()
        if key not in _pools:
            _pools[key] = ExtractionPool(*key)
            atexit.register(_pools[key].close)
        return _pools[key]


def extract_bounded(
    content_type: str, data: bytes, charset: str | None, limits: ExtractionLimits = DEFAULT_LIMITS
) -> Extracted:
    """Like ``extract_page``, but slow kinds of page go to a worker process under ``limits`` of time and memory."""
    if not needs_worker(content_type, len(data)):
        return extract_page(content_type, data, charset, max_html_chars=limits.max_html_chars)
    return extraction_pool(limits).run(
        content_type, data, charset, timeout=limits.timeout, max_html_chars=limits.max_html_chars
    )


def extract_text_bounded(
    content_type: str, data: bytes, charset: str | None, limits: ExtractionLimits = DEFAULT_LIMITS
) -> tuple[str, str]:
    """(text, title) by ``extract_bounded``; raises ValueError with a one-line reason."""
    extracted = extract_bounded(content_type, data, charset, limits)
    return extracted.text, extracted.title


async def extract_async(
    content_type: str,
    data: bytes,
    charset: str | None,
    limits: ExtractionLimits = DEFAULT_LIMITS,
    *,
    inline_max_bytes: int = INLINE_MAX_BYTES,
) -> Extracted:
    """``extract_bounded`` without blocking the event loop; cancelling it kills the worker it was using.
    ``inline_max_bytes``: HTML up to this size is extracted in this process (in a thread)."""
    if not needs_worker(content_type, len(data), inline_max_bytes):
        return await asyncio.to_thread(extract_page, content_type, data, charset, max_html_chars=limits.max_html_chars)
    pool, job = extraction_pool(limits), _Job()
    try:
        return await asyncio.to_thread(
            pool.run, content_type, data, charset, timeout=limits.timeout, max_html_chars=limits.max_html_chars, job=job
        )
    except asyncio.CancelledError:
        pool.cancel(job)
        raise
