"""Probes that change the report's prose or form and leave its claims alone: ``pad`` (length bias), ``trim-style``
(format bias), ``shuffle`` (position bias), and ``null-report``, which keeps only the form."""

from __future__ import annotations

import bisect
import math
import random
import re
from itertools import permutations

from ...citations import MD_LINK
from .document import Document, apply_insertions, blocks_of, heading_level, is_prose, join_blocks, normalise
from .spec import Variant, rng_for

# ------------------------------------------------------------------------------------------------------- pad

FILLER = (
    "Readers often find it helpful to pause at this point and consider how the pieces fit together.",
    "Any account of this kind is shaped by choices about what to include and what to leave out.",
    "The paragraphs that follow continue in the same spirit, with attention to clarity and balance.",
    "Terminology varies between communities, and the same word can carry different shades of meaning.",
    "Good briefing documents tend to favour plain language over jargon wherever they can.",
    "What looks significant from one vantage point may appear routine from another.",
    "As with any complex subject, there is more that could be said than space allows.",
    "Careful documentation makes later review considerably easier for everyone involved.",
    "The structure of this document follows a conventional pattern that readers will recognise.",
    "Where sources differ in emphasis, it is usually wise to look for the broad consensus.",
    "History offers many examples of undertakings whose significance became clear only in hindsight.",
    "Well-organised information is easier to act upon than information scattered across many places.",
    "It is natural for a reader to want both the big picture and the supporting detail.",
    "Summaries are useful, but they inevitably smooth over some of the texture of events.",
    "People who come to a subject for the first time often benefit from a little orientation.",
    "A measured tone tends to serve readers better than enthusiasm or alarm.",
    "Many questions in public life have no single correct answer, only better and worse trade-offs.",
    "The value of a good overview lies partly in what it allows the reader to skip.",
    "Experience suggests that clear definitions prevent many misunderstandings later on.",
    "Reading widely is one of the best ways to develop sound judgement on any topic.",
    "Institutions, like people, learn from their experience, though not always quickly.",
    "Communication between specialists and generalists is a skill in its own right.",
    "It can be instructive to ask how the same story would be told from another perspective.",
    "Clarity of purpose is often the first casualty of a long and complicated undertaking.",
)


def _filler_paragraph(rng: random.Random) -> str:
    return " ".join(rng.sample(FILLER, rng.randint(3, 5)))


def pad_variants(text: str, count: int, seed: int, ratio: float = 0.4) -> list[Variant]:
    """Filler paragraphs after prose blocks chosen with the seed (never the first block), about ``ratio`` more words."""
    doc = Document.parse(text)
    points = [i for i, block in enumerate(doc.body) if i > 0 and is_prose(block)]
    if not points:
        return []
    variants = []
    for k in range(count):
        rng = rng_for(seed, "pad", k)
        wanted = max(1, math.ceil(ratio * doc.words() / 70))
        chosen = sorted(rng.sample(points, min(wanted, len(points))))
        insertions = [(doc.block_end(i), "\n\n" + _filler_paragraph(rng)) for i in chosen]
        added = sum(len(piece.split()) for _, piece in insertions)
        variants.append(
            Variant(
                "pad",
                f"pad-{k + 1}",
                f"{len(insertions)} filler paragraphs, {added} words added to {doc.words()}",
                apply_insertions(doc.text, insertions),
                insertions=tuple(insertions),
            )
        )
    return variants


# ------------------------------------------------------------------------------------------------ trim-style

_BOLD_OPEN = re.compile(r"(\*\*|__)(?=\S)")
_BOLD_CLOSE = re.compile(r"(?<=\S)(?=(\*\*|__))")
_ITALIC_STAR = re.compile(r"(?<![\w*\\])\*(?=[^\s*])([^*\n]+?)(?<=[^\s*])\*(?![\w*])")
_ITALIC_UNDERSCORE = re.compile(r"(?<![\w\\])_(?=[^\s_])([^_\n]+?)(?<=[^\s_])_(?!\w)")
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
# each run of spaces has one way to match (not \s*\|?\s*: quadratic in a line's leading or trailing spaces)
_TABLE_RULE = re.compile(r"^\s*(?:\|\s*)?:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*(?:\|\s*)?$")
_RULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")


def _unbold(line: str) -> str:
    r"""``**x**`` and ``__x__`` as ``x`` in one line, as ``(\*\*|__)(?=\S)(.+?)(?<=\S)\1`` would: a span ends at the
    first closing delimiter after a non-space. Closers are looked up, not scanned for: that pattern scanned the rest
    of the line from every opening without a closer (quadratic in a run of `` **x``)."""
    closers: dict[str, list[int]] = {"**": [], "__": []}
    for match in _BOLD_CLOSE.finditer(line):
        closers[match.group(1)].append(match.start())
    out, position, at = [], 0, 0
    while (opening := _BOLD_OPEN.search(line, at)) is not None:
        start, found = opening.start(), closers[opening.group(1)]
        index = bisect.bisect_left(found, start + 3)  # the span holds a character at least
        if index == len(found):
            at = start + 1
            continue
        out += [line[position:start], line[start + 2 : found[index]]]
        position = at = found[index] + 2
    out.append(line[position:])
    return "".join(out)


def _plain_emphasis(line: str) -> str:
    line = _unbold(line)
    line = _ITALIC_STAR.sub(r"\1", line)
    line = _ITALIC_UNDERSCORE.sub(r"\1", line)
    return _CODE_SPAN.sub(r"\1", line)


def _plain_line(line: str) -> str | None:
    """A line with every markdown construct removed (None: the line was only markup)."""
    if _TABLE_RULE.match(line) or _RULE.match(line):
        return None
    line = re.sub(r"^\s*>\s?", "", line)
    line = re.sub(r"^\s*[-*+]\s+", "", line)
    stripped = line.strip()
    if stripped.startswith("|"):
        cells = [c.strip() for c in stripped.strip("|").split("|")]
        line = "; ".join(c for c in cells if c)
    return MD_LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", line)


def trim_style(text: str, level: int) -> str:
    """Level 1: emphasis and code spans; 2: also heading marks; 3: also list bullets, tables, links, quotes and
    rules. Words (and citation markers) stay where they were."""
    out = []
    for block in blocks_of(normalise(text)):
        if block.lstrip().startswith(("```", "~~~")):
            out.append(block)
            continue
        lines = []
        for line in block.split("\n"):
            line = _plain_emphasis(line)
            if level >= 2:
                line = re.sub(r"^#{1,6}\s+", "", line)
            if level >= 3:
                plain = _plain_line(line)
                if plain is None:
                    continue
                line = plain
            lines.append(line.rstrip())
        if any(lines):
            out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


def trim_variants(text: str) -> list[Variant]:
    """One variant per level of ``trim_style`` that changes the text and differs from the levels before it."""
    original = normalise(text)
    notes = {
        1: "emphasis and code spans removed",
        2: "emphasis, code spans and heading marks removed",
        3: "all markdown removed (emphasis, headings, list bullets, tables, links, quotes, rules)",
    }
    variants: list[Variant] = []
    for level, note in notes.items():
        trimmed = trim_style(original, level)
        if trimmed != original and all(trimmed != v.text for v in variants):
            variants.append(Variant("trim-style", f"trim-{['emphasis', 'headings', 'all'][level - 1]}", note, trimmed))
    return variants


# --------------------------------------------------------------------------------------------------- shuffle

_CLOSING = re.compile(
    r"\b(conclusions?|summary|lessons?|recommendations?|outlook|takeaways?|closing|final "
    r"thoughts|next steps|references|sources|bibliography)\b",
    re.IGNORECASE,
)


def _movable(sections: list[list[str]]) -> tuple[list[list[str]], list[list[str]]]:
    """Sections that may be reordered, and the closing ones that stay at the end in their order."""
    end = len(sections)
    while end > 0 and _CLOSING.search(sections[end - 1][0]):
        end -= 1
    return sections[:end], sections[end:]


def shuffle_variants(text: str, count: int, seed: int) -> list[Variant]:
    """Distinct orders of the movable sections (every one of them when there are few), the closing ones kept last."""
    doc = Document.parse(text)
    preamble, sections = doc.sections()
    movable, fixed = _movable(sections)
    n = len(movable)
    if n < 2:
        return []
    rng = rng_for(seed, "shuffle")
    identity = tuple(range(n))
    orders: list[tuple[int, ...]] = []
    if math.factorial(n) - 1 <= count:
        orders = [p for p in permutations(identity) if p != identity]
    else:
        while len(orders) < count:
            shuffled = list(identity)
            rng.shuffle(shuffled)
            if tuple(shuffled) != identity and tuple(shuffled) not in orders:
                orders.append(tuple(shuffled))
    variants = []
    for k, order in enumerate(orders[:count]):
        body = preamble + [b for i in order for b in movable[i]] + [b for s in fixed for b in s]
        variants.append(
            Variant(
                "shuffle",
                f"shuffle-{k + 1}",
                f"sections in the order {[i + 1 for i in order]} (of {n} movable; {len(fixed)} closing kept last)",
                join_blocks(body, doc.references),
                order=order,
            )
        )
    return variants


# ----------------------------------------------------------------------------------------------- null-report

NULL_SENTENCES = (
    "This section reviews the main developments and explains why they matter.",
    "The evidence points to a complex picture in which several factors interact.",
    "Progress in some areas has been offset by setbacks in others, and the overall trend is mixed.",
    "Stakeholders have taken different positions, reflecting their priorities and constraints.",
    "A careful reading of the available sources suggests that caution is warranted before drawing firm conclusions.",
    "Costs, timelines and outcomes all deserve attention, as each shapes how the effort is judged.",
    "Experts broadly agree that the issues are significant, although they differ on the details.",
    "Comparisons with earlier efforts are instructive, but the differences matter as much as the similarities.",
    "Looking ahead, the key questions concern sustainability, accountability and long-term value.",
    "Decision-makers should weigh the benefits against the risks and plan for uncertainty.",
    "The lessons of this case apply well beyond its immediate context.",
    "Overall, the record is one of ambition, difficulty and eventual achievement.",
    "Several developments stand out as especially important for understanding the current position.",
    "The available information allows a balanced assessment of both strengths and weaknesses.",
    "Each of these points has implications for planning, oversight and communication.",
    "It is important to distinguish what is well established from what remains uncertain.",
    "The main actors involved have each contributed in distinctive ways.",
    "These considerations suggest a cautious but constructive approach.",
)
NULL_HEADINGS = ("## Overview", "## Key developments", "## Analysis", "## Implications", "## Conclusion")


def null_report(text: str, seed: int, k: int = 0) -> str:
    """A fluent report that answers nothing: the original's title and section headings (or generic ones), each
    followed by generic sentences, with no figures, names or citations of its own."""
    doc = Document.parse(text)
    rng = rng_for(seed, "null-report", k)
    title = doc.body[0] if doc.body and heading_level(doc.body[0]) == 1 else "# Research report"
    headings = [b for b in doc.body[1:] if heading_level(b)] or list(NULL_HEADINGS)

    def paragraph() -> str:
        return " ".join(rng.sample(NULL_SENTENCES, rng.randint(3, 4)))

    blocks = [title, paragraph()]
    for heading in headings:
        blocks += [heading, paragraph()]
        if rng.random() < 0.5:
            blocks.append(paragraph())
    return "\n\n".join(blocks) + "\n"


def null_variants(text: str, count: int, seed: int) -> list[Variant]:
    """``count`` null reports, each with its own seeded sentences."""
    return [
        Variant("null-report", f"null-{k + 1}", "generic text under the report's headings", null_report(text, seed, k))
        for k in range(count)
    ]
