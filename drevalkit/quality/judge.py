"""Judge a report against a frozen rubric, one dimension per call, and aggregate the scores.

Prompt layout for prefix caching: the fixed instructions, the task and the report come first and are identical in
every call for a report; only the dimension and its criteria (the last part) vary. The first call runs alone so the
server has the shared prefix cached before the other dimensions (and samples) are sent in parallel. That shared
part is rendered once per report (fencing the report is CPU work on report-sized text) in a worker thread, off the
event loop, and reused for every dimension, sample and juror.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field, create_model

from ..aio import gather_or_cancel
from ..llm import LLMClient, LLMError, LLMUnavailable
from ..llm.tokens import estimate_messages_tokens
from ..schemas import (
    CriterionScore,
    Dimension,
    DimensionScore,
    QualityResult,
    Report,
    Rubric,
    Spread,
    StrictModel,
    Task,
    Usage,
)
from .rubric import PROMPTS, load_general_rubric


class CriterionJudgement(StrictModel):
    rationale: str
    score: float = Field(ge=0, le=10)


def judgement_model(dimension: Dimension) -> type[BaseModel]:
    """Output schema for one dimension: exactly one entry per criterion id (closed, all required)."""
    fields = {
        f"c{i}": (CriterionJudgement, Field(alias=criterion.id)) for i, criterion in enumerate(dimension.criteria)
    }
    return create_model("DimensionJudgement", __base__=StrictModel, **fields)


@dataclass
class DimensionOutcome:
    """One judging pass of one dimension: criterion id -> judgement, or the reason it failed."""

    dimension_id: str
    sample: int
    judgements: dict[str, CriterionJudgement] | None
    error: str = ""


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
    try:
        result = await llm.structured(prompt.messages(dimension), model, sample=sample)
    except LLMUnavailable:
        raise
    except LLMError as exc:
        usage.add(exc.usage)
        return DimensionOutcome(dimension.id, sample, None, str(exc))
    usage.add(result.usage)
    judgements = {c.id: getattr(result.value, f"c{i}") for i, c in enumerate(dimension.criteria)}
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
    dimension and the result is the jury's (``drevalkit.validity.jury.combine_quality``), each judge's kept."""
    usage = Usage()
    judges = [llm, *jury]
    prompt = await asyncio.to_thread(judge_prompt, task, report)
    if any(judge.backend.context_tokens for judge in judges):
        tokens = await asyncio.to_thread(prompt_tokens, prompt, rubric)
        too_long = next((problem for judge in judges if (problem := context_problem(judge, tokens))), "")
        if too_long:
            return QualityResult(rubric_hash=rubric.hash, status="failed", reasons=[too_long]), usage
    if jury:
        from ..validity.jury import combine_quality

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


def _spread(values: list[float]) -> Spread | None:
    if len(values) < 2:
        return None
    return Spread(n=len(values), std=statistics.stdev(values), min=min(values), max=max(values))


def aggregate(rubric: Rubric, outcomes: list[DimensionOutcome], samples: int) -> QualityResult:
    """``S_d = sum_c w_c s_c`` per sample, averaged over the samples that succeeded; ``total = sum_d W_d S_d``
    over judged dimensions, renormalised and flagged ``partial`` when some dimension could not be judged."""
    by_dimension: dict[str, list[DimensionOutcome]] = {d.id: [] for d in rubric.dimensions}
    for outcome in outcomes:
        by_dimension[outcome.dimension_id].append(outcome)

    scores: list[CriterionScore] = []
    dimension_scores: dict[str, DimensionScore] = {}
    reasons: list[str] = []
    per_sample_dimension: dict[int, dict[str, float]] = {s: {} for s in range(samples)}
    for dim in rubric.dimensions:
        done = sorted((o for o in by_dimension[dim.id] if o.judgements is not None), key=lambda o: o.sample)
        failed = [o for o in by_dimension[dim.id] if o.judgements is None]
        for o in failed:
            reasons.append(f"dimension {dim.id} (sample {o.sample}): {o.error}")
        if not done:
            dimension_scores[dim.id] = DimensionScore(
                dimension_id=dim.id, weight=dim.weight, status="failed", reason=failed[0].error if failed else ""
            )
            continue
        for criterion in dim.criteria:
            values = [o.judgements[criterion.id].score for o in done]
            scores.append(
                CriterionScore(
                    criterion_id=criterion.id,
                    dimension_id=dim.id,
                    score=statistics.fmean(values),
                    rationale=done[0].judgements[criterion.id].rationale,
                    samples=values,
                    spread=_spread(values),
                )
            )
        sample_scores = []
        for o in done:
            value = sum(c.weight * o.judgements[c.id].score for c in dim.criteria)
            per_sample_dimension[o.sample][dim.id] = value
            sample_scores.append(value)
        dimension_scores[dim.id] = DimensionScore(
            dimension_id=dim.id,
            weight=dim.weight,
            score=statistics.fmean(sample_scores),
            spread=_spread(sample_scores),
            status="complete" if not failed else "partial",
            reason=f"{len(failed)} of {samples} samples failed" if failed else "",
        )

    judged = [d for d in rubric.dimensions if dimension_scores[d.id].score is not None]
    weight_judged = sum(d.weight for d in judged)
    total = None
    if judged and weight_judged > 0:
        total = sum(d.weight * dimension_scores[d.id].score for d in judged) / weight_judged
    sample_totals = [
        sum(d.weight * per_sample_dimension[s][d.id] for d in rubric.dimensions)
        / sum(d.weight for d in rubric.dimensions)
        for s in range(samples)
        if len(per_sample_dimension[s]) == len(rubric.dimensions)
    ]
    if not judged:
        status = "failed"
    elif all(ds.status == "complete" for ds in dimension_scores.values()):
        status = "complete"
    else:
        status = "partial"
    return QualityResult(
        rubric_hash=rubric.hash,
        scores=scores,
        dimension_scores=dimension_scores,
        total=total,
        weight_judged=weight_judged,
        samples=sample_totals,
        spread=_spread(sample_totals),
        status=status,
        reasons=reasons,
    )
