"""Score one report from Python, without the CLI::

    import drevalkit
    card = drevalkit.score_report("report.md", task="What changed in EU battery regulation in 2024?")
    print(card.status, card.quality.total, card.factcheck.ratios)

    # a jury: each judge's scores in card.quality.jury, their agreement in card.quality.agreement
    card = drevalkit.score_report("report.md", task="...", judges=[
        "Qwen/Qwen2.5-72B-Instruct@http://gpu1:8000/v1", "meta-llama/Llama-3.3-70B-Instruct@http://gpu2:8000/v1"])

Settings come from the same places as for the CLI (``dreval.toml``, ``DREVAL_*``), overridden by keyword arguments.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..aio import run_loop
from ..config import Settings, load_settings, with_overrides
from ..llm import LLMClient, open_llm
from ..llm.factory import jury_settings
from ..quality.rubric import read_rubric
from ..schemas import Rubric, Scorecard, Task
from ..store import Store
from ..text import did_you_mean
from .batch import ScorePlan, score_jobs
from .jobs import ScoreJob


def _task(task: Task | str | dict[str, Any] | None) -> Task | None:
    if task is None or isinstance(task, Task):
        return task
    if isinstance(task, str):
        return Task.model_validate({"prompt": task})
    return Task.model_validate(task)


def _check_keywords(overrides: dict[str, Any]) -> None:
    """A keyword that is neither an argument nor a setting is refused as Python refuses one, with the close match:
    dropped, a misspelt ``max_claim=`` would score with the default."""
    for name in overrides:
        if name not in Settings.model_fields:
            known = [*inspect.signature(ascore_report).parameters, *Settings.model_fields]
            raise TypeError(f"score_report() got an unexpected keyword argument {name!r}{did_you_mean(name, known)}")


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
    judges: Sequence[str] = (),
    settings: Settings | None = None,
    **overrides: Any,
) -> Scorecard:
    """Score the report file ``report`` against ``task`` (a Task, a prompt or a task dict), optionally by a jury
    of ``judges``; see ``score_report``."""
    _check_keywords(overrides)
    # keyword overrides apply to given settings too (validated like any settings)
    settings = load_settings(None, overrides) if settings is None else with_overrides(settings, overrides)
    members = jury_settings(settings, [judges] if isinstance(judges, str) else judges)
    if members:
        settings = members[0]  # the lead judge
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
        jury: list[LLMClient] = []
        try:
            for member in members[1:]:
                jury.append(open_llm(member, store))
            outcome = await score_jobs(settings, store, llm, [job], plan, jury=jury)
        finally:
            for judge in (llm, *jury):
                await judge.close()
    finally:
        store.close()
    return outcome.cards[0]


def score_report(report: str | Path, task: Task | str | dict[str, Any] | None = None, **options: Any) -> Scorecard:
    """Score one report: quality against the task's adaptive rubric and an active fact-check. The result (also
    written to ``OUT/results/``) is returned as a ``Scorecard``; failures are in its ``status`` and ``reasons``.

    ``judges`` (a list; a single string is one judge) takes the judges of a jury as the CLI's ``--judge`` does:
    ``"MODEL@URL"`` (an OpenAI-compatible endpoint), ``"MODEL"`` (the configured endpoint) or ``"local"`` (the
    embedded model). The first leads: it builds the rubric and extracts the claims, so all judge the same criteria
    and claims. With two or more, every criterion and claim is judged by each; the card's scores are the mean and
    its verdicts the majority, each judge's own are in ``quality.jury`` and each verdict's ``jury``, and their
    agreement in ``quality.agreement`` (Krippendorff's alpha) and ``factcheck.agreement`` (Fleiss' kappa). One
    judge replaces the configured one; none (the default) keeps it. Every judge gets the configured API key (one
    from ``OPENAI_API_KEY`` only OpenAI).

    Raises ``drevalkit.llm.factory.JudgeSpecError`` (a ``ValueError``) for a judge that cannot be used as given and ``LLMUnavailable``
    when no judge can be used. From inside a running event loop, await ``ascore_report`` instead."""
    return run_loop(ascore_report(report, task, **options))
