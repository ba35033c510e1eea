"""Synthetic cited reports for benchmarks: sentences drawn from a folder of pages, some with a figure altered, each
cited to the page it came from, so a fact-check of them has real claims, searches and fetches to make."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path

from drevalkit.documents import extract_text

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_DIGIT = re.compile(r"\d")
_NUMBER = re.compile(r"\d+")


def corpus_sentences(corpus: Path) -> list[tuple[str, str]]:
    """(file name, sentence) for every sentence of the pages listed in ``corpus/urls.json`` that states a figure."""
    pairs = []
    for name in json.loads((corpus / "urls.json").read_text()):
        kind = "text/html" if name.endswith(".html") else "text/plain"
        text, _ = extract_text(kind, (corpus / name).read_bytes(), "utf-8")
        for sentence in _SENTENCE_END.split(text.replace("\n", " ")):
            if _DIGIT.search(sentence) and 8 <= len(sentence.split()) <= 45:
                pairs.append((name, sentence.strip()))
    return pairs


def synthetic_report(index: int, pairs: list[tuple[str, str]], url_of: Callable[[str], str], sentences: int) -> str:
    """Report ``index`` (deterministic): ``sentences`` of ``pairs`` under section headings, a fifth of them with a
    figure altered (claims the evidence contradicts), each cited to its page, whose URL is ``url_of(file name)``."""
    rng = random.Random(index)
    chosen = rng.sample(pairs, min(sentences, len(pairs)))
    names = sorted({name for name, _ in chosen})
    lines = [f"# Synthetic report {index}", ""]
    for n, (name, sentence) in enumerate(chosen):
        if n % 10 == 0:
            lines += ["", f"## Section {n // 10 + 1}", ""]
        if rng.random() < 0.2:
            sentence = _NUMBER.sub(lambda m: str(int(m.group(0)) + 3), sentence, count=1)
        lines.append(f"{sentence.rstrip('.')} [{names.index(name) + 1}].")
    lines += ["", "## References"] + [f"[{i}] {name}. {url_of(name)}" for i, name in enumerate(names, start=1)]
    return "\n".join(lines)
