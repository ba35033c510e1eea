"""``openai-tools``: native function calling (``tools``, ``tool_calls``, ``role: tool``), for models served with a
tool parser (vLLM ``--enable-auto-tool-choice --tool-call-parser ...``, SGLang ``--tool-call-parser ...``, OpenAI,
and the like).

Two tools, ``web_search(query, num)`` and ``read_url(url, info_to_extract)``. Every call gets a ``role: tool``
answer, errors included (malformed arguments, an unknown tool, a repeated query), so the model can recover; a
reply without tool calls is the report (one under 40 words without a citation, such as "I will now write the report",
gets one more turn that asks for it). The final turn (after a limit) is sent with ``tool_choice: "none"``.

A reply without native calls whose text writes tool calls (``<tool_call>{...}</tool_call>`` and the other forms of
``text_calls``: the server has no tool parser for this model) is never the report: its calls are run as if native,
or, when one cannot be read or names a tool the run does not have, the task fails with the server flags that turn
native tool calls on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any

from ..endpoint import RawToolCall, Reply
from ..tools import PROMPTS, ReadOutcome, SearchOutcome
from .base import (
    PROTOCOLS,
    Conversation,
    Protocol,
    Sampling,
    Step,
    ToolCall,
    ToolSpec,
    strip_thinking,
    thinking_part,
)
from .text_calls import NATIVE_CALLS_HINT, TextCalls, read_text_calls

SEARCH = ToolSpec(
    op="search",
    name="web_search",
    description="Search the web. Returns result titles, URLs and snippets; read a page before citing it.",
    parameters={
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "the search query"},
            "num": {"type": "integer", "description": "how many results to return (at most the run's limit)"},
        },
        "required": ["query"],
    },
    fields={"query": "query", "num": "num"},
)
READ = ToolSpec(
    op="read",
    name="read_url",
    description="Read a web page (HTML, PDF or text) and return its text, or, when the run summarises "
    "pages, what it says about info_to_extract.",
    parameters={
        "type": "object",
        "properties": {
            "url": {"type": "string", "description": "the http(s) URL to read"},
            "info_to_extract": {"type": "string", "description": "what you want to learn from the page"},
        },
        "required": ["url"],
    },
    fields={"url": "url", "info": "info_to_extract"},
)
_BY_NAME = {spec.name: spec for spec in (SEARCH, READ)}
# what every request sends as ``tools``: the specs as native function definitions
TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {"name": s.name, "description": s.description, "parameters": s.parameters}}
    for s in (SEARCH, READ)
]


@PROTOCOLS.register("openai-tools")
class OpenAIToolsProtocol(Protocol):
    name = "openai-tools"
    sampling = Sampling(max_tokens=8192)
    final_prompt_after_finish = False
    rolls_back = False
    text_call_hint = NATIVE_CALLS_HINT

    def system_prompt(self) -> str:
        return PROMPTS.render(
            "openai_tools_system.j2", today=self.today(), search_tool=SEARCH.name, read_tool=READ.name
        )

    def request(
        self, conversation: Conversation, *, final: bool = False, keep: int | None = None, max_tokens: int | None = None
    ) -> dict[str, Any]:
        request = super().request(conversation, final=final, keep=keep, max_tokens=max_tokens)
        request["tools"] = TOOLS
        request["tool_choice"] = "none" if final else "auto"
        return request

    def parse(self, reply: Reply) -> Step:
        if not reply.tool_calls:
            written = read_text_calls(strip_thinking(reply.content))
            if written is not None:
                return self._written(reply, written)
        return self._native(reply)

    def _written(self, reply: Reply, written: TextCalls) -> Step:
        """A reply that wrote its tool calls as text: run as native calls (and kept so in the conversation, so the
        chat template shows the model its calls in the right form), or, when one cannot be read or names a tool
        the run does not have, a problem that ends the task with the hint."""
        forms = [call.form for call in written.calls]
        unknown = next((call.name for call in written.calls if call.name not in _BY_NAME), None)
        problem = written.problem or (f"{unknown!r} is not one of its tools" if unknown is not None else "")
        if problem:
            return Step(
                text=written.prose,
                problem=f"the model wrote a tool call as text that cannot be run ({problem}); {self.text_call_hint}",
                notes=written.notes,
                written=forms,
                ends_task=True,
            )
        tag = hashlib.sha256(reply.content.encode("utf-8", "replace")).hexdigest()[:10]
        native = replace(
            reply,
            content="\n\n".join(filter(None, [thinking_part(reply.content), written.prose])),
            tool_calls=[
                RawToolCall(f"call_text_{tag}_{i}", call.name, json.dumps(call.arguments, ensure_ascii=False))
                for i, call in enumerate(written.calls)
            ],
        )
        step = self._native(native)
        step.notes, step.written, step.reply = written.notes, forms, native
        return step

    def _native(self, reply: Reply) -> Step:
        step = Step(text=strip_thinking(reply.content))
        for raw in reply.tool_calls:
            spec = _BY_NAME.get(raw.name)
            call = ToolCall(name=raw.name, op=spec.op if spec else "", call_id=raw.id, raw=raw.arguments)
            try:
                arguments = json.loads(raw.arguments) if raw.arguments.strip() else {}
            except json.JSONDecodeError as exc:
                call.problem = f"the arguments of {raw.name} are not valid JSON ({exc.msg} at position {exc.pos})"
                step.calls.append(call)
                continue
            if not isinstance(arguments, dict):
                call.problem = f"the arguments of {raw.name} must be a JSON object"
                step.calls.append(call)
                continue
            if spec is None:
                call.arguments = arguments
            else:
                call.arguments, call.problem = spec.arguments(arguments)
            step.calls.append(call)
        return step

    def add_reply(self, conversation: Conversation, reply: Reply, turn: int) -> None:
        message: dict[str, Any] = {"role": "assistant", "content": reply.content or None}
        if reply.tool_calls:
            message["tool_calls"] = [
                {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
                for call in reply.tool_calls
            ]
        conversation.add("assistant", message, turn)

    def add_results(self, conversation: Conversation, step: Step, results: list[tuple[str, bool]], turn: int) -> None:
        for call, (text, error) in zip(step.calls, results):
            conversation.add(
                "tool_error" if error else "tool_result",
                {"role": "tool", "tool_call_id": call.call_id, "content": text},
                turn,
            )

    def format_search(self, call: ToolCall, outcome: SearchOutcome) -> str:
        if outcome.error:
            return self.format_error(call, outcome.error)
        results = [{"title": h.title, "url": h.url, "snippet": h.snippet} for h in outcome.hits]
        return json.dumps({"query": outcome.query, "results": results}, ensure_ascii=False, indent=1)

    def format_read(self, call: ToolCall, outcome: ReadOutcome) -> str:
        if outcome.error:
            return self.format_error(call, outcome.error)
        header = f"URL: {outcome.final_url or outcome.url}\nTitle: {outcome.title}\n"
        if outcome.extracted:
            header += f"(what the page says about: {call.arguments.get('info', '')})\n"
        return header + "\n" + outcome.text

    def format_error(self, call: ToolCall | None, message: str) -> str:
        return f"Error: {message}"
