"""Agent runner cost: turns, tool calls, prompt tokens sent per turn and wall time per task, for 20 tasks at once.

Everything runs on this machine, and every figure comes from stand-ins: a scripted research agent (the test
server's ``ScriptedAgent``, speaking MiroThinker's in-prompt protocol) behind the OpenAI-compatible test server with
simulated prefill and decode rates, a block prefix cache and a bounded number of sequences computed at once (as on a
GPU server); a fake search API with a simulated latency; and synthetic pages of about 15,000 characters served over
HTTP and read through dreval's guarded fetcher. The agent searches twice, reads ten pages, one per turn, and writes
its report, so a task takes 14 model calls. The run is made twice: with the default pruning (only the last 5 tool
results sent verbatim) and with every result kept, to show that pruning keeps the prompt bounded.

Run: ``python benchmarks/agent_runner.py [--tasks 20] [--concurrency 8] [--reads 10] [--no-compare]``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from drevalkit.agents import arun_agent
from drevalkit.config import Settings
from drevalkit.ingest.sidecar import read_sidecar
from drevalkit.schemas import Task
from drevalkit.testing.agent_server import AgentServer, Script, ScriptedAgent
from drevalkit.testing.search_server import FakeSearchServer
from drevalkit.testing.static_site import StaticSite

NAMES = (
    "Kestrel Osprey Heron Plover Curlew Dunlin Avocet Godwit Lapwing Merlin Harrier Shrike Bunting Siskin "
    "Linnet Wagtail Dipper Nuthatch Treecreeper Bittern"
).split()
THINGS = (
    "battery storage",
    "offshore wind",
    "rail freight",
    "water recycling",
    "grid interconnector",
    "hydrogen electrolyser",
    "heat network",
    "tidal barrage",
)


def make_pages(folder: Path, pages_per_task: int, chars: int) -> list[dict[str, str]]:
    """Synthetic pages: each task's project gets its own pages, full of sentences with figures."""
    rng = random.Random(7)
    docs = []
    for name in NAMES:
        for page in range(pages_per_task):
            thing = THINGS[(page + len(name)) % len(THINGS)]
            sentences = [f"Project {name} {thing} report, part {page + 1}."]
            while sum(len(s) + 1 for s in sentences) < chars:
                year, value, share = rng.randint(2005, 2024), rng.randint(12, 980), rng.randint(3, 97)
                survey = rng.randint(1, 60)
                sentences.append(
                    f"In {year} the {name} {thing} scheme reported {value} megawatts of capacity and "
                    f"a {share} percent share of regional demand, according to survey {survey}."
                )
            path = folder / f"{name.lower()}-{page}.txt"
            path.write_text(" ".join(sentences))
            docs.append(
                {
                    "file": path.name,
                    "title": f"Project {name}: {thing}, part {page + 1}",
                    "text": " ".join(sentences[:40]),
                }
            )
    return docs


async def run(settings: Settings, tasks: list[Task], out: Path):
    return await arun_agent(settings, tasks, out, resume=False)


def per_turn(outcomes) -> list[tuple[int, float, int]]:
    """(turn, mean prompt tokens sent, max) over the tasks that reached each turn."""
    longest = max(len(o.tokens_per_turn) for o in outcomes)
    rows = []
    for turn in range(longest):
        values = [o.tokens_per_turn[turn] for o in outcomes if len(o.tokens_per_turn) > turn]
        rows.append((turn + 1, statistics.mean(values), max(values)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--reads", type=int, default=10, help="pages the scripted agent reads per task")
    parser.add_argument("--page-chars", type=int, default=15000, help="characters of each synthetic page")
    parser.add_argument("--prefill", type=float, default=50000.0, help="simulated prefill tokens/s")
    parser.add_argument("--decode", type=float, default=1000.0, help="simulated decode tokens/s per sequence")
    parser.add_argument("--sequences", type=int, default=8, help="sequences the simulated server computes at once")
    parser.add_argument("--search-latency", type=float, default=0.3, help="simulated seconds per search request")
    parser.add_argument("--no-compare", action="store_true", help="skip the run that keeps every tool result")
    args = parser.parse_args()
    if args.tasks > len(NAMES):
        parser.error(f"at most {len(NAMES)} tasks")

    script = Script(searches=2, reads=args.reads, facts_per_page=1, filler_words=20)
    tasks = [
        Task.model_validate(
            {
                "id": f"task-{i:02d}",
                "prompt": f"What is known about Project {name}: its "
                "capacity, its share of demand and how they changed over the years?",
            }
        )
        for i, name in enumerate(NAMES[: args.tasks])
    ]
    configs = [("keep last 5", 5)] + ([] if args.no_compare else [("keep all", -1)])
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        pages = Path(tmp) / "pages"
        pages.mkdir()
        docs = make_pages(pages, pages_per_task=args.reads + 2, chars=args.page_chars)
        with StaticSite(pages) as site, FakeSearchServer(delay=args.search_latency) as search:
            search.corpus = [{"url": site.url(d["file"]), "title": d["title"], "text": d["text"]} for d in docs]
            for label, keep in configs:
                with AgentServer(
                    ScriptedAgent(default=script),
                    prefill_tokens_per_s=args.prefill,
                    decode_tokens_per_s=args.decode,
                    max_sequences=args.sequences,
                ) as server:
                    settings = Settings(
                        agent_base_url=server.url,
                        agent_model=server.model,
                        agent_protocol="mirothinker",
                        agent_concurrency=args.concurrency,
                        agent_keep_tool_results=keep,
                        home=Path(tmp) / label,
                        search="searxng",
                        searxng_url=search.url("searxng"),
                        search_results=10,
                        allow_private_urls=True,
                        agent_page_chars=20000,
                    )
                    started = time.perf_counter()
                    summary = asyncio.run(run(settings, tasks, Path(tmp) / "out" / label.replace(" ", "-")))
                    wall = time.perf_counter() - started
                    cached = sum(
                        read_sidecar(o.report_path).agent.cached_tokens
                        for o in summary.outcomes
                        if o.report_path is not None
                    )
                results[label] = (summary, wall, cached)

    for label, (summary, wall, cached) in results.items():
        outcomes = summary.outcomes
        ok = [o for o in outcomes if o.status == "report"]
        print(
            f"\n== {label} tool results verbatim: {len(outcomes)} tasks at concurrency {args.concurrency}, "
            f"{len(ok)} reports, {sum(o.status == 'failed' for o in outcomes)} failed"
        )
        print(
            f"turns per task:        mean {statistics.mean(o.turns for o in outcomes):.1f}, "
            f"max {max(o.turns for o in outcomes)}"
        )
        print(f"tool calls per task:   mean {statistics.mean(o.tool_calls for o in outcomes):.1f}")
        print(
            f"prompt tokens / task:  mean {statistics.mean(o.prompt_tokens for o in outcomes):,.0f}; "
            f"completion tokens / task: mean {statistics.mean(o.completion_tokens for o in outcomes):,.0f}; "
            f"prefix-cache hits {cached / max(1, sum(o.prompt_tokens for o in outcomes)):.0%} of prompt tokens"
        )
        seconds = sorted(o.seconds for o in outcomes)
        print(
            f"wall time per task:    mean {statistics.mean(seconds):.1f} s, median "
            f"{statistics.median(seconds):.1f} s, max {seconds[-1]:.1f} s; whole run {wall:.1f} s"
        )
        print("prompt tokens sent per turn (mean / max over tasks):")
        rows = per_turn(outcomes)
        print("  " + "  ".join(f"t{turn}:{mean / 1000:.1f}k/{peak / 1000:.1f}k" for turn, mean, peak in rows))
    if len(results) == 2:
        pruned, kept = (per_turn(results[label][0].outcomes) for label in ("keep last 5", "keep all"))
        print(
            f"\nlargest prompt: {max(r[2] for r in pruned):,} tokens with the last 5 results kept, "
            f"{max(r[2] for r in kept):,} with all kept; last turn {pruned[-1][1]:,.0f} vs {kept[-1][1]:,.0f} "
            "tokens on average"
        )
    print("\n(stand-in figures: scripted agent, simulated server latency, fake search, synthetic pages)")


if __name__ == "__main__":
    main()
