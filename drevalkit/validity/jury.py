"""Juries: several judges (``--judge`` given more than once, ``judges=`` of ``score_report``; parsed by
``llm.factory.jury_settings``) judge every criterion and every claim.

The first judge leads: it builds the rubrics and extracts the claims, so every judge scores the same criteria and
labels the same claims on the same evidence. The result keeps each judge's own scores and verdicts and, as the
result's own values, the jury's:

- quality: every criterion's score is the mean over all judgements (judges x samples), and dimension scores and the
  total follow from it as for one judge (``quality.judge.aggregate``); each judge's totals enter ``samples``, so the
  spread and the leaderboard's judge variance include the disagreement between judges. Agreement: Krippendorff's
  alpha (interval) over the criteria, each judge's mean score per criterion as its value;
- verdicts: the majority label of the judges whose verification did not fail, a tie being ``unknown`` (a verdict
  needs a majority to stand); the quote, evidence and rationale are those of the first judge in the majority.
  Agreement: Fleiss' kappa over the claims every judge labelled right, wrong or unknown.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING

from ..schemas import (
    FactCheckResult,
    JudgeInfo,
    JurorQuality,
    JurorVerdict,
    JuryAgreement,
    QualityResult,
    Rubric,
    Verdict,
)
from .agreement import VERDICT_LABELS, fleiss_kappa_labels, krippendorff_alpha

if TYPE_CHECKING:
    from ..quality.judge import DimensionOutcome

DISPUTED_MAX = 5
DISPUTED_SCORE_RANGE = 2.0  # criteria whose judges' scores differ by at least this are listed as disputed


def judge_label(judge: JudgeInfo) -> str:
    return f"{judge.model}@{judge.endpoint}" if judge.endpoint else f"{judge.model} ({judge.backend})"


# --------------------------------------------------------------------------------------------------- quality


def combine_quality(
    rubric: Rubric, outcomes: list[list["DimensionOutcome"]], samples: int, judges: list[JudgeInfo]
) -> QualityResult:
    """The jury's result from each judge's dimension outcomes (``outcomes[j]`` for ``judges[j]``)."""
    from ..quality.judge import aggregate

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


# -------------------------------------------------------------------------------------------------- verdicts


def combine_verdicts(
    per_judge: list[list[Verdict]], follow_ups: list[dict[str, str]], judges: list[JudgeInfo]
) -> tuple[list[Verdict], dict[str, str]]:
    """The majority verdict of each claim (in the order of the first judge's), each judge's kept in ``jury``."""
    by_claim = [{v.claim_id: v for v in verdicts} for verdicts in per_judge]
    combined, queries = [], {}
    for lead in per_judge[0]:
        claim_id = lead.claim_id
        votes = [(j, by_claim[j][claim_id]) for j in range(len(judges)) if claim_id in by_claim[j]]
        jury = [
            JurorVerdict(
                judge=j,
                model=judges[j].model,
                label=v.label,
                quote=v.quote,
                rationale=v.rationale,
                evidence_ids=list(v.evidence_ids),
                flags=list(v.flags),
            )
            for j, v in votes
        ]
        counted = Counter(v.label for _, v in votes if v.label != "failed")
        if not counted:
            verdict = lead.model_copy(deep=True)
        else:
            ranked = counted.most_common()
            label = ranked[0][0] if len(ranked) == 1 or ranked[0][1] > ranked[1][1] else None
            if label is not None:
                verdict = next(v for _, v in votes if v.label == label).model_copy(deep=True)
            else:
                tally = ", ".join(f"{name} {n}" for name, n in sorted(counted.items()))
                verdict = Verdict(
                    claim_id=claim_id,
                    label="unknown",
                    round=lead.round,
                    rationale=f"the judges disagree ({tally}): no majority, so unknown",
                    flags=[f"jury split: {tally}"],
                )
            verdict.reverified = any(v.reverified for _, v in votes)
        verdict.jury = jury
        combined.append(verdict)
        if verdict.label == "unknown":
            query = next((f[claim_id] for f in follow_ups if f.get(claim_id)), "")
            if query:
                queries[claim_id] = query
    return combined, queries


def verdict_agreement(result: FactCheckResult, judges: int) -> JuryAgreement:
    """Fleiss' kappa over the claims every judge labelled right, wrong or unknown."""
    rated = [
        [j.label for j in v.jury]
        for v in result.verdicts
        if len(v.jury) == judges and all(j.label in VERDICT_LABELS for j in v.jury)
    ]
    disputed = [v.claim_id for v in result.verdicts if len({j.label for j in v.jury}) > 1]
    return JuryAgreement(
        judges=judges,
        items=len(rated),
        statistic="fleiss_kappa",
        value=fleiss_kappa_labels(rated, VERDICT_LABELS) if rated else None,
        unanimous=(sum(len(set(r)) == 1 for r in rated) / len(rated)) if rated else None,
        disputed=disputed[:DISPUTED_MAX],
    )
