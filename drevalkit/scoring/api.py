"""Score one report from Python, without the CLI::

    import drevalkit
    card = drevalkit.score_report("report.md", task="What changed in EU battery regulation in 2024?")
    print(card.status, card.quality.total, card.factcheck.ratios)

Settings come from the same places as for the CLI (``dreval.toml``, ``DREVAL_*``), overridden by keyword arguments.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ..config import Settings, load_settings
from ..llm import open_llm
from ..quality.rubric import read_rubric
from ..schemas import Rubric, Scorecard, Task
from ..store import Store
from .batch import ScorePlan, score_jobs
from .jobs import ScoreJob


def _task(task: Task | str | dict[str, Any] | None) -> Task | None:
    if task is None or isinstance(task, Task):
        return task
    if isinstance(task, str):
        return Task.model_validate({"prompt": task})
    return Task.model_validate(task)


async def ascore_report(
    report: str | Path,
    task: Task | str | dict[str, Any] | None = None,
    *,
    system: str = "default",
    rubric: Rubric | str | Path | None = None,
    quality: bool = True,
    factcheck: bool = True,
    report_format: str | None = None,
    resume: bool = True,
    html: bool = True,
    settings: Settings | None = None,
    **overrides: Any,
) -> Scorecard:
    """Score the report file ``report`` against ``task`` (a Task, a prompt or a task dict); see ``score_report``."""
    if settings is None:
        settings = load_settings(None, overrides)
    elif overrides:  # keyword overrides apply to given settings too (validated like any settings)
        settings = Settings.model_validate({**settings.model_dump(), **overrides})
    the_task = _task(task)
    if quality and the_task is None:
        raise ValueError("quality scoring needs a task: pass task=... or quality=False")
    fixed = read_rubric(Path(rubric)) if isinstance(rubric, (str, Path)) else rubric
    path = Path(report)
    job = ScoreJob(path, system, the_task.id if the_task else path.stem, the_task, report_format=report_format)
    plan = ScorePlan(quality=quality, factcheck=factcheck, fixed_rubric=fixed, resume=resume, html=html)
    store = await asyncio.to_thread(Store, settings.store_path)
    try:
        llm = open_llm(settings, store)
        try:
            outcome = await score_jobs(settings, store, llm, [job], plan)
        finally:
            await llm.close()
    finally:
        store.close()
    return outcome.cards[0]


def score_report(report: str | Path, task: Task | str | dict[str, Any] | None = None, **options: Any) -> Scorecard:
    """Score one report: quality against the task's adaptive rubric and an active fact-check. The result (also
    written to ``OUT/results/``) is returned as a ``Scorecard``; failures are in its ``status`` and ``reasons``.
    Raises ``LLMUnavailable`` when no judge can be used. From inside a running event loop, await
    ``ascore_report`` instead."""
    return asyncio.run(ascore_report(report, task, **options))
