"""The agent runner (``dreval run-agent``) and its protocols: any model behind an OpenAI-compatible endpoint runs
as a research agent with dreval's tools and limits, and each task leaves a report, a sidecar and a trace that
``dreval score`` reads.

    from drevalkit.agents import run_agent
    summary = run_agent(settings, tasks, Path("reports/my-agent"))

Protocols (``openai-tools``, ``mirothinker``) are in the ``PROTOCOLS`` registry; see ``protocol.Protocol``.
"""

from .protocols import PROTOCOLS, Protocol, get_protocol
from .protocols.text_calls import NATIVE_CALLS_HINT
from .runner import AgentRunError, AgentRunner, RunSummary, arun_agent, run_agent
from .task_output import TaskOutcome

__all__ = [
    "NATIVE_CALLS_HINT",
    "PROTOCOLS",
    "AgentRunError",
    "AgentRunner",
    "Protocol",
    "RunSummary",
    "TaskOutcome",
    "arun_agent",
    "get_protocol",
    "run_agent",
]
