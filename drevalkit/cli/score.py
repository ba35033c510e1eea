"""``dreval score`` and ``dreval factcheck``: parse options, build jobs, run the scoring stage, render, exit."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..factcheck.search import SearchError
from ..ingest.task_files import TaskError
from ..llm import LLMUnavailable
from ..llm.factory import JudgeSpecError, jury_settings
from ..quality.rubric import RubricError, read_rubric
from ..schemas import Scorecard
from ..scoring import BatchOutcome, JobError, ScorePlan, build_jobs, collect_reports, score_jobs
from .app import EXIT_BAD_INPUT, EXIT_INCOMPLETE, EXIT_INTERRUPTED, EXIT_JUDGE, EXIT_OK, fail, main
from .console import print_summary, safe, stderr
from .options import (
    build_settings,
    factcheck_options,
    judge_options,
    jury_option,
    open_judge,
    open_jury,
    report_options,
)


@main.command()
@report_options
@click.option("--no-quality", is_flag=True, help="Skip rubric judging (fact-check only).")
@click.option("--no-factcheck", is_flag=True, help="Skip fact-checking (quality only).")
@click.option("--samples", type=int, help="Judge each report N times and record mean and spread (default 1).")
@click.option(
    "--rubric",
    "rubric_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Use this frozen rubric instead of building or reusing OUT/rubrics/<task>.json.",
)
@click.option("--rebuild-rubrics", is_flag=True, help="Build rubrics anew even if frozen ones exist.")
@click.option(
    "--no-html", is_flag=True, help="Write only the result JSON, no HTML scorecard (dreval html renders it later)."
)
@factcheck_options
@jury_option
@judge_options
def score(
    no_quality: bool, no_factcheck: bool, rubric_file: Path | None, rebuild_rubrics: bool, no_html: bool, **options: Any
) -> None:
    """Score REPORTS (files or folders): quality against each task's adaptive rubric, and an active fact-check."""
    if no_quality and no_factcheck:
        fail("--no-quality and --no-factcheck leave nothing to do", EXIT_BAD_INPUT)
    _run(
        options,
        quality=not no_quality,
        factcheck=not no_factcheck,
        rubric_file=rubric_file,
        rebuild_rubrics=rebuild_rubrics,
        html=not no_html,
    )


@main.command()
@report_options
@factcheck_options
@jury_option
@judge_options
def factcheck(**options: Any) -> None:
    """Fact-check REPORTS: extract claims, find evidence (cited sources first, then search), verify each claim.

    A task is optional here; without one, results are named after the report files.
    """
    _run(options, quality=False, factcheck=True)


def _run(
    options: dict[str, Any],
    *,
    quality: bool,
    factcheck: bool,
    rubric_file: Path | None = None,
    rebuild_rubrics: bool = False,
    html: bool = True,
) -> None:
    picked = {
        name: options.pop(name)
        for name in (
            "reports",
            "report_format",
            "no_resume",
            "task_file",
            "task_id",
            "prompt",
            "tasks_file",
            "system",
            "replay",
        )
    }
    judges = options.pop("judges", ())
    settings = build_settings(options.pop("config_file"), **options)
    try:
        members = jury_settings(settings, judges)
    except JudgeSpecError as exc:
        fail(f"--judge {exc.spec!r}: {exc.reason}", EXIT_BAD_INPUT)
    if members:
        settings = members[0]  # the lead judge
    try:
        jobs = build_jobs(
            collect_reports(picked["reports"]),
            system=picked["system"],
            task_file=picked["task_file"],
            task_id=picked["task_id"],
            prompt=picked["prompt"],
            tasks_file=picked["tasks_file"],
            task_required=quality,
            report_format=picked["report_format"],
        )
        fixed = read_rubric(rubric_file) if rubric_file else None
        if fixed is not None and any(job.task_id != fixed.task_id for job in jobs):
            raise JobError(f"{rubric_file} is the rubric of task {fixed.task_id!r}; it cannot score other tasks")
    except (JobError, TaskError, RubricError) as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    plan = ScorePlan(
        quality=quality,
        factcheck=factcheck,
        fixed_rubric=fixed,
        rebuild_rubrics=rebuild_rubrics,
        resume=not picked["no_resume"],
        replay=picked["replay"],
        html=html,
    )
    store, llm = open_judge(settings)
    jury = open_jury(members[1:], store)
    finished: list[Scorecard] = []
    try:
        with Progress(
            TextColumn("scoring"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=stderr,
            transient=True,
            disable=len(jobs) < 2,
        ) as progress:
            bar = progress.add_task("", total=len(jobs))

            def done(card: Scorecard, skipped: bool) -> None:
                finished.append(card)
                progress.update(bar, advance=1, description=safe(f"{card.task_id}: {card.status}"))

            outcome = asyncio.run(_score(settings, store, llm, jobs, plan, done, jury))
    except KeyboardInterrupt:
        kept = (
            f"{len(finished)} of {len(jobs)} results are finished and kept in {settings.out}"
            if finished
            else "no results were written"
        )
        fail(f"interrupted: {kept}; run the same command again to continue", EXIT_INTERRUPTED)
    except SearchError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    except LLMUnavailable as exc:
        kept = f"{len(finished)} finished results are kept in {settings.out}" if finished else "no results were written"
        fail(f"{exc} ({kept})", EXIT_JUDGE)
    finally:
        store.close()
    # a job whose finished result was kept (its report failed on its input) wrote nothing: its line says so, and
    # the summary must not name the kept file as this run's result
    unwritten = {id(c) for c in outcome.scored if c.status == "failed" and _relative(settings, c) in outcome.kept}
    if len(unwritten) < len(outcome.cards):
        print_summary(
            [c for c in outcome.scored if id(c) not in unwritten], outcome.skipped, settings.layout, html=html
        )
    for line in outcome.kept.values():
        stderr.print(safe(line), highlight=False, markup=False, soft_wrap=True)
    cards = outcome.cards
    if len(cards) == 1 and cards[0].status == "failed" and cards[0].report_ref is None:
        fail(cards[0].reasons[0] if cards[0].reasons else "the report could not be scored", EXIT_BAD_INPUT)
    sys.exit(EXIT_OK if all(c.status == "complete" for c in cards) else EXIT_INCOMPLETE)


def _relative(settings: Any, card: Scorecard) -> str:
    layout = settings.layout
    return layout.result(card.system, card.task_id).relative_to(layout.root).as_posix()


async def _score(settings, store, llm, jobs, plan, done, jury=()) -> BatchOutcome:  # type: ignore[no-untyped-def]
    try:
        return await score_jobs(settings, store, llm, jobs, plan, done, jury=list(jury))
    finally:
        await llm.close()
        for judge in jury:
            await judge.close()
