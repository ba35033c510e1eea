"""Lines of a report that list its sources, wherever they stand, so that segmentation never offers one as a claim.

The References section is cut off before segmentation (``citations.split_references``), but exports put source
lines elsewhere too: a ChatGPT .docx export has no heading, only ``[1] [4] [8] Title`` lines each followed by its
URL on a line of its own; a Gemini export's ``N. Title, accessed <date>, URL`` entries may follow a heading in the
report's language; a report may end with ``[19] https://...`` lines. Such a line is a source list's entry:

* a line opening with reference markers (``[1]``, ``[1] [4]``, ``[^2]``) that holds a URL, or whose next line is
  only a URL (which goes with it);
* a line ending in a bare URL that says when the source was accessed (``accessed``, ``retrieved``, ``abgerufen``,
  ``consulté``, ``访问``, ``檢索``, ``閲覧``, ...);
* a numbered line (``1.``, ``2)``) ending in a bare URL, next to another such line (a list of sources).

A line that is only URLs or links (not in parentheses) belongs to the source list when it follows an entry; anywhere
else it cites them: it becomes a citation of the text before it, like ``(https://...)`` on a line of its own, and is
never a sentence.
"""

from __future__ import annotations

import re

from ..citations import CitationToken, scan_citations

_LEADING_MARKERS = re.compile(r"[ \t]*(?:[-*+][ \t]+)?(?:\[\^?\d{1,4}\][ \t,;]*)+")
_LIST_PREFIX = re.compile(r"[ \t]*(?:[-*+]|\d{1,4}[.)])[ \t]+")
_NUMBERED = re.compile(r"[ \t]*\d{1,4}[.)][ \t]+")
_SEPARATORS = re.compile(r"[\s,;:.\-–—|·•]*")
_ACCESSED = re.compile(
    r"\b(?:accessed|retrieved|last visited|viewed on|consulted|abgerufen|zugegriffen|consulté|consultado|consultato|"
    r"accedido|geraadpleegd)\b|访问|訪問|检索|檢索|閲覧|アクセス|查阅|查閱",
    re.IGNORECASE,
)


def _cites(tokens: list[CitationToken]) -> list[CitationToken]:
    return [t for t in tokens if t.kind in ("url", "link") and not t.enclosed]


def _urls_only(line: str, tokens: list[CitationToken]) -> bool:
    """The line is only bare URLs or links (after a list bullet or number and markers), separators between."""
    cited = _cites(tokens)
    if not cited or any(t.kind == "url" and t.enclosed for t in tokens):
        return False
    start = _LIST_PREFIX.match(line) or _LEADING_MARKERS.match(line)
    position = start.end() if start else 0
    for token in tokens:
        if not _SEPARATORS.fullmatch(line, position, max(position, token.start)):
            return False
        position = max(position, token.end)
    return _SEPARATORS.fullmatch(line, position) is not None


def _ends_in_url(line: str, tokens: list[CitationToken]) -> bool:
    cited = _cites(tokens)
    return bool(cited) and tokens[-1] is cited[-1] and _SEPARATORS.fullmatch(line, cited[-1].end) is not None


def source_lines(lines: list[str]) -> dict[int, str | None]:
    """Per line number of ``lines`` that lists sources: None when it is an entry of a source list (dropped), or
    the citation a line of URLs alone stands for (``<url>`` for each, cited by the text before it)."""
    tokens = [scan_citations(line) if ("http" in line or "HTTP" in line) else [] for line in lines]
    following = [-1] * len(lines)  # the next non-blank line of each line
    upcoming = -1
    for number in range(len(lines) - 1, -1, -1):
        following[number] = upcoming
        if lines[number].strip():
            upcoming = number
    numbered = [bool(_NUMBERED.match(line)) and _ends_in_url(line, tokens[n]) for n, line in enumerate(lines)]
    found: dict[int, str | None] = {}
    previous = -1  # the last non-blank line
    for number, line in enumerate(lines):
        if not line.strip() or number in found:
            continue
        after = following[number]
        url_only = _urls_only(line, tokens[number])
        opens_with_markers = bool(_LEADING_MARKERS.match(line)) and line.lstrip()[:1] in "[-*+"
        if opens_with_markers and (_cites(tokens[number]) or (after >= 0 and _urls_only(lines[after], tokens[after]))):
            found[number] = None
            if not _cites(tokens[number]):
                found[after] = None  # the entry's URL, on the next line
        elif _ends_in_url(line, tokens[number]) and (
            _ACCESSED.search(line)
            or (numbered[number] and ((previous >= 0 and numbered[previous]) or (after >= 0 and numbered[after])))
        ):
            found[number] = None
        elif url_only and previous >= 0 and previous in found and found[previous] is None:
            found[number] = None  # a URL alone in a source list
        elif url_only:
            found[number] = " ".join(f"<{url}>" for t in _cites(tokens[number]) for url in t.urls)
        previous = number
    return found
