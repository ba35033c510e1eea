"""What each task leaves in ``--out``, the output contract every protocol is held to:

- ``<task id>.md``: the report (markdown, ``[n]`` citations, a ``## References`` list ``[n] Title. URL`` rebuilt from
  the pages the agent read), or, when there is none, a one-line comment saying why;
- ``<task id>.meta.json``: the sidecar (``drevalkit.ingest.sidecar``, format ``dreval-agent``): status (``imported``
  or ``failed`` with the reason, which ``dreval score`` records as a failed result), the task prompt, and the
  ``agent`` block: termination reason, limits hit, turns, tool calls, tokens, time, the citation map and the
  citations to pages never read;
- ``<task id>.trace.jsonl``: every turn (``drevalkit.agents.trace``).

The sidecar is written last: a task is finished when its sidecar and report agree (which is what a rerun checks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..__version__ import __version__
from ..files import atomic_write_text, safe_filename
from ..ingest.sidecar import LIMIT_NAMES, AgentRun, ImportSidecar, SourceEntry, sha256_text, write_sidecar
from ..schemas import Task
from .final_report import FinalReport
from .tools import PageRead, url_key
from .trace import Trace

FORMAT = "dreval-agent"


def report_path(out: Path, task_id: str) -> Path:
    return out / f"{safe_filename(task_id)}.md"


def trace_path(out: Path, task_id: str) -> Path:
    return out / f"{safe_filename(task_id)}.trace.jsonl"


@dataclass
class TaskOutcome:
    task_id: str
    status: str  # "report", "failed", or "skipped" (finished in an earlier run)
    termination: str
    failure: str | None = None
    turns: int = 0
    tool_calls: int = 0
    text_tool_calls: int = 0  # of those, written in the message text (the server has no tool parser)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cut_short: bool = False
    unread_citations: int = 0
    report_path: Path | None = None
    tokens_per_turn: list[int] = field(default_factory=list)  # prompt tokens of each model call, in order

    @classmethod
    def of(
        cls, task_id: str, sidecar: ImportSidecar, path: Path, status: str, tokens_per_turn: list[int] | None = None
    ) -> TaskOutcome:
        """The outcome a task's sidecar records, whether written just now or by an earlier run."""
        agent = sidecar.agent
        assert agent is not None  # written by an agent run: callers check
        return cls(
            task_id=task_id,
            status=status,
            termination=agent.termination,
            failure=sidecar.failure,
            turns=agent.turns,
            tool_calls=agent.tool_calls,
            text_tool_calls=agent.text_tool_calls,
            prompt_tokens=agent.prompt_tokens,
            completion_tokens=agent.completion_tokens,
            seconds=agent.seconds,
            cut_short=agent.cut_short,
            unread_citations=len(agent.unread_citations),
            report_path=path,
            tokens_per_turn=tokens_per_turn or [],
        )


def _sources(report: FinalReport, pages: list[PageRead]) -> tuple[list[SourceEntry], list[SourceEntry]]:
    """The pages the report cites (used) and those the agent read but did not cite (unused)."""
    cited = {url_key(c.read_url) for c in report.citations if c.read}
    used = [SourceEntry(index=c.index, url=c.read_url or c.url, title=c.title) for c in report.citations if c.read]
    by_final = {p.final_url: p for p in pages}
    unused = [
        SourceEntry(url=p.url, title=p.title)
        for p in by_final.values()
        if url_key(p.url) not in cited and url_key(p.final_url) not in cited
    ]
    return used, unused


def write_task_output(
    path: Path,
    task: Task,
    agent: AgentRun,
    report: FinalReport | None,
    failure: str | None,
    pages: list[PageRead],
    trace: Trace,
) -> ImportSidecar:
    """Close the trace, then write the report (or the comment saying why there is none) and, last, the sidecar."""
    if report is not None:
        text = report.text
        used, unused = _sources(report, pages)
    else:
        failure = failure or "no report"
        text = f"<!-- dreval run-agent: no report ({failure}); see {agent.trace_file} -->\n"
        used, unused = [], []
    sidecar = ImportSidecar(
        task_id=task.id,
        status="imported" if report is not None else "failed",
        failure=None if report is not None else f"agent run failed: {failure}",
        format=FORMAT,
        source_file=agent.trace_file,
        prompt=task.prompt,
        text_sha256=sha256_text(text),
        sources_used=used,
        sources_unused=unused,
        agent=agent,
        dreval_version=__version__,
        notes=[f"cut short by {LIMIT_NAMES[agent.termination]}"] if agent.cut_short else [],
    )
    trace.write(
        "end",
        termination=agent.termination,
        status="report" if report is not None else "failed",
        failure=sidecar.failure,
        **agent.model_dump(exclude={"citations", "settings", "trace_file", "termination"}),
    )
    trace.close()
    atomic_write_text(path, text)
    write_sidecar(path, sidecar)
    return sidecar
