"""Segment a report into numbered sentences, each with its section and the references and URLs it cites.

Segmentation drops what is not a claim: the References list, footnote definitions, the entries of a source list
wherever they stand (``source_lines``), headings, code, table rules, interface chrome and an agent's narration of its
own search (``ingest.chrome.is_narration``). spaCy splits sentences (``splitter``).

Citations are attributed before splitting, so that neither splitter can move them: every citation token
(``citations.scan_citations``: markers of every style, parenthesised URLs) is taken out of the text the
splitter reads, together with the space before it, and remembered at the position of the text it follows. A
sentence cites what follows its own text, up to the first character of the next sentence: ``claim [1].``,
``claim.[1]`` and ``claim. [1] Next one.`` all credit ``[1]`` to ``claim``. The sentence text shown to the
extractor is cut from the displayed block at the same places, so it keeps its markers.

Tables: a row of a well-formed table (a header row, a delimiter row with as many cells, a plausible header: no
empty, repeated or data-like names, and the row with as many cells) reads "Country: China; GW: 35". A table
without a delimiter row, with an implausible header or a row of another width (flattened tables, header and rows
run together) is kept as text, its cells joined by "; ", never paired with header names.
"""

from __future__ import annotations

import bisect
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from ..citations import DEFINITION, CitationToken, scan_citations, split_references
from ..ingest.chrome import is_narration
from ..schemas import Report
from ..text import math_spans, word_count
from .source_lines import source_lines
from .splitter import sentence_splitter

# the title's closing "#"s and spaces are stripped after the match: "(.*?)\s*#*\s*$" was cubic in a run of spaces
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*)$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}")
_CHROME = re.compile(  # the tail is not \s*:?\s*, which splits a run of spaces every way (quadratic)
    r"^\s*(copy|share|edit|retry|regenerate|sources?|thinking\.*|searching\.*|show more|show less|"
    r"like|dislike|export|download|print|back to top|table of contents|contents)\s*(?::\s*)?$",
    re.IGNORECASE,
)
_LIST_ITEM = re.compile(r"^([-*+]|\d+[.)])\s+")
_LINE_MARK = re.compile(r"^([-*+>]|\d+[.)])\s+")  # a list item's or a quote's mark
_CELL_PIPE = re.compile(r"(?<!\\)\|")
_WORD = re.compile(r"[A-Za-z]{2,}")
# emphasis (``_`` only at word edges, so snake_case and URLs keep their underscores); a span is at most
# EMPHASIS_CHARS long, so that unmatched markers cost linear time, not quadratic
EMPHASIS_CHARS = 400
_SPAN = rf"(?=\S)(.{{1,{EMPHASIS_CHARS}}}?)(?<=\S)"
_EMPHASIS = re.compile(rf"(\*\*|\*){_SPAN}\1|(?<![\w\\])(__|_){_SPAN}\3(?!\w)")
_SLOT = re.compile("\ue000(\\d+)\ue001")  # a citation token's place while emphasis and spaces are normalised
_SLOT_CHARS = str.maketrans("", "", "\ue000\ue001")
_NUMERIC_TITLE = re.compile(r"\[?\^?(\d{1,3})\]?")
_DELIMITER_CELL = re.compile(r":?-+:?")
_LONG_DASHES = re.compile(r":?-{3,}:?")
# no \s* after [\d,.\s]*, which matches the same spaces (quadratic)
_DATA_LIKE = re.compile(r"[~≈<>±+\-−$€£¥]?\s*\d[\d,.\s]*(?:%|[A-Za-z]{1,3})?")
_YEAR_LIKE = re.compile(r"(?:1[89]|2[01])\d\d[A-Za-z]?")


@dataclass
class Sentence:
    id: str
    text: str  # as shown to the extractor: markdown removed, citation markers kept
    section: str
    cited_refs: list[int]
    new_section: bool = False
    # URLs it cites inline (links, bare URLs) that are not the URL of a numbered reference (those are in cited_refs)
    cited_urls: list[str] = field(default_factory=list)
    plain: str = ""  # the text without citation markers and parenthesised URLs


def _unemphasise(text: str) -> str:
    """``text`` without emphasis markers; formulas keep theirs (``$x_1 * x_2$`` is written as meant)."""
    cuts = [0, *(at for span in math_spans(text) for at in span), len(text)]
    pieces = [text[a:b] for a, b in zip(cuts, cuts[1:])]
    return "".join(piece if number % 2 else _strip_emphasis(piece) for number, piece in enumerate(pieces))


def _strip_emphasis(text: str) -> str:
    for _ in range(3):  # nested emphasis (***x***, **_x_**), a bounded number of levels
        previous, text = text, _EMPHASIS.sub(lambda m: m.group(2) if m.group(1) else m.group(4), text)
        if text == previous:
            break
    return text


@dataclass
class _Prose:
    """One block of text in the two forms segmentation needs, and where its citations stand."""

    display: str  # markdown removed, citation markers kept
    plain: str  # citation markers and enclosed URLs removed (with the space before them): what the splitter reads
    anchors: list[tuple[int, int]]  # (plain offset, display offset) where each stretch of copied text starts
    cites: list[tuple[int, tuple[int, ...], tuple[str, ...]]]  # (plain offset, refs, urls) of each citation

    def display_offset(self, offset: int) -> int:
        """The display offset of plain ``offset`` (a removed citation belongs before the text that follows it)."""
        if offset <= 0:
            return 0  # a citation that opens the block belongs to its first sentence
        if offset >= len(self.plain):
            return len(self.display)
        at = bisect.bisect_right(self.anchors, (offset, len(self.display) + 1)) - 1
        plain_start, display_start = self.anchors[at] if at >= 0 else (0, 0)
        return display_start + offset - plain_start


def _prose(raw: str) -> _Prose:
    """``raw`` markdown as display and plain text, with its citations placed in the plain text."""
    raw = raw.translate(_SLOT_CHARS)
    tokens = scan_citations(raw)
    slotted, last = [], 0
    for number, scanned in enumerate(tokens):
        slotted.append(raw[last : scanned.start])
        if scanned.kind == "link" and not scanned.enclosed and not _NUMERIC_TITLE.fullmatch(scanned.text.strip()):
            slotted.append(scanned.text)  # the link's words are text; its URL is cited right after them
        slotted.append(f"\ue000{number}\ue001")
        last = scanned.end
    slotted.append(raw[last:])
    text = " ".join(_unemphasise("".join(slotted)).split())

    display: list[str] = []
    plain: list[str] = []
    anchors: list[tuple[int, int]] = []
    cites: list[tuple[int, tuple[int, ...], tuple[str, ...]]] = []
    size = {"display": 0, "plain": 0}

    def copy(piece: str) -> None:
        if piece:
            anchors.append((size["plain"], size["display"]))
            display.append(piece)
            plain.append(piece)
            size["display"] += len(piece)
            size["plain"] += len(piece)

    def show(piece: str) -> None:
        display.append(piece)
        size["display"] += len(piece)

    last = 0
    for slot in _SLOT.finditer(text):
        copy(text[last : slot.start()])
        last = slot.end()
        token: CitationToken = tokens[int(slot.group(1))]
        if token.kind in ("code", "image"):
            copy(token.text if token.kind == "code" else "")
            continue
        if token.kind == "url" and not token.enclosed:  # a URL in the wording: it stays in the sentence
            cites.append((size["plain"] + 1, (), token.urls))
            copy(token.text)
            continue
        while plain:  # drop the space before the citation from the splitter's text
            kept = plain[-1].rstrip()
            size["plain"] -= len(plain[-1]) - len(kept)
            if kept:
                plain[-1] = kept
                break
            plain.pop()
        cites.append((size["plain"], token.refs, token.urls))
        if token.kind == "link" and token.enclosed:
            show(f"({token.text})")
        elif token.kind == "link":
            title = token.text.strip()
            show(title if title.startswith("[") else f"[{title}]" if _NUMERIC_TITLE.fullmatch(title) else "")
        else:
            show(raw[token.start : token.end])
    copy(text[last:])
    return _Prose("".join(display), "".join(plain), anchors, cites)


def _cells(line: str) -> list[str]:
    stripped = line.strip()
    if stripped.startswith("|"):
        stripped = stripped[1:]
    if stripped.endswith("|") and not stripped.endswith("\\|"):
        stripped = stripped[:-1]
    return [cell.strip().replace("\\|", "|") for cell in _CELL_PIPE.split(stripped)]


def _is_delimiter_row(line: str) -> bool:
    if "|" not in line or "-" not in line:
        return False
    cells = _cells(line)
    return all(_DELIMITER_CELL.fullmatch(cell) for cell in cells if cell) and any(cells)


def _plausible_header(cells: list[str]) -> bool:
    """Column names, not data: none empty (but the first), none repeated, none a number other than a year."""
    cells = [_prose(cell).plain.strip() for cell in cells]
    if not cells or any(not cell for cell in cells[1:]) or not any(cells):
        return False
    names = [cell.casefold() for cell in cells if cell]
    if len(set(names)) != len(names):
        return False
    return not any(_DATA_LIKE.fullmatch(c) and not _YEAR_LIKE.fullmatch(c) for c in cells if c)


def _table_rows(run: list[str]) -> list[str]:
    """The rows of a run of table lines as text; a row is paired with the names of a well-formed header only."""
    rows: list[str] = []
    header: list[str] | None = None
    number = 0
    while number < len(run):
        line = run[number]
        if _is_delimiter_row(line):
            number += 1
            continue
        cells = _cells(line)
        if number + 1 < len(run) and _is_delimiter_row(run[number + 1]):
            header = cells if len(cells) == len(_cells(run[number + 1])) and _plausible_header(cells) else None
            if header is None:  # not column names (e.g. a data row run into the header): kept as text
                rows.append("; ".join(cell for cell in cells if cell))
            number += 2
            continue
        if header is not None and len(cells) == len(header):
            rows.append("; ".join(f"{name}: {cell}" if name else cell for name, cell in zip(header, cells) if cell))
        else:  # no header, or a row of another width: its cells as text
            rows.append("; ".join(cell for cell in cells if cell and not _LONG_DASHES.fullmatch(cell)))
        number += 1
    return rows


def _ends_with_citation(line: str) -> bool:
    tokens = scan_citations(line)
    return bool(tokens) and tokens[-1].kind in ("marker", "link", "url") and tokens[-1].end >= len(line.rstrip())


def _blocks(report_text: str) -> list[tuple[str, _Prose, bool]]:
    """(section, block, is a table row) for every prose block and table row of the report."""
    body, _ = split_references(report_text)
    blocks: list[tuple[str, _Prose, bool]] = []
    section, in_code = "", False
    current: list[str] = []
    lines = body.splitlines()

    def add(raw: str, row: bool = False) -> None:
        prose = _prose(raw)
        if word_count(prose.plain) >= 4 or any(ch.isdigit() for ch in prose.plain) or prose.cites:
            blocks.append((section, prose, row))

    def flush() -> None:
        if current:
            add(" ".join(current))
            current.clear()

    sources = source_lines(lines)
    number = 0
    while number < len(lines):
        line = lines[number]
        stripped = line.strip()
        number += 1
        if stripped.startswith(("```", "~~~")):
            flush()
            in_code = not in_code
            continue
        if in_code:
            continue
        heading = _HEADING.match(line)
        if heading:
            flush()
            section = _prose(heading.group(1).rstrip().rstrip("#").rstrip()).plain.strip()
            continue
        outer_pipes = stripped.startswith("|")
        if outer_pipes or (
            "|" in stripped
            and number < len(lines)
            and _is_delimiter_row(lines[number])
            and len(_cells(stripped)) == len(_cells(lines[number]))
        ):
            flush()
            run = [stripped]
            while number < len(lines):
                following = lines[number].strip()
                if not following or "|" not in following or (outer_pipes and not following.startswith("|")):
                    break
                run.append(following)
                number += 1
            for row in _table_rows(run):
                add(row, row=True)
            continue
        if number - 1 in sources:  # a source list's entry (dropped), or URLs alone (cited by what precedes them)
            flush()
            if (cited := sources[number - 1]) is not None:
                add(cited)
            continue
        if not stripped or _TABLE_RULE.match(stripped) or _CHROME.match(stripped) or DEFINITION.match(line):
            flush()
            continue
        if _LIST_ITEM.match(stripped):
            flush()
        text = _LINE_MARK.sub("", stripped)
        # a line ending in a citation, then a line that starts a sentence: the line break ends the sentence
        if current and text[:1] and not text[:1].islower() and _ends_with_citation(current[-1]):
            flush()
        current.append(text)
    flush()
    return blocks


def content_blocks(report_text: str) -> list[tuple[str, str]]:
    """(section, block text) for every prose block of the report, boilerplate removed, citation markers kept.

    Rows of a well-formed table become one block each, with the header's column names, so "| China | 35 |" under
    "| Country | GW |" reads "Country: China; GW: 35".
    """
    return [(section, prose.display) for section, prose, _ in _blocks(report_text)]


_SPACY_LOCK = threading.Lock()
# spaCy refuses texts over nlp.max_length (1M characters) and its memory grows with the text: a block longer than
# this is cut first, at a sentence end where there is one, else at a space, else anywhere.
MAX_BLOCK_CHARS = 100_000
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s")
_OPENING_BEFORE = re.compile(r"\s([(\[{“‘]+)$")


def _bounded_spans(block: str, limit: int | None = None) -> list[tuple[int, int]]:
    """(start, end) of pieces of ``block`` of at most ``limit`` characters, cut at a sentence end (or space)."""
    limit = limit or MAX_BLOCK_CHARS
    spans = []
    start = 0
    while len(block) - start > limit:
        window = block[start : start + limit]
        ends = [m.end() for m in _SENTENCE_END.finditer(window, limit // 2)]
        cut = ends[-1] if ends else (window.rfind(" ", limit // 2) + 1 or limit)
        spans.append((start, start + cut))
        start += cut
    spans.append((start, len(block)))
    return spans


def _sentence_starts(nlp: Any, texts: list[str]) -> list[list[int]]:
    """Offsets in each of ``texts`` where the splitter starts a sentence (the first is always 0). The pieces of all
    the texts go through the pipeline together (``nlp.pipe``: half the CPU of one call per piece, the same
    boundaries)."""
    pieces = [(number, begin, end) for number, text in enumerate(texts) for begin, end in _bounded_spans(text)]
    starts: list[list[int]] = [[0] for _ in texts]
    with _SPACY_LOCK:  # one pipeline object serves every report; run it in one thread at a time
        docs = nlp.pipe(texts[number][begin:end] for number, begin, end in pieces)
        for (number, begin, end), doc in zip(pieces, docs):
            text, found = texts[number], starts[number]
            for span in doc.sents:
                offset = begin + span.start_char
                while offset < end and text[offset].isspace():
                    offset += 1
                opening = _OPENING_BEFORE.search(text, max(begin, offset - 8), offset)
                if opening:  # "... ended. (The plant ...": the bracket opens the next sentence, not ends this one
                    offset = opening.start(1)
                if offset < end and offset > found[-1] and text[found[-1] : offset].strip():
                    found.append(offset)
    return starts


def _outside_formulas(text: str, starts: list[int]) -> list[int]:
    """Sentence starts without those inside a formula: "\\( a / b \\approx 19.4 \\)" is part of one sentence."""
    spans = math_spans(text)
    opens = [a for a, _ in spans]
    kept = []
    for start in starts:
        at = bisect.bisect_left(opens, start) - 1  # the last formula opening before this start
        if at < 0 or start >= spans[at][1]:
            kept.append(start)
    return kept


# what ends a sentence: terminal punctuation (a colon or semicolon too), then any closing quotes or brackets
_ENDS_SENTENCE = re.compile(r"[.!?…。！？:;][\"'”’»)\]]*\s*$")


def _after_sentence_ends(text: str, starts: list[int]) -> list[int]:
    """Sentence starts without those that follow no punctuation: "Smith and Jones [2021] estimated ..." is one
    sentence, though the sentence recogniser, which reads no punctuation rule, sometimes starts one at "[2021]"."""
    return starts[:1] + [start for start in starts[1:] if _ENDS_SENTENCE.search(text, max(0, start - 8), start)]


def _merge_fragments(text: str, starts: list[int]) -> list[int]:
    """Sentence starts without those of tiny fragments ("e.g.", "35 GW."), which join the sentence before them."""
    kept = starts[:1]
    for number, start in enumerate(starts[1:], start=1):
        end = starts[number + 1] if number + 1 < len(starts) else len(text)
        if len(_WORD.findall(text, start, end)) >= 2:
            kept.append(start)
    return kept


@dataclass
class _Attached:
    """Blocks of citations alone that follow one sentence, gathered and added once: adding each to the sentence
    copied its text and lists every time (quadratic in a run of such blocks)."""

    texts: list[str] = field(default_factory=list)
    refs: dict[int, None] = field(default_factory=dict)
    urls: dict[str, None] = field(default_factory=dict)

    def add(self, prose: _Prose, number_of: dict[str, int]) -> None:
        self.texts.append(prose.display.strip())
        for _, numbers, cited in prose.cites:
            self.refs.update(dict.fromkeys([*numbers, *(number_of[u] for u in cited if u in number_of)]))
            self.urls.update(dict.fromkeys(u for u in cited if u not in number_of))

    def apply(self, sentence: Sentence) -> None:
        sentence.text = " ".join([sentence.text, *self.texts])
        sentence.cited_refs = list(dict.fromkeys([*sentence.cited_refs, *self.refs]))
        sentence.cited_urls = list(dict.fromkeys([*sentence.cited_urls, *self.urls]))


def segment(report: Report) -> list[Sentence]:
    """Numbered sentences (S1, S2, ...) with their section and the references and URLs each cites."""
    nlp = sentence_splitter()
    number_of: dict[str, int] = {}
    for citation in report.citations:
        if citation.index is not None:
            number_of.setdefault(citation.url, citation.index)
    sentences: list[Sentence] = []
    attached: dict[int, _Attached] = {}  # sentence index -> the blocks of citations alone after it
    previous_section = None
    blocks = list(_blocks(report.text))
    split = iter(_sentence_starts(nlp, [prose.plain for _, prose, row in blocks if prose.plain.strip() and not row]))
    for section, prose, row in blocks:
        if not prose.plain.strip():  # citations alone ("[3][4]" as a paragraph): they belong to what precedes them
            if sentences and sentences[-1].section == section:
                attached.setdefault(len(sentences) - 1, _Attached()).add(prose, number_of)
            continue
        starts = [0]
        if not row:
            found = _after_sentence_ends(prose.plain, _outside_formulas(prose.plain, next(split)))
            starts = _merge_fragments(prose.plain, found)
        refs: list[list[int]] = [[] for _ in starts]
        urls: list[list[str]] = [[] for _ in starts]
        for offset, numbers, cited in prose.cites:
            at = max(bisect.bisect_left(starts, offset) - 1, 0)  # what it follows, or the block's first sentence
            refs[at].extend(numbers)
            for url in cited:
                if url in number_of:
                    refs[at].append(number_of[url])
                else:
                    urls[at].append(url)
        bounds = starts + [len(prose.plain)]
        for number, (start, end) in enumerate(zip(bounds, bounds[1:])):
            plain = " ".join(prose.plain[start:end].split())
            cites = refs[number] or urls[number]
            if not plain or (word_count(plain) < 3 and not any(ch.isdigit() for ch in plain) and not cites):
                continue
            if is_narration(plain):  # "Let me check the cost next.": the agent's talk, never a claim
                continue
            text = prose.display[prose.display_offset(start) : prose.display_offset(end)].strip()
            sentences.append(
                Sentence(
                    id=f"S{len(sentences) + 1}",
                    text=text,
                    section=section,
                    cited_refs=list(dict.fromkeys(refs[number])),
                    new_section=section != previous_section,
                    cited_urls=list(dict.fromkeys(urls[number])),
                    plain=plain,
                )
            )
            previous_section = section
    for index, gathered in attached.items():
        gathered.apply(sentences[index])
    return sentences
