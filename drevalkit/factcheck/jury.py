"""A jury's verdicts: several judges label every claim; the majority label of the judges whose verification did
not fail stands, a tie being ``unknown`` (a verdict needs a majority to stand); the quote, evidence and rationale are
those of the first judge in the majority. Agreement: Fleiss' kappa over the claims every judge labelled right, wrong
or unknown.
"""

from __future__ import annotations

from collections import Counter

from ..schemas import FactCheckResult, JudgeInfo, JurorVerdict, JuryAgreement, Verdict
from ..stats.agreement import DISPUTED_MAX, VERDICT_LABELS, fleiss_kappa_labels


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
