"""Event-loop lag while scoring big reports: the longest stall a ticker task sees, and the time it spent stalled.

Scores ``--reports`` reports of ``--chars`` characters each (the sample report repeated) for the quality half at
``--concurrency``, against drevalkit.testing's OpenAI-compatible server run in a SEPARATE PROCESS (in-process, its
own tokenising of every prompt would hold the GIL and be counted as dreval's lag) with simulated prefill and decode
rates. A ticker sleeps ``--tick`` seconds in a loop; every wake-up later than asked is a stall of the loop, during
which no other job's I/O made progress. The judge has a context window, so the fits-the-context check runs too.
Run: ``python benchmarks/event_loop_lag.py [--chars 4000000] [--reports 2] [--concurrency 2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from drevalkit.config import Settings
from drevalkit.llm import open_llm
from drevalkit.quality.rubric import RubricBook
from drevalkit.schemas import Task
from drevalkit.scoring import ScoreJob, Scorer
from drevalkit.testing.openai_server import FakeOpenAIServer


def serve(urls, stop, prefill: float, decode: float) -> None:
    """The judge server's process: report its URL, serve until told to stop."""
    with FakeOpenAIServer(prefill_tokens_per_s=prefill, decode_tokens_per_s=decode) as server:
        urls.put((server.url, server.model))
        stop.wait()


class Ticker:
    """Records how much later than asked each wake-up of a sleeping task came."""

    def __init__(self, tick: float):
        self.tick = tick
        self.stalls: list[float] = []

    async def run(self) -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(self.tick)
            self.stalls.append(time.perf_counter() - asked - self.tick)


async def score(settings: Settings, task: Task, paths: list[Path], tick: float) -> tuple[Ticker, float, list]:
    llm = open_llm(settings)
    try:
        book = RubricBook(settings.layout, llm)
        await book.get(task)  # built before measuring: the stalls are those of scoring
        scorer = Scorer(settings, llm, book)
        jobs = [ScoreJob(p, f"system-{i}", task.id, task) for i, p in enumerate(paths)]
        ticker = Ticker(tick)
        ticking = asyncio.create_task(ticker.run())
        started = time.perf_counter()
        cards = await scorer.score_all(jobs, resume=False)
        wall = time.perf_counter() - started
        ticking.cancel()
    finally:
        await llm.close()
    return ticker, wall, cards


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=4_000_000, help="characters per report")
    parser.add_argument("--reports", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--prefill", type=float, default=2_000_000.0, help="simulated prefill tokens/s")
    parser.add_argument("--decode", type=float, default=400.0, help="simulated decode tokens/s")
    parser.add_argument("--tick", type=float, default=0.005, help="seconds the ticker sleeps")
    args = parser.parse_args()

    task = Task.model_validate_json((ROOT / "samples" / "task.json").read_text())
    body = (ROOT / "samples" / "report.md").read_text(encoding="utf-8")
    spawn = multiprocessing.get_context("spawn")
    urls, stop = spawn.Queue(), spawn.Event()
    server = spawn.Process(target=serve, args=(urls, stop, args.prefill, args.decode), daemon=True)
    server.start()
    try:
        url, model = urls.get(timeout=60)
        with tempfile.TemporaryDirectory() as tmp:
            paths = []
            for i in range(args.reports):
                path = Path(tmp) / f"report-{i}.md"
                path.write_text(f"# Report {i}\n\n" + (body * (args.chars // len(body) + 1))[: args.chars])
                paths.append(path)
            settings = Settings(
                base_url=url,
                api_key="bench",
                model=model,
                concurrency=args.concurrency,
                context_tokens=4 * args.chars,
                max_report_mb=2 * args.chars / 1_000_000,
                home=Path(tmp) / "home",
                out=Path(tmp) / "out",
                cache=False,
                timeout=600,
            )
            ticker, wall, cards = asyncio.run(score(settings, task, paths, args.tick))
    finally:
        stop.set()
        server.join(timeout=10)
    assert all(card.status == "complete" for card in cards), [card.reasons for card in cards]
    stalls = sorted(ticker.stalls, reverse=True)
    row = {
        "reports": args.reports,
        "chars_per_report": args.chars,
        "concurrency": args.concurrency,
        "longest_stall_s": round(stalls[0], 3),
        "stalled_s_over_50ms": round(sum(s for s in stalls if s > 0.05), 3),
        "stalls_over_50ms": sum(1 for s in stalls if s > 0.05),
        "wall_s": round(wall, 2),
    }
    print(
        f"event_loop_lag: {args.reports} reports of {args.chars} characters, quality half at concurrency "
        f"{args.concurrency}, HTML on, against a STAND-IN server in another process (simulated prefill "
        f"{args.prefill:g} tok/s, decode {args.decode:g} tok/s); a ticker sleeping {args.tick:g} s measures stalls"
    )
    print(" | ".join(row))
    print(" | ".join(str(value) for value in row.values()))
    print(json.dumps(row))


if __name__ == "__main__":
    main()
