"""Running the task stage for ``dreval generate-tasks``, shared by generation and ``--revalidate``: the client of
each role, whether tasks must be searchable, one progress bar per stage, and how a run ends on interruption or an
unusable service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..aio import run_loop
from ..config import Settings
from ..factcheck.search import Searcher, SearchError, make_backend
from ..llm import LLMClient, LLMUnavailable, open_llm
from ..store import Store
from ..tasks.generate import GenerationError
from ..tasks.pipeline import Roles, with_searcher
from .app import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_JUDGE, fail
from .console import stderr

STAGE_LABELS = {
    "personas": "synthesizing personas",
    "generation": "writing tasks",
    "qualification": "qualification filter",
    "answer": "answering without search",
    "necessity": "necessity filter",
    "searchability": "searchability",
}

# the stage's work given the searcher (None with searchability off) and the progress hook
StageBody = Callable[[Searcher | None, "StageProgress"], Awaitable[Any]]


def searchability_of(settings: Settings, store: Store, requested: bool | None) -> bool:
    """On when asked, off when refused, else on exactly when the configured backend searches the web."""
    if requested is False:
        return False
    try:
        backend = make_backend(settings, store)
    except SearchError as exc:
        store.close()
        fail(f"searchability: {exc}", EXIT_BAD_INPUT)
    return True if requested else bool(getattr(backend, "remote", True))


def open_roles(settings: Settings, store: Store, default: LLMClient) -> Roles:
    """A client per role model (``--generator-model``, ``--judge-model``, ``--answer-model``), one per model."""
    clients: dict[str, LLMClient] = {default.model: default}

    def client(model: str | None) -> LLMClient:
        if not model or model == default.model:
            return default
        if model not in clients:
            try:
                clients[model] = open_llm(settings.model_copy(update={"model": model}), store)
            except LLMUnavailable as exc:
                fail(str(exc), EXIT_BAD_INPUT)
        return clients[model]

    judge = client(settings.judge_model)
    return Roles(
        generator=client(settings.generator_model),
        answer=client(settings.answer_model) if settings.answer_model else judge,
        judge=judge,
    )


class StageProgress:
    """One progress bar per stage on stderr, created when the stage first reports."""

    def __enter__(self) -> StageProgress:
        self.bars: dict[str, Any] = {}
        self.view = Progress(
            TextColumn("{task.description:<26}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=stderr,
            transient=False,
        )
        self.view.__enter__()
        return self

    def __call__(self, stage: str, advance: int, total: int) -> None:
        if stage not in self.bars:
            self.bars[stage] = self.view.add_task(STAGE_LABELS.get(stage, stage), total=0)
        bar = self.bars[stage]
        if total:
            self.view.update(bar, total=(self.view.tasks[bar].total or 0) + total)
        if advance:
            self.view.advance(bar, advance)

    def __exit__(self, *exc: object) -> None:
        self.view.__exit__(None, None, None)


def run_stage(
    settings: Settings,
    store: Store,
    llm: LLMClient,
    roles: Roles,
    searchability: bool,
    journal_run: str,
    body: StageBody,
) -> Any:
    """Run ``body`` once the judge answers, with progress bars; the clients and the store are closed after, and
    interruptions and unusable services become one message and an exit code."""

    async def run() -> Any:
        try:
            await llm.check()
            return await with_searcher(settings, store, searchability, lambda searcher: body(searcher, hook))
        finally:
            await roles.close()

    with StageProgress() as hook:
        try:
            return run_loop(run())
        except KeyboardInterrupt:
            done = sum(stage != "run" for stage, _ in store.journal_entries(journal_run))
            fail(
                f"interrupted: {done} finished steps are recorded in the journal and no output file was written; "
                "run the same command again to continue",
                EXIT_INTERRUPTED,
            )
        except LLMUnavailable as exc:
            fail(f"{exc} (finished steps are kept in the journal: run the same command again to continue)", EXIT_JUDGE)
        except (SearchError, GenerationError) as exc:
            fail(str(exc), EXIT_BAD_INPUT)
        finally:
            store.close()
