"""A saved report page (HTML): converted to markdown with its headings, lists, tables and links by trafilatura
(``favor_recall``, so the body is kept whole; navigation, scripts and footers are left out). Escaped markers
``\\[n\\]`` become ``[n]``; the page title is kept as metadata."""

from __future__ import annotations

import re
from pathlib import Path

from .base import IMPORTERS, ImportedReport, ReportError

_ESCAPED_MARKER = re.compile(r"\\\[(\d{1,4}(?:\s*[,\-–]\s*\d{1,4})*)\\\]")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def html_to_markdown(raw: str) -> str | None:
    import trafilatura

    text = trafilatura.extract(raw, output_format="markdown", include_links=True, include_tables=True,
                               include_formatting=True, include_images=False, include_comments=False,
                               favor_recall=True, deduplicate=False)
    if not text:
        text = trafilatura.extract(raw, output_format="txt", include_tables=True, favor_recall=True)
    return text


@IMPORTERS.register("html")
class HTMLImporter:
    name = "html"
    suffixes = (".html", ".htm", ".xhtml")

    def read(self, raw: str, path: Path) -> list[ImportedReport]:
        text = html_to_markdown(raw)
        if text is None:
            raise ReportError(f"{path}: no text could be extracted from the HTML page")
        text = _ESCAPED_MARKER.sub(lambda m: f"[{m.group(1)}]", text)
        report = ImportedReport(text=text, format=self.name, source_path=str(path), task_id=path.stem)
        title = _TITLE.search(raw[:200_000])
        if title:
            report.meta["title"] = " ".join(title.group(1).split())[:300]
        report.notes.append("converted from HTML to markdown with trafilatura")
        return [report]
