"""Read tasks from JSON (one task or a list) or JSONL files, with errors that name the file and line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..schemas import Task


class TaskError(ValueError):
    """A task file or task id that cannot be used; the message says why."""


def _task_from(data: Any, where: str) -> Task:
    if not isinstance(data, dict):
        raise TaskError(f"{where}: a task must be a JSON object")
    try:
        return Task.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'task'}: {e['msg']}" for e in exc.errors(include_url=False)[:3]
        )
        raise TaskError(f"{where}: invalid task ({problems})") from None


def load_tasks(path: Path) -> list[Task]:
    """All tasks in a file: JSONL (one per line), a JSON list, or a single JSON object."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskError(f"{path}: cannot read the task file ({exc})") from None
    stripped = text.strip()
    if not stripped:
        raise TaskError(f"{path}: the task file is empty")
    tasks: list[Task] = []
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError:
        data = None
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TaskError(f"{path}:{number}: malformed JSON ({exc.msg})") from None
            tasks.append(_task_from(item, f"{path}:{number}"))
    if data is not None:
        items = data if isinstance(data, list) else [data]
        tasks = [_task_from(item, f"{path}[{i}]") for i, item in enumerate(items)]
    seen: set[str] = set()
    for task in tasks:
        if task.id in seen:
            raise TaskError(f"{path}: task id {task.id!r} appears more than once")
        seen.add(task.id)
    if not tasks:
        raise TaskError(f"{path}: no tasks found")
    return tasks


def select_task(tasks: list[Task], task_id: str | None, path: Path) -> Task:
    if task_id is None:
        if len(tasks) == 1:
            return tasks[0]
        raise TaskError(f"{path} holds {len(tasks)} tasks: pick one with --task-id")
    for task in tasks:
        if task.id == task_id:
            return task
    known = ", ".join(t.id for t in tasks[:5]) + (" ..." if len(tasks) > 5 else "")
    raise TaskError(f"unknown task id {task_id!r} in {path} (known: {known})")
