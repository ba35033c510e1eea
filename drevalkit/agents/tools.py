"""The two tools every agent gets, whatever its protocol: web search and read-a-URL.

Search goes through the project's ``Searcher`` (any backend, answers stored and shared across runs and with the
fact-checker); reading goes through the guarded ``Fetcher`` (no private addresses unless allowed, size, time and
redirect caps, extraction in worker processes). A page's text is cut to ``agent_page_chars`` with a marker saying
how much was left out, or, with ``agent_extract``, handed to an "extract what was asked" call whose answer is what
the agent sees. Each task keeps its own record of what it searched and read: the pages it read are the only ones
its report may cite without a flag.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..factcheck.fetch import Fetcher
from ..factcheck.search import Searcher, SearchError, SearchUnavailable, normalise_query
from ..prompts import PromptSet
from ..schemas import SearchHit
from .endpoint import AgentEndpoint

PROMPTS = PromptSet("drevalkit.agents")
EXTRACT_INPUT_CHARS = 100_000  # of a page's text sent to the extraction call
EXTRACT_MAX_TOKENS = 2048


def url_key(url: str) -> str:
    """The form URLs are compared in: scheme and host lower-cased, default port, fragment and trailing slash
    dropped (``https://Example.org/a/#x`` and ``https://example.org/a`` are one page)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url.strip()
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    path = parts.path.rstrip("/") or ""
    return urlunsplit((scheme, host, path, parts.query, ""))


@dataclass
class PageRead:
    """A page the agent read: the URL it asked for, where it ended up, its title and how much text it had."""

    url: str
    final_url: str
    title: str
    chars: int
    turn: int


@dataclass
class SearchOutcome:
    query: str
    hits: list[SearchHit] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0


@dataclass
class ReadOutcome:
    url: str
    final_url: str = ""
    title: str = ""
    text: str = ""  # what the agent is shown: the page cut to the budget, or the extraction's answer
    error: str = ""
    page_chars: int = 0  # the whole extracted page
    cut: bool = False
    extracted: bool = False  # ``text`` is the answer of the extraction call
    extract_tokens: tuple[int, int] = (0, 0)  # prompt and completion tokens of the extraction call
    seconds: float = 0.0


class Extractor:
    """ "Extract what was asked" from a page with one plain chat call (the agent's model or the judge's)."""

    def __init__(self, endpoint: AgentEndpoint, max_tokens: int = EXTRACT_MAX_TOKENS):
        self.endpoint = endpoint
        self.max_tokens = max_tokens

    async def extract(self, url: str, title: str, text: str, info: str) -> tuple[str, tuple[int, int]]:
        page = text[:EXTRACT_INPUT_CHARS]
        messages = [
            {"role": "system", "content": PROMPTS.render("extract_system.j2")},
            {
                "role": "user",
                "content": PROMPTS.render(
                    "extract_page.j2",
                    url=url,
                    title=title,
                    page=page,
                    info=info,
                    cut=len(text) > len(page),
                    total=len(text),
                ),
            },
        ]
        reply = await self.endpoint.complete({"messages": messages, "temperature": 0.0, "max_tokens": self.max_tokens})
        return reply.content.strip(), (reply.prompt_tokens, reply.completion_tokens)


class Toolbox:
    """The shared searcher, fetcher and extractor of a run; ``for_task`` gives each task its own record."""

    def __init__(
        self,
        searcher: Searcher,
        fetcher: Fetcher,
        *,
        page_chars: int,
        search_results: int,
        extractor: Extractor | None = None,
    ):
        self.searcher = searcher
        self.fetcher = fetcher
        self.page_chars = page_chars
        self.search_results = search_results
        self.extractor = extractor

    def for_task(self) -> TaskTools:
        return TaskTools(self)


class TaskTools:
    """One task's tools and what it did with them: pages read (by URL key, also under the final URL after
    redirects) and every URL its searches returned."""

    def __init__(self, box: Toolbox):
        self.box = box
        self.read_pages: dict[str, PageRead] = {}
        self.seen: dict[str, SearchHit] = {}
        self.searches = 0

    def was_read(self, url: str) -> PageRead | None:
        return self.read_pages.get(url_key(url))

    async def search(self, query: str, num: int | None = None) -> SearchOutcome:
        started = time.perf_counter()
        outcome = SearchOutcome(query=normalise_query(query))
        self.searches += 1
        try:
            hits = await self.box.searcher.search(query)
        except SearchUnavailable as exc:
            outcome.error = f"web search is unavailable for the rest of this run: {exc}"
        except SearchError as exc:
            outcome.error = f"the search failed: {exc}"
        else:
            limit = self.box.search_results if num is None else max(1, min(num, self.box.search_results))
            outcome.hits = hits[:limit]
            for hit in outcome.hits:
                self.seen.setdefault(url_key(hit.url), hit)
        outcome.seconds = round(time.perf_counter() - started, 3)
        return outcome

    async def read(self, url: str, info: str = "", *, turn: int = 0) -> ReadOutcome:
        started = time.perf_counter()
        outcome = ReadOutcome(url=url.strip())
        record, text = await self.box.fetcher.fetch(outcome.url)
        outcome.final_url = record.final_url or outcome.url
        outcome.title = record.title
        if not record.ok or text is None:
            outcome.error = f"could not read {outcome.url}: {record.error or 'no text'}"
        elif not text.strip():
            outcome.error = f"{outcome.url} has no readable text"
        else:
            outcome.page_chars = len(text)
            page = PageRead(
                url=outcome.url, final_url=outcome.final_url, title=record.title, chars=len(text), turn=turn
            )
            self.read_pages.setdefault(url_key(outcome.url), page)
            self.read_pages.setdefault(url_key(outcome.final_url), page)
            if self.box.extractor is not None and info.strip():
                try:
                    outcome.text, outcome.extract_tokens = await self.box.extractor.extract(
                        outcome.url, record.title, text, info
                    )
                    outcome.extracted = True
                except Exception as exc:  # noqa: BLE001 - any failure of the extraction call: show the page instead
                    outcome.text = ""
                    outcome.error = ""
                    outcome.extracted = False
                    self._cut(outcome, text, note=f"(the extraction call failed: {type(exc).__name__}: {exc}) ")
                if outcome.extracted and not outcome.text:
                    self._cut(outcome, text, note="(the extraction call returned nothing) ")
            else:
                self._cut(outcome, text)
            if record.note:
                outcome.text += f"\n\n[note: {record.note}]"
        outcome.seconds = round(time.perf_counter() - started, 3)
        return outcome

    def _cut(self, outcome: ReadOutcome, text: str, note: str = "") -> None:
        budget = self.box.page_chars
        if len(text) <= budget:
            outcome.text = (f"[{note.strip()}]\n\n" if note else "") + text
            return
        outcome.cut = True
        outcome.text = text[:budget] + (
            f"\n\n[... {note}page cut: the first {budget} of {len(text)} characters are shown ...]"
        )


async def run_with_deadline(coro: Any, deadline: float | None) -> Any:
    """``coro``'s result, or ``asyncio.TimeoutError`` when the task's time cap passes first."""
    if deadline is None:
        return await coro
    return await asyncio.wait_for(coro, max(0.0, deadline - time.monotonic()))
