"""How the scripted agent (``agent_server.ScriptedAgent``) behaves on a task: a ``Script`` per scenario, picked by a
marker in the task prompt (``[scenario: malformed-once]``), and the forms in which it writes tool calls as text.

``text-<form>`` scenarios make it speak ``openai-tools`` the way a model served without a tool parser does: no
native ``tool_calls``, the call written in the message text in one of ``WRITTEN_FORMS`` (Hermes ``<tool_call>``,
``<tools>``, Qwen3-Coder's ``<function=...>``, a bare JSON object with ``parameters`` as a JSON string, MiroThinker's
``<use_mcp_tool>``, a call after a sentence of prose, one of malformed JSON, one naming a tool the run does not have);
its report then quotes a call in a code block, as a report explaining tool calls would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass
class Script:
    """How the scripted agent behaves on one task."""

    searches: int = 1  # searches before it starts reading
    reads: int = 2  # pages it reads (the top results it has not read yet)
    think: bool = True  # notes and reasoning inside <think> (else in the visible text)
    reasoning_field: bool = False  # thinking sent as reasoning_content, as a server with a reasoning parser does
    malformed_once: bool = False  # the first attempt of turn 2 is a malformed call
    malformed_always: bool = False  # every call from turn 2 on is malformed
    unknown_tool_once: bool = False  # turn 2 calls a tool the run does not have
    repeat_query: bool = False  # after its first search, repeats it every turn
    never_finish: bool = False  # after its reads, keeps searching new queries
    cite_unread: bool = False  # also cites a result it never read, and a number with no References entry
    final: str = "report"  # report, give-up, error, empty, call (a tool call written as text instead)
    fail_at_turn: int | None = None  # the endpoint answers HTTP 500 from this turn on (every retry)
    final_cut: bool = False  # the final report ends at the token limit (finish_reason "length")
    facts_per_page: int = 2
    filler_words: int = 0  # padding per note, to make turns longer (benchmarks)
    text_calls: str = ""  # openai-tools: tool calls written in the message text in this form (WRITTEN_FORMS)


WRITTEN_FORMS = ("hermes", "tools", "function", "json", "mcp", "prose", "broken", "unknown")

SCENARIOS: dict[str, Script] = {
    "normal": Script(),
    "malformed-once": Script(malformed_once=True),
    "malformed-always": Script(malformed_always=True),
    "unknown-tool": Script(unknown_tool_once=True),
    "repeat-query": Script(repeat_query=True),
    "never-finish": Script(never_finish=True),
    "cite-unread": Script(cite_unread=True),
    "give-up": Script(final="give-up"),
    "error-report": Script(final="error"),
    "empty-final": Script(final="empty"),
    "reasoning-field": Script(reasoning_field=True),
    "no-think": Script(think=False),
    "endpoint-fails": Script(fail_at_turn=3),
    "many-reads": Script(searches=2, reads=8),
    "final-cut": Script(final_cut=True),
    **{f"text-{form}": Script(text_calls=form) for form in WRITTEN_FORMS},
    "text-final-call": Script(text_calls="hermes", final="call"),
}


def written_call(form: str, name: str, arguments: dict[str, Any]) -> str:
    """One tool call written as text in ``form``."""
    payload = json.dumps({"name": name, "arguments": arguments})
    if form == "tools":
        return f"<tools>{payload}</tools>"
    if form == "function":
        parameters = "".join(f"<parameter={key}>\n{value}\n</parameter>\n" for key, value in arguments.items())
        return f"<function={name}>\n{parameters}</function>"
    if form == "json":
        return json.dumps({"name": name, "parameters": json.dumps(arguments)})
    if form == "mcp":
        return (
            f"<use_mcp_tool>\n<server_name>tools</server_name>\n<tool_name>{name}</tool_name>\n"
            f"<arguments>\n{json.dumps(arguments)}\n</arguments>\n</use_mcp_tool>"
        )
    if form == "prose":
        return f"I'll look this up first: <tool_call>{payload}</tool_call>"
    if form == "broken":
        return '<tool_call>\n{"name": "' + name + '", "arguments": {"query": "unterminated\n</tool_call>'
    if form == "unknown":
        return written_call("hermes", "python_interpreter", {"code": "print(1)"})
    return f"<tool_call>\n{payload}\n</tool_call>"


def quoted_call() -> list[str]:
    """Lines of a report that quote a tool call in a code block and name the tool_call tag: still a report."""
    return [
        "",
        "The agent's searches were written as a tool_call, like this one:",
        "",
        "```json",
        written_call("json", "web_search", {"query": "example"}),
        "```",
    ]
