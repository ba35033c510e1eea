"""A saved report page (HTML), converted to markdown with its headings, lists, tables and links.

trafilatura converts it first (``favor_recall``, so the body is kept whole; navigation, scripts and footers are left
out), with its minimum text size lowered: by default a page under 250 characters of text falls back to a flattened
one-line extraction. trafilatura also drops link-dense lists such as a References ``<ol>`` of links, which leaves
``[1]`` resolving to nothing; so its output is checked against the page's main element (the largest ``<article>``,
else ``<main>``, else ``<body>``), and when it lost headings, list items, tables or links the main element is
converted here instead (lxml, already installed with trafilatura; no new dependency). What is still lost is said in
the sidecar's notes. Escaped markers ``\\[n\\]`` become ``[n]``; the page title is kept as metadata.

Pages are hostile input, bounded as the fact-checker bounds fetched pages (``drevalkit.documents``): the
markup is cut to the default ``extract_max_html_chars``, repetitive filler is refused, and a page over
``INLINE_MAX_BYTES`` is converted in a worker process under the default ``extract_memory_mb`` and ``extract_timeout``.
"""

from __future__ import annotations

import bisect
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base import IMPORTERS, ImportedReport, ReportError

_ESCAPED_MARKER = re.compile(r"\\\[(\d{1,4}(?:\s*[,\-–]\s*\d{1,4})*)\\\]")
# attributes and title stop at the next tag or "<title": else each of a run of "<title" scans the rest of the page
_TITLE = re.compile(r"<title[^<>]*>((?:(?!<title).)*?)</title>", re.IGNORECASE | re.DOTALL)
_MD_HEADING = re.compile(r"^#{1,6}\s", re.MULTILINE)
# spacing within the line only: a leading \s* ran on over the following blank lines from every line start (7 s on a
# 16,000-character page with a <pre> of blank lines)
_MD_ITEM = re.compile(r"^[^\S\n]*(?:[-*+]|\d{1,9}[.)])\s", re.MULTILINE)
_MD_TABLE_RULE = re.compile(r"^\|?[^\S\n]*:?-{3,}", re.MULTILINE)
_SPACE = re.compile(r"\s+")
_TEXT_URL = re.compile(r"https?://[^\s<>\"\]]+", re.IGNORECASE)
_CITATION_TEXT = re.compile(r"^\[?(\d{1,4})\]?$")

_SKIP = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "nav",
        "form",
        "button",
        "svg",
        "iframe",
        "select",
        "input",
        "textarea",
        "head",
        "title",
        "meta",
        "link",
    }
)
_PAGE_CHROME = frozenset({"header", "footer", "aside"})  # left out only when the main element is the whole body
_BLOCKS = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "main",
        "header",
        "footer",
        "aside",
        "figure",
        "figcaption",
        "address",
        "details",
        "summary",
        "dl",
        "dt",
        "dd",
        "center",
        "body",
    }
)


@dataclass
class Converted:
    """Markdown of a page and the notes on how it was made (which converter, what was cut or lost)."""

    text: str
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------- the page's structure


def _main_element(tree: Any) -> Any:
    """The element holding the report: the ``<article>`` with the most text, else ``<main>``, else the body."""
    articles = tree.xpath("//article")
    if articles:
        return max(articles, key=lambda e: len(e.text_content()))
    for path in ("//main", "//*[@role='main']", "//body"):
        found = tree.xpath(path)
        if found:
            return found[0]
    return tree


def _skipped(element: Any, whole_body: bool) -> bool:
    tag = element.tag if isinstance(element.tag, str) else ""
    return tag in _SKIP or (whole_body and tag in _PAGE_CHROME) or element.get("hidden") is not None


@dataclass
class _Counts:
    headings: int = 0
    items: int = 0
    tables: int = 0
    urls: set[str] = field(default_factory=set)


def _structure(main: Any) -> _Counts:
    """What the main element holds that its markdown must keep: headings, list items, tables and link URLs."""
    counts = _Counts()
    whole_body = main.tag == "body"
    stack = [main]
    while stack:
        element = stack.pop()
        if not isinstance(element.tag, str) or _skipped(element, whole_body):
            continue
        tag = element.tag
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6") and element.text_content().strip():
            counts.headings += 1
        elif tag == "li" and element.text_content().strip():
            counts.items += 1
        elif tag == "table" and element.xpath(".//td"):
            counts.tables += 1
        elif tag == "a" and (element.get("href") or "").startswith(("http://", "https://")):
            counts.urls.add(element.get("href").strip())
        stack.extend(element)
    return counts


def _missing_urls(urls: set[str], text: str) -> list[str]:
    """The ``urls`` the markdown does not have: a URL of the text, or one cut at a ``)`` of it (a link's closing
    parenthesis or one of the URL's own). The cuts are found by bisecting the sorted URLs of the text: a search of
    the text per link is quadratic on a page of many links, and a set of every cut on a URL of many ``)``."""
    found = sorted(set(_TEXT_URL.findall(text)))

    def kept(url: str) -> bool:
        at = bisect.bisect_left(found, url)
        if at < len(found) and found[at] == url:
            return True
        at = bisect.bisect_left(found, url + ")", at)
        return at < len(found) and found[at].startswith(url + ")")

    return [url for url in urls if not kept(url)]


def _lost(counts: _Counts, text: str) -> list[str]:
    """What of the main element's structure the markdown does not have, as phrases for a note."""
    lost = []
    if len(_MD_HEADING.findall(text)) < counts.headings:
        lost.append(f"headings ({len(_MD_HEADING.findall(text))} of {counts.headings} kept)")
    if len(_MD_ITEM.findall(text)) < counts.items:
        lost.append(f"list items ({len(_MD_ITEM.findall(text))} of {counts.items} kept)")
    if len(_MD_TABLE_RULE.findall(text)) < counts.tables:
        lost.append(f"tables ({len(_MD_TABLE_RULE.findall(text))} of {counts.tables} kept)")
    missing = _missing_urls(counts.urls, text) if counts.urls else []
    if missing:
        lost.append(f"link URLs ({len(counts.urls) - len(missing)} of {len(counts.urls)} kept)")
    return lost


# ------------------------------------------------------------------------------------ converting the main element


def _inline(element: Any, whole_body: bool) -> str:
    """The inline markdown of an element's content (links, emphasis, superscripts, line breaks)."""
    parts = [element.text or ""]
    for child in element:
        if isinstance(child.tag, str) and not _skipped(child, whole_body):
            parts.append(_inline_element(child, whole_body))
        parts.append(child.tail or "")
    return "".join(parts)


def _inline_element(element: Any, whole_body: bool) -> str:
    tag = element.tag
    inner = _inline(element, whole_body)
    if tag == "br":
        return "\n"
    if tag == "a":
        href = (element.get("href") or "").strip()
        label = _SPACE.sub(" ", inner).strip()
        if not href.startswith(("http://", "https://")):
            return inner  # in-page anchors (#ref-2) and relative links: the text alone
        if not label:
            return f"<{href}>"
        number = _CITATION_TEXT.match(label)
        if number:
            return f"[{number.group(1)}]({href})"  # a linked marker: its URL fills a missing References entry
        return f"[{label.replace('[', '(').replace(']', ')')}]({href})"
    if tag in ("strong", "b"):
        return f"**{inner.strip()}**" if inner.strip() else inner
    if tag in ("em", "i"):
        return f"*{inner.strip()}*" if inner.strip() else inner
    if tag == "sup":
        return f"<sup>{inner.strip()}</sup>" if inner.strip() else ""
    if tag == "code":
        return f"`{inner}`"
    return inner


def _line(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def _table(table: Any, whole_body: bool) -> str:
    rows = []
    for row in table.xpath(".//tr"):
        cells = [_line(_inline(cell, whole_body)).replace("|", "\\|") for cell in row if cell.tag in ("td", "th")]
        if cells:
            rows.append(cells)
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * width]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def _list(element: Any, whole_body: bool, depth: int) -> list[str]:
    lines = []
    number = int(element.get("start") or 1) if (element.get("start") or "1").isdigit() else 1
    for item in element:
        if item.tag != "li":
            continue
        marker = f"{number}." if element.tag == "ol" else "-"
        number += 1
        text_parts = [item.text or ""]
        nested: list[str] = []
        for child in item:
            if not isinstance(child.tag, str) or _skipped(child, whole_body):
                pass
            elif child.tag in ("ul", "ol"):
                nested += _list(child, whole_body, depth + 1)
            else:
                text_parts.append(_inline_element(child, whole_body))
            text_parts.append(child.tail or "")
        lines.append("  " * depth + f"{marker} {_line(''.join(text_parts))}")
        lines += nested
    return lines


def _blocks(element: Any, whole_body: bool, out: list[str]) -> None:
    """Append the markdown blocks of an element's content to ``out``; text between blocks becomes paragraphs."""
    pending = [element.text or ""]

    def flush() -> None:
        text = _line("".join(pending))
        if text:
            out.append(text)
        pending.clear()

    for child in element:
        tag = child.tag if isinstance(child.tag, str) else ""
        if not tag or _skipped(child, whole_body):
            pass
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            flush()
            heading = _line(_inline(child, whole_body))
            if heading:
                out.append("#" * int(tag[1]) + " " + heading)
        elif tag in ("ul", "ol"):
            flush()
            out.append("\n".join(_list(child, whole_body, 0)))
        elif tag == "table":
            flush()
            out.append(_table(child, whole_body))
        elif tag == "pre":
            flush()
            out.append("```\n" + child.text_content().strip("\n") + "\n```")
        elif tag == "blockquote":
            flush()
            inner: list[str] = []
            _blocks(child, whole_body, inner)
            out.append("\n".join("> " + line for block in inner for line in block.splitlines()))
        elif tag == "hr":
            flush()
            out.append("---")
        elif tag in _BLOCKS:
            flush()
            _blocks(child, whole_body, out)
        else:
            pending.append(_inline_element(child, whole_body))
        pending.append(child.tail or "")
    flush()


def convert_main(main: Any) -> str:
    """Markdown of the main element: headings, paragraphs, (nested) lists, tables and links, titles kept."""
    out: list[str] = []
    _blocks(main, main.tag == "body", out)
    return "\n\n".join(block for block in out if block.strip())


# --------------------------------------------------------------------------------------------------- conversion


def _trafilatura(page: str) -> str:
    import trafilatura
    from trafilatura.settings import use_config

    config = use_config()
    config.set("DEFAULT", "MIN_EXTRACTED_SIZE", "1")  # else short pages fall back to one flattened line
    text = trafilatura.extract(
        page,
        output_format="markdown",
        include_links=True,
        include_tables=True,
        include_formatting=True,
        include_images=False,
        include_comments=False,
        favor_recall=True,
        deduplicate=False,
        fast=True,
        config=config,
    )
    return _ESCAPED_MARKER.sub(lambda m: f"[{m.group(1)}]", text or "")


def convert_page(page: str) -> Converted:
    """Markdown of a page (in this process, not time-limited: see ``html_to_markdown``)."""
    import trafilatura

    tree = trafilatura.load_html(page)
    if tree is None:
        return Converted("")
    main = _main_element(tree)
    counts = _structure(main)
    text = _trafilatura(page)  # from the markup, not the tree: trafilatura prunes the tree it is given
    lost = _lost(counts, text)
    if not lost:
        return Converted(text, ["converted from HTML to markdown with trafilatura"])
    try:
        own = convert_main(main)
    except RecursionError:
        own = ""
    own_lost = _lost(counts, own) if own else ["everything"]
    if own and (len(own_lost) < len(lost) or (len(own_lost) == len(lost) and len(own) > len(text))):
        notes = [
            f"converted from HTML to markdown from the page's <{main.tag}> element: trafilatura left out "
            f"{', '.join(lost)}"
        ]
        if own_lost:
            notes.append(f"structure lost in the conversion: {', '.join(own_lost)}")
        return Converted(own, notes)
    return Converted(
        text,
        ["converted from HTML to markdown with trafilatura", f"structure lost in the conversion: {', '.join(lost)}"],
    )


def _worker(conn: Any, memory_mb: int, parent: int) -> None:  # pragma: no cover - runs in the worker process
    """Convert one page under a memory limit and send back ("ok", text, notes) or ("error", reason); end with the
    importing process, even when it is killed."""
    from ...documents import die_with_parent, limit_memory

    die_with_parent(parent)
    limit_memory(memory_mb)
    conn.send(("ready",))
    page = conn.recv()
    try:
        converted = convert_page(page)
        answer: tuple[Any, ...] = ("ok", converted.text, converted.notes)
    except MemoryError:
        answer = ("error", f"conversion ran out of memory (over the {memory_mb} MB limit, extract_memory_mb)")
    except RecursionError:
        answer = ("error", "conversion failed: the page is nested too deeply")
    except Exception as exc:  # noqa: BLE001 - a crash of the converter on this page: this page fails
        answer = ("error", f"conversion failed: {type(exc).__name__}: {_line(str(exc))[:300]}")
    conn.send(answer)


def _in_worker(page: str, timeout: float, memory_mb: int, start_timeout: float) -> Converted:
    """``convert_page`` in a fresh worker process, killed when it takes longer than ``timeout`` seconds."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    conn, child = context.Pipe()
    process = context.Process(
        target=_worker, args=(child, memory_mb, os.getpid()), daemon=True, name="dreval-html-import"
    )
    process.start()
    child.close()
    try:
        if not conn.poll(start_timeout):
            raise ReportError(f"no worker process started within {start_timeout:g} s")
        conn.recv()
        conn.send(page)
        if not conn.poll(timeout):
            raise ReportError(f"conversion timed out: not done within {timeout:g} s (extract_timeout)")
        answer = conn.recv()
    except (EOFError, OSError):
        process.join(1)
        raise ReportError(f"conversion failed: the worker process died (exit code {process.exitcode})") from None
    finally:
        if process.is_alive():
            process.kill()
        process.join(5)
        conn.close()
    if answer[0] != "ok":
        raise ReportError(answer[1])
    return Converted(answer[1], list(answer[2]))


def html_to_markdown(raw: str, *, timeout: float | None = None) -> Converted:
    """Markdown of a page, bounded: markup cut and filler refused as for fetched pages, large pages converted in a
    worker process under the fact-checker's time and memory limits. Raises ReportError with a one-line reason."""
    from ... import documents as extract

    try:
        page, cut = extract.cut_markup(raw)
        extract.check_not_filler(page)
    except ValueError as exc:
        raise ReportError(str(exc)) from None
    if len(page.encode("utf-8", errors="replace")) <= extract.INLINE_MAX_BYTES:
        converted = convert_page(page)
    else:
        converted = _in_worker(
            page,
            extract.DEFAULT_LIMITS.timeout if timeout is None else timeout,
            extract.DEFAULT_LIMITS.memory_mb,
            extract.WORKER_START_TIMEOUT_S,
        )
    if cut:
        converted.notes.append(cut)
    return converted


@IMPORTERS.register("html")
class HTMLImporter:
    name = "html"
    suffixes = (".html", ".htm", ".xhtml")

    def read(self, raw: str, path: Path) -> list[ImportedReport]:
        try:
            converted = html_to_markdown(raw)
        except ReportError as exc:
            raise ReportError(f"{path}: {exc}") from None
        if not converted.text.strip():
            raise ReportError(f"{path}: no text could be extracted from the HTML page")
        report = ImportedReport(text=converted.text, format=self.name, source_path=str(path), task_id=path.stem)
        title = _TITLE.search(raw[:200_000])
        if title:
            report.meta["title"] = " ".join(title.group(1).split())[:300]
        report.notes.extend(converted.notes)
        return [report]
