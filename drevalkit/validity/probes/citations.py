"""Probes on the citations: ``strip-citations`` (does quality follow the citation count?) and ``fake-citations``
(authority bias: plausible references on unrelated subjects, cited from the text)."""

from __future__ import annotations

import math
import re

from ...citations import CitationToken, prose_lines, scan_citations
from .document import Document, apply_insertions, cut_spans, is_prose, join_blocks, marker_spans
from .spec import Variant, rng_for

# ------------------------------------------------------------------------------------------ strip-citations


def strip_citation_variants(text: str, seed: int) -> list[Variant]:
    """Half the markers (seeded), all of them, then all of them and the References list: the prose stays."""
    doc = Document.parse(text)
    body = "\n\n".join(doc.body)
    spans = marker_spans(body)
    if not spans:
        return []
    rng = rng_for(seed, "strip-citations")
    half = sorted(rng.sample(spans, len(spans) // 2)) if len(spans) >= 2 else []
    variants = []
    if half:
        variants.append(
            Variant(
                "strip-citations",
                "strip-half",
                f"{len(half)} of {len(spans)} citation markers removed",
                join_blocks([cut_spans(body, half)], doc.references),
            )
        )
    variants.append(
        Variant(
            "strip-citations",
            "strip-markers",
            f"all {len(spans)} citation markers removed, References kept",
            join_blocks([cut_spans(body, spans)], doc.references),
        )
    )
    if doc.references:
        variants.append(
            Variant(
                "strip-citations",
                "strip-all",
                f"all {len(spans)} citation markers and the References list removed",
                join_blocks([cut_spans(body, spans)], []),
            )
        )
    return variants


# -------------------------------------------------------------------------------------------- fake-citations

FAKE_REFERENCES = (
    "Okafor, N. and Lindström, E. Sediment transport in braided river systems: a field study. Journal of Fluvial "
    "Geomorphology. https://doi.org/10.5555/jfg.2019.0412",
    "Haddad, R. Consumer sentiment and retail pricing under inflation. Review of Applied Economics. "
    "https://doi.org/10.5555/rae.2021.118",
    "Moreau, C., Abe, K. and Vidal, S. Soil microbiome diversity in alpine meadows. Ecology Letters Online. "
    "https://doi.org/10.5555/elo.2020.077",
    "Tanaka, H. A survey of error-correcting codes for flash storage. Computing Surveys Notes. "
    "https://doi.org/10.5555/csn.2018.221",
    "Silva, P. Medieval trade routes of the Baltic, 1200-1450. Northern History Quarterly. "
    "https://doi.org/10.5555/nhq.2017.034",
    "Brennan, K. and Osei, A. Urban heat islands and street tree canopy. Journal of Urban Climate Studies. "
    "https://doi.org/10.5555/jucs.2022.009",
    "Ivanova, M. Folding kinetics of small protein domains. Biophysical Methods Review. "
    "https://doi.org/10.5555/bmr.2016.150",
    "Adeyemi, T. Microfinance and rural household resilience. Development Policy Review Online. "
    "https://doi.org/10.5555/dpro.2023.041",
)
_SENTENCE_END = re.compile(r"(?<=[\w)\]%])\.(?=\s|$)")


def _body_markers(doc: Document) -> list[CitationToken]:
    """The numbered citation markers of the body's prose."""
    return [t for t in scan_citations(prose_lines("\n\n".join(doc.body))) if t.kind == "marker"]


def _highest_reference(doc: Document) -> int:
    """The highest reference number the report uses, so fake references are numbered after the real ones."""
    numbers = [n for t in _body_markers(doc) for n in t.refs]
    for block in doc.references:
        # spacing within the line: a leading \s* ran on over the blank lines of a fenced block (quadratic)
        numbers += [int(n) for n in re.findall(r"^[^\S\n]*\[(\d{1,4})\]", block, re.MULTILINE)]
    return max(numbers, default=0)


def fake_citation_variants(text: str, count: int, seed: int) -> list[Variant]:
    """Unrelated references added to the list (or a new References section) and cited after seeded sentence ends."""
    doc = Document.parse(text)
    ends = []
    for i, block in enumerate(doc.body):
        if is_prose(block):
            ends += [doc.offsets[i] + m.start() for m in _SENTENCE_END.finditer(block)]
    if not ends:
        return []
    first = _highest_reference(doc) + 1
    cited = len(_body_markers(doc))
    variants = []
    for k in range(count):
        rng = rng_for(seed, "fake-citations", k)
        fakes = rng.sample(FAKE_REFERENCES, min(len(FAKE_REFERENCES), max(2, min(6, math.ceil(first / 2)))))
        numbers = list(range(first, first + len(fakes)))
        places = sorted(rng.sample(ends, min(len(ends), max(len(fakes), min(2 * len(fakes), cited or 2)))))
        insertions = []
        for j, offset in enumerate(places):
            number = numbers[j % len(numbers)]
            glued = doc.text[offset - 1] == "]"
            insertions.append((offset, f"[{number}]" if glued else f" [{number}]"))
        entries = "\n".join(f"[{n}] {ref}" for n, ref in zip(numbers, fakes))
        if doc.references:
            insertions.append((len(doc.text) - 1, "\n" + entries))
        else:
            insertions.append((len(doc.text) - 1, "\n\n## References\n\n" + entries))
        variants.append(
            Variant(
                "fake-citations",
                f"fake-{k + 1}",
                f"{len(fakes)} unrelated references added, cited {len(places)} times",
                apply_insertions(doc.text, insertions),
                insertions=tuple(insertions),
            )
        )
    return variants
