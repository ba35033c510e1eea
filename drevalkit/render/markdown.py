"""A report's markdown as sanitised HTML, with its checked claims highlighted and its citations linked.

Reports are hostile. The text is stripped of control characters first; markdown-it parses it with raw HTML off
(an HTML tag in a report is shown as text, so a report cannot forge a highlight, an anchor or a class) and link
reference definitions off (``[1]: url`` stays visible text, so it cannot turn the ``[1]`` markers into links of its
own); images become plain links. dreval then adds its own markup to the token stream: each checked claim's sentence
is wrapped in ``<mark>`` by verdict, followed by a link to its row in the claim table; citation markers (every style
``drevalkit.citations`` reads) link to their References entry; bare http(s) URLs become links. Finally the
whole fragment goes through ``nh3`` (the ammonia sanitiser) with a closed list of tags, classes and attributes: only
http(s) links and dreval's own in-page anchors survive, and there are no event attributes, styles or scripts.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

from ..citations import scan_citations
from ..text import terminal_safe
from .urls import is_http_url

VERDICT_ORDER = ("wrong", "unknown", "failed", "right", "none")  # the most telling verdict colours a shared sentence
VERDICT_MARK = {"right": "✓", "wrong": "✗", "unknown": "?", "failed": "!", "none": "·"}

_REFERENCES_TITLE = re.compile(
    r"^\s*(?:references|sources|bibliography|works cited|citations|reference list|notes and references|footnotes)"
    r"\s*(?::\s*)?$",  # not \s*:?\s*: quadratic in a run of spaces
    re.IGNORECASE,
)
# a References entry opens its line: [3] ..., [^3]: ..., 3. ... (a numbered list item is read from its token)
_ENTRY_START = re.compile(r"^\s*\[\^?(\d{1,3})\]:?|^\s*(\d{1,3})[.)]\s")
_DIGITS = re.compile(r"(?<![A-Za-z0-9])\d{1,4}(?![0-9])")
_ANCHOR_ID = re.compile(r"(?:s|ref)-\d{1,6}")
_FRAGMENT = re.compile(r"#(?:claim|ref|s)-\d{1,6}")

ALLOWED_TAGS = {
    "p",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "li",
    "blockquote",
    "pre",
    "code",
    "em",
    "strong",
    "s",
    "del",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "hr",
    "br",
    "mark",
    "sup",
    "span",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "mark": {"id", "title"}, "span": {"id", "title"}, "ol": {"start"}}
ALLOWED_CLASSES = {
    "mark": {"hl", *(f"v-{v}" for v in VERDICT_ORDER)},
    "a": {"cite", "claim-tag", "ext", *(f"v-{v}" for v in VERDICT_ORDER)},
    "span": {"ref-entry", "cite", "cite-missing", "image"},
    "sup": {"claim-tags"},
}


@dataclass
class Highlight:
    """One sentence of the report to mark: the claims checked from it (numbered as in the claim table)."""

    sentence: str
    claims: list[tuple[int, str]]  # (claim number, verdict label)

    @property
    def verdict(self) -> str:
        labels = {label for _, label in self.claims}
        return next(v for v in VERDICT_ORDER if v in labels or v == "none")


@dataclass
class RenderedReport:
    html: Markup
    highlighted: set[int] = field(default_factory=set)  # claim numbers whose sentence was found and marked
    references: set[int] = field(default_factory=set)  # reference numbers with an entry anchor (#ref-n)


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.disable("reference")
    md.add_render_rule("image", _render_image)
    return md


def _render_image(self, tokens, idx, options, env):  # type: ignore[no-untyped-def]
    token = tokens[idx]
    alt = html.escape(self.renderInlineAsText(token.children or [], options, env) or "image")
    src = token.attrGet("src") or ""
    if is_http_url(str(src)):
        return f'<a class="ext" href="{html.escape(str(src))}">[image: {alt}]</a>'
    return f'<span class="image">[image: {alt}]</span>'


# ------------------------------------------------------------------------------------------- plain-text mapping


def _alnum(text: str) -> tuple[str, list[int]]:
    """``text`` lower-cased, letters and digits only, and the index in ``text`` of each kept character."""
    kept, where = [], []
    for index, char in enumerate(text):
        if char.isalnum():
            kept.append(char.lower())
            where.append(index)
    return "".join(kept), where


@dataclass
class _Block:
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
    def of(cls, token: Token, cell_row: int | None = None) -> "_Block":
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
        block.alnum, block.alnum_at = _alnum(block.plain)
        return block


def _find(block: _Block, needle: str, taken: list[tuple[int, int]]) -> tuple[int, int] | None:
    """(start, end) in ``block.plain`` of ``needle`` compared on letters and digits, clear of the ``taken`` spans;
    when the whole does not match (a link rendered differently), its first and last 40 such characters, close
    together."""
    key, _ = _alnum(needle)
    if len(key) < 8:
        return None

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


# ----------------------------------------------------------------------------------------------- rewriting


@dataclass
class _Edit:
    """Markup to put into one child: around ``[start, end)`` of its content (a highlight) or replacing it."""

    start: int
    end: int
    kind: str  # "mark", "marker", "url", "entry"
    value: object = None


def _marker_html(refs: tuple[int, ...], text: str, anchors: set[int]) -> str:
    def one(number: int) -> str:
        if number in anchors:
            return f'<a class="cite" href="#ref-{number}">{number}</a>'
        return f'<span class="cite-missing" title="no References entry {number} in the report">{number}</span>'

    runs: list[list[int]] = []
    for number in refs:
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    parts = [f"{one(run[0])}–{one(run[-1])}" if len(run) >= 3 else ", ".join(one(n) for n in run) for run in runs]
    return '<span class="cite">[' + ", ".join(parts) + "]</span>"


def _rewrite_text(content: str, edits: list[_Edit], anchors: set[int]) -> list[Token]:
    """The tokens that replace a text child: its pieces as text, dreval's markup as inline HTML."""
    out: list[Token] = []

    def text(piece: str) -> None:
        if piece:
            token = Token("text", "", 0)
            token.content = piece
            out.append(token)

    def raw(markup: str) -> None:
        token = Token("html_inline", "", 0)
        token.content = markup
        out.append(token)

    # boundaries: highlight opens and closes, and replaced spans (markers, URLs, entry numbers)
    replaced = sorted((e for e in edits if e.kind != "mark"), key=lambda e: e.start)
    marks = [e for e in edits if e.kind == "mark"]
    opens = {e.start: e for e in marks}
    closes = {e.end for e in marks}
    position = 0
    cuts = sorted({0, len(content), *opens, *closes, *(e.start for e in replaced), *(e.end for e in replaced)})
    replacements = {e.start: e for e in replaced}
    skip_to = -1
    for cut in cuts:
        if cut < skip_to:
            continue
        if cut > position:
            text(content[position:cut])
            position = cut
        if cut in closes and cut != 0:
            raw("</mark>")
            for mark in marks:
                if mark.end == cut and mark.value[2]:  # type: ignore[index]
                    out.append(_claim_tags(mark.value[0]))  # type: ignore[index]
        if cut in opens:
            mark = opens[cut]
            hl, first, _ = mark.value  # type: ignore[misc]
            ident = f' id="s-{hl.claims[0][0]}"' if first else ""
            title = html.escape("claim " + ", ".join(f"{n}: {label}" for n, label in hl.claims), quote=True)
            raw(f'<mark class="hl v-{hl.verdict}"{ident} title="{title}">')
        if cut in replacements:
            edit = replacements[cut]
            original = content[edit.start : edit.end]
            if edit.kind == "marker":
                raw(_marker_html(edit.value, original, anchors))  # type: ignore[arg-type]
            elif edit.kind == "url":
                url = str(edit.value)
                rest = original[len(url) :] if original.startswith(url) else ""
                raw(f'<a class="ext" href="{html.escape(url, quote=True)}">{html.escape(url)}</a>')
                text(rest)
            elif edit.kind == "entry":
                raw(f'<span class="ref-entry" id="ref-{edit.value}">{html.escape(original)}</span>')
            position = edit.end
            skip_to = edit.end
            if edit.end in closes and edit.end != edit.start:
                pass  # closed at the next cut
    if position < len(content):
        text(content[position:])
    return out


def _claim_tags(hl: Highlight) -> Token:
    token = Token("html_inline", "", 0)
    links = "".join(
        f'<a class="claim-tag v-{label}" href="#claim-{n}" title="claim {n}: {label} (see the claim table)">'
        f"{VERDICT_MARK.get(label, '·')}{n}</a>"
        for n, label in hl.claims
    )
    token.content = f'<sup class="claim-tags">{links}</sup>'
    return token


def _blocks(tokens: list[Token]) -> tuple[list[_Block], dict[int, int], set[int]]:
    """Every inline block, the anchor for each References entry (child index offset 0 ones are recorded on the
    block), and the numbers that have one. Headings are moved two levels down (the page has its own h1 and h2)."""
    blocks: list[_Block] = []
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
            block = _Block.of(token, row if in_body else None)
            if not in_references and _REFERENCES_TITLE.match(re.sub(r"[*_]", "", token.content)):
                in_references, references_level = True, 7  # a bold "References" line: to the next heading
            if pending_item is not None and 0 < pending_item <= 999:
                entry_items[len(blocks)] = pending_item
                anchors.add(pending_item)
            pending_item = None
            block.references = in_references
            blocks.append(block)
    return blocks, entry_items, anchors


def _entry_edits(block: _Block) -> list[tuple[int, _Edit]]:
    """``[n]`` / ``[^n]:`` / ``n.`` opening a line of a References block (or a definition anywhere)."""
    edits: list[tuple[int, _Edit]] = []
    children = block.token.children or []
    line_start = True
    for number, child in enumerate(children):
        if child.type in ("softbreak", "hardbreak"):
            line_start = True
            continue
        if child.type == "text" and line_start and not block.in_link[number]:
            match = _ENTRY_START.match(child.content)
            if match and (block.references or child.content.lstrip().startswith("[^")):
                value = int(match.group(1) or match.group(2))
                if 0 < value <= 999:
                    span = match.span(1) if match.group(1) else match.span(2)
                    start = child.content.index("[") if match.group(1) else span[0]
                    end = child.content.index("]", span[1]) + 1 if match.group(1) else span[1] + 1
                    edits.append((number, _Edit(start, end, "entry", value)))
        line_start = False
    return edits


def render_markdown(text: str, highlights: Iterable[Highlight] = ()) -> RenderedReport:
    """The report ``text`` as sanitised HTML with ``highlights`` marked and citations linked."""
    md = _parser()
    tokens = md.parse(terminal_safe(text))
    blocks, entry_items, anchors = _blocks(tokens)
    edits: dict[int, dict[int, list[_Edit]]] = {}  # block -> child -> edits

    def add(block_index: int, child: int, edit: _Edit) -> None:
        edits.setdefault(block_index, {}).setdefault(child, []).append(edit)

    # 1. References entries: their numbers get anchors
    for block_index, block in enumerate(blocks):
        for child, edit in _entry_edits(block):
            anchors.add(int(edit.value))  # type: ignore[arg-type]
            add(block_index, child, edit)

    # 2. citation markers and bare URLs in text outside links
    for block_index, block in enumerate(blocks):
        for child_index, child in enumerate(block.token.children or []):
            if child.type != "text" or block.in_link[child_index]:
                continue
            taken = [(e.start, e.end) for e in edits.get(block_index, {}).get(child_index, [])]
            for found in scan_citations(child.content):
                if any(found.start < end and start < found.end for start, end in taken):
                    continue
                if found.kind == "marker" and found.refs:
                    add(block_index, child_index, _Edit(found.start, found.end, "marker", found.refs))
                elif found.kind == "url" and found.urls and is_http_url(found.urls[0]):
                    url = found.urls[0]
                    at = child.content.find(url, found.start)
                    if at >= 0:
                        add(block_index, child_index, _Edit(at, at + len(url), "url", url))

    # 3. claim sentences: the first block holding each one (table rows as a whole when the cells are in it)
    highlighted: set[int] = set()
    after: dict[int, dict[int, list[Highlight]]] = {}  # block -> child index to put the claim links after
    taken: dict[int, list[tuple[int, int]]] = {}
    for hl in highlights:
        spans = _locate(blocks, hl.sentence, taken)
        if not spans:
            continue
        highlighted.update(n for n, _ in hl.claims)
        for piece_number, (block_index, start, end) in enumerate(spans):
            taken.setdefault(block_index, []).append((start, end))
            block = blocks[block_index]
            pieces = _pieces(block, start, end, edits.get(block_index, {}))
            last_span = piece_number == len(spans) - 1
            for number, (child, a, b) in enumerate(pieces):
                last = last_span and number == len(pieces) - 1
                tags_here = last and not block.in_link[child] and block.token.children[child].type == "text"  # type: ignore[index]
                add(block_index, child, _Edit(a, b, "mark", (hl, piece_number == 0 and number == 0, tags_here)))
                if last and not tags_here:
                    while child + 1 < len(block.in_link) and block.in_link[child + 1]:
                        child += 1  # after the link the sentence ends in, not inside it
                    after.setdefault(block_index, {}).setdefault(child, []).append(hl)

    # 4. rewrite the children of every block that has edits
    for block_index, block in enumerate(blocks):
        children = block.token.children or []
        block_edits = edits.get(block_index, {})
        block_after = after.get(block_index, {})
        if not block_edits and not block_after and block_index not in entry_items:
            continue
        rewritten: list[Token] = []
        if block_index in entry_items:
            anchor = Token("html_inline", "", 0)
            anchor.content = f'<span class="ref-entry" id="ref-{entry_items[block_index]}"></span>'
            rewritten.append(anchor)
        for child_index, child in enumerate(children):
            child_edits = block_edits.get(child_index, [])
            if child.type == "text" and child_edits:
                rewritten.extend(_rewrite_text(child.content, child_edits, anchors))
            elif child.type == "code_inline" and child_edits:
                hl, first, _ = child_edits[0].value  # type: ignore[misc]
                open_tag = Token("html_inline", "", 0)
                ident = f' id="s-{hl.claims[0][0]}"' if first else ""
                title = html.escape("claim " + ", ".join(f"{n}: {label}" for n, label in hl.claims), quote=True)
                open_tag.content = f'<mark class="hl v-{hl.verdict}"{ident} title="{title}">'
                close_tag = Token("html_inline", "", 0)
                close_tag.content = "</mark>"
                rewritten.extend([open_tag, child, close_tag])
            else:
                rewritten.append(child)
            for hl in block_after.get(child_index, []):
                rewritten.append(_claim_tags(hl))
        block.token.children = rewritten

    rendered = md.renderer.render(tokens, md.options, {})
    return RenderedReport(Markup(sanitise(rendered)), highlighted, anchors)


def _locate(blocks: list[_Block], sentence: str, taken: dict[int, list[tuple[int, int]]]) -> list[tuple[int, int, int]]:
    """Where ``sentence`` is: [(block, start, end)] in one block, or every cell of one table row, clear of what
    other sentences took."""
    for block_index, block in enumerate(blocks):
        if block.cell_row is not None and taken.get(block_index):
            continue
        span = _find(block, sentence, taken.get(block_index, []))
        if span is not None:
            return [(block_index, *span)]
    key, _ = _alnum(sentence)
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


def _pieces(block: _Block, start: int, end: int, child_edits: dict[int, list[_Edit]]) -> list[tuple[int, int, int]]:
    """The plain range ``[start, end)`` as (child, start, end) pieces of text children (code children whole),
    widened so no marker or URL is cut in two."""
    pieces: dict[int, list[int]] = {}
    for child, offset in block.origin[start:end]:
        if offset < 0:
            continue
        span = pieces.setdefault(child, [offset, offset + 1])
        span[1] = offset + 1
    children = block.token.children or []
    result = []
    for child, (a, b) in sorted(pieces.items()):
        if children[child].type == "code_inline":
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


# ------------------------------------------------------------------------------------------------ sanitising


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "href":
        if value.startswith("#"):
            return value if _FRAGMENT.fullmatch(value) else None
        return value if is_http_url(value) else None
    if attribute == "id":
        return value if _ANCHOR_ID.fullmatch(value) else None
    if attribute == "start":
        return value if value.isdigit() and len(value) <= 6 else None
    return value


def sanitise(fragment: str) -> str:
    """``fragment`` with only the tags, classes and attributes a rendered report needs: http(s) links and
    dreval's in-page anchors; no scripts, styles, event attributes, images, forms or frames."""
    return nh3.clean(
        fragment,
        tags=ALLOWED_TAGS,
        clean_content_tags={"script", "style", "template", "iframe", "object", "noscript", "svg", "math"},
        attributes=ALLOWED_ATTRIBUTES,
        allowed_classes=ALLOWED_CLASSES,
        attribute_filter=_attribute_filter,
        url_schemes={"http", "https"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
