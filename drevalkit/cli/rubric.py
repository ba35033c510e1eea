"""``dreval rubric``: build and freeze the adaptive rubric of each task."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from ..aio import run_loop
from ..ingest.task_files import TaskError, iter_tasks, scan_tasks
from ..llm import LLMUnavailable
from ..quality.rubric import STALE_HINT_RUBRIC, build_rubrics
from ..schemas import Task
from .app import EXIT_BAD_INPUT, EXIT_INCOMPLETE, EXIT_JUDGE, EXIT_OK, fail
from .console import plain, stderr, stdout
from .options import build_settings, judge_options, open_judge


@click.command("rubric")
@click.argument("tasks_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--task-id", "task_ids", multiple=True, help="Only these task ids (repeatable).")
@click.option("--rebuild", is_flag=True, help="Build anew even if frozen rubrics exist.")
@judge_options
def rubric_command(
    tasks_file: Path, task_ids: tuple[str, ...], rebuild: bool, config_file: Path | None, **judge: Any
) -> None:
    """Build and freeze the adaptive rubric of each task in TASKS_FILE into OUT/rubrics/."""
    settings = build_settings(config_file, **judge)
    try:  # every task is checked first, read as a stream: a bad line anywhere refuses the file before any call
        count, picked = scan_tasks(tasks_file, task_ids)
    except TaskError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    stderr.print(f"read {count:,} task{'s' if count != 1 else ''} from {plain(tasks_file)}", highlight=False)
    tasks: Iterable[Task] = picked if task_ids else iter_tasks(tasks_file)  # a million tasks are not held at once
    store, llm = open_judge(settings)

    def done(task: Task, summary: str, problem: str | None) -> None:
        stdout.print(
            f"{plain(settings.layout.rubric(task.id))}: {plain(problem and 'failed: ' + problem or summary)}",
            highlight=False,
            markup=False,
        )

    async def run() -> int:
        try:
            return await build_rubrics(
                settings.layout, llm, tasks, rebuild=rebuild, stale_hint=STALE_HINT_RUBRIC, on_done=done
            )
        finally:
            await llm.close()

    try:
        failed = run_loop(run())
    except LLMUnavailable as exc:
        fail(str(exc), EXIT_JUDGE)
    except TaskError as exc:  # the file changed since it was checked
        fail(str(exc), EXIT_BAD_INPUT)
    finally:
        store.close()
    sys.exit(EXIT_INCOMPLETE if failed else EXIT_OK)
