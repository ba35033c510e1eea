"""Citations of a markdown report: markers, a References list, footnote definitions, inline links and URLs.

Marker styles read (``scan_citations``), each giving reference numbers:

* ``[n]``, ``[n, m]``, ``[n; m]``, ``[n-m]`` / ``[n–m]`` / ``[n—m]`` (ranges of at most 50 expand), ``[1][2]``,
  ``[cite: n, m]``;
* ``[^n]`` footnotes (their ``[^n]: ...`` definitions are reference entries, with or without a References heading);
* ``【n†source】``, ``【n†L10-L20】``, ``【n:m†source】`` (the first number is taken), ``【n】``, ``［n］`` and
  ``[n†L10-L20]``;
* superscript digits ``¹``, ``¹²``, ``¹,³``, ``¹⁻³``, ``⁽¹⁾``, ``<sup>1</sup>`` and pandoc's ``^1^``.

Inline links ``[title](url)`` (also in parentheses, ``([example.com](https://...))``) and bare URLs
(``(https://...)``, ``<https://...>`` or in the text) cite their URL. IPv6 hosts (``http://[2001:db8::1]:8080/x``)
are read whole.

Not citations: numbers of 0 or above 999 (``[0]``, ``[2024]``, ``[1990-2000]``: years and code, not reference
numbers), anything in inline code (`` `a[1]` ``), brackets glued to a one-letter or dotted/underscored identifier
(``a[1]``, ``x[2][3]``, ``obj.items[1]``), superscripts that are powers (``10³``, ``2⁸``; but ``in 2023¹`` cites),
``²``/``³`` after a unit or a one-letter symbol (``km²``, ``m³``, ``x²``), images ``![alt](url)``.

Markers written without brackets (``offspring.1``, ``優勢 1。``, ``polyadic1.``), as exports of Gemini reports
write them, are read only against the numbers of the report's source list (``scan_citations(text, numbers)``; the
forms and their near misses are in ``drevalkit.citation_forms``). The source list is the last references heading,
in any of the languages of ``REFERENCE_HEADINGS``, to the end of the text; entries may group numbers
(``[1] [4] [8] Title``), stand in ``>`` quotes and escape their URLs (``\\_``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Literal

from .citation_forms import LOOSE_AFTER, REFERENCE_HEADINGS, UNBRACKETED_PATTERNS, UNBRACKETED_STARTS, acceptable
from .schemas import Citation

_REFERENCES_HEADING = re.compile(
    r"^\s{0,3}(?:#{1,6}\s*)?(?:\*\*|__)?(?:"
    + "|".join(re.escape(name) for name in sorted(REFERENCE_HEADINGS, key=len, reverse=True))
    # each run of spaces has one way to match (``\s*:?\s*`` splits a run in every way: quartic on a long one)
    + r")\s*(?:[:：]\s*)?(?:(?:\*\*|__)\s*)?(?:[:：]\s*)?$",
    re.IGNORECASE | re.MULTILINE,
)
# a host: an IPv6 literal in brackets (with an optional zone and port), or anything up to the path
_HOST = r"(?:\[[0-9A-Fa-f:.]+(?:%25[\w.~-]+)?\](?::\d{1,5})?|[^\s<>\"'\[\](){}|\\^`/?#]+)"
# a URL in running text (its trailing punctuation is dropped by _trim_url)
_URL = re.compile(rf"https?://{_HOST}(?:[/?#][^\s<>\"'\[\]|`]*)?", re.IGNORECASE)
# a URL inside parentheses (a link target, ``(https://...)``): parentheses in it must balance
_URL_BALANCED = rf"https?://{_HOST}(?:[/?#](?:[^\s()<>\"'\[\]|`]|\([^\s()<>\"']*\))*)?"
MD_LINK = re.compile(
    rf"(?<!!)\[((?:[^\[\]\n]|\[[^\[\]\n]*\])*)\]\(\s*<?({_URL_BALANCED})>?(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'))?\s*\)",
    re.IGNORECASE,
)
# the start of a source-list entry: ``1.`` (``1\.`` escaped), ``1)``, ``1、``, ``(1)``, ``【1】``, ``[1]`` or a group
# ``[1] [4] [8]``, ``[^1]:``, ``^1:``; behind ``>`` quotes, list bullets and indentation
_ENTRY_INDEX = re.compile(
    r"^[ \t]{0,8}(?:>[ \t]?){0,3}(?:[-*+][ \t]+)?(?:(?P<group>\[\^?\d{1,4}\](?:[ \t]{0,3}\[\d{1,4}\]){0,40}):?"
    r"|(?P<number>\d{1,4})\\?[.)、]|\((?P<paren>\d{1,4})\)|[【［](?P<wide>\d{1,4})[】］]|\^(?P<caret>\d{1,4}):?)[ \t]*"
)
_ENTRY_LINE = re.compile(_ENTRY_INDEX.pattern + r"\S", re.MULTILINE)
# ``[^n]: ...`` footnote and ``[n]: ...`` link definitions: never rendered as prose, wherever they stand
DEFINITION = re.compile(r"^ {0,3}\[\^?(\d{1,4})\]:[ \t]*(?=\S)", re.MULTILINE)
_FENCE = re.compile(r"^\s*(```|~~~)")

MAX_REFERENCE_NUMBER = 999
MAX_RANGE = 50
_SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹"
_FROM_SUPERSCRIPT = str.maketrans(_SUPERSCRIPTS + "˒⁻", "0123456789,-")
_NUMBERS = r"\d{1,4}(?:\s*(?:[,;，、]|[-\u2010\u2013\u2014])\s*\d{1,4})*"
# bounded: reference numbers have at most 3 digits, and int() refuses runs of thousands of digits
_SUP_RUN = rf"[{_SUPERSCRIPTS}]{{1,4}}(?:[,˒⁻\u2010\u2013-][{_SUPERSCRIPTS}]{{1,4}}){{0,20}}"
# units (and one-letter symbols) that take a ² or ³ exponent: ``km²`` is an area, not a citation
_UNITS = frozenset("m cm mm km nm µm μm ft in yd mi s ms kg g ha pc ly au sq mc px dm hm gm".split())

_STYLES = [  # each starts with a character of _STARTS below
    r"(?P<code>`[^`\n]+`)",
    # alt text and target stop at the next "![": each of a run of "![" would scan the rest of the line
    r"(?P<image>!\[(?P<alt>(?:[^\]\n!]|!(?!\[))*)\]\((?:[^)\n!]|!(?!\[))*\))",
    rf"(?P<paren_links>\(\s*{MD_LINK.pattern}(?:\s*[,;]\s*{MD_LINK.pattern})*\s*\))",
    rf"(?P<link>{MD_LINK.pattern})",
    rf"(?P<paren>\(\s*(?i:(?:sources?|see|via|from|ref|retrieved from)\s*(?::\s*)?)?<?{_URL_BALANCED}>?"
    rf"(?:\s*[,;]\s*<?{_URL_BALANCED}>?)*\s*\))",
    rf"(?P<url><?{_URL.pattern}>?)",
    r"(?P<dagger>\[(?P<dagger_n>\d{1,4})†[^\[\]\n]{0,100}\])",
    rf"(?P<lenticular>[【［](?P<lenticular_n>{_NUMBERS})(?::\d{{1,4}})?(?:†[^【】［］\n]{{0,100}})?[】］])",
    r"(?P<footnote>\[\^(?P<footnote_n>\d{1,4})\](?!:))",
    rf"(?P<bracket>\[(?:cite:\s*)?(?P<bracket_n>{_NUMBERS})\](?!\())",
    rf"(?P<sup_html><sup>\s*\[?(?P<sup_html_n>{_NUMBERS})\]?\s*</sup>)",
    rf"(?P<sup>⁽{_SUP_RUN}⁾|{_SUP_RUN})",
    r"(?P<caret>\^(?P<caret_n>\d{1,3}(?:[,，]\s?\d{1,3}){0,20})\^)",  # pandoc's superscript: ``^12^``
]
# one pattern per reading: the unbracketed forms only where they may be read (each match costs Python work)
_READINGS = {None: (), "": ("glued", "spaced_cjk"), "spaced": ("glued", "spaced_cjk", "spaced")}
_READINGS["lettered"] = ("glued", "spaced_cjk", "lettered")
# the characters a style of _STYLES starts with; with where the unbracketed forms start, a lookahead that skips
# every position no token can start at with one test, instead of a try of every style (SRE finds no prefix in
# named groups under IGNORECASE): a scan without those forms is 7x faster, with them 2x
_STARTS = rf"[`!(\[<h【［^⁽{_SUPERSCRIPTS}]"
_TOKENS = {
    mode: re.compile(
        f"(?={'|'.join([_STARTS, *(UNBRACKETED_STARTS[kind] for kind in kinds)])})"
        + "(?:"
        + "|".join(_STYLES + [UNBRACKETED_PATTERNS[kind] for kind in kinds])
        + ")",
        re.IGNORECASE,
    )
    for mode, kinds in _READINGS.items()
}
_LETTERED_HINT = re.compile(r"[a-z]\d{1,3}[.,;:!?](?=\s|$)")  # what a lettered marker looks like, roughly
_BETWEEN_MARKERS = re.compile(r"\s*(?:[,;]\s*)?")  # not \s*[,;]?\s*: quadratic on spaces before a word
_IDENTIFIER_BEFORE = re.compile(r"[\w.]+$")


@dataclass(frozen=True)
class CitationToken:
    """A span of text that cites (or looks like a citation but is code or an image, ``kind`` says which).

    ``marker``: reference numbers (``refs``); ``link``: ``[title](url)``, its ``text`` the title (``enclosed`` for
    links in parentheses, ``([example.com](https://...))``, which are not part of the sentence's wording; their
    ``text`` is the titles joined by commas); ``url``: a bare URL (``enclosed`` when it stood in parentheses or
    angle brackets); ``code``: inline code, its ``text`` the code; ``image``: its ``text`` the alt text.
    """

    start: int
    end: int
    kind: Literal["marker", "link", "url", "code", "image"]
    refs: tuple[int, ...] = ()
    urls: tuple[str, ...] = ()
    text: str = ""
    enclosed: bool = False
    bare: bool = False  # a marker written without brackets (``offspring.1``), read against the source list


def _trim_url(url: str) -> str:
    """Drop sentence punctuation after a URL, and a closing parenthesis that does not belong to it."""
    while url and url[-1] in ".,;:!?*_)":
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


_GROUP_SEPARATOR = re.compile(r"[,;，、]")
_RANGE_DASH = re.compile(r"[-\u2010\u2013\u2014]")
_NUMBER_BEFORE = re.compile(r"[\d.,]+$")
_UNIT_BEFORE = re.compile(r"[A-Za-zµμ]+$")


def _reference_numbers(group: str) -> tuple[int, ...] | None:
    """The numbers of ``1, 3-5`` (ranges expanded), or None if one is not a plausible reference number."""
    numbers: list[int] = []
    # split on the separator alone (a leading \s* rescans a run of spaces from each of its positions)
    for part in _GROUP_SEPARATOR.split(group.strip()):
        bounds = [b.strip() for b in _RANGE_DASH.split(part.strip())]
        values = [int(b) for b in bounds if b]
        if not values or len(values) > 2 or not all(0 < v <= MAX_REFERENCE_NUMBER for v in values):
            return None
        if len(values) == 2:
            low, high = values
            numbers.extend(range(low, high + 1) if 0 < high - low <= MAX_RANGE else (low, high))
        else:
            numbers.append(values[0])
    return tuple(numbers)


def _is_exponent(text: str, start: int, digits: str) -> bool:
    """True if a superscript at ``start`` is an exponent, not a citation.

    After a number, only a power of ten or of a one-digit base (``10⁶``, ``2³``): ``in 2023¹`` cites. ``²`` and
    ``³`` after a unit or a one-letter symbol (``km²``, ``m³``, ``x²``) are exponents too.
    """
    before = text[start - 1] if start else " "
    if before in _SUPERSCRIPTS + "⁻⁺^":
        return True
    if before.isdigit():
        number = _NUMBER_BEFORE.search(text[max(0, start - 24) : start])
        base = number.group(0).lstrip(".,") if number else before
        return base == "10" or len(base) == 1
    if digits not in ("2", "3"):
        return False
    word = _UNIT_BEFORE.search(text[max(0, start - 8) : start])
    return word is not None and (len(word.group(0)) == 1 or word.group(0).lower() in _UNITS)


def _glued_to_code(text: str, start: int) -> bool:
    """True if ``[n]`` at ``start`` indexes an identifier (``a[1]``, ``obj.items[1]``, ``snake_case[2]``)."""
    if not start or not (text[start - 1].isalnum() or text[start - 1] in "_."):  # what _IDENTIFIER_BEFORE ends in
        return False
    found = _IDENTIFIER_BEFORE.search(text, max(0, start - 80), start)
    if not found:
        return False
    word = found.group(0)
    if word.endswith("."):  # "grew.[1]": a full stop, then the marker
        return False
    return (len(word) == 1 and word.isalpha()) or "_" in word or bool(re.search(r"[A-Za-z]\.[A-Za-z]", word))


def _marker(kind: str, match: re.Match[str], text: str, previous: CitationToken | None) -> CitationToken | None:
    start, end = match.span()
    if kind in ("dagger", "lenticular", "footnote"):
        refs = _reference_numbers(match.group(f"{kind}_n"))
    elif kind in ("bracket", "sup_html"):
        chained = previous is not None and previous.kind == "code" and previous.end == start
        if kind == "bracket" and (chained or _glued_to_code(text, start)):
            return CitationToken(start, end, "code", text=match.group(0))  # chains like x[1][2] stay code
        refs = _reference_numbers(match.group(f"{kind}_n"))
        if kind == "sup_html" and refs is not None and _is_exponent(text, start, match.group("sup_html_n").strip()):
            refs = None
    elif kind == "caret":
        digits = match.group("caret_n")
        refs = None if _is_exponent(text, start, digits) else _reference_numbers(digits)
    else:  # superscript digits
        digits = match.group(0).strip("⁽⁾").translate(_FROM_SUPERSCRIPT)
        refs = None if _is_exponent(text, start, digits) else _reference_numbers(digits)
    if refs is None:
        return None
    return CitationToken(start, end, "marker", refs=refs)


def _unbracketed(kind: str, match: re.Match[str], text: str, numbers: frozenset[int]) -> CitationToken | None:
    """A marker without brackets, or None: its numbers must all be entries of the list (``citation_forms``)."""
    start, end = match.span(kind)
    refs = _reference_numbers(match.group(kind))
    if refs is None or not numbers.issuperset(refs) or not acceptable(kind, text, match.start(), start, end):
        return None
    return CitationToken(start, end, "marker", refs=refs, bare=True)


def scan_citations(
    text: str, numbers: Collection[int] | None = None, loose: Literal["", "spaced", "lettered"] = ""
) -> list[CitationToken]:
    """The citation tokens of ``text`` (one block of prose), in order; adjacent markers form one token.

    ``numbers``: the reference numbers of the report's source list, which markers without brackets must cite to be
    read at all; ``loose``: also read those ``spaced`` before ``,;:`` and table cell ends, or those ``lettered``
    right after a word (see the module docstring)."""
    listed = None if numbers is None else frozenset(numbers)
    tokens: list[CitationToken] = []
    for match in _TOKENS[None if listed is None else loose].finditer(text):
        kind = str(match.lastgroup)  # the style's group closes after any group inside it
        start, end = match.span()
        token: CitationToken | None
        if kind in UNBRACKETED_PATTERNS:
            assert listed is not None  # the only readings with these forms
            token = _unbracketed(kind, match, text, listed)
        elif kind == "code":
            token = CitationToken(start, end, "code", text=match.group(0)[1:-1])
        elif kind == "image":
            token = CitationToken(start, end, "image", text=match.group("alt"))
        elif kind == "link":
            inner = MD_LINK.match(match.group(0))
            assert inner is not None
            token = CitationToken(start, end, "link", urls=(inner.group(2),), text=inner.group(1))
        elif kind == "paren_links":  # ([example.com](https://...)): a citation set apart from the wording
            links = list(MD_LINK.finditer(match.group(0)))
            token = CitationToken(
                start,
                end,
                "link",
                urls=tuple(m.group(2) for m in links),
                text=", ".join(m.group(1).strip() for m in links),
                enclosed=True,
            )
        elif kind == "paren":
            urls = tuple(_trim_url(u.group(0)) for u in re.finditer(_URL_BALANCED, match.group(0), re.IGNORECASE))
            token = CitationToken(start, end, "url", urls=urls, text=match.group(0), enclosed=True)
        elif kind == "url":
            raw = match.group(0)
            if raw.startswith("<") and raw.endswith(">"):  # an autolink <https://...>
                token = CitationToken(start, end, "url", urls=(raw[1:-1],), text=raw, enclosed=True)
            else:  # in the text: its trailing punctuation stays text
                lead = 1 if raw.startswith("<") else 0
                url = _trim_url(raw[lead:].rstrip(">"))
                token = CitationToken(start + lead, start + lead + len(url), "url", urls=(url,), text=url)
        else:
            token = _marker(kind, match, text, tokens[-1] if tokens else None)
        if token is None:
            continue
        last = tokens[-1] if tokens else None
        if (
            token.kind == "marker"
            and last is not None
            and last.kind == "marker"
            and _BETWEEN_MARKERS.fullmatch(text, last.end, token.start)
        ):
            tokens[-1] = CitationToken(
                last.start, token.end, "marker", refs=last.refs + token.refs, bare=last.bare or token.bare
            )
        else:
            tokens.append(token)
    return tokens


def prose_lines(text: str) -> str:
    """``text`` with fenced code and footnote/link definitions blanked (line numbers kept)."""
    lines = text.split("\n")
    in_code = False
    for number, line in enumerate(lines):
        if _FENCE.match(line):
            in_code = not in_code
            lines[number] = ""
        elif in_code or DEFINITION.match(line):
            lines[number] = ""
    return "\n".join(lines)


def split_references(text: str) -> tuple[str, str]:
    """(body, references section); the section is the last References heading to the end of the text (the last one
    with a URL or a numbered entry after it, when some heading has)."""
    matches = list(_REFERENCES_HEADING.finditer(text))
    if not matches:
        return text, ""
    ends = [m.start() for m in matches[1:]] + [len(text)]  # each heading's own lines: a linear search in all
    listing = [
        m for m, end in zip(matches, ends) if _URL.search(text, m.end(), end) or _ENTRY_LINE.search(text, m.end(), end)
    ]
    start = (listing or matches)[-1].start()
    return text[:start], text[start:]


def _unique(numbers: list[int]) -> list[int]:
    return list(dict.fromkeys(numbers))


def cited_indices(body: str) -> list[int]:
    """Reference numbers cited by the markers of ``body`` (every style above), in order of first use."""
    return _unique([n for t in scan_citations(prose_lines(body)) if t.kind == "marker" for n in t.refs])


def cited_urls(body: str) -> list[str]:
    """URLs cited inline in ``body`` (links and bare URLs, not images), in order of first use."""
    return list(
        dict.fromkeys(u for t in scan_citations(prose_lines(body)) if t.kind in ("link", "url") for u in t.urls)
    )


_TRIM = " \t-–—:;,.<>*_\"'"
_PAIR = {"(": ")", "[": "]", ")": "(", "]": "["}


def is_reference_heading(line: str) -> bool:
    """Whether ``line`` is a references heading (in any of ``REFERENCE_HEADINGS``)."""
    return "\n" not in line and _REFERENCES_HEADING.match(line) is not None


def _clean_title(text: str) -> str:
    text = MD_LINK.sub(lambda m: m.group(1), text)
    text = _URL.sub("", text)
    text = re.sub(r"\b(?:available at|retrieved from|url)\s*(?::\s*)?$", "", text.strip(), flags=re.IGNORECASE)
    text = re.sub(r"\(\s*\)|\[\s*\]", "", text).strip(_TRIM)
    while text[:1] in ("(", "[") and text.count(text[0]) > text.count(_PAIR[text[0]]):  # brackets of their own
        text = text[1:].strip(_TRIM)
    while text[-1:] in (")", "]") and text.count(text[-1]) > text.count(_PAIR[text[-1]]):
        text = text[:-1].strip(_TRIM)
    return text


def entry_numbers(line: str) -> tuple[int, ...]:
    """The reference numbers a source-list entry line starts with (``()``: it does not start an entry)."""
    found = _ENTRY_INDEX.match(line)
    return tuple(int(n) for n in re.findall(r"\d+", next(g for g in found.groups() if g))) if found else ()


def read_entry(line: str) -> tuple[tuple[int, ...], str, str] | None:
    """(reference numbers, URL or ``""``, title) of a source-list entry, or None for a line that is neither numbered
    nor holds a URL. Numbers may be grouped (``[1] [4] [8] Title``); a link's target is its URL; markdown escapes
    leave the URL (``\\_`` is ``_``): no URL holds a backslash."""
    index_match = _ENTRY_INDEX.match(line)
    numbers = entry_numbers(line)
    rest = line[index_match.end() :] if index_match else line
    md = MD_LINK.search(rest)
    url_match = _URL.search(rest)
    if not numbers and url_match is None:
        return None
    url = md.group(2) if md else _trim_url(url_match.group(0)) if url_match else ""
    return numbers, re.sub(r"\\(?=[!-/:-@\[-`{-~])", "", url), _clean_title(rest)


def _entry(line: str) -> list[Citation]:
    entry = read_entry(line)
    if entry is None or not entry[1]:
        return []
    numbers, url, title = entry
    return [Citation(index=n, url=url, title=title) for n in numbers or (None,)]


def parse_reference_entries(section: str) -> list[Citation]:
    """Entries of a References section that carry a URL; numbered entries keep their number (each of a group's)."""
    return [citation for line in section.splitlines()[1:] for citation in _entry(line)]


def prose_tokens(body: str, numbers: Collection[int] | None = None) -> list[tuple[int, CitationToken]]:
    """(line index, token) of every citation token in the prose lines of ``body``: markers without brackets read
    against ``numbers``, the spaced ones too once the report has ``LOOSE_AFTER`` glued ones, the lettered ones in a
    report written so (``citation_forms``). One scan of the text, another only for a report of such markers."""
    lines = prose_lines(body).split("\n")

    def scan(loose: Literal["", "spaced", "lettered"]) -> list[tuple[int, CitationToken]]:
        return [(i, t) for i, line in enumerate(lines) for t in scan_citations(line, numbers, loose)]

    found = scan("")
    if not numbers:
        return found
    markers = [t for _, t in found if t.kind == "marker"]
    if sum(t.bare for t in markers) >= LOOSE_AFTER:
        return scan("spaced")
    enough = LOOSE_AFTER + len(markers)
    if len(_LETTERED_HINT.findall(body, 0, len(body))) >= enough:  # a cheap count first: the scan is slow
        lettered = scan("lettered")
        if sum(t.bare for _, t in lettered) >= enough:
            return lettered
    return found


def prose_markers(body: str, numbers: Collection[int] | None = None) -> Iterator[tuple[int, CitationToken]]:
    """(line index, marker) of every marker of ``prose_tokens``."""
    return ((i, t) for i, t in prose_tokens(body, numbers) if t.kind == "marker")


def parse_citations(text: str) -> tuple[list[Citation], dict[str, list[int]]]:
    """All citations of a report and a summary of marker use (cited numbers without an entry, and the reverse).

    Numbered entries come from the References section and from ``[^n]: url`` definitions anywhere; URLs cited
    inline (links, bare URLs) that are not an entry's URL follow with ``index=None``.
    """
    body, section = split_references(text)
    citations = parse_reference_entries(section) if section else []
    numbered = {c.index for c in citations if c.index is not None}
    for match in DEFINITION.finditer(body):
        line_end = body.find("\n", match.start())
        for entry in _entry(body[match.start() : line_end if line_end >= 0 else len(body)]):
            if entry.index is not None and entry.index not in numbered:
                numbered.add(entry.index)
                citations.append(entry)
    listed = numbered | {n for line in section.splitlines()[1:] for n in (read_entry(line) or ((),))[0]}
    known_urls = {c.url for c in citations}
    tokens = [token for _, token in prose_tokens(body, listed)]
    for token in tokens:
        if token.kind not in ("link", "url"):
            continue
        title = token.text.strip() if token.kind == "link" and len(token.urls) == 1 else ""
        for url in token.urls:
            if url not in known_urls:
                known_urls.add(url)
                citations.append(Citation(index=None, url=url, title=title))
    markers = _unique([n for t in tokens if t.kind == "marker" for n in t.refs])
    summary = {
        "cited_indices": markers,
        "dangling_markers": [n for n in markers if n not in numbered],
        "uncited_references": sorted(n for n in numbered if n not in set(markers)),
    }
    return citations, summary
