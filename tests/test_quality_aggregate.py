"""A jury's quality: each judge's dimensions aggregated, the judges' mean with each judge kept, and their agreement
(Krippendorff's alpha), by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from drevalkit.quality.aggregate import combine_quality
from drevalkit.quality.judge import CriterionJudgement, DimensionOutcome, aggregate
from drevalkit.quality.rubric import read_rubric
from drevalkit.schemas import JudgeInfo
from drevalkit.stats import agreement as A

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
DEMO = SAMPLES / "demo"
RUBRIC = read_rubric(DEMO / "rubric.json")
JUDGES = [
    JudgeInfo(model="a", endpoint="http://a/v1", identity="http://a/v1"),
    JudgeInfo(model="b", endpoint="http://b/v1", identity="http://b/v1"),
]


def _outcomes(scores: dict[str, float], failed: set[str] = frozenset()) -> list[DimensionOutcome]:
    """One judge's outcome per dimension of the demo rubric, every criterion scored ``scores[criterion id]``."""
    outcomes = []
    for dim in RUBRIC.dimensions:
        if dim.id in failed:
            outcomes.append(DimensionOutcome(dim.id, 0, None, "the judge returned garbage"))
        else:
            outcomes.append(
                DimensionOutcome(
                    dim.id,
                    0,
                    {c.id: CriterionJudgement(rationale=f"r {c.id}", score=scores[c.id]) for c in dim.criteria},
                )
            )
    return outcomes


CRITERIA = [c.id for d in RUBRIC.dimensions for c in d.criteria]


def test_jury_quality_is_the_mean_of_the_judges_each_kept_with_alpha_by_hand():
    a = {cid: 8.0 for cid in CRITERIA}
    b = {cid: 6.0 for cid in CRITERIA}
    b[CRITERIA[0]] = 2.0  # one criterion the judges disagree on
    result = combine_quality(RUBRIC, [_outcomes(a), _outcomes(b)], 1, JUDGES)
    own_a, own_b = aggregate(RUBRIC, _outcomes(a), 1), aggregate(RUBRIC, _outcomes(b), 1)
    assert [j.total for j in result.jury] == [own_a.total, own_b.total]
    assert result.total == pytest.approx((own_a.total + own_b.total) / 2)
    scores = {s.criterion_id: s for s in result.scores}
    assert scores[CRITERIA[0]].score == pytest.approx(5.0) and scores[CRITERIA[0]].samples == [8.0, 2.0]
    assert scores[CRITERIA[1]].score == pytest.approx(7.0) and scores[CRITERIA[1]].spread.min == 6.0
    assert result.samples == [own_a.total, own_b.total]  # each judge's total is a judging pass
    assert result.status == "complete" and result.jury[1].criterion_scores[CRITERIA[0]] == 2.0
    agreement = result.agreement
    units = [[a[c], b[c]] for c in CRITERIA]
    assert agreement.statistic == "krippendorff_alpha" and agreement.judges == 2 and agreement.items == len(CRITERIA)
    assert agreement.value == pytest.approx(A.krippendorff_alpha(units))
    # by hand: 10 units of two values; D_o = (9 * 2 * 4 + 2 * 36) / 20 = 7.2; all 20 values: nine 8s, nine 6s,
    # one 8 and one 2 -> D_e from the squared differences of every pair
    values = [8.0] * 10 + [6.0] * 9 + [2.0]
    d_e = sum((x - y) ** 2 for i, x in enumerate(values) for j, y in enumerate(values) if i != j) / (20 * 19)
    assert agreement.value == pytest.approx(1 - 7.2 / d_e)
    # every criterion is at least 2 apart (8 against 6); the most disputed first, at most five listed
    assert agreement.disputed[0] == CRITERIA[0] and len(agreement.disputed) == 5 and agreement.unanimous == 0.0
    assert agreement.spread == pytest.approx(abs(own_a.total - own_b.total))


def test_a_judge_failing_a_dimension_leaves_the_others_and_says_so():
    a = {cid: 8.0 for cid in CRITERIA}
    b = {cid: 4.0 for cid in CRITERIA}
    failing = RUBRIC.dimensions[0].id
    result = combine_quality(RUBRIC, [_outcomes(a), _outcomes(b, failed={failing})], 1, JUDGES)
    assert result.status == "partial" and result.dimension_scores[failing].score == pytest.approx(8.0)
    assert "judgements (judges x samples) failed" in result.dimension_scores[failing].reason
    assert any(reason.startswith("judge b@http://b/v1:") for reason in result.reasons)
    assert result.jury[1].status == "partial" and result.jury[1].dimension_scores[failing] is None
