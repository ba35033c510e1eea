"""Tool calls written as text, against a real server: ``dreval run-agent`` with the embedded Qwen2.5-Coder-1.5B
(a small model that often writes its tool calls in the message text instead of as native calls) served by llama.cpp's
own server (``LlamaServer``, ``--jinja`` on), on a few of the sample tasks, once per protocol.

Search and pages are local stand-ins: the sample corpus served over HTTP and a fake search API indexing it (the
model and the server are real; the web is not). Prints, per protocol and task: turns, native tool calls (from the
trace), tool calls read from the text (``text_tool_calls`` in the sidecar), searches, pages read, status and
termination, and whether the written report holds a tool call (a check of its own, independent of dreval's parser).

With ``--first-turns N`` it first samples each task's first reply N times (seeds 0..N-1) and counts native calls,
calls written as text and prose: how often the model writes calls as text at all.

Run: ``python benchmarks/text_tool_calls.py [--tasks 2] [--max-turns 3] [--protocol openai-tools] [--temperature
0] [--first-turns 8]``. Sampling is each protocol's default (llama.cpp's 0.8 for ``openai-tools``, 1.0 for ``mirothinker``) from a
fixed server seed (``--seed``), so a rerun on the same build and day gives the same figures; ``--temperature 0`` is
greedy. Slow on a shared CPU: minutes per turn.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from drevalkit.agents.protocols.openai_tools import OpenAIToolsProtocol
from drevalkit.agents.protocols.text_calls import read_text_calls
from drevalkit.config import Settings
from drevalkit.factcheck.fetch import extract_text
from drevalkit.llm.llama_server import LlamaServer
from drevalkit.llm.local_model import resolve_local_model
from drevalkit.schemas import Task
from drevalkit.testing.search_server import FakeSearchServer
from drevalkit.testing.static_site import StaticSite

SAMPLES = ROOT / "samples"
# a tool call in any of the text forms small models write, outside or inside a code fence
CALL_IN_TEXT = re.compile(
    r"<tool_call>|<tools>|<function=|<use_mcp_tool>|\{\s*\"name\"\s*:\s*\"[^\"]+\"\s*,\s*\"(?:arguments|parameters)\"",
    re.IGNORECASE,
)


class SeededServer(LlamaServer):
    """llama.cpp's server with a fixed sampling seed (dreval sends none), so sampled runs repeat."""

    seed = 42

    def _params(self) -> Any:
        params = super()._params()
        params.sampling.seed = self.seed
        return params


def corpus_docs(site: StaticSite) -> list[dict[str, str]]:
    corpus = SAMPLES / "corpus"
    docs = []
    for name in json.loads((corpus / "urls.json").read_text()):
        kind = "text/html" if name.endswith(".html") else "text/plain"
        text, title = extract_text(kind, (corpus / name).read_bytes(), "utf-8")
        docs.append({"url": site.url(name), "title": title or name, "text": text})
    return docs


def task_rows(out: Path) -> list[dict[str, object]]:
    """One row per task the run left in ``out``: its sidecar's counts, the trace's native calls, the report's."""
    rows = []
    for meta_path in sorted(out.glob("*.meta.json")):
        task_id = meta_path.name[: -len(".meta.json")]
        meta = json.loads(meta_path.read_text())
        agent = meta.get("agent") or {}
        trace = [json.loads(line) for line in (out / f"{task_id}.trace.jsonl").read_text().splitlines() if line]
        native = sum(len(e.get("tool_calls") or []) for e in trace if e["event"] == "reply")
        report = (out / f"{task_id}.md").read_text()
        rows.append(
            {
                "task": task_id,
                "turns": agent.get("turns", 0),
                "native": native,
                "text": agent.get("text_tool_calls", 0),  # absent before the parser existed
                "searches": agent.get("searches", 0),
                "pages": agent.get("pages_read", 0),
                "status": "report" if meta["status"] == "imported" else "failed",
                "termination": agent.get("termination", ""),
                "call_in_report": bool(CALL_IN_TEXT.search(report)) and meta["status"] == "imported",
                "failure": (meta.get("failure") or "")[:160],
            }
        )
    return rows


def first_turns(base_url: str, model: str, lines: list[str], seeds: int, max_tokens: int) -> None:
    """The first reply of each task, sampled from ``seeds`` seeds, as ``openai-tools`` sends it: how often the model
    calls a tool natively, writes a call as text (read by dreval's parser), or writes prose (a report at once)."""
    protocol = OpenAIToolsProtocol(Settings(agent_model=model, agent_base_url=base_url))
    print(f"\n== first replies under openai-tools, {seeds} seeds per task, {max_tokens} tokens each")
    for line in lines:
        task = Task.model_validate_json(line)
        request = protocol.request(protocol.start(task))
        counts = {"native": 0, "text call": 0, "unreadable text call": 0, "prose": 0}
        for seed in range(seeds):
            body = {**request, "model": model, "max_tokens": max_tokens, "seed": seed}
            answer = httpx.post(f"{base_url}/chat/completions", json=body, timeout=1800).json()
            message = answer["choices"][0]["message"]
            written = read_text_calls(message.get("content") or "")
            if message.get("tool_calls"):
                counts["native"] += 1
            elif written is not None:
                counts["unreadable text call" if written.problem else "text call"] += 1
            else:
                counts["prose"] += 1
        print(f"{task.id:<14} " + ", ".join(f"{kind} {n}" for kind, n in counts.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2, help="the first N sample tasks")
    parser.add_argument("--protocol", action="append", choices=["openai-tools", "mirothinker"])
    parser.add_argument("--max-turns", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--context", type=int, default=8192, help="tokens of the server's one slot")
    parser.add_argument("--temperature", type=float, help="default: the protocol's (or the server's)")
    parser.add_argument("--seed", type=int, default=42, help="the server's sampling seed")
    parser.add_argument("--first-turns", type=int, default=0, help="also sample each task's first reply N times")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads (more spin and crawl on a busy CPU)")
    parser.add_argument("--time-cap", type=float, default=1800.0, help="seconds of research per task")
    args = parser.parse_args()
    protocols = args.protocol or ["openai-tools", "mirothinker"]
    model = resolve_local_model(None, Settings().home)
    lines = (SAMPLES / "tasks.jsonl").read_text().splitlines()[: args.tasks]
    results: dict[str, tuple[list[dict[str, object]], float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tasks = Path(tmp) / "tasks.jsonl"
        tasks.write_text("\n".join(lines) + "\n")
        server = SeededServer(
            model.path, alias="qwen2.5-coder-1.5b", context_per_slot=args.context, threads=args.threads
        )
        server.seed = args.seed
        with StaticSite(SAMPLES / "corpus") as site, FakeSearchServer() as search, server:
            search.corpus = corpus_docs(site)
            if args.first_turns:
                first_turns(server.base_url, server.alias, lines, args.first_turns, min(args.max_tokens, 160))
            for protocol in protocols:
                out = Path(tmp) / "out" / protocol
                env = {
                    **os.environ,
                    "PYTHONPATH": str(ROOT),
                    "DREVAL_HOME": str(Path(tmp) / f"home-{protocol}"),
                    "DREVAL_SEARXNG_URL": search.url("searxng"),
                }
                command = [
                    sys.executable, "-m", "drevalkit.cli", "run-agent", "--tasks", str(tasks), "--out", str(out),
                    "--base-url", server.base_url, "--model", server.alias, "--protocol", protocol,
                    "--search", "searxng", "--search-results", "3", "--allow-private-urls", "--concurrency", "1",
                    "--max-turns", str(args.max_turns), "--max-tokens", str(args.max_tokens),
                    "--context-tokens", str(args.context), "--page-chars", "2500",
                    "--time-cap", str(args.time_cap),
                ]  # fmt: skip
                if args.temperature is not None:
                    command += ["--temperature", str(args.temperature)]
                started = time.perf_counter()
                done = subprocess.run(command, env=env, capture_output=True, text=True)
                wall = time.perf_counter() - started
                if done.returncode not in (0, 1):
                    print(f"{protocol}: run-agent exited {done.returncode}\n{done.stderr[-2000:]}")
                results[protocol] = (task_rows(out), wall)
    sampling = f"temperature {args.temperature}" if args.temperature is not None else "default sampling"
    print(
        f"model {model.path.name}, llama.cpp server (--jinja), {args.tasks} tasks, --max-turns {args.max_turns}, "
        f"{sampling}, seed {args.seed}"
    )
    for protocol, (rows, wall) in results.items():
        print(f"\n== {protocol}: {wall:.0f} s")
        print("task           turns native text searches pages status  termination        tool call in report")
        for r in rows:
            print(
                f"{r['task']:<14} {r['turns']:>5} {r['native']:>6} {r['text']:>4} {r['searches']:>8} {r['pages']:>5} "
                f"{r['status']:<7} {r['termination']:<18} {'YES' if r['call_in_report'] else 'no'}"
            )
            if r["failure"]:
                print(f"               failure: {r['failure']}")
    print("\n(real model and server; search and pages are local stand-ins serving the sample corpus)")


if __name__ == "__main__":
    main()
