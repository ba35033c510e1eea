"""The sidecar written next to each imported report: ``<task id>.meta.json`` beside ``<task id>.md``.

It records where the report came from (file, format, entry, sha256), the task id and prompt the file carried, the
source lists (used, and read but not used), the interface chrome removed, what normalisation changed, and, for a
give-up message, that the report failed and why. ``load_report`` reads it: a failed report is refused with its
reason (so scoring records a failed result), and the prompt lets a report be scored without a task file.

``dreval run-agent`` writes the same sidecar (format ``dreval-agent``) with an ``agent`` block: how the run ended
(termination reason, limits hit), its counts (turns, tool calls, tokens, time), the citation map from each ``[n]``
to the page the agent read, and the citations to pages it never read. Its ``flags()`` are shown in the scorecard.
The run's trace, ``<task id>.trace.jsonl``, sits beside it; like the sidecar it is never taken for a report.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from ..files import atomic_write_text
from ..schemas import utc_now

SUFFIX = ".meta.json"
TRACE_SUFFIX = ".trace.jsonl"
SCHEMA = "dreval-import/1"
MAX_SIDECAR_BYTES = 20_000_000


class SourceEntry(BaseModel):
    index: int | None = None
    url: str
    title: str = ""


Termination = Literal[
    "finished",
    "turn_cap",
    "time_cap",
    "context_cap",
    "repeated_failures",
    "endpoint_error",
    "unreadable_tool_call",
    "internal_error",
]
LIMIT_NAMES = {
    "turn_cap": "the turn cap",
    "time_cap": "the time cap",
    "context_cap": "the context budget",
    "repeated_failures": "repeated failed tool calls",
}


class AgentCitation(BaseModel):
    """Where one ``[n]`` of an agent's report points, and whether the agent read that page during its run."""

    index: int | None = None
    url: str = ""
    title: str = ""
    read: bool = False
    read_url: str = Field(default="", description="the URL the agent fetched it as (before redirects), if read")
    problem: str = Field(default="", description="why it is flagged: a page never read, or a number without entry")


class AgentRun(BaseModel):
    """What ``dreval run-agent`` did for one task (see ``drevalkit.agents``)."""

    protocol: str
    model: str
    endpoint: str = ""
    termination: Termination
    cut_short: bool = Field(default=False, description="a limit ended the research before the agent finished")
    limits_hit: list[str] = Field(default_factory=list)
    turns: int = 0
    tool_calls: int = 0
    text_tool_calls: int = Field(
        default=0, description="tool calls the model wrote in its message text (no tool parser), run as if native"
    )
    tool_errors: int = 0
    searches: int = 0
    pages_read: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    extract_tokens: int = Field(default=0, description="tokens of the calls that extracted what was asked from pages")
    seconds: float = 0.0
    report_truncated: bool = Field(default=False, description="the final report was cut at the token limit")
    citations: list[AgentCitation] = Field(default_factory=list)
    unread_citations: list[AgentCitation] = Field(default_factory=list)
    trace_file: str = ""
    settings: dict[str, Any] = Field(default_factory=dict, description="the limits and sampling of the run")
    prompt_version: str = ""

    def flags(self) -> list[str]:
        """One line per thing a reader of the scorecard should know about how this report was produced."""
        flags = []
        if self.cut_short:
            limits = ", ".join(LIMIT_NAMES.get(limit, limit) for limit in self.limits_hit) or self.termination
            flags.append(
                f"agent run cut short by {limits} after {self.turns} turns; the report was written from "
                "what the agent had"
            )
        if self.report_truncated:
            flags.append("the agent's final report was cut at its token limit")
        for citation in self.unread_citations:
            label = f"[{citation.index}]" if citation.index is not None else citation.url
            flags.append(
                f"citation {label} {citation.problem or 'points to a page the agent never read'}"
                + (f": {citation.url}" if citation.url and citation.index is not None else "")
            )
        return flags


class CitationCounts(BaseModel):
    """How an imported report's markers link to its sources: ``markers`` counted on the original (distinct reference
    numbers its markers cite, in any style), the others on the canonical markdown written beside the sidecar."""

    markers: int = Field(default=0, description="distinct reference numbers the original's markers cite")
    resolved: int = Field(default=0, description="of those, the ones whose source has a URL")
    attached: int = Field(default=0, description="of those, the ones whose source is an attached file (no URL)")
    unresolved: int = Field(default=0, description="of those, the ones that cite no listed URL or file")
    sources: int = Field(default=0, description="sources the canonical References list holds")
    cause: str = Field(default="", description="why some markers cite no source, when some do not")
    rewritten: dict[str, int] = Field(default_factory=dict, description="what import rewrote, by kind: how often")

    def add(self, kind: str, count: int | bool = 1) -> None:
        if count:
            self.rewritten[kind] = self.rewritten.get(kind, 0) + int(count)

    @property
    def linked(self) -> float | None:
        """The share of markers that cite a source (a URL or an attached file), None without markers."""
        return (self.resolved + self.attached) / self.markers if self.markers else None


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
    citations: CitationCounts | None = Field(default=None, description="how the report's markers link to sources")
    meta: dict[str, Any] = Field(default_factory=dict)
    agent: AgentRun | None = Field(default=None, description="set by dreval run-agent")
    dreval_version: str = ""
    imported_at: str = Field(default_factory=utc_now)

    model_config = {"populate_by_name": True}


def is_sidecar(path: Path) -> bool:
    """A file written beside a report that is not a report: its sidecar, or the trace of the agent run."""
    name = Path(path).name
    return name.endswith(SUFFIX) or name.endswith(TRACE_SUFFIX)


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
