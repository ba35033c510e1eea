"""OpenAI Responses API results (``o3-deep-research``, ``o4-mini-deep-research``): the report is the text of the
last assistant ``message`` item's ``output_text`` parts, and its citations are the ``url_citation`` annotations
(``start_index``, ``end_index``, ``url``, ``title``) on that text.

Every distinct URL gets a number in order of first citation. An annotated span that is only a link (the
``([site](url))`` the deep-research models write) is replaced by the marker ``[n]``; any other span (a cited
sentence) gets ``[n]`` appended. A References list ``[n] Title. URL`` is added. ``utm_source=openai`` /
``utm_source=chatgpt.com`` tracking parameters are dropped from the listed URLs. A response whose ``status`` is
``failed`` or ``incomplete`` without text is a failed report with the API's reason.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .base import IMPORTERS, ImportedReport, ReportError, Source, parse_json, task_id_of
from .references import _link_end, references_section

_TRACKER = re.compile(r"([?&])utm_source=(?:openai|chatgpt\.com)(&|$)")
_LINK_START = re.compile(r"\[[^\]\n]*\]\(")


def clean_url(url: str) -> str:
    url = _TRACKER.sub(lambda m: m.group(1) if m.group(2) else "", url)
    return url.rstrip("?&")


def _only_links(span: str) -> bool:
    """Whether a span holds nothing but markdown links, parentheses and separators."""
    rest, pos, found = [], 0, False
    for match in _LINK_START.finditer(span):
        if match.start() < pos:
            continue
        end = _link_end(span, match.end())
        if end < 0:
            return False
        rest.append(span[pos:match.start()])
        pos, found = end, True
    rest.append(span[pos:])
    return found and not "".join(rest).strip(" \t()[],;.")


def _annotated(text: str, annotations: list[Any], numbers: dict[str, int], sources: list[Source],
               notes: list[str]) -> str:
    spans: dict[tuple[int, int], list[int]] = {}
    bad = 0
    for note in annotations:
        if not isinstance(note, dict) or note.get("type") != "url_citation":
            continue
        start, end, url = note.get("start_index"), note.get("end_index"), note.get("url")
        valid = (isinstance(start, int) and isinstance(end, int) and not isinstance(start, bool)
                 and 0 <= start <= end <= len(text) and isinstance(url, str) and url.startswith("http"))
        if not valid:
            bad += 1
            continue
        key = clean_url(url)
        if key not in numbers:
            numbers[key] = len(numbers) + 1
            sources.append(Source(url=key, title=str(note.get("title") or ""), index=numbers[key]))
        spans.setdefault((start, end), [])
        if numbers[key] not in spans[(start, end)]:
            spans[(start, end)].append(numbers[key])
    if bad:
        notes.append(f"{bad} url_citation annotations with missing or out-of-range indices were left out")
    # edits on the original text: a link-only span that overlaps no other span is replaced by its marker,
    # every other span gets its marker inserted after it; applied from the end so indices stay valid
    ordered = sorted(spans.items())
    edits: dict[int, tuple[int, list[int]]] = {}  # position -> (end of the replaced text, marker numbers)
    for i, ((start, end), cited) in enumerate(ordered):
        overlaps = any(s < end and start < e for j, ((s, e), _) in enumerate(ordered) if j != i)
        if end > start and not overlaps and _only_links(text[start:end]):
            _, before = edits.get(start, (start, []))
            edits[start] = (end, sorted(set(before) | set(cited)))
        else:
            stop, numbers_at = edits.get(end, (end, []))
            edits[end] = (stop, sorted(set(numbers_at) | set(cited)))
    for position in sorted(edits, reverse=True):
        stop, cited = edits[position]
        text = text[:position] + "[" + ", ".join(str(n) for n in cited) + "]" + text[stop:]
    return text


@IMPORTERS.register("openai-responses")
class OpenAIResponsesImporter:
    name = "openai-responses"
    suffixes = ()

    @staticmethod
    def sniff(data: Any) -> bool:
        return (isinstance(data, dict) and isinstance(data.get("output"), list)
                and (data.get("object") == "response"
                     or any(isinstance(i, dict) and i.get("type") == "message" for i in data["output"])))

    def read(self, raw: str, path: Path) -> list[ImportedReport]:
        data = parse_json(raw, path)
        if not self.sniff(data):
            raise ReportError(f"{path}: expected an OpenAI Responses API result with an 'output' list")
        messages = [item for item in data["output"] if isinstance(item, dict) and item.get("type") == "message"
                    and item.get("role", "assistant") == "assistant"]
        parts = [part for part in (messages[-1].get("content") or [] if messages else [])
                 if isinstance(part, dict) and part.get("type") == "output_text" and isinstance(part.get("text"), str)]
        metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        report = ImportedReport(text="", format=self.name, source_path=str(path), entry="output[-1]",
                                task_id=task_id_of(metadata.get("task_id")))
        prompt = metadata.get("prompt") or metadata.get("query")
        report.prompt = prompt.strip() if isinstance(prompt, str) and prompt.strip() else None
        report.meta = {key: data[key] for key in ("id", "model", "status", "created_at") if key in data}
        report.meta["web_searches"] = sum(1 for i in data["output"] if isinstance(i, dict)
                                          and i.get("type") == "web_search_call")
        numbers: dict[str, int] = {}
        texts = [_annotated(part["text"], part.get("annotations") or [], numbers, report.sources_used,
                            report.notes) for part in parts]
        report.text = "\n\n".join(t for t in texts if t.strip())
        status = data.get("status")
        if not report.text.strip():
            reason = data.get("error") or data.get("incomplete_details")
            if status in ("failed", "incomplete", "cancelled") or reason:
                detail = reason.get("message") or reason.get("reason") if isinstance(reason, dict) else reason
                report.failure = f"api-status: the response is {status or 'not complete'}" + (
                    f" ({detail})" if detail else "") + " and holds no report text"
            else:
                report.failure = "empty: the response holds no output_text"
            return [report]
        if status not in (None, "completed"):
            report.notes.append(f"the response status is {status!r}: the report may be cut short")
        if report.sources_used:
            report.text = report.text.rstrip() + "\n\n" + references_section(report.sources_used)
            report.notes.append(f"markers and References list made from {len(report.sources_used)} cited URLs")
        return [report]
