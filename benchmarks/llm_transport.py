"""LLM transport: CPU of dreval's process per chat completion, through the openai backend's HTTP transports.

The stand-in judge (``drevalkit.testing.openai_server``, no simulated latency) runs in ANOTHER PROCESS, so its CPU
is not counted. Each transport sends the same ``--calls`` requests (a fact-check-sized prompt and a JSON schema),
``--concurrency`` at a time, through ``OpenAIChatBackend.create`` (the SDK's ``client.post`` with a prepared
body); printed: CPU-s of dreval's process (``getrusage(RUSAGE_SELF)``, every thread) per call, wall, and the event
loop that ran. Transports: ``httpx`` (the SDK's own httpx2 pool) and ``aiohttp`` (``openai.DefaultAioHttpClient``,
used when ``openai[aiohttp]`` is installed). Rounds alternate the transports so a load change on the machine hits
both alike. Run: ``python benchmarks/llm_transport.py --calls 2000 --concurrency 256``.
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import json
import multiprocessing
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from drevalkit.aio import loop_name, run_loop
from drevalkit.config import Settings
from drevalkit.llm.backends.openai import OpenAIChatBackend
from drevalkit.testing.openai_server import FakeOpenAIServer

SCHEMA = {
    "type": "object",
    "properties": {
        "verdicts": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "claim": {"type": "integer", "minimum": 0, "maximum": 9},
                    "label": {"type": "string", "enum": ["supported", "contradicted", "unsupported"]},
                    "evidence": {"type": "array", "items": {"type": "string", "enum": ["E1", "E2", "E3"]}},
                    "reason": {"type": "string"},
                },
                "required": ["claim", "label", "evidence", "reason"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["verdicts"],
    "additionalProperties": False,
}
PROMPT = "Claim and evidence passages. " + "The passage says something a claim could rest on. " * 90


def serve(conn: Any) -> None:
    """The stand-in judge's process. Its listen backlog is raised from socketserver's 5: the first round opens
    ``--concurrency`` connections at once, and a full backlog resets them (a GPU server's backlog is thousands)."""
    http.server.ThreadingHTTPServer.request_queue_size = 4096
    with FakeOpenAIServer() as judge:
        conn.send({"url": judge.url, "model": judge.model})
        conn.recv()


def request(model: str, i: int) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "system", "content": "You verify claims."}, {"role": "user", "content": f"{i} {PROMPT}"}],
        "temperature": 0.0,
        "max_tokens": 512,
        "seed": 0,
        "response_format": {"type": "json_schema", "json_schema": {"name": "v", "schema": SCHEMA, "strict": True}},
    }


async def calls(settings: Settings, count: int, concurrency: int, transport: Any) -> tuple[float, float]:
    """(CPU-s, wall-s) of ``count`` completions, ``concurrency`` at once (one warm-up round apart)."""
    backend = OpenAIChatBackend(settings, transport)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with semaphore:
            completion = await backend.create(request(settings.model or "", i))
            assert completion.choices[0].message.content

    try:
        await asyncio.gather(*(one(i) for i in range(concurrency)))
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu, started = usage.ru_utime + usage.ru_stime, time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime - cpu, time.perf_counter() - started
    finally:
        await backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--transports", default="httpx,aiohttp")
    args = parser.parse_args()
    spawn = multiprocessing.get_context("spawn")
    ours, theirs = spawn.Pipe()
    server = spawn.Process(target=serve, args=(theirs,), daemon=True)
    server.start()
    try:
        urls = ours.recv()
        figures: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for transport in args.transports.split(","):
                settings = Settings(
                    base_url=urls["url"],
                    api_key="bench",
                    model=urls["model"],
                    concurrency=args.concurrency,
                )
                cpu, wall = run_loop(calls(settings, args.calls, args.concurrency, transport))
                figures.setdefault(transport, []).append(cpu / args.calls * 1000)
                print(f"{transport:8s} {cpu / args.calls * 1000:6.2f} ms CPU per call, wall {wall:5.1f} s")
        print(
            f"event loop {loop_name()}; {args.calls} calls at concurrency {args.concurrency}; the stand-in judge in "
            "another process, not counted"
        )
        print(json.dumps({k: [round(v, 3) for v in vs] for k, vs in figures.items()}))
    finally:
        ours.send("stop")
        server.join(timeout=10)


if __name__ == "__main__":
    main()
