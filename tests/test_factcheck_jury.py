"""A jury's verdicts: the majority of the judges, a tie unknown, each judge's verdict kept, and their agreement (Fleiss'
kappa)."""

from __future__ import annotations

import pytest

from drevalkit.factcheck.jury import combine_verdicts, verdict_agreement
from drevalkit.schemas import JudgeInfo, Verdict
from drevalkit.stats import agreement as A

JUDGES = [
    JudgeInfo(model="a", endpoint="http://a/v1", identity="http://a/v1"),
    JudgeInfo(model="b", endpoint="http://b/v1", identity="http://b/v1"),
]


def _verdict(claim: str, label: str, quote: str = "") -> Verdict:
    return Verdict(
        claim_id=claim,
        label=label,
        quote=quote,
        rationale=f"{label} because",
        evidence_ids=["e1"] if label in ("right", "wrong") else [],
    )


def test_verdicts_are_the_majority_a_tie_is_unknown_and_each_judge_is_kept():
    three = JUDGES + [JudgeInfo(model="c", endpoint="http://c/v1", identity="http://c/v1")]
    per_judge = [
        [
            _verdict("c1", "right", "quote a"),
            _verdict("c2", "right"),
            _verdict("c3", "failed"),
            _verdict("c4", "wrong"),
        ],
        [
            _verdict("c1", "right", "quote b"),
            _verdict("c2", "wrong"),
            _verdict("c3", "failed"),
            _verdict("c4", "right"),
        ],
        [_verdict("c1", "wrong"), _verdict("c2", "unknown"), _verdict("c3", "failed"), _verdict("c4", "failed")],
    ]
    follow = [{"c2": "query from a"}, {}, {"c2": "query from c"}]
    combined, queries = combine_verdicts(per_judge, follow, three)
    by_id = {v.claim_id: v for v in combined}
    assert by_id["c1"].label == "right" and by_id["c1"].quote == "quote a"  # 2 of 3, the first of the majority
    assert [j.label for j in by_id["c1"].jury] == ["right", "right", "wrong"]
    assert [j.model for j in by_id["c1"].jury] == ["a", "b", "c"]
    assert by_id["c2"].label == "unknown" and "no majority" in by_id["c2"].rationale  # right 1, wrong 1, unknown 1
    assert by_id["c2"].flags == ["jury split: right 1, unknown 1, wrong 1"]
    assert by_id["c3"].label == "failed"  # nobody could verify it
    assert by_id["c4"].label == "unknown"  # right 1, wrong 1; the failed one has no vote
    assert queries == {"c2": "query from a"}

    result = type("R", (), {"verdicts": combined})()
    agreement = verdict_agreement(result, 3)
    rated = [["right", "right", "wrong"], ["right", "wrong", "unknown"]]  # c3, c4 had failed votes
    assert agreement.items == 2 and agreement.value == pytest.approx(A.fleiss_kappa_labels(rated, A.VERDICT_LABELS))
    assert agreement.unanimous == 0.0 and agreement.disputed == ["c1", "c2", "c4"]
