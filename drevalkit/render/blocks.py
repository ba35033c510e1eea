"""A parsed report's inline blocks as plain text, each character traced back to the token it came from.

Sentences to highlight and citations to link are found in the text a reader sees, not in the markdown source
(emphasis, links and code spans split one sentence over many tokens); the markup dreval adds is then put into the
tokens those characters came from as ``Edit``s. Reading the blocks also marks the References section, whose
entries get anchors for the citation markers to link to: it starts at the line where the fact-check's citation parse
(``citations.split_references``) starts it, so a page resolves exactly the markers the fact-check does, also when a
plain ``References`` line runs straight into its entries in one paragraph.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from markdown_it.token import Token


def alnum(text: str) -> tuple[str, list[int]]:
    """``text`` lower-cased, letters and digits only, and the index in ``text`` of each kept character."""
    kept, where = [], []
    for index, char in enumerate(text):
        if char.isalnum():
            kept.append(char.lower())
            where.append(index)
    joined = "".join(kept)
    if len(joined) != len(where):  # a letter whose lower case is longer ("İ" is "i̇"): each of its places again
        where = [index for index, char in enumerate(text) if char.isalnum() for _ in char.lower()]
    return joined, where


# children shown whole, as written: a code span, a formula (never split by a highlight, never read for citations)
WHOLE = ("code_inline", "math_inline")


@dataclass
class Block:
    """The inline children of one block as one plain string, and where each character came from."""

    token: Token
    plain: str
    # (plain offset, child index, length) of each child whose content is in ``plain``, in order (a line break is a
    # space of no child's)
    spans: list[tuple[int, int, int]]
    in_link: list[bool]  # per child: inside a link
    cell_row: int | None = None  # table body row number, for cells
    # the line of the block (counted in line breaks) where the References section starts; None: not in it
    references: int | None = None
    alnum: str = ""
    alnum_at: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, token: Token, cell_row: int | None = None) -> Block:
        plain: list[str] = []
        spans: list[tuple[int, int, int]] = []
        in_link: list[bool] = []
        depth = size = 0
        for number, child in enumerate(token.children or []):
            if child.type == "link_open":
                depth += 1
            elif child.type == "link_close":
                depth = max(0, depth - 1)
            in_link.append(depth > 0 or child.type == "link_close")
            if child.type == "text" or child.type in WHOLE:
                plain.append(child.content)
                spans.append((size, number, len(child.content)))
                size += len(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                plain.append(" ")
                size += 1
        block = cls(token, "".join(plain), spans, in_link, cell_row)
        block.alnum, block.alnum_at = alnum(block.plain)
        return block

    def children_in(self, start: int, end: int) -> list[tuple[int, int, int]]:
        """(child, start, end) in each child's content of the plain range ``[start, end)``."""
        found = []
        at = max(0, bisect.bisect_right(self.spans, start, key=lambda span: span[0]) - 1)
        for begin, child, length in self.spans[at:]:
            if begin >= end:
                break
            a, b = max(start, begin), min(end, begin + length)
            if a < b:
                found.append((child, a - begin, b - begin))
        return found


@dataclass
class Edit:
    """Markup to put into one child: around ``[start, end)`` of its content (a highlight) or replacing it."""

    start: int
    end: int
    kind: str  # "mark", "marker", "url", "entry"
    value: object = None


Edits = dict[int, dict[int, list[Edit]]]  # block index -> child index -> its edits


def add_edit(edits: Edits, block: int, child: int, edit: Edit) -> None:
    edits.setdefault(block, {}).setdefault(child, []).append(edit)


def _references_from(token: Token, references_line: int | None) -> int | None:
    """Where in ``token``'s lines the References section starts (0: it is all in it), None when it is not."""
    if references_line is None or token.map is None or token.map[1] <= references_line:
        return None
    return max(0, references_line - token.map[0])


def inline_blocks(tokens: list[Token], references_line: int | None) -> tuple[list[Block], dict[int, int], set[int]]:
    """Every inline block, the anchor for each numbered list item of the References section (which starts at line
    ``references_line`` of the source, None: the report has none), and the numbers that have one. In the section
    every line break is kept, so each entry stands on its own line. Headings are moved two levels down (the page
    has its own h1 and h2)."""
    blocks: list[Block] = []
    entry_items: dict[int, int] = {}  # block index -> reference number from a numbered list item
    anchors: set[int] = set()
    row = -1
    in_body = False
    pending_item: int | None = None
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1]) + 2)}"
        elif token.type == "tbody_open":
            in_body = True
        elif token.type == "tbody_close":
            in_body = False
        elif token.type == "tr_open" and in_body:
            row += 1
        elif token.type == "list_item_open" and token.info.isdigit():
            if _references_from(token, references_line) == 0:
                pending_item = int(token.info)
        elif token.type == "inline":
            block = Block.of(token, row if in_body else None)
            block.references = _references_from(token, references_line)
            if pending_item is not None and 0 < pending_item <= 999 and pending_item not in anchors:
                entry_items[len(blocks)] = pending_item
                anchors.add(pending_item)
            pending_item = None
            if block.references is not None:
                _keep_line_breaks(block)
            blocks.append(block)
    return blocks, entry_items, anchors


def _keep_line_breaks(block: Block) -> None:
    """Line breaks from the line before the References section on become hard breaks (one entry a line)."""
    assert block.references is not None
    line = 0
    for child in block.token.children or []:
        if child.type == "softbreak":
            if line >= block.references - 1:
                child.type, child.tag = "hardbreak", "br"
            line += 1
        elif child.type == "hardbreak":
            line += 1
