"""Text, title and note of a page body, extracted in this process: cut and checked so that no page can make the
extractors slow (see the package docstring), but not time-limited; ``workers`` adds the time and memory limits.
"""

from __future__ import annotations

import html as html_lib
import io
import re
import time
import zlib
from dataclasses import dataclass
from typing import Any

import pypdf
import trafilatura

from ..config import Settings
from ..errors import DrevalError
from ..text import collapse_whitespace

try:  # the parts of trafilatura.extract_metadata that find the title; the rest (dates, authors) costs 4x as much
    from trafilatura.metadata import examine_meta, extract_meta_json, extract_title

    _TITLE_PARTS = True
except ImportError:  # pragma: no cover - another trafilatura version: use the whole metadata extraction
    _TITLE_PARTS = False

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
TEXT_TYPES = frozenset({"text/plain", "text/markdown", "text/x-markdown"})
PDF_TYPE = "application/pdf"

REPETITIVE_MIN_CHARS = 512 * 1024  # smaller pages are cheap whatever they hold: no filler check
MAX_COMPRESSION_RATIO = 50.0

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


def _default(name: str) -> Any:
    return Settings.model_fields[name].default


@dataclass(frozen=True)
class ExtractionLimits:
    """How far extracting one page may go: the ``extract_*`` settings of ``[fetch]``, whose defaults these are.
    ``max_html_chars`` of markup take trafilatura at worst about 10 s and 350 MB (1.5M, the default)."""

    max_html_chars: int = _default("extract_max_html_chars")
    timeout: float = _default("extract_timeout")  # seconds of one extraction in a worker
    memory_mb: int = _default("extract_memory_mb")  # a worker's address-space limit (RLIMIT_AS, where there is one)
    workers: int = _default("extract_workers")  # worker processes, and so extractions at once

    @classmethod
    def of(cls, settings: Settings) -> ExtractionLimits:
        return cls(
            settings.extract_max_html_chars,
            settings.extract_timeout,
            settings.extract_memory_mb,
            settings.extract_workers,
        )


DEFAULT_LIMITS = ExtractionLimits()


@dataclass(frozen=True)
class Extracted:
    text: str
    title: str
    note: str = ""  # what the reader should know, e.g. that only the beginning of the page was read


def decode(data: bytes, charset: str | None) -> str:
    try:
        return data.decode(charset or "utf-8", errors="replace")
    except LookupError:  # unknown charset name
        return data.decode("utf-8", errors="replace")


def extract_page(
    content_type: str,
    data: bytes,
    charset: str | None,
    *,
    time_budget: float | None = None,
    max_html_chars: int = DEFAULT_LIMITS.max_html_chars,
) -> Extracted:
    """Text, title and note of a page body, in this process (cut and checked, but not time-limited).

    ``time_budget`` (seconds) stops reading a PDF's pages once spent; HTML is cut to ``max_html_chars`` of markup.
    Raises ValueError (``ExtractionError``) with a one-line reason when there is no usable text.
    """
    note = ""
    if content_type == PDF_TYPE:
        text, title, note = _extract_pdf(data, time_budget)
    elif content_type in HTML_TYPES:
        text, title, note = _extract_html(decode(data, charset), max_html_chars)
    else:
        text = decode(data, charset)
        heading = _MARKDOWN_HEADING.search(text) if content_type != "text/plain" else None
        title = heading.group(1) if heading else ""
    if content_type not in HTML_TYPES:  # HTML was checked as markup, before parsing; the rest is checked as text
        check_not_filler(text, "text")
    if not text.strip():
        raise ExtractionError("no extractable text")
    return Extracted(text.strip(), collapse_whitespace(str(title)), note)


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
    except Exception as exc:
        raise ExtractionError(f"cannot read PDF: {collapse_whitespace(str(exc)) or type(exc).__name__}") from exc
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


def cut_markup(page: str, max_chars: int = DEFAULT_LIMITS.max_html_chars) -> tuple[str, str]:
    """The markup trafilatura gets (at most ``max_chars``, ending before a tag) and a note when it was cut."""
    if len(page) <= max_chars:
        return page, ""
    page = drop_script_bodies(page)
    if len(page) <= max_chars:
        return page, ""
    total = len(page)
    cut = page.rfind("<", max_chars // 2, max_chars)
    page = page[: cut if cut > 0 else max_chars]
    return page, (
        f"page cut: text extracted from the first {len(page):,} of {total:,} characters of markup "
        "(extract_max_html_chars)"
    )


def check_not_filler(page: str, what: str = "markup") -> None:
    """Refuse ``page`` (``what``: markup, or the text of a non-HTML page) when it is large and compresses like filler:
    repeated words are no evidence for anything, and once stored they match every search."""
    if len(page) < REPETITIVE_MIN_CHARS:
        return
    data = page.encode("utf-8", errors="replace")
    ratio = len(data) / max(1, len(zlib.compress(data, 1)))
    if ratio > MAX_COMPRESSION_RATIO:
        raise ExtractionError(
            f"extraction refused: the {what} is repetitive filler ({len(data) / 1e6:.1f} MB that compresses "
            f"{ratio:.0f} to 1, over {MAX_COMPRESSION_RATIO:g} to 1 (MAX_COMPRESSION_RATIO))"
        )


def _extract_html(page: str, max_chars: int) -> tuple[str, str, str]:
    page, note = cut_markup(page, max_chars)
    check_not_filler(page)
    tree = trafilatura.load_html(page)  # parsed once, for the title and the text
    if tree is None:
        raise ExtractionError("no extractable text")
    title = _html_title(tree, page)
    text = trafilatura.extract(tree, include_comments=False, include_tables=True, favor_recall=True) or ""
    return text, title, note


def _html_title(tree: Any, page: str) -> str:
    """The title trafilatura's metadata extraction would find; else the <title> element. Reads the tree only."""
    if not _TITLE_PARTS:  # pragma: no cover
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
