"""Figures in text (amounts of money, percentages, years, plain numbers with their scale words) and a check that
the figures of a claim agree with those of the evidence it was judged on.

Small judges often call a claim "right" while the passage they quote gives another figure (the demo's planted
"US$6 billion" against a source saying US$8 billion). The check is deliberately narrow: a claim figure is a
mismatch only when the quote has figures of the same kind and none of them is (within rounding) the same value.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_SCALES = {
    "thousand": 1e3,
    "k": 1e3,
    "million": 1e6,
    "mn": 1e6,
    "m": 1e6,
    "mio": 1e6,
    "billion": 1e9,
    "bn": 1e9,
    "b": 1e9,
    "trillion": 1e12,
    "tn": 1e12,
}
_WORD_SCALES = ("thousand", "million", "billion", "trillion")  # meaningful without a currency; k/m/bn need one
_FIGURE = re.compile(
    # the lookahead: a figure starts at a digit or a currency's first character; other positions are passed over
    # at the cost of one character test, not a try of every currency (half the time of a scan)
    r"(?=[\d$€£¥UACEG])"
    r"(?P<cur>US\$|USD\s?|A\$|C\$|\$|€|£|¥|EUR\s?|GBP\s?)?"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?:\s?(?P<scale>thousand|million|billion|trillion|mn|bn|tn|mio|[kmb])\b)?"
    r"(?:\s?(?P<pct>%|percent\b|per\s?cent\b|percentage points?\b))?"
    r"(?:\s?(?P<cur2>dollars|euros|pounds|yen|USD|EUR|GBP)\b)?",
    re.IGNORECASE,
)
REL_TOLERANCE = 0.015  # rounding: "US$9.7 billion" may be written "US$9.70 billion", not "US$10 billion"
HEDGED_TOLERANCE = 0.10  # "about US$10 billion" agrees with US$9.7 billion
_HEDGE = re.compile(
    r"(?:about|around|approximately|approx\.?|roughly|nearly|almost|some|over|more than|less than|"
    r"under|up to|at least|at most|close to|~|≈)\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Figure:
    value: float
    kind: str  # money | percent | year | number
    text: str
    hedged: bool = False  # "about", "nearly", "more than" ... before it


def figures(text: str) -> list[Figure]:
    found = []
    text = unicodedata.normalize("NFKC", text)
    for match in _FIGURE.finditer(text):
        raw = match.group("num")
        if match.start() > 0 and (text[match.start() - 1].isalnum() or text[match.start() - 1] in "_/"):
            continue  # part of an identifier or a path (A320, v2, 3/4 handled as separate figures is fine)
        value = float(raw.replace(",", ""))
        scale = (match.group("scale") or "").lower()
        money = bool(match.group("cur") or match.group("cur2"))
        if scale and (money or scale in _WORD_SCALES):
            value *= _SCALES[scale]
        if match.group("pct"):
            kind = "percent"
        elif money:
            kind = "money"
        elif not scale and "," not in raw and "." not in raw and 1000 <= value <= 2100:
            kind = "year"
        else:
            kind = "number"
        hedged = bool(_HEDGE.search(text[max(0, match.start() - 20) : match.start()]))
        found.append(Figure(value, kind, match.group(0).strip(), hedged))
    return found


def _same(a: float, b: float, tolerance: float) -> bool:
    return abs(a - b) <= tolerance * max(abs(a), abs(b))


def mismatches(claim: str, evidence: str) -> list[tuple[Figure, list[Figure]]]:
    """Figures of ``claim`` that the evidence contradicts: it has figures of that kind, none of them the same."""
    theirs: dict[str, list[Figure]] = {}
    for figure in figures(evidence):
        theirs.setdefault(figure.kind, []).append(figure)
    problems = []
    for mine in figures(claim):
        others = theirs.get(mine.kind, [])
        # a year is a label, not a quantity: 2021 and 2024 differ, however close in ratio
        tolerance = 0.0 if mine.kind == "year" else HEDGED_TOLERANCE if mine.hedged else REL_TOLERANCE
        if others and not any(_same(mine.value, other.value, tolerance) for other in others):
            problems.append((mine, others))
    return problems


def describe(problems: list[tuple[Figure, list[Figure]]]) -> str:
    parts = [
        f"the claim says {mine.text!r} but the quoted evidence says " + " / ".join(repr(o.text) for o in others[:3])
        for mine, others in problems
    ]
    return "; ".join(parts)
