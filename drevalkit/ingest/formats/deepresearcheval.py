"""DeepResearchEval outputs (``data/method_results/<system>/deep_research_<id>_<timestamp>.json``).

The shape, as published for Gemini 2.5 Pro Deep Research: ``{url, title, timestamp, entries: [{timestamp, query,
response, entry_type, deep_research_sources, thinking_panel}]}``. The report is ``entries[0].response``; its
``[n]`` markers (some linked, ``[n](url)``) refer to the n-th entry of the "Sources used in the report" part of
``deep_research_sources``, a string of concatenated ``[<domain><title>Opens in a new window](url)`` links; the
sources after "Sources read but not used in the report" are kept apart, in the sidecar. The task id is
``query_id`` when present, else the ``<id>`` of the file name; the prompt is ``entries[0].query``.

Other tools write the sources in other shapes; these are read too: a list of ``{title, url}`` objects (``link`` /
``href`` for ``url``; ``"used": false`` ones are read-but-not-used), a list of strings holding URLs (heading strings
such as "Sources read but not used" between them switch to the unused list), sections ``{title, sources: [...]}``
(a section named "Sources read but not used" holds the unused ones) and ``{"Sources used in the report": [...]}``.
A field that is present but cannot be read is a note and a warning, never silently an empty source list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base import (
    IMPORTERS,
    ImportedReport,
    ReportError,
    Source,
    host_of,
    parse_json,
    plural,
    small_scalars,
    task_id_of,
)
from .references import has_reference_list, link_end, references_section

_FILE_ID = re.compile(r"^deep_research_(\d+)(?:_|$)")
_USED = re.compile(r"sources used in (?:the|this) report", re.IGNORECASE)
_UNUSED = re.compile(r"sources read but not used(?: in (?:the|this) report)?", re.IGNORECASE)
_LINKED = re.compile(r"(?<!!)\[(\d{1,4})\]\((https?://)")
_SUFFIX = re.compile(r"\s*Opens in a new window\s*$", re.IGNORECASE)


def _links(text: str) -> list[tuple[int, str, str]]:
    """(position, text, url) of the ``[text](url)`` links of a concatenated source list; URLs may hold
    balanced parentheses."""
    links = []
    pos = 0
    while True:
        start = text.find("[", pos)
        if start < 0:
            break
        close = text.find("](http", start)
        if close < 0:
            break
        end = link_end(text, close + 2)
        if end < 0:
            pos = close + 2
            continue
        links.append((start, text[start + 1 : close], text[close + 2 : end - 1]))
        pos = end
    return links


def clean_title(title: str, url: str) -> str:
    """``bis.govCommerce Strengthens ...Opens in a new window`` -> ``Commerce Strengthens ...``."""
    title = _SUFFIX.sub("", " ".join(title.split()))
    host = host_of(url)
    if host and title.lower().startswith(host):
        title = title[len(host) :].strip()
    return title or host


EXPECTED_SOURCES = (
    "a string of '[title](url)' links ('Sources used in the report' ... 'Sources read but not "
    "used'), or a list of {title, url} objects, URL strings, or sections {title, sources: [...]}"
)
_BARE_URL = re.compile(r"https?://[^\s<>\"'()\[\]]+(?:\([^\s()]*\)[^\s<>\"'()\[\]]*)*", re.IGNORECASE)
_TITLE_EDGES = " \t-–—:|•*,;"
_URL_KEYS = ("url", "link", "href", "uri")
_LIST_KEYS = ("sources", "items", "links", "urls", "results")
_NAME_KEYS = ("section", "title", "heading", "name", "label", "type")
_MARKER = re.compile(r"(?<![\w\[])\[(\d{1,4})\]")


@dataclass
class ParsedSources:
    """The sources read from ``deep_research_sources``, and how many items of it could not be read."""

    used: list[Source] = field(default_factory=list)
    unused: list[Source] = field(default_factory=list)
    unreadable: int = 0


def _from_string(value: str, unused_part: bool, parsed: ParsedSources) -> None:
    """The exported string of concatenated links (split at 'Sources read but not used'), else its bare URLs."""
    unused_at = _UNUSED.search(value)
    split = 0 if unused_part else unused_at.start() if unused_at else len(value)
    links = _links(value)
    found = [(position, clean_title(text, url), url) for position, text, url in links]
    if not found:  # no markdown links: plain URLs, each titled by the text before it on its line
        line_start = 0
        for match in _BARE_URL.finditer(value):
            # back to the previous URL at most: a search back to the start of the text per URL was quadratic
            line_start = max(line_start, value.rfind("\n", line_start, match.start()) + 1)
            title = _UNUSED.sub("", _USED.sub("", value[line_start : match.start()])).strip(_TITLE_EDGES)[:300]
            found.append((match.start(), " ".join(title.split()), match.group(0).rstrip(".,;")))
            line_start = match.end()
    for position, title, url in found:
        (parsed.used if position < split else parsed.unused).append(Source(url=url, title=title or host_of(url)))


def _from_item(item: Any, unused_part: bool, parsed: ParsedSources, depth: int = 0) -> None:
    """One item of a source list: a URL string, a {title, url} object, or a section of further items."""
    if isinstance(item, str):
        before = len(parsed.used) + len(parsed.unused)
        _from_string(item, unused_part, parsed)
        parsed.unreadable += len(parsed.used) + len(parsed.unused) == before and bool(item.strip())
        return
    if isinstance(item, dict):
        url = next(
            (
                item[k].strip()
                for k in _URL_KEYS
                if isinstance(item.get(k), str) and item[k].strip().lower().startswith(("http://", "https://"))
            ),
            None,
        )
        if url is not None:
            title = clean_title(str(item.get("title") or item.get("name") or ""), url)
            unused = unused_part or item.get("used") is False
            (parsed.unused if unused else parsed.used).append(Source(url=url, title=title))
            return
        inner = next((item[k] for k in _LIST_KEYS if isinstance(item.get(k), (list, str))), None)
        if inner is not None and depth < 3:
            name = " ".join(str(item.get(k)) for k in _NAME_KEYS if isinstance(item.get(k), str))
            _from_value(inner, unused_part or bool(_UNUSED.search(name)), parsed, depth + 1)
            return
        if depth < 3 and any(
            isinstance(k, str) and (_USED.search(k.replace("_", " ")) or _UNUSED.search(k.replace("_", " ")))
            for k in item
        ):  # {"Sources used in the report": [...], ...}
            for key, value in item.items():
                _from_value(value, unused_part or bool(_UNUSED.search(str(key).replace("_", " "))), parsed, depth + 1)
            return
    parsed.unreadable += 1


def _from_value(value: Any, unused_part: bool, parsed: ParsedSources, depth: int) -> None:
    if isinstance(value, list):
        for item in value:
            if isinstance(item, str) and not _BARE_URL.search(item) and (_USED.search(item) or _UNUSED.search(item)):
                unused_part = unused_part or bool(_UNUSED.search(item))  # a heading line between the items
                continue
            _from_item(item, unused_part, parsed, depth)
    else:
        _from_item(value, unused_part, parsed, depth)


def parse_sources(value: Any) -> ParsedSources:
    """Used and read-but-not-used sources from ``deep_research_sources``: the exported string, a list of
    ``{title, url}`` objects (``"used": false`` ones apart) or URL strings, or sections of them (a section named
    'Sources read but not used' holds unused ones); items that cannot be read are counted, not guessed at."""
    parsed = ParsedSources()
    if value is None:
        return parsed
    _from_value(value, False, parsed, 0)
    for i, source in enumerate(parsed.used, start=1):
        source.index = i
    return parsed


def _shape(value: Any) -> str:
    if isinstance(value, list):
        kinds = sorted({type(item).__name__ for item in value})
        return f"a list of {len(value)} items ({', '.join(kinds) or 'empty'})"
    return f"a {type(value).__name__}"


@IMPORTERS.register("deepresearcheval")
class DeepResearchEvalImporter:
    name = "deepresearcheval"
    suffixes = (".json",)

    @staticmethod
    def sniff(data: Any) -> bool:
        return isinstance(data, dict) and isinstance(data.get("entries"), list)

    def read(self, raw: str, path: Path) -> list[ImportedReport]:
        data = parse_json(raw, path)
        entries = data.get("entries") if isinstance(data, dict) else None
        if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
            raise ReportError(f"{path}: expected a DeepResearchEval JSON object with a non-empty 'entries' list")
        entry = entries[0]
        response = entry.get("response")
        if not isinstance(response, str):
            raise ReportError(f"{path}: entries[0].response is missing or not a string")
        match = _FILE_ID.match(path.name)
        task_id = (
            task_id_of(entry.get("query_id")) or task_id_of(data.get("query_id")) or (match.group(1) if match else None)
        )
        prompt = entry.get("query") if isinstance(entry.get("query"), str) and entry["query"].strip() else None
        raw_sources = entry.get("deep_research_sources", data.get("deep_research_sources"))
        parsed = parse_sources(raw_sources)
        used, unused = parsed.used, parsed.unused
        report = ImportedReport(
            text=response,
            format=self.name,
            source_path=str(path),
            task_id=task_id,
            prompt=prompt.strip() if prompt else None,
            entry="entries[0]",
            sources_used=used,
            sources_unused=unused,
        )
        report.meta = {
            **small_scalars(data, skip={"entries"}, limit=500),
            **small_scalars(entry, skip={"response", "deep_research_sources", "query"}, limit=2000),
        }
        if len(entries) > 1:
            report.notes.append(f"{len(entries) - 1} later entries (follow-up turns) are not part of the report")
        self._check_sources(raw_sources, parsed, response, report)
        self._check_markers(response, used, report)
        if used and not has_reference_list(response):
            report.text = response.rstrip() + "\n\n" + references_section(used)
            report.notes.append(f"References list built from the {len(used)} 'Sources used in the report'")
        return [report]

    @staticmethod
    def _check_sources(value: Any, parsed: ParsedSources, response: str, report: ImportedReport) -> None:
        """Say so, in the notes and as a warning, when the field is there but (some of it) cannot be read."""
        present = value is not None and value != "" and value != []
        if not present:
            return
        markers = len({m.group(1) for m in _MARKER.finditer(response)})
        if not parsed.used and not parsed.unused:
            message = (
                f"could not read deep_research_sources: expected {EXPECTED_SOURCES}; got {_shape(value)}; "
                f"{plural(markers, 'marker')} {'has' if markers == 1 else 'have'} no source"
            )
            report.notes.append(message)
            report.warnings.append(message)
        elif parsed.unreadable:
            dangling = len({m.group(1) for m in _MARKER.finditer(response) if int(m.group(1)) > len(parsed.used)})
            message = (
                f"{plural(parsed.unreadable, 'item')} of deep_research_sources could not be read (expected "
                f"{EXPECTED_SOURCES}); they are left out"
            )
            if dangling:
                message += f"; {plural(dangling, 'marker')} {'has' if dangling == 1 else 'have'} no source"
            report.notes.append(message)
            report.warnings.append(message)

    @staticmethod
    def _check_markers(response: str, used: list[Source], report: ImportedReport) -> None:
        """Linked markers ``[n](url)`` say where ``[n]`` points; count those that disagree with the source list."""
        if not used:
            return
        agree = disagree = 0
        for match in _LINKED.finditer(response):
            end = link_end(response, match.end() - len(match.group(2)))
            if end < 0:
                continue
            number, url = int(match.group(1)), response[match.end() - len(match.group(2)) : end - 1]
            if 0 < number <= len(used) and used[number - 1].url == url:
                agree += 1
            else:
                disagree += 1
        if agree or disagree:
            report.meta["linked_markers_matching_sources"] = agree
        if disagree:
            report.notes.append(
                f"{disagree} linked markers point elsewhere than the source list entry of the same number"
            )
