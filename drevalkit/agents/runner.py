"""The research loop, its limits, and the output contract every protocol is held to.

Per task, in ``--out``:

- ``<task id>.md``: the report (markdown, ``[n]`` citations, a ``## References`` list ``[n] Title. URL`` rebuilt from
  the pages the agent read), or, when there is none, a one-line comment saying why;
- ``<task id>.meta.json``: the sidecar (``drevalkit.ingest.sidecar``, format ``dreval-agent``): status (``imported``
  or ``failed`` with the reason, which ``dreval score`` records as a failed result), the task prompt, and the
  ``agent`` block: termination reason, limits hit, turns, tool calls, tokens, time, the citation map and the
  citations to pages never read;
- ``<task id>.trace.jsonl``: every turn (``drevalkit.agents.trace``).

The sidecar is written last: a task is finished when its sidecar and report agree, and a rerun skips it. A task that
failed for a reason that may pass (an endpoint error, an internal error) is run again; one that failed on the
model's own account (give-up text, no report) only with ``retry_failed``. A task interrupted by a crash or a kill has
no sidecar and starts again from scratch.

The loop: each turn sends the conversation (old tool results pruned by the protocol), reads the reply, runs its tool
calls and sends back the results. It stops when the agent stops calling tools (``finished``), at ``agent_max_turns``
(``turn_cap``), at ``agent_time_cap`` (``time_cap``; tool calls and model calls are cut off at the deadline), when
the next request would not fit ``agent_context_tokens`` with its completion (``context_cap``, estimated from the
text and calibrated on the token counts the server reports, or the server refusing a request as too long), after
``agent_max_failures`` rejected calls in a row (``repeated_failures``), or when the endpoint keeps failing after its
retries (``endpoint_error``). Unless the endpoint failed, the agent is then asked for its final report from what it
has (one more call, not bound by the time cap); a report produced after a limit is marked cut short. Error and
give-up text never becomes a report: such a task is recorded as failed, with its trace.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ..__version__ import __version__
from ..aio import gather_or_cancel
from ..config import Settings, is_openai_host
from ..errors import DrevalError
from ..factcheck.fetch import Fetcher
from ..factcheck.search import Searcher, make_backend
from ..files import atomic_write_text, safe_filename
from ..ingest.sidecar import (
    LIMIT_NAMES,
    AgentRun,
    ImportSidecar,
    SourceEntry,
    read_sidecar,
    sha256_text,
    write_sidecar,
)
from ..llm.errors import LLMCallFailed, LLMUnavailable
from ..schemas import Task, utc_now
from ..store import Store
from .endpoint import AgentEndpoint, ContextOverflow, DeadlineReached, Reply
from .final_report import FinalReport, build_report
from .protocols.base import OMITTED, Protocol, Step, ToolCall, estimate_request_tokens, get_protocol
from .tools import Extractor, TaskTools, Toolbox, run_with_deadline, url_key
from .trace import Trace

FORMAT = "dreval-agent"
RETRIED = ("endpoint_error", "internal_error")  # failures a rerun tries again
MANIFEST = ".run-agent.json"
MIN_FINAL_TOKENS = 1024
_REPORT_MIN_WORDS = 40


class AgentRunError(DrevalError, ValueError):
    """A run that cannot start as asked (settings, output folder); the message says what to change."""


@dataclass
class TaskOutcome:
    task_id: str
    status: str  # "report", "failed", or "skipped" (finished in an earlier run)
    termination: str
    failure: str | None = None
    turns: int = 0
    tool_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cut_short: bool = False
    unread_citations: int = 0
    report_path: Path | None = None
    tokens_per_turn: list[int] = field(default_factory=list)  # prompt tokens of each model call, in order


@dataclass
class RunSummary:
    outcomes: list[TaskOutcome]
    seconds: float = 0.0

    @property
    def ran(self) -> list[TaskOutcome]:
        return [o for o in self.outcomes if o.status != "skipped"]

    @property
    def skipped(self) -> list[TaskOutcome]:
        return [o for o in self.outcomes if o.status == "skipped"]

    @property
    def failed(self) -> list[TaskOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]


def _words(text: str) -> int:
    return len(text.split())


class _TaskRun:
    """One task's run: its conversation, counters and trace."""

    def __init__(self, runner: "AgentRunner", task: Task, trace: Trace):
        self.runner = runner
        self.settings = runner.settings
        self.protocol = runner.protocol
        self.endpoint = runner.endpoint
        self.task = task
        self.trace = trace
        self.tools: TaskTools = runner.toolbox.for_task()
        self.conversation = self.protocol.start(task)
        self.started = time.monotonic()
        self.deadline = self.started + self.settings.agent_time_cap
        self.turns = 0  # research turns
        self.final_calls = 0
        self.tool_calls = 0
        self.tool_errors = 0
        self.failures_in_row = 0
        self.queries: dict[tuple[str, ...], int] = {}
        self.prompt_tokens = self.completion_tokens = self.cached_tokens = self.extract_tokens = 0
        self.tokens_per_turn: list[int] = []
        self.ratio = 1.0  # reported / estimated prompt tokens, from the last reply
        self.answer: Reply | None = None  # a reply that is the report itself (openai-tools)
        self.error = ""
        self.limit_detail = ""
        self.final_keep: int | None = None  # this task's final request prunes every result (the server said so)

    # -- helpers -------------------------------------------------------------------------------------------------
    def estimate(self, request: dict[str, Any]) -> tuple[int, int]:
        raw = estimate_request_tokens(request)
        return raw, int(raw * self.ratio)

    def log_request(self, request: dict[str, Any], estimated: int, *, final: bool) -> None:
        entries = self.conversation.entries
        new = [{"kind": e.kind, **e.message} for e in entries[self.conversation.sent_upto :]]
        self.conversation.sent_upto = len(entries)
        sampling = {k: v for k, v in request.items() if k not in ("messages", "tools")}
        self.trace.write(
            "request",
            turn=self.turns + self.final_calls + 1,
            final=final,
            messages=new,
            message_count=len(request["messages"]),
            pruned=sum(1 for m in request["messages"] if m.get("content") == OMITTED),
            estimated_tokens=estimated,
            sampling=sampling,
        )

    def account(self, reply: Reply, raw_estimate: int) -> None:
        self.prompt_tokens += reply.prompt_tokens
        self.completion_tokens += reply.completion_tokens
        self.cached_tokens += reply.cached_tokens
        if reply.usage_reported and reply.prompt_tokens and raw_estimate:
            self.ratio = min(4.0, max(0.25, reply.prompt_tokens / raw_estimate))
        self.tokens_per_turn.append(reply.prompt_tokens or int(raw_estimate * self.ratio))
        self.trace.write(
            "reply",
            turn=self.turns + self.final_calls,
            content=reply.content,
            reasoning=reply.reasoning,
            tool_calls=[{"id": c.id, "name": c.name, "arguments": c.arguments} for c in reply.tool_calls],
            finish_reason=reply.finish_reason,
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=reply.completion_tokens,
            cached_tokens=reply.cached_tokens,
            usage_reported=reply.usage_reported,
            latency_s=round(reply.latency_s, 3),
            retries=reply.retries,
            retry_reasons=reply.problems,
        )

    def limit(self, reason: str, **details: Any) -> str:
        self.limit_detail = LIMIT_NAMES.get(reason, reason)
        self.trace.write("limit", reason=reason, turn=self.turns, **details)
        return reason

    # -- the research loop ---------------------------------------------------------------------------------------
    async def research(self) -> str:
        budget = self.settings.agent_context_tokens
        while True:
            if self.turns >= self.settings.agent_max_turns:
                return self.limit("turn_cap", max_turns=self.settings.agent_max_turns)
            if time.monotonic() >= self.deadline:
                return self.limit("time_cap", seconds=self.settings.agent_time_cap)
            request = self.protocol.request(self.conversation)
            raw, estimated = self.estimate(request)
            if estimated + request["max_tokens"] > budget:
                return self.limit(
                    "context_cap", estimated_tokens=estimated, max_tokens=request["max_tokens"], budget=budget
                )
            self.log_request(request, estimated, final=False)
            try:
                reply = await self.endpoint.complete(request, deadline=self.deadline)
            except DeadlineReached as exc:
                return self.limit("time_cap", seconds=self.settings.agent_time_cap, detail=str(exc))
            except ContextOverflow as exc:
                self.turns += 1
                return self.limit("context_cap", server=str(exc))
            except LLMUnavailable as exc:
                self.trace.write("error", kind="endpoint_unavailable", message=str(exc))
                raise
            except LLMCallFailed as exc:
                self.turns += 1
                self.error = str(exc)
                self.trace.write("error", kind="endpoint", message=self.error, turn=self.turns)
                return "endpoint_error"
            self.turns += 1
            self.account(reply, raw)
            step = self.protocol.parse(reply)
            for note in step.notes:
                self.trace.write("note", turn=self.turns, note=note)
            if step.problem:
                if self.reject(reply, step, None, "malformed", step.problem):
                    return self.limit("repeated_failures", failures=self.failures_in_row)
                continue
            if not step.calls:
                self.protocol.add_reply(self.conversation, reply, self.turns)
                if not self.protocol.final_prompt_after_finish and (
                    _words(step.text) >= _REPORT_MIN_WORDS or "[" in step.text
                ):
                    self.answer = reply
                return "finished"
            if await self.run_calls(reply, step):
                return self.limit("repeated_failures", failures=self.failures_in_row)

    def reject(self, reply: Reply, step: Step, call: ToolCall | None, kind: str, problem: str) -> bool:
        """Record a rejected reply or call; a protocol that rolls back drops the reply, one that does not answers
        it with the error. True when this ends the research (too many failures in a row)."""
        rolled_back = self.protocol.rolls_back
        self.tool_errors += 1
        self.failures_in_row += 1
        self.trace.write(
            "rejected",
            turn=self.turns,
            kind=kind,
            problem=problem,
            rolled_back=rolled_back,
            tool=call.describe() if call else None,
        )
        if not rolled_back:
            self.protocol.add_reply(self.conversation, reply, self.turns)
            if call is None:
                self.conversation.add(
                    "tool_error",
                    {
                        "role": "user",
                        "content": self.protocol.format_error(
                            None, f"{problem}. Write the tool call again, correctly."
                        ),
                    },
                    self.turns,
                )
        return self.failures_in_row >= self.settings.agent_max_failures

    def problem_of(self, call: ToolCall) -> tuple[str, str] | None:
        """(kind, message) when ``call`` cannot run: malformed, an unknown tool, or a query made before."""
        if call.problem:
            return "malformed", call.problem
        if call.op == "":
            return "unknown_tool", f"unknown tool {call.describe()!r}: use only the tools you were given"
        key = call.key()
        if key is not None and key in self.queries:
            what = "search" if call.op == "search" else "read of this page"
            return "repeated", (
                f"this {what} was already made (turn {self.queries[key]}); its result was given "
                "then. Try something different."
            )
        return None

    async def run_calls(self, reply: Reply, step: Step) -> bool:
        """Run the calls of ``step`` and send back their results; True when this ends the research."""
        problems = [self.problem_of(call) for call in step.calls]
        if self.protocol.rolls_back:
            first = problems[0]
            if first is not None and first[0] != "unknown_tool":  # malformed or repeated: rolled back
                return self.reject(reply, step, step.calls[0], first[0], first[1])
        self.protocol.add_reply(self.conversation, reply, self.turns)
        for call, problem in zip(step.calls, problems):
            if problem is None and (key := call.key()) is not None:
                self.queries[key] = self.turns
        results = await asyncio.gather(*(self.run_call(call, problem) for call, problem in zip(step.calls, problems)))
        self.protocol.add_results(self.conversation, step, list(results), self.turns)
        if all(problem is not None for problem in problems):
            self.failures_in_row += 1
            return self.failures_in_row >= self.settings.agent_max_failures
        self.failures_in_row = 0
        return False

    async def run_call(self, call: ToolCall, problem: tuple[str, str] | None) -> tuple[str, bool]:
        self.tool_calls += 1
        if problem is not None:
            self.tool_errors += 1
            self.trace.write(
                "rejected",
                turn=self.turns,
                kind=problem[0],
                problem=problem[1],
                rolled_back=False,
                tool=call.describe(),
                arguments=call.arguments or call.raw,
            )
            return self.protocol.format_error(call, problem[1]), True
        started = time.perf_counter()
        urls: list[str] = []
        error = ""
        full_chars = 0
        try:
            if call.op == "search":
                outcome = await run_with_deadline(
                    self.tools.search(call.arguments["query"], call.arguments.get("num")), self.deadline
                )
                text, error = self.protocol.format_search(call, outcome), outcome.error
                urls = [hit.url for hit in outcome.hits]
            else:
                read = await run_with_deadline(
                    self.tools.read(call.arguments["url"], call.arguments.get("info", ""), turn=self.turns),
                    self.deadline,
                )
                text, error, urls = self.protocol.format_read(call, read), read.error, [read.final_url or read.url]
                full_chars = read.page_chars
                self.extract_tokens += sum(read.extract_tokens)
        except asyncio.TimeoutError:
            error = "the time this task allows ran out during this call"
            text = self.protocol.format_error(call, error)
        result_chars = len(text)
        text, cut = self.protocol.cut(text)
        if error:
            self.tool_errors += 1
        self.trace.write(
            "tool",
            turn=self.turns,
            name=call.name,
            server=call.server,
            arguments=call.arguments,
            ok=not error,
            error=error,
            result_chars=result_chars,
            page_chars=full_chars,
            sent_chars=len(text),
            cut=cut,
            urls=urls,
            seconds=round(time.perf_counter() - started, 3),
        )
        return text, bool(error)

    # -- the final report -----------------------------------------------------------------------------------------
    def final_request(self) -> tuple[dict[str, Any], int, int] | None:
        """The request that asks for the report, pruned further (all tool results as placeholders) and with fewer
        completion tokens if that is what it takes to fit the context budget; None when nothing fits."""
        budget = self.settings.agent_context_tokens
        keeps = [0] if self.final_keep == 0 else list(dict.fromkeys([self.protocol.keep, 0]))
        for keep in keeps:
            request = self.protocol.request(self.conversation, final=True, keep=keep)
            raw, estimated = self.estimate(request)
            room = budget - estimated
            if room >= request["max_tokens"]:
                return request, raw, estimated
            if keep == keeps[-1] and room >= MIN_FINAL_TOKENS:
                request = self.protocol.request(self.conversation, final=True, keep=keep, max_tokens=room)
                return request, raw, estimated
        return None

    async def final_report(self, termination: str) -> tuple[str | None, str | None, bool]:
        """(report text, failure, cut at the token limit)."""
        if self.answer is not None:
            return self.protocol.final_text(self.answer), None, self.answer.finish_reason == "length"
        self.protocol.add_final_prompt(self.conversation, termination, self.turns)
        for attempt in range(2):
            built = self.final_request()
            if built is None:
                return (
                    None,
                    (
                        "context budget exhausted: even with every tool result pruned, the request for the "
                        f"final report does not fit agent_context_tokens ({self.settings.agent_context_tokens})"
                    ),
                    False,
                )
            request, raw, estimated = built
            self.log_request(request, estimated, final=True)
            try:
                reply = await self.endpoint.complete(request)
            except ContextOverflow as exc:
                if self.final_keep == 0 or self.protocol.keep == 0:
                    return None, f"the final report request does not fit the model's context: {exc}", False
                self.final_keep = 0  # prune every result and ask again
                self.trace.write("error", kind="context_overflow", message=str(exc), final=True)
                continue
            except LLMUnavailable as exc:
                self.trace.write("error", kind="endpoint_unavailable", message=str(exc), final=True)
                raise
            except LLMCallFailed as exc:
                self.trace.write("error", kind="endpoint", message=str(exc), final=True)
                return None, f"endpoint error while asking for the final report: {exc}", False
            self.final_calls += 1
            self.account(reply, raw)
            text = self.protocol.final_text(reply)
            if text.strip():
                return text, None, reply.finish_reason == "length"
            self.protocol.add_reply(self.conversation, reply, self.turns)
            self.conversation.add(
                "final_prompt",
                {
                    "role": "user",
                    "content": (
                        "Your reply contained no report. Write the report now as plain Markdown text, without any tool "
                        "call."
                    ),
                },
                self.turns,
            )
        return None, "no report: the agent's final replies contained no report text", False


class AgentRunner:
    """Runs tasks with one protocol, endpoint and toolbox, writing the output contract into ``out``."""

    def __init__(self, settings: Settings, endpoint: AgentEndpoint, protocol: Protocol, toolbox: Toolbox, out: Path):
        self.settings = settings
        self.endpoint = endpoint
        self.protocol = protocol
        self.toolbox = toolbox
        self.out = Path(out)

    # -- files -------------------------------------------------------------------------------------------------
    def report_path(self, task_id: str) -> Path:
        return self.out / f"{safe_filename(task_id)}.md"

    def trace_path(self, task_id: str) -> Path:
        return self.out / f"{safe_filename(task_id)}.trace.jsonl"

    def run_settings(self) -> dict[str, Any]:
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

    def previous(self, task: Task, *, retry_failed: bool) -> TaskOutcome | None:
        """The outcome of an earlier run of ``task`` into this folder, if it is finished and need not run again.
        Raises ``AgentRunError`` when the folder holds another model's, protocol's or tool's reports."""
        path = self.report_path(task.id)
        sidecar = read_sidecar(path)
        if sidecar is None:
            return None
        if sidecar.agent is None:
            raise AgentRunError(
                f"{path} was written by 'dreval import', not by an agent run; give run-agent its own --out folder"
            )
        agent = sidecar.agent
        if (agent.model, agent.protocol) != (self.endpoint.model, self.protocol.name):
            raise AgentRunError(
                f"{self.out} holds reports of model {agent.model!r} with protocol {agent.protocol!r}; "
                f"this run is {self.endpoint.model!r} with {self.protocol.name!r}: give another --out "
                "(one folder per system) or --no-resume to replace them"
            )
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        if sha256_text(text) != sidecar.text_sha256:
            return None
        if sidecar.status == "failed" and (retry_failed or agent.termination in RETRIED):
            return None
        return TaskOutcome(
            task_id=task.id,
            status="skipped",
            termination=agent.termination,
            failure=sidecar.failure,
            turns=agent.turns,
            tool_calls=agent.tool_calls,
            prompt_tokens=agent.prompt_tokens,
            completion_tokens=agent.completion_tokens,
            seconds=agent.seconds,
            cut_short=agent.cut_short,
            unread_citations=len(agent.unread_citations),
            report_path=path,
        )

    # -- one task --------------------------------------------------------------------------------------------------
    async def run(self, task: Task) -> TaskOutcome:
        trace = Trace(self.trace_path(task.id))
        trace.write(
            "start",
            task_id=task.id,
            prompt=task.prompt,
            protocol=self.protocol.name,
            model=self.endpoint.model,
            endpoint=self.endpoint.endpoint,
            settings=self.run_settings(),
            prompt_version=self.protocol.prompt_version,
            dreval_version=__version__,
            started_at=utc_now(),
        )
        run = _TaskRun(self, task, trace)
        try:
            termination = await run.research()
            report: FinalReport | None = None
            failure: str | None = None
            truncated = False
            if termination == "endpoint_error":
                failure = f"endpoint error: {run.error}"
            else:
                text, failure, truncated = await run.final_report(termination)
                if text is not None:
                    report = build_report(text, run.tools)
                    failure = report.failure
                    if failure is not None:
                        trace.write("error", kind="not_a_report", message=failure)
                        report = None
        except (asyncio.CancelledError, LLMUnavailable):
            trace.write("error", kind="interrupted", message="the run stopped before this task finished")
            trace.abandon()
            raise
        except Exception as exc:  # noqa: BLE001 - one task's bug must not end the run; it is recorded and rerun
            termination, report, truncated = "internal_error", None, False
            failure = f"internal error ({type(exc).__name__}: {exc}); please report it"
            trace.write(
                "error",
                kind="internal",
                message=failure,
                traceback=traceback.format_exception(type(exc), exc, exc.__traceback__)[-6:],
            )
        return self._write(task, run, termination, report, failure, truncated)

    def _write(
        self,
        task: Task,
        run: _TaskRun,
        termination: str,
        report: FinalReport | None,
        failure: str | None,
        truncated: bool,
    ) -> TaskOutcome:
        path = self.report_path(task.id)
        seconds = round(time.monotonic() - run.started, 3)
        cut_short = termination in LIMIT_NAMES
        agent = AgentRun(
            protocol=self.protocol.name,
            model=self.endpoint.model,
            endpoint=self.endpoint.endpoint,
            termination=termination,
            cut_short=cut_short,
            limits_hit=[termination] if cut_short else [],
            turns=run.turns + run.final_calls,
            tool_calls=run.tool_calls,
            tool_errors=run.tool_errors,
            searches=run.tools.searches,
            pages_read=len({p.final_url for p in run.tools.read_pages.values()}),
            prompt_tokens=run.prompt_tokens,
            completion_tokens=run.completion_tokens,
            cached_tokens=run.cached_tokens,
            extract_tokens=run.extract_tokens,
            seconds=seconds,
            report_truncated=truncated and report is not None,
            citations=report.citations if report else [],
            unread_citations=report.unread if report else [],
            trace_file=self.trace_path(task.id).name,
            settings=self.run_settings(),
            prompt_version=self.protocol.prompt_version,
        )
        if report is not None:
            text = report.text
            cited = {url_key(c.read_url) for c in report.citations if c.read}
            used = [
                SourceEntry(index=c.index, url=c.read_url or c.url, title=c.title) for c in report.citations if c.read
            ]
            pages = {p.final_url: p for p in run.tools.read_pages.values()}
            unused = [
                SourceEntry(url=p.url, title=p.title)
                for p in pages.values()
                if url_key(p.url) not in cited and url_key(p.final_url) not in cited
            ]
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
            notes=[f"cut short by {LIMIT_NAMES[termination]}"] if cut_short else [],
        )
        run.trace.write(
            "end",
            termination=termination,
            status="report" if report is not None else "failed",
            failure=sidecar.failure,
            **agent.model_dump(exclude={"citations", "settings", "trace_file", "termination"}),
        )
        run.trace.close()
        atomic_write_text(path, text)
        write_sidecar(path, sidecar)
        return TaskOutcome(
            task_id=task.id,
            status="report" if report is not None else "failed",
            termination=termination,
            failure=sidecar.failure,
            turns=agent.turns,
            tool_calls=agent.tool_calls,
            prompt_tokens=agent.prompt_tokens,
            completion_tokens=agent.completion_tokens,
            seconds=seconds,
            cut_short=cut_short,
            unread_citations=len(agent.unread_citations),
            report_path=path,
            tokens_per_turn=run.tokens_per_turn,
        )

    # -- many tasks ------------------------------------------------------------------------------------------------
    async def run_all(
        self,
        tasks: list[Task],
        *,
        resume: bool = True,
        retry_failed: bool = False,
        on_start: Callable[[Task], None] | None = None,
        on_done: Callable[[TaskOutcome], None] | None = None,
    ) -> RunSummary:
        """Run every task not finished in an earlier run, ``agent_concurrency`` at a time."""
        started = time.monotonic()
        done: dict[str, TaskOutcome] = {}
        if resume:
            for task in tasks:  # all checked before anything runs: a folder of another system's reports is refused
                previous = self.previous(task, retry_failed=retry_failed)
                if previous is not None:
                    done[task.id] = previous
        slots = asyncio.Semaphore(self.settings.agent_concurrency)

        async def one(task: Task) -> TaskOutcome:
            if task.id in done:
                outcome = done[task.id]
            else:
                async with slots:
                    if on_start is not None:
                        on_start(task)
                    outcome = await self.run(task)
            if on_done is not None:
                on_done(outcome)
            return outcome

        outcomes = await gather_or_cancel(*(one(task) for task in tasks))
        summary = RunSummary(outcomes=outcomes, seconds=round(time.monotonic() - started, 3))
        self._write_manifest(summary)
        return summary

    def _write_manifest(self, summary: RunSummary) -> None:
        counts: dict[str, int] = {}
        for outcome in summary.outcomes:
            counts[outcome.termination] = counts.get(outcome.termination, 0) + 1
        manifest = {
            "dreval_version": __version__,
            "finished_at": utc_now(),
            "protocol": self.protocol.name,
            "model": self.endpoint.model,
            "endpoint": self.endpoint.endpoint,
            "settings": self.run_settings(),
            "tasks": len(summary.outcomes),
            "ran": len(summary.ran),
            "skipped": len(summary.skipped),
            "failed": len(summary.failed),
            "terminations": counts,
            "seconds": summary.seconds,
            "prompt_tokens": sum(o.prompt_tokens for o in summary.ran),
            "completion_tokens": sum(o.completion_tokens for o in summary.ran),
            "results": [
                {
                    "task_id": o.task_id,
                    "status": o.status,
                    "termination": o.termination,
                    "failure": o.failure,
                    "turns": o.turns,
                    "tool_calls": o.tool_calls,
                    "seconds": o.seconds,
                }
                for o in summary.outcomes
            ],
        }
        atomic_write_text(self.out / MANIFEST, json.dumps(manifest, indent=2) + "\n")


# ------------------------------------------------------------------------------------------------ building a run


def agent_endpoint(settings: Settings) -> AgentEndpoint:
    """The agent's endpoint from the ``agent_*`` settings; ``AgentRunError`` says what is missing."""
    if not settings.agent_model:
        raise AgentRunError("no agent model: pass --model (or set DREVAL_AGENT_MODEL)")
    key = settings.agent_api_key.get_secret_value() if settings.agent_api_key else None
    if (
        key is None
        and os.environ.get("OPENAI_API_KEY")
        and (not settings.agent_base_url or is_openai_host(settings.agent_base_url))
    ):
        key = os.environ["OPENAI_API_KEY"]  # only ever sent to OpenAI itself
    if not settings.agent_base_url and not key:
        raise AgentRunError(
            "no agent endpoint: pass --base-url (e.g. http://localhost:30000/v1) or set DREVAL_AGENT_BASE_URL"
        )
    return AgentEndpoint(
        settings.agent_base_url,
        key,
        settings.agent_model,
        timeout=settings.agent_timeout,
        max_retries=settings.max_retries,
        backoff_base=settings.backoff_base,
        backoff_max=settings.backoff_max,
    )


def extraction_endpoint(settings: Settings, agent: AgentEndpoint) -> AgentEndpoint | None:
    if settings.agent_extract == "off":
        return None
    if settings.agent_extract == "agent":
        return agent
    if not settings.model or not (settings.base_url or settings.api_key):
        raise AgentRunError("agent_extract = judge needs the judge's endpoint: set DREVAL_BASE_URL and DREVAL_MODEL")
    key = settings.api_key.get_secret_value() if settings.api_key else None
    return AgentEndpoint(
        settings.base_url,
        key,
        settings.model,
        timeout=settings.timeout,
        max_retries=settings.max_retries,
        backoff_base=settings.backoff_base,
        backoff_max=settings.backoff_max,
        label="extraction",
    )


async def arun_agent(
    settings: Settings,
    tasks: list[Task],
    out: Path,
    *,
    store: Store | None = None,
    resume: bool = True,
    retry_failed: bool = False,
    check: bool = True,
    on_start: Callable[[Task], None] | None = None,
    on_done: Callable[[TaskOutcome], None] | None = None,
) -> RunSummary:
    """Run ``tasks`` with the agent the settings name and write the reports, sidecars and traces into ``out``.

    Raises ``AgentRunError`` (settings, output folder), ``SearchError`` (a search backend without its key or URL)
    and ``LLMUnavailable`` (the agent endpoint cannot be used; tasks finished before are kept)."""
    try:
        protocol = get_protocol(settings.agent_protocol)(settings)
    except LookupError as exc:
        raise AgentRunError(str(exc)) from None
    endpoint = agent_endpoint(settings)
    extract_endpoint = extraction_endpoint(settings, endpoint)
    own_store = store is None
    store = Store(settings.store_path) if store is None else store
    try:
        backend = make_backend(settings, store)
        async with httpx.AsyncClient(timeout=settings.fetch_timeout) as client, Fetcher(settings, store) as fetcher:
            if check:
                await endpoint.check()
                if extract_endpoint is not None and extract_endpoint is not endpoint:
                    await extract_endpoint.check()
            remote = bool(getattr(backend, "remote", True))
            searcher = Searcher(backend, store, settings, client=client if remote else None)
            extractor = Extractor(extract_endpoint) if extract_endpoint is not None else None
            toolbox = Toolbox(
                searcher,
                fetcher,
                page_chars=settings.agent_page_chars,
                search_results=settings.search_results,
                extractor=extractor,
            )
            runner = AgentRunner(settings, endpoint, protocol, toolbox, out)
            return await runner.run_all(
                tasks, resume=resume, retry_failed=retry_failed, on_start=on_start, on_done=on_done
            )
    finally:
        await endpoint.close()
        if extract_endpoint is not None and extract_endpoint is not endpoint:
            await extract_endpoint.close()
        if own_store:
            store.close()


def run_agent(settings: Settings, tasks: list[Task], out: Path, **options: Any) -> RunSummary:
    """``arun_agent`` for code that is not in an event loop."""
    return asyncio.run(arun_agent(settings, tasks, out, **options))


__all__ = ["AgentRunError", "AgentRunner", "RunSummary", "TaskOutcome", "agent_endpoint", "arun_agent", "run_agent"]
