"""Text and title of a fetched page (HTML, PDF, text, markdown), bounded in time and memory.

Page bodies are untrusted input, and the extractors are not built for hostile pages: trafilatura needs seconds and
hundreds of MB per MB of tag soup (a 10 MB page of repeated ``<a>`` tags took 41 s and 1.6 GB), pypdf needs seconds
per MB of content stream. So:

* HTML handed to trafilatura is cut to ``extract_max_html_chars`` characters (after dropping the bodies of scripts and
  styles, which only take room), and the cut is reported in ``Extracted.note``;
* HTML of ``REPETITIVE_MIN_CHARS`` or more whose markup compresses more than ``MAX_COMPRESSION_RATIO`` to 1 is refused
  without parsing it: real pages compress 4 to 25 to 1, filler built to stall an extractor 150 to 1 and more; the
  text of any other page (plain text, markdown, a PDF's extracted text) gets the same check, since filler stored as
  evidence matches every search;
* anything that may be slow (PDFs, HTML over ``INLINE_MAX_BYTES``) is extracted in a warm pool of worker processes,
  each under a memory limit (``extract_memory_mb``, POSIX only), and a worker that takes longer than
  ``extract_timeout`` is killed and replaced. Small HTML pages and plain text are extracted in-process, except by
  the fact-checker's fetcher, which sends every HTML page to the pool (``extract_async(..., inline_max_bytes=0)``).
* a PDF's pages are read until ``PDF_TIME_SHARE`` of the time limit is spent, so a long but honest PDF gives the text
  of its first pages (with a note) rather than a timeout; one page that alone takes too long still times out.

Every refusal or failure is an ``ExtractionError`` (a ``ValueError``) with a one-line reason. ``extract`` holds the
in-process extraction (the cuts and checks), ``workers`` the pool that adds the time and memory limits. The limits
are settings (``[fetch]``, ``extract_*``), handed down as ``ExtractionLimits`` (``ExtractionLimits.of(settings)``).
"""

from .extract import (
    DEFAULT_LIMITS,
    HTML_TYPES,
    MAX_COMPRESSION_RATIO,
    PDF_TYPE,
    REPETITIVE_MIN_CHARS,
    TEXT_TYPES,
    Extracted,
    ExtractionError,
    ExtractionLimits,
    check_not_filler,
    cut_markup,
    decode,
    drop_script_bodies,
    extract_page,
    extract_text,
)
from .workers import (
    INLINE_MAX_BYTES,
    PDF_TIME_SHARE,
    WORKER_RECYCLE_MB,
    WORKER_START_TIMEOUT_S,
    ExtractionPool,
    die_with_parent,
    extract_async,
    extract_bounded,
    extract_text_bounded,
    extraction_pool,
    limit_memory,
    needs_worker,
)

__all__ = [
    "DEFAULT_LIMITS",
    "HTML_TYPES",
    "INLINE_MAX_BYTES",
    "MAX_COMPRESSION_RATIO",
    "PDF_TIME_SHARE",
    "PDF_TYPE",
    "REPETITIVE_MIN_CHARS",
    "TEXT_TYPES",
    "WORKER_RECYCLE_MB",
    "WORKER_START_TIMEOUT_S",
    "Extracted",
    "ExtractionError",
    "ExtractionLimits",
    "ExtractionPool",
    "check_not_filler",
    "cut_markup",
    "decode",
    "drop_script_bodies",
    "extract_async",
    "extract_bounded",
    "extract_page",
    "extract_text",
    "extract_text_bounded",
    "extraction_pool",
    "die_with_parent",
    "limit_memory",
    "needs_worker",
]
