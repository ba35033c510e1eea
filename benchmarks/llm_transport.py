"""LLM transport: CPU and tail of a chat completion through the openai backend and through one SDK client over
httpx or aiohttp.

Each variant sends the same ``--calls`` requests (a fact-check-sized prompt and a JSON schema), ``--concurrency`` at
a time, to the stand-in judge (``drevalkit.testing.openai_server``, ``--decode`` tokens/s, ``--concurrency``
sequences at once) in ANOTHER PROCESS, not counted. ``backend`` is ``OpenAIChatBackend.create`` as dreval runs it
(the SDK's ``client.post`` with a prepared body, a client per ``REQUESTS_PER_CLIENT`` calls in flight, the answer
made a ChatCompletion); ``httpx`` is the same post on ONE SDK client (its httpx pool); ``aiohttp`` the same on one
``openai.DefaultAioHttpClient`` (the ``openai[aiohttp]`` extra; skipped when it is not installed). Rounds alternate
the variants so a load change on the machine hits them alike.

Printed per variant and round: CPU-s of this process per call (``getrusage(RUSAGE_SELF)``), wall, the median and
slowest call, and the calls that failed (dreval's client would retry them). ``--backlog`` is the stand-in's listen
backlog: 4096 by default (a GPU server's is thousands); 5 is Python's socketserver default and a small server's.
When connections arrive faster than the server accepts them, the kernel drops some: over httpx such a call fails
within a second or two (connection reset) and is retried; over aiohttp it waits out TCP's retransmissions, tens of
seconds, or the read timeout; that is why dreval does not use aiohttp. Run: ``python benchmarks/llm_transport.py
--calls 3000 --concurrency 256`` and ``... --calls 1500 --concurrency 256 --backlog 5 --decode 400 --cold``.
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import importlib.util
import json
import multiprocessing
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import openai
import pydantic_core

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
OPTIONS: Any = {"security": {"bearer_auth": True}}
PROMPT = "Claim and evidence passages. " + "The passage says something a claim could rest on. " * 90


def serve(conn: Any, backlog: int, decode: float, sequences: int) -> None:
    """The stand-in judge's process, with a listen backlog of ``backlog``."""
    http.server.ThreadingHTTPServer.request_queue_size = backlog
    with FakeOpenAIServer(decode_tokens_per_s=decode or None, max_sequences=sequences) as judge:
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


async def calls(urls: dict[str, str], variant: str, args: argparse.Namespace) -> dict[str, Any]:
    """``--calls`` completions, ``--concurrency`` at once, after a warm-up round (none with ``--cold``: every
    connection is opened while measuring); CPU, wall, latencies and failures."""
    settings = Settings(base_url=urls["url"], api_key="bench", model=urls["model"], timeout=args.timeout)
    backend = OpenAIChatBackend(settings) if variant == "backend" else None
    client = openai.AsyncOpenAI(
        base_url=urls["url"],
        api_key="bench",
        max_retries=0,
        timeout=args.timeout,
        http_client=openai.DefaultAioHttpClient() if variant == "aiohttp" else None,
    )
    semaphore = asyncio.Semaphore(args.concurrency)
    latencies: list[float] = []
    failures: Counter[str] = Counter()

    async def one(i: int) -> None:
        async with semaphore:
            started = time.perf_counter()
            try:
                if backend is not None:
                    await backend.create(request(urls["model"], i))
                else:  # the call the backend makes, on one client
                    content = pydantic_core.to_json(request(urls["model"], i))
                    await client.post("/chat/completions", content=content, cast_to=bytes, options=OPTIONS)
            except openai.APIError as exc:
                failures[type(exc).__name__] += 1
            latencies.append(time.perf_counter() - started)

    try:
        await asyncio.gather(*(one(i) for i in range(0 if args.cold else args.concurrency)))
        latencies.clear()
        failures.clear()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu, started = usage.ru_utime + usage.ru_stime, time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(args.calls)))
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu, wall = usage.ru_utime + usage.ru_stime - cpu, time.perf_counter() - started
    finally:
        await client.close()
        if backend is not None:
            await backend.close()
    latencies.sort()
    return {
        "cpu_ms_per_call": round(cpu / args.calls * 1000, 2),
        "wall_s": round(wall, 1),
        "median_s": round(latencies[len(latencies) // 2], 2),
        "slowest_s": round(latencies[-1], 1),
        "failed": dict(failures),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--backlog", type=int, default=4096, help="the stand-in judge's listen backlog")
    parser.add_argument("--decode", type=float, default=0.0, help="simulated decode tokens/s (0: answer at once)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per call")
    parser.add_argument("--cold", action="store_true", help="no warm-up: connections are opened while measuring")
    args = parser.parse_args()
    variants = ["backend", "httpx"] + (["aiohttp"] if importlib.util.find_spec("aiohttp") else [])
    spawn = multiprocessing.get_context("spawn")
    ours, theirs = spawn.Pipe()
    server = spawn.Process(target=serve, args=(theirs, args.backlog, args.decode, args.concurrency), daemon=True)
    server.start()
    try:
        urls = ours.recv()
        print(
            f"{args.calls} calls at concurrency {args.concurrency}, event loop {loop_name()}, the stand-in judge "
            f"(listen backlog {args.backlog}, decode {args.decode or 'instant'}) in another process, not counted"
        )
        for _ in range(args.rounds):
            for variant in variants:
                figures = run_loop(calls(urls, variant, args))
                print(f"{variant:8s} {json.dumps(figures)}")
    finally:
        ours.send("stop")
        server.join(timeout=10)


if __name__ == "__main__":
    main()
