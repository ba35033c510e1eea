"""The journaled steps shared by generation and revalidation: the roles' models, usage per stage, progress, and
the filter calls (qualification, the no-search answer, necessity, searchability) each recorded once per input."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from ..config import Settings
from ..factcheck.search import Searcher, SearchError, SearchUnavailable, make_backend, search_client
from ..llm import LLMClient, LLMError
from ..schemas import SearchHit, Task, Usage, stable_hash
from ..store import Store
from . import filters
from .drafts import PROMPTS
from .journal import Journal, llm_identity

ProgressHook = Callable[[str, int, int], None]  # (stage, advance, add to total)


@dataclass
class Roles:
    """The model of each role; one client may serve several."""

    generator: LLMClient
    answer: LLMClient
    judge: LLMClient

    def info(self) -> dict[str, Any]:
        return {role: getattr(self, role).judge_info.model_dump() for role in ("generator", "answer", "judge")}

    async def close(self) -> None:
        for client in {id(c): c for c in (self.generator, self.answer, self.judge)}.values():
            await client.close()


class Pipeline:
    """Shared by generation and revalidation: journaled steps, usage per stage, progress."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        roles: Roles,
        journal: Journal,
        progress: ProgressHook | None,
        searcher: Searcher | None,
    ):
        self.settings = settings
        self.store = store
        self.roles = roles
        self.journal = journal
        self.progress = progress or (lambda stage, advance, total: None)
        self.searcher = searcher
        self.usage: dict[str, Usage] = defaultdict(Usage)
        self.as_of = date.today().isoformat()
        self.language = settings.task_language

    async def step(
        self,
        stage: str,
        key_parts: Any,
        compute: Callable[[], Awaitable[tuple[Any, Usage]]],
        progress_stage: str | None = None,
    ) -> Any:
        """The journaled output of one step, computed (and recorded) only if no earlier run finished it."""
        key = stable_hash({"stage": stage, "inputs": key_parts, "prompts": PROMPTS.version}, 40)
        shown = progress_stage or stage
        recorded = await self.journal.get(stage, key)
        if recorded is not None:
            self.journal.reused[stage] += 1
            self.progress(shown, 1, 0)
            return recorded
        try:
            value, usage = await compute()
        except LLMError as exc:
            self.usage[stage].add(exc.usage)
            self.progress(shown, 1, 0)
            raise
        self.usage[stage].add(usage)
        await self.journal.put(stage, key, value)
        self.progress(shown, 1, 0)
        return value

    def total_usage(self) -> Usage:
        total = Usage()
        for usage in self.usage.values():
            total.add(usage)
        return total

    # -- the filter steps ------------------------------------------------------------------------------------
    async def qualification(self, task: Task) -> dict[str, Any]:
        judge = self.roles.judge
        inputs = {
            "task": task.model_dump(exclude={"id", "provenance"}),
            "judge": llm_identity(judge),
            "as_of": self.as_of,
        }

        async def compute() -> tuple[Any, Usage]:
            value, usage = await filters.qualify(judge, task, task.persona, self.as_of)
            return value.model_dump(), usage

        return await self.step("qualification", inputs, compute)

    async def baseline(self, task: Task) -> str:
        answerer = self.roles.answer
        inputs = {
            "task": task.model_dump(exclude={"id", "provenance", "persona"}),
            "model": llm_identity(answerer),
            "as_of": self.as_of,
        }

        async def compute() -> tuple[Any, Usage]:
            return await filters.answer_without_search(answerer, task, self.as_of)

        return await self.step("answer", inputs, compute)

    async def necessity(self, task: Task, answer: str) -> dict[str, Any]:
        judge = self.roles.judge
        inputs = {
            "task": task.model_dump(exclude={"id", "provenance", "persona"}),
            "answer": answer,
            "judge": llm_identity(judge),
            "as_of": self.as_of,
        }

        async def compute() -> tuple[Any, Usage]:
            value, usage = await filters.judge_necessity(judge, task, answer, self.as_of)
            return value.model_dump(), usage

        return await self.step("necessity", inputs, compute)

    async def searchable(self, task: Task, queries: list[str]) -> dict[str, Any]:
        """Search the key queries; with enough material, ask whether one page already answers the task. A check
        that searching could not complete raises ``SearchError`` (recorded as a failure, retried next run)."""
        assert self.searcher is not None
        settings = self.settings
        queries = [q for q in dict.fromkeys(" ".join(q.split()) for q in queries) if q][
            : settings.searchability_queries
        ]
        inputs = {"backend": self.searcher.backend.name, "k": self.searcher.k, "queries": queries}
        found = await self.step("search", inputs, lambda: self._search(queries), progress_stage="searchability")
        verdict = filters.searchability_verdict(
            found, settings.searchability_min_results, settings.searchability_min_domains
        )
        single = None
        if verdict["passed"] and found["hits"]:
            single = await self._single_page(task, found["hits"])
        found = {k: v for k, v in found.items() if k != "hits"}
        return filters.searchability_verdict(
            {**found, "single_page": single}, settings.searchability_min_results, settings.searchability_min_domains
        )

    async def _search(self, queries: list[str]) -> tuple[dict[str, Any], Usage]:
        """Every query's results, one entry per URL; any query that fails fails the whole search."""
        assert self.searcher is not None
        urls: dict[str, SearchHit] = {}
        errors = []
        for query in queries:
            try:
                for hit in await self.searcher.search(query):
                    urls.setdefault(hit.url, hit)
            except SearchUnavailable:
                raise
            except SearchError as exc:
                errors.append(f"{query!r}: {exc}")
        if errors:
            raise SearchError("; ".join(errors))
        hits = list(urls.values())
        return {
            "queries": queries,
            "urls": [h.url for h in hits],
            "sites": sorted({filters.site_of(h.url) for h in hits}),
            "hits": [h.model_dump() for h in hits[:10]],
        }, Usage(searches=len(queries))

    async def _single_page(self, task: Task, found_hits: list[dict[str, Any]]) -> dict[str, Any]:
        judge = self.roles.judge
        hits = [SearchHit.model_validate(h) for h in found_hits]
        inputs = {
            "task": task.model_dump(exclude={"id", "provenance", "persona"}),
            "hits": found_hits,
            "judge": llm_identity(judge),
        }

        async def compute() -> tuple[Any, Usage]:
            return await filters.check_single_page(judge, task, hits)

        self.progress("searchability", 0, 1)
        return await self.step("single_page", inputs, compute, progress_stage="searchability")


async def with_searcher(
    settings: Settings, store: Store, enabled: bool, body: Callable[[Searcher | None], Awaitable[Any]]
) -> Any:
    """Run ``body`` with a Searcher over the configured backend (or None when searchability is off)."""
    if not enabled:
        return await body(None)
    backend = make_backend(settings, store)
    async with search_client(settings) as client:
        return await body(Searcher(backend, store, settings, client=client))
