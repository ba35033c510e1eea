"""``mirothinker``: MiroThinker v1.0's in-prompt tool protocol, for the model served by SGLang or vLLM without a tool
parser.

The system prompt lists the tools by MCP server and tool name with their JSON schemas, under the names the model was
trained on: ``search_and_scrape_webpage`` / ``google_search`` (``q``, ``num``, ...) and ``jina_scrape_llm_summary`` /
``scrape_and_extract_info`` (``url``, ``info_to_extract``). The model ends a message with one block::

    <use_mcp_tool>
    <server_name>search_and_scrape_webpage</server_name>
    <tool_name>google_search</tool_name>
    <arguments>{"q": "..."}</arguments>
    </use_mcp_tool>

The result goes back as one user message, in the JSON shapes of the original tools (Serper's ``organic`` list; a
scrape's ``extracted_info``), cut at ``agent_max_tool_chars`` (100,000) with a marker. Only the last
``agent_keep_tool_results`` (5) results are sent verbatim, older ones as "Tool result is omitted to save tokens.";
every assistant message is kept, its ``<think>`` text included. A malformed call (unreadable block, bad JSON, a
missing argument) and a repeated query are rolled back: the reply is dropped and the turn asked again (the model
samples at temperature 1.0), and a few in a row end the research; an unknown tool is answered with an error. A reply
without a tool call ends the research, and one more turn asks for the report in markdown with numeric citations.

Sampling defaults: temperature 1.0, top_p 0.95, repetition_penalty 1.05 (an extra body field), 16384 tokens a turn.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..endpoint import Reply
from ..tools import PROMPTS, ReadOutcome, SearchOutcome
from .base import (
    OMITTED,
    PROTOCOLS,
    Conversation,
    Protocol,
    Sampling,
    Step,
    ToolCall,
    ToolSpec,
    closed_end,
    strip_thinking,
)
from .text_calls import read_mcp_block

SEARCH = ToolSpec(
    op="search",
    server="search_and_scrape_webpage",
    name="google_search",
    description="Search the web (Google-style results: title, link, snippet). This run's search backend uses "
    "q and num; the other fields are accepted and have no effect.",
    parameters={
        "type": "object",
        "properties": {
            "q": {"type": "string", "description": "search query"},
            "gl": {"type": "string", "description": "region code, e.g. us"},
            "hl": {"type": "string", "description": "language code, e.g. en"},
            "location": {"type": "string"},
            "num": {"type": "integer", "description": "number of results"},
            "tbs": {"type": "string", "description": "time filter, e.g. qdr:y"},
            "page": {"type": "integer"},
            "autocorrect": {"type": "boolean"},
        },
        "required": ["q"],
    },
    fields={"query": "q", "num": "num"},
)
READ = ToolSpec(
    op="read",
    server="jina_scrape_llm_summary",
    name="scrape_and_extract_info",
    description="Read a URL (web page, PDF, text file) and return what it says about info_to_extract. Read "
    "a page before citing it.",
    parameters={
        "type": "object",
        "properties": {
            "url": {"type": "string", "description": "the URL to read"},
            "info_to_extract": {
                "type": "string",
                "description": "what to find on the page, usually a question",
            },
        },
        "required": ["url", "info_to_extract"],
    },
    fields={"url": "url", "info": "info_to_extract"},
)
_BY_NAME = {spec.name: spec for spec in (SEARCH, READ)}


def _servers() -> list[dict[str, Any]]:
    """The tools as the system prompt lists them: by MCP server, each with its schema as one line of JSON."""
    servers: dict[str, list[dict[str, str]]] = {}
    for spec in (SEARCH, READ):
        listing = {
            "name": spec.name,
            "description": spec.description,
            "schema": json.dumps(spec.parameters, ensure_ascii=False),
        }
        servers.setdefault(spec.server, []).append(listing)
    return [{"name": name, "tools": tools} for name, tools in servers.items()]


_BLOCK = re.compile(r"<use_mcp_tool>(.*?)</use_mcp_tool>", re.DOTALL | re.IGNORECASE)
_OPEN = re.compile(r"<use_mcp_tool>", re.IGNORECASE)
_CLOSE = re.compile(r"</use_mcp_tool>", re.IGNORECASE)


def strip_tool_markup(text: str) -> str:
    """``text`` without tool-call blocks (an unterminated block takes the rest of the text with it)."""
    closed = closed_end(_CLOSE, text)
    text = _BLOCK.sub("", text[:closed]) + text[closed:]
    opening = _OPEN.search(text)
    return (text[: opening.start()] if opening else text).strip()


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


@PROTOCOLS.register("mirothinker")
class MiroThinkerProtocol(Protocol):
    name = "mirothinker"
    sampling = Sampling(temperature=1.0, top_p=0.95, max_tokens=16384, repetition_penalty=1.05)
    final_prompt_after_finish = True
    rolls_back = True

    def system_prompt(self) -> str:
        return PROMPTS.render("mirothinker_system.j2", today=self.today(), servers=_servers(), omitted=OMITTED)

    def parse(self, reply: Reply) -> Step:
        visible = strip_thinking(reply.content)
        step = Step(text=strip_tool_markup(visible))
        blocks = _BLOCK.findall(visible, 0, closed_end(_CLOSE, visible))
        if not blocks:
            if _OPEN.search(visible):
                step.problem = "the tool call is not terminated (no </use_mcp_tool>)"
            return step
        if len(blocks) > 1:
            step.notes.append(f"{len(blocks)} tool calls in one message: only the first is run")
        step.calls.append(self._call(blocks[0]))
        return step

    def _call(self, block: str) -> ToolCall:
        written = read_mcp_block(block)
        call = ToolCall(name=written.name, op="", server=written.server, raw=written.raw, problem=written.problem)
        spec = _BY_NAME.get(call.name)
        if call.problem or spec is None:
            call.arguments = written.arguments
            return call  # an unknown tool: answered with an error, not rolled back
        call.op = spec.op
        call.arguments, call.problem = spec.arguments(written.arguments)
        return call

    def add_reply(self, conversation: Conversation, reply: Reply, turn: int) -> None:
        content = reply.content
        if reply.reasoning and "<think>" not in content.lower():  # the server split the thinking off: put it back
            content = f"<think>\n{reply.reasoning.strip()}\n</think>\n\n{content.lstrip()}"
        conversation.add("assistant", {"role": "assistant", "content": content}, turn)

    def add_results(self, conversation: Conversation, step: Step, results: list[tuple[str, bool]], turn: int) -> None:
        for text, error in results[:1]:
            conversation.add("tool_error" if error else "tool_result", {"role": "user", "content": text}, turn)

    def format_search(self, call: ToolCall, outcome: SearchOutcome) -> str:
        if outcome.error:
            return self.format_error(call, outcome.error)
        organic = [
            {"title": h.title, "link": h.url, "snippet": h.snippet, "position": i}
            for i, h in enumerate(outcome.hits, start=1)
        ]
        return _dumps(
            {"organic": organic, "searchParameters": {"q": outcome.query, "num": len(organic), "type": "search"}}
        )

    def format_read(self, call: ToolCall, outcome: ReadOutcome) -> str:
        if outcome.error:
            return _dumps({"success": False, "url": outcome.url, "extracted_info": "", "error": outcome.error})
        return _dumps(
            {
                "success": True,
                "url": outcome.url,
                "title": outcome.title,
                "extracted_info": outcome.text,
                "error": "",
                "scrape_stats": {"char_count": outcome.page_chars, "all_content_displayed": not outcome.cut},
            }
        )

    def format_error(self, call: ToolCall | None, message: str) -> str:
        return _dumps({"success": False, "error": message})

    def final_text(self, reply: Reply) -> str:
        return strip_tool_markup(strip_thinking(reply.content))
