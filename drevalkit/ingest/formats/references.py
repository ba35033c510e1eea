"""Normalised citations: ``[n]`` markers in the body and a ``## References`` list of ``[n] Title. URL`` entries, the
shape ``drevalkit.citations.parse_citations`` resolves. Every rewrite is recorded as a note.

Marker styles rewritten to ``[n]``:
- linked markers ``[n](url)``, ``[\\[n\\]](url)`` (HTML converted by trafilatura) and ``<sup>[n](#ref)</sup>`` /
  ``<sup>n</sup>``; when the References list has no entry ``n``, the link's URL becomes entry ``n``;
- footnotes ``[^n]`` and Perplexity's ``[^t_n]`` (their ``[^...]: ...`` definitions become the References list);
- ``【n】`` / ``［n］`` (full-width brackets) and ``[cite: n, m]``.

A references heading the parser does not know (``参考文献``, ``Quellen``, ``Références``, ``Reference``, ...) becomes
``## References``; entries numbered ``1、``, ``【1】`` or ``(1)`` become ``[1]``. Text outside markers, headings and
entry numbers is left as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...citations import split_references
from .base import Source

_URL = re.compile(r"https?://[^\s<>\"'\]]+", re.IGNORECASE)
_LINKED_MARKER = re.compile(r"(?<!!)\[(?:\\?\[)?(\d{1,4})(?:\\?\])?\]\((https?://|#)")
_SUP_LINK = re.compile(r"<sup>\s*\[(\d{1,4})\]\((?:[^()\s]|\([^()\s]*\))*\)\s*</sup>", re.IGNORECASE)
_SUP_PLAIN = re.compile(r"<sup>\s*\[?(\d{1,4}(?:\s*,\s*\d{1,4})*)\]?\s*</sup>", re.IGNORECASE)
_FOOTNOTE_DEF = re.compile(r"^\s{0,3}\[\^([A-Za-z0-9_.-]{1,20})\]:\s*(.*)$")
_FOOTNOTE_REF = re.compile(r"\[\^([A-Za-z0-9_.-]{1,20})\](?!:)")
_WIDE_MARKER = re.compile(r"[【［](\d{1,4}(?:\s*[,，、]\s*\d{1,4})*)[】］]")
_CITE_MARKER = re.compile(r"\[cite:\s*(\d{1,4}(?:\s*,\s*\d{1,4})*)\]", re.IGNORECASE)

# headings citations.py already recognises (kept as they are)
_KNOWN_HEADINGS = {"references", "sources", "bibliography", "works cited", "citations", "reference list"}
# headings rewritten to "## References"
_OTHER_HEADINGS = {
    "reference",
    "source list",
    "sources cited",
    "cited sources",
    "sources used",
    "sources used in the report",
    "references and sources",
    "sources and references",
    "literature",
    "further reading and references",
    "参考文献",
    "参考资料",
    "参考来源",
    "资料来源",
    "引用来源",
    "引用文献",
    "引用",
    "来源",
    "出典",
    "参考文献一覧",
    "quellen",
    "quellenverzeichnis",
    "literatur",
    "literaturverzeichnis",
    "références",
    "sources et références",
    "referencias",
    "fuentes",
    "bibliografía",
    "riferimenti",
    "fonti",
    "referências",
    "fontes",
}
# each run of spaces has one way to match, and the name starts and ends with a non-space: "\s*[:：]?\s*" around a
# lazy name that could begin or end in spaces took minutes on one line of a few thousand spaces
_HEADING_LINE = re.compile(
    r"^\s{0,3}(?:#{1,6}(?:\s*(?:\*\*|__))?|\*\*|__)?\s*(?P<name>[^\s*#:：](?:[^\n*#:：]{0,38}?[^\s*#:：])??)"
    r"\s*(?:[:：]\s*)?(?:(?:\*\*|__)\s*)?(?:[:：]\s*)?$"
)
_ENTRY_NUMBER = re.compile(
    r"^(\s*(?:[-*]\s*)?)(?:【(\d{1,4})】|［(\d{1,4})］|\((\d{1,4})\)|(\d{1,4})、|\[(\d{1,4})\](?!\())\s*"
)


@dataclass
class Normalised:
    text: str
    notes: list[str] = field(default_factory=list)
    linked: dict[int, str] = field(default_factory=dict)  # marker number -> URL of linked markers


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


def reference_heading(line: str) -> str | None:
    """'known', 'other' or None: whether a line is a references heading, and whether the parser knows it."""
    match = _HEADING_LINE.match(line)
    if not match:
        return None
    name = match.group("name").strip().lower()
    if name in _KNOWN_HEADINGS:
        return "known"
    if name in _OTHER_HEADINGS:
        return "other"
    return None


def _footnotes(text: str, notes: list[str]) -> str:
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
    notes.append(f"{len(definitions)} footnote definitions turned into a numbered References list")
    heading = "" if _has_heading(body) else "\n\n## References\n"
    return body + heading + "\n" + "\n".join(entries) + "\n"


def _has_heading(text: str) -> bool:
    tail = text.rstrip().split("\n")[-1:]
    return bool(tail) and reference_heading(tail[0]) is not None


def _rewrite_section(text: str, notes: list[str]) -> str:
    """Rename the last references heading the parser does not know, and renumber its entries as ``[n]``."""
    lines = text.split("\n")
    last = None
    for i, line in enumerate(lines):
        kind = reference_heading(line)
        if kind and any(_URL.search(after) for after in lines[i + 1 : i + 40]):
            last = (i, kind)
    if last is None:
        return text
    index, kind = last
    if kind == "other":
        notes.append(f"references heading {lines[index].strip()!r} renamed to '## References'")
        lines[index] = "## References"
    renumbered = 0
    for i in range(index + 1, len(lines)):
        match = _ENTRY_NUMBER.match(lines[i])
        if match and _URL.search(lines[i]) and not match.group(6):
            number = next(g for g in match.groups()[1:] if g)
            lines[i] = f"{match.group(1)}[{number}] " + lines[i][match.end() :]
            renumbered += 1
    if renumbered:
        notes.append(f"{renumbered} reference entries renumbered as [n]")
    return "\n".join(lines)


def normalise_references(text: str) -> Normalised:
    """Rewrite marker styles and the references heading as described in the module docstring."""
    notes: list[str] = []
    linked: dict[int, str] = {}
    text, count = _unlink_markers(text, linked)
    if count:
        notes.append(f"{count} linked markers [n](url) written as [n]")
    text, sup = _SUP_LINK.subn(lambda m: f"[{m.group(1)}]", text)
    text, sup_plain = _SUP_PLAIN.subn(lambda m: "[" + re.sub(r"\s+", "", m.group(1)).replace(",", ", ") + "]", text)
    if sup + sup_plain:
        notes.append(f"{sup + sup_plain} superscript markers written as [n]")
    text, wide = _WIDE_MARKER.subn(lambda m: "[" + re.sub(r"\s*[,，、]\s*", ", ", m.group(1)) + "]", text)
    text, cite = _CITE_MARKER.subn(lambda m: "[" + re.sub(r"\s*,\s*", ", ", m.group(1)) + "]", text)
    if wide + cite:
        notes.append(f"{wide + cite} 【n】 / [cite: n] markers written as [n]")
    text = _footnotes(text, notes)
    text = _rewrite_section(text, notes)
    text = _add_linked_entries(text, linked, notes)
    return Normalised(text=text, notes=notes, linked=linked)


def _entry_numbers(section: str) -> set[int]:
    numbers = set()
    for line in section.split("\n")[1:]:
        match = re.match(r"^\s*(?:[-*]\s*)?(?:\[\^?(\d{1,4})\]|(\d{1,4})[.)])", line)
        if match and _URL.search(line):
            numbers.add(int(match.group(1) or match.group(2)))
    return numbers


def _add_linked_entries(text: str, linked: dict[int, str], notes: list[str]) -> str:
    """Entries for linked markers whose number the References list lacks (the link said where ``[n]`` points)."""
    if not linked:
        return text
    _, section = split_references(text)
    listed = _entry_numbers(section)
    missing = sorted(n for n in linked if n not in listed)
    if not missing:
        return text
    entries = "\n".join(f"[{n}] {linked[n]}" for n in missing)
    notes.append(f"{len(missing)} References entries added from the URLs of linked markers")
    if section:
        return text.rstrip() + "\n" + entries + "\n"
    return text.rstrip() + "\n\n## References\n\n" + entries + "\n"


def _title(source: Source) -> str:
    title = _URL.sub("", " ".join(source.title.split())).strip(" .")
    return title.replace("[", "(").replace("]", ")")


def references_section(sources: list[Source]) -> str:
    """A ``## References`` section listing ``sources`` as ``[n] Title. URL`` (numbered by position or index)."""
    lines = ["## References", ""]
    for position, source in enumerate(sources, start=1):
        number = source.index or position
        title = _title(source)
        lines.append(f"[{number}] {title + '. ' if title else ''}{source.url}")
    return "\n".join(lines) + "\n"


def has_reference_list(text: str) -> bool:
    _, section = split_references(text)
    return bool(section) and bool(_URL.search(section))
