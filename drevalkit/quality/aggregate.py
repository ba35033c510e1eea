"""From judgements to a quality result: criterion scores become dimension scores and a weighted total, for one
judge (``aggregate``) or a jury (``combine_quality``).

A jury's criterion score is the mean over all judgements (judges x samples), and dimension scores and the total
follow from it as for one judge; each judge's totals enter ``samples``, so the spread and the leaderboard's judge
variance include the disagreement between judges. Agreement: Krippendorff's alpha (interval) over the criteria,
each judge's mean score per criterion as its value.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace

from pydantic import Field

from ..schemas import (
    CriterionScore,
    Dimension,
    DimensionScore,
    JudgeInfo,
    JurorQuality,
    JuryAgreement,
    QualityResult,
    Rubric,
    Spread,
    Status,
    StrictModel,
)
from ..stats.agreement import DISPUTED_MAX, krippendorff_alpha

DISPUTED_SCORE_RANGE = 2.0  # criteria whose judges' scores differ by at least this are listed as disputed


class CriterionJudgement(StrictModel):
    rationale: str
    score: float = Field(ge=0, le=10)


@dataclass
class DimensionOutcome:
    """One judging pass of one dimension: criterion id -> judgement, or the reason it failed."""

    dimension_id: str
    sample: int
    judgements: dict[str, CriterionJudgement] | None
    error: str = ""


def _spread(values: list[float]) -> Spread | None:
    if len(values) < 2:
        return None
    return Spread(n=len(values), std=statistics.stdev(values), min=min(values), max=max(values))


def _score_dimension(
    dim: Dimension, outcomes: list[DimensionOutcome], samples: int, reasons: list[str]
) -> tuple[DimensionScore, list[CriterionScore], dict[int, float]]:
    """One dimension's score and its criteria's, each the mean over the samples that succeeded, and the dimension's
    score in each of those samples (for the totals of the samples); every failed sample is added to ``reasons``."""
    done = sorted(((o.sample, o.judgements) for o in outcomes if o.judgements is not None), key=lambda d: d[0])
    failed = [o for o in outcomes if o.judgements is None]
    for o in failed:
        reasons.append(f"dimension {dim.id} (sample {o.sample}): {o.error}")
    if not done:
        reason = failed[0].error if failed else ""
        return DimensionScore(dimension_id=dim.id, weight=dim.weight, status="failed", reason=reason), [], {}
    scores = []
    for criterion in dim.criteria:
        values = [judgements[criterion.id].score for _, judgements in done]
        scores.append(
            CriterionScore(
                criterion_id=criterion.id,
                dimension_id=dim.id,
                score=statistics.fmean(values),
                rationale=done[0][1][criterion.id].rationale,
                samples=values,
                spread=_spread(values),
            )
        )
    sample_scores = [sum(c.weight * judgements[c.id].score for c in dim.criteria) for _, judgements in done]
    by_sample = {sample: score for (sample, _), score in zip(done, sample_scores)}
    dimension_score = DimensionScore(
        dimension_id=dim.id,
        weight=dim.weight,
        score=statistics.fmean(sample_scores),
        spread=_spread(sample_scores),
        status="complete" if not failed else "partial",
        reason=f"{len(failed)} of {samples} samples failed" if failed else "",
    )
    return dimension_score, scores, by_sample


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
        dimension_scores[dim.id], criterion_scores, by_sample = _score_dimension(
            dim, by_dimension[dim.id], samples, reasons
        )
        scores.extend(criterion_scores)
        for sample, value in by_sample.items():
            per_sample_dimension[sample][dim.id] = value

    judged = [(d, score) for d in rubric.dimensions if (score := dimension_scores[d.id].score) is not None]
    weight_judged = sum(d.weight for d, _ in judged)
    total = None
    if judged and weight_judged > 0:
        total = sum(d.weight * score for d, score in judged) / weight_judged
    sample_totals = [
        sum(d.weight * per_sample_dimension[s][d.id] for d in rubric.dimensions)
        / sum(d.weight for d in rubric.dimensions)
        for s in range(samples)
        if len(per_sample_dimension[s]) == len(rubric.dimensions)
    ]
    status: Status
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


def judge_label(judge: JudgeInfo) -> str:
    return f"{judge.model}@{judge.endpoint}" if judge.endpoint else f"{judge.model} ({judge.backend})"


def combine_quality(
    rubric: Rubric, outcomes: list[list[DimensionOutcome]], samples: int, judges: list[JudgeInfo]
) -> QualityResult:
    """The jury's result from each judge's dimension outcomes (``outcomes[j]`` for ``judges[j]``)."""
    flat = [replace(o, sample=j * samples + o.sample) for j, judged in enumerate(outcomes) for o in judged]
    combined = aggregate(rubric, flat, samples * len(judges))
    combined.jury = []
    combined.reasons = []
    for judge, judged in zip(judges, outcomes):
        own = aggregate(rubric, judged, samples)
        combined.jury.append(
            JurorQuality(
                judge=judge,
                total=own.total,
                status=own.status,
                reasons=own.reasons,
                dimension_scores={d: s.score for d, s in own.dimension_scores.items()},
                criterion_scores={c.criterion_id: c.score for c in own.scores},
            )
        )
        combined.reasons += [f"judge {judge_label(judge)}: {reason}" for reason in own.reasons]
    for dimension in combined.dimension_scores.values():
        if dimension.reason.endswith("samples failed"):
            dimension.reason = dimension.reason.replace("samples failed", "judgements (judges x samples) failed")
    combined.agreement = quality_agreement(rubric, combined.jury)
    return combined


def quality_agreement(rubric: Rubric, jurors: list[JurorQuality]) -> JuryAgreement:
    units, ranges = [], {}
    for dimension in rubric.dimensions:
        for criterion in dimension.criteria:
            values = [j.criterion_scores.get(criterion.id) for j in jurors]
            units.append(values)
            present = [v for v in values if v is not None]
            if len(present) >= 2:
                ranges[criterion.id] = max(present) - min(present)
    totals = [j.total for j in jurors if j.total is not None]
    disputed = sorted((cid for cid, r in ranges.items() if r >= DISPUTED_SCORE_RANGE), key=lambda c: -ranges[c])
    return JuryAgreement(
        judges=len(jurors),
        items=len(ranges),
        statistic="krippendorff_alpha",
        value=krippendorff_alpha(units),
        unanimous=(sum(r == 0 for r in ranges.values()) / len(ranges)) if ranges else None,
        spread=(max(totals) - min(totals)) if len(totals) >= 2 else None,
        disputed=disputed[:DISPUTED_MAX],
    )
