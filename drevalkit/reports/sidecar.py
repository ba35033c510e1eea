"""The sidecar written next to each imported report: ``<task id>.meta.json`` beside ``<task id>.md``.

It records where the report came from (file, format, entry, sha256), the task id and prompt the file carried, the
source lists (used, and read but not used), the interface chrome removed, what normalisation changed, and, for a
give-up message, that the report failed and why. ``load_report`` reads it: a failed report is refused with its
reason (so scoring records a failed result), and the prompt lets a report be scored without a task file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from ..files import atomic_write_text
from ..schemas import utc_now

SUFFIX = ".meta.json"
SCHEMA = "dreval-import/1"
MAX_SIDECAR_BYTES = 20_000_000


class SourceEntry(BaseModel):
    index: int | None = None
    url: str
    title: str = ""


class ImportSidecar(BaseModel):
    schema_: str = Field(default=SCHEMA, alias="schema")
    task_id: str
    status: Literal["imported", "failed"]
    failure: str | None = None
    format: str
    source_file: str
    source_entry: str | None = None
    source_sha256: str = ""
    prompt: str | None = None
    text_sha256: str = Field(default="", description="sha256 of the report file written beside this sidecar")
    sources_used: list[SourceEntry] = Field(default_factory=list)
    sources_unused: list[SourceEntry] = Field(default_factory=list, description="read but not used in the report")
    removed: list[dict[str, str]] = Field(default_factory=list, description="interface chrome removed: rule, text")
    notes: list[str] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict)
    dreval_version: str = ""
    imported_at: str = Field(default_factory=utc_now)

    model_config = {"populate_by_name": True}


def is_sidecar(path: Path) -> bool:
    return Path(path).name.endswith(SUFFIX)


def sidecar_path(report_path: Path) -> Path:
    report_path = Path(report_path)
    return report_path.with_name(report_path.stem + SUFFIX)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_sidecar(report_path: Path, sidecar: ImportSidecar) -> Path:
    path = sidecar_path(report_path)
    atomic_write_text(path, sidecar.model_dump_json(indent=2, by_alias=True) + "\n")
    return path


def read_sidecar(report_path: Path) -> ImportSidecar | None:
    """The sidecar of a report file, or None when there is none (or it is not a valid sidecar)."""
    path = sidecar_path(report_path)
    try:
        if not path.is_file() or path.stat().st_size > MAX_SIDECAR_BYTES:
            return None
        return ImportSidecar.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValidationError, ValueError):
        return None
