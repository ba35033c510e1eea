"""``dreval html`` (scorecard pages re-rendered from result files) and ``dreval leaderboard`` (every system of a
results folder, with confidence intervals and the significance of neighbouring gaps)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from ..files import atomic_write_text
from ..ingest.task_files import TaskError, load_tasks
from ..layout import OutputLayout
from ..leaderboard import Leaderboard, LeaderboardError, build_leaderboard, output_root, read_result, results_root
from ..leaderboard.board import NO_JUDGE_VARIANCE
from ..leaderboard.formats import FORMATS, fmt, method_lines, render
from ..quality.rubric import RubricError, read_rubric
from ..render.scorecard import load_report_for, render_scorecard
from ..stats.bootstrap import DEFAULT_LEVEL, DEFAULT_RESAMPLES, DEFAULT_SEED
from .app import EXIT_BAD_INPUT, EXIT_INCOMPLETE, EXIT_OK, fail, main
from .console import plain, print_path, safe, stderr, stdout


def _result_files(paths: tuple[Path, ...]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            root = path / "results" if (path / "results").is_dir() else path
            files.extend(sorted(p for p in root.rglob("*.json") if not p.name.startswith(".")))
        elif path.is_file():
            files.append(path)
        else:
            fail(f"{path}: no such file or folder", EXIT_BAD_INPUT)
    return files


def _output_root(result: Path) -> Path | None:
    """OUT for a result at OUT/results/<system>/<task>.json, else None."""
    parts = result.resolve().parents
    if len(parts) >= 3 and parts[1].name == "results":
        return parts[2]
    return None


@main.command("html")
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Output folder whose html/ receives the pages (default: the folder the results are in; a result "
    "outside an output folder gets its page beside it).",
)
def html_command(results: tuple[Path, ...], out: Path | None) -> None:
    """Render the scorecard page of each result file in RESULTS (files, or output / results folders).

    The report is shown when its file (the result's report_ref) still holds the text that was scored; the
    dimension and criterion names come from the frozen rubric of the output folder when its hash matches."""
    files = _result_files(results)
    if not files:
        fail("no result files (.json) in " + ", ".join(map(str, results)), EXIT_BAD_INPUT)
    written: list[Path] = []
    problems: list[str] = []
    unreadable = 0
    for file in files:
        read = read_result(file)
        card = read.card
        if card is None:  # dreval's own outputs (a leaderboard filed among the results) are skipped, not errors
            problems.append(f"{file}: {read.why}; " + ("skipped" if read.own else "no page written"))
            unreadable += not read.own
            continue
        root = out or _output_root(file)
        layout = OutputLayout(root) if root is not None else None
        rubric = None
        if layout is not None and card.quality is not None and layout.rubric(card.task_id).is_file():
            try:
                rubric = read_rubric(layout.rubric(card.task_id))
            except RubricError:
                rubric = None
        source = _output_root(file)
        if rubric is None and source is not None and card.quality is not None:
            frozen = OutputLayout(source).rubric(card.task_id)
            if frozen.is_file():
                try:
                    rubric = read_rubric(frozen)
                except RubricError:
                    rubric = None
        report, note = load_report_for(card)
        if note:
            problems.append(f"{card.system}/{card.task_id}: {note}")
        page = layout.scorecard(card.system, card.task_id) if layout is not None else file.with_suffix(".html")
        try:
            atomic_write_text(page, render_scorecard(card, rubric, report, note))
        except OSError as exc:
            problems.append(f"{page}: cannot be written ({exc.strerror})")
            unreadable += 1
            continue
        written.append(page)
    for problem in problems:
        stderr.print(f"[yellow]{safe(problem)}[/]", highlight=False, soft_wrap=True)
    if not written:
        fail(
            f"no scorecard written: none of the {len(files)} file(s) is a dreval result that could be rendered"
            if len(files) > 1
            else "no scorecard written",
            EXIT_BAD_INPUT,
        )
    if len(written) == 1:
        print_path("scorecard", written[0])
    else:
        folders = sorted({str(p.parent.parent) for p in written})
        stdout.print(
            f"{len(written)} scorecards written under {plain(', '.join(folders))}", highlight=False, markup=False
        )
    sys.exit(EXIT_INCOMPLETE if unreadable else EXIT_OK)


def _terminal_table(board: Leaderboard) -> Table:
    gaps = {gap.upper: gap for gap in board.gaps}
    table = Table(
        title="dreval leaderboard",
        caption="\n".join(safe(line) for line in method_lines(board)),
        caption_justify="left",
    )
    ratio = board.method.rank_by.startswith("right")
    ranked = f"{'right ratio' if ratio else 'quality'} (shared) [{board.method.level:.0%} CI]"
    for column in (
        "rank",
        "system",
        ranked,
        "quality, own tasks",
        "right (micro)",
        "complete",
        "partial",
        "failed",
        "unreadable",
        "missing",
        "gap to next",
    ):
        table.add_column(column, justify="left" if column in ("system", "gap to next") else "right", overflow="fold")
    for row in board.systems:
        gap = gaps.get(row.system)
        gap_text = ""
        if gap is not None and gap.p_adjusted is None:
            gap_text = f"{gap.diff:+.2f}, not tested"
        elif gap is not None:
            gap_text = f"{gap.diff:+.2f}, p={gap.p_adjusted:.3g} " + (
                "[green]significant[/]" if gap.significant else "not significant"
            )
        table.add_row(
            row.rank or "—",
            safe(row.system),
            fmt(row.shared, "ratio" if ratio else "score"),
            f"{fmt(row.quality)} n={row.quality.n}",
            fmt(row.right_micro, "ratio"),
            str(row.complete),
            str(row.partial),
            str(row.failed),
            str(row.unreadable),
            str(row.missing),
            gap_text,
        )
    return table


@main.command("leaderboard")
@click.argument("results_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--format",
    "format_name",
    type=click.Choice(FORMATS),
    help="Print this format to stdout (or write it to --out). Default: write all four to "
    "OUT/leaderboard.* (the output folder, also when RESULTS_DIR is its results/ folder or a system "
    "folder in it) and print a summary.",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write to this file (format from --format, else from its suffix).",
)
@click.option(
    "--tasks",
    "tasks_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The task set: tasks without a result are counted as missing (default: the union of tasks with a result).",
)
@click.option(
    "--resamples",
    type=click.IntRange(100, 1_000_000),
    default=DEFAULT_RESAMPLES,
    show_default=True,
    help="Bootstrap resamples.",
)
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True, help="Seed of the bootstrap.")
@click.option(
    "--confidence",
    type=click.FloatRange(0.5, 0.999),
    default=DEFAULT_LEVEL,
    show_default=True,
    help="Level of the confidence intervals.",
)
@click.option(
    "--alpha",
    type=click.FloatRange(0.001, 0.5),
    default=0.05,
    show_default=True,
    help="Family-wise significance level of the neighbouring-gap tests.",
)
@click.option(
    "--judge-variance",
    is_flag=True,
    help="With repeated judging (score --samples N): the total's intervals and the gap tests also "
    "resample the judge samples within each task.",
)
@click.option("--include-partial", is_flag=True, help="Also use the values of partial parts (default: complete only).")
@click.option(
    "--allow-mixed",
    is_flag=True,
    help="Show results scored with different rubrics, judges, prompt "
    "versions or settings, flagged, instead of refusing them.",
)
@click.option(
    "--rank-by",
    type=click.Choice(["quality", "right"]),
    default="quality",
    show_default=True,
    help="Rank by mean total quality, or by the right ratio (macro over reports).",
)
def leaderboard_command(
    results_dir: Path,
    format_name: str | None,
    out_file: Path | None,
    tasks_file: Path | None,
    resamples: int,
    seed: int,
    confidence: float,
    alpha: float,
    judge_variance: bool,
    include_partial: bool,
    allow_mixed: bool,
    rank_by: str,
) -> None:
    """Rank the systems of RESULTS_DIR (an output folder, or its results/ folder) with bootstrap confidence
    intervals, paired tests of neighbouring gaps and rank bands; missing, partial and failed results counted."""
    task_ids = None
    if tasks_file is not None:
        try:
            task_ids = [task.id for task in load_tasks(tasks_file)]
        except TaskError as exc:
            fail(str(exc), EXIT_BAD_INPUT)
    if out_file is not None and format_name is None:
        suffix = out_file.suffix.lower().lstrip(".")
        format_name = {"markdown": "md", "htm": "html"}.get(suffix, suffix)
        if format_name not in FORMATS:
            fail(f"--out {out_file}: say which format with --format ({', '.join(FORMATS)})", EXIT_BAD_INPUT)
    root = output_root(results_dir)
    if results_root(results_dir) == results_dir.parent:
        stderr.print(
            f"[yellow]{safe(results_dir)} is one system's folder of {safe(results_dir.parent)}: the "
            f"leaderboard covers every system there and is written to {safe(root)}[/]",
            highlight=False,
            soft_wrap=True,
        )
    try:
        board = build_leaderboard(
            results_dir,
            task_ids=task_ids,
            task_source=str(tasks_file or ""),
            resamples=resamples,
            seed=seed,
            level=confidence,
            alpha=alpha,
            judge_variance=judge_variance,
            include_partial=include_partial,
            allow_mixed=allow_mixed,
            rank_by=rank_by,
            page_root=root,
        )  # type: ignore[arg-type]
    except LeaderboardError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    for problem in board.mixed:
        stderr.print(f"[red]mixed:[/] {safe(problem)}", highlight=False, soft_wrap=True)
    if (format_name is not None or out_file is not None) and NO_JUDGE_VARIANCE in board.problems:
        stderr.print(f"[yellow]{safe(NO_JUDGE_VARIANCE)}[/]", highlight=False, soft_wrap=True)
    if format_name is not None and out_file is None:
        sys.stdout.write(render(board, format_name, None, root))
        sys.exit(EXIT_OK)
    if out_file is not None:
        assert format_name is not None
        atomic_write_text(out_file, render(board, format_name, out_file, root))
        print_path("leaderboard", out_file)
        sys.exit(EXIT_OK)
    layout = OutputLayout(root)
    for name in FORMATS:
        target = layout.leaderboard(name)
        atomic_write_text(target, render(board, name, target, root))
    stdout.print(_terminal_table(board))
    for problem in board.problems:
        stderr.print(f"[yellow]{safe(problem)}[/]", highlight=False, soft_wrap=True)
    stdout.print(
        "leaderboard: " + plain(", ".join(str(layout.leaderboard(n)) for n in FORMATS)), highlight=False, markup=False
    )
    sys.exit(EXIT_OK)
