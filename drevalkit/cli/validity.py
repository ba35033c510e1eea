"""``dreval stress`` (how the judge's scores move under content-preserving perturbations) and ``dreval agree``
(how dreval's verdicts and preferences agree with human labels): parse, run the validity stage, render, exit."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..factcheck.search import SearchError
from ..ingest.importers import IMPORTERS
from ..ingest.task_files import TaskError
from ..llm import LLMUnavailable
from ..quality.rubric import RubricBook, RubricError, read_rubric
from ..scoring import JobError, build_jobs, collect_reports
from ..store import Store
from .app import EXIT_BAD_INPUT, EXIT_INCOMPLETE, EXIT_INTERRUPTED, EXIT_JUDGE, EXIT_OK, fail, main
from .console import plain, print_path, safe, stderr, stdout
from .options import build_settings, factcheck_options, judge_options, open_judge


@contextmanager
def _judging(store: Store, interrupted: str) -> Iterator[None]:
    """Exit as a run against the judge should: ``interrupted`` says what is kept, a bad search backend is bad input,
    an unusable judge its own code; the store is closed whatever happens."""
    try:
        yield
    except KeyboardInterrupt:
        fail(interrupted, EXIT_INTERRUPTED)
    except SearchError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    except LLMUnavailable as exc:
        fail(str(exc), EXIT_JUDGE)
    finally:
        store.close()


def _probe_list(value: str | None) -> tuple[str, ...]:
    from ..validity.probes import PROBES

    if not value:
        return PROBES
    names = tuple(dict.fromkeys(p.strip() for p in value.split(",") if p.strip()))
    unknown = [p for p in names if p not in PROBES]
    if unknown or not names:
        fail(f"unknown probe(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(PROBES)}", EXIT_BAD_INPUT)
    return names


@main.command()
@click.argument("reports", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--task",
    "task_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Task file (JSON, or JSONL with --task-id).",
)
@click.option("--task-id", help="Which task of --task to use.")
@click.option("--prompt", help="Stress against this task prompt instead of a task file.")
@click.option(
    "--tasks",
    "tasks_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Tasks for many reports; each report file is named <task id>.md or .json.",
)
@click.option("--system", help="Name of the system that wrote the reports (default: the folder's name).")
@click.option(
    "--format",
    "report_format",
    type=click.Choice(IMPORTERS.names()),
    help="Report format (default: detected from the file name and content).",
)
@click.option("--max-report-mb", type=float, help="Refuse reports larger than this (default 5).")
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
def stress(
    reports: tuple[Path, ...],
    task_file: Path | None,
    task_id: str | None,
    prompt: str | None,
    tasks_file: Path | None,
    system: str | None,
    report_format: str | None,
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
    from ..validity.stress import StressRunner
    from ..validity.stress_run import StressOptions

    probes = _probe_list(probe_names)
    settings = build_settings(options.pop("config_file"), **options)
    try:
        jobs = build_jobs(
            collect_reports(reports),
            system=system,
            task_file=task_file,
            task_id=task_id,
            prompt=prompt,
            tasks_file=tasks_file,
            task_required=True,
            report_format=report_format,
        )
        fixed = read_rubric(rubric_file) if rubric_file else None
        if fixed is not None and any(job.task_id != fixed.task_id for job in jobs):
            raise JobError(f"{rubric_file} is the rubric of task {fixed.task_id!r}; it cannot judge other tasks")
        stress_options = StressOptions(
            probes=probes, variants=variants, threshold=threshold, null_gap=null_gap, seed=probe_seed
        )
    except (JobError, TaskError, RubricError, ValueError) as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    store, llm = open_judge(settings)
    with _judging(store, "interrupted: judged texts are cached; run the same command again to continue"):
        runner = StressRunner(settings, store, llm, stress_options)
        with Progress(
            TextColumn("stress"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=stderr,
            transient=True,
        ) as progress:
            bar = progress.add_task("", total=runner.planned(jobs))
            runner.on_judged = lambda what: progress.update(bar, advance=1, description=plain(what))

            async def go():  # type: ignore[no-untyped-def]
                try:
                    await llm.check()
                    book = RubricBook(settings.layout, llm, fixed=fixed)
                    return await runner.run(jobs, book)
                finally:
                    await llm.close()

            run = asyncio.run(go())
    card = build_card(run)
    json_path, html_path = write_card(card, settings.out)
    _print_stress(run)
    print_path("perturbed reports and scores", Path(run.folder))
    print_path("judge card", json_path)
    print_path("judge card page", html_path)
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


def _shift(result: Any) -> str:
    if result.shift is None:
        return "—"
    if result.unit == "share":
        return f"{100 * result.shift:+.0f} pts [{100 * result.low:+.0f}, {100 * result.high:+.0f}]"
    return f"{result.shift:+.2f} [{result.low:+.2f}, {result.high:+.2f}]"


def _print_stress(run: Any) -> None:
    table = Table(
        title=f"dreval stress: {safe(run.judge.model)} ({len(run.reports)} report"
        f"{'' if len(run.reports) == 1 else 's'}, threshold {run.threshold:g})"
    )
    for column, justify in (
        ("probe", "left"),
        ("expected", "left"),
        ("shift [95% CI]", "right"),
        ("moved", "right"),
        ("reports", "right"),
        ("flag", "left"),
        ("finding", "left"),
    ):
        table.add_column(column, justify=justify, overflow="fold")
    for result in run.results:
        n = f"{result.reports}" + (
            f" ({result.variants} var.)"
            if result.variants and result.unit == "points"
            else " trials"
            if result.unit == "share"
            else ""
        )
        moved = "—" if result.moved is None else f"{100 * result.moved:.0f}%"
        extra = ""
        if result.injection_success is not None:
            extra = f"; success {100 * result.injection_success:.0f}%"
        if result.fluctuation_sd is not None:
            extra = f"; SD {result.fluctuation_sd:.2f}, range {result.fluctuation_range:.2f}"
        skipped = f" ({result.skipped} not applicable)" if result.skipped else ""
        table.add_row(
            safe(result.probe),
            safe(result.expect),
            _shift(result),
            moved,
            n,
            "[red]FLAG[/]" if result.flagged else "ok",
            safe(result.finding + extra + skipped),
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


# ---------------------------------------------------------------------------------------------------- agree


def _pct(estimate: Any, unit: str) -> str:
    if estimate is None:
        return "—"
    value = f"{100 * estimate.value:.0f}%"
    if estimate.low is None:
        return f"{value} (no interval: all from one {unit})"
    return f"{value} [{100 * estimate.low:.0f}, {100 * estimate.high:.0f}]"


def _num(estimate: Any, unit: str) -> str:
    if estimate is None:
        return "— (undefined)"
    if estimate.low is None:
        return f"{estimate.value:.2f} (no interval: all from one {unit})"
    return f"{estimate.value:.2f} [{estimate.low:.2f}, {estimate.high:.2f}]"


def _resampled(unit: str, clusters: int) -> str:
    return f"resampled by {unit}, {clusters} {unit}{'' if clusters == 1 else 's'}"


@main.command()
@click.argument("labels_file", metavar="LABELS", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "--results",
    "results_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Read dreval's results from this folder (e.g. OUT/results) instead of scoring the labelled reports now.",
)
@click.option(
    "--tasks",
    "tasks_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Tasks whose ids pairwise labels name (a pair's task may also be a task file).",
)
@click.option(
    "--corpus",
    "corpus_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Index this folder of pages for the offline search backend first (as dreval corpus add).",
)
@click.option(
    "--min-similarity",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="A labelled claim matches a claim dreval checked only at this text similarity or above.",
)
@click.option(
    "--tie-margin",
    type=click.FloatRange(0, 10),
    default=0.0,
    show_default=True,
    help="Pairs whose totals differ by no more than this are dreval ties.",
)
@click.option("--samples", type=int, help="Judge each report N times when scoring now (default 1).")
@click.option("--show", type=click.IntRange(0, 1000), default=10, show_default=True, help="Disagreements to print.")
@factcheck_options
@judge_options
def agree(
    labels_file: Path,
    results_dir: Path | None,
    tasks_file: Path | None,
    corpus_dir: Path | None,
    min_similarity: float,
    tie_margin: float,
    show: int,
    **options: Any,
) -> None:
    """Agreement between dreval and human LABELS (JSONL): claim verdicts (accuracy, Cohen's kappa, the confusion
    matrix, per-label precision and recall) or pairwise quality preferences (share of pairs ordered as people did).

    dreval's results are read from --results DIR, or else computed now with the judge settings (claims:
    fact-check; pairs: quality) into OUT/agree/<label file>/. Paths in LABELS are relative to its folder."""
    from ..validity.agree import (
        AgreeOptions,
        AgreeReport,
        agree_folder,
        claim_agreement,
        method_text,
        pair_agreement,
        pair_tasks,
        read_results,
        score_claim_reports,
        score_pair_reports,
    )
    from ..validity.labels import LabelError, read_labels

    replay = options.pop("replay")
    settings = build_settings(options.pop("config_file"), **options)
    agree_options = AgreeOptions(min_similarity=min_similarity, tie_margin=tie_margin)
    try:
        kind, labels = read_labels(labels_file)
        tasks = pair_tasks(labels, labels_file, tasks_file) if kind == "pairs" else []  # type: ignore[arg-type]
    except (LabelError, TaskError) as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    judges = []
    if results_dir is not None:
        results = read_results(results_dir)
        if not results:
            fail(f"no result files in {results_dir}", EXIT_BAD_INPUT)
        where = str(results_dir)
    else:
        store, llm = open_judge(settings)
        judges = [llm.judge_info]
        with _judging(store, "interrupted: finished results are kept; run the same command again to continue"):
            if corpus_dir is not None:
                from ..factcheck.corpus import CorpusError, add_folder

                try:
                    added = add_folder(store, corpus_dir, settings.fetch_max_bytes)
                except CorpusError as exc:
                    fail(str(exc), EXIT_BAD_INPUT)
                stderr.print(
                    f"indexed {len(added.added)} pages from {plain(corpus_dir)}", highlight=False, markup=False
                )

            async def go():  # type: ignore[no-untyped-def]
                try:
                    if kind == "claims":
                        return await score_claim_reports(
                            settings,
                            store,
                            llm,
                            labels,
                            labels_file,  # type: ignore[arg-type]
                            replay=replay,
                        )
                    return await score_pair_reports(settings, store, llm, labels, tasks, labels_file)  # type: ignore[arg-type]
                finally:
                    await llm.close()

            try:
                with stderr.status("scoring the labelled reports"):
                    results = asyncio.run(go())
            except (LabelError, RubricError) as exc:
                fail(str(exc), EXIT_BAD_INPUT)
        where = str(agree_folder(settings.out, labels_file) / "results")
    report = AgreeReport(
        labels_file=str(labels_file),
        kind=kind,
        results=where,
        scored_now=results_dir is None,
        judges=judges,
        min_similarity=min_similarity,
        method=method_text(agree_options, kind),
    )
    if kind == "claims":
        report.claims, report.claim_rows = claim_agreement(labels, labels_file, results, agree_options)  # type: ignore[arg-type]
        _print_claims(report, show)
        if any("no evidence retrieved" in row.problem for row in report.claim_rows):
            stderr.print(
                "no evidence was found for some labelled reports: index the pages they cite first "
                "(dreval corpus add DIR, or --corpus DIR; for the shipped labels: --corpus samples/corpus)",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
    else:
        report.pairs, report.pair_rows = pair_agreement(labels, tasks, labels_file, results, agree_options)  # type: ignore[arg-type]
        _print_pairs(report, show)
    out = agree_folder(settings.out, labels_file) / "agreement.json"
    from ..files import atomic_write_text

    atomic_write_text(out, report.model_dump_json(indent=2))
    print_path("agreement", out)
    incomplete = (report.claims is not None and report.claims.no_result > 0) or (
        report.pairs is not None and report.pairs.scored < report.pairs.pairs
    )
    sys.exit(EXIT_INCOMPLETE if incomplete else EXIT_OK)


def _print_claims(report: Any, show: int) -> None:
    c = report.claims
    stdout.print(
        f"dreval agree: {c.labels} labelled claims; {c.compared} compared, {c.not_checked} not checked by "
        f"dreval, {c.failed} failed verdicts, {c.no_result} without a result",
        highlight=False,
        markup=False,
    )
    unit = c.resampled_by
    stdout.print(
        f"accuracy {_pct(c.accuracy, unit)}   Cohen's kappa {_num(c.kappa, unit)}   (n = {c.compared}; "
        f"{_resampled(unit, c.clusters)})",
        highlight=False,
        markup=False,
    )
    table = Table(title="confusion matrix (rows: people, columns: dreval)")
    table.add_column("person \\ dreval")
    for column in c.confusion_columns:
        table.add_column(column, justify="right")
    for label, counts in zip(c.confusion_labels, c.confusion):
        table.add_row(label, *(str(n) for n in counts))
    stdout.print(table)
    per = Table(title="per label")
    for column in ("label", "people", "dreval", "both", "precision [95% CI]", "recall [95% CI]"):
        per.add_column(column, justify="left" if column == "label" else "right")
    for s in c.per_label:
        per.add_row(s.label, str(s.human), str(s.dreval), str(s.both), _pct(s.precision, unit), _pct(s.recall, unit))
    stdout.print(per)
    stdout.print(report.method, highlight=False, markup=False, soft_wrap=True)
    wrong = [
        r for r in report.claim_rows if r.dreval_label in ("right", "wrong", "unknown") and r.dreval_label != r.label
    ]
    for row in wrong[:show]:
        stdout.print(
            f"- line {row.line}: people {row.label}, dreval {row.dreval_label}: "
            f"{safe(row.claim or row.sentence)[:160]}",
            highlight=False,
            soft_wrap=True,
        )
    if len(wrong) > show:
        stdout.print(f"... and {len(wrong) - show} more disagreements (see the agreement file)")


def _print_pairs(report: Any, show: int) -> None:
    p = report.pairs
    stdout.print(
        f"dreval agree: {p.pairs} labelled pairs, {p.scored} with both reports scored; people tied "
        f"{p.human_ties}, dreval tied {p.dreval_ties} (margin {p.tie_margin:g})",
        highlight=False,
        markup=False,
    )
    unit = p.resampled_by
    stdout.print(
        f"ordered as people did: {_pct(p.agreement, unit)} (dreval ties count half); strict "
        f"{_pct(p.strict, unit)}; with ties as a third answer {_pct(p.with_ties, unit)} "
        f"({_resampled(unit, p.clusters)})",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    table = Table(title="pairs")
    for column in ("line", "task", "a", "b", "people", "total a", "total b", "dreval"):
        table.add_column(column, overflow="fold")
    for row in report.pair_rows[: max(show, 20)]:
        table.add_row(
            str(row.line),
            safe(row.task_id),
            safe(row.report_a),
            safe(row.report_b),
            row.preferred,
            "—" if row.total_a is None else f"{row.total_a:.2f}",
            "—" if row.total_b is None else f"{row.total_b:.2f}",
            row.dreval or safe(row.problem),
        )
    stdout.print(table)
    stdout.print(report.method, highlight=False, markup=False, soft_wrap=True)
