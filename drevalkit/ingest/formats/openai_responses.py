"""OpenAI Responses API results (``o3-deep-research``, ``o4-mini-deep-research``): the report is the text of the
last assistant ``message`` item's ``output_text`` parts, and its citations are the ``url_citation`` annotations
(``start_index``, ``end_index``, ``url``, ``title``) on that text.

Every distinct URL gets a number in order of first citation. An annotated span that is only a link (the
``([site](url))`` the deep-research models write) is replaced by the marker ``[n]``; any other span (a cited
sentence) gets ``[n]`` appended. A References list ``[n] Title - URL`` is added. Every ``utm_*`` tracking
parameter (``utm_source=openai``, ``utm_source=chatgpt.com``) is dropped from the listed URLs. A response whose
``status`` is ``failed`` or ``incomplete`` without text is a failed report with the API's reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .base import IMPORTERS, ImportedReport, ReportError, Source, parse_json, task_id_of
from .references import link_end, references_section
from .source_list import clean_url

_BRACKET_END = re.compile(r"[\]\n]")
LEFT_OUT = "url_citation annotations with missing or out-of-range indices were left out"


def _link_starts(span: str) -> Iterator[tuple[int, int]]:
    r"""(start, end) of each ``[text](`` (the matches of ``\[[^\]\n]*\]\(``). Every ``[`` before the same ``]`` or
    line end shares its outcome, so a run of ``[`` is passed in one step, where that pattern scanned the rest of the
    line from each of them (quadratic)."""
    pos = 0
    while (start := span.find("[", pos)) >= 0:
        close = _BRACKET_END.search(span, start + 1)
        if close is None:
            return
        if span.startswith("](", close.start()):
            yield start, close.start() + 2
            pos = close.start() + 2
        else:
            pos = close.start() + 1


def _only_links(span: str) -> bool:
    """Whether a span holds nothing but markdown links, parentheses and separators."""
    rest, pos, found = [], 0, False
    for link_start, link_open in _link_starts(span):
        if link_start < pos:
            continue
        end = link_end(span, link_open)
        if end < 0:
            return False
        rest.append(span[pos:link_start])
        pos, found = end, True
    rest.append(span[pos:])
    return found and not "".join(rest).strip(" \t()[],;.")


def _annotated(
    text: str, annotations: list[Any], numbers: dict[str, int], sources: list[Source], notes: list[str]
) -> str:
    spans: dict[tuple[int, int], dict[int, None]] = {}  # the numbers of a span in order, without repeats
    bad = 0
    for note in annotations:
        if not isinstance(note, dict) or note.get("type") != "url_citation":
            continue
        start, end, url = note.get("start_index"), note.get("end_index"), note.get("url")
        if not (
            isinstance(start, int)
            and isinstance(end, int)
            and not isinstance(start, bool)
            and 0 <= start <= end <= len(text)
            and isinstance(url, str)
            and url.startswith("http")
        ):
            bad += 1
            continue
        key = clean_url(url)
        if key not in numbers:
            numbers[key] = len(numbers) + 1
            sources.append(Source(url=key, title=str(note.get("title") or ""), index=numbers[key]))
        spans.setdefault((start, end), {})[numbers[key]] = None
    if bad:
        notes.append(f"{bad} {LEFT_OUT}")
    # edits on the original text: a link-only span that overlaps no other span is replaced by its marker,
    # every other span gets its marker inserted after it. In start order, a span overlaps an earlier one when some
    # earlier span ends after its start, and a later one when the next span starts before its end (the pairwise
    # test was quadratic in the number of annotations).
    ordered = sorted(spans.items())
    edits: dict[int, tuple[list[int], set[int]]] = {}  # position -> ([end of the replaced text], marker numbers)
    reach = -1  # the furthest end of the spans before this one
    for i, ((start, end), cited) in enumerate(ordered):
        overlaps = reach > start or (i + 1 < len(ordered) and ordered[i + 1][0][0] < end)
        reach = max(reach, end)
        if end > start and not overlaps and _only_links(text[start:end]):
            stop, marked = edits.setdefault(start, ([start], set()))
            stop[0] = end
        else:
            _, marked = edits.setdefault(end, ([end], set()))
        marked.update(cited)  # in place: merging into a new sorted list per span was quadratic
    # no edit reaches past the next one's position: the text is rebuilt once (a copy per edit was quadratic)
    pieces, position = [], 0
    for at in sorted(edits):
        stop, marked = edits[at]
        pieces += [text[position:at], "[" + ", ".join(str(n) for n in sorted(marked)) + "]"]
        position = stop[0]
    pieces.append(text[position:])
    return "".join(pieces)


@IMPORTERS.register("openai-responses")
class OpenAIResponsesImporter:
    name = "openai-responses"
    suffixes = ()

    @staticmethod
    def sniff(data: Any) -> bool:
        return (
            isinstance(data, dict)
            and isinstance(data.get("output"), list)
            and (
                data.get("object") == "response"
                or any(isinstance(i, dict) and i.get("type") == "message" for i in data["output"])
            )
        )

    def read(self, raw: str, path: Path) -> list[ImportedReport]:
        data = parse_json(raw, path)
        if not self.sniff(data):
            raise ReportError(f"{path}: expected an OpenAI Responses API result with an 'output' list")
        messages = [
            item
            for item in data["output"]
            if isinstance(item, dict) and item.get("type") == "message" and item.get("role", "assistant") == "assistant"
        ]
        parts = [
            part
            for part in (messages[-1].get("content") or [] if messages else [])
            if isinstance(part, dict) and part.get("type") == "output_text" and isinstance(part.get("text"), str)
        ]
        metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        report = ImportedReport(
            text="",
            format=self.name,
            source_path=str(path),
            entry="output[-1]",
            task_id=task_id_of(metadata.get("task_id")),
        )
        prompt = metadata.get("prompt") or metadata.get("query")
        report.prompt = prompt.strip() if isinstance(prompt, str) and prompt.strip() else None
        report.meta = {key: data[key] for key in ("id", "model", "status", "created_at") if key in data}
        report.meta["web_searches"] = sum(
            1 for i in data["output"] if isinstance(i, dict) and i.get("type") == "web_search_call"
        )
        numbers: dict[str, int] = {}
        texts = [
            _annotated(part["text"], part.get("annotations") or [], numbers, report.sources_used, report.notes)
            for part in parts
        ]
        report.text = "\n\n".join(t for t in texts if t.strip())
        report.warnings.extend(note for note in report.notes if note.endswith(LEFT_OUT))  # citations lost
        status = data.get("status")
        if not report.text.strip():
            reason = data.get("error") or data.get("incomplete_details")
            if status in ("failed", "incomplete", "cancelled") or reason:
                detail = reason.get("message") or reason.get("reason") if isinstance(reason, dict) else reason
                report.failure = (
                    f"api-status: the response is {status or 'not complete'}"
                    + (f" ({detail})" if detail else "")
                    + " and holds no report text"
                )
            else:
                report.failure = "empty: the response holds no output_text"
            return [report]
        if status not in (None, "completed"):
            report.notes.append(f"the response status is {status!r}: the report may be cut short")
        if report.sources_used:
            report.text = report.text.rstrip() + "\n\n" + references_section(report.sources_used)
            report.notes.append(f"markers and References list made from {len(report.sources_used)} cited URLs")
        return [report]
