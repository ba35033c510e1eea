"""Verify claims in small batches against the evidence passages gathered for each of them.

Each claim's schema entry only allows the ids of its own passages, so a verdict can only rest on evidence that was
fetched for that claim. A verdict must stand on that evidence, whatever the judge: a right/wrong verdict citing
nothing, or whose quote does not occur in the passages it cites (after whitespace, case and quote normalisation),
becomes unknown; a right verdict whose figures differ from its quote is re-verified once with the discrepancy named
(see ``numbers``). Whether a claim's cited source supports it is only recorded when a passage of that very source
(by reference number) was shown.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from pydantic import Field, RootModel, ValidationInfo, model_validator

from ..aio import gather_or_cancel
from ..llm import LLMClient, StructuredOutput, strict_json_schema
from ..schemas import Claim, Evidence, StrictModel, Usage, Verdict
from .claims import PROMPTS
from .numbers import describe, figures, mismatches

BATCH_SIZE = 5
MAX_EVIDENCE_PER_VERDICT = 5

_Label = Literal["right", "wrong", "unknown"]
_Supports = Literal["yes", "no", "unclear", "not_cited"]


# One claim's verdict as the verifier answers it (no docstring: it would become the schema's description).
class VerdictAnswer(StrictModel):
    quote: str = Field(description="the evidence sentence that addresses the claim, copied exactly; empty if none")
    rationale: str = Field(description="one to three sentences comparing the claim with the quote")
    label: _Label
    evidence_ids: list[str] = Field(max_length=MAX_EVIDENCE_PER_VERDICT)
    cited_source_supports: _Supports
    # asked for only when a later search round can use it (the default: the schema of the last round lacks it)
    follow_up_query: str = Field("", description="for unknown claims: a better search query; else empty")


class BatchVerdicts(RootModel[dict[str, VerdictAnswer]]):
    """A batch's verdicts by claim id. Which claims, and which evidence ids each may cite, vary per batch: they come
    as the validation context (``verdict_output``), and an answer validated without them is refused, so one model
    serves every batch and never accepts a verdict citing another claim's evidence."""

    @model_validator(mode="after")
    def _own_evidence(self, info: ValidationInfo) -> BatchVerdicts:
        per_claim = info.context
        if not isinstance(per_claim, dict):
            raise ValueError("no claims to check the verdicts against")
        problems = [f"{claim_id}: Field required" for claim_id in per_claim if claim_id not in self.root]
        problems += [f"{key}: Extra inputs are not permitted" for key in self.root if key not in per_claim]
        for claim_id, verdict in self.root.items():
            own = per_claim.get(claim_id, ())
            wrong = [e for e in verdict.evidence_ids if e not in own]
            if wrong:
                allowed = ", ".join(own) or "none: cite nothing"
                problems.append(f"{claim_id}.evidence_ids: {wrong[0]!r} is not one of this claim's ({allowed})")
        if problems:
            raise ValueError("; ".join(problems))
        return self


@lru_cache(maxsize=1)
def _item_schema() -> dict[str, Any]:
    return strict_json_schema(VerdictAnswer)


def _evidence_schema(evidence_ids: list[str]) -> dict[str, Any]:
    """The ``evidence_ids`` property limited to ``evidence_ids`` (written as pydantic writes a list of a Literal)."""
    items: dict[str, Any]
    if len(evidence_ids) == 1:
        items = {"type": "string", "enum": list(evidence_ids)}
    elif evidence_ids:
        items = {"enum": list(evidence_ids), "type": "string"}
    else:
        items = {"type": "string"}
    limit = MAX_EVIDENCE_PER_VERDICT if evidence_ids else 0
    return {"items": items, "maxItems": limit, "title": "Evidence Ids", "type": "array"}


def verdict_schema(per_claim: dict[str, list[str]], follow_up: bool = True) -> dict[str, Any]:
    """The strict JSON schema of a batch: one required entry per claim id, each limited to the ids of that claim's
    evidence. Built as a dict (building a pydantic model per batch cost 6 ms a call), the same schema, key for key,
    as pydantic wrote for the model it replaced, so answers cached before still match. Without ``follow_up`` (the
    last round: no later search could use it) the verdicts have no ``follow_up_query``: fewer tokens to generate."""
    item = _item_schema()
    if not follow_up:
        properties = {k: v for k, v in item["properties"].items() if k != "follow_up_query"}
        item = {**item, "properties": properties, "required": list(properties)}
    defs = {
        f"Verdict{i}": {
            **item,
            "properties": {**item["properties"], "evidence_ids": _evidence_schema(ids)},
            "title": f"Verdict{i}",
        }
        for i, ids in enumerate(per_claim.values())
    }
    return {
        "$defs": defs,
        "additionalProperties": False,
        "properties": {claim_id: {"$ref": f"#/$defs/Verdict{i}"} for i, claim_id in enumerate(per_claim)},
        "required": list(per_claim),
        "title": "BatchVerdicts",
        "type": "object",
    }


def verdict_output(per_claim: dict[str, list[str]], follow_up: bool = True) -> StructuredOutput[BatchVerdicts]:
    """What a verification call asks for: ``verdict_schema`` sent, ``BatchVerdicts`` checked against ``per_claim``."""
    return StructuredOutput(BatchVerdicts, verdict_schema(per_claim, follow_up), per_claim)


def verify_messages(
    claims: list[Claim], evidence: list[Evidence], per_claim: dict[str, list[str]], notes: dict[str, str] | None = None
) -> list[dict]:
    return [
        {"role": "system", "content": PROMPTS.render("verify_system.j2")},
        {
            "role": "user",
            "content": PROMPTS.render(
                "verify_batch.j2", claims=claims, evidence=evidence, per_claim=per_claim, notes=notes or {}
            ),
        },
    ]


def _unknown(claim: Claim, reason: str, round_number: int) -> Verdict:
    return Verdict(claim_id=claim.id, label="unknown", rationale=reason, round=round_number)


_QUOTE_CHARS = str.maketrans(
    {
        "‘": "'",
        "’": "'",
        "‚": "'",
        "‛": "'",
        "′": "'",
        "“": '"',
        "”": '"',
        "„": '"',
        "«": '"',
        "»": '"',
        "–": "-",
        "—": "-",
        "−": "-",
        " ": " ",
    }
)
_ELLIPSIS = re.compile(r"\.\.\.+|…|\[\s*\.\.\.\s*\]")
_EMPHASIS_MARKS = re.compile(r"[*_`]+")
MIN_QUOTE_WORDS = 3


def _normal(text: str) -> str:
    """Whitespace, case, quote, dash and markdown-emphasis differences removed."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTE_CHARS).casefold()
    text = _EMPHASIS_MARKS.sub("", text)
    return " ".join(text.split())


def quote_in(quote: str, passages: list[str]) -> bool:
    """True if ``quote`` occurs, in order and at word boundaries, in one of ``passages``. An ellipsis may skip
    text, but some piece must hold a few words on its own ("the ... and ... the" proves nothing)."""
    pieces = [_normal(p).strip(" '\".,;:") for p in _ELLIPSIS.split(quote)]
    pieces = [p for p in pieces if p]
    if not pieces or max(len(p.split()) for p in pieces) < MIN_QUOTE_WORDS:
        return False
    patterns = [re.compile(r"(?<!\w)" + re.escape(piece) + r"(?!\w)") for piece in pieces]
    for passage in map(_normal, passages):
        position = 0
        for pattern in patterns:
            found = pattern.search(passage, position)
            if found is None:
                break
            position = found.end()
        else:
            return True
    return False


@dataclass
class _Checked:
    verdict: Verdict
    follow_up: str
    mismatch: str  # the numeric discrepancy of a right verdict
    note: str  # what to tell the verifier when the verdict is sent back ("" when it stands)


@dataclass(frozen=True)
class BatchPassages:
    """The passages of a batch as the verifier knows them: ``passage-1``, ``passage-2``, ... in the order shown.

    An evidence id (11 hex characters) is about 8 tokens, a name 3, and the verifier writes one for every passage it
    cites. (Names as short as ``e1`` made the embedded judge write a list of them as its rationale when a verdict
    was sent back.) A passage found for several claims of the batch (for one through the report's citation, for
    another by search) is shown once, under one name, marked as cited if any of its copies was."""

    names: dict[str, str]  # evidence id -> the name of its passage (several ids may share one)
    shown: list[Evidence]  # one copy of each named passage, with the name as its id
    own: dict[str, dict[str, str]]  # claim id -> the names of its passages, each to that claim's own evidence id

    @classmethod
    def of(cls, batch: list[Claim], evidence_for: dict[str, list[Evidence]]) -> BatchPassages:
        names: dict[str, str] = {}
        shown: dict[tuple[str, str], Evidence] = {}
        own: dict[str, dict[str, str]] = {}
        for claim in batch:
            claim_own = own[claim.id] = {}
            for item in evidence_for.get(claim.id, []):
                key = (item.content_sha256, item.passage)
                first = shown.get(key)
                name = first.id if first else f"passage-{len(shown) + 1}"
                if first is None or (item.via == "citation" and first.via != "citation"):
                    shown[key] = item.model_copy(update={"id": name})
                names.setdefault(item.id, name)
                claim_own.setdefault(name, item.id)
        return cls(names, list(shown.values()), own)


async def _ask(
    llm: LLMClient,
    claims: list[Claim],
    passages: BatchPassages,
    notes: dict[str, str],
    usage: Usage,
    follow_up: bool,
) -> BatchVerdicts | str:
    """The verifier's answer for ``claims``, with its evidence ids, or the reason it could not be had. Every passage
    of the whole batch is shown, by its name: a batch's claims sent back are asked after the same passages, in the
    same order, so the server reuses the prompt it evaluated the first time up to the claims."""
    own = passages.own
    per_claim = {c.id: list(own[c.id]) for c in claims}
    answer = await llm.structured_or_reason(
        verify_messages(claims, passages.shown, per_claim, notes),
        verdict_output(per_claim, follow_up),
        usage,
        temperature=0.0,
    )
    if isinstance(answer, str):
        return f"verification failed: {answer}"
    return BatchVerdicts.model_construct(  # validated above, against the names: a copy with the ids
        {
            claim_id: verdict.model_copy(update={"evidence_ids": [own[claim_id][n] for n in verdict.evidence_ids]})
            for claim_id, verdict in answer.root.items()
        }
    )


def _check(
    claim: Claim,
    answer: VerdictAnswer,
    evidence_for: dict[str, list[Evidence]],
    round_number: int,
    names: dict[str, str],
) -> _Checked:
    """A verdict that stands on its evidence: a right/wrong label needs cited evidence that contains its quote;
    a right label whose figures differ from the quote's is flagged (the note names passages as the verifier knows
    them: ``names``)."""
    own = {e.id: e for e in evidence_for.get(claim.id, [])}
    used = list(dict.fromkeys(answer.evidence_ids))
    label, rationale, quote = answer.label, answer.rationale.strip(), answer.quote.strip()
    flags: list[str] = []
    mismatch = note = ""
    if label != "unknown" and not used:
        flags.append(f"no evidence cited for a {label} verdict")
        note = f"Your {label} verdict cited no passage. Cite the passage it rests on, or answer unknown."
        label = "unknown"
    elif label != "unknown" and not quote_in(quote, [own[e].passage for e in used if e in own]):
        flags.append(f"quote not found in evidence (the {label} verdict's quote is not in the passages it cites)")
        note = (
            f"Your {label} verdict quoted text that is not in the passages it cites "
            f"({', '.join(names.get(e, e) for e in used)}). Copy "
            "the sentence that settles the claim exactly as it is written in one of those passages (not the "
            "claim itself), or answer unknown."
        )
        label = "unknown"
    elif label == "right":
        # figures are compared with the quote; a quote without any figure cannot vouch for the claim's, so they are
        # compared with the passages it cites instead
        against = quote if figures(quote) else "\n".join(own[e].passage for e in used if e in own)
        mismatch = describe(mismatches(claim.text, against))
        if mismatch:
            flags.append(f"numbers differ: {mismatch}")
            note = f"A numeric check found that {mismatch}. Compare the figures again before deciding."
    # a passage of a source the claim itself cites: by reference number, or linked inline (no number)
    own_cited = any(
        e.via == "citation" and (e.cited_ref is None or e.cited_ref in claim.cited_refs) for e in own.values()
    )
    supports = None
    if own_cited and answer.cited_source_supports in ("yes", "no"):
        supports = answer.cited_source_supports == "yes"
    verdict = Verdict(
        claim_id=claim.id,
        label=label,
        quote=quote,
        rationale=rationale,
        evidence_ids=used,
        cited_source_supports=supports,
        round=round_number,
        flags=flags,
    )
    follow_up = answer.follow_up_query.strip() if label == "unknown" else ""
    return _Checked(verdict, follow_up, mismatch, note)


async def verify_batch(
    llm: LLMClient,
    claims: list[Claim],
    evidence_for: dict[str, list[Evidence]],
    round_number: int,
    usage: Usage,
    jury: Sequence[LLMClient] = (),
    follow_up: bool = True,
) -> tuple[list[Verdict], dict[str, str]]:
    """Verdicts for the batch and the verifier's follow-up queries for its unknown claims (asked for only with
    ``follow_up``: when a later round can search them).

    A verdict that does not stand (its quote is not in the passages it cites, or it is ``right`` while its figures
    differ from its quote) is sent back once with the problem named (``reverify``, on by default). If the answer
    still does not stand, the verdict is ``unknown``. The flags are recorded either way. With a ``jury`` (judges
    besides ``llm``), every judge verifies the batch this way and each verdict is their majority
    (``drevalkit.factcheck.jury.combine_verdicts``), each judge's kept."""
    if not any(evidence_for.get(c.id) for c in claims):
        return [_unknown(c, "no evidence could be retrieved", round_number) for c in claims], {}
    if jury:
        from .jury import combine_verdicts

        judges = [llm, *jury]
        answers = await gather_or_cancel(
            *(verify_batch(j, claims, evidence_for, round_number, usage, follow_up=follow_up) for j in judges)
        )
        return combine_verdicts([a[0] for a in answers], [a[1] for a in answers], [j.judge_info for j in judges])
    passages = BatchPassages.of(claims, evidence_for)
    answer = await _ask(llm, claims, passages, {}, usage, follow_up)
    if isinstance(answer, str):
        return [Verdict(claim_id=c.id, label="failed", rationale=answer, round=round_number) for c in claims], {}
    checked = {c.id: _check(c, answer.root[c.id], evidence_for, round_number, passages.names) for c in claims}
    doubtful = [c for c in claims if checked[c.id].note]
    if doubtful and llm.settings.reverify:
        notes = {c.id: checked[c.id].note for c in doubtful}
        second = await _ask(llm, doubtful, passages, notes, usage, follow_up)
        for claim in doubtful:
            first = checked[claim.id]
            if isinstance(second, str):
                first.verdict.flags.append(f"re-verification failed: {second}")
                if first.mismatch:  # a right verdict whose figures differ and could not be checked again
                    first.verdict.label = "unknown"
                continue
            again = _check(claim, second.root[claim.id], evidence_for, round_number, passages.names)
            again.verdict.reverified = True
            again.verdict.flags = first.verdict.flags + [f for f in again.verdict.flags if f not in first.verdict.flags]
            if again.mismatch:  # still right although the figures differ: the verdict does not stand
                again.verdict.label = "unknown"
                again.verdict.rationale += " [unknown: the figures still differ after re-verification]"
            checked[claim.id] = again
    verdicts = [checked[c.id].verdict for c in claims]
    follow_ups = {c.id: checked[c.id].follow_up for c in claims if checked[c.id].follow_up}
    return verdicts, follow_ups
