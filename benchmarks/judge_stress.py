"""The judge stress test (``dreval stress``) on the demo report against the embedded local judge: the shift table,
and how long it took.

The local judge reads about 30 prompt tokens/s and writes about 10 tokens/s on 2 CPU cores, and every variant is a
new report to read (a judging pass of the 5-dimension demo rubric is 5 calls, 2-4 minutes), so the default is a few
probes with one variant each: pad, inject (one variant per place: start, middle, end) and null-report on
``samples/demo/report.md`` with the frozen ``samples/demo/rubric.json``: 6 judging passes, 30 calls, about 39K prompt
and 4K completion tokens, 21 minutes on 2 shared cores. Texts are judged one after another, so each one's dimension calls reuse its
prompt prefix. Run::

    python benchmarks/judge_stress.py [--probes pad,inject,null-report] [--variants 1] [--reuse-cache]

The LLM cache is off unless ``--reuse-cache`` (a second run with it makes no calls). Uses DREVAL_LOCAL_MODEL if
set, else the default model of the ``local`` extra; ``--backend openai`` uses the endpoint of DREVAL_BASE_URL /
DREVAL_MODEL instead.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from drevalkit.config import load_settings
from drevalkit.llm import open_llm
from drevalkit.quality.rubric import RubricBook, read_rubric
from drevalkit.scoring import build_jobs, collect_reports
from drevalkit.store import Store
from drevalkit.validity.card import build_card, write_card
from drevalkit.validity.stress import StressRunner
from drevalkit.validity.stress_run import StressOptions

DEMO = ROOT / "samples" / "demo"


async def run(args: argparse.Namespace, out: Path):
    settings = load_settings(None, {"backend": args.backend, "out": out, "cache": args.reuse_cache})
    store = Store(settings.store_path)
    started = time.perf_counter()
    llm = open_llm(settings, store)
    try:
        await llm.check()
        loaded = time.perf_counter() - started
        jobs = build_jobs(collect_reports([DEMO / "report.md"]), task_file=DEMO / "task.json")
        runner = StressRunner(
            settings, store, llm, StressOptions(probes=tuple(args.probes.split(",")), variants=args.variants)
        )
        done = [0]

        def tick(what: str) -> None:
            done[0] += 1
            print(f"  [{time.perf_counter() - started:6.0f} s] judged {what}", flush=True)

        runner.on_judged = tick
        result = await runner.run(jobs, RubricBook(settings.layout, llm, fixed=read_rubric(DEMO / "rubric.json")))
    finally:
        await llm.close()
        store.close()
    return result, loaded, time.perf_counter() - started, done[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", default="pad,inject,null-report")
    parser.add_argument("--variants", type=int, default=1)
    parser.add_argument("--backend", choices=["local", "openai"], default="local")
    parser.add_argument("--reuse-cache", action="store_true", help="read and write the LLM response cache")
    parser.add_argument("--out", type=Path, help="keep the outputs here (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        stress, loaded, seconds, passes = asyncio.run(run(args, out))
        card_json, _ = write_card(build_card(stress), out)
        judge = stress.judge
        print(
            f"\njudge: {judge.model} ({judge.backend}{', sha256 ' + judge.model_sha256[:12] if judge.model_sha256 else ''}"
            f"{', ' + judge.endpoint if judge.endpoint else ''}); report: samples/demo/report.md, rubric "
            "samples/demo/rubric.json"
        )
        print(f"{'probe':<16} {'shift [95% CI]':>24} {'moved':>6} {'n':>4}  finding")
        for r in stress.results:
            shift = (
                "—"
                if r.shift is None
                else (
                    f"{100 * r.shift:+.0f} pts [{100 * r.low:+.0f}, {100 * r.high:+.0f}]"
                    if r.unit == "share"
                    else f"{r.shift:+.2f} [{r.low:+.2f}, {r.high:+.2f}]"
                )
            )
            moved = "—" if r.moved is None else f"{100 * r.moved:.0f}%"
            print(f"{r.probe:<16} {shift:>24} {moved:>6} {r.variants:>4}  {'FLAG ' if r.flagged else ''}{r.finding}")
        original = stress.reports[0].original
        print(
            f"original total {original.total:.2f}; "
            + "; ".join(
                f"{v.variant} {v.total:.2f}" if v.total is not None else f"{v.variant} failed"
                for v in stress.reports[0].variants
            )
        )
        u = stress.usage
        print(
            f"{passes} judging passes, {u.calls} LLM calls ({u.cache_hits} from the cache), {u.prompt_tokens} prompt "
            f"and {u.completion_tokens} completion tokens; model load and check {loaded:.0f} s; total wall time "
            f"{seconds:.0f} s ({seconds / 60:.1f} min, {seconds / max(passes, 1):.0f} s per judging pass)"
        )
        print(f"judge card: {card_json}" if args.out else "(outputs in a temporary folder; --out DIR keeps them)")


if __name__ == "__main__":
    main()
