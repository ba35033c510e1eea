"""A scoring run over many jobs: open the services both halves share, check the judge, score, close."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from ..config import Settings
from ..factcheck.pipeline import open_factchecker
from ..llm import LLMClient
from ..quality.rubric import RubricBook
from ..schemas import Rubric, Scorecard
from ..store import Store
from .jobs import ScoreJob
from .scorer import Scorer


@dataclass
class ScorePlan:
    """What a run does: which halves, which rubric, and whether finished results are kept."""

    quality: bool = True
    factcheck: bool = True
    fixed_rubric: Rubric | None = None
    rebuild_rubrics: bool = False
    resume: bool = True
    replay: bool = False


@dataclass
class BatchOutcome:
    cards: list[Scorecard] = field(default_factory=list)
    skipped: list[Scorecard] = field(default_factory=list)  # finished in an earlier run, reused as they were

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
) -> BatchOutcome:
    """Score ``jobs``; ``on_done(card, skipped)`` is called as each finishes. Raises ``LLMUnavailable`` when the
    judge cannot serve the run and ``SearchError`` when the search backend is misconfigured."""
    outcome = BatchOutcome()

    def done(card: Scorecard, was_skipped: bool) -> None:
        if was_skipped:
            outcome.skipped.append(card)
        if on_done:
            on_done(card, was_skipped)

    async with AsyncExitStack() as stack:
        checker = None
        if plan.factcheck:
            checker = await stack.enter_async_context(open_factchecker(settings, llm, store, replay=plan.replay))
        await llm.check()
        rubrics = (RubricBook(settings.layout, llm, rebuild=plan.rebuild_rubrics, fixed=plan.fixed_rubric)
                   if plan.quality else None)
        scorer = Scorer(settings, llm, rubrics, checker)
        outcome.cards = await scorer.score_all(jobs, on_done=done, resume=plan.resume and not plan.rebuild_rubrics)
    return outcome
