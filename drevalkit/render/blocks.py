"""A parsed report's inline blocks as plain text, each character traced back to the token it came from.

Sentences to highlight and citations to link are found in the text a reader sees, not in the markdown source
(emphasis, links and code spans split one sentence over many tokens); the markup dreval adds is then put into the
tokens those characters came from as ``Edit``s. Reading the blocks also finds the References section, whose
entries get anchors for the citation markers to link to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from markdown_it.token import Token

_REFERENCES_TITLE = re.compile(
    r"^\s*(?:references|sources|bibliography|works cited|citations|reference list|notes and references|footnotes)"
    r"\s*(?::\s*)?$",  # not \s*:?\s*: quadratic in a run of spaces
    re.IGNORECASE,
)


def alnum(text: str) -> tuple[str, list[int]]:
    """``text`` lower-cased, letters and digits only, and the index in ``text`` of each kept character."""
    kept, where = [], []
    for index, char in enumerate(text):
        if char.isalnum():
            kept.append(char.lower())
            where.append(index)
    return "".join(kept), where


@dataclass
class Block:
    """The inline children of one block as one plain string, and where each character came from."""

    token: Token
    plain: str
    origin: list[tuple[int, int]]  # per plain character: (child index, offset in the child's content)
    in_link: list[bool]  # per child: inside a link
    cell_row: int | None = None  # table body row number, for cells
    references: bool = False  # in the References section
    alnum: str = ""
    alnum_at: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, token: Token, cell_row: int | None = None) -> Block:
        plain: list[str] = []
        origin: list[tuple[int, int]] = []
        in_link: list[bool] = []
        depth = 0
        for number, child in enumerate(token.children or []):
            if child.type == "link_open":
                depth += 1
            elif child.type == "link_close":
                depth = max(0, depth - 1)
            in_link.append(depth > 0 or child.type == "link_close")
            if child.type in ("text", "code_inline"):
                plain.append(child.content)
                origin.extend((number, offset) for offset in range(len(child.content)))
            elif child.type in ("softbreak", "hardbreak"):
                plain.append(" ")
                origin.append((number, -1))
        block = cls(token, "".join(plain), origin, in_link, cell_row)
        block.alnum, block.alnum_at = alnum(block.plain)
        return block


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


def inline_blocks(tokens: list[Token]) -> tuple[list[Block], dict[int, int], set[int]]:
    """Every inline block, the anchor for each References entry (child index offset 0 ones are recorded on the
    block), and the numbers that have one. Headings are moved two levels down (the page has its own h1 and h2)."""
    blocks: list[Block] = []
    entry_items: dict[int, int] = {}  # block index -> reference number from a numbered list item
    anchors: set[int] = set()
    in_references = False
    references_level = 0
    row = -1
    in_body = False
    pending_item: int | None = None
    for index, token in enumerate(tokens):
        if token.type in ("heading_open", "heading_close"):
            level = int(token.tag[1])
            token.tag = f"h{min(6, level + 2)}"
            if token.type == "heading_open":
                title = tokens[index + 1].content if index + 1 < len(tokens) else ""
                if _REFERENCES_TITLE.match(re.sub(r"[*_#]", "", title)):
                    in_references, references_level = True, level
                elif in_references and level <= references_level:
                    in_references = False
        elif token.type == "tbody_open":
            in_body = True
        elif token.type == "tbody_close":
            in_body = False
        elif token.type == "tr_open" and in_body:
            row += 1
        elif token.type == "list_item_open" and in_references and token.info.isdigit():
            pending_item = int(token.info)
        elif token.type == "inline":
            block = Block.of(token, row if in_body else None)
            if not in_references and _REFERENCES_TITLE.match(re.sub(r"[*_]", "", token.content)):
                in_references, references_level = True, 7  # a bold "References" line: to the next heading
            if pending_item is not None and 0 < pending_item <= 999:
                entry_items[len(blocks)] = pending_item
                anchors.add(pending_item)
            pending_item = None
            block.references = in_references
            blocks.append(block)
    return blocks, entry_items, anchors
