"""Tool calls a model wrote in its message text instead of as native calls, read so that the runner runs them (or
refuses them) rather than taking them for a report.

A model served without a tool parser, or whose tags its server does not parse, writes the call into the text:
Hermes' and Qwen's ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``, the ``<tools>...</tools>`` of a
confused small model, Llama's ``<function=name>{...}</function>`` and Qwen3-Coder's ``<function=name>`` with
``<parameter=key>`` lines, a bare ``{"name": ..., "arguments": ...}`` object on lines of its own, or MiroThinker's
``<use_mcp_tool>`` block (whose fields ``read_mcp_block`` reads for the ``mirothinker`` protocol too). Only text
outside code is read: a fenced block or an inline code span quoting a call (a report explaining tool calls) is left
alone, unless the whole reply is one fenced block. A tag merely named in prose (no JSON after it) or an empty block
is not a call; only ``<tool_call>`` with something else inside is a call that cannot be read. Bounded: at most ``MAX_CALLS`` calls and ``MAX_ATTEMPTS`` JSON reads per reply, each JSON value read
with the limits of ``drevalkit.files.load_json_at``, every scan linear in the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ...files import ParseFailure, load_json, load_json_at
from .base import closed_end

MAX_CALLS = 8  # calls read from one reply; more are left out with a note
MAX_ATTEMPTS = 16  # JSON values tried in one reply, calls or not
NATIVE_CALLS_HINT = (
    "serve the model with native tool calls (vLLM --enable-auto-tool-choice --tool-call-parser hermes, "
    "SGLang --tool-call-parser qwen25, llama.cpp --jinja)"
)

_OPENING = re.compile(
    r"<(?P<tag>tool_call|tools|use_mcp_tool)>|<function=(?P<function>[^>\s]{1,100})>"
    r'|^[ \t]*(?P<bare>\[?[ \t]*\n?[ \t]*\{[ \t]*\n?[ \t]*"name"[ \t]*:)',  # no \s*: it would run on over blank lines
    re.IGNORECASE | re.MULTILINE,
)
_CLOSING_TAGS = ("tool_call", "tools", "use_mcp_tool", "function")
_FENCE_LINE = re.compile(r"^[ ]{0,3}(`{3,}|~{3,})", re.MULTILINE)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_NOT_NEWLINE = re.compile(r"[^\n]")
_PARAMETER = re.compile(r"<parameter=([^>\s]{1,100})>(.*?)</parameter>", re.DOTALL | re.IGNORECASE)
_PARAMETER_CLOSE = re.compile(r"</parameter>", re.IGNORECASE)
_INTEGER = re.compile(r"-?\d{1,9}")
_MCP_FIELDS = {
    name: (re.compile(rf"<{name}>(.*?)</{name}>", re.DOTALL | re.IGNORECASE), re.compile(rf"</{name}>", re.IGNORECASE))
    for name in ("server_name", "tool_name", "arguments")
}
# the content is stripped after the match: "\s*(.*?)\s*```$" was cubic in a run of spaces
_ARGUMENTS_FENCE = re.compile(r"^```(?:json)?(.*)```$", re.DOTALL)


@dataclass
class TextCall:
    """One call read from the text: ``form`` is how it was written; ``problem`` says why it cannot be read."""

    form: str
    name: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    server: str = ""
    problem: str = ""
    raw: str = ""


@dataclass
class TextCalls:
    """The calls a reply wrote as text, the prose around them, and the first call that cannot be read."""

    calls: list[TextCall] = field(default_factory=list)
    prose: str = ""
    problem: str = ""
    notes: list[str] = field(default_factory=list)


def _arguments(value: Any, owner: str) -> tuple[dict[str, Any], str]:
    """A call's arguments as a dict (a JSON string is read as JSON), or the problem with them."""
    if isinstance(value, str):
        try:
            value = load_json(value) if value.strip() else {}
        except ParseFailure as exc:
            return {}, f"the arguments{owner} are not valid JSON: {exc}"
    if value is None:
        return {}, ""
    if not isinstance(value, dict):
        return {}, f"the arguments{owner} must be a JSON object"
    return value, ""


def read_mcp_block(block: str) -> TextCall:
    """The server, tool and arguments of the inside of one ``<use_mcp_tool>`` block (arguments may be fenced)."""
    values: dict[str, str | None] = {}
    for name, (pattern, close) in _MCP_FIELDS.items():
        match = pattern.search(block, 0, closed_end(close, block))
        values[name] = match.group(1).strip() if match else None
    call = TextCall("<use_mcp_tool>", values["tool_name"] or "", server=values["server_name"] or "", raw=block.strip())
    missing = [name for name, value in values.items() if value is None]
    if missing:
        call.problem = f"the tool call has no <{'>, <'.join(missing)}>"
        return call
    raw_arguments = values["arguments"] or "{}"
    fenced = _ARGUMENTS_FENCE.match(raw_arguments)
    call.arguments, call.problem = _arguments(fenced.group(1).strip() if fenced else raw_arguments, "")
    return call


def _from_json(item: Any, form: str, raw: str) -> TextCall:
    """One call from a JSON object: ``name`` with ``arguments`` or ``parameters`` (OpenAI's ``function`` wrapper
    too)."""
    call = TextCall(form, raw=raw)
    if isinstance(item, dict) and isinstance(item.get("function"), dict):
        item = item["function"]
    if not isinstance(item, dict):
        call.problem = f"the {form} call is not a JSON object"
        return call
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        call.problem = f'the {form} call has no "name"'
        return call
    call.name = name.strip()
    call.arguments, call.problem = _arguments(item.get("arguments", item.get("parameters")), f" of {call.name}")
    return call


def _call_shaped(value: Any) -> bool:
    items = value if isinstance(value, list) and value else [value]
    return all(isinstance(i, dict) and "name" in i and ("arguments" in i or "parameters" in i) for i in items)


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at


def _masked(text: str) -> str:
    """``text`` with its code (fenced blocks, inline spans) blanked out, same length, newlines kept."""
    spans = []
    opening: re.Match[str] | None = None
    for match in _FENCE_LINE.finditer(text):
        fence = match.group(1)
        if opening is None:
            opening = match
        elif fence[0] == opening.group(1)[0] and len(fence) >= len(opening.group(1)):
            spans.append((opening.start(), match.end()))
            opening = None
    if opening is not None:
        spans.append((opening.start(), len(text)))
    pieces, at = [], 0
    for start, end in spans:
        pieces += [text[at:start], _NOT_NEWLINE.sub(" ", text[start:end])]
        at = end
    masked = "".join(pieces) + text[at:]
    return _INLINE_CODE.sub(lambda m: " " * len(m.group(0)), masked)


def _unfenced(text: str) -> str:
    """A reply that is one fenced block, out of it (a call written as a code block is still a call)."""
    lines = text.strip().split("\n")
    fence = lines[0][:3]
    if len(lines) < 3 or fence not in ("```", "~~~") or lines[-1].strip() != fence:
        return text
    inner = lines[1:-1]
    return text if any(line.lstrip().startswith(fence) for line in inner) else "\n".join(inner)


class _Reader:
    """One pass over a reply: each opening found in the text outside code, read into calls."""

    def __init__(self, text: str):
        self.text = text
        self.lower = _masked(text).lower()
        self.closes = {tag: self.lower.rfind(f"</{tag}>") for tag in _CLOSING_TAGS}
        self.attempts = 0
        self.first = _skip_space(text, 0)  # where the reply's text begins

    def json_at(self, at: int) -> tuple[Any, int]:
        self.attempts += 1
        return load_json_at(self.text, at)

    def close(self, tag: str, at: int) -> int:
        """``at`` moved past ``</tag>`` when that is what follows (a missing closing tag is forgiven)."""
        after = _skip_space(self.text, at)
        return after + len(tag) + 3 if self.lower.startswith(f"</{tag}>", after) else at

    def read(self, match: re.Match[str]) -> tuple[list[TextCall], int, str] | None:
        """(calls, where the call ends, problem) for the opening ``match``; None when it opens no call."""
        if match.group("bare"):
            return self.bare(match.start("bare"))
        if match.group("function"):
            return self.function(match)
        tag = match.group("tag").lower()
        at = _skip_space(self.text, match.end())
        if tag == "use_mcp_tool":
            if not self.lower.startswith("<", at):
                return None  # named in prose: a block opens with its <server_name>
            end = self.lower.find("</use_mcp_tool>", match.end())
            if end < 0:
                return [], len(self.text), "the <use_mcp_tool> call is not terminated (no </use_mcp_tool>)"
            call = read_mcp_block(self.text[match.end() : end])
            return [call], end + len("</use_mcp_tool>"), call.problem
        if self.lower.startswith("<function=", at):
            inner = _OPENING.match(self.text, at)
            if inner is not None and inner.group("function"):
                calls, end, problem = self.function(inner)
                return calls, self.close(tag, end), problem
        if at < len(self.text) and self.text[at] in "{[":
            try:
                value, end = self.json_at(at)
            except ParseFailure as exc:
                return [], len(self.text), f"the <{tag}> block is not valid JSON: {exc}"
            items = value if isinstance(value, list) else [value]
            raw = self.text[at:end]
            calls = [_from_json(item, f"<{tag}>", raw) for item in items]
            return calls, self.close(tag, end), next((c.problem for c in calls if c.problem), "")
        later = tag == "tool_call" and self.closes[tag] > match.end()  # else no search: it would rescan per tag
        end = self.lower.find("</tool_call>", match.end()) if later else -1
        if end > 0 and self.text[match.end() : end].strip():  # a call botched inside its own tags
            return [], end + len(tag) + 3, f"the <{tag}> block holds neither a JSON object nor a <function=...> call"
        return None  # the tag named in prose, or an empty block (a model listing <tools></tools>)

    def function(self, match: re.Match[str]) -> tuple[list[TextCall], int, str]:
        """``<function=name>`` then a JSON object, or ``<parameter=key>value</parameter>`` lines, to
        ``</function>``."""
        call = TextCall("<function=...>", self.text[match.start("function") : match.end("function")])
        at = _skip_space(self.text, match.end())
        if at < len(self.text) and self.text[at] == "{":
            try:
                value, end = self.json_at(at)
            except ParseFailure as exc:
                return [call], len(self.text), f"the arguments of {call.name} are not valid JSON: {exc}"
            call.raw = self.text[match.start() : end]
            call.arguments, call.problem = _arguments(value, f" of {call.name}")
            return [call], self.close("function", end), call.problem
        end = self.lower.find("</function>", match.end()) if self.closes["function"] > match.end() else -1
        if end < 0:
            return [call], len(self.text), f"the call of {call.name} is not terminated (no </function>)"
        body = self.text[match.end() : end]
        for parameter in _PARAMETER.finditer(body, 0, closed_end(_PARAMETER_CLOSE, body)):
            value = parameter.group(2).strip()
            call.arguments[parameter.group(1)] = int(value) if _INTEGER.fullmatch(value) else value
        call.raw = self.text[match.start() : end + len("</function>")]
        return [call], end + len("</function>"), ""

    def bare(self, at: int) -> tuple[list[TextCall], int, str] | None:
        """A JSON call on lines of its own; one that cannot be read counts only when the reply begins with it."""
        at = _skip_space(self.text, at)
        try:
            value, end = self.json_at(at)
        except ParseFailure as exc:
            return ([], len(self.text), f"the tool call is not valid JSON: {exc}") if at == self.first else None
        line_end = self.text.find("\n", end)
        rest = self.text[end : len(self.text) if line_end < 0 else line_end]
        if not _call_shaped(value) or rest.strip():
            return None
        raw = self.text[at:end]
        calls = [_from_json(item, "JSON", raw) for item in (value if isinstance(value, list) else [value])]
        return calls, end, next((c.problem for c in calls if c.problem), "")


def read_text_calls(text: str) -> TextCalls | None:
    """The tool calls ``text`` (a reply without its thinking) writes outside code; None when it writes none."""
    reader = _Reader(_unfenced(text))
    found = TextCalls()
    spans: list[tuple[int, int]] = []
    for match in _OPENING.finditer(reader.lower):
        if spans and match.start() < spans[-1][1]:
            continue  # inside a call already read
        if reader.attempts >= MAX_ATTEMPTS:
            found.notes.append(f"only the first {MAX_ATTEMPTS} JSON values of the reply were looked at")
            break
        read = reader.read(match)
        if read is None:
            continue
        calls, end, problem = read
        spans.append((match.start(), end))
        if problem:
            found.problem = problem
            break
        if len(found.calls) + len(calls) > MAX_CALLS:
            found.notes.append(f"more than {MAX_CALLS} tool calls written in one reply: only the first are run")
            break
        found.calls.extend(calls)
    if not spans:
        return None
    at, prose = 0, []
    for start, end in spans:
        prose.append(reader.text[at:start])
        at = end
    found.prose = "".join(prose + [reader.text[at:]]).strip()
    return found
