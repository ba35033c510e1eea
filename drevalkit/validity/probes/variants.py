"""Every probe's variants of one report, and the ``conditions`` probe, whose variants are the report itself judged
at other sampling temperatures and seeds (fluctuation)."""

from __future__ import annotations

from .citations import fake_citation_variants, strip_citation_variants
from .injection import PLACES, inject_variants
from .prose import null_variants, pad_variants, shuffle_variants, trim_variants
from .spec import PROBES, Variant

CONDITION_TEMPERATURES = (0.7, 1.0)


def condition_variants(count: int, seed: int) -> list[Variant]:
    """The report judged at temperatures 0.7 and 1.0 in turn, each time with a new seed (``seed + k + 1``)."""
    return [
        Variant(
            "conditions",
            f"t{t:g}-seed{seed + k + 1}",
            f"temperature {t:g}, seed {seed + k + 1}",
            temperature=t,
            seed=seed + k + 1,
        )
        for k, t in ((k, CONDITION_TEMPERATURES[k % len(CONDITION_TEMPERATURES)]) for k in range(count))
    ]


def variants_for(probe: str, text: str, count: int, seed: int) -> list[Variant]:
    """The variants of ``probe`` for a report text (``evidence-injection`` has targets instead: see
    ``evidence_targets``)."""
    if probe == "pad":
        return pad_variants(text, count, seed)
    if probe == "trim-style":
        return trim_variants(text)
    if probe == "shuffle":
        return shuffle_variants(text, count, seed)
    if probe == "strip-citations":
        return strip_citation_variants(text, seed)
    if probe == "inject":
        return inject_variants(text, max(count, len(PLACES)), seed)
    if probe == "conditions":
        return condition_variants(count, seed)
    if probe == "fake-citations":
        return fake_citation_variants(text, count, seed)
    if probe == "null-report":
        return null_variants(text, count, seed)
    if probe == "evidence-injection":
        return []
    raise ValueError(f"unknown probe {probe!r}; known: {', '.join(PROBES)}")
