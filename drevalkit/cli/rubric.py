"""``dreval rubric``: build and freeze the adaptive rubric of each task."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click

from ..ingest.task_files import TaskError, load_tasks, select_task
from ..llm import LLMUnavailable
from ..quality.rubric import STALE_HINT_RUBRIC, build_rubrics
from .app import EXIT_BAD_INPUT, EXIT_INCOMPLETE, EXIT_JUDGE, EXIT_OK, fail
from .console import plain, stdout
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
    try:
        tasks = load_tasks(tasks_file)
        if task_ids:
            tasks = [select_task(tasks, tid, tasks_file) for tid in task_ids]
    except TaskError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    store, llm = open_judge(settings)

    async def run() -> list[tuple[str, str | None]]:
        try:
            return await build_rubrics(settings.layout, llm, tasks, rebuild=rebuild, stale_hint=STALE_HINT_RUBRIC)
        finally:
            await llm.close()

    try:
        results = asyncio.run(run())
    except LLMUnavailable as exc:
        fail(str(exc), EXIT_JUDGE)
    finally:
        store.close()
    for task, (outcome, problem) in zip(tasks, results):
        stdout.print(
            f"{plain(settings.layout.rubric(task.id))}: {plain(problem and 'failed: ' + problem or outcome)}",
            highlight=False,
            markup=False,
        )
    sys.exit(EXIT_INCOMPLETE if any(problem for _, problem in results) else EXIT_OK)
