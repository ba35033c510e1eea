"""The source list of a report as the products export it, read into entries for the canonical References list.

Where the list is (``find_source_list``):

* under the last references heading ``drevalkit.citations`` knows (``Works cited``, ``引用的著作``, ``Referenzen``,
  ...), up to the next markdown heading after its entries (what follows is the report's again);
* without a heading, the last run of ``[n]`` entries with URLs (ChatGPT's .docx export: ``[1] [4] [8] Title`` and the
  URL alone on the next line, several marker numbers for one source); a run of one entry only at the end.

An entry is its numbered line and the lines that continue it: indented or ``>``-quoted lines (pandoc wraps long
entries so), and its URL alone on a line. What an entry says (``read``): its numbers, URL and title, the title without
its localised access date (``accessed July 24, 2025``, ``檢索日期：11月 27, 2025``, ``2月 12, 2026にアクセス``), markdown
escapes and pandoc's ``{.underline}``; ``doi:10.x/y`` and ``arXiv:2303.17125`` become ``https://doi.org/10.x/y`` and
``https://arxiv.org/abs/2303.17125``; every ``utm_*`` tracking parameter leaves the URL; an entry with no URL that
names a file (``Kapitel 7_Batch.pdf``) is an attachment, listed as such.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ...citations import entry_numbers, prose_markers, read_entry, split_references

ATTACHED = "(attached file, no URL)"  # what the canonical list says of an attachment
NO_URL = "(no URL)"  # and of any other entry without a URL (so reading it again keeps it so)
MAX_ENTRY_LINES = 12  # pandoc wraps a long entry over a few lines; more is not one entry
MAX_LEAD_LINES = 3  # lines of prose between a references heading and its first entry ("Sources used: ...")
_HEADING = re.compile(r"^ {0,3}#{1,6}\s")
_URL_ONLY = re.compile(r"^[ \t]*(?:>[ \t]*)*(?:<?https?://\S+>?|\[[^\]\n]*\]\(https?://[^)\s]+\))[ \t]*$", re.I)
_GROUP_START = re.compile(r"^[ \t]{0,3}(?:[-*+][ \t]+)?\[\d{1,4}\](?!\()")
_NUMBERED_START = re.compile(r"^[ \t]{0,3}(?:>[ \t]?)?\d{1,4}\\?[.)][ \t]")
_CONTINUES = re.compile(r"^(?:[ \t]{2,}|[ \t]*>)")
_DOI = re.compile(r"\bdoi\s*[:：]\s*(10\.\d{4,9}/[^\s\]\[)(<>\"'，,；;]+)", re.I)
_ARXIV = re.compile(r"\barxiv\s*[:：]\s*(\d{4}\.\d{4,5}(?:v\d+)?|[a-z-]+(?:\.[A-Z]{2})?/\d{7}(?:v\d+)?)", re.I)
_FILE = re.compile(
    r"\.(?:pdf|docx?|xlsx?|pptx?|csv|tsv|txt|md|json|xml|zip|png|jpe?g)\b|\b(?:attached|attachment|uploaded)\b", re.I
)
# (no two runs of spaces meet: each run has one way to match, or a line of spaces is quadratic)
_DATE = (
    r"(?:\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}日?"
    r"|(?:\d{1,2}月|[^\s\d,，:：\[\]()]{1,12}\.?)[ \t]*\d{1,2}日?,?[ \t]*\d{4}年?"
    r"|\d{1,2}\.?[ \t]+[^\s\d,，\[\]()]{1,12}\.?[ \t]+\d{4})"
)
_ACCESSED = re.compile(
    r"(?:[,，;、][ \t]*)?(?:(?:accessed(?: on)?|retrieved(?: on)?|consulté le|consultado el|consultato il"
    r"|data di accesso|zugriff am|abgerufen am|fecha de acceso|acceso|acessado em|acesso em"
    rf"|访问时间为|访问日期|访问于|檢索日期|检索日期|存取日期)[ \t]*(?:[:：][ \t]*)?{_DATE}"
    rf"|{_DATE}[ \t]*(?:にアクセス|에 ?액세스함?))(?:[ \t]*[,，;、])?",
    re.I,
)
_YEAR = re.compile(r"(?<!\d)(?:1[5-9]|20)\d{2}(?!\d)")
_ESCAPE = re.compile(r"\\(?=[!-/:-@\[-`{-~])")


@dataclass
class Entry:
    """One source of the list: the marker numbers that cite it, its URL (``""``: none) and title."""

    numbers: tuple[int, ...]
    url: str
    title: str
    attachment: bool = False
    converted: bool = False  # a doi: / arXiv: target written as its URL


@dataclass
class SourceList:
    """The list's lines (``start`` to ``end``, the heading included) and its entries."""

    start: int
    end: int
    heading: str
    entries: list[Entry]


def clean_url(url: str) -> str:
    """``url`` without its ``utm_*`` tracking parameters (``utm_source=chatgpt.com``, ``utm_source=openai``)."""
    if "utm_" not in url:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not k.lower().startswith("utm_")]
    return urlunsplit(parts._replace(query=urlencode(query, safe=":/@!$'()*+,;=")))


def _title(text: str) -> str:
    text = _ACCESSED.sub(" ", text.replace("{.underline}", "").replace(ATTACHED, "").replace(NO_URL, ""))
    return " ".join(_ESCAPE.sub("", text).split()).strip(" ,，;、:-–—")


def read(text: str) -> Entry | None:
    """The entry a (joined) entry text describes, or None when it is not one."""
    parsed = read_entry(text)
    if parsed is None:
        return None
    numbers, url, title = parsed
    entry = Entry(numbers=numbers, url=clean_url(url), title=_title(title))
    if not url:
        target = _DOI.search(text) or _ARXIV.search(text)
        if target is not None:
            base = "https://doi.org/" if target.re is _DOI else "https://arxiv.org/abs/"
            entry.url, entry.converted = base + target.group(1).rstrip(".,;:"), True
            entry.title = _title(target.re.sub(" ", entry.title))
        elif ATTACHED in text or NO_URL in text:  # as the canonical list wrote it
            entry.attachment = ATTACHED in text
        else:  # a file, or a document named without a date or URL (Gemini's uploaded documents)
            entry.attachment = bool(_FILE.search(entry.title) or (entry.title and not _YEAR.search(text)))
    return entry


def _entry_at(lines: list[str], start: int, end: int) -> tuple[Entry | None, int]:
    """The entry whose first line is ``lines[start]``, and the index after its last line (before ``end``): at most
    ``MAX_ENTRY_LINES`` lines, so a run of indented lines is not one entry read again and again."""
    parts = [lines[start]]
    first = read(lines[start])
    url = first.url if first is not None else ""
    stop = start + 1
    for index in range(start + 1, min(end, start + 2 * MAX_ENTRY_LINES)):
        line = lines[index]
        if not line.strip():
            continue
        if entry_numbers(line) or len(parts) == MAX_ENTRY_LINES:
            break
        if _URL_ONLY.match(line):
            own = read(line)
            own_url = own.url if own is not None else ""
            if url and own_url != url:
                break  # a URL of its own: not this entry's
            url = url or own_url
        elif not _CONTINUES.match(line):
            break
        parts.append(line.strip().lstrip(">").strip())
        stop = index + 1
    return (read(" ".join(parts)) if len(parts) > 1 else first), stop


def _entries(lines: list[str], start: int, end: int) -> tuple[list[Entry], int]:
    """The entries under a heading (``start`` is its next line) and the index after the last. The list begins
    within ``MAX_LEAD_LINES`` lines of prose and before any other heading; a heading after its entries ends it."""
    entries: list[Entry] = []
    index = last = start
    lead = 0
    while index < end:
        line = lines[index]
        if _HEADING.match(line):
            break
        if not line.strip() or read_entry(line) is None:
            lead += bool(line.strip()) and not entries
            if lead > MAX_LEAD_LINES:
                break
            index += 1
            continue
        entry, index = _entry_at(lines, index, end)
        if entry is not None:
            entries.append(entry)
            last = index
    return entries, last


def _runs(lines: list[str], starts: re.Pattern[str]) -> Iterator[SourceList]:
    """Every run of entries with URLs whose first lines match ``starts``, blank lines between them."""
    index = 0
    while index < len(lines):
        if not starts.match(lines[index]):
            index += 1
            continue
        start, entries = index, []
        while index < len(lines) and starts.match(lines[index]):
            entry, after = _entry_at(lines, index, len(lines))
            if entry is None or not entry.url:
                break
            entries.append(entry)
            index = after
            while index < len(lines) and not lines[index].strip():
                index += 1
        if entries:
            yield SourceList(start, index, "", entries)
        index = max(index, start + 1)


def _headingless(lines: list[str]) -> SourceList | None:
    """The last run of ``[n]`` entries with URLs (two or more, or one that ends the text); else a run of ``1.``
    entries with URLs that ends the text and whose numbers a marker before it cites."""
    best = None
    for run in _runs(lines, _GROUP_START):
        if len(run.entries) >= 2 or run.end >= len(lines):
            best = run
    if best is not None:
        return best
    trailing = [run for run in _runs(lines, _NUMBERED_START) if run.end >= len(lines) and len(run.entries) >= 2]
    if trailing:
        numbers = {n for entry in trailing[-1].entries for n in entry.numbers}
        if next(prose_markers("\n".join(lines[: trailing[-1].start]), numbers), None) is not None:
            return trailing[-1]
    return None


def find_source_list(text: str) -> SourceList | None:
    """The report's source list (module docstring), or None when it has none."""
    lines = text.split("\n")
    body, section = split_references(text)
    if section:
        start = body.count("\n")
        while not lines[start].strip():  # the heading's match may begin on a blank line before it
            start += 1
        entries, end = _entries(lines, start + 1, len(lines))
        if entries:
            return SourceList(start, end, lines[start].strip(), entries)
    return _headingless(lines)
