"""One task's run: the research loop, its limits, and the final report.

The loop: each turn sends the conversation (old tool results pruned by the protocol), reads the reply, runs its tool
calls and sends back the results. It stops when the agent stops calling tools (``finished``), at ``agent_max_turns``
(``turn_cap``), at ``agent_time_cap`` (``time_cap``; tool calls and model calls are cut off at the deadline), when
the next request would not fit ``agent_context_tokens`` with its completion (``context_cap``, estimated from the
text and calibrated on the token counts the server reports, or the server refusing a request as too long), after
``agent_max_failures`` rejected calls in a row (``repeated_failures``), when the endpoint keeps failing after its
retries (``endpoint_error``), or when the model writes a tool call as text that cannot be run
(``unreadable_tool_call``: the server's tool-call setup is at fault, the failure says which flags fix it). Unless the
research ended on one of the last two, the agent is then asked for its final report from what it has (one more call,
not bound by the time cap); a report produced after a limit is marked cut short. Error and give-up text, and a tool
call written as text, never become a report: such a task is recorded as failed, with its trace.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from typing import Any

from ..__version__ import __version__
from ..ingest.sidecar import LIMIT_NAMES, AgentRun, Termination
from ..llm.errors import LLMCallFailed, LLMUnavailable
from ..schemas import Task, utc_now
from .endpoint import ContextOverflow, DeadlineReached, Reply
from .final_report import FinalReport, build_report
from .protocols.base import OMITTED, Step, ToolCall, estimate_request_tokens
from .protocols.text_calls import read_text_calls
from .run_setup import RunSetup
from .task_output import TaskOutcome, write_task_output
from .tools import TaskTools, run_with_deadline
from .trace import Trace

MIN_FINAL_TOKENS = 1024
_REPORT_MIN_WORDS = 40
WROTE_CALL = "asked for its report, the model wrote a tool call as text"


def _words(text: str) -> int:
    return len(text.split())


class TaskRun:
    """One task's run: its conversation, counters and trace."""

    def __init__(self, setup: RunSetup, task: Task, trace: Trace):
        self.setup = setup
        self.settings = setup.settings
        self.protocol = setup.protocol
        self.endpoint = setup.endpoint
        self.task = task
        self.trace = trace
        self.tools: TaskTools = setup.toolbox.for_task()
        self.conversation = self.protocol.start(task)
        self.started = time.monotonic()
        self.deadline = self.started + self.settings.agent_time_cap
        self.turns = 0  # research turns
        self.final_calls = 0
        self.tool_calls = 0
        self.text_tool_calls = 0  # calls the model wrote in its message text, run as if native
        self.tool_errors = 0
        self.failures_in_row = 0
        self.queries: dict[tuple[str, ...], int] = {}
        self.prompt_tokens = self.completion_tokens = self.cached_tokens = self.extract_tokens = 0
        self.tokens_per_turn: list[int] = []
        self.ratio = 1.0  # reported / estimated prompt tokens, from the last reply
        self.answer: Reply | None = None  # a reply that is the report itself (openai-tools)
        self.error = ""
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

    def limit(self, reason: Termination, **details: Any) -> Termination:
        self.trace.write("limit", reason=reason, turn=self.turns, **details)
        return reason

    # -- the research loop ---------------------------------------------------------------------------------------
    async def research(self) -> Termination:
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
            step = self.read_step(reply)
            reply = step.reply or reply
            if step.ends_task:
                self.error = step.problem
                return "unreadable_tool_call"
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

    def read_step(self, reply: Reply) -> Step:
        """The protocol's reading of ``reply``, with its notes and the tool calls it wrote as text recorded."""
        step = self.protocol.parse(reply)
        for note in step.notes:
            self.trace.write("note", turn=self.turns, note=note)
        if step.written or step.ends_task:
            if not step.ends_task:
                self.text_tool_calls += len(step.written)
            calls = [{"name": c.name, "arguments": c.arguments} for c in step.calls]
            problem = step.problem if step.ends_task else ""
            self.trace.write("text_tool_calls", turn=self.turns, forms=step.written, calls=calls, problem=problem)
        return step

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
        wrote_call = False
        for _attempt in range(2):
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
            if read_text_calls(text) is not None:  # a tool call written as text is never the report
                self.trace.write("rejected", turn=self.turns, kind="text_tool_call", problem=WROTE_CALL, final=True)
                text, wrote_call = "", True
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
        if wrote_call:
            return None, "; ".join(filter(None, [f"no report: {WROTE_CALL}", self.protocol.text_call_hint])), False
        return None, "no report: the agent's final replies contained no report text", False

    # -- the record ----------------------------------------------------------------------------------------------
    def record(self, termination: Termination, report: FinalReport | None, truncated: bool) -> AgentRun:
        """The sidecar's ``agent`` block: how the run ended and what it took."""
        setup = self.setup
        cut_short = termination in LIMIT_NAMES
        return AgentRun(
            protocol=setup.protocol.name,
            model=setup.endpoint.model,
            endpoint=setup.endpoint.endpoint,
            termination=termination,
            cut_short=cut_short,
            limits_hit=[termination] if cut_short else [],
            turns=self.turns + self.final_calls,
            tool_calls=self.tool_calls,
            text_tool_calls=self.text_tool_calls,
            tool_errors=self.tool_errors,
            searches=self.tools.searches,
            pages_read=len({p.final_url for p in self.tools.read_pages.values()}),
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cached_tokens=self.cached_tokens,
            extract_tokens=self.extract_tokens,
            seconds=round(time.monotonic() - self.started, 3),
            report_truncated=truncated and report is not None,
            citations=report.citations if report else [],
            unread_citations=report.unread if report else [],
            trace_file=setup.trace_path(self.task.id).name,
            settings=setup.run_settings(),
            prompt_version=setup.protocol.prompt_version,
        )

    def finish(
        self, termination: Termination, report: FinalReport | None, failure: str | None, truncated: bool
    ) -> TaskOutcome:
        """Write the task's files and say how it went."""
        path = self.setup.report_path(self.task.id)
        agent = self.record(termination, report, truncated)
        pages = list(self.tools.read_pages.values())
        sidecar = write_task_output(path, self.task, agent, report, failure, pages, self.trace)
        status = "report" if report is not None else "failed"
        return TaskOutcome.of(self.task.id, sidecar, path, status, self.tokens_per_turn)


async def run_task(setup: RunSetup, task: Task) -> TaskOutcome:
    """Run one task to its end and write its files; only a cancellation or an unusable endpoint escapes."""
    trace = Trace(setup.trace_path(task.id))
    trace.write(
        "start",
        task_id=task.id,
        prompt=task.prompt,
        protocol=setup.protocol.name,
        model=setup.endpoint.model,
        endpoint=setup.endpoint.endpoint,
        settings=setup.run_settings(),
        prompt_version=setup.protocol.prompt_version,
        dreval_version=__version__,
        started_at=utc_now(),
    )
    run = TaskRun(setup, task, trace)
    try:
        termination = await run.research()
        report: FinalReport | None = None
        failure: str | None = None
        truncated = False
        if termination == "endpoint_error":
            failure = f"endpoint error: {run.error}"
        elif termination == "unreadable_tool_call":
            failure = run.error
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
    return run.finish(termination, report, failure, truncated)
