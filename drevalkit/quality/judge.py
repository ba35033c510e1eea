"""Judge a report against a frozen rubric, one dimension per call, and aggregate the scores.

Prompt layout for prefix caching: the fixed instructions, the task and the report come first and are identical in
every call for a report; only the dimension and its criteria (the last part) vary. The first call runs alone so the
server has the shared prefix cached before the other dimensions (and samples) are sent in parallel. That shared
part is rendered once per report (fencing the report is CPU work on report-sized text) in a worker thread, off the
event loop, and reused for every dimension, sample and juror.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field, create_model

from ..aio import gather_or_cancel
from ..llm import LLMClient
from ..llm.tokens import estimate_messages_tokens
from ..schemas import (
    Dimension,
    QualityResult,
    Report,
    Rubric,
    StrictModel,
    Task,
    Usage,
)
from .aggregate import CriterionJudgement, DimensionOutcome, aggregate, combine_quality
from .rubric import PROMPTS, load_general_rubric


def judgement_model(dimension: Dimension) -> type[BaseModel]:
    """Output schema for one dimension: exactly one entry per criterion id (closed, all required)."""
    return _judgement_model(tuple(criterion.id for criterion in dimension.criteria))


@lru_cache(maxsize=256)
def _judgement_model(criterion_ids: tuple[str, ...]) -> type[BaseModel]:
    """Built once per set of criterion ids (every report of a task, every sample and juror shares its rubric's)."""
    fields: dict[str, Any] = {f"c{i}": (CriterionJudgement, Field(alias=cid)) for i, cid in enumerate(criterion_ids)}
    return create_model("DimensionJudgement", __base__=StrictModel, **fields)


@dataclass(frozen=True)
class JudgePrompt:
    """The part of every judging prompt of one report that does not depend on the dimension: the system prompt and
    the task and report context, rendered once."""

    system: str
    context: str

    def messages(self, dimension: Dimension) -> list[dict[str, str]]:
        varying = PROMPTS.render("judge_dimension.j2", dimension=dimension)
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.context + "\n\n" + varying},
        ]


def judge_prompt(task: Task, report: Report) -> JudgePrompt:
    """Render the shared part of a report's judging prompts (CPU work on report-sized text)."""
    general = load_general_rubric()
    return JudgePrompt(
        system=PROMPTS.render("judge_system.j2", scale=general.score_scale, bands=general.score_bands),
        context=PROMPTS.render("judge_context.j2", task=task, report_text=report.text),
    )


def judge_messages(task: Task, report: Report, dimension: Dimension) -> list[dict[str, str]]:
    """One dimension's prompt on its own; judging a whole report renders ``judge_prompt`` once instead."""
    return judge_prompt(task, report).messages(dimension)


async def judge_dimension(
    llm: LLMClient, prompt: JudgePrompt, dimension: Dimension, sample: int, usage: Usage
) -> DimensionOutcome:
    model = judgement_model(dimension)
    answer = await llm.structured_or_reason(prompt.messages(dimension), model, usage, sample=sample)
    if isinstance(answer, str):
        return DimensionOutcome(dimension.id, sample, None, answer)
    judgements = {c.id: getattr(answer, f"c{i}") for i, c in enumerate(dimension.criteria)}
    return DimensionOutcome(dimension.id, sample, judgements)


def prompt_tokens(prompt: JudgePrompt, rubric: Rubric) -> int:
    """Estimated tokens of the longest judging prompt of the report (a scan of report-sized text: run it off the
    event loop)."""
    return max(estimate_messages_tokens(prompt.messages(d)) for d in rubric.dimensions)


def context_problem(llm: LLMClient, tokens: int) -> str:
    """Why a prompt of ``tokens`` and the answer cannot fit the judge's context window (one line with both numbers),
    or "" if they can or the window is unknown. Checked once before judging instead of failing every dimension."""
    context = llm.backend.context_tokens
    needed = tokens + llm.settings.max_tokens
    if not context or needed <= context:
        return ""
    setting = "local_context" if llm.backend.name == "local" else "context_tokens"
    return (
        f"the report does not fit the judge's context: judging it needs about {needed} tokens (a prompt of "
        f"about {tokens} with the report, plus {llm.settings.max_tokens} for the answer) but the judge has "
        f"{context} ({setting}); use a judge with a longer context"
    )


async def judge_report(
    llm: LLMClient, task: Task, report: Report, rubric: Rubric, samples: int = 1, jury: Sequence[LLMClient] = ()
) -> tuple[QualityResult, Usage]:
    """Judge every dimension (``samples`` times). With a ``jury`` (judges besides ``llm``), every judge judges every
    dimension and the result is the jury's (``drevalkit.quality.aggregate.combine_quality``), each judge's kept."""
    usage = Usage()
    judges = [llm, *jury]
    prompt = await asyncio.to_thread(judge_prompt, task, report)
    if any(judge.backend.context_tokens for judge in judges):
        tokens = await asyncio.to_thread(prompt_tokens, prompt, rubric)
        too_long = next((problem for judge in judges if (problem := context_problem(judge, tokens))), "")
        if too_long:
            return QualityResult(rubric_hash=rubric.hash, status="failed", reasons=[too_long]), usage
    if jury:
        outcomes = await gather_or_cancel(*(_judge_all(judge, prompt, rubric, samples, usage) for judge in judges))
        return combine_quality(rubric, list(outcomes), samples, [judge.judge_info for judge in judges]), usage
    return aggregate(rubric, await _judge_all(llm, prompt, rubric, samples, usage), samples), usage


async def _judge_all(
    llm: LLMClient, prompt: JudgePrompt, rubric: Rubric, samples: int, usage: Usage
) -> list[DimensionOutcome]:
    jobs = [(sample, dim) for sample in range(samples) for dim in rubric.dimensions]
    first = await judge_dimension(llm, prompt, jobs[0][1], jobs[0][0], usage)
    rest = await gather_or_cancel(*(judge_dimension(llm, prompt, dim, s, usage) for s, dim in jobs[1:]))
    return [first, *rest]
