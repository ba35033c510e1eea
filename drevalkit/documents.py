"""Text and title of a fetched page (HTML, PDF, text, markdown), bounded in time and memory.

Page bodies are untrusted input, and the extractors are not built for hostile pages: trafilatura needs seconds and
hundreds of MB per MB of tag soup (a 10 MB page of repeated ``<a>`` tags took 41 s and 1.6 GB), pypdf needs seconds
per MB of content stream. So:

* HTML handed to trafilatura is cut to ``MAX_HTML_CHARS`` characters (after dropping the bodies of scripts and
  styles, which only take room), and the cut is reported in ``Extracted.note``;
* HTML of ``REPETITIVE_MIN_CHARS`` or more whose markup compresses more than ``MAX_COMPRESSION_RATIO`` to 1 is refused
  without parsing it: real pages compress 4 to 25 to 1, filler built to stall an extractor 150 to 1 and more;
* anything that may be slow (PDFs, HTML over ``INLINE_MAX_BYTES``) is extracted in a warm pool of worker processes,
  each under a memory limit (``EXTRACT_MEMORY_MB``, POSIX only), and a worker that takes longer than
  ``EXTRACT_TIMEOUT_S`` is killed and replaced. Small HTML pages and plain text are extracted in-process.
* a PDF's pages are read until ``PDF_TIME_SHARE`` of the time limit is spent, so a long but honest PDF gives the text
  of its first pages (with a note) rather than a timeout; one page that alone takes too long still times out.

Every refusal or failure is an ``ExtractionError`` (a ``ValueError``) with a one-line reason.
"""

from __future__ import annotations

import asyncio
import atexit
import html as html_lib
import io
import logging
import os
import re
import signal
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Any

import pypdf
import trafilatura

from .errors import DrevalError

try:  # the parts of trafilatura.extract_metadata that find the title; the rest (dates, authors) costs 4x as much
    from trafilatura.metadata import examine_meta, extract_meta_json, extract_title
except ImportError:  # pragma: no cover - another trafilatura version: use the whole metadata extraction
    examine_meta = extract_meta_json = extract_title = None  # type: ignore[assignment]

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
TEXT_TYPES = frozenset({"text/plain", "text/markdown", "text/x-markdown"})
PDF_TYPE = "application/pdf"

MAX_HTML_CHARS = 1_500_000  # markup handed to trafilatura: at worst about 10 s and 350 MB in a worker
INLINE_MAX_BYTES = 64 * 1024  # HTML up to this size is extracted in-process (well under a second whatever it holds)
EXTRACT_TIMEOUT_S = 20.0  # wall time of one extraction in a worker
EXTRACT_MEMORY_MB = 512  # address-space limit of a worker process (RLIMIT_AS; skipped where there is none)
EXTRACT_WORKERS = 2  # worker processes (and so extractions at once)
WORKER_START_TIMEOUT_S = 60.0  # a new worker must be ready (imports done) within this
WORKER_RECYCLE_MB = 384  # a worker whose resident memory grew beyond this is replaced after its extraction
REPETITIVE_MIN_CHARS = 512 * 1024  # smaller pages are cheap whatever they hold: no filler check
MAX_COMPRESSION_RATIO = 50.0
PDF_TIME_SHARE = 0.5  # a PDF's pages are read until this share of the time limit is spent; the rest is left out

_KILLED = -getattr(signal, "SIGKILL", 9)  # a worker's exit code when something outside it killed it
_SPACE = re.compile(r"\s+")
_SCRIPT_OPEN = re.compile(r"<(script|style)\b", re.IGNORECASE)
_SCRIPT_CLOSE = {name: re.compile(rf"</{name}\s*>", re.IGNORECASE) for name in ("script", "style")}
_MARKDOWN_HEADING = re.compile(r"^#\s+(.+)$", re.MULTILINE)


class ExtractionError(DrevalError, ValueError):
    """No usable text; ``durable`` is False when the cause is the machine, not the page: no worker could start, the
    time limit ran out (a loaded machine is slower), or the worker was killed from outside (the OOM killer, when the
    whole machine runs short; a page's own excess is a MemoryError under the worker's limit)."""

    def __init__(self, reason: str, *, durable: bool = True):
        super().__init__(reason)
        self.durable = durable


@dataclass(frozen=True)
class Extracted:
    text: str
    title: str
    note: str = ""  # what the reader should know, e.g. that only the beginning of the page was read


def _one_line(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def decode(data: bytes, charset: str | None) -> str:
    try:
        return data.decode(charset or "utf-8", errors="replace")
    except LookupError:  # unknown charset name
        return data.decode("utf-8", errors="replace")


# -- in-process extraction -----------------------------------------------------------------------------------------
def extract_page(content_type: str, data: bytes, charset: str | None, *, time_budget: float | None = None) -> Extracted:
    """Text, title and note of a page body, in this process (cut and checked, but not time-limited).

    ``time_budget`` (seconds) stops reading a PDF's pages once spent. Raises ValueError (``ExtractionError``) with a
    one-line reason when there is no usable text.
    """
    note = ""
    if content_type == PDF_TYPE:
        text, title, note = _extract_pdf(data, time_budget)
    elif content_type in HTML_TYPES:
        text, title, note = _extract_html(decode(data, charset))
    else:
        text = decode(data, charset)
        heading = _MARKDOWN_HEADING.search(text) if content_type != "text/plain" else None
        title = heading.group(1) if heading else ""
    if not text.strip():
        raise ExtractionError("no extractable text")
    return Extracted(text.strip(), _one_line(str(title)), note)


def extract_text(content_type: str, data: bytes, charset: str | None) -> tuple[str, str]:
    """(text, title) of a page body, in this process; raises ValueError with a one-line reason."""
    extracted = extract_page(content_type, data, charset)
    return extracted.text, extracted.title


def _extract_pdf(data: bytes, time_budget: float | None) -> tuple[str, str, str]:
    deadline = None if time_budget is None else time.monotonic() + time_budget
    texts: list[str] = []
    note = ""
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        pages = reader.pages
        for page in pages:
            texts.append(page.extract_text() or "")
            if deadline is not None and time.monotonic() > deadline and len(texts) < len(pages):
                note = (
                    f"PDF cut: text of the first {len(texts)} of {len(pages)} pages (the rest would not be read "
                    f"within the extraction time limit)"
                )
                break
        title = (reader.metadata.title if reader.metadata else None) or ""
    except MemoryError:
        raise
    # pypdf reports corrupt files with many exception types (its own, KeyError, struct errors, ...).
    except Exception as exc:  # noqa: BLE001
        raise ExtractionError(f"cannot read PDF: {_one_line(str(exc)) or type(exc).__name__}") from exc
    return "\n\n".join(texts), str(title), note


def drop_script_bodies(page: str) -> str:
    """``page`` without the contents of ``<script>`` and ``<style>`` elements (JSON-LD kept: it may hold the title).

    One pass, linear in the length of the page however the tags are (un)closed: an unclosed script swallows the rest
    of the page, as it does in a browser.
    """
    parts: list[str] = []
    pos = 0
    while (start := _SCRIPT_OPEN.search(page, pos)) is not None:
        tag_end = page.find(">", start.end())
        if tag_end < 0:
            break
        close = _SCRIPT_CLOSE[start.group(1).lower()].search(page, tag_end + 1)
        if "ld+json" in page[start.start() : tag_end].lower():
            parts.append(page[pos : close.end() if close else len(page)])
        else:
            parts.append(page[pos : tag_end + 1])
            if close is not None:
                parts.append(close.group(0))
        if close is None:
            return "".join(parts)
        pos = close.end()
    parts.append(page[pos:])
    return "".join(parts)


def cut_markup(page: str) -> tuple[str, str]:
    """The markup trafilatura gets (at most MAX_HTML_CHARS, ending before a tag) and a note when it was cut."""
    if len(page) <= MAX_HTML_CHARS:
        return page, ""
    page = drop_script_bodies(page)
    if len(page) <= MAX_HTML_CHARS:
        return page, ""
    total = len(page)
    cut = page.rfind("<", MAX_HTML_CHARS // 2, MAX_HTML_CHARS)
    page = page[: cut if cut > 0 else MAX_HTML_CHARS]
    return page, (
        f"page cut: text extracted from the first {len(page):,} of {total:,} characters of markup (MAX_HTML_CHARS)"
    )


def check_not_filler(page: str) -> None:
    if len(page) < REPETITIVE_MIN_CHARS:
        return
    data = page.encode("utf-8", errors="replace")
    ratio = len(data) / max(1, len(zlib.compress(data, 1)))
    if ratio > MAX_COMPRESSION_RATIO:
        raise ExtractionError(
            f"extraction refused: the markup is repetitive filler ({len(data) / 1e6:.1f} MB that compresses "
            f"{ratio:.0f} to 1, over {MAX_COMPRESSION_RATIO:g} to 1 (MAX_COMPRESSION_RATIO))"
        )


def _extract_html(page: str) -> tuple[str, str, str]:
    page, note = cut_markup(page)
    check_not_filler(page)
    tree = trafilatura.load_html(page)  # parsed once, for the title and the text
    if tree is None:
        raise ExtractionError("no extractable text")
    title = _html_title(tree, page)
    text = trafilatura.extract(tree, include_comments=False, include_tables=True, favor_recall=True) or ""
    return text, title, note


def _html_title(tree: Any, page: str) -> str:
    """The title trafilatura's metadata extraction would find; else the <title> element. Reads the tree only."""
    if extract_title is None:  # pragma: no cover
        metadata = trafilatura.extract_metadata(page)
        title = metadata.title if metadata is not None and metadata.title else ""
    else:
        metadata = examine_meta(tree)
        try:
            metadata = extract_meta_json(tree, metadata)
        except Exception:  # noqa: BLE001 - trafilatura itself ignores errors in its JSON-LD parser
            pass
        title = metadata.title or extract_title(tree) or ""
    if not title:
        element = tree.find(".//title")
        title = html_lib.unescape(element.text_content()) if element is not None else ""
    return title


# -- bounded extraction: a pool of worker processes ---------------------------------------------------------------
def needs_worker(content_type: str, size: int) -> bool:
    """Whether a body must be extracted in a worker process (it may take long or much memory)."""
    return content_type == PDF_TYPE or (content_type in HTML_TYPES and size > INLINE_MAX_BYTES)


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


def _worker_main(conn: Any, memory_mb: int) -> None:  # pragma: no cover - runs in the worker process
    """A worker's loop: one (content_type, data, charset) in, one answer out, until told to stop."""
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
            content_type, data, charset, time_budget = request
            extracted = extract_page(content_type, data, charset, time_budget=time_budget)
            answer: tuple[Any, ...] = ("ok", extracted.text, extracted.title, extracted.note)
        except ValueError as exc:
            answer = ("error", str(exc))
        except MemoryError:
            answer, recycle = (
                ("error", f"extraction ran out of memory (over the {memory_mb} MB limit, EXTRACT_MEMORY_MB)"),
                True,
            )
        except RecursionError:
            answer, recycle = ("error", "extraction failed: the page is nested too deeply"), True
        except Exception as exc:  # noqa: BLE001 - a bug or a crash of an extractor on this page: one page fails
            answer = ("error", f"extraction failed: {type(exc).__name__}: {_one_line(str(exc))[:300]}")
        request = data = None  # type: ignore[assignment]  # free the body before measuring
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
            target=_worker_main, args=(child_conn, memory_mb), daemon=True, name="drevalkit-extract"
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

    def __init__(self, size: int = EXTRACT_WORKERS, memory_mb: int = EXTRACT_MEMORY_MB):
        import multiprocessing

        self.size = max(1, size)
        self.memory_mb = memory_mb
        self._context = multiprocessing.get_context("spawn")
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
            return _Worker(self._context, self.memory_mb)
        except OSError as exc:
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
        timeout: float | None = None,
        job: _Job | None = None,
    ) -> Extracted:
        """Extract in a worker within ``timeout`` seconds (default ``EXTRACT_TIMEOUT_S``); raises ExtractionError."""
        timeout = EXTRACT_TIMEOUT_S if timeout is None else timeout
        job = job or _Job()
        worker = self._acquire(job)
        keep = False
        try:
            worker.wait_ready(WORKER_START_TIMEOUT_S)
            try:
                worker.conn.send((content_type, data, charset, timeout * PDF_TIME_SHARE))
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
                    f"extraction timed out: not done within {timeout:g} s (EXTRACT_TIMEOUT_S)", durable=False
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


_pool: ExtractionPool | None = None
_pool_pid: int | None = None
_pool_lock = threading.Lock()


def extraction_pool() -> ExtractionPool:
    """The process-wide pool (created on first use, closed at exit; a forked child gets its own)."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool, _pool_pid = ExtractionPool(), os.getpid()
            atexit.register(_pool.close)
        return _pool


def extract_bounded(content_type: str, data: bytes, charset: str | None) -> Extracted:
    """Like ``extract_page``, but slow kinds of page go to a worker process under time and memory limits."""
    if not needs_worker(content_type, len(data)):
        return extract_page(content_type, data, charset)
    return extraction_pool().run(content_type, data, charset)


def extract_text_bounded(content_type: str, data: bytes, charset: str | None) -> tuple[str, str]:
    """(text, title) by ``extract_bounded``; raises ValueError with a one-line reason."""
    extracted = extract_bounded(content_type, data, charset)
    return extracted.text, extracted.title


async def extract_async(content_type: str, data: bytes, charset: str | None) -> Extracted:
    """``extract_bounded`` without blocking the event loop; cancelling it kills the worker it was using."""
    if not needs_worker(content_type, len(data)):
        return await asyncio.to_thread(extract_page, content_type, data, charset)
    pool, job = extraction_pool(), _Job()
    try:
        return await asyncio.to_thread(pool.run, content_type, data, charset, job=job)
    except asyncio.CancelledError:
        pool.cancel(job)
        raise
