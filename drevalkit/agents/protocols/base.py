"""What every agent protocol implements, the conversation it keeps, and the registry of protocols.

A protocol decides how tools are offered and called and how their results go back: native function calling
(``openai-tools``), or tool calls written in the message text (``mirothinker``). The runner owns everything else:
the loop, the limits, the tools themselves, the trace and the output contract, so every protocol is held to the
same rules and produces the same files.

The conversation keeps every message with its kind; what is *sent* is computed from it each turn: only the last
``keep`` tool results verbatim, older ones replaced by a short placeholder (assistant messages are always kept whole,
so the agent's own notes and reasoning survive). A third-party protocol registers under the
``drevalkit.agent_protocols`` entry-point group, like search backends.
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar, Literal

from ...config import Settings
from ...llm.tokens import estimate_tokens
from ...registry import Registry
from ...schemas import Task
from ..endpoint import Reply
from ..tools import PROMPTS, ReadOutcome, SearchOutcome

# The placeholder MiroThinker was trained with for pruned tool results (a protocol constant, like its tool names).
OMITTED = "Tool result is omitted to save tokens."
Kind = Literal["system", "task", "assistant", "tool_result", "tool_error", "final_prompt"]
Op = Literal["search", "read", ""]

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_THINK_OPEN = re.compile(r"<think>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)


def closed_end(close: re.Pattern[str], text: str) -> int:
    """Where the last ``close`` tag of ``text`` ends (0: none). A lazy ``<tag>.*?</tag>`` cannot match past it, so
    it is searched for only up to there: else each of a run of unclosed ``<tag>`` scans the rest of the text
    (quadratic)."""
    end = 0
    for match in close.finditer(text):
        end = match.end()
    return end


def thinking_part(text: str) -> str:
    """``text`` up to the end of its last ``</think>`` (its thinking, as a reply rewritten by a protocol keeps it)."""
    return text[: closed_end(_THINK_CLOSE, text)].strip()


def strip_thinking(text: str) -> str:
    """``text`` without its ``<think>`` blocks: closed blocks go; an unclosed ``<think>`` takes the rest of the text
    with it (the model was cut off while thinking); text before a lone ``</think>`` (the chat template opened the
    block) goes too."""
    closed = closed_end(_THINK_CLOSE, text)
    text = _THINK_BLOCK.sub("", text[:closed]) + text[closed:]
    last = deque(_THINK_CLOSE.finditer(text), maxlen=1)  # the last closing tag, in one pass
    close = last[0] if last else None
    if close is not None:
        text = text[close.end() :]
    opening = _THINK_OPEN.search(text)
    if opening is not None:
        text = text[: opening.start()]
    return text.strip()


@dataclass
class Sampling:
    """Sampling defaults of a protocol; settings override each one that is set."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int = 8192
    repetition_penalty: float | None = None


@dataclass
class ToolCall:
    """One tool call the model made, read by its protocol. ``op`` is what the runner does with it ("" for a tool
    the run does not have); ``problem`` is set when the call is malformed (bad JSON, missing argument)."""

    name: str
    op: Op
    arguments: dict[str, Any] = field(default_factory=dict)
    call_id: str = ""
    server: str = ""
    problem: str = ""
    raw: str = ""

    def key(self) -> tuple[str, ...] | None:
        """What makes two calls the same query: a search's normalised query, a read's URL and question."""
        if self.op == "search":
            return ("search", " ".join(str(self.arguments.get("query", "")).lower().split()))
        if self.op == "read":
            from ..tools import url_key

            return (
                "read",
                url_key(str(self.arguments.get("url", ""))),
                " ".join(str(self.arguments.get("info", "")).lower().split()),
            )
        return None

    def describe(self) -> str:
        return f"{self.server + '/' if self.server else ''}{self.name}"


@dataclass(frozen=True)
class ToolSpec:
    """One of the run's two tools as a protocol offers it: the name, description and JSON schema the model is shown
    (each protocol words them its own way: MiroThinker's are the ones it was trained on), the MCP server that
    provides it (in-prompt protocols), and the parameters that carry the run's arguments (``query`` and ``num`` of a
    search, ``url`` and ``info`` of a read). Every protocol reads a call's arguments through ``arguments``."""

    op: Op
    name: str
    description: str
    parameters: dict[str, Any]
    fields: dict[str, str]  # the run's argument -> the parameter the model fills in
    server: str = ""

    def arguments(self, given: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """The run's arguments from the model's, and the problem when the query or URL is not a non-empty string."""
        main, extra = ("query", "num") if self.op == "search" else ("url", "info")
        value, more = given.get(self.fields[main]), given.get(self.fields[extra])
        problem = ""
        if not isinstance(value, str) or not value.strip():
            problem = f"{self.name} needs a non-empty string {self.fields[main]!r}"
        if self.op == "search":
            more = more if isinstance(more, int) and not isinstance(more, bool) else None
        else:
            more = more if isinstance(more, str) else ""
        return {main: value if isinstance(value, str) else "", extra: more}, problem


@dataclass
class Step:
    """What a reply asks for: tool calls (each possibly malformed), or none (the agent is done researching).
    ``problem`` is set when the reply as a whole is malformed (an unterminated or unreadable tool block);
    ``ends_task`` when no retry can fix it (a tool call written as text that cannot be run: the server's setup)."""

    calls: list[ToolCall] = field(default_factory=list)
    text: str = ""  # the reply's visible text, thinking and tool markup removed
    problem: str = ""
    notes: list[str] = field(default_factory=list)  # oddities worth recording (e.g. a second tool block ignored)
    written: list[str] = field(default_factory=list)  # how each call the reply wrote as text was written
    reply: Reply | None = None  # the reply as the conversation keeps it, when the protocol rewrote it
    ends_task: bool = False


@dataclass
class Entry:
    kind: Kind
    message: dict[str, Any]
    turn: int = 0


@dataclass
class Conversation:
    entries: list[Entry] = field(default_factory=list)
    sent_upto: int = 0  # entries already recorded in the trace as sent

    def add(self, kind: Kind, message: dict[str, Any], turn: int = 0) -> None:
        self.entries.append(Entry(kind, message, turn))

    def messages(self, keep: int) -> list[dict[str, Any]]:
        """What is sent: every message, with tool results older than the last ``keep`` replaced by the placeholder
        (``keep`` -1 keeps all)."""
        results = [i for i, e in enumerate(self.entries) if e.kind == "tool_result"]
        pruned = set(results if keep == 0 else results[:-keep]) if keep >= 0 else set()
        out = []
        for i, entry in enumerate(self.entries):
            if i in pruned:
                out.append({**entry.message, "content": OMITTED})
            else:
                out.append(entry.message)
        return out

    def pruned_count(self, keep: int) -> int:
        results = sum(1 for e in self.entries if e.kind == "tool_result")
        return 0 if keep < 0 else max(0, results - keep)


PER_MESSAGE_TOKENS = 8


def estimate_request_tokens(request: dict[str, Any]) -> int:
    """Prompt tokens of a request, estimated: message contents, native tool calls and tool schemas."""
    total = 0
    for message in request.get("messages", []):
        total += PER_MESSAGE_TOKENS + estimate_tokens(message.get("content") or "")
        for call in message.get("tool_calls") or []:
            total += estimate_tokens(json.dumps(call, ensure_ascii=False))
    if request.get("tools"):
        total += estimate_tokens(json.dumps(request["tools"], ensure_ascii=False))
    return total


class Protocol:
    """Base of every protocol. Subclasses set the class attributes and implement the marked methods."""

    name: ClassVar[str] = ""
    sampling: ClassVar[Sampling] = Sampling()
    # True: when the agent stops calling tools, it is asked for its report in one more turn (MiroThinker's summary
    # step); False: a reply without tool calls is the report.
    final_prompt_after_finish: ClassVar[bool] = False
    # True: a malformed or repeated call is rolled back (not kept in the conversation); False: it is answered
    # with an error the model can recover from.
    rolls_back: ClassVar[bool] = False
    # what to change when the model writes tool calls as text the protocol cannot run (in the task's failure)
    text_call_hint: ClassVar[str] = ""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.keep = settings.agent_keep_tool_results
        self.max_tool_chars = settings.agent_max_tool_chars
        defaults = self.sampling
        self.params = Sampling(
            temperature=settings.agent_temperature if settings.agent_temperature is not None else defaults.temperature,
            top_p=settings.agent_top_p if settings.agent_top_p is not None else defaults.top_p,
            max_tokens=settings.agent_max_tokens or defaults.max_tokens,
            repetition_penalty=(
                settings.agent_repetition_penalty
                if settings.agent_repetition_penalty is not None
                else defaults.repetition_penalty
            ),
        )

    @property
    def prompt_version(self) -> str:
        return PROMPTS.version

    def today(self) -> str:
        return date.today().isoformat()

    # -- building requests ---------------------------------------------------------------------------------------
    def sampling_args(self, max_tokens: int | None = None) -> dict[str, Any]:
        args: dict[str, Any] = {"max_tokens": max_tokens or self.params.max_tokens}
        if self.params.temperature is not None:
            args["temperature"] = self.params.temperature
        if self.params.top_p is not None:
            args["top_p"] = self.params.top_p
        if self.params.repetition_penalty is not None:
            args["extra_body"] = {"repetition_penalty": self.params.repetition_penalty}
        return args

    def request(
        self, conversation: Conversation, *, final: bool = False, keep: int | None = None, max_tokens: int | None = None
    ) -> dict[str, Any]:
        """The request for the next turn (``final``: the turn that asks for the report)."""
        messages = conversation.messages(self.keep if keep is None else keep)
        return {"messages": messages, **self.sampling_args(max_tokens)}

    def cut(self, text: str) -> tuple[str, bool]:
        """A tool result cut at ``agent_max_tool_chars`` with a marker saying how much was left out."""
        if len(text) <= self.max_tool_chars:
            return text, False
        return (
            text[: self.max_tool_chars]
            + f"\n[... tool result cut at {self.max_tool_chars} of {len(text)} characters ...]"
        ), True

    def start(self, task: Task) -> Conversation:
        """The conversation a task opens with: the protocol's system prompt, then the task."""
        conversation = Conversation()
        conversation.add("system", {"role": "system", "content": self.system_prompt()})
        task_text = PROMPTS.render(
            "task.j2", prompt=task.prompt, deliverables=task.deliverables, time_constraint=task.time_constraint
        )
        conversation.add("task", {"role": "user", "content": task_text})
        return conversation

    def add_final_prompt(self, conversation: Conversation, reason: str, turn: int) -> None:
        """Ask for the final report; ``reason`` is the termination reason (``finished`` or the limit hit)."""
        conversation.add("final_prompt", {"role": "user", "content": final_prompt_text(reason)}, turn)

    # -- to implement ------------------------------------------------------------------------------------------
    def system_prompt(self) -> str:
        """How the tools are offered and called, and how to research."""
        raise NotImplementedError

    def parse(self, reply: Reply) -> Step:
        raise NotImplementedError

    def add_reply(self, conversation: Conversation, reply: Reply, turn: int) -> None:
        """Keep the assistant's message in the conversation."""
        raise NotImplementedError

    def add_results(self, conversation: Conversation, step: Step, results: list[tuple[str, bool]], turn: int) -> None:
        """Answer every call of ``step`` with its result text (``True``: an error result)."""
        raise NotImplementedError

    def format_search(self, call: ToolCall, outcome: SearchOutcome) -> str:
        raise NotImplementedError

    def format_read(self, call: ToolCall, outcome: ReadOutcome) -> str:
        raise NotImplementedError

    def format_error(self, call: ToolCall | None, message: str) -> str:
        raise NotImplementedError

    def final_text(self, reply: Reply) -> str:
        """The report in the final reply: thinking and any tool markup removed."""
        return strip_thinking(reply.content)


PROTOCOLS: Registry[type[Protocol]] = Registry("agent protocol", "drevalkit.agent_protocols")


def final_prompt_text(reason: str) -> str:
    return PROMPTS.render("final_report.j2", reason=reason)


def get_protocol(name: str) -> type[Protocol]:
    return PROTOCOLS.get(name)
