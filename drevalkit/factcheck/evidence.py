"""Split fetched documents into passages and rank them against a claim.

BM25 is the default ranker (no model needed). When ``sentence-transformers`` is installed and a model path is
configured (``embedding_model``), BM25's best candidates are re-ranked by embedding similarity.
"""

from __future__ import annotations

import math
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from ..embeddings import load_sentence_transformer

_WORD = re.compile(r"\w+", re.UNICODE)
_STOP = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to was were which with".split()
)
PASSAGE_WORDS = 120
_LINE_BREAKS = re.compile(r"\n\s*\n|\n")


def terms(text: str) -> list[str]:
    return [t for t in map(str.lower, _WORD.findall(text)) if t not in _STOP]


def passage_terms(passage: str) -> tuple[str, ...]:
    """``terms`` of a passage kept with its page, so that ranking it for every claim does not split it again; the
    words are interned (one string per word of the vocabulary, not one per occurrence)."""
    return tuple(map(sys.intern, terms(passage)))


def split_passages(text: str, target_words: int = PASSAGE_WORDS) -> list[str]:
    """Paragraph-aligned passages of about ``target_words`` words; long paragraphs are cut with overlap."""
    passages: list[str] = []
    current: list[str] = []
    for paragraph in (p.strip() for p in _LINE_BREAKS.split(text)):
        if not paragraph:
            continue
        words = paragraph.split()
        if len(words) > target_words * 1.5:
            if current:
                passages.append(" ".join(current))
                current = []
            step = target_words - target_words // 4
            for start in range(0, len(words), step):
                passages.append(" ".join(words[start : start + target_words]))
                if start + target_words >= len(words):
                    break
            continue
        if current and len(current) + len(words) > target_words:
            passages.append(" ".join(current))
            current = []
        current.extend(words)
    if current:
        passages.append(" ".join(current))
    return passages


Via = Literal["citation", "search"]  # how a passage was found (``Evidence.via``)


@dataclass
class Candidate:
    """A passage of one document, with where it came from."""

    url: str
    title: str
    passage: str
    content_sha256: str
    retrieved_at: str
    via: Via
    cited_ref: int | None = None
    score: float = 0.0
    terms: tuple[str, ...] | None = None  # ``passage_terms(passage)``, when its page has them already


def bm25_scores(query: str, passages: list[str], k1: float = 1.5, b: float = 0.75) -> list[float]:
    return _bm25(terms(query), [terms(p) for p in passages], k1, b)


def _bm25(query: Sequence[str], docs: Sequence[Sequence[str]], k1: float = 1.5, b: float = 0.75) -> list[float]:
    """BM25 of the passages' ``docs`` (their terms) for the query's terms; only the query's terms are counted."""
    if not docs:
        return []
    avg = sum(len(d) for d in docs) / len(docs) or 1.0
    n = len(docs)
    q_terms = set(query)
    counts = [Counter([t for t in doc if t in q_terms]) for doc in docs]
    df = Counter(t for tf in counts for t in tf)
    scores = []
    for doc, tf in zip(docs, counts):
        score = 0.0
        for term in q_terms:
            if term not in tf:
                continue
            idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
            score += idf * tf[term] * (k1 + 1) / (tf[term] + k1 * (1 - b + b * len(doc) / avg))
        scores.append(score)
    return scores


class Reranker(Protocol):
    def similarities(self, query: str, passages: list[str]) -> list[float]: ...


class EmbeddingReranker:
    """Cosine similarity with a local sentence-transformers model (loaded once, CPU)."""

    def __init__(self, model_path: str):
        self.model = load_sentence_transformer(model_path)

    def similarities(self, query: str, passages: list[str]) -> list[float]:
        vectors = self.model.encode([query, *passages], normalize_embeddings=True, convert_to_numpy=True)
        return [float(vectors[0] @ v) for v in vectors[1:]]


def rank(query: str, candidates: list[Candidate], top: int, reranker: Reranker | None = None) -> list[Candidate]:
    """Best ``top`` passages for the query: BM25, then optional embedding re-ranking of BM25's best."""
    if not candidates:
        return []
    scores = _bm25(terms(query), [c.terms if c.terms is not None else terms(c.passage) for c in candidates])
    for candidate, score in zip(candidates, scores):
        candidate.score = score
    ordered = sorted(candidates, key=lambda c: -c.score)
    if reranker is not None:
        pool = ordered[: max(top * 4, 12)]
        for candidate, similarity in zip(pool, reranker.similarities(query, [c.passage for c in pool])):
            candidate.score = similarity
        ordered = sorted(pool, key=lambda c: -c.score)
    best = [c for c in ordered if c.score > 0][:top]
    return best
