"""What every task of an agent run shares: its settings, endpoint, protocol, toolbox and output folder, and the
limits and sampling the run records."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Settings
from . import task_output
from .endpoint import AgentEndpoint
from .protocols.base import Protocol
from .tools import Toolbox


@dataclass
class RunSetup:
    """What every task of a run shares: its settings, endpoint, protocol, toolbox and output folder."""

    settings: Settings
    endpoint: AgentEndpoint
    protocol: Protocol
    toolbox: Toolbox
    out: Path

    def __post_init__(self) -> None:
        self.out = Path(self.out)

    def report_path(self, task_id: str) -> Path:
        return task_output.report_path(self.out, task_id)

    def trace_path(self, task_id: str) -> Path:
        return task_output.trace_path(self.out, task_id)

    def run_settings(self) -> dict[str, Any]:
        """The limits and sampling a run records (trace, sidecar, manifest): what its reports were produced under."""
        s, p = self.settings, self.protocol.params
        return {
            "max_turns": s.agent_max_turns,
            "time_cap": s.agent_time_cap,
            "context_tokens": s.agent_context_tokens,
            "keep_tool_results": s.agent_keep_tool_results,
            "max_tool_chars": s.agent_max_tool_chars,
            "page_chars": s.agent_page_chars,
            "extract": s.agent_extract,
            "max_failures": s.agent_max_failures,
            "search": s.search,
            "search_results": s.search_results,
            "temperature": p.temperature,
            "top_p": p.top_p,
            "max_tokens": p.max_tokens,
            "repetition_penalty": p.repetition_penalty,
        }
