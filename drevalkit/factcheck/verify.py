"""Verify claims in small batches against the evidence passages gathered for each of them.

Each claim's schema entry only allows the ids of its own passages, so a verdict can only rest on evidence that was
fetched for that claim; a right/wrong verdict citing nothing becomes unknown. Whether a claim's cited source
supports it is only recorded when a passage of that very source (by reference number) was shown.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, create_model

from ..llm import LLMClient, LLMError, LLMUnavailable
from ..schemas import Claim, Evidence, StrictModel, Usage, Verdict
from .claims import PROMPTS

BATCH_SIZE = 5
MAX_EVIDENCE_PER_VERDICT = 5


def _verdict_item(name: str, evidence_ids: list[str]) -> type[BaseModel]:
    if evidence_ids:
        evidence_field = (list[Literal[tuple(evidence_ids)]], Field(max_length=MAX_EVIDENCE_PER_VERDICT))  # type: ignore[valid-type]
    else:
        evidence_field = (list[str], Field(max_length=0))
    return create_model(
        name,
        __base__=StrictModel,
        quote=(str, Field(description="the evidence sentence that addresses the claim, copied exactly; empty if none")),
        rationale=(str, Field(description="one to three sentences comparing the claim with the quote")),
        label=(Literal["right", "wrong", "unknown"], ...),
        evidence_ids=evidence_field,
        cited_source_supports=(Literal["yes", "no", "unclear", "not_cited"], ...),
        follow_up_query=(str, Field(description="for unknown claims: a better search query; else empty")),
    )


def verdict_model(per_claim: dict[str, list[str]]) -> type[BaseModel]:
    """One required entry per claim id, each limited to the ids of that claim's evidence."""
    fields = {
        f"v{i}": (_verdict_item(f"Verdict{i}", ids), Field(alias=claim_id))
        for i, (claim_id, ids) in enumerate(per_claim.items())
    }
    return create_model("BatchVerdicts", __base__=StrictModel, **fields)


def verify_messages(claims: list[Claim], evidence: list[Evidence], per_claim: dict[str, list[str]]) -> list[dict]:
    return [
        {"role": "system", "content": PROMPTS.render("verify_system.j2")},
        {
            "role": "user",
            "content": PROMPTS.render("verify_batch.j2", claims=claims, evidence=evidence, per_claim=per_claim),
        },
    ]


def _unknown(claim: Claim, reason: str, round_number: int) -> Verdict:
    return Verdict(claim_id=claim.id, label="unknown", rationale=reason, round=round_number)


async def verify_batch(
    llm: LLMClient,
    claims: list[Claim],
    evidence_for: dict[str, list[Evidence]],
    round_number: int,
    usage: Usage,
) -> tuple[list[Verdict], dict[str, str]]:
    """Verdicts for the batch and the verifier's follow-up queries for its unknown claims."""
    shown: dict[str, Evidence] = {}
    for claim in claims:
        for item in evidence_for.get(claim.id, []):
            shown.setdefault(item.id, item)
    if not shown:
        return [_unknown(c, "no evidence could be retrieved", round_number) for c in claims], {}
    per_claim = {c.id: [e.id for e in evidence_for.get(c.id, [])] for c in claims}
    try:
        result = await llm.structured(
            verify_messages(claims, list(shown.values()), per_claim), verdict_model(per_claim), temperature=0.0
        )
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
        own_cited = any(
            e.via == "citation" and e.cited_ref in claim.cited_refs for e in evidence_for.get(claim.id, [])
        )
        supports = None
        if own_cited and answer.cited_source_supports in ("yes", "no"):
            supports = answer.cited_source_supports == "yes"
        verdicts.append(
            Verdict(
                claim_id=claim.id,
                label=label,
                quote=answer.quote.strip(),
                rationale=rationale,
                evidence_ids=used,
                cited_source_supports=supports,
                round=round_number,
            )
        )
        if label == "unknown" and answer.follow_up_query.strip():
            follow_ups[claim.id] = answer.follow_up_query.strip()
    return verdicts, follow_ups
