"""Read report files into ``Report`` models, and import them as normalised reports with sidecars.

Each format is an importer in a registry keyed by name (``IMPORTERS``; the formats live in
``drevalkit.ingest.formats``). The format of a file is the one named, else the one its suffix says (``.md``,
``.html``), else, for ``.json`` / ``.jsonl``, the one whose ``sniff`` recognises the parsed content. Every report
then goes through the same pipeline (``finish``): interface chrome removed (``drevalkit.ingest.chrome``),
citation markers and the References list normalised (``formats.references``), and error or give-up messages
recognised (``drevalkit.ingest.failures``).

Reports are hostile input: size is capped, binary content and empty files are refused with a clear reason.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..__version__ import __version__
from ..citations import parse_citations
from ..files import atomic_write_text, safe_filename
from ..schemas import Report
from . import formats  # noqa: F401 - registers the built-in formats
from .chrome import strip_chrome
from .failures import detect_failure
from .formats.base import (
    IMPORTERS,
    ImportedReport,
    ReportError,
    ReportImporter,
    Source,
    looks_like_jsonl,
    parse_json_or_jsonl,
    plural,
)
from .formats.markdown import MarkdownImporter
from .formats.references import normalise_references
from .sidecar import (
    CitationCounts,
    ImportSidecar,
    SourceEntry,
    is_sidecar,
    sha256_text,
    sidecar_path,
    write_sidecar,
)

__all__ = [
    "IMPORTERS",
    "ImportOutcome",
    "ImportedReport",
    "ReportError",
    "ReportImporter",
    "Source",
    "finish",
    "import_reports",
    "linking_warning",
    "importer_for",
    "load_report",
    "read_report_bytes",
    "read_reports",
    "read_text_file",
]

JSON_SUFFIXES = (".json", ".jsonl")
IMPORT_SUFFIXES = (".md", ".markdown", ".txt", ".text", ".json", ".jsonl", ".html", ".htm", ".xhtml")


class _LegacyImporter:
    """An importer written for the old protocol, ``parse(raw, path) -> (text, meta)``."""

    def __init__(self, importer: Any):
        self._importer = importer
        self.name = importer.name
        self.suffixes = tuple(getattr(importer, "suffixes", ()))

    def read(self, raw: str, path: Path) -> list[ImportedReport]:
        text, meta = self._importer.parse(raw, path)
        return [ImportedReport(text=text, format=self.name, source_path=str(path), meta=dict(meta or {}))]


def as_reader(importer: Any) -> Any:
    return importer if hasattr(importer, "read") else _LegacyImporter(importer)


def _instance(name: str) -> Any:
    try:
        return as_reader(IMPORTERS.get(name)())
    except LookupError as exc:
        raise ReportError(str(exc)) from None


def sniff_format(path: Path, raw: str) -> str:
    """The format of a JSON / JSONL report file, from its content."""
    data = parse_json_or_jsonl(raw, path)
    name = _detected(data)
    if name is not None:
        return name
    shape = "JSONL lines" if looks_like_jsonl(raw) else type(data).__name__
    raise ReportError(
        f"{path}: unknown report format ({shape}); expected a DeepResearchEval object with 'entries', "
        "DeepResearch Bench lines {id, prompt, article}, a MiroEval array {id, query, response}, or "
        "an OpenAI Responses result with 'output' (or name one with --format)"
    )


def _detected(data: Any) -> str | None:
    for name, importer in IMPORTERS.items():
        sniff = getattr(importer, "sniff", None)
        if sniff is not None and sniff(data):
            return name
    return None


def wrong_format(path: Path, raw: str, format_name: str) -> str | None:
    """Why a file plainly is not in the format named for it, with a hint, or None.

    A file is plainly another format when the content detection ``auto`` uses recognises another known format and
    the named one does not recognise it; a ``.json`` / ``.jsonl`` file of JSON content is never a markdown or HTML
    report. Said once for the file, instead of an error per line of a misread JSONL."""
    named = IMPORTERS.get(format_name)
    sniff = getattr(named, "sniff", None)
    suffix = Path(path).suffix.lower()
    if suffix not in JSON_SUFFIXES and raw.lstrip()[:1] not in ("{", "["):
        return None
    try:
        data = parse_json_or_jsonl(raw, path)
    except ReportError:
        return None  # not JSON: the named importer reads it (or says what is wrong)
    if sniff is not None and sniff(data):
        return None
    detected = _detected(data)
    if detected is not None and detected != format_name:
        return f"{path}: this looks like {detected}, not {format_name}: try `dreval import {detected}` or `auto`"
    if sniff is None and suffix in JSON_SUFFIXES:
        return (
            f"{path}: the content is JSON, not a {format_name} report: name its format (one of "
            f"{', '.join(n for n, i in IMPORTERS.items() if hasattr(i, 'sniff'))}) or try `dreval import auto`"
        )
    return None


def importer_for(
    path: Path, format_name: str | None = None, raw: str | None = None, max_bytes: int = 100_000_000
) -> Any:
    """The importer named by ``format_name``, else by the file's suffix, else (JSON) by its content, else
    markdown."""
    if format_name and format_name != "auto":
        return _instance(format_name)
    suffix = Path(path).suffix.lower()
    if suffix not in JSON_SUFFIXES:
        for name, importer in IMPORTERS.items():
            if suffix in getattr(importer, "suffixes", ()) and not hasattr(importer, "sniff"):
                return _instance(name)
        return MarkdownImporter()
    if raw is None:
        raw = read_text_file(Path(path), max_bytes)
    return _instance(sniff_format(Path(path), raw))


def read_report_bytes(path: Path, max_bytes: int) -> bytes:
    """The bytes of a report file, at most ``max_bytes``: its size is checked before anything is read, and the read
    stops one byte past the cap (a file that grows meanwhile is refused too), so an oversized file costs no memory."""

    def too_large(size: str) -> ReportError:
        return ReportError(f"{path}: {size} is larger than the {max_bytes / 1e6:.1f} MB limit (raise --max-report-mb)")

    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise too_large(f"{size / 1e6:.1f} MB")
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise ReportError(f"{path}: cannot read ({exc.strerror})") from None
    if len(data) > max_bytes:
        raise too_large("the file (it grew while read)")
    return data


def _decode(path: Path, data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise ReportError(f"{path}: binary content, not a text report")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReportError(f"{path}: not UTF-8 text (invalid byte at position {exc.start})") from None
    if not text.strip():
        raise ReportError(f"{path}: the report is empty")
    return text


def read_text_file(path: Path, max_bytes: int) -> str:
    """Decode a text file, refusing missing, oversized, binary and empty files with a one-line reason."""
    return _decode(path, read_report_bytes(path, max_bytes))


def finish(report: ImportedReport) -> ImportedReport:
    """The shared pipeline: chrome removed, markers and References normalised, give-up messages recognised.

    A failed report keeps its original text (it is what the agent returned, kept for inspection)."""
    if report.error is not None:
        return report
    original = report.text
    gemini = str(report.meta.get("url", "")).startswith("https://gemini.google.com/")
    stripped = strip_chrome(original, product="gemini" if gemini else None)
    report.removed.extend(stripped.removed)
    if not report.prompt and stripped.question:
        report.prompt = stripped.question
        report.notes.append("prompt taken from the question the export echoes")
    normalised = normalise_references(stripped.text)
    report.notes.extend(normalised.notes)
    text = normalised.text.strip()
    if report.failure is None:
        if not text and any(r["rule"] == "gemini-conversation" for r in stripped.removed):
            report.failure = "plan-only: the export holds the research plan and interface text but no report"
        else:
            report.failure = detect_failure(text)
    report.text = original.strip() if report.failure else text
    if report.failure is None:
        report.citations = normalised.counts
        warning = linking_warning(normalised.counts)
        if warning is not None and not report.warnings:  # a warning already given says why sources are missing
            report.warnings.append(warning)
    return report


LINKED_AT_LEAST = 0.8  # a report whose markers link less than this is worth a warning at import


def linking_warning(counts: CitationCounts) -> str | None:
    """What a user must be told when fewer than ``LINKED_AT_LEAST`` of a report's markers cite a source (or its
    listed sources are cited by no marker at all), with the likely cause; None when they link."""
    if not counts.markers:
        if not counts.sources:
            return None
        return (
            f"{plural(counts.sources, 'source')} listed but no marker in the text cites one "
            "(markers written in a form dreval does not read?)"
        )
    share = counts.linked
    if share is None or share >= LINKED_AT_LEAST:
        return None
    return (
        f"only {counts.resolved + counts.attached} of {plural(counts.markers, 'marker')} cite a source "
        f"({100 * share:.0f}%): {counts.cause}"
    )


_CACHE: OrderedDict[tuple[Any, ...], tuple[int, tuple[str, list[ImportedReport]]]] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_MAX_BYTES = 64_000_000  # of source files whose reports are memoised
_CACHE_MAX_FILES = 256


def read_reports(
    path: Path, format_name: str | None = None, *, max_bytes: int, data: bytes | None = None
) -> tuple[str, list[ImportedReport]]:
    """(format name, every report in the file, finished); ``data``: the file's bytes when the caller has read them
    already (they are what is parsed). Files are parsed once per content: results are memoised (bounded) by path,
    content hash and format, so listing a folder's reports and then scoring them, or scoring the many reports of
    one JSONL, parses each file once."""
    path = Path(path)
    data = read_report_bytes(path, max_bytes) if data is None else data
    try:  # a markdown report's sidecar is part of what it is read from
        side = sidecar_path(path).stat()
        side_key: tuple[int, int] | None = (side.st_size, side.st_mtime_ns)
    except OSError:
        side_key = None
    key = (str(path.resolve()), hashlib.sha256(data).hexdigest(), format_name, side_key)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key][1]
    raw = _decode(path, data)
    importer = importer_for(path, format_name, raw)
    reports = [finish(report) for report in importer.read(raw, path)]
    for report in reports:
        if report.task_id is None and report.error is None and len(reports) == 1:
            report.task_id = path.stem
    result = (importer.name, reports)
    with _CACHE_LOCK:
        _CACHE[key] = (len(data), result)
        while len(_CACHE) > _CACHE_MAX_FILES or sum(size for size, _ in _CACHE.values()) > _CACHE_MAX_BYTES:
            _CACHE.popitem(last=False)
    return result


def _pick(path: Path, reports: list[ImportedReport], task_id: str | None) -> ImportedReport:
    if len(reports) == 1:
        return reports[0]
    for report in reports:
        if report.task_id == task_id:
            return report
    known = ", ".join(r.task_id for r in reports[:5] if r.task_id) + (" ..." if len(reports) > 5 else "")
    raise ReportError(f"{path} holds {len(reports)} reports, none for task {task_id!r} (ids: {known})")


def load_report(
    path: Path,
    *,
    system: str,
    task_id: str,
    max_bytes: int,
    format_name: str | None = None,
    data: bytes | None = None,
) -> Report:
    """The report of ``task_id`` in the file (the only one, for single-report files), ready to score; ``data``: the
    file's bytes when the caller has read (and hashed) them. A failed report (an error or give-up message, or one
    its import sidecar marks failed) raises ``ReportError`` with the reason, so the scorer records a failed
    result."""
    path = Path(path)
    name, reports = read_reports(path, format_name, max_bytes=max_bytes, data=data)
    report = _pick(path, reports, task_id)
    if report.error is not None:
        raise ReportError(report.error)
    if report.failure is not None:
        if report.failure.startswith("empty:"):
            raise ReportError(f"{path}: the report text is empty")
        raise ReportError(f"{path}: failed report ({report.failure})")
    text = report.text.strip()
    if not text:
        raise ReportError(f"{path}: the report text is empty")
    citations, citation_summary = parse_citations(text)
    meta = {
        **report.meta,
        **citation_summary,
        "path": str(path),
        "import": {
            "entry": report.entry,
            "prompt": report.prompt,
            "sources_used": len(report.sources_used),
            "sources_unused": len(report.sources_unused),
            "chrome_removed": len(report.removed),
            "notes": report.notes,
            "citations": report.citations.model_dump() if report.citations is not None else None,
        },
    }
    return Report(system=system, task_id=task_id, text=text, citations=citations, source_format=name, meta=meta)


# ---------------------------------------------------------------------------------------------------- importing


@dataclass
class ImportOutcome:
    """What ``import_reports`` did: files read, reports written (and which of them failed), problems and warnings
    (a report written without something it should have, such as its sources)."""

    files: int = 0
    written: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)  # (report file, reason)
    problems: list[str] = field(default_factory=list)  # files or entries that could not be imported
    warnings: list[str] = field(default_factory=list)  # imported, but something was lost (also in the sidecar)
    poorly_linked: list[Path] = field(default_factory=list)  # reports whose markers mostly cite no source

    @property
    def ok(self) -> bool:
        return not self.problems and not self.failed and not self.warnings


def collect_import_files(paths: Iterable[Path]) -> list[Path]:
    """Files from the arguments, folders expanded (report suffixes; sidecars and hidden files left out)."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(
                sorted(
                    p
                    for p in path.iterdir()
                    if p.is_file()
                    and not p.name.startswith(".")
                    and not is_sidecar(p)
                    and p.suffix.lower() in IMPORT_SUFFIXES
                )
            )
        else:
            files.append(path)
    return files


def _sources(sources: list[Source]) -> list[SourceEntry]:
    return [SourceEntry(index=s.index, url=s.url, title=s.title) for s in sources]


def _read_import_file(path: Path, format_name: str | None, max_bytes: int) -> tuple[str, list[ImportedReport], str]:
    """(format name, reports, SHA-256 of the file), all from one read of it. A named format that does not fit the
    file is refused here, not when scoring, where --format deliberately overrides."""
    data = read_report_bytes(path, max_bytes)
    if format_name and format_name != "auto" and format_name in IMPORTERS:
        hint = wrong_format(path, _decode(path, data), format_name)
        if hint is not None:
            raise ReportError(hint)
    name, reports = read_reports(path, format_name, max_bytes=max_bytes, data=data)
    return name, reports, hashlib.sha256(data).hexdigest()


def _write_imported(
    target: Path, report: ImportedReport, task_id: str, format_name: str, path: Path, source_sha: str
) -> None:
    """``target`` and its sidecar; a failed report with no text is written as a comment saying so."""
    text = report.text.rstrip() + "\n"
    if report.failure and not report.text.strip():
        text = f"<!-- dreval import: failed report ({report.failure}); the file held no report text -->\n"
    sidecar = ImportSidecar(
        task_id=task_id,
        status="failed" if report.failure else "imported",
        failure=report.failure,
        format=format_name,
        source_file=str(path),
        source_entry=report.entry,
        source_sha256=source_sha,
        prompt=report.prompt,
        text_sha256=sha256_text(text),
        sources_used=_sources(report.sources_used),
        sources_unused=_sources(report.sources_unused),
        removed=report.removed,
        notes=report.notes,
        citations=report.citations,
        meta=report.meta,
        dreval_version=__version__,
    )
    atomic_write_text(target, text)
    write_sidecar(target, sidecar)


def import_reports(
    paths: Iterable[Path],
    out: Path,
    *,
    format_name: str | None = None,
    max_bytes: int = 100_000_000,
    on_file: Callable[[Path], None] | None = None,
) -> ImportOutcome:
    """Import every report of every file into ``out`` as ``<task id>.md`` with a ``<task id>.meta.json`` sidecar.

    A file that cannot be read, an entry that cannot be read and a second report for the same task id are
    problems (nothing written for them); an error or give-up message is written, with its sidecar marking it
    failed and why."""
    outcome = ImportOutcome()
    out = Path(out)
    taken: dict[str, str] = {}
    for path in collect_import_files(paths):
        outcome.files += 1
        try:
            try:
                name, reports, source_sha = _read_import_file(path, format_name, max_bytes)
            except ReportError as exc:
                outcome.problems.append(str(exc))
                continue
            except OSError as exc:
                outcome.problems.append(f"{path}: cannot read ({exc.strerror})")
                continue
            for report in reports:
                where = f"{path}" + (f" ({report.entry})" if report.entry and len(reports) > 1 else "")
                if report.error is not None:
                    outcome.problems.append(report.error)
                    continue
                task_id = report.task_id or path.stem
                if task_id in taken:
                    outcome.problems.append(
                        f"{where}: a second report for task {task_id!r} (the first came from "
                        f"{taken[task_id]}); not imported"
                    )
                    continue
                taken[task_id] = where
                outcome.warnings.extend(f"{where}: {warning}" for warning in report.warnings)
                target = out / f"{safe_filename(task_id)}.md"
                if report.citations is not None and linking_warning(report.citations) is not None:
                    outcome.poorly_linked.append(target)
                _write_imported(target, report, task_id, name, path, source_sha)
                outcome.written.append(target)
                if report.failure:
                    outcome.failed.append((target, report.failure))
        finally:
            if on_file is not None:
                on_file(path)
    return outcome
