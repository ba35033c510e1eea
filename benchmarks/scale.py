"""Scale: N reports scored at once (quality and fact-check), the judge's capacity the only limit, and what dreval's
own process spends on them.

The servers run in a SEPARATE PROCESS, so their CPU is not counted: drevalkit.testing's OpenAI-compatible server
(a STAND-IN for vLLM / SGLang: simulated prefill and decode rates per sequence, a block prefix cache, at most
``--sequences`` requests computed at once while the rest queue; fact-check prompts answered by the rule-based judge,
the rubric and quality scores with schema-filled values), a fake SearXNG API over the sample corpus, and a loopback
web serving the corpus pages. Each synthetic report (``drevalkit.testing.synthetic``) cites its own copy of the
pages (``--web distinct``: every report's sources are fetched and extracted) or the one shared copy (``shared``).

Printed:

- wall / capacity bound. The capacity bound is the least wall time the simulated server allows: the time it
  computed, summed over every answered request (uncached prompt tokens / prefill rate + completion tokens / decode
  rate), divided by the sequences it computes at once. 1.0 means the judge set the pace all along.
- CPU-s of dreval's own process (``getrusage(RUSAGE_SELF)``: every thread) over the scoring, per report; the
  extraction worker processes apart (``RUSAGE_CHILDREN`` after the pool is closed, before the servers' process
  ends: every fetched HTML page is extracted there) and the two together; the servers' own CPU for reference,
  counted in neither.
- peak RSS of dreval's process and of its largest extraction worker (``extract_workers`` of them per process), the
  peak of their sum (every dreval process and worker, sampled from /proc every 0.5 s, start-up included; the
  sampling costs about 1 ms of CPU each time), LLM calls, tokens, search queries and API requests, pages fetched and
  requested, and the event loop that ran (``drevalkit.aio.run_loop``: uvloop when it is installed, asyncio's own
  otherwise).

``--processes N`` scores the reports in N dreval processes sharing one ``DREVAL_HOME`` (report i in process i mod N,
each with ``--concurrency`` / N), as N ``--shard K/N`` runs on one machine would: wall from the moment all are ready
to the last one done; CPU summed over the processes; peak RSS the largest process's and the sum.

``--profile FILE`` writes a cProfile of the event loop's thread and of every worker thread, merged, and prints the
top functions by own time. Run: ``python benchmarks/scale.py --reports 400 --concurrency 256 --sequences 256``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import multiprocessing
import os
import pstats
import resource
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from drevalkit.aio import loop_name, run_loop
from drevalkit.config import Settings
from drevalkit.documents.workers import extraction_pool
from drevalkit.llm import open_llm
from drevalkit.quality.rubric import RubricBook
from drevalkit.schemas import Scorecard, Task, Usage
from drevalkit.scoring import ScoreJob, ScorePlan, score_jobs
from drevalkit.store import Store
from drevalkit.testing import rule_judge
from drevalkit.testing.openai_server import FakeOpenAIServer
from drevalkit.testing.search_server import FakeSearchServer
from drevalkit.testing.static_site import StaticSite
from drevalkit.testing.synthetic import corpus_sentences, synthetic_report

CORPUS = ROOT / "samples" / "corpus"
TASK = ROOT / "samples" / "task.json"


def serve(conn: Any, web: Path, pairs: list[tuple[str, str]], options: dict[str, float]) -> None:
    """The servers' process: send their URLs, serve until told to stop, then send what they counted."""
    with (
        StaticSite(web) as site,
        FakeSearchServer(delay=options["search_latency"]) as search,
        FakeOpenAIServer(
            prefill_tokens_per_s=options["prefill"],
            decode_tokens_per_s=options["decode"],
            max_sequences=int(options["sequences"]),
        ) as judge,
    ):
        judge.responder = rule_judge.respond
        search.corpus = [{"url": site.url(f"shared/{name}"), "title": name, "text": s} for name, s in pairs]
        conn.send({"judge": judge.url, "model": judge.model, "search": search.url("searxng"), "web": site.url("")})
        conn.recv()  # counting starts: the rubric is built
        start_completions, start_simulated = judge.completions, judge.simulated_s
        start_searches, start_pages = len(search.requests), sum(site.hits.values())
        conn.recv()  # counting ends
        usage = resource.getrusage(resource.RUSAGE_SELF)
        conn.send(
            {
                "completions": judge.completions - start_completions,
                "simulated_s": judge.simulated_s - start_simulated,
                "search_requests": len(search.requests) - start_searches,
                "page_requests": sum(site.hits.values()) - start_pages,
                "cpu_s": usage.ru_utime + usage.ru_stime,
            }
        )


class ThreadProfiles:
    """A cProfile of the calling thread and of every thread of the loop's default executor (``asyncio.to_thread``),
    merged into one ``pstats.Stats``. Each counts its thread's CPU time (``time.thread_time``), not wall time, which
    would charge a thread for the time it waited for the GIL."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._profiles: list[cProfile.Profile] = []

    def start_thread(self) -> None:
        profile = cProfile.Profile(time.thread_time)
        with self._lock:
            self._profiles.append(profile)
        profile.enable()

    def executor(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(thread_name_prefix="profiled", initializer=self.start_thread)

    def stats(self) -> pstats.Stats:
        for profile in self._profiles:
            profile.disable()
        stats = pstats.Stats(self._profiles[0])
        for profile in self._profiles[1:]:
            stats.add(profile)
        return stats


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


async def build_rubric(settings: Settings, task: Task) -> None:
    """The task's rubric, frozen before measuring (it is built once per task, whatever the number of reports)."""
    with Store(settings.store_path) as store:
        llm = open_llm(settings, store)
        try:
            await RubricBook(settings.layout, llm).get(task)
        finally:
            await llm.close()


async def score(settings: Settings, jobs: list[ScoreJob], html: bool, profiles: ThreadProfiles | None):
    if profiles is not None:
        asyncio.get_running_loop().set_default_executor(profiles.executor())
    with Store(settings.store_path) as store:
        llm = open_llm(settings, store)
        try:
            outcome = await score_jobs(settings, store, llm, jobs, ScorePlan(html=html, resume=False))
        finally:
            await llm.close()
    return outcome.cards


def write_reports(folder: Path, web_url: str, count: int, sentences: int, distinct: bool) -> list[Path]:
    """``count`` synthetic reports; with ``distinct``, report i cites the copy of the pages under ``r{i}/``."""
    pairs = corpus_sentences(CORPUS)
    paths = []
    for i in range(count):
        prefix = f"r{i}" if distinct else "shared"
        path = folder / f"report-{i}.md"
        path.write_text(synthetic_report(i, pairs, lambda name, p=prefix: f"{web_url}{p}/{name}", sentences))
        paths.append(path)
    return paths


def make_web(folder: Path, count: int) -> Path:
    """The loopback web: the corpus under ``shared/`` and, for every report, under ``r{i}/`` (symbolic links)."""
    web = folder / "web"
    web.mkdir()
    (web / "shared").symlink_to(CORPUS, target_is_directory=True)
    for i in range(count):
        (web / f"r{i}").symlink_to(CORPUS, target_is_directory=True)
    return web


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=64, help="dreval's concurrency (requests and reports)")
    parser.add_argument("--sequences", type=int, default=64, help="requests the simulated server computes at once")
    parser.add_argument("--sentences", type=int, default=40, help="sentences (and so claims) per synthetic report")
    parser.add_argument("--prefill", type=float, default=8000.0, help="simulated prefill tokens/s per sequence")
    parser.add_argument("--decode", type=float, default=400.0, help="simulated decode tokens/s per sequence")
    parser.add_argument("--search-latency", type=float, default=0.1, help="simulated seconds per search request")
    parser.add_argument("--web", choices=["distinct", "shared"], default="distinct", help="pages per report or one set")
    parser.add_argument("--no-html", action="store_true", help="write no HTML scorecards")
    parser.add_argument("--processes", type=int, default=1, help="dreval processes sharing the reports and one home")
    parser.add_argument("--profile", type=Path, help="write a cProfile of every thread of dreval's process here")
    args = parser.parse_args()
    if args.processes < 1 or args.processes > args.concurrency:
        parser.error("--processes must be 1 to --concurrency")
    if args.profile and args.processes > 1:
        parser.error("--profile profiles one process: leave --processes at 1")
    return args


def run(args: argparse.Namespace, tmp: Path, conn: Any) -> dict[str, Any]:
    """Score the reports and measure; returns the figures of dreval's side."""
    urls = conn.recv()
    *paths, first = write_reports(tmp, urls["web"], args.reports + 1, args.sentences, args.web == "distinct")
    task = Task.model_validate_json(TASK.read_text())
    settings = Settings(
        base_url=urls["judge"],
        api_key="bench",
        model=urls["model"],
        concurrency=args.concurrency,
        home=tmp / "home",
        out=tmp / "out",
        cache=False,
        timeout=3600,
        search="searxng",
        searxng_url=urls["search"],
        allow_private_urls=True,
        max_claims=args.sentences,
    )
    run_loop(build_rubric(settings, task))
    if args.processes > 1:
        return run_processes(args, settings, task, paths, first, conn) | {"extract_workers": settings.extract_workers}
    # start-up (the sentence model loaded, templates compiled, modules imported): one report alone, apart
    start_up = cpu_seconds(resource.RUSAGE_SELF)
    run_loop(score(settings, [ScoreJob(first, "start-up", task.id, task)], not args.no_html, None))
    start_up = cpu_seconds(resource.RUSAGE_SELF) - start_up
    jobs = [ScoreJob(p, f"system-{i}", task.id, task) for i, p in enumerate(paths)]
    profiles = ThreadProfiles() if args.profile else None
    if profiles is not None:
        profiles.start_thread()
    conn.send("start")
    cpu, children = cpu_seconds(resource.RUSAGE_SELF), cpu_seconds(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    cards = run_loop(score(settings, jobs, not args.no_html, profiles))
    wall, cpu = time.perf_counter() - started, cpu_seconds(resource.RUSAGE_SELF) - cpu
    extraction_pool().close()  # its workers exit and are waited for: their CPU is in RUSAGE_CHILDREN now
    children = cpu_seconds(resource.RUSAGE_CHILDREN) - children
    conn.send("stop")
    if profiles is not None:
        write_profile(profiles.stats(), args.profile)
    rss, workers_rss = peak_rss_mb(), peak_rss_mb(resource.RUSAGE_CHILDREN)
    return {
        "cards": cards,
        "wall": wall,
        "cpu": cpu,
        "children": children,
        "start_up": start_up,
        "rss": [rss],
        "workers_rss": [workers_rss],
        "extract_workers": settings.extract_workers,
    }


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> int:
    """This process's peak RSS, or (RUSAGE_CHILDREN) that of its largest child waited for: an extraction worker."""
    return round(resource.getrusage(who).ru_maxrss / 1024)


class TreeMemory:
    """The peak of the summed RSS of dreval's processes and their extraction workers, sampled every 0.5 s from
    /proc (Linux; None elsewhere): this process's tree without the servers' process, and without this process itself
    when it only coordinates ``--processes``."""

    def __init__(self, servers: int, with_self: bool):
        self._servers, self._with_self = servers, with_self
        self._page = resource.getpagesize()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.peak: int | None = 0 if Path("/proc/self/statm").exists() else None

    def __enter__(self) -> TreeMemory:
        if self.peak is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            self.peak = max(self.peak or 0, self._resident())

    def _resident(self) -> int:
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                ppid = int(stat.read_text().rpartition(")")[2].split()[1])
                children.setdefault(ppid, []).append(int(stat.parent.name))
            except (OSError, ValueError, IndexError):
                continue  # a process that ended meanwhile
        root = os.getpid()
        pending, total = [root], 0
        while pending:
            pid = pending.pop()
            pending += [child for child in children.get(pid, []) if child != self._servers]
            if pid == root and not self._with_self:
                continue
            try:
                total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * self._page
            except (OSError, ValueError, IndexError):
                continue
        return total


def scoring_process(conn: Any, settings: Settings, task: Task, jobs: list[ScoreJob], warm_up: Path, html: bool) -> None:
    """One of ``--processes``: starts up on a report of its own, says it is ready, scores its jobs when told to, and
    sends what it measured (the same figures as one process's)."""
    start_up = cpu_seconds(resource.RUSAGE_SELF)
    run_loop(score(settings, [ScoreJob(warm_up, "start-up", task.id, task)], html, None))
    start_up = cpu_seconds(resource.RUSAGE_SELF) - start_up
    conn.send("ready")
    conn.recv()
    cpu, children = cpu_seconds(resource.RUSAGE_SELF), cpu_seconds(resource.RUSAGE_CHILDREN)
    cards = run_loop(score(settings, jobs, html, None))
    cpu = cpu_seconds(resource.RUSAGE_SELF) - cpu
    extraction_pool().close()
    children = cpu_seconds(resource.RUSAGE_CHILDREN) - children
    conn.send(
        {
            "cards": cards,
            "cpu": cpu,
            "children": children,
            "start_up": start_up,
            "rss": peak_rss_mb(),
            "workers_rss": peak_rss_mb(resource.RUSAGE_CHILDREN),
        }
    )


def run_processes(
    args: argparse.Namespace, settings: Settings, task: Task, paths: list[Path], warm_up: Path, servers: Any
) -> dict[str, Any]:
    """The reports split over ``args.processes`` dreval processes sharing one home, each with its own output folder
    and an equal part of the concurrency; measured from the moment all have started up."""
    spawn = multiprocessing.get_context("spawn")
    count = args.processes
    pipes, workers = [], []
    for k in range(count):
        ours, theirs = spawn.Pipe()
        part = settings.model_copy(update={"concurrency": args.concurrency // count, "out": settings.out / f"p{k}"})
        jobs = [ScoreJob(p, f"system-{i}", task.id, task) for i, p in enumerate(paths) if i % count == k]
        worker = spawn.Process(target=scoring_process, args=(theirs, part, task, jobs, warm_up, not args.no_html))
        worker.start()
        pipes.append(ours)
        workers.append(worker)
    for pipe in pipes:
        if pipe.recv() != "ready":
            raise RuntimeError("a scoring process did not start")
    servers.send("start")
    started = time.perf_counter()
    for pipe in pipes:
        pipe.send("go")
    parts = [pipe.recv() for pipe in pipes]
    wall = time.perf_counter() - started
    servers.send("stop")
    for worker in workers:
        worker.join(timeout=60)
    return {
        "cards": [card for part in parts for card in part["cards"]],
        "wall": wall,
        **{key: sum(part[key] for part in parts) for key in ("cpu", "children", "start_up")},
        "rss": [part["rss"] for part in parts],
        "workers_rss": [part["workers_rss"] for part in parts],
    }


def write_profile(stats: pstats.Stats, path: Path) -> None:
    stats.dump_stats(str(path))
    text = io.StringIO()
    pstats.Stats(str(path), stream=text).sort_stats("tottime").print_stats(25)
    print(text.getvalue())


def report(args: argparse.Namespace, measured: dict[str, Any], served: dict[str, Any]) -> None:
    cards: list[Scorecard] = measured["cards"]
    n = len(cards)
    usage = Usage()
    for card in cards:
        usage.add(card.usage)
    statuses: dict[str, int] = {}
    for card in cards:
        statuses[card.status] = statuses.get(card.status, 0) + 1
    bound = served["simulated_s"] / args.sequences
    claims = sum(len(card.factcheck.claims) for card in cards if card.factcheck is not None)
    figures = {
        "reports": n,
        "event_loop": loop_name(),
        "concurrency": args.concurrency,
        "sequences": args.sequences,
        "statuses": statuses,
        "wall_s": round(measured["wall"], 1),
        "capacity_bound_s": round(bound, 1),
        "wall_over_bound": round(measured["wall"] / bound, 2) if bound else None,
        "dreval_cpu_s": round(measured["cpu"], 1),
        "dreval_cpu_s_per_report": round(measured["cpu"] / n, 3),
        "start_up_cpu_s_apart": round(measured["start_up"], 1),
        "extraction_workers_cpu_s": round(measured["children"], 2),
        "with_workers_cpu_s_per_report": round((measured["cpu"] + measured["children"]) / n, 3),
        "servers_cpu_s_not_counted": round(served["cpu_s"], 1),
        "processes": args.processes,
        "peak_rss_mb": max(measured["rss"]),
        "peak_rss_mb_all_processes": sum(measured["rss"]),
        "extraction_worker_peak_rss_mb": max(measured["workers_rss"]),
        "peak_rss_mb_with_workers_sampled": measured["tree_rss"],
        "extraction_workers_per_process": measured["extract_workers"],
        "llm_calls": usage.calls,
        "llm_calls_answered_by_server": served["completions"],
        "prompt_tokens": usage.prompt_tokens,
        "cached_tokens": usage.cached_tokens,
        "completion_tokens": usage.completion_tokens,
        "claims": claims,
        "search_queries": usage.searches,
        "search_api_requests": served["search_requests"],
        "pages_fetched": usage.fetches,
        "page_requests": served["page_requests"],
    }
    print(
        f"scale: {n} synthetic reports (~{args.sentences} cited sentences each, web {args.web}), quality and "
        f"fact-check, concurrency {args.concurrency} in {args.processes} dreval process(es), HTML {'off' if args.no_html else 'on'}. STAND-INS in another "
        f"process: the judge is a simulated server ({args.sequences} sequences at once, prefill {args.prefill:g} and "
        f"decode {args.decode:g} tok/s per sequence; rule-based fact-check answers, schema-filled scores), search a "
        f"fake SearXNG ({args.search_latency:g} s per request), the web loopback copies of samples/corpus.\n"
        "capacity bound = sum over answered requests of (uncached prompt tokens / prefill + completion tokens / "
        f"decode) / sequences = {served['simulated_s']:.1f} s / {args.sequences}.\n"
        "dreval CPU = getrusage(RUSAGE_SELF) over the scoring (all threads; summed over dreval's processes; the "
        "servers are another process); "
        "start-up = the same for one report scored alone before (model loading, template compiling, imports), "
        "not in the other figures; extraction workers = RUSAGE_CHILDREN of the closed pool (CPU summed, peak RSS of the largest worker). Goals: <= 0.1 CPU-s per report; wall within 1.3x "
        "the bound; peak RSS under 1 GB."
    )
    for key, value in figures.items():
        print(f"{key:32s} {value}")
    print(json.dumps(figures))


def main() -> None:
    args = parse_args()
    spawn = multiprocessing.get_context("spawn")
    ours, theirs = spawn.Pipe()
    options = {
        "prefill": args.prefill,
        "decode": args.decode,
        "sequences": args.sequences,
        "search_latency": args.search_latency,
    }
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        web = make_web(tmp, args.reports + 1)
        servers = spawn.Process(target=serve, args=(theirs, web, corpus_sentences(CORPUS), options), daemon=True)
        servers.start()
        try:
            with TreeMemory(servers.pid or 0, with_self=args.processes == 1) as memory:
                measured = run(args, tmp, ours)
            served = ours.recv()
        finally:
            servers.join(timeout=30)
            if servers.is_alive():
                servers.kill()
    measured["tree_rss"] = None if memory.peak is None else round(memory.peak / 2**20)
    report(args, measured, served)


if __name__ == "__main__":
    main()
