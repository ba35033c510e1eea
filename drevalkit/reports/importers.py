"""Read report files into ``Report`` models. Each format is an importer in a registry keyed by name.

Reports are hostile input: size is capped, binary content and empty files are refused with a clear reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from ..registry import Registry
from ..schemas import Report
from .citations import parse_citations


class ReportError(ValueError):
    """A report file that cannot be scored; the message says why."""


class ReportImporter(Protocol):
    name: str
    suffixes: tuple[str, ...]

    def parse(self, raw: str, path: Path) -> tuple[str, dict[str, Any]]:
        """Report text (markdown) and metadata from the file's decoded content."""


IMPORTERS: Registry[type[ReportImporter]] = Registry("report format", "drevalkit.importers")


@IMPORTERS.register("markdown")
class MarkdownImporter:
    name = "markdown"
    suffixes = (".md", ".markdown", ".txt", ".text")

    def parse(self, raw: str, path: Path) -> tuple[str, dict[str, Any]]:
        return raw, {}


@IMPORTERS.register("deepresearcheval")
class DeepResearchEvalImporter:
    """DeepResearchEval output: ``{"entries": [{"response": "..."}]}``."""

    name = "deepresearcheval"
    suffixes = (".json",)

    def parse(self, raw: str, path: Path) -> tuple[str, dict[str, Any]]:
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ReportError(f"{path}: malformed JSON ({exc.msg}, line {exc.lineno} column {exc.colno})") from None
        entries = data.get("entries") if isinstance(data, dict) else None
        if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
            raise ReportError(f"{path}: expected a DeepResearchEval JSON object with a non-empty 'entries' list")
        response = entries[0].get("response")
        if not isinstance(response, str):
            raise ReportError(f"{path}: entries[0].response is missing or not a string")
        meta = {k: v for k, v in entries[0].items() if k != "response" and isinstance(v, (str, int, float))}
        return response, meta


def importer_for(path: Path, format_name: str | None = None) -> ReportImporter:
    """The importer named by ``format_name``, else the first whose suffixes match the file, else markdown."""
    if format_name:
        try:
            return IMPORTERS.get(format_name)()
        except LookupError as exc:
            raise ReportError(str(exc)) from None
    suffix = path.suffix.lower()
    for _, importer in IMPORTERS.items():
        if suffix in importer.suffixes:
            return importer()
    return MarkdownImporter()


def read_text_file(path: Path, max_bytes: int) -> str:
    """Decode a text file, refusing missing, oversized, binary and empty files with a one-line reason."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ReportError(f"{path}: cannot read ({exc.strerror})") from None
    if size > max_bytes:
        raise ReportError(
            f"{path}: {size / 1e6:.1f} MB is larger than the {max_bytes / 1e6:.1f} MB limit (raise --max-report-mb)"
        )
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise ReportError(f"{path}: binary content, not a text report")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReportError(f"{path}: not UTF-8 text (invalid byte at position {exc.start})") from None
    if not text.strip():
        raise ReportError(f"{path}: the report is empty")
    return text


def load_report(
    path: Path, *, system: str, task_id: str, max_bytes: int, format_name: str | None = None
) -> Report:
    importer = importer_for(path, format_name)
    text, meta = importer.parse(read_text_file(path, max_bytes), path)
    text = text.strip()
    if not text:
        raise ReportError(f"{path}: the report text is empty")
    citations, citation_summary = parse_citations(text)
    meta = {**meta, **citation_summary, "path": str(path)}
    return Report(system=system, task_id=task_id, text=text, citations=citations, source_format=importer.name, meta=meta)
