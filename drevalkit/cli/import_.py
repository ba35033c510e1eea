"""``dreval import``: turn other tools' report files (or task files) into dreval's normalised form.

    dreval import FORMAT PATH... --out reports/SYSTEM/      # <task id>.md + <task id>.meta.json per report
    dreval import --tasks [FORMAT] PATH... --out tasks.jsonl

Prints a one-line summary, every problem and every warning (a report written without something it should have,
such as sources that could not be read, or whose markers mostly cite no source, with the likely cause); exits 0 when everything imported, 1 when some files, entries or reports
failed (failed reports are written with their reason) or a warning was given, 2 on a bad invocation.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from ..files import atomic_write_text
from ..ingest.formats.base import plural
from ..ingest.importers import IMPORTERS, LINKED_AT_LEAST, collect_import_files, import_reports
from ..ingest.task_files import TASK_FORMATS, import_tasks
from .app import EXIT_BAD_INPUT, EXIT_INCOMPLETE, EXIT_OK, fail
from .console import plain, progress_bar, safe, stderr, stdout
from .options import check_reports_folder


def _problem(text: str) -> None:
    stderr.print(f"[yellow]problem:[/] {safe(text)}", highlight=False, soft_wrap=True)


@click.command("import")
@click.argument("args", nargs=-1, metavar="FORMAT PATH...")
@click.option(
    "--tasks",
    "tasks_mode",
    is_flag=True,
    help="Import task files instead of reports (FORMAT optional: drb, deepresearcheval, miroeval, dreval, auto).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Reports: the folder to write <task id>.md and <task id>.meta.json into (e.g. reports/SYSTEM/). "
    "Tasks: the JSONL file to write (a folder gets tasks.jsonl).",
)
@click.option(
    "--max-file-mb", type=float, default=100.0, show_default=True, help="Refuse input files larger than this."
)
def import_command(args: tuple[str, ...], tasks_mode: bool, out: Path, max_file_mb: float) -> None:
    """Import FORMAT files (or folders of them): one of auto, markdown, deepresearcheval, drb, miroeval,
    openai-responses, html. Each report becomes normalised markdown with a numbered References list and a sidecar
    recording the source, the sources used and unused, the interface chrome removed and, for an error or give-up
    message, that it failed and why."""
    if max_file_mb <= 0:
        fail("--max-file-mb must be positive", EXIT_BAD_INPUT)
    if tasks_mode:
        _import_tasks(list(args), out)
    _import_reports(args, out, max_file_mb)


def _import_reports(args: tuple[str, ...], out: Path, max_file_mb: float) -> NoReturn:
    if len(args) < 2:
        fail(
            "give a FORMAT and at least one PATH: dreval import FORMAT PATH... --out DIR (FORMAT: auto, "
            + ", ".join(IMPORTERS.names())
            + ")",
            EXIT_BAD_INPUT,
        )
    format_name, paths = args[0].lower(), [Path(a) for a in args[1:]]
    if format_name != "auto" and format_name not in IMPORTERS:
        fail(f"unknown report format {args[0]!r}: choose auto or one of {', '.join(IMPORTERS.names())}", EXIT_BAD_INPUT)
    _check_paths(paths)
    check_reports_folder(out)
    files = collect_import_files(paths)
    if not files:
        fail("no report files in " + ", ".join(str(p) for p in paths), EXIT_BAD_INPUT)
    with progress_bar("importing", disable=len(files) < 2) as progress:
        bar = progress.add_task("", total=len(files))
        outcome = import_reports(
            files,
            out,
            format_name=None if format_name == "auto" else format_name,
            max_bytes=int(max_file_mb * 1_000_000),
            on_file=lambda path: progress.update(bar, advance=1, description=plain(path.name)),
        )
    for problem in outcome.problems:
        _problem(problem)
    for warning in outcome.warnings:
        stderr.print(f"[yellow]warning:[/] {safe(warning)}", highlight=False, soft_wrap=True)
    for path, reason in outcome.failed:
        stderr.print(f"[red]failed report:[/] {safe(path)}: {safe(reason)}", highlight=False, soft_wrap=True)
    line = f"imported {plural(len(outcome.written), 'report')} from {plural(outcome.files, 'file')} into {out}"
    if outcome.failed:
        what = "an error or give-up message" if len(outcome.failed) == 1 else "error or give-up messages"
        line += f" ({len(outcome.failed)} failed: {what}, recorded with the reason)"
    if outcome.poorly_linked:
        line += (
            f"; {plural(len(outcome.poorly_linked), 'report')} with fewer than {LINKED_AT_LEAST:.0%} of "
            "markers citing a source"
        )
    if outcome.warnings:
        line += f"; {plural(len(outcome.warnings), 'warning')} (imported, but see the sidecar's notes)"
    if outcome.problems:
        line += f"; {plural(len(outcome.problems), 'problem')} (not imported)"
    stdout.print(plain(line), highlight=False, markup=False, soft_wrap=True)
    sys.exit(EXIT_OK if outcome.ok else EXIT_INCOMPLETE)


def _check_paths(paths: list[Path]) -> None:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        fail(f"no such file or folder: {', '.join(missing)}", EXIT_BAD_INPUT)


def _import_tasks(args: list[str], out: Path) -> NoReturn:
    format_name = None
    if args and (args[0].lower() == "auto" or args[0].lower() in TASK_FORMATS) and not Path(args[0]).exists():
        format_name = None if args[0].lower() == "auto" else args[0].lower()
        args = args[1:]
    if not args:
        fail(
            "give at least one task file: dreval import --tasks [FORMAT] PATH... --out tasks.jsonl (FORMAT: auto, "
            + ", ".join(TASK_FORMATS.names())
            + ")",
            EXIT_BAD_INPUT,
        )
    paths = [Path(a) for a in args]
    _check_paths(paths)
    files: list[Path] = []
    for path in paths:
        files.extend(
            sorted(
                p
                for p in path.iterdir()
                if p.is_file() and p.suffix.lower() in (".json", ".jsonl") and not p.name.startswith(".")
            )
            if path.is_dir()
            else [path]
        )
    target = out / "tasks.jsonl" if out.is_dir() or not out.suffix else out
    result = import_tasks(files, format_name)
    for problem in result.problems:
        _problem(problem)
    for renamed in result.renamed:
        stderr.print(f"[yellow]renamed:[/] {safe(renamed)}", highlight=False, soft_wrap=True)
    if result.tasks:
        atomic_write_text(target, "".join(task.model_dump_json(exclude_none=True) + "\n" for task in result.tasks))
    line = f"imported {plural(len(result.tasks), 'task')} from {plural(result.files, 'file')}"
    line += f" into {target}" if result.tasks else " (nothing written)"
    if result.duplicates:
        line += f"; {plural(result.duplicates, 'repeated task')} kept once"
    if result.renamed:
        line += f"; {plural(len(result.renamed), 'repeated id')} renamed"
    if result.problems:
        line += f"; {plural(len(result.problems), 'problem')} (not imported)"
    stdout.print(plain(line), highlight=False, markup=False, soft_wrap=True)
    sys.exit(EXIT_OK if not result.problems and result.tasks else EXIT_INCOMPLETE)
