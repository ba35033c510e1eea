"""Two task sets in one output folder: refused before any judging.

Rubrics and results are filed by task id (``OUT/rubrics/<task>.json``, ``OUT/results/<system>/<task>.json``), so
scoring benchmark B's task "1" into the folder that holds benchmark A's task "1" would judge B's reports against A's
frozen rubric (every result failed, one by one) and write over A's results. Before anything is judged, every job's
frozen rubric must have been built from the job's task, and its existing result scored on the same task text;
otherwise the run stops with one message naming the clashing ids and the ways out.
"""

from __future__ import annotations

from ..errors import DrevalError
from ..files import load_json
from ..layout import OutputLayout
from ..quality.rubric import RubricError, built_from, read_rubric
from .jobs import ScoreJob

SHOWN = 10  # clashing ids named in the message; the rest are counted


class TaskSetClash(DrevalError, ValueError):
    """The output folder holds rubrics or results of other tasks under the ids of this run's tasks."""


def _words(text: str) -> str:
    return " ".join(text.split())


def _scored_prompt(layout: OutputLayout, job: ScoreJob) -> str | None:
    """The task text the job's existing result was scored on (None: no result, or it records no task). Read as plain
    JSON: the check reads every job's result before any judging, and validating whole results would be slow."""
    try:
        data = load_json(layout.result(job.system, job.task_id).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # ParseFailure and UnicodeDecodeError are ValueErrors
        return None  # unreadable results are the scorer's to report (or replace)
    task = data.get("task") if isinstance(data, dict) else None
    prompt = task.get("prompt") if isinstance(task, dict) else None
    return prompt if isinstance(prompt, str) else None


def clashes(layout: OutputLayout, jobs: list[ScoreJob], *, rubrics: bool) -> dict[str, list[str]]:
    """Per task id whose frozen rubric (when ``rubrics``) or existing result belongs to another task: what does."""
    found: dict[str, list[str]] = {}
    tasks = {job.task.id: job.task for job in jobs if job.task is not None}
    for task in tasks.values() if rubrics else ():
        path = layout.rubric(task.id)
        try:
            rubric = read_rubric(path) if path.is_file() else None
        except RubricError:
            continue  # a broken rubric is refused by the scorer, with its own reason
        if rubric is not None and not built_from(rubric, task):
            found.setdefault(task.id, []).append(f"its frozen rubric {path.name} was built from another task")
    for job in jobs:
        prompt = _scored_prompt(layout, job) if job.task is not None else None
        if job.task is not None and prompt is not None and _words(prompt) != _words(job.task.prompt):
            found.setdefault(job.task_id, []).append(f"the result of system {job.system} is of another task")
    return found


def check_task_set(layout: OutputLayout, jobs: list[ScoreJob], *, rubrics: bool) -> None:
    """Raise ``TaskSetClash`` when the folder holds another task set's rubrics or results under this run's ids."""
    found = clashes(layout, jobs, rubrics=rubrics)
    if not found:
        return
    named = [f"task {task_id} ({', '.join(why)})" for task_id, why in list(found.items())[:SHOWN]]
    more = f", and {len(found) - SHOWN} more tasks" if len(found) > SHOWN else ""
    raise TaskSetClash(
        f"{layout.root} holds rubrics or results of other tasks under the ids of this run's tasks: "
        f"{'; '.join(named)}{more}. Nothing was judged. Score this task set into another folder (--out DIR), or "
        "build its rubrics anew and replace those results with --rebuild-rubrics."
    )
