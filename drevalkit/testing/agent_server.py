"""A scripted research agent behind the OpenAI-compatible test server, for the agent runner's tests and benchmark.

``AgentServer`` is a ``FakeOpenAIServer`` (same latency simulation, prefix cache, ``max_sequences``, ``timeline``)
whose answers come from ``ScriptedAgent``: a deterministic agent that speaks the protocol of each request, native
``tool_calls`` when the request offers ``tools`` (``openai-tools``), else MiroThinker's ``<use_mcp_tool>`` blocks.
Like a real model it only knows what is in the conversation it is sent: it searches with words of the task, writes
the result URLs and the facts it reads down in its own messages (inside ``<think>`` by default, so they survive the
pruning of old tool results), reads the top results one per turn, stops, and writes a report that cites the pages
it read with ``[n]`` and a References list.

A ``Script`` per task (picked by a marker in the task prompt, e.g. ``[scenario: malformed-once]``) makes it
misbehave on purpose: malformed calls (once, or always), an unknown tool, the same query again and again, never
stopping, citing a page it never read and a number without entry, a give-up or error message as its report, an
empty final answer, a final answer cut at the token limit, thinking sent as ``reasoning_content``, an endpoint that
fails from a given turn on, or tool calls written in the message text instead of as native calls (``text-<form>``,
see ``agent_scripts``); ``AgentServer(context_tokens=N)`` refuses longer requests as vLLM does. Requests for extraction ("extract what was asked", ``agent_extract``) are answered with the page's sentences that share
words with the question.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from drevalkit.testing.agent_scripts import SCENARIOS, Script, quoted_call, written_call
from drevalkit.testing.openai_server import FakeOpenAIServer, count_tokens

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9-]+")
_STOP = frozenset(
    "what when where which with from that this have been were does into about their there these "
    "those research report write cited answers available tools then".split()
)
_MARKER = re.compile(r"\[scenario: ([a-z0-9-]+)\]")
_NOTE = re.compile(r"^NOTE\|(\S+)\|([^|\n]*)\|(.+)$", re.MULTILINE)
_CANDIDATE = re.compile(r"^CANDIDATE\|(\S+)\|(.*)$", re.MULTILINE)
_BLOCK = re.compile(r"<use_mcp_tool>(.*?)</use_mcp_tool>", re.DOTALL)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass
class Answer:
    content: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    reasoning: str = ""
    finish_reason: str | None = None
    fault: str | None = None

    def token_text(self) -> str:
        """The text whose tokens the server counts (and decodes, with simulated latency)."""
        return self.reasoning + self.content + (json.dumps(self.tool_calls) if self.tool_calls else "")


@dataclass
class _State:
    """What the agent knows, read from the conversation it was sent."""

    protocol: str
    task: str
    turn: int  # this reply's turn number (1 for the first)
    final: bool
    queries: list[str] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    unknown_called: bool = False
    candidates: dict[str, str] = field(default_factory=dict)  # url -> title, from its notes
    notes: list[tuple[str, str, str]] = field(default_factory=list)  # (url, title, fact), from its notes
    last_result: str | None = None  # the newest tool result, verbatim (None after anything else)


def _keywords(text: str, limit: int = 6) -> list[str]:
    words = [w for w in _WORD.findall(_MARKER.sub("", text)) if len(w) > 3 and w.lower() not in _STOP]
    return list(dict.fromkeys(words))[:limit]


def _facts(text: str, limit: int) -> list[str]:
    """Sentences of a page that state a figure (what a fact-checker can check), at most ``limit``."""
    out = []
    for sentence in _SENTENCE.split(" ".join(text.split())):
        sentence = sentence.strip()
        if (
            re.search(r"\d", sentence)
            and 6 <= len(sentence.split()) <= 45
            and "|" not in sentence
            and not sentence.startswith(("[", "{", "URL:", "Title:"))
        ):
            out.append(sentence.rstrip("."))
        if len(out) >= limit:
            break
    return out


class ScriptedAgent:
    def __init__(self, scripts: dict[str, Script] | None = None, default: Script | None = None):
        self.scripts = dict(SCENARIOS if scripts is None else scripts)
        self.default = default or Script()
        self.attempts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def script_for(self, task: str) -> Script:
        match = _MARKER.search(task)
        return self.scripts.get(match.group(1), self.default) if match else self.default

    # -- reading the conversation ----------------------------------------------------------------------------
    def _state(self, body: dict[str, Any]) -> _State:
        messages = body["messages"]
        protocol = "openai-tools" if body.get("tools") else "mirothinker"
        task = next(m["content"] for m in messages if m["role"] == "user")
        assistants = [m for m in messages if m["role"] == "assistant"]
        last = messages[-1]
        if protocol == "openai-tools":
            final = body.get("tool_choice") == "none"
        else:
            final = last["role"] == "user" and last is not messages[1] and not str(last["content"]).startswith("{")
        state = _State(protocol=protocol, task=task, turn=len(assistants) + 1, final=final)
        errors = {
            m.get("tool_call_id")
            for m in messages
            if m["role"] == "tool" and str(m.get("content", "")).startswith("Error")
        }
        for i, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            text = (message.get("content") or "") + "\n" + (message.get("reasoning_content") or "")
            for url, title in _CANDIDATE.findall(text):
                state.candidates.setdefault(url, title)
            state.notes.extend(_NOTE.findall(text))
            for name, arguments, failed in self._calls(message, messages, i, errors):
                if failed:
                    continue
                if name in ("google_search", "web_search"):
                    state.queries.append(arguments.get("q") or arguments.get("query") or "")
                elif name in ("scrape_and_extract_info", "read_url"):
                    state.reads.append(arguments.get("url", ""))
                else:
                    state.unknown_called = True
        newest = messages[-2] if final and len(messages) > 3 else last  # the result the final prompt follows
        if newest["role"] == "tool" or (
            protocol == "mirothinker"
            and newest["role"] == "user"
            and newest is not messages[1]
            and str(newest["content"]).startswith("{")
        ):
            state.last_result = newest.get("content") or ""
        return state

    @staticmethod
    def _calls(
        message: dict[str, Any], messages: list[dict[str, Any]], index: int, errors: set[Any]
    ) -> list[tuple[str, dict[str, Any], bool]]:
        calls = []
        for call in message.get("tool_calls") or []:
            try:
                arguments = json.loads(call["function"]["arguments"])
            except (ValueError, KeyError):
                arguments = {}
            calls.append((call["function"]["name"], arguments, call.get("id") in errors))
        for block in _BLOCK.findall(message.get("content") or ""):
            name = re.search(r"<tool_name>(.*?)</tool_name>", block, re.DOTALL)
            args = re.search(r"<arguments>(.*?)</arguments>", block, re.DOTALL)
            try:
                arguments = json.loads(args.group(1)) if args else {}
            except ValueError:
                arguments = {}
            reply = messages[index + 1] if index + 1 < len(messages) else {}
            failed = '"success": false' in str(reply.get("content", ""))
            calls.append((name.group(1).strip() if name else "", arguments, failed))
        return calls

    # -- answering -------------------------------------------------------------------------------------------
    def respond(self, body: dict[str, Any]) -> Answer:
        messages = body["messages"]
        if messages and str(messages[0].get("content", "")).startswith("You extract information"):
            return self._extract(body)
        state = self._state(body)
        script = self.script_for(state.task)
        if script.fail_at_turn is not None and state.turn >= script.fail_at_turn:
            return Answer(fault="500")
        key = hashlib.sha256(json.dumps(messages, sort_keys=True, default=str).encode()).hexdigest()
        with self._lock:
            attempt = self.attempts[key]
            self.attempts[key] += 1
        notes = self._notes(state, script)
        text = "\n".join(notes)
        for url, title in _CANDIDATE.findall(text):
            state.candidates.setdefault(url, title)
        state.notes.extend(_NOTE.findall(text))
        if state.final:
            return self._final(state, script, notes)
        action = self._next_action(state, script, attempt)
        if action is None:  # done researching
            if state.protocol == "openai-tools":
                return self._final(state, script, notes)
            return self._say(script, notes + ["I have gathered enough to write the report."], None, state)
        return self._say(script, notes, action, state)

    def _notes(self, state: _State, script: Script) -> list[str]:
        """Notes on the newest tool result (candidate URLs of a search, facts of a page)."""
        result = state.last_result
        if not result:
            return []
        lines: list[str] = []
        try:
            data = json.loads(result)
        except ValueError:
            data = None
        pad = (" " + " ".join(["context"] * script.filler_words)) if script.filler_words else ""
        if isinstance(data, dict) and ("organic" in data or "results" in data):
            for hit in data.get("organic") or data.get("results") or []:
                url = hit.get("link") or hit.get("url")
                lines.append(f"CANDIDATE|{url}|{hit.get('title', '')}")
            return lines
        if isinstance(data, dict) and data.get("success") and "extracted_info" in data:
            url, title, text = data["url"], data.get("title", ""), data["extracted_info"]
        elif result.startswith("URL: "):
            head, _, text = result.partition("\n\n")
            url = head.split("\n", 1)[0][5:].strip()
            title = next((line[7:] for line in head.split("\n") if line.startswith("Title: ")), "")
        else:
            return []
        url = state.reads[-1] if state.reads else url  # the URL it asked for
        for fact in _facts(text, script.facts_per_page):
            lines.append(f"NOTE|{url}|{title}|{fact}{pad}")
        return lines

    def _next_action(self, state: _State, script: Script, attempt: int) -> tuple[str, dict[str, Any]] | None:
        keywords = _keywords(state.task)
        base = " ".join(keywords)
        if script.malformed_always and state.turn >= 2:
            return ("malformed", {})
        if script.malformed_once and state.turn == 2 and attempt == 0:
            return ("malformed", {})
        if script.unknown_tool_once and state.turn == 2 and not state.unknown_called:
            return ("unknown", {"code": "print(1)"})
        if script.repeat_query and state.queries:
            return ("search", {"q": state.queries[0]})
        if len(state.queries) < script.searches:
            extra = keywords[len(state.queries) % max(1, len(keywords)) :][:2]
            variant = base if not state.queries else f"{base} {' '.join(extra)} details"
            return ("search", {"q": variant})
        unread = [url for url in state.candidates if url not in state.reads]
        if len(state.reads) < script.reads and unread:
            return ("read", {"url": unread[0], "info_to_extract": state.task.split("\n")[0][:200]})
        if script.never_finish:
            return ("search", {"q": f"{base} more {len(state.queries)}"})
        return None

    def _say(
        self, script: Script, notes: list[str], action: tuple[str, dict[str, Any]] | None, state: _State
    ) -> Answer:
        thought = "\n".join(notes) or "Planning the next step."
        answer = Answer()
        visible = ""
        if script.reasoning_field:
            answer.reasoning = thought
        elif script.think:
            visible = f"<think>\n{thought}\n</think>\n\n"
        else:
            visible = thought + "\n\n"
        if action is None:
            answer.content = visible.strip() if not script.reasoning_field else "I have gathered enough."
            return answer
        kind, arguments = action
        if state.protocol == "openai-tools":
            answer.content = visible.strip()
            name = {"search": "web_search", "read": "read_url", "unknown": "run_python_code"}.get(kind, "web_search")
            if kind == "search":
                arguments = {"query": arguments["q"]}
            if script.text_calls:  # no native call: written in the text, as without a tool parser
                answer.content = (visible + written_call(script.text_calls, name, arguments)).strip()
                return answer
            raw = '{"query": "unterminated' if kind == "malformed" else json.dumps(arguments)
            answer.tool_calls = [
                {"id": f"call_{state.turn}_{kind}", "type": "function", "function": {"name": name, "arguments": raw}}
            ]
            return answer
        server, tool = {
            "search": ("search_and_scrape_webpage", "google_search"),
            "read": ("jina_scrape_llm_summary", "scrape_and_extract_info"),
            "unknown": ("tool-python", "run_python_code"),
        }.get(kind, ("search_and_scrape_webpage", "google_search"))
        args = '{"q": "unterminated' if kind == "malformed" else json.dumps(arguments)
        answer.content = (
            f"{visible}Next: {kind}.\n\n<use_mcp_tool>\n<server_name>{server}</server_name>\n"
            f"<tool_name>{tool}</tool_name>\n<arguments>\n{args}\n</arguments>\n</use_mcp_tool>"
        )
        return answer

    def _final(self, state: _State, script: Script, notes: list[str]) -> Answer:
        all_notes = state.notes
        thinking = "Writing the report from my notes."
        if script.final == "give-up":
            body = "I was unable to find enough reliable information to answer this question."
        elif script.final == "error":
            body = "Error generating final report: the model failed to produce an answer."
        elif script.final == "empty":
            body = ""
        elif script.final == "call":
            body = written_call(script.text_calls or "hermes", "web_search", {"query": "more on this"})
        else:
            body = self._report(state, script, all_notes)
        answer = Answer(
            content=(
                f"<think>\n{thinking}\n</think>\n\n{body}" if script.think and not script.reasoning_field else body
            )
        )
        if script.reasoning_field:
            answer.reasoning = thinking
        if script.final_cut:
            answer.content = answer.content[: int(len(answer.content) * 0.8)]
            answer.finish_reason = "length"
        return answer

    def _report(self, state: _State, script: Script, notes: list[tuple[str, str, str]]) -> str:
        title = " ".join(_keywords(state.task, 8)) or "Research report"
        sources: dict[str, str] = {}
        for url, page_title, _ in notes:
            sources.setdefault(url, page_title)
        numbers = {url: i for i, url in enumerate(sources, start=1)}
        lines = [
            f"# {title}",
            "",
            "This report answers the question from the pages read during the research, "
            "each cited where it is used, and summarises what they establish about the subject.",
            "",
            "## Findings",
            "",
        ]
        for url, _, fact in notes:
            lines.append(f"{fact.strip()} [{numbers[url]}].")
        if not notes:
            lines.append("The sources consulted did not state figures on this question.")
        references = [f"[{numbers[url]}] {t or 'Source'}. {url}" for url, t in sources.items()]
        if script.cite_unread:
            unread = [url for url in state.candidates if url not in sources]
            if unread:
                n = len(sources) + 1
                lines.append(f"A further source covers the same subject [{n}].")
                references.append(f"[{n}] {state.candidates[unread[0]] or 'Unread'}. {unread[0]}")
            lines.append("Another figure is reported elsewhere [9].")
        if script.text_calls:
            lines += quoted_call()
        lines += [
            "",
            "## Conclusion",
            "",
            "The figures above come from the cited pages and agree with each other where they overlap.",
            "",
            "## References",
            "",
        ] + references
        return "\n".join(lines)

    def _extract(self, body: dict[str, Any]) -> Answer:
        prompt = body["messages"][-1]["content"]
        question, _, page = prompt.partition("The page")
        wanted = {w.lower() for w in _keywords(question, 20)}
        sentences = [s for s in _SENTENCE.split(" ".join(page.split())) if s.strip()]
        chosen = [s for s in sentences if wanted & {w.lower() for w in _WORD.findall(s)} and re.search(r"\d", s)]
        return Answer(content=" ".join(chosen[:4]) or "The page does not answer this.")


def _flat(message: dict[str, Any]) -> dict[str, Any]:
    """A message as text, native tool calls included, for the server's token counting and prefix cache."""
    content = message.get("content") or ""
    if message.get("tool_calls"):
        content += json.dumps(message["tool_calls"])
    return {"role": message.get("role", "user"), "content": content}


class AgentServer(FakeOpenAIServer):
    """The test server with a ``ScriptedAgent`` answering; ``bodies`` holds every request as it was sent."""

    def __init__(
        self,
        agent: ScriptedAgent | None = None,
        *,
        model: str = "test-agent",
        context_tokens: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(model=model, **kwargs)
        self.agent = agent or ScriptedAgent()
        self.context_tokens = context_tokens  # refuse longer requests (prompt + max_tokens) as vLLM does, with 400
        self.refused: list[int] = []  # prompt tokens of the requests refused as too long
        self.bodies: list[dict[str, Any]] = []
        self._answers = threading.local()
        self.responder = self._token_text

    def _serve(self, handler_class: Any, poll_interval: float = 0.05) -> AgentServer:
        return super()._serve(handler_class, poll_interval)  # stops quickly: tests start one per test

    def _token_text(self, body: dict[str, Any]) -> str | None:
        answer = getattr(self._answers, "answer", None)
        return answer.token_text() if answer is not None else None

    def handle_chat(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            self.bodies.append(body)
        answer = None
        flat = {**body, "messages": [_flat(m) for m in body.get("messages", [])]}
        if self.context_tokens is not None:
            prompt = sum(count_tokens(m["content"]) for m in flat["messages"])
            if prompt + int(body.get("max_tokens") or 0) > self.context_tokens:
                with self._lock:
                    self.refused.append(prompt)
                return (
                    400,
                    {
                        "error": {
                            "message": f"This model's maximum context length is {self.context_tokens} "
                            f"tokens. However, you requested {prompt} tokens in the messages "
                            f"and {body.get('max_tokens')} in the completion.",
                            "type": "BadRequestError",
                        }
                    },
                    {},
                )
        if body.get("model") == self.model and body.get("messages"):
            answer = self.agent.respond(body)
            if answer.fault:
                with self._lock:
                    self.faults_injected.append(answer.fault)
                return 500, {"error": {"message": "internal error (scripted)"}}, {}
        self._answers.answer = answer
        try:
            status, payload, headers = super().handle_chat(flat)
        finally:
            self._answers.answer = None
        if status == 200 and answer is not None:
            choice = payload["choices"][0]
            message: dict[str, Any] = {"role": "assistant", "content": answer.content or None}
            if answer.tool_calls:
                message["tool_calls"] = answer.tool_calls
            if answer.reasoning:
                message["reasoning_content"] = answer.reasoning
            choice["message"] = message
            choice["finish_reason"] = answer.finish_reason or ("tool_calls" if answer.tool_calls else "stop")
        return status, payload, headers


def main(argv: list[str] | None = None) -> None:
    """Serve the scripted agent so a person can try ``dreval run-agent`` without a model or GPU: prints the base URL
    and model name, then serves (both protocols) until interrupted (Ctrl-C, or kill)."""
    parser = argparse.ArgumentParser(prog="python -m drevalkit.testing.agent_server", description=main.__doc__)
    parser.add_argument("--model", default="test-agent", help="the model name it answers to (default test-agent)")
    args = parser.parse_args(argv)
    with AgentServer(model=args.model) as server:
        print(f"scripted agent (a stand-in, not a model) at {server.url}  model {server.model}", flush=True)
        print(
            f"  dreval run-agent --base-url {server.url} --model {server.model} --protocol mirothinker ...", flush=True
        )
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


__all__ = ["SCENARIOS", "AgentServer", "Answer", "Script", "ScriptedAgent"]


if __name__ == "__main__":
    main()
