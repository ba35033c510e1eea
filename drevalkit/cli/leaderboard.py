"""``dreval leaderboard``: every system of a results folder ranked, with confidence intervals and the
significance of neighbouring gaps; written in every format, or one format to stdout or a file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

import click
from rich.table import Table

from ..files import atomic_write_text
from ..ingest.task_files import TaskError, load_tasks
from ..layout import OutputLayout
from ..leaderboard import Gap, Leaderboard, LeaderboardError, build_leaderboard, output_root, results_root
from ..leaderboard.board import NO_JUDGE_VARIANCE
from ..leaderboard.formats import FORMATS, fmt, method_lines, render
from ..stats.bootstrap import DEFAULT_LEVEL, DEFAULT_RESAMPLES, DEFAULT_SEED
from .app import EXIT_BAD_INPUT, EXIT_OK, fail
from .console import plain, print_path, safe, stderr, stdout


@click.command("leaderboard")
@click.argument("results_dirs", nargs=-1, required=True, type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--format",
    "format_name",
    type=click.Choice(FORMATS),
    help="Print this format to stdout (or write it to --out). Default: write all four to "
    "OUT/leaderboard.* (the output folder of the first RESULTS_DIRS, also when it is its results/ folder or a "
    "system folder in it) and print a summary.",
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
    results_dirs: tuple[Path, ...],
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
    rank_by: Literal["quality", "right"],
) -> None:
    """Rank the systems of RESULTS_DIRS (output folders, or their results/ folders) with bootstrap confidence
    intervals, paired tests of neighbouring gaps and rank bands; missing, partial and failed results counted.

    Several folders are read as one: shards scored on several machines (dreval score --shard K/N), or systems
    scored apart; the shards and tasks none of them holds are named."""
    task_ids = _task_ids(tasks_file)
    format_name = _format_of(out_file, format_name)
    root = output_root(results_dirs[0])
    for results_dir in results_dirs:
        if results_root(results_dir) == results_dir.parent:
            stderr.print(
                f"[yellow]{safe(results_dir)} is one system's folder of {safe(results_dir.parent)}: the "
                f"leaderboard covers every system there and is written to {safe(root)}[/]",
                highlight=False,
                soft_wrap=True,
            )
    try:
        board = build_leaderboard(
            list(results_dirs),
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
        )
    except LeaderboardError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    for problem in board.mixed:
        stderr.print(f"[red]mixed:[/] {safe(problem)}", highlight=False, soft_wrap=True)
    if format_name is None:
        _write_all(board, root)
    else:
        _write_one(board, format_name, out_file, root)
    sys.exit(EXIT_OK)


def _task_ids(tasks_file: Path | None) -> list[str] | None:
    """The ids of the ``--tasks`` task set; None: the tasks with a result."""
    if tasks_file is None:
        return None
    try:
        return [task.id for task in load_tasks(tasks_file)]
    except TaskError as exc:
        fail(str(exc), EXIT_BAD_INPUT)


def _format_of(out_file: Path | None, format_name: str | None) -> str | None:
    """``--format``, else the format the suffix of ``--out`` names."""
    if out_file is None or format_name is not None:
        return format_name
    suffix = out_file.suffix.lower().lstrip(".")
    format_name = {"markdown": "md", "htm": "html"}.get(suffix, suffix)
    if format_name not in FORMATS:
        fail(f"--out {out_file}: say which format with --format ({', '.join(FORMATS)})", EXIT_BAD_INPUT)
    return format_name


def _write_one(board: Leaderboard, format_name: str, out_file: Path | None, root: Path) -> None:
    """One format to ``out_file``, or to stdout (nothing else is printed there, so it can be piped)."""
    if NO_JUDGE_VARIANCE in board.problems:
        stderr.print(f"[yellow]{safe(NO_JUDGE_VARIANCE)}[/]", highlight=False, soft_wrap=True)
    if out_file is None:
        sys.stdout.write(render(board, format_name, None, root))
        return
    atomic_write_text(out_file, render(board, format_name, out_file, root))
    print_path("leaderboard", out_file)


def _write_all(board: Leaderboard, root: Path) -> None:
    """Every format into the output folder, and the table and the board's problems on the terminal."""
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


def _terminal_table(board: Leaderboard) -> Table:
    """The ranking on the terminal, how it was computed in the caption."""
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
            _gap_text(gaps.get(row.system)),
        )
    return table


def _gap_text(gap: Gap | None) -> str:
    """The gap to the next system and whether its test found it significant (the last system has none)."""
    if gap is None:
        return ""
    if gap.p_adjusted is None:
        return f"{gap.diff:+.2f}, not tested"
    return f"{gap.diff:+.2f}, p={gap.p_adjusted:.3g} " + (
        "[green]significant[/]" if gap.significant else "not significant"
    )
