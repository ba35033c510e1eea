"""Index a folder of documents (HTML, PDF, text, markdown) into the evidence store for the ``local`` backend.

Each file is stored under a URL: the one a ``urls.json`` in the folder maps its relative path to (so cited URLs of
reports resolve offline to local copies), else its ``file://`` URI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..documents import DEFAULT_LIMITS, ExtractionLimits, extract_text_bounded
from ..errors import DrevalError
from ..files import ParseFailure, load_json
from ..schemas import FetchRecord
from ..store import Store

SUFFIX_TYPES = {
    ".html": "text/html",
    ".htm": "text/html",
    ".xhtml": "application/xhtml+xml",
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".text": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
}
URL_MAP_FILE = "urls.json"


class CorpusError(DrevalError, ValueError):
    pass


@dataclass
class CorpusReport:
    added: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def _url_map(folder: Path) -> dict[str, str]:
    path = folder / URL_MAP_FILE
    if not path.exists():
        return {}
    try:
        mapping = load_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ParseFailure) as exc:
        raise CorpusError(f"{path}: cannot read the URL map ({exc})") from None
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise CorpusError(f"{path}: expected a JSON object mapping file names to URLs")
    return mapping


def corpus_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise CorpusError(f"{folder}: not a folder")
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIX_TYPES)


def add_folder(
    store: Store,
    folder: Path,
    max_bytes: int,
    on_file: Callable[[Path], None] | None = None,
    limits: ExtractionLimits = DEFAULT_LIMITS,
) -> CorpusReport:
    """Extract and store every supported file below ``folder`` under ``limits`` (``ExtractionLimits.of(settings)``,
    as the fetcher extracts pages); unreadable files and files over ``max_bytes`` (``Settings.fetch_max_bytes``, the
    fetcher's cap on a page) are reported, not fatal."""
    folder = Path(folder)
    mapping = _url_map(folder)
    report = CorpusReport()
    for path in corpus_files(folder):
        relative = path.relative_to(folder).as_posix()
        url = mapping.get(relative) or path.resolve().as_uri()
        try:
            size = path.stat().st_size
            if size > max_bytes:
                raise ValueError(
                    f"file too large: {size:,} bytes is over the {max_bytes / 2**20:.4g} MiB cap (fetch_max_mb)"
                )
            text, title = extract_text_bounded(SUFFIX_TYPES[path.suffix.lower()], path.read_bytes(), None, limits)
        except (OSError, ValueError) as exc:
            report.failed.append((relative, str(exc)))
        else:
            record = FetchRecord(
                url=url,
                final_url=url,
                ok=True,
                content_type=SUFFIX_TYPES[path.suffix.lower()],
                title=title or path.stem,
                via="corpus",
            )
            store.put_fetch(record, text)
            report.added.append(url)
        if on_file:
            on_file(path)
    return report
