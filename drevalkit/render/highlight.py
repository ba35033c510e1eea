"""Checked claims marked in the report: each claim's sentence is found in the rendered text (compared on letters
and digits, so emphasis, links and typography do not hide it), wrapped in ``<mark>`` coloured by its most telling
verdict, and followed by links to its rows in the claim table. A sentence split over the cells of a table row is
marked in every cell."""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from .blocks import WHOLE, Block, Edit, Edits, add_edit, alnum

VERDICT_ORDER = ("wrong", "unknown", "failed", "right", "none")  # the most telling verdict colours a shared sentence
VERDICT_MARK = {"right": "✓", "wrong": "✗", "unknown": "?", "failed": "!", "none": "·"}


@dataclass
class Highlight:
    """One sentence of the report to mark: the claims checked from it (numbered as in the claim table)."""

    sentence: str
    claims: list[tuple[int, str]]  # (claim number, verdict label)

    @property
    def verdict(self) -> str:
        labels = {label for _, label in self.claims}
        return next(v for v in VERDICT_ORDER if v in labels or v == "none")


class Mark(NamedTuple):
    """The value of a highlight's ``Edit`` (kind ``"mark"``): one piece of a claim's sentence."""

    highlight: Highlight
    first: bool  # the sentence's first piece, which carries the anchor ``#s-<claim>``
    tags: bool  # the claim's links go right after this piece


def highlight_sentences(
    blocks: list[Block], highlights: Iterable[Highlight], edits: Edits
) -> tuple[set[int], dict[int, dict[int, list[Highlight]]]]:
    """Mark edits for each claim sentence, in the first block holding it (table rows as a whole when the cells are
    in it); returns the claim numbers marked, and per block and child the claims whose links go after that child
    (where a sentence ends in a link or code span)."""
    highlighted: set[int] = set()
    after: dict[int, dict[int, list[Highlight]]] = {}
    taken: dict[int, list[tuple[int, int]]] = {}
    for hl in highlights:
        spans = _locate(blocks, hl.sentence, taken)
        if not spans:
            continue
        highlighted.update(n for n, _ in hl.claims)
        for piece_number, (block_index, start, end) in enumerate(spans):
            taken.setdefault(block_index, []).append((start, end))
            block = blocks[block_index]
            children = block.token.children or []
            pieces = _pieces(block, start, end, edits.get(block_index, {}))
            last_span = piece_number == len(spans) - 1
            for number, (child, a, b) in enumerate(pieces):
                last = last_span and number == len(pieces) - 1
                tags_here = last and not block.in_link[child] and children[child].type == "text"
                add_edit(
                    edits,
                    block_index,
                    child,
                    Edit(a, b, "mark", Mark(hl, piece_number == 0 and number == 0, tags_here)),
                )
                if last and not tags_here:
                    while child + 1 < len(block.in_link) and block.in_link[child + 1]:
                        child += 1  # after the link the sentence ends in, not inside it
                    after.setdefault(block_index, {}).setdefault(child, []).append(hl)
    return highlighted, after


def mark_open(hl: Highlight, first: bool) -> str:
    """The ``<mark>`` opening one piece of a claim's sentence; the first piece carries the anchor ``#s-<claim>``."""
    ident = f' id="s-{hl.claims[0][0]}"' if first else ""
    title = html.escape("claim " + ", ".join(f"{n}: {label}" for n, label in hl.claims), quote=True)
    return f'<mark class="hl v-{hl.verdict}"{ident} title="{title}">'


def claim_tags(hl: Highlight) -> str:
    """Links after a marked sentence to its claims' rows in the claim table, each with its verdict's sign."""
    links = "".join(
        f'<a class="claim-tag v-{label}" href="#claim-{n}" title="claim {n}: {label} (see the claim table)">'
        f"{VERDICT_MARK.get(label, '·')}{n}</a>"
        for n, label in hl.claims
    )
    return f'<sup class="claim-tags">{links}</sup>'


def _find_in(block: Block, key: str, taken: list[tuple[int, int]]) -> tuple[int, int] | None:
    """(start, end) in ``block.plain`` of the sentence whose letters and digits are ``key`` (``alnum``), clear of
    the ``taken`` spans; when the whole does not match (a link rendered differently), its first and last 40 such
    characters, close together."""

    def free(start: int, end: int) -> bool:
        return not any(start < b and a < end for a, b in taken)

    at = block.alnum.find(key)
    while at >= 0:
        span = block.alnum_at[at], block.alnum_at[at + len(key) - 1] + 1
        if free(*span):
            return span
        at = block.alnum.find(key, at + 1)
    if len(key) < 60:
        return None
    head, tail = key[:40], key[-40:]
    start = block.alnum.find(head)
    while start >= 0:
        end = block.alnum.find(tail, start + len(head))
        if end < 0 or end + len(tail) - start > 2 * len(key):
            return None
        span = block.alnum_at[start], block.alnum_at[end + len(tail) - 1] + 1
        if free(*span):
            return span
        start = block.alnum.find(head, start + 1)
    return None


def _locate(blocks: list[Block], sentence: str, taken: dict[int, list[tuple[int, int]]]) -> list[tuple[int, int, int]]:
    """Where ``sentence`` is: [(block, start, end)] in one block, or every cell of one table row, clear of what
    other sentences took."""
    key, _ = alnum(sentence)  # once per sentence, not once per block tried
    for block_index, block in enumerate(blocks if len(key) >= 8 else []):  # too short to find for sure
        if block.cell_row is not None and taken.get(block_index):
            continue
        span = _find_in(block, key, taken.get(block_index, []))
        if span is not None:
            return [(block_index, *span)]
    rows: dict[int, list[int]] = {}
    for block_index, block in enumerate(blocks):
        if block.cell_row is not None:
            rows.setdefault(block.cell_row, []).append(block_index)
    for cells in rows.values():
        texts = [blocks[i].alnum for i in cells]
        filled = [t for t in texts if t]
        if not filled or sum(map(len, filled)) < 0.3 * len(key):
            continue
        at, ok = 0, True
        for cell_text in filled:
            found = key.find(cell_text, at)
            if found < 0:
                ok = False
                break
            at = found + len(cell_text)
        if ok and not any(taken.get(i) for i in cells):
            return [(i, 0, len(blocks[i].plain)) for i in cells if blocks[i].plain.strip()]
    return []


def _pieces(block: Block, start: int, end: int, child_edits: dict[int, list[Edit]]) -> list[tuple[int, int, int]]:
    """The plain range ``[start, end)`` as (child, start, end) pieces of text children (code and formulas whole),
    widened so no marker or URL is cut in two."""
    children = block.token.children or []
    result = []
    for child, a, b in block.children_in(start, end):
        if children[child].type in WHOLE:
            result.append((child, 0, len(children[child].content)))
            continue
        for edit in child_edits.get(child, []):
            if edit.kind == "mark":
                continue
            if edit.start < a < edit.end:
                a = edit.start
            if edit.start < b < edit.end:
                b = edit.end
        result.append((child, a, b))
    return result
