"""``dreval html``: scorecard pages re-rendered from result files, with the report and the frozen rubric when they
can still be found."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..files import atomic_write_text
from ..layout import OutputLayout
from ..leaderboard import read_result
from ..quality.rubric import RubricError, read_rubric
from ..render.scorecard import load_report_for, render_scorecard
from ..schemas import Rubric, Scorecard
from .app import EXIT_BAD_INPUT, EXIT_INCOMPLETE, EXIT_OK, fail
from .console import plain, print_path, safe, stderr, stdout


@click.command("html")
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Output folder whose html/ receives the pages (default: the folder the results are in; a result "
    "outside an output folder gets its page beside it).",
)
@click.option(
    "--reports",
    "report_dirs",
    multiple=True,
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="Folder the report files may be read from (repeatable; default: the working folder only).",
)
def html_command(results: tuple[Path, ...], out: Path | None, report_dirs: tuple[Path, ...]) -> None:
    """Render the scorecard page of each result file in RESULTS (files, or output / results folders).

    The report is shown when its file (the result's report_ref) is a regular file under the working folder or a
    --reports folder and still holds the text that was scored; the dimension and criterion names come from the
    frozen rubric of the output folder when its hash matches."""
    roots = [Path.cwd(), *report_dirs]
    files = _result_files(results)
    if not files:
        fail("no result files (.json) in " + ", ".join(map(str, results)), EXIT_BAD_INPUT)
    written: list[Path] = []
    problems: list[str] = []
    unreadable = 0
    for file in files:
        read = read_result(file)
        if read.card is None:  # dreval's own outputs (a leaderboard filed among the results) are skipped, not errors
            problems.append(f"{file}: {read.why}; " + ("skipped" if read.own else "no page written"))
            unreadable += not read.own
            continue
        page = _write_page(file, read.card, out, roots, problems)
        if page is None:
            unreadable += 1
        else:
            written.append(page)
    for problem in problems:
        stderr.print(f"[yellow]{safe(problem)}[/]", highlight=False, soft_wrap=True)
    _print_written(written, len(files))
    sys.exit(EXIT_INCOMPLETE if unreadable else EXIT_OK)


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


def _write_page(file: Path, card: Scorecard, out: Path | None, roots: list[Path], problems: list[str]) -> Path | None:
    """The scorecard page of one result, written into OUT/html (``out``, else the output folder the result is in)
    or, outside an output folder, beside the result; None when it cannot be written. The report is read only from
    under ``roots``. Problems go to ``problems``."""
    root = out or _output_root(file)
    layout = OutputLayout(root) if root is not None else None
    rubric = _frozen_rubric(card, root, _output_root(file))
    report, note = load_report_for(card, roots)
    if note:
        problems.append(f"{card.system}/{card.task_id}: {note}")
    page = layout.scorecard(card.system, card.task_id) if layout is not None else file.with_suffix(".html")
    try:
        atomic_write_text(page, render_scorecard(card, rubric, report, note))
    except OSError as exc:
        problems.append(f"{page}: cannot be written ({exc.strerror})")
        return None
    return page


def _frozen_rubric(card: Scorecard, *roots: Path | None) -> Rubric | None:
    """The first readable frozen rubric of the card's task in the output folders ``roots`` (the target, then the
    result's own); a result without quality needs none."""
    if card.quality is None:
        return None
    for root in roots:
        frozen = OutputLayout(root).rubric(card.task_id) if root is not None else None
        if frozen is not None and frozen.is_file():
            try:
                return read_rubric(frozen)
            except RubricError:
                continue
    return None


def _print_written(written: list[Path], files: int) -> None:
    """Where the pages went; none written ends the command as bad input."""
    if not written:
        fail(
            f"no scorecard written: none of the {files} file(s) is a dreval result that could be rendered"
            if files > 1
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
