"""A report's markdown as sanitised HTML, with its checked claims highlighted and its citations linked.

Reports are hostile. The text is stripped of control characters first; markdown-it parses it with raw HTML off
(an HTML tag in a report is shown as text, so a report cannot forge a highlight, an anchor or a class) and link
reference definitions off (``[1]: url`` stays visible text, so it cannot turn the ``[1]`` markers into links of its
own); images become plain links. dreval then adds its own markup to the token stream: each checked claim's sentence
is wrapped in ``<mark>`` by verdict, followed by a link to its row in the claim table (``highlight``); citation
markers (every style ``drevalkit.citations`` reads) link to their References entry; bare http(s) URLs become links.
Finally the whole fragment goes through ``nh3`` (``sanitise``): only http(s) links and dreval's own in-page anchors
survive, and there are no event attributes, styles or scripts.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from markupsafe import Markup

from ..citations import scan_citations, split_references
from ..text import math_spans, terminal_safe
from .blocks import WHOLE, Block, Edit, Edits, add_edit, inline_blocks
from .highlight import Highlight, Mark, claim_tags, highlight_sentences, mark_open
from .sanitise import sanitise
from .urls import is_http_url

# a References entry opens its line: [3] ..., [3] [7] ... (one source cited as several numbers), [^3]: ..., 3. ...
# (a numbered list item is read from its token)
_ENTRY_START = re.compile(r"^\s*\[\^?(\d{1,3})\]:?|^\s*(\d{1,3})[.)]\s")
_MORE_NUMBERS = re.compile(r"[ \t]*\[(\d{1,3})\]")
# a footnote definition anywhere ([^3]: ...), or a link definition ([3]: url) with an http(s) URL, as the parse reads
_DEFINITION = re.compile(r"^\s*\[(?:\^\d{1,3}\]:|\d{1,3}\]:[ \t]*<?https?://)", re.IGNORECASE)


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
    md.inline.ruler.before("escape", "math", _math_rule)  # before "\(" is read as an escaped "("
    md.add_render_rule("image", _render_image)
    md.add_render_rule("math_inline", _render_math)
    return md


def _math_rule(state: StateInline, silent: bool) -> bool:
    """A formula (``drevalkit.text.math_spans``) is one token, shown as written: no emphasis, escapes, citation
    markers or claim links inside it. The formulas of an inline block are found once, on its first "\\" or "$"."""
    if state.src[state.pos] not in "\\$":
        return False
    env = state.env
    if env.get("math_src") is not state.src:
        env["math_src"], env["math_ends"] = state.src, dict(math_spans(state.src))
    end = env["math_ends"].get(state.pos)
    if end is None or end > state.posMax:
        return False
    if not silent:
        state.push("math_inline", "", 0).content = state.src[state.pos : end]
    state.pos = end
    return True


def _render_math(self, tokens, idx, options, env):
    formula = tokens[idx].content
    kind = "math math-block" if formula.startswith(("\\[", "$$")) else "math"
    return f'<span class="{kind}">{html.escape(formula)}</span>'


def _render_image(self, tokens, idx, options, env):
    token = tokens[idx]
    alt = html.escape(self.renderInlineAsText(token.children or [], options, env) or "image")
    src = token.attrGet("src") or ""
    if is_http_url(str(src)):
        return f'<a class="ext" href="{html.escape(str(src))}">[image: {alt}]</a>'
    return f'<span class="image">[image: {alt}]</span>'


def render_markdown(text: str, highlights: Iterable[Highlight] = ()) -> RenderedReport:
    """The report ``text`` as sanitised HTML with ``highlights`` marked and citations linked.

    References entries are found first (their numbers get anchors), then the citation markers and URLs, then the
    claim sentences, which are widened so they never cut a marker or URL in two; all are then put into the tokens.
    """
    md = _parser()
    text = terminal_safe(text)
    tokens = md.parse(text)
    body, section = split_references(text)  # where the fact-check's parse starts the References section
    blocks, entry_items, anchors = inline_blocks(tokens, body.count("\n") if section else None)
    edits: Edits = {}
    for block_index, block in enumerate(blocks):
        for child, edit in _entry_edits(block):
            assert isinstance(edit.value, int)  # an entry's number
            if edit.value not in anchors:  # one anchor per number: the first entry of it
                anchors.add(edit.value)
                add_edit(edits, block_index, child, edit)
    _link_citations(blocks, edits)
    highlighted, after = highlight_sentences(blocks, highlights, edits)
    for block_index, block in enumerate(blocks):
        block_edits, block_after = edits.get(block_index, {}), after.get(block_index, {})
        if block_edits or block_after or block_index in entry_items:
            block.token.children = _rewrite_block(
                block, block_edits, block_after, entry_items.get(block_index), anchors
            )
    rendered = md.renderer.render(tokens, md.options, {})
    return RenderedReport(Markup(sanitise(rendered)), highlighted, anchors)


# -------------------------------------------------------------------------------------------------- citations


def _entry_edits(block: Block) -> list[tuple[int, Edit]]:
    """The numbers opening a line of the References section (``[n]``, ``[n] [m]``, ``[^n]:``, ``n.``), and
    footnote or link definitions anywhere."""
    edits: list[tuple[int, Edit]] = []
    children = block.token.children or []
    line, line_start = 0, True
    for number, child in enumerate(children):
        if child.type in ("softbreak", "hardbreak"):
            line, line_start = line + 1, True
            continue
        if child.type == "text" and line_start and not block.in_link[number]:
            in_section = block.references is not None and line >= block.references
            match = _ENTRY_START.match(child.content)
            if match and (in_section or _DEFINITION.match(child.content)):
                edits.extend((number, edit) for edit in _entry_numbers(child.content, match))
        line_start = False
    return edits


def _entry_numbers(content: str, match: re.Match[str]) -> list[Edit]:
    """An edit per number opening an entry: ``3.``, ``[^3]:``, or each of a run of ``[3] [7]``."""
    if match.group(2):
        value = int(match.group(2))
        return [Edit(match.start(2), match.end(2) + 1, "entry", value)] if 0 < value <= 999 else []
    start = content.index("[")
    found = [(start, content.index("]", match.end(1)) + 1, int(match.group(1)))]  # a definition's ":" stays text
    if not match.group(0).endswith(":"):
        while more := _MORE_NUMBERS.match(content, found[-1][1]):
            found.append((more.start(1) - 1, more.end(), int(more.group(1))))
    return [Edit(a, b, "entry", value) for a, b, value in found if 0 < value <= 999]


def _link_citations(blocks: list[Block], edits: Edits) -> None:
    """Edits for the citation markers and bare http(s) URLs in text outside links, clear of the entry numbers."""
    for block_index, block in enumerate(blocks):
        for child_index, child in enumerate(block.token.children or []):
            if child.type != "text" or block.in_link[child_index]:
                continue
            taken = [(e.start, e.end) for e in edits.get(block_index, {}).get(child_index, [])]
            for found in scan_citations(child.content):
                if any(found.start < end and start < found.end for start, end in taken):
                    continue
                if found.kind == "marker" and found.refs:
                    add_edit(edits, block_index, child_index, Edit(found.start, found.end, "marker", found.refs))
                elif found.kind == "url" and found.urls and is_http_url(found.urls[0]):
                    url = found.urls[0]
                    at = child.content.find(url, found.start)
                    if at >= 0:
                        add_edit(edits, block_index, child_index, Edit(at, at + len(url), "url", url))


def _marker_html(refs: tuple[int, ...], anchors: set[int]) -> str:
    """A citation marker with each number linked to its entry (runs of three or more as ``1–3``); a number with no
    entry in the report is shown as missing rather than linked nowhere."""

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


# -------------------------------------------------------------------------------------------------- rewriting


def _html_token(markup: str) -> Token:
    token = Token("html_inline", "", 0)
    token.content = markup
    return token


def _mark(edit: Edit) -> Mark:
    """The value of a highlight's edit (kind ``"mark"``)."""
    assert isinstance(edit.value, Mark)
    return edit.value


def _rewrite_block(
    block: Block,
    block_edits: dict[int, list[Edit]],
    block_after: dict[int, list[Highlight]],
    entry_item: int | None,
    anchors: set[int],
) -> list[Token]:
    """The block's children with dreval's markup in: an anchor for a numbered References item, the edits of each
    child, and the claim links that go after a child."""
    rewritten: list[Token] = []
    if entry_item is not None:
        rewritten.append(_html_token(f'<span class="ref-entry" id="ref-{entry_item}"></span>'))
    for child_index, child in enumerate(block.token.children or []):
        child_edits = block_edits.get(child_index, [])
        if child.type == "text" and child_edits:
            rewritten.extend(_rewrite_text(child.content, child_edits, anchors))
        elif child.type in WHOLE and child_edits:
            mark = _mark(child_edits[0])  # a code span or formula is only ever highlighted, never replaced
            rewritten.extend([_html_token(mark_open(mark.highlight, mark.first)), child, _html_token("</mark>")])
        else:
            rewritten.append(child)
        for hl in block_after.get(child_index, []):
            rewritten.append(_html_token(claim_tags(hl)))
    return rewritten


def _rewrite_text(content: str, edits: list[Edit], anchors: set[int]) -> list[Token]:
    """The tokens that replace a text child: its pieces as text, dreval's markup as inline HTML."""
    out: list[Token] = []

    def text(piece: str) -> None:
        if piece:
            token = Token("text", "", 0)
            token.content = piece
            out.append(token)

    # boundaries: highlight opens and closes, and replaced spans (markers, URLs, entry numbers)
    replaced = sorted((e for e in edits if e.kind != "mark"), key=lambda e: e.start)
    marks = [(e, _mark(e)) for e in edits if e.kind == "mark"]
    opens = {e.start: mark for e, mark in marks}
    closes = {e.end for e, _ in marks}
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
            out.append(_html_token("</mark>"))
            for e, mark in marks:
                if e.end == cut and mark.tags:
                    out.append(_html_token(claim_tags(mark.highlight)))
        if cut in opens:
            out.append(_html_token(mark_open(opens[cut].highlight, opens[cut].first)))
        if cut in replacements:
            edit = replacements[cut]
            original = content[edit.start : edit.end]
            if edit.kind == "marker":
                assert isinstance(edit.value, tuple)  # a marker's reference numbers
                out.append(_html_token(_marker_html(edit.value, anchors)))
            elif edit.kind == "url":
                url = str(edit.value)
                rest = original[len(url) :] if original.startswith(url) else ""
                out.append(_html_token(f'<a class="ext" href="{html.escape(url, quote=True)}">{html.escape(url)}</a>'))
                text(rest)
            elif edit.kind == "entry":
                out.append(_html_token(f'<span class="ref-entry" id="ref-{edit.value}">{html.escape(original)}</span>'))
            position = edit.end
            skip_to = edit.end
    if position < len(content):
        text(content[position:])
    return out
