"""Fact-check cost: claims, LLM calls, searches and fetches per claim, and wall time, for 10 reports at once.

Everything runs on this machine: the sample corpus is served over HTTP, a fake search API indexes it (with a
simulated search latency), and a local OpenAI-compatible server with simulated prefill/decode rates plays the LLM
(a deterministic rule-based judge: it extracts every sentence with a figure and checks figures against passages).
The reports are synthetic: sentences drawn from the corpus pages, some with a figure altered, each cited to its page.
Run: ``python benchmarks/factcheck_cost.py [--reports 10] [--max-claims 40]``.
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
from drevalkit.factcheck.checker import open_factchecker
from drevalkit.ingest.importers import load_report
from drevalkit.llm import open_llm
from drevalkit.schemas import Usage
from drevalkit.store import Store
from drevalkit.testing import rule_judge
from drevalkit.testing.openai_server import FakeOpenAIServer
from drevalkit.testing.search_server import FakeSearchServer
from drevalkit.testing.static_site import StaticSite
from drevalkit.testing.synthetic import corpus_sentences, synthetic_report

CORPUS = ROOT / "samples" / "corpus"


async def check_all(settings: Settings, paths: list[Path]) -> tuple[list, float]:
    with Store(settings.store_path) as store:
        llm = open_llm(settings)
        try:
            async with open_factchecker(settings, llm, store) as checker:
                started = time.perf_counter()
                reports = [load_report(p, system="bench", task_id=p.stem, max_bytes=10**7) for p in paths]
                results = await asyncio.gather(*(checker.check(r) for r in reports))
                wall = time.perf_counter() - started
                return [(r, u, checker) for r, u in results], wall
        finally:
            await llm.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=10)
    parser.add_argument("--sentences", type=int, default=40, help="sentences per synthetic report")
    parser.add_argument("--max-claims", type=int, default=40)
    parser.add_argument("--prefill", type=float, default=8000.0, help="simulated LLM prefill tokens/s")
    parser.add_argument("--decode", type=float, default=400.0, help="simulated LLM decode tokens/s")
    parser.add_argument("--search-latency", type=float, default=0.3, help="simulated seconds per search request")
    args = parser.parse_args()

    pairs = corpus_sentences(CORPUS)
    with (
        tempfile.TemporaryDirectory() as tmp,
        StaticSite(CORPUS) as site,
        FakeSearchServer(delay=args.search_latency) as search,
        FakeOpenAIServer(prefill_tokens_per_s=args.prefill, decode_tokens_per_s=args.decode, max_sequences=16) as judge,
    ):
        judge.responder = rule_judge.respond
        search.corpus = [{"url": site.url(n), "title": n, "text": s} for n, s in pairs]
        paths = []
        for i in range(args.reports):
            path = Path(tmp) / f"report-{i}.md"
            path.write_text(synthetic_report(i, pairs, site.url, args.sentences))
            paths.append(path)
        settings = Settings(
            base_url=judge.url,
            api_key="bench",
            model=judge.model,
            concurrency=32,
            home=Path(tmp) / "home",
            cache=False,
            search="searxng",
            searxng_url=search.url("searxng"),
            allow_private_urls=True,
            max_claims=args.max_claims,
        )
        results, wall = asyncio.run(check_all(settings, paths))
        api_searches = len(search.requests)
        page_requests = sum(site.hits.values())

    total = Usage()
    claims = 0
    labels = {"right": 0, "wrong": 0, "unknown": 0, "failed": 0}
    for result, usage, _ in results:
        total.add(usage)
        claims += len(result.claims)
        for label in labels:
            labels[label] += getattr(result.counts, label)
    checker = results[0][2]

    def per_claim(value: float) -> float:
        return round(value / claims, 3)

    figures = {
        "reports": len(results),
        "claims_per_report": round(claims / len(results), 1),
        "llm_calls_per_claim": per_claim(total.calls),
        "search_queries_per_claim": per_claim(total.searches),
        "search_api_requests_per_claim": per_claim(api_searches),
        "pages_per_claim": per_claim(total.fetches),
        "page_requests_per_claim": per_claim(page_requests),
        "prompt_tokens_per_claim": per_claim(total.prompt_tokens),
        "completion_tokens_per_claim": per_claim(total.completion_tokens),
        "wall_s_total": round(wall, 2),
        "wall_s_per_report": round(wall / len(results), 2),
        "verdicts": labels,
        "fetcher_requests": checker.fetcher.fetches,
        "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(
        f"factcheck_cost: {len(results)} synthetic reports at once. STAND-INS: the LLM is a rule-based judge "
        f"(drevalkit.testing.rule_judge, not a model) on a simulated server (prefill {args.prefill:g} tok/s, "
        f"decode {args.decode:g} tok/s); the search API is a local fake with {args.search_latency:g} s latency. "
        "Calls, searches and fetches per claim are real counts of what dreval sent; verdicts and wall times "
        "are the stand-ins'."
    )
    for key, value in figures.items():
        print(f"{key:32s} {value}")
    print("targets: <= 1 verification call per claim on average (extraction amortised), <= 1.5 searches per claim")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
