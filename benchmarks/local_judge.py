"""The embedded local judge: where the time of the offline demo goes, with slot counts side by side in one run.

    python benchmarks/local_judge.py                      # speeds, then the demo scored with 1 and 2 slots
    python benchmarks/local_judge.py --slots 1,2,4 --threads 1 --repeat 2
    python benchmarks/local_judge.py --cli                # and `make demo` as a user runs it, per slot count

Uses DREVAL_LOCAL_MODEL if set, else the default model of the ``local`` extra (assembled once into the user cache).
1 slot is the local backend as it was before ``local_parallel`` (one generation at a time). Every demo run scores
samples/demo with the options of ``make demo`` in this process, in a fresh copy of one store that holds the corpus,
with the LLM cache off; repeated variants alternate so that they share the machine's load. The figures are
llama.cpp's own timings of each call (prompt tokens evaluated and reused, tokens generated, and the milliseconds of
each), the process's CPU seconds and the wall time. On a busy machine the wall time is inflated, more so with two
threads than one (llama.cpp's threads wait for each other); the CPU seconds of a ``--threads 1`` run are the work.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from drevalkit.config import Settings, load_settings
from drevalkit.ingest.task_files import load_tasks
from drevalkit.llm import LLMClient
from drevalkit.llm.backends.local import LocalChatBackend
from drevalkit.llm.local_model import LocalModel, resolve_local_model
from drevalkit.quality.judge import judge_messages, judgement_model
from drevalkit.quality.rubric import read_rubric
from drevalkit.schemas import Report, Scorecard
from drevalkit.scoring.batch import ScorePlan, score_jobs
from drevalkit.scoring.jobs import ScoreJob
from drevalkit.store import Store

DEMO = ROOT / "samples" / "demo"
DEMO_SETTINGS = {"max_claims": 4, "rounds": 1, "evidence_per_claim": 2}  # the options of `make demo`
DEMO_ARGS = "--rubric {d}/rubric.json --max-claims 4 --rounds 1 --evidence-per-claim 2"
KINDS = {"DimensionJudgement": "quality", "ExtractedClaims": "extract", "BatchVerdicts": "verify"}


def cpu_seconds() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


@dataclass
class Call:
    kind: str
    start: float
    end: float
    timings: dict[str, Any]
    content: str


@dataclass
class Recorder:
    """The local backend, with llama.cpp's timings of every call kept."""

    inner: LocalChatBackend
    calls: list[Call] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def create(self, request: dict[str, Any]) -> Any:
        schema = (request.get("response_format") or {}).get("json_schema") or {}
        started = time.perf_counter()
        answer = await self.inner.create(request)
        kind = KINDS.get(schema.get("name", ""), schema.get("name", "text"))
        timings = (answer.model_extra or {}).get("timings") or {}
        self.calls.append(Call(kind, started, time.perf_counter(), timings, answer.choices[0].message.content or ""))
        return answer


def backend(model: LocalModel, settings: Settings, cache_ram_mib: int | None = None) -> LocalChatBackend:
    """The local backend; ``cache_ram_mib`` overrides llama.cpp's host-memory prompt cache (8192 MiB by default)."""
    if cache_ram_mib is None:
        return LocalChatBackend(model, settings)

    class Sized(LocalChatBackend):
        def _params(self) -> Any:
            params = super()._params()
            params.cache_ram_mib = cache_ram_mib
            return params

    return Sized(model, settings)


def rationale_chars(content: str) -> int:
    """Characters of the ``rationale`` strings in an answer (what a shorter rationale would save)."""

    def walk(node: Any) -> int:
        if isinstance(node, dict):
            return sum(len(v) if k == "rationale" and isinstance(v, str) else walk(v) for k, v in node.items())
        if isinstance(node, list):
            return sum(walk(v) for v in node)
        return 0

    try:
        return walk(json.loads(content))
    except ValueError:
        return 0


# ---- raw speeds -------------------------------------------------------------------------------------------------


async def timed(chat: LocalChatBackend, requests: list[dict[str, Any]]) -> tuple[float, float, list[dict[str, Any]]]:
    """Send ``requests`` at once: (wall s, CPU s, llama.cpp's timings of each)."""
    cpu, started = cpu_seconds(), time.perf_counter()
    answers = await asyncio.gather(*(chat.create(r) for r in requests))
    return time.perf_counter() - started, cpu_seconds() - cpu, [a.model_extra["timings"] for a in answers]


async def speeds(model: LocalModel, settings: Settings, slots: int) -> None:
    """Prefill and decode speed, decode with 1 to ``slots`` requests at once, and the cost of constrained decoding."""
    chat = LocalChatBackend(model, settings.model_copy(update={"local_parallel": slots}))
    task = load_tasks(DEMO / "task.json")[0]
    rubric = read_rubric(DEMO / "rubric.json")
    report = Report(system="default", task_id=task.id, text=(DEMO / "report.md").read_text())
    prompt = judge_messages(task, report, rubric.dimensions[0])
    started = time.perf_counter()
    try:
        await chat.check()
        print(f"model load: {time.perf_counter() - started:.1f} s ({model.label}, {slots} slots)")
        _, cpu, [prefill] = await timed(chat, [{"messages": prompt, "max_tokens": 1, "temperature": 0.0, "seed": 1}])
        print(
            f"prefill: {prefill['prompt_n']} tokens of a dimension prompt at {prefill['prompt_per_second']:.1f} "
            f"tokens/s, {prefill['prompt_n'] / max(cpu, 1e-9):.1f} tokens per CPU second"
        )
        count = {"role": "user", "content": "Count from 1 to 400, separated by commas."}
        for n in range(1, slots + 1):
            requests = [{"messages": [count], "max_tokens": 96, "temperature": 0.0, "seed": i} for i in range(n)]
            wall, cpu, times = await timed(chat, requests)
            made = sum(t["predicted_n"] for t in times)
            print(
                f"decode, {n} at once: {made} tokens in {wall:.1f} s wall, {cpu:.1f} s CPU: {made / wall:.1f} "
                f"tokens/s, {made / max(cpu, 1e-9):.1f} tokens per CPU second"
            )
        schema = {"name": "DimensionJudgement", "schema": _schema(rubric), "strict": True}
        free = {"messages": prompt, "max_tokens": 160, "temperature": 0.0, "seed": 2}
        forced = {**free, "response_format": {"type": "json_schema", "json_schema": schema}}
        for name, request in (("free text", free), ("JSON schema", forced)):
            _, cpu, [t] = await timed(chat, [request])
            print(
                f"decode of a dimension answer, {name}: {t['predicted_n']} tokens, "
                f"{t['predicted_ms'] / max(t['predicted_n'], 1):.0f} ms per token, "
                f"{t['predicted_n'] / max(cpu, 1e-9):.1f} per CPU second (the prompt is reused from the cache)"
            )
    finally:
        await chat.close()


def _schema(rubric: Any) -> dict[str, Any]:
    from drevalkit.llm.client import strict_json_schema

    return strict_json_schema(judgement_model(rubric.dimensions[0]))


# ---- the demo, scored in this process ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    name: str
    slots: int
    cache_ram_mib: int | None = None


@dataclass
class Run:
    variant: Variant
    wall: float
    cpu: float
    calls: list[Call]
    card: Scorecard


async def score_demo(model: LocalModel, settings: Settings, variant: Variant, store_path: Path) -> Run:
    chat = Recorder(
        backend(model, settings.model_copy(update={"local_parallel": variant.slots}), variant.cache_ram_mib)
    )
    task = load_tasks(DEMO / "task.json")[0]
    job = ScoreJob(DEMO / "report.md", "default", task.id, task)
    plan = ScorePlan(fixed_rubric=read_rubric(DEMO / "rubric.json"), resume=False, html=False)
    with Store(store_path) as store:
        llm = LLMClient(settings, chat, store)  # type: ignore[arg-type]  # the recorder passes every attribute on
        try:
            await llm.check()  # the model loads before the clock starts, as in every run it is loaded once
            cpu, started = cpu_seconds(), time.perf_counter()
            outcome = await score_jobs(settings, store, llm, [job], plan)
            wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
        finally:
            await llm.close()
    return Run(variant, wall, cpu, chat.calls, outcome.cards[0])


def phase_rows(run: Run) -> dict[str, str]:
    """One line per kind of call: count, wall span, prompt tokens evaluated / reused, generated tokens, ms of each."""
    rows = {}
    origin = min((c.start for c in run.calls), default=0.0)
    for kind in dict.fromkeys(c.kind for c in sorted(run.calls, key=lambda c: c.start)):
        calls = [c for c in run.calls if c.kind == kind]
        t = {k: sum(c.timings.get(k, 0) for c in calls) for k in ("prompt_n", "cache_n", "predicted_n")}
        ms = {k: sum(c.timings.get(k, 0.0) for c in calls) for k in ("prompt_ms", "predicted_ms")}
        span = (min(c.start for c in calls) - origin, max(c.end for c in calls) - origin)
        rows[kind] = (
            f"{len(calls)} calls, {span[0]:.0f}-{span[1]:.0f} s; prompt {t['prompt_n']} evaluated + {t['cache_n']} "
            f"reused in {ms['prompt_ms'] / 1000:.1f} s; {t['predicted_n']} generated in {ms['predicted_ms'] / 1000:.1f} s"
        )
    return rows


def summary(run: Run) -> dict[str, str]:
    calls = run.calls
    made = sum(c.timings.get("predicted_n", 0) for c in calls)
    decode_ms = sum(c.timings.get("predicted_ms", 0.0) for c in calls)
    prompt_n = sum(c.timings.get("prompt_n", 0) for c in calls)
    prompt_ms = sum(c.timings.get("prompt_ms", 0.0) for c in calls)
    chars = sum(len(c.content) for c in calls)
    quality, factcheck = run.card.quality, run.card.factcheck
    return {
        "scoring wall s": f"{run.wall:.1f}",
        "scoring CPU s": f"{run.cpu:.1f}",
        "LLM calls": str(len(calls)),
        "prompt tokens evaluated": f"{prompt_n} ({prompt_n / max(prompt_ms / 1000, 1e-9):.0f}/s of one call)",
        "prompt tokens reused": str(sum(c.timings.get("cache_n", 0) for c in calls)),
        "tokens generated": f"{made} ({made / max(decode_ms / 1000, 1e-9):.1f}/s of one call)",
        "generated per wall s": f"{made / run.wall:.1f}",
        "rationale share": f"{sum(rationale_chars(c.content) for c in calls) / max(chars, 1):.0%} of answer chars",
        "dimensions judged": _judged(quality.dimension_scores) if quality else "-",
        "quality total": f"{quality.total:.2f}" if quality and quality.total is not None else "-",
        "claims checked": str(len(factcheck.verdicts)) if factcheck else "-",
        "verdicts": _labels(factcheck.verdicts) if factcheck else "-",
        "status": run.card.status,
    }


def _judged(scores: dict[str, Any]) -> str:
    return f"{sum(s.score is not None for s in scores.values())} of {len(scores)}"


def _labels(verdicts: list[Any]) -> str:
    labels = [v.label for v in verdicts]
    return " ".join(f"{label}:{labels.count(label)}" for label in sorted(set(labels)))


def show_run(run: Run) -> None:
    """The demo scored once: its time, then each kind of call (printed as it finishes: a long run may be cut)."""
    print(f"scored with {run.variant.name}: wall {run.wall:.1f} s, CPU {run.cpu:.1f} s")
    for kind, row in phase_rows(run).items():
        print(f"  {kind:8s} {row}")
    for reason in run.card.reasons:
        print(f"  reason: {reason}")
    print(flush=True)


def side_by_side(runs: list[Run]) -> None:
    names = list(dict.fromkeys(r.variant.name for r in runs))
    columns = {name: [summary(r) for r in runs if r.variant.name == name] for name in names}
    width = max(24, *(len(n) + 2 for n in names))
    print(f"\n{'':26s}" + "".join(f"{n:>{width}s}" for n in names))
    for key in columns[names[0]][0]:
        cells = []
        for name in names:
            values = [s[key] for s in columns[name]]
            numeric = key in ("scoring wall s", "scoring CPU s")
            cells.append(f"{statistics.median(float(v) for v in values):.1f}" if numeric else " / ".join(values))
        print(f"{key:26s}" + "".join(f"{c[: width - 1]:>{width}s}" for c in cells))


def corpus_store(home: Path) -> tuple[Path, float]:
    """A store with the demo corpus indexed (``dreval corpus add samples/corpus``), and how long that took."""
    started = time.perf_counter()
    dreval(["corpus", "add", str(ROOT / "samples" / "corpus")], home)
    return home / "store.sqlite3", time.perf_counter() - started


def dreval(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess[bytes]:
    keep = {k: v for k, v in os.environ.items() if k not in ("DREVAL_BASE_URL", "DREVAL_API_KEY", "OPENAI_API_KEY")}
    command = [sys.executable, "-m", "drevalkit.cli", *args]
    return subprocess.run(command, env={**keep, "DREVAL_HOME": str(home), **env}, cwd=home, capture_output=True)


def demo_cli(model: LocalModel, slots: int, threads: int | None) -> tuple[float, float]:
    """`make demo` as a user runs it (the model already assembled): (corpus add s, score s) in a fresh home."""
    with tempfile.TemporaryDirectory(prefix="dreval-bench-") as folder:
        home = Path(folder)
        linked = home / "models"
        linked.mkdir()
        for path in (model.path, model.path.with_name(model.path.name + ".sha256")):
            if path.exists():
                (linked / path.name).symlink_to(path)
        env = {"DREVAL_LOCAL_PARALLEL": str(slots)}
        if threads:
            env["DREVAL_LOCAL_THREADS"] = str(threads)
        if os.environ.get("DREVAL_LOCAL_MODEL"):
            env["DREVAL_LOCAL_MODEL"] = os.environ["DREVAL_LOCAL_MODEL"]
        _, corpus = corpus_store(home)
        started = time.perf_counter()
        args = ["score", f"{DEMO}/report.md", "--task", f"{DEMO}/task.json", *DEMO_ARGS.format(d=DEMO).split()]
        result = dreval(args, home, **env)
        if result.returncode not in (0, 1):
            print(result.stderr.decode(errors="replace")[-2000:])
        return corpus, time.perf_counter() - started


def variants(slots: list[int], cache_ram: bool) -> list[Variant]:
    found = [Variant("1 slot (before)" if n == 1 else f"{n} slots", n) for n in slots]
    if cache_ram:
        found += [Variant(f"{n} slots, no RAM cache", n, 0) for n in slots]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", default="1,2", help="slot counts to compare, e.g. 1,2,4 (default 1,2)")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: every CPU)")
    parser.add_argument("--repeat", type=int, default=1, help="demo runs per variant, alternating (default 1)")
    parser.add_argument("--cache-ram", action="store_true", help="also each slot count without the RAM prompt cache")
    parser.add_argument("--skip-speeds", action="store_true")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--cli", action="store_true", help="also `make demo` through the CLI, per slot count")
    args = parser.parse_args()
    slots = [int(n) for n in args.slots.split(",")]
    update: dict[str, Any] = {"cache": False, "backend": "local", **DEMO_SETTINGS}
    if args.threads:
        update["local_threads"] = args.threads
    settings = load_settings(overrides=update)
    model = resolve_local_model(settings.local_model, settings.home)
    load = os.getloadavg()[0]
    print(f"local_judge: {os.cpu_count()} CPU threads, llama.cpp threads {args.threads or 'all'}, load {load:.1f}")
    if not args.skip_speeds:
        asyncio.run(speeds(model, settings, max(slots)))
    if not args.skip_demo:
        demo_in_process(model, settings, variants(slots, args.cache_ram), args.repeat)
    if args.cli:
        for n in slots:
            corpus, score = demo_cli(model, n, args.threads)
            print(f"`make demo` through the CLI, {n} slot(s): corpus add {corpus:.1f} s, score {score:.1f} s")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (at the start {load:.1f})")


def demo_in_process(model: LocalModel, settings: Settings, chosen: list[Variant], repeat: int) -> None:
    with tempfile.TemporaryDirectory(prefix="dreval-bench-") as folder:
        base, took = corpus_store(Path(folder))
        print(f"corpus add (indexing samples/corpus): {took:.1f} s")
        runs = []
        for round_number in range(repeat):
            for variant in chosen:
                home = Path(folder) / f"{round_number}-{variant.slots}-{variant.cache_ram_mib}"
                home.mkdir()
                store = home / "store.sqlite3"
                with sqlite3.connect(base) as source, sqlite3.connect(store) as copy:
                    source.backup(copy)  # the corpus, WAL included
                local = settings.model_copy(update={"home": home, "out": home / "out"})
                runs.append(asyncio.run(score_demo(model, local, variant, store)))
                show_run(runs[-1])
        side_by_side(runs)


if __name__ == "__main__":
    main()
