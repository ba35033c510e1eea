"""Quality-judging cost: calls, prompt tokens, prefix-cache reuse and wall time per report.

Scores N synthetic long reports (built from the sample report) against drevalkit.testing's OpenAI-compatible
server, a STAND-IN for vLLM / SGLang: it simulates prefill and decode rates, a block prefix cache and a bounded
number of sequences computed at once (``--max-sequences``), and answers with schema-valid filler. Token counts and
cache reuse are real properties of the prompts dreval sends; wall times come from the simulated rates. The LLM
response cache is off, so every figure is a real request.

For comparison the paper's layout is actually sent to the same server: per dimension, the criteria first and then
the task and the whole report (no shared prefix), all dimensions at once.
Run: ``python benchmarks/quality_cost.py [--reports 8] [--report-tokens 12000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from drevalkit.config import Settings
from drevalkit.ingest.importers import load_report
from drevalkit.llm import open_llm
from drevalkit.quality.judge import judge_messages, judgement_model
from drevalkit.quality.rubric import RubricBook, read_rubric
from drevalkit.schemas import Task, Usage
from drevalkit.scoring import ScoreJob, Scorer
from drevalkit.testing.openai_server import FakeOpenAIServer, count_tokens


def make_reports(folder: Path, count: int, target_tokens: int) -> list[Path]:
    body = (ROOT / "samples" / "report.md").read_text()
    main, _, references = body.partition("## References")
    paths = []
    for i in range(count):
        parts, part = [], 0
        while count_tokens("\n".join(parts)) < target_tokens:
            part += 1
            parts.append(main.replace("# ", f"# Part {part} of report {i}: ", 1))
        path = folder / f"report-{i}.md"
        path.write_text("\n".join(parts) + "\n## References" + references)
        paths.append(path)
    return paths


async def score_all(settings: Settings, task: Task, paths: list[Path]) -> tuple[list, Usage, Usage, float]:
    llm = open_llm(settings)
    try:
        book = RubricBook(settings.layout, llm)
        _, rubric_usage = await book.get(task)
        scorer = Scorer(settings, llm, book)
        jobs = [ScoreJob(p, f"system-{i}", task.id, task) for i, p in enumerate(paths)]
        started = time.perf_counter()
        cards = await asyncio.gather(*(scorer.score(job) for job in jobs))
        wall = time.perf_counter() - started
    finally:
        await llm.close()
    judge_usage = Usage()
    for card in cards:
        judge_usage.add(card.usage)
    return cards, rubric_usage, judge_usage, wall


def paper_layout(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """The same prompt with its varying part (the dimension and its criteria) moved before the task and report."""
    system, user = messages
    shared, _, varying = user["content"].partition("\n\nEvaluate the report above")
    return [system, {"role": "user", "content": "Evaluate the report below" + varying + "\n\n" + shared}]


async def paper_all(settings: Settings, task: Task, paths: list[Path], rubric) -> tuple[Usage, float]:
    """Send the paper's layout: every dimension of every report at once, each with the whole report."""
    llm = open_llm(settings)
    usage = Usage()
    try:
        reports = [load_report(p, system="paper", task_id=task.id, max_bytes=50_000_000) for p in paths]

        async def one(report, dimension):
            result = await llm.structured(
                paper_layout(judge_messages(task, report, dimension)), judgement_model(dimension)
            )
            usage.add(result.usage)

        started = time.perf_counter()
        await asyncio.gather(*(one(r, d) for r in reports for d in rubric.dimensions))
        wall = time.perf_counter() - started
    finally:
        await llm.close()
    return usage, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=8)
    parser.add_argument("--report-tokens", type=int, default=12000)
    parser.add_argument("--prefill", type=float, default=8000.0, help="simulated prefill tokens/s per request")
    parser.add_argument("--decode", type=float, default=400.0, help="simulated decode tokens/s per request")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument(
        "--max-sequences",
        type=int,
        default=16,
        help="sequences the simulated server computes at once (the rest queue), like a GPU batch",
    )
    args = parser.parse_args()

    task = Task.model_validate_json((ROOT / "samples" / "task.json").read_text())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_reports(Path(tmp), args.reports, args.report_tokens)
        report_tokens = sum(count_tokens(p.read_text()) for p in paths) / len(paths)
        for concurrency in args.concurrency:
            server_options = dict(
                prefill_tokens_per_s=args.prefill, decode_tokens_per_s=args.decode, max_sequences=args.max_sequences
            )
            with FakeOpenAIServer(**server_options) as server:
                settings = Settings(
                    base_url=server.url,
                    api_key="bench",
                    model=server.model,
                    concurrency=concurrency,
                    home=Path(tmp) / f"home-{concurrency}",
                    out=Path(tmp) / f"out-{concurrency}",
                    cache=False,
                )
                cards, rubric_usage, usage, wall = asyncio.run(score_all(settings, task, paths))

            frozen = read_rubric(settings.layout.rubric(task.id))
            with FakeOpenAIServer(**server_options) as server:  # a fresh server: an empty prefix cache
                paper_settings = settings.model_copy(update={"base_url": server.url})
                paper_usage, paper_wall = asyncio.run(paper_all(paper_settings, task, paths, frozen))
            n = len(cards)
            assert all(c.status == "complete" for c in cards), [c.reasons for c in cards]
            uncached = (usage.prompt_tokens - usage.cached_tokens) / n
            rows.append(
                {
                    "concurrency": concurrency,
                    "reports": n,
                    "report_tokens": round(report_tokens),
                    "rubric_calls_per_task": rubric_usage.calls,
                    "calls_per_report": usage.calls / n,
                    "prompt_tokens_per_report": round(usage.prompt_tokens / n),
                    "cached_tokens_per_report": round(usage.cached_tokens / n),
                    "uncached_prompt_over_report_tokens": round(uncached / report_tokens, 3),
                    "paper_layout_uncached_over_report_tokens": round(
                        (paper_usage.prompt_tokens - paper_usage.cached_tokens) / n / report_tokens, 3
                    ),
                    "paper_layout_wall_s_per_report": round(paper_wall / n, 3),
                    "completion_tokens_per_report": round(usage.completion_tokens / n),
                    "wall_s_per_report": round(wall / n, 3),
                    "wall_s_total": round(wall, 2),
                }
            )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"quality_cost: {args.reports} reports of ~{round(report_tokens)} tokens against a STAND-IN server "
        f"(simulated prefill {args.prefill:g} tok/s, decode {args.decode:g} tok/s per sequence, "
        f"{args.max_sequences} sequences at once, block prefix cache); wall times are simulated"
    )
    header = [
        "concurrency",
        "calls_per_report",
        "prompt_tokens_per_report",
        "cached_tokens_per_report",
        "uncached_prompt_over_report_tokens",
        "paper_layout_uncached_over_report_tokens",
        "wall_s_per_report",
        "paper_layout_wall_s_per_report",
        "wall_s_total",
    ]
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(str(row[h]) for h in header))
    print(
        "target: uncached prompt tokens / report tokens <= 1.2; the paper_layout columns are that layout "
        "(criteria first, the whole report per dimension) sent to the same simulated server"
    )
    print(f"rubric building: {rows[0]['rubric_calls_per_task']} calls per task, amortised over every report")
    print(f"peak memory: {peak_mb:.0f} MB")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
