"""A scoring run over many jobs: open the services both halves share, check the judge, score, close."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from ..__version__ import __version__
from ..config import Settings
from ..factcheck.checker import open_factchecker
from ..files import atomic_write_text
from ..llm import LLMClient
from ..quality.rubric import RubricBook
from ..schemas import Rubric, RunManifest, Scorecard, Usage, utc_now
from ..shards import Shard
from ..store import Store
from .clash import check_task_set
from .jobs import ScoreJob
from .scorer import Scorer


@dataclass
class ScorePlan:
    """What a run does: which halves, which rubric, whether finished results are kept, and whether pages are
    written."""

    quality: bool = True
    factcheck: bool = True
    fixed_rubric: Rubric | None = None
    rebuild_rubrics: bool = False
    resume: bool = True
    replay: bool = False
    html: bool = True  # write each result's HTML scorecard (dreval score --no-html turns it off)
    shard: Shard | None = None  # the shard of the task set the jobs are (picked by the caller): names the manifest


@dataclass
class BatchOutcome:
    cards: list[Scorecard] = field(default_factory=list)
    skipped: list[Scorecard] = field(default_factory=list)  # finished in an earlier run, reused as they were
    # result file (relative to the output folder) -> one line: a finished result of another report file kept
    # because this run's report for it failed on its input (its failed card is in ``cards`` but was not written)
    kept: dict[str, str] = field(default_factory=dict)

    @property
    def scored(self) -> list[Scorecard]:
        """Results computed in this run."""
        skipped = {id(card) for card in self.skipped}
        return [card for card in self.cards if id(card) not in skipped]


async def score_jobs(
    settings: Settings,
    store: Store,
    llm: LLMClient,
    jobs: list[ScoreJob],
    plan: ScorePlan,
    on_done: Callable[[Scorecard, bool], None] | None = None,
    jury: list[LLMClient] | None = None,
) -> BatchOutcome:
    """Score ``jobs``; ``on_done(card, skipped)`` is called as each finishes. Raises ``TaskSetClash`` when the output
    folder holds another task set's rubrics or results under these task ids (unless rubrics are rebuilt),
    ``LLMUnavailable`` when the judge cannot serve the run and ``SearchError`` when the search backend is
    misconfigured. With a ``jury``
    (judges besides ``llm``, which leads: it builds the rubrics and extracts the claims), every criterion and claim
    is judged by every judge."""
    jury = list(jury or [])
    if not plan.rebuild_rubrics:  # two task sets in one folder: refused before anything is judged
        frozen = plan.quality and plan.fixed_rubric is None
        await asyncio.to_thread(check_task_set, settings.layout, jobs, rubrics=frozen)
    outcome = BatchOutcome()
    started_at = utc_now()

    def done(card: Scorecard, was_skipped: bool) -> None:
        if was_skipped:
            outcome.skipped.append(card)
        if on_done:
            on_done(card, was_skipped)

    async with AsyncExitStack() as stack:
        checker = None
        if plan.factcheck:
            checker = await stack.enter_async_context(
                open_factchecker(settings, llm, store, replay=plan.replay, jury=jury)
            )
        await llm.check()
        for judge in jury:
            await judge.check()
        rubrics = (
            RubricBook(settings.layout, llm, rebuild=plan.rebuild_rubrics, fixed=plan.fixed_rubric)
            if plan.quality
            else None
        )
        scorer = Scorer(settings, llm, rubrics, checker, html=plan.html, jury=jury)
        scorer.kept = outcome.kept  # filled as jobs finish, so it is complete up to any interruption
        outcome.cards = await scorer.score_all(jobs, on_done=done, resume=plan.resume and not plan.rebuild_rubrics)
    await asyncio.to_thread(_write_manifest, settings, llm, outcome, started_at, plan.shard)
    return outcome


def _write_manifest(
    settings: Settings, llm: LLMClient, outcome: BatchOutcome, started_at: str, shard: Shard | None
) -> None:
    layout = settings.layout
    usage = Usage()
    for card in outcome.scored:
        usage.add(card.usage)
    manifest = RunManifest(
        dreval_version=__version__,
        judge=llm.judge_info,
        shard=shard,
        config_hash=settings.config_hash(),
        started_at=started_at,
        finished_at=utc_now(),
        jobs=len(outcome.cards),
        scored=len(outcome.scored),
        skipped=len(outcome.skipped),
        statuses=dict(Counter(card.status for card in outcome.cards)),
        results=[layout.result(c.system, c.task_id).relative_to(layout.root).as_posix() for c in outcome.cards],
        kept=dict(outcome.kept),
        usage=usage,
        structured_output_used=llm.mode,
    )
    atomic_write_text(layout.run_manifest(shard), manifest.model_dump_json(indent=2))
