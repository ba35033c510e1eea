"""``dreval score``: options -> jobs -> the scoring stage -> summary -> exit code; ``run_scoring`` is shared with
``dreval factcheck``, the same run without the quality half."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..aio import run_loop
from ..config import Settings
from ..factcheck.search import SearchError
from ..llm import LLMClient, LLMUnavailable
from ..llm.factory import JudgeSpecError, jury_settings
from ..schemas import Scorecard
from ..scoring import BatchOutcome, ScoreJob, ScorePlan, score_jobs
from ..store import Store
from .app import EXIT_BAD_INPUT, EXIT_INCOMPLETE, EXIT_INTERRUPTED, EXIT_JUDGE, EXIT_OK, fail
from .console import print_summary, progress_bar, safe, stderr
from .options import (
    REPORT_PICKS,
    build_settings,
    factcheck_options,
    judge_options,
    jury_option,
    open_judge,
    open_jury,
    read_jobs,
    report_options,
)
from .shards import pick_shard, shard_option


@click.command("score")
@report_options()
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
@shard_option
@factcheck_options
@jury_option
@judge_options
def score_command(
    no_quality: bool, no_factcheck: bool, rubric_file: Path | None, rebuild_rubrics: bool, no_html: bool, **options: Any
) -> None:
    """Score REPORTS (files or folders): quality against each task's adaptive rubric, and an active fact-check."""
    if no_quality and no_factcheck:
        fail("--no-quality and --no-factcheck leave nothing to do", EXIT_BAD_INPUT)
    run_scoring(
        options,
        quality=not no_quality,
        factcheck=not no_factcheck,
        rubric_file=rubric_file,
        rebuild_rubrics=rebuild_rubrics,
        html=not no_html,
    )


def run_scoring(
    options: dict[str, Any],
    *,
    quality: bool,
    factcheck: bool,
    rubric_file: Path | None = None,
    rebuild_rubrics: bool = False,
    html: bool = True,
) -> None:
    """Score the reports the ``options`` of score or factcheck name, print the summary and exit."""
    reports, picks = options.pop("reports"), {name: options.pop(name) for name in REPORT_PICKS}
    resume, replay, shard = not options.pop("no_resume"), options.pop("replay"), options.pop("shard")
    settings, jurors = _judges(options)
    jobs, fixed = read_jobs(reports, rubric_file, verb="score", task_required=quality, **picks)
    jobs = pick_shard(jobs, shard, lambda job: job.task_id, "reports")
    plan = ScorePlan(
        quality=quality,
        factcheck=factcheck,
        fixed_rubric=fixed,
        rebuild_rubrics=rebuild_rubrics,
        resume=resume,
        replay=replay,
        html=html,
        shard=shard,
    )
    outcome = _score_all(settings, jurors, jobs, plan)
    _report(settings, outcome, html)


def _judges(options: dict[str, Any]) -> tuple[Settings, list[Settings]]:
    """The settings of the lead judge and of the other judges of a ``--judge`` jury."""
    judges = options.pop("judges", ())
    settings = build_settings(options.pop("config_file"), **options)
    try:
        members = jury_settings(settings, judges)
    except JudgeSpecError as exc:
        fail(f"--judge {exc.spec!r}: {exc.reason}", EXIT_BAD_INPUT)
    if members:
        return members[0], members[1:]
    return settings, []


def _score_all(settings: Settings, jurors: list[Settings], jobs: list[ScoreJob], plan: ScorePlan) -> BatchOutcome:
    """Run the jobs behind a progress bar; a stopped run says which results it kept."""
    store, llm = open_judge(settings)
    jury = open_jury(jurors, store)
    finished: list[Scorecard] = []
    try:
        with progress_bar("scoring", disable=len(jobs) < 2) as progress:
            bar = progress.add_task("", total=len(jobs))

            def done(card: Scorecard, skipped: bool) -> None:
                finished.append(card)
                progress.update(bar, advance=1, description=safe(f"{card.task_id}: {card.status}"))

            return run_loop(_score(settings, store, llm, jobs, plan, done, jury))
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


def _report(settings: Settings, outcome: BatchOutcome, html: bool) -> None:
    """Print what the run did and exit with its code."""
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


def _relative(settings: Settings, card: Scorecard) -> str:
    layout = settings.layout
    return layout.result(card.system, card.task_id).relative_to(layout.root).as_posix()


async def _score(
    settings: Settings,
    store: Store,
    llm: LLMClient,
    jobs: list[ScoreJob],
    plan: ScorePlan,
    done: Callable[[Scorecard, bool], None],
    jury: list[LLMClient],
) -> BatchOutcome:
    """The batch, then every judge's client closed (each holds connections)."""
    try:
        return await score_jobs(settings, store, llm, jobs, plan, done, jury=jury)
    finally:
        await llm.close()
        for judge in jury:
            await judge.close()
