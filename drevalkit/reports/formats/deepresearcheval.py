"""DeepResearchEval outputs (``data/method_results/<system>/deep_research_<id>_<timestamp>.json``).

The shape, as published for Gemini 2.5 Pro Deep Research: ``{url, title, timestamp, entries: [{timestamp, query,
response, entry_type, deep_research_sources, thinking_panel}]}``. The report is ``entries[0].response``; its
``[n]`` markers (some linked, ``[n](url)``) refer to the n-th entry of the "Sources used in the report" part of
``deep_research_sources``, a string of concatenated ``[<domain><title>Opens in a new window](url)`` links; the
sources after "Sources read but not used in the report" are kept apart, in the sidecar. The task id is
``query_id`` when present, else the ``<id>`` of the file name; the prompt is ``entries[0].query``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .base import IMPORTERS, ImportedReport, ReportError, Source, host_of, parse_json, small_scalars, task_id_of
from .references import _link_end, has_reference_list, references_section

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
        end = _link_end(text, close + 2)
        if end < 0:
            pos = close + 2
            continue
        links.append((start, text[start + 1:close], text[close + 2:end - 1]))
        pos = end
    return links


def clean_title(title: str, url: str) -> str:
    """``bis.govCommerce Strengthens ...Opens in a new window`` -> ``Commerce Strengthens ...``."""
    title = _SUFFIX.sub("", " ".join(title.split()))
    host = host_of(url)
    if host and title.lower().startswith(host):
        title = title[len(host):].strip()
    return title or host


def parse_sources(value: Any) -> tuple[list[Source], list[Source]]:
    """(used, read but not used) from ``deep_research_sources``: the exported string, or a list of
    ``{url, title}`` objects / URL strings (all taken as used)."""
    used: list[Source] = []
    unused: list[Source] = []
    if isinstance(value, list):
        for item in value:
            if isinstance(item, str) and item.startswith("http"):
                used.append(Source(url=item, index=len(used) + 1))
            elif isinstance(item, dict) and isinstance(item.get("url"), str):
                title = str(item.get("title") or "")
                target = unused if item.get("used") is False else used
                target.append(Source(url=item["url"], title=clean_title(title, item["url"])))
        for i, source in enumerate(used, start=1):
            source.index = i
        return used, unused
    if not isinstance(value, str):
        return used, unused
    unused_at = _UNUSED.search(value)
    split = unused_at.start() if unused_at else len(value)
    for position, text, url in _links(value):
        source = Source(url=url, title=clean_title(text, url))
        if position < split:
            source.index = len(used) + 1
            used.append(source)
        else:
            unused.append(source)
    return used, unused


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
        task_id = (task_id_of(entry.get("query_id")) or task_id_of(data.get("query_id"))
                   or (match.group(1) if match else None))
        prompt = entry.get("query") if isinstance(entry.get("query"), str) and entry["query"].strip() else None
        used, unused = parse_sources(entry.get("deep_research_sources", data.get("deep_research_sources")))
        report = ImportedReport(text=response, format=self.name, source_path=str(path), task_id=task_id,
                                prompt=prompt.strip() if prompt else None, entry="entries[0]",
                                sources_used=used, sources_unused=unused)
        report.meta = {
            **small_scalars(data, skip={"entries"}, limit=500),
            **small_scalars(entry, skip={"response", "deep_research_sources", "query"}, limit=2000),
        }
        if len(entries) > 1:
            report.notes.append(f"{len(entries) - 1} later entries (follow-up turns) are not part of the report")
        self._check_markers(response, used, report)
        if used and not has_reference_list(response):
            report.text = response.rstrip() + "\n\n" + references_section(used)
            report.notes.append(f"References list built from the {len(used)} 'Sources used in the report'")
        return [report]

    @staticmethod
    def _check_markers(response: str, used: list[Source], report: ImportedReport) -> None:
        """Linked markers ``[n](url)`` say where ``[n]`` points; count those that disagree with the source list."""
        if not used:
            return
        agree = disagree = 0
        for match in _LINKED.finditer(response):
            end = _link_end(response, match.end() - len(match.group(2)))
            if end < 0:
                continue
            number, url = int(match.group(1)), response[match.end() - len(match.group(2)):end - 1]
            if 0 < number <= len(used) and used[number - 1].url == url:
                agree += 1
            else:
                disagree += 1
        if agree or disagree:
            report.meta["linked_markers_matching_sources"] = agree
        if disagree:
            report.notes.append(f"{disagree} linked markers point elsewhere than the source list entry of the same "
                                "number")
