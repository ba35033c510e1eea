"""``dreval stress``: how the judge's scores move under content-preserving perturbations of the reports. Options ->
the validity stage -> the probe table and the judge card -> exit code."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import JustifyMethod
from rich.table import Table

from ..aio import run_loop
from ..config import Settings
from ..llm import LLMClient
from ..quality.rubric import RubricBook
from ..schemas import Rubric
from ..scoring import ScoreJob
from ..text import interval_text
from .app import EXIT_BAD_INPUT, EXIT_INCOMPLETE, EXIT_OK, fail
from .console import plain, print_path, progress_bar, safe, stderr, stdout
from .options import REPORT_PICKS, build_settings, judge_options, judging, open_judge, read_jobs, report_options

if TYPE_CHECKING:  # the validity stage is imported when a command runs
    from ..validity.stress import StressRunner
    from ..validity.stress_run import ProbeResult, StressOptions, StressRun


@click.command("stress")
@report_options(verb="Stress", default_system="the folder's name", resume=False)
@click.option(
    "--rubric",
    "rubric_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Judge with this frozen rubric instead of OUT/rubrics/<task>.json (built there if missing).",
)
@click.option(
    "--probes",
    "probe_names",
    metavar="LIST",
    help="Comma-separated probes (default all): pad, trim-style, shuffle, strip-citations, inject, "
    "conditions, fake-citations, null-report, evidence-injection.",
)
@click.option(
    "--variants",
    type=click.IntRange(1, 20),
    default=3,
    show_default=True,
    help="Variants per probe and report (seeded perturbations; conditions; evidence trials).",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0, 10),
    default=0.5,
    show_default=True,
    help="A probe is flagged when its interval excludes zero by more than this (points of the 0-10 total).",
)
@click.option(
    "--null-gap",
    type=click.FloatRange(0, 10),
    default=3.0,
    show_default=True,
    help="The null report must score at least this much lower than the real one.",
)
@click.option(
    "--probe-seed", type=int, default=0, show_default=True, help="Seed of the perturbations and of the bootstrap."
)
@click.option("--samples", type=int, help="Judge every text N times (default 1).")
@click.option("--rounds", type=int, help="Fact-check rounds of the evidence-injection trials (default 2).")
@judge_options
def stress_command(
    reports: tuple[Path, ...],
    rubric_file: Path | None,
    probe_names: str | None,
    variants: int,
    threshold: float,
    null_gap: float,
    probe_seed: int,
    **options: Any,
) -> None:
    """Stress-test the judge on REPORTS: judge content-preserving perturbations of each report with the same frozen
    rubric and measure, per probe, the mean score shift with a paired bootstrap 95% interval; write a judge card.

    Needs a task, like dreval score. The perturbed reports are kept under OUT/stress/<judge>/ for reading; the card
    goes to OUT/judge-cards/<judge>.json and .html."""
    from ..validity.card import build_card, write_card
    from ..validity.stress_run import StressOptions

    probes = _probe_list(probe_names)
    picks = {name: options.pop(name) for name in REPORT_PICKS}
    settings = build_settings(options.pop("config_file"), **options)
    try:  # a ValueError: a task or the probe options the stage refuses
        jobs, fixed = read_jobs(reports, rubric_file, verb="judge", task_required=True, **picks)
        stress_options = StressOptions(
            probes=probes, variants=variants, threshold=threshold, null_gap=null_gap, seed=probe_seed
        )
    except ValueError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    run = _stress(settings, jobs, fixed, stress_options)
    json_path, html_path = write_card(build_card(run), settings.out)
    _print_stress(run)
    print_path("perturbed reports and scores", Path(run.folder))
    print_path("judge card", json_path)
    print_path("judge card page", html_path)
    _exit(run)


def _probe_list(value: str | None) -> tuple[str, ...]:
    """The probes ``--probes`` names, all by default; an unknown name ends the command."""
    from ..validity.probes import PROBES

    if not value:
        return PROBES
    names = tuple(dict.fromkeys(p.strip() for p in value.split(",") if p.strip()))
    unknown = [p for p in names if p not in PROBES]
    if unknown or not names:
        fail(f"unknown probe(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(PROBES)}", EXIT_BAD_INPUT)
    return names


def _stress(settings: Settings, jobs: list[ScoreJob], fixed: Rubric | None, stress_options: StressOptions) -> StressRun:
    """The stress run behind a progress bar of judged texts."""
    from ..validity.stress import StressRunner

    store, llm = open_judge(settings)
    with judging(store, "interrupted: judged texts are cached; run the same command again to continue"):
        runner = StressRunner(settings, store, llm, stress_options)
        with progress_bar("stress") as progress:
            bar = progress.add_task("", total=runner.planned(jobs))
            runner.on_judged = lambda what: progress.update(bar, advance=1, description=plain(what))
            return run_loop(_run(settings, llm, runner, jobs, fixed))


async def _run(
    settings: Settings, llm: LLMClient, runner: StressRunner, jobs: list[ScoreJob], fixed: Rubric | None
) -> StressRun:
    try:
        await llm.check()
        book = RubricBook(settings.layout, llm, fixed=fixed)
        return await runner.run(jobs, book)
    finally:
        await llm.close()


def _exit(run: StressRun) -> None:
    """Name the reports that could not be stressed; incomplete when one could not, or a judgement failed."""
    problems = [r for r in run.reports if r.problem]
    failed = sum(p.failed for p in run.results) + sum(
        r.original is not None and r.original.total is None for r in run.reports
    )
    for entry in problems:
        stderr.print(
            f"[yellow]{safe(entry.system)}/{safe(entry.task_id)}:[/] {safe(entry.problem)}",
            highlight=False,
            soft_wrap=True,
        )
    sys.exit(EXIT_INCOMPLETE if problems or failed else EXIT_OK)


def _shift(result: ProbeResult) -> str:
    if result.shift is None:
        return "—"
    if result.unit == "share":
        return interval_text(result.shift, result.low, result.high, digits=0, signed=True, percent=True, unit="pts")
    return interval_text(result.shift, result.low, result.high, signed=True)


def _print_stress(run: StressRun) -> None:
    table = Table(
        title=f"dreval stress: {safe(run.judge.model)} ({len(run.reports)} report"
        f"{'' if len(run.reports) == 1 else 's'}, threshold {run.threshold:g})"
    )
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("probe", "left"),
        ("expected", "left"),
        ("shift [95% CI]", "right"),
        ("moved", "right"),
        ("reports", "right"),
        ("flag", "left"),
        ("finding", "left"),
    )
    for column, justify in columns:
        table.add_column(column, justify=justify, overflow="fold")
    for result in run.results:
        table.add_row(
            safe(result.probe),
            safe(result.expect),
            _shift(result),
            "—" if result.moved is None else f"{100 * result.moved:.0f}%",
            _count(result),
            "[red]FLAG[/]" if result.flagged else ("ok" if result.reports else "—"),  # unmeasured is not ok
            safe(result.finding + _extra(result)),
        )
    stdout.print(table)
    stdout.print(
        f"shift: variant total - original total, mean over reports; {run.level:.0%} paired bootstrap "
        f"intervals ({run.resamples:,} resamples, seed {run.probe_seed}); moved: share of reports whose "
        f"total moved more than {run.threshold:g}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    stdout.print(
        f"{run.usage.calls} LLM calls, {run.usage.cache_hits} cache hits, {run.usage.prompt_tokens} prompt tokens",
        highlight=False,
        markup=False,
    )


def _count(result: ProbeResult) -> str:
    """Reports a probe ran on, with its variants per report or, for a share, as trials."""
    if result.variants and result.unit == "points":
        return f"{result.reports} ({result.variants} var.)"
    return f"{result.reports}" + (" trials" if result.unit == "share" else "")


def _extra(result: ProbeResult) -> str:
    """What a probe measured besides the shift, and how many reports it did not apply to."""
    extra = ""
    if result.injection_success is not None:
        extra = f"; success {100 * result.injection_success:.0f}%"
    if result.fluctuation_sd is not None:
        extra = f"; SD {result.fluctuation_sd:.2f}, range {result.fluctuation_range:.2f}"
    return extra + (f" ({result.skipped} not applicable)" if result.skipped else "")
