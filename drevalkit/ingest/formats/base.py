"""What every report format shares: the error type, the imported-report record, the importer protocol and registry,
and bounded JSON / JSONL reading.

An importer turns one file's decoded content into one or more ``ImportedReport`` records (a DeepResearch Bench JSONL
or a MiroEval array holds many reports). Each record carries the report text as markdown, the task id and prompt
when the file knows them, the source lists, and metadata about where it came from; the shared pipeline in
``drevalkit.ingest.importers`` then removes interface chrome, normalises citation markers and the References
list, and recognises give-up messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ...errors import DrevalError
from ...files import ParseFailure, load_json
from ...registry import Registry
from ..sidecar import CitationCounts


class ReportError(DrevalError, ValueError):
    """A report file that cannot be scored; the message says why."""


@dataclass
class Source:
    """One entry of a report's source list."""

    url: str
    title: str = ""
    index: int | None = None


@dataclass
class ImportedReport:
    """A report read from a file, before and after normalisation (see ``importers.finish``)."""

    text: str
    format: str
    source_path: str
    task_id: str | None = None  # from the file's content or name; None: the caller names it (file stem)
    prompt: str | None = None  # the question the file says the report answers
    entry: str | None = None  # where in a multi-report file, e.g. "line 3" or "[2]"
    sources_used: list[Source] = field(default_factory=list)
    sources_unused: list[Source] = field(default_factory=list)  # read but not cited (DeepResearchEval)
    removed: list[dict[str, str]] = field(default_factory=list)  # interface chrome taken out: {rule, text}
    notes: list[str] = field(default_factory=list)  # what normalisation changed, and oddities worth knowing
    warnings: list[str] = field(default_factory=list)  # notes the importing user must be told (e.g. sources lost)
    citations: CitationCounts | None = None  # how its markers link to sources (set by importers.finish)
    failure: str | None = None  # set when the "report" is an error or give-up message
    error: str | None = None  # set when this entry of the file cannot be read at all (it is not imported)
    meta: dict[str, Any] = field(default_factory=dict)  # source metadata (timestamps, ids, titles)

    @property
    def failed(self) -> bool:
        return self.failure is not None

    @classmethod
    def unreadable(
        cls, format: str, path: Path | str, entry: str, error: str, task_id: str | None = None
    ) -> ImportedReport:
        """An entry of a multi-report file that cannot be read: kept with its error, never imported."""
        return cls(text="", format=format, source_path=str(path), entry=entry, task_id=task_id, error=error)


@runtime_checkable
class ReportImporter(Protocol):
    """A report format. ``read`` returns every report in the file; ``sniff`` says whether parsed JSON content is in
    this format (used to detect the format of ``.json`` / ``.jsonl`` files); ``suffixes`` pick it for other files.

    Older importers with only ``parse(raw, path) -> (text, meta)`` still work (wrapped by ``importers.as_reader``).
    """

    name: str
    suffixes: tuple[str, ...]

    def read(self, raw: str, path: Path) -> list[ImportedReport]: ...


IMPORTERS: Registry[type] = Registry("report format", "drevalkit.importers")


def parse_json(raw: str, path: Path) -> Any:
    """The file's JSON, or a ``ReportError`` naming the file for any parse failure (never a traceback)."""
    try:
        return load_json(raw)
    except ParseFailure as exc:
        raise ReportError(f"{path}: {exc}") from None


def json_lines(raw: str, path: Path) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, parsed value or None, problem or None) for every non-blank line of a JSONL text."""
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, load_json(line), None
        except ParseFailure as exc:
            yield number, None, f"{path}:{number}: {exc}"


def looks_like_jsonl(raw: str) -> bool:
    """Several lines that each hold a JSON object (and the whole is not one JSON document)."""
    lines = [line for line in raw.splitlines()[:50] if line.strip()]
    if len(lines) < 2 or not lines[0].lstrip().startswith("{"):
        return False
    try:
        load_json(raw)
        return False
    except ParseFailure:
        pass
    try:
        return isinstance(load_json(lines[0]), dict)
    except ParseFailure:
        return False


def parse_json_or_jsonl(raw: str, path: Path) -> Any:
    """A JSON document, or for JSONL text a list of its objects (broken lines become ``{"__problem__": ...}``)."""
    if looks_like_jsonl(raw):
        return [
            value if problem is None else {"__problem__": problem, "__line__": number}
            for number, value, problem in json_lines(raw, path)
        ]
    return parse_json(raw, path)


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 report``, ``2 reports``: counts in messages read as English."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def task_id_of(value: Any) -> str | None:
    """An id as a string (ints stay digits); None for missing or empty ids."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def small_scalars(data: dict[str, Any], skip: set[str], limit: int = 2000) -> dict[str, Any]:
    """The scalar fields of a record worth keeping as metadata (long texts are left out, their length kept)."""
    meta: dict[str, Any] = {}
    for key, value in data.items():
        if key in skip or key.startswith("__"):
            continue
        if isinstance(value, bool) or isinstance(value, (int, float)):
            meta[key] = value
        elif isinstance(value, str):
            if len(value) <= limit:
                meta[key] = value
            else:
                meta[f"{key}_chars"] = len(value)
    return meta


_HOST = re.compile(r"^https?://([^/?#:]+)", re.IGNORECASE)


def host_of(url: str) -> str:
    match = _HOST.match(url)
    host = match.group(1).lower() if match else ""
    return host[4:] if host.startswith("www.") else host
