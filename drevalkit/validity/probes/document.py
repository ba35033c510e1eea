"""The report as the probes see it: normalised blocks, its sections and References, and reversible edits.

Every probe starts from ``normalise``d text, so the original judged beside the variants differs from them only by
the perturbation; probes that only add text record their insertions (``apply_insertions``) so ``undo`` gives the
original back exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...citations import prose_lines, scan_citations, split_references
from .spec import Variant

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+\S")


def blocks_of(text: str) -> list[str]:
    """The blocks of a markdown text: runs of non-blank lines (a fenced code block is one block, blank lines and
    all), trailing spaces removed."""
    blocks: list[str] = []
    current: list[str] = []
    in_code = False
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = line.rstrip()
        if _FENCE.match(line):
            in_code = not in_code
        if not line and not in_code:
            if current:
                blocks.append("\n".join(current))
                current = []
            continue
        current.append(line)
    if current:
        blocks.append("\n".join(current))
    return blocks


def normalise(text: str) -> str:
    """The text every probe starts from: its blocks separated by one blank line, ending with one newline."""
    return "\n\n".join(blocks_of(text)) + "\n"


def heading_level(block: str) -> int:
    match = _HEADING.match(block)
    return len(match.group(1)) if match and "\n" not in block else 0


def is_prose(block: str) -> bool:
    """A paragraph or a list: text a sentence can be added to (not a heading, table, code or a definition)."""
    first = block.lstrip()
    return bool(first) and not heading_level(block) and not first.startswith(("|", "```", "~~~", "<", "[^"))


@dataclass
class Document:
    """A normalised report: body blocks and the References section (its own blocks), with each block's offset."""

    text: str
    body: list[str]
    references: list[str]
    offsets: list[int] = field(default_factory=list)  # of every block, body then references

    @classmethod
    def parse(cls, text: str) -> Document:
        text = normalise(text)
        body_text, refs_text = split_references(text)
        body, references = blocks_of(body_text), blocks_of(refs_text)
        offsets, position = [], 0
        for block in body + references:
            offsets.append(position)
            position += len(block) + 2
        return cls(text, body, references, offsets)

    def block_end(self, index: int) -> int:
        """Offset just after body block ``index`` (where a new block can be inserted with a leading blank line)."""
        return self.offsets[index] + len(self.body[index])

    @property
    def body_end(self) -> int:
        return self.block_end(len(self.body) - 1) if self.body else 0

    def words(self) -> int:
        return sum(len(b.split()) for b in self.body)

    def sections(self) -> tuple[list[str], list[list[str]]]:
        """(preamble blocks, sections): a section is a heading of the top level below the title and every block up
        to the next heading of that level or higher."""
        levels = [heading_level(b) for b in self.body]
        below_title = [lv for i, lv in enumerate(levels) if lv and not (i == 0 and lv == 1)]
        if not below_title:
            return list(self.body), []
        top = min(below_title)
        starts = [i for i, lv in enumerate(levels) if lv and lv <= top and not (i == 0 and lv == 1)]
        preamble = self.body[: starts[0]]
        sections = [self.body[s:e] for s, e in zip(starts, starts[1:] + [len(self.body)])]
        return preamble, sections


def apply_insertions(text: str, insertions: list[tuple[int, str]]) -> str:
    """``text`` with each ``(offset, piece)`` inserted (offsets into ``text``; equal offsets keep their order)."""
    out, position = [], 0
    for offset, piece in sorted(insertions, key=lambda item: item[0]):
        out.append(text[position:offset])
        out.append(piece)
        position = offset
    out.append(text[position:])
    return "".join(out)


def remove_insertions(text: str, insertions: tuple[tuple[int, str], ...] | list[tuple[int, str]]) -> str:
    """The inverse of ``apply_insertions``: ``text`` with the inserted pieces cut out again."""
    out, position, shift = [], 0, 0
    for offset, piece in sorted(insertions, key=lambda item: item[0]):
        start = offset + shift
        if text[start : start + len(piece)] != piece:
            raise ValueError("the text does not hold the recorded insertion")
        out.append(text[position:start])
        position = start + len(piece)
        shift += len(piece)
    out.append(text[position:])
    return "".join(out)


def undo(variant: Variant, original: str) -> str | None:
    """The original text back from a reversible variant (None for a probe that removes or replaces content)."""
    if variant.text is None:
        return original
    if variant.insertions:
        return remove_insertions(variant.text, variant.insertions)
    if variant.order:
        doc = Document.parse(variant.text)
        preamble, sections = doc.sections()
        movable, fixed = sections[: len(variant.order)], sections[len(variant.order) :]
        by_index = {index: movable[position] for position, index in enumerate(variant.order)}
        restored = [by_index[index] for index in range(len(variant.order))]
        return join_blocks(preamble + [b for s in [*restored, *fixed] for b in s], doc.references)
    return None


def join_blocks(body: list[str], references: list[str]) -> str:
    """Blocks back into normalised text (the inverse of ``Document.parse``)."""
    return "\n\n".join(body + references) + "\n"


def marker_spans(body: str) -> list[tuple[int, int]]:
    """Spans of the numbered citation markers of ``body``, with the spaces before each."""
    spans = []
    for token in scan_citations(prose_lines(body)):
        if token.kind != "marker":
            continue
        start = token.start
        while start > 0 and body[start - 1] in " \t":
            start -= 1
        spans.append((start, token.end))
    return spans


def cut_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` without the given (start, end) spans, e.g. those of ``marker_spans``."""
    out, position = [], 0
    for start, end in sorted(spans):
        out.append(text[position:start])
        position = end
    out.append(text[position:])
    return "".join(out)
