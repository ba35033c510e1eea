"""Canonical citations: whatever the input, ``[n]`` markers in the body and one final ``## References`` section with
one ``[n] Title - URL`` line per source, the one shape every later stage (``drevalkit.citations.parse_citations``)
and a reader sees. What was rewritten is counted (``Normalised.counts``, the sidecar's ``citations``) and noted.

Rewritten:
- linked markers ``[n](url)``, ``[\\[n\\]](url)`` (HTML converted by trafilatura) and ``<sup>[n](#ref)</sup>`` /
  ``<sup>n</sup>`` (a link's URL is source ``n`` when the list has none); footnotes ``[^n]`` and Perplexity's
  ``[^t_n]`` (their definitions are the source list); ``【n】`` / ``［n］`` and ``[cite: n, m]``;
- every other marker that cites a listed source and is not ``[n]`` already: markers without brackets (``offspring.1``,
  ``history.11,12``, ``優勢 1。``), ``^n^``, superscript digits, ranges (``[5-7]``);
- the source list, wherever it stands and however it is written (``source_list``): its heading, numbering, access
  dates, escapes and tracking parameters. A source cited by several numbers (``[1] [4] [8] Title``) or listed twice
  (one URL) keeps its first number, and markers citing another of its numbers are renumbered.

Prose, headings and markers that cite nothing listed are left as they are; canonical text comes back unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...citations import is_reference_heading, prose_markers
from ..sidecar import CitationCounts
from .base import Source, plural
from .source_list import ATTACHED, NO_URL, Entry, clean_url, find_source_list

_URL = re.compile(r"https?://[^\s<>\"'\]]+", re.IGNORECASE)
_LINKED_MARKER = re.compile(r"(?<!!)\[(?:\\?\[)?(\d{1,4})(?:\\?\])?\]\((https?://|#)")
_SUP_LINK = re.compile(r"<sup>\s*\[(\d{1,4})\]\((?:[^()\s]|\([^()\s]*\))*\)\s*</sup>", re.IGNORECASE)
_SUP_PLAIN = re.compile(r"<sup>\s*\[?(\d{1,4}(?:\s*,\s*\d{1,4})*)\]?\s*</sup>", re.IGNORECASE)
_FOOTNOTE_DEF = re.compile(r"^\s{0,3}\[\^([A-Za-z0-9_.-]{1,20})\]:\s*(.*)$")
_FOOTNOTE_REF = re.compile(r"\[\^([A-Za-z0-9_.-]{1,20})\](?!:)")
_WIDE_MARKER = re.compile(r"[【［](\d{1,4}(?:\s*[,，、]\s*\d{1,4})*)[】］]")
_CITE_MARKER = re.compile(r"\[cite:\s*(\d{1,4}(?:\s*,\s*\d{1,4})*)\]", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
_WIDE_SEPARATOR = re.compile(r"\s*[,，、]\s*")
_COMMA = re.compile(r"\s*,\s*")
# markers already written [n]: [1], [1, 2], [1][2], [1], [2]
_PLAIN = re.compile(r"\[\d{1,4}(?:, \d{1,4})*\](?:[ ,;]{0,3}\[\d{1,4}(?:, \d{1,4})*\])*")


@dataclass
class Normalised:
    text: str
    notes: list[str] = field(default_factory=list)
    linked: dict[int, str] = field(default_factory=dict)  # marker number -> URL of linked markers
    counts: CitationCounts = field(default_factory=CitationCounts)


MAX_LINK_TARGET = 4000
_TARGET_CHAR = r'[^ \n\t<>"()]'
_NESTED = _TARGET_CHAR
for _ in range(4):  # parentheses nested up to 4 deep
    _NESTED = rf"(?:{_TARGET_CHAR}|\({_NESTED}*\))"
# in C: a per-character loop cost 4000 steps per "[n](http" of a run of them (7 s on 160,000 characters)
_LINK_TARGET = re.compile(rf"{_NESTED}*\)")


def link_end(text: str, start: int) -> int:
    """Index just past the ``)`` closing a link target that starts at ``start`` (after the ``(``); parentheses
    inside the URL are balanced (up to 4 deep), as in ``https://x.example/outlook-(i)``. -1 when there is none on
    the line or within ``MAX_LINK_TARGET`` characters."""
    match = _LINK_TARGET.match(text, start, start + MAX_LINK_TARGET)
    return match.end() if match else -1


def _unlink_markers(text: str, linked: dict[int, str]) -> tuple[str, int]:
    out: list[str] = []
    pos = count = 0
    for match in _LINKED_MARKER.finditer(text):
        if match.start() < pos:
            continue
        target_start = match.end() - len(match.group(2))
        end = link_end(text, target_start)
        if end < 0:
            continue
        number, target = int(match.group(1)), text[target_start : end - 1]
        if target.lower().startswith("http"):
            linked.setdefault(number, target)
        out.append(text[pos : match.start()])
        out.append(f"[{number}]")
        pos = end
        count += 1
    out.append(text[pos:])
    return "".join(out), count


def _footnotes(text: str, counts: CitationCounts) -> str:
    """Footnote definitions ``[^x]: ...`` become a References list and ``[^x]`` markers become ``[n]``."""
    lines = text.split("\n")
    definitions: list[tuple[str, str]] = []
    keep: list[str] = []
    for line in lines:
        match = _FOOTNOTE_DEF.match(line)
        if match and _URL.search(match.group(2)):
            definitions.append((match.group(1), match.group(2).strip()))
        else:
            keep.append(line)
    if not definitions:
        return text
    numbers: dict[str, int] = {}
    assigned: set[int] = set()  # numbers.values(), which a scan per label made quadratic
    for label, _ in definitions:
        if label not in numbers:
            plain = label.isdigit() and int(label) not in assigned
            numbers[label] = int(label) if plain else 0
            assigned.add(numbers[label])
    used = {n for n in numbers.values() if n}
    next_free = 1
    for label, number in numbers.items():
        if not number:
            while next_free in used:
                next_free += 1
            numbers[label] = next_free
            used.add(next_free)
    body = "\n".join(keep).rstrip()
    body = _FOOTNOTE_REF.sub(lambda m: f"[{numbers[m.group(1)]}]" if m.group(1) in numbers else m.group(0), body)
    entries = [f"[{numbers[label]}] {value}" for label, value in definitions]
    counts.add("footnote definitions made the source list", len(definitions))
    heading = "" if _has_heading(body) else "\n\n## References\n"
    return body + heading + "\n" + "\n".join(entries) + "\n"


def _has_heading(text: str) -> bool:
    tail = text.rstrip().split("\n")[-1:]
    return bool(tail) and is_reference_heading(tail[0])


def _sources(entries: list[Entry], linked: dict[int, str], counts: CitationCounts) -> tuple[list[Source], dict]:
    """The canonical sources (one per URL, each with the first number it was listed under) and the number each listed
    number becomes. An unnumbered list is numbered by position; linked markers' URLs fill numbers the list lacks."""
    listed = {n for entry in entries for n in entry.numbers}
    unnumbered = not listed
    free = max(listed | set(linked), default=0) + 1
    sources: dict[int, Source] = {}
    by_url: dict[str, int] = {}
    mapping: dict[int, int] = {}
    for position, entry in enumerate(entries, start=1):
        numbers = entry.numbers or ((position,) if unnumbered else ())
        own = by_url.get(entry.url) if entry.url else None
        if own is not None:
            counts.add("entries merged: one URL listed twice")
        else:
            own = next((n for n in numbers if n not in sources), None)
            if own is None:
                own, free = free, free + 1
            title = entry.title if entry.url else f"{entry.title} {ATTACHED if entry.attachment else NO_URL}".strip()
            sources[own] = Source(url=entry.url, title=title, index=own)
            if entry.url:
                by_url[entry.url] = own
            counts.add("doi: / arXiv: targets written as URLs", entry.converted)
        for number in numbers:
            mapping.setdefault(number, own)
    for number, url in sorted(linked.items()):
        url = clean_url(url)
        if number not in mapping:
            mapping[number] = by_url.get(url, number)
            if number not in sources and url not in by_url:
                sources[number] = Source(url=url, title="", index=number)
                by_url[url] = number
                counts.add("sources taken from linked markers")
    return [sources[n] for n in sorted(sources)], mapping


def _rewrite_markers(body: str, mapping: dict[int, int], counts: CitationCounts) -> tuple[str, list[int]]:
    """``body`` with the markers that cite listed sources written ``[n]`` (module docstring), and the distinct
    numbers its markers cite as written in the original."""
    lines = body.split("\n")
    edits: dict[int, list[tuple[int, int, str]]] = {}
    cited: dict[int, None] = {}
    for index, token in prose_markers(body, mapping):
        cited.update(dict.fromkeys(token.refs))
        if not any(n in mapping for n in token.refs):
            continue  # cites nothing listed: left as written
        refs = sorted(dict.fromkeys(mapping.get(n, n) for n in token.refs))
        written = lines[index][token.start : token.end]
        if token.bare:
            counts.add("markers without brackets written [n]")
        elif refs != sorted(dict.fromkeys(token.refs)):
            counts.add("markers renumbered to their source's first number")
        elif not _PLAIN.fullmatch(written):
            counts.add("markers of other styles written [n]")
        else:
            continue
        edits.setdefault(index, []).append((token.start, token.end, "[" + ", ".join(map(str, refs)) + "]"))
    for index, changes in edits.items():  # each line rebuilt once (a copy per marker was quadratic)
        pieces, position = [], 0
        for start, end, replacement in changes:
            pieces += [lines[index][position:start], replacement]
            position = end
        lines[index] = "".join(pieces) + lines[index][position:]
    return "\n".join(lines), list(cited)


def _cause(cited: list[int], mapping: dict[int, int], targets: list[Source | None]) -> str:
    """Why some cited numbers link to nothing: no source list, numbers it lacks, or entries without a URL."""
    if not mapping:
        return "no source list found (a references heading with numbered entries, or [n] lines with URLs)"
    lacking = [n for n in cited if n not in mapping]
    if lacking:
        shown = ", ".join(map(str, lacking[:5])) + (", ..." if len(lacking) > 5 else "")
        listed = f"{min(mapping)}-{max(mapping)}" if len(mapping) > 1 else f"only {min(mapping)}"
        return f"markers cite numbers the source list lacks ({shown}; it lists {listed})"
    urlless = sum(1 for s in targets if s is not None and not s.url and not s.title.endswith(ATTACHED))
    return f"{plural(urlless, 'cited entry', 'cited entries')} of the source list {'has' if urlless == 1 else 'have'} no URL"


def _canonical(text: str, linked: dict[int, str], counts: CitationCounts) -> str:
    """The body with its markers written ``[n]`` and the source list, rewritten, at its end."""
    found = find_source_list(text)
    entries = found.entries if found is not None else []
    body = text
    if found is not None:
        lines = text.split("\n")
        body = "\n".join(lines[: found.start] + lines[found.end :])
    sources, mapping = _sources(entries, linked, counts)
    body, cited = _rewrite_markers(body, mapping, counts)
    by_number = {s.index: s for s in sources}
    targets = [by_number.get(mapping.get(n, -1)) for n in cited]
    counts.markers = len(cited)
    counts.resolved = sum(1 for s in targets if s is not None and s.url)
    counts.attached = sum(1 for s in targets if s is not None and not s.url and s.title.endswith(ATTACHED))
    counts.unresolved = counts.markers - counts.resolved - counts.attached
    counts.sources = len(sources)
    counts.cause = _cause(cited, mapping, targets) if counts.unresolved else ""
    if not sources:
        return body
    section = references_section(sources)
    if found is not None and "\n".join(text.split("\n")[found.start : found.end]).strip() != section.strip():
        counts.add("source lists written as the canonical ## References")
    return body.rstrip() + "\n\n" + section


def normalise_references(text: str) -> Normalised:
    """Rewrite markers and the source list into the canonical form described in the module docstring."""
    linked: dict[int, str] = {}
    counts = CitationCounts()
    text, count = _unlink_markers(text, linked)
    counts.add("linked markers [n](url) written [n]", count)
    text, sup = _SUP_LINK.subn(lambda m: f"[{m.group(1)}]", text)
    text, sup_plain = _SUP_PLAIN.subn(lambda m: "[" + _SPACES.sub("", m.group(1)).replace(",", ", ") + "]", text)
    counts.add("superscript markers written [n]", sup + sup_plain)
    text, wide = _WIDE_MARKER.subn(lambda m: "[" + _WIDE_SEPARATOR.sub(", ", m.group(1)) + "]", text)
    text, cite = _CITE_MARKER.subn(lambda m: "[" + _COMMA.sub(", ", m.group(1)) + "]", text)
    counts.add("【n】 / [cite: n] markers written [n]", wide + cite)
    text = _footnotes(text, counts)
    canonical = _canonical(text, linked, counts)
    if canonical.rstrip() != text.rstrip():
        text = canonical
    notes = [f"{what}: {n}" for what, n in counts.rewritten.items()]
    return Normalised(text=text, notes=notes, linked=linked, counts=counts)


def _title(source: Source) -> str:
    title = _URL.sub("", " ".join(source.title.split())).strip(" .")
    return title.replace("[", "(").replace("]", ")")


def references_section(sources: list[Source]) -> str:
    """A ``## References`` section listing ``sources`` as ``[n] Title - URL`` (numbered by position or index); a
    source without a URL is ``[n] Title`` (the canonical list says why: ``(attached file, no URL)``, ``(no URL)``)."""
    lines = ["## References", ""]
    for position, source in enumerate(sources, start=1):
        number = source.index or position
        title = _title(source)
        parts = [part for part in (title, source.url) if part]
        lines.append(f"[{number}] " + " - ".join(parts))
    return "\n".join(lines) + "\n"


def has_reference_list(text: str) -> bool:
    found = find_source_list(text)
    return found is not None and any(entry.url for entry in found.entries)
