"""Verify claims in small batches against the evidence passages gathered for them.

The schema keys verdicts by the batch's claim ids and restricts cited evidence to the ids of passages actually shown,
so a verdict can only rest on evidence that was fetched. A right/wrong verdict citing nothing becomes unknown.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, create_model

from ..llm import LLMClient, LLMError, LLMUnavailable
from ..schemas import Claim, Evidence, StrictModel, Usage, Verdict
from .claims import PROMPTS

BATCH_SIZE = 5
MAX_EVIDENCE_PER_VERDICT = 5



def verdict_model(claim_ids: list[str], evidence_ids: list[str]) -> type[BaseModel]:
    evidence_id = Literal[tuple(evidence_ids)]  # type: ignore[valid-type]
    item = create_model(
        "ClaimVerdict",
        __base__=StrictModel,
        rationale=(str, Field(description="one to three sentences")),
        label=(Literal["right", "wrong", "unknown"], ...),
        evidence_ids=(list[evidence_id], Field(max_length=MAX_EVIDENCE_PER_VERDICT)),
        cited_source_supports=(Literal["yes", "no", "unclear", "not_cited"], ...),
        follow_up_query=(str, Field(description="for unknown claims: a better search query; else empty")),
    )
    fields = {f"v{i}": (item, Field(alias=claim_id)) for i, claim_id in enumerate(claim_ids)}
    return create_model("BatchVerdicts", __base__=StrictModel, **fields)


def verify_messages(claims: list[Claim], evidence: list[Evidence]) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": PROMPTS.render("verify_system.j2")},
        {"role": "user", "content": PROMPTS.render("verify_batch.j2", claims=claims, evidence=evidence)},
    ]


async def verify_batch(
    llm: LLMClient, claims: list[Claim], evidence: list[Evidence], round_number: int, usage: Usage
) -> tuple[list[Verdict], dict[str, str]]:
    """Verdicts for the batch and follow-up queries for its unknown claims."""
    if not evidence:
        return [
            Verdict(claim_id=c.id, label="unknown", rationale="no evidence could be retrieved", round=round_number)
            for c in claims
        ], {}
    cited_ids = {e.id for e in evidence if e.via == "citation"}
    model = verdict_model([c.id for c in claims], [e.id for e in evidence])
    try:
        result = await llm.structured(verify_messages(claims, evidence), model, temperature=0.0)
    except LLMUnavailable:
        raise
    except LLMError as exc:
        usage.add(exc.usage)
        return [
            Verdict(claim_id=c.id, label="failed", rationale=f"verification failed: {exc}", round=round_number)
            for c in claims
        ], {}
    usage.add(result.usage)
    verdicts, follow_ups = [], {}
    for i, claim in enumerate(claims):
        answer = getattr(result.value, f"v{i}")
        used = list(dict.fromkeys(answer.evidence_ids))
        label, rationale = answer.label, answer.rationale.strip()
        if label != "unknown" and not used:
            label, rationale = "unknown", f"{rationale} [no evidence cited for a {answer.label} verdict]".strip()
        supports = None
        if claim.cited_refs and cited_ids and answer.cited_source_supports in ("yes", "no"):
            supports = answer.cited_source_supports == "yes"
        verdicts.append(
            Verdict(
                claim_id=claim.id,
                label=label,
                rationale=rationale,
                evidence_ids=used,
                cited_source_supports=supports,
                round=round_number,
            )
        )
        if label == "unknown" and answer.follow_up_query.strip():
            follow_ups[claim.id] = answer.follow_up_query.strip()
    return verdicts, follow_ups
