"""Citations of a markdown report: ``[n]`` markers, a References list, and inline links."""

from __future__ import annotations

import re

from ..schemas import Citation

_REFERENCES_HEADING = re.compile(
    r"^\s{0,3}(?:#{1,6}\s*|\*\*)?(?:references|sources|bibliography|works cited|citations|reference list)"
    r"\s*:?\s*(?:\*\*)?\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_URL = re.compile(r"https?://[^\s<>\"'\]]+", re.IGNORECASE)
MD_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_ENTRY_INDEX = re.compile(r"^\s*(?:[-*]\s*)?(?:\[\^?(\d{1,4})\]:?|(\d{1,4})[.)]|\^(\d{1,4}):?)\s*")
_MARKER_GROUP = re.compile(r"\[(\d{1,4}(?:\s*(?:[,;]|[-\u2013])\s*\d{1,4})*)\](?!\()")


def _trim_url(url: str) -> str:
    """Drop sentence punctuation after a URL, and a closing parenthesis that does not belong to it."""
    while url and url[-1] in ".,;:!?*_)":
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


def split_references(text: str) -> tuple[str, str]:
    """(body, references section); the section is the last References heading to the end of the text."""
    matches = list(_REFERENCES_HEADING.finditer(text))
    if not matches:
        return text, ""
    start = matches[-1].start()
    return text[:start], text[start:]


def cited_indices(body: str) -> list[int]:
    """Reference numbers cited by ``[n]``, ``[n, m]`` and ``[n-m]`` markers, in order of first use."""
    seen: dict[int, None] = {}
    for match in _MARKER_GROUP.finditer(body):
        for part in re.split(r"\s*[,;]\s*", match.group(1)):
            bounds = re.split(r"\s*[-\u2013]\s*", part)
            if len(bounds) == 2:
                low, high = int(bounds[0]), int(bounds[1])
                numbers = range(low, high + 1) if 0 < high - low <= 50 else (low, high)
            else:
                numbers = (int(bounds[0]),)
            for number in numbers:
                seen.setdefault(number, None)
    return list(seen)


def _clean_title(text: str) -> str:
    text = MD_LINK.sub(lambda m: m.group(1), text)
    text = _URL.sub("", text)
    text = re.sub(r"\b(?:available at|retrieved from|url)\s*:?\s*$", "", text.strip(), flags=re.IGNORECASE)
    return text.strip(" \t-–—:;,.<>()[]*_\"'")


def parse_reference_entries(section: str) -> list[Citation]:
    """Entries of a References section that carry a URL; numbered entries keep their number."""
    citations: list[Citation] = []
    for line in section.splitlines()[1:]:
        url_match = _URL.search(line)
        if not url_match:
            continue
        index_match = _ENTRY_INDEX.match(line)
        index = None
        rest = line
        if index_match:
            index = int(next(g for g in index_match.groups() if g))
            rest = line[index_match.end() :]
        md = MD_LINK.search(rest)
        url = md.group(2) if md else _trim_url(url_match.group(0))
        citations.append(Citation(index=index, url=url, title=_clean_title(rest)))
    return citations


def parse_citations(text: str) -> tuple[list[Citation], dict[str, list[int]]]:
    """All citations of a report and a summary of marker use (cited numbers without an entry, and the reverse)."""
    body, section = split_references(text)
    citations = parse_reference_entries(section) if section else []
    known_urls = {c.url for c in citations}
    for match in MD_LINK.finditer(body):
        url = match.group(2)
        if url not in known_urls:
            known_urls.add(url)
            citations.append(Citation(index=None, url=url, title=match.group(1).strip()))
    numbered = {c.index for c in citations if c.index is not None}
    markers = cited_indices(body)
    summary = {
        "cited_indices": markers,
        "dangling_markers": [n for n in markers if n not in numbered],
        "uncited_references": sorted(n for n in numbered if n not in set(markers)),
    }
    return citations, summary
