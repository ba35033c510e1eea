"""Extract a report's key verifiable claims from its sentences (``sentences.segment``).

Extraction is one LLM call per chunk of sentences; the schema lists the chunk's sentence ids as an enum, so every
claim is linked to a real sentence (and through it to its section and cited references).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, Protocol, cast

from pydantic import BaseModel, Field, create_model, field_validator

from ..aio import gather_or_cancel
from ..llm import LLMClient
from ..llm.tokens import estimate_tokens
from ..prompts import PromptSet
from ..schemas import Claim, ClaimKind, Report, StrictModel, Usage
from ..text import word_count
from .sentences import Sentence, segment

PROMPTS = PromptSet("drevalkit.factcheck")
CHUNK_WORDS = 900
# and at most this many estimated tokens (900 words of prose are about 1,200): text without spaces (a one-line blob,
# a base64 dump) counts as few words, and would otherwise go whole into one call, past any judge's context
CHUNK_TOKENS = 4000
MAX_CLAIMS_PER_CHUNK = 25
# claims asked for, overall, per claim of the budget (at least 5 a chunk): the budget keeps the most check-worthy of
# them. 1.5 rather than 2: every claim asked for is generated on the path to verification, and the embedded judge
# wrote 8 claims in 55 s of the demo's scoring to keep 4 (benchmarks/local_judge.py)
OVERASK = 1.5


def chunk_sentences(
    sentences: list[Sentence], max_words: int = CHUNK_WORDS, max_tokens: int = CHUNK_TOKENS
) -> list[list[Sentence]]:
    """Runs of sentences of at most ``max_words`` words and ``max_tokens`` estimated tokens (a longer sentence is a
    chunk of its own), one extraction call each; every chunk opens with its section's name, so the judge never
    reads a sentence without knowing where it stands."""
    chunks: list[list[Sentence]] = []
    current: list[Sentence] = []
    words = tokens = 0
    for sentence in sentences:
        size, cost = word_count(sentence.text), estimate_tokens(sentence.text)
        if current and (words + size > max_words or tokens + cost > max_tokens):
            chunks.append(current)
            current, words, tokens = [], 0, 0
        current.append(sentence)
        words += size
        tokens += cost
    if current:
        chunks.append(current)
    for chunk in chunks:
        chunk[0] = Sentence(**{**chunk[0].__dict__, "new_section": True})
    return chunks


class _ExtractedClaim(Protocol):
    """The fields of an ``extraction_model`` claim (the model is built at run time, so mypy cannot see them)."""

    sentence_id: str
    claim: str
    kind: ClaimKind
    worthiness: float
    queries: list[str]


class _ExtractedClaims(Protocol):
    claims: list[_ExtractedClaim]


def extraction_model(sentence_ids: list[str], limit: int = MAX_CLAIMS_PER_CHUNK, queries: int = 2) -> type[BaseModel]:
    """Schema of one extraction call: at most ``limit`` claims, each with a sentence id that is one of the chunk's
    and 1 to ``queries`` search queries (a second is searched only in a later round).

    The limit is the count the prompt asks for, so a server that constrains output to the schema can stop there;
    a longer list from one that does not is cut to its first ``limit`` (the prompt asks for the most important
    first), never refused.
    """
    return _extraction_model(tuple(sentence_ids), min(limit, MAX_CLAIMS_PER_CHUNK), queries)


def _first(field: str, limit: int) -> Any:
    """A validator keeping the first ``limit`` items of the list ``field``: a longer list, from a server that does
    not constrain output to the schema, is cut, never refused."""

    def cut(value: Any) -> Any:
        return value[:limit] if isinstance(value, list) else value

    return field_validator(field, mode="before")(cut)


@lru_cache(maxsize=256)
def _extraction_model(sentence_ids: tuple[str, ...], limit: int, queries: int) -> type[BaseModel]:
    """Built once per chunk of sentence ids and limit (S1-S12 and so on: the same chunks recur in every report)."""
    sentence_id: Any = Literal[tuple(sentence_ids)]  # a Literal of the ids, built at run time: no static type
    item: Any = create_model(  # a model class built at run time: not a static type either
        "ExtractedClaim",
        __base__=StrictModel,
        __validators__={"first": _first("queries", queries)},
        sentence_id=(sentence_id, ...),
        claim=(str, Field(description="self-contained statement of fact")),
        kind=(ClaimKind, ...),
        worthiness=(float, Field(ge=0, le=1)),
        queries=(list[str], Field(min_length=1, max_length=queries)),
    )
    return create_model(
        "ExtractedClaims",
        __base__=StrictModel,
        __validators__={"first": _first("claims", limit)},
        claims=(list[item], Field(max_length=limit)),
    )


@dataclass
class Extraction:
    claims: list[Claim]
    found: int
    skipped: int
    failed_chunks: list[str]
    usage: Usage
    sentences: int = 0  # sentences the report was split into (0: nothing could be read from it)


async def extract_claims(report: Report, llm: LLMClient, max_claims: int, queries: int = 2) -> Extraction:
    """All chunks in parallel; keep the ``max_claims`` most check-worthy claims, in report order. ``queries``: the
    most search queries a claim may have (1 when there is one search round: the second is its spare)."""
    sentences = await asyncio.to_thread(segment, report)  # spaCy is CPU work: keep the event loop free
    chunks = chunk_sentences(sentences)
    usage = Usage()
    per_chunk = min(MAX_CLAIMS_PER_CHUNK, max(5, math.ceil(OVERASK * max_claims / max(len(chunks), 1))))

    async def run(chunk: list[Sentence]) -> list[tuple[Sentence, _ExtractedClaim]] | str:
        by_id = {s.id: s for s in chunk}
        messages = [
            {"role": "system", "content": PROMPTS.render("extract_system.j2")},
            {"role": "user", "content": PROMPTS.render("extract_chunk.j2", sentences=chunk, max_claims=per_chunk)},
        ]
        answer = await llm.structured_or_reason(
            messages, extraction_model(list(by_id), per_chunk, queries), usage, temperature=0.0
        )
        if isinstance(answer, str):
            return f"claims of sentences {chunk[0].id}-{chunk[-1].id} could not be extracted: {answer}"
        return [(by_id[item.sentence_id], item) for item in cast("_ExtractedClaims", answer).claims]

    outcomes = await gather_or_cancel(*(run(chunk) for chunk in chunks))
    drafted: list[tuple[int, Sentence, _ExtractedClaim]] = []
    failed = []
    seen_texts: set[str] = set()
    for outcome in outcomes:
        if isinstance(outcome, str):
            failed.append(outcome)
            continue
        for sentence, item in outcome:
            key = " ".join(item.claim.lower().split())
            if not key or key in seen_texts:
                continue
            seen_texts.add(key)
            drafted.append((len(drafted), sentence, item))
    kept = sorted(drafted, key=lambda d: (-d[2].worthiness, d[0]))[:max_claims]
    kept.sort(key=lambda d: (int(d[1].id[1:]), d[0]))
    claims = [
        Claim(
            id=f"c{n}",
            text=item.claim.strip(),
            sentence=sentence.text,
            section=sentence.section,
            cited_refs=sentence.cited_refs,
            cited_urls=sentence.cited_urls,
            kind=item.kind,
            worthiness=item.worthiness,
            queries=[q.strip() for q in item.queries if q.strip()][:2] or [item.claim.strip()],
        )
        for n, (_, sentence, item) in enumerate(kept, start=1)
    ]
    return Extraction(claims, len(drafted), len(drafted) - len(claims), failed, usage, len(sentences))
