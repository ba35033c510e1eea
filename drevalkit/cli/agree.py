"""``dreval agree``: how dreval's verdicts and preferences agree with human labels. Options -> labels -> dreval's
results (read, or scored now) -> the agreement tables and file -> exit code."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from ..aio import run_loop
from ..config import Settings
from ..documents import ExtractionLimits
from ..factcheck.corpus import CorpusError, add_folder
from ..files import atomic_write_text
from ..ingest.task_files import TaskError
from ..llm import LLMClient
from ..quality.rubric import RubricError
from ..schemas import JudgeInfo, Scorecard, Task
from ..store import Store
from ..text import interval_text
from .app import EXIT_BAD_INPUT, EXIT_INCOMPLETE, EXIT_OK, fail
from .console import plain, print_path, safe, stderr, stdout
from .options import build_settings, factcheck_options, judge_options, judging, open_judge

if TYPE_CHECKING:  # the validity stage is imported when a command runs
    from ..validity.agree import AgreeOptions, AgreeReport, Estimate

Results = list[tuple[Path, Scorecard]]


@dataclass
class _Labels:
    """The human labels of one LABELS file: claim verdicts or pairwise preferences (with the pairs' tasks)."""

    file: Path
    kind: str
    labels: list[Any]
    tasks: list[Task]


@click.command("agree")
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
def agree_command(
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
    from ..validity.agree import AgreeOptions, AgreeReport, agree_folder, method_text, read_results

    replay = options.pop("replay")
    settings = build_settings(options.pop("config_file"), **options)
    agree_options = AgreeOptions(min_similarity=min_similarity, tie_margin=tie_margin)
    labels = _read_labels(labels_file, tasks_file)
    judges: list[JudgeInfo] = []
    if results_dir is not None:
        results = read_results(results_dir)
        if not results:
            fail(f"no result files in {results_dir}", EXIT_BAD_INPUT)
        where = str(results_dir)
    else:
        results, judges = _score_now(settings, labels, corpus_dir, replay)
        where = str(agree_folder(settings.out, labels_file) / "results")
    report = AgreeReport(
        labels_file=str(labels_file),
        kind=labels.kind,
        results=where,
        scored_now=results_dir is None,
        judges=judges,
        min_similarity=min_similarity,
        method=method_text(agree_options, labels.kind),
    )
    _compare(report, labels, results, agree_options, show)
    out = agree_folder(settings.out, labels_file) / "agreement.json"
    atomic_write_text(out, report.model_dump_json(indent=2))
    print_path("agreement", out)
    incomplete = (report.claims is not None and report.claims.no_result > 0) or (
        report.pairs is not None and report.pairs.scored < report.pairs.pairs
    )
    sys.exit(EXIT_INCOMPLETE if incomplete else EXIT_OK)


def _read_labels(labels_file: Path, tasks_file: Path | None) -> _Labels:
    from ..validity.agree import pair_tasks
    from ..validity.labels import LabelError, read_labels

    try:
        kind, labels = read = read_labels(labels_file)
        tasks = pair_tasks(read[1], labels_file, tasks_file) if read[0] == "pairs" else []
    except (LabelError, TaskError) as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    return _Labels(labels_file, kind, labels, tasks)


def _score_now(
    settings: Settings, labels: _Labels, corpus_dir: Path | None, replay: bool
) -> tuple[Results, list[JudgeInfo]]:
    """dreval's results on the labelled reports, scored with the judge now, and that judge."""
    from ..validity.labels import LabelError

    store, llm = open_judge(settings)
    with judging(store, "interrupted: finished results are kept; run the same command again to continue"):
        if corpus_dir is not None:
            _index_corpus(settings, store, corpus_dir)
        try:
            with stderr.status("scoring the labelled reports"):
                results = run_loop(_score(settings, store, llm, labels, replay))
        except (LabelError, RubricError) as exc:
            fail(str(exc), EXIT_BAD_INPUT)
    return results, [llm.judge_info]


def _index_corpus(settings: Settings, store: Store, corpus_dir: Path) -> None:
    try:
        added = add_folder(store, corpus_dir, settings.fetch_max_bytes, limits=ExtractionLimits.of(settings))
    except CorpusError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    stderr.print(f"indexed {len(added.added)} pages from {plain(corpus_dir)}", highlight=False, markup=False)


async def _score(settings: Settings, store: Store, llm: LLMClient, labels: _Labels, replay: bool) -> Results:
    """Claims are fact-checked, pairs judged for quality; the judge is closed after."""
    from ..validity.agree import score_claim_reports, score_pair_reports

    try:
        if labels.kind == "claims":
            return await score_claim_reports(settings, store, llm, labels.labels, labels.file, replay=replay)
        return await score_pair_reports(settings, store, llm, labels.labels, labels.tasks, labels.file)
    finally:
        await llm.close()


def _compare(report: AgreeReport, labels: _Labels, results: Results, options: AgreeOptions, show: int) -> None:
    """Fill ``report`` with the agreement of ``results`` with the labels, and print it."""
    from ..validity.agree import claim_agreement, pair_agreement

    if labels.kind == "claims":
        report.claims, report.claim_rows = claim_agreement(labels.labels, labels.file, results, options)
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
        report.pairs, report.pair_rows = pair_agreement(labels.labels, labels.tasks, labels.file, results, options)
        _print_pairs(report, show)


def _pct(estimate: Estimate | None, unit: str) -> str:
    if estimate is None:
        return "—"
    return interval_text(estimate.value, estimate.low, estimate.high, digits=0, percent=True, no_interval=_one(unit))


def _num(estimate: Estimate | None, unit: str) -> str:
    if estimate is None:
        return "— (undefined)"
    return interval_text(estimate.value, estimate.low, estimate.high, no_interval=_one(unit))


def _one(unit: str) -> str:
    """What stands for the interval of an estimate whose items all come from one report or task."""
    return f"(no interval: all from one {unit})"


def _resampled(unit: str, clusters: int) -> str:
    return f"resampled by {unit}, {clusters} {unit}{'' if clusters == 1 else 's'}"


def _print_claims(report: AgreeReport, show: int) -> None:
    c = report.claims
    assert c is not None
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


def _print_pairs(report: AgreeReport, show: int) -> None:
    p = report.pairs
    assert p is not None
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
