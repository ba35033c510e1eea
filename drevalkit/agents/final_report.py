"""From the agent's final answer to the report that is written: thinking and tool markup removed, error and give-up
text refused, and every ``[n]`` mapped to a page the agent read.

The References list is rebuilt from the run's own records: each entry the agent wrote is matched (by URL, before or
after redirects) against the pages it read, and gets that page's title. A citation whose URL the agent never read
(only saw in search results, or never saw at all) and a cited number without an entry are flagged; a flagged entry
keeps the agent's own title and URL, so the fact-checker can still look at it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..citations import cited_indices, cited_urls, parse_reference_entries, split_references
from ..ingest.failures import detect_failure
from ..ingest.formats.base import Source
from ..ingest.formats.references import normalise_references, references_section
from ..ingest.sidecar import AgentCitation
from .tools import TaskTools, url_key

_WRAPPED = re.compile(r"^```(?:markdown|md)?[ \t]*\n(.*)\n```\s*$", re.DOTALL | re.IGNORECASE)
_URLLESS_ENTRY = re.compile(r"^\s*(?:[-*]\s*)?\[(\d{1,4})\]\s+(\S.*)$")


@dataclass
class FinalReport:
    text: str = ""
    failure: str | None = None
    citations: list[AgentCitation] = field(default_factory=list)
    unread: list[AgentCitation] = field(default_factory=list)


def _unwrap(text: str) -> str:
    """A report the model put inside one markdown code fence, out of it."""
    match = _WRAPPED.match(text.strip())
    return match.group(1).strip() if match else text.strip()


def _check(citation: AgentCitation, tools: TaskTools) -> AgentCitation:
    page = tools.was_read(citation.url)
    if page is not None:
        citation.read = True
        citation.read_url = page.url
        hit = tools.seen.get(url_key(page.url)) or tools.seen.get(url_key(page.final_url))
        citation.title = page.title or (hit.title if hit is not None else "") or citation.title
        return citation
    if url_key(citation.url) in tools.seen:
        citation.problem = "points to a page the agent only saw in search results and never read"
    else:
        citation.problem = "points to a page the agent never read"
    return citation


def build_report(answer: str, tools: TaskTools) -> FinalReport:
    """The report for ``answer`` (the final reply, thinking and tool markup already removed)."""
    text = _unwrap(answer)
    failure = detect_failure(text)
    if failure is not None:
        return FinalReport(failure=failure)
    text = normalise_references(text).text.strip()
    body, section = split_references(text)
    entries = parse_reference_entries(section) if section else []
    if entries and all(entry.index is None for entry in entries):  # an unnumbered list: numbered by position
        for position, entry in enumerate(entries, start=1):
            entry.index = position
    numbered = {}
    for entry in entries:
        if entry.index is not None and entry.index not in numbered:
            numbered[entry.index] = entry
    urlless = {}
    for line in section.splitlines()[1:]:
        match = _URLLESS_ENTRY.match(line)
        if match and int(match.group(1)) not in numbered:
            urlless[int(match.group(1))] = match.group(2).strip()
    cited = cited_indices(body)
    report = FinalReport()
    sources: list[Source] = []
    for number in sorted(numbered):
        entry = numbered[number]
        citation = _check(AgentCitation(index=number, url=entry.url, title=entry.title), tools)
        report.citations.append(citation)
        if citation.problem and number in cited:
            report.unread.append(citation)
        sources.append(Source(url=citation.read_url or entry.url, title=citation.title, index=number))
    for number in cited:
        if number not in numbered:
            citation = AgentCitation(index=number, problem="has no URL in the References list")
            if number in urlless:
                citation.title = urlless[number]
            report.citations.append(citation)
            report.unread.append(citation)
    listed = {url_key(entry.url) for entry in entries}
    for url in cited_urls(body):  # sources linked inline rather than numbered
        if url_key(url) in listed:
            continue
        listed.add(url_key(url))
        citation = _check(AgentCitation(index=None, url=url), tools)
        report.citations.append(citation)
        if citation.problem:
            report.unread.append(citation)
    text = body.rstrip()
    if sources or urlless:
        references = references_section(sources) if sources else "## References\n\n"
        extra = "".join(f"[{n}] {title}\n" for n, title in sorted(urlless.items()))
        text += "\n\n" + references + extra
    report.text = text.strip() + "\n"
    return report
