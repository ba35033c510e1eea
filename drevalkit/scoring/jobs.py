"""Which reports to score against which tasks: report files collected from the arguments and matched to tasks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..schemas import Task
from ..tasks.loading import load_tasks, select_task

REPORT_SUFFIXES = (".md", ".markdown", ".txt", ".text", ".json")


class JobError(ValueError):
    """Arguments that do not make a set of jobs; the message says what to change."""


@dataclass
class ScoreJob:
    """One report to score. ``problem`` is set when the job is known to be unscoreable before it starts."""

    report_path: Path
    system: str
    task_id: str
    task: Task | None
    problem: str = ""
    report_format: str | None = None
    input_key: str | None = None  # filled once by Scorer.input_key


def collect_reports(paths: list[Path] | tuple[Path, ...]) -> list[tuple[Path, str | None]]:
    """Report files from the arguments, folders expanded, each with the name of the folder it was found in."""
    files: list[tuple[Path, str | None]] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in REPORT_SUFFIXES)
            if not found:
                raise JobError(f"{path}: no report files ({', '.join(REPORT_SUFFIXES)}) in this folder")
            files.extend((p, path.resolve().name) for p in found)
        elif path.exists():
            files.append((path, None))
        else:
            raise JobError(f"{path}: no such file or folder")
    return files


def build_jobs(
    files: list[tuple[Path, str | None]],
    *,
    system: str | None = None,
    task_file: Path | None = None,
    task_id: str | None = None,
    prompt: str | None = None,
    tasks_file: Path | None = None,
    task_required: bool = True,
    report_format: str | None = None,
) -> list[ScoreJob]:
    """One job per report; the system is ``system``, else the report's folder name, else 'default'.

    A task comes from exactly one of ``task_file`` (+ ``task_id``), ``prompt`` or ``tasks_file`` (reports named by
    task id); without any, and when no task is required (fact-check only), results are named after the files.
    """
    jobs = _jobs_for(files, system, task_file, task_id, prompt, tasks_file, task_required)
    seen: dict[tuple[str, str], Path] = {}
    for job in jobs:
        job.report_format = report_format
        key = (job.system, job.task_id)
        if key in seen:
            raise JobError(f"{seen[key]} and {job.report_path} would both be the result of system {job.system!r} on "
                           f"task {job.task_id!r}; score them separately or give each folder its own --system")
        seen[key] = job.report_path
    return jobs


def _jobs_for(
    files: list[tuple[Path, str | None]], system: str | None, task_file: Path | None, task_id: str | None,
    prompt: str | None, tasks_file: Path | None, task_required: bool,
) -> list[ScoreJob]:
    reports = [path for path, _ in files]
    systems = {path: system or folder or "default" for path, folder in files}
    given = [name for name, value in (("--task", task_file), ("--prompt", prompt), ("--tasks", tasks_file)) if value]
    if not given and not task_required:
        return [ScoreJob(path, systems[path], path.stem, None) for path in reports]
    if len(given) != 1:
        raise JobError("give exactly one of --task FILE, --prompt TEXT or --tasks FILE (reports named by task id)")
    if tasks_file is not None:
        by_id = {t.id: t for t in load_tasks(tasks_file)}
        jobs = []
        for path in reports:
            task = by_id.get(path.stem)
            problem = "" if task else f"no task with id {path.stem!r} (the report's file name) in {tasks_file}"
            jobs.append(ScoreJob(path, systems[path], path.stem, task, problem))
        return jobs
    if len(reports) != 1:
        raise JobError("--task and --prompt score one report; for many, use --tasks with files named <task id>.md")
    if prompt is not None:
        if not prompt.strip():
            raise JobError("--prompt is empty")
        task = Task.model_validate({"prompt": prompt.strip()})
    else:
        assert task_file is not None
        task = select_task(load_tasks(task_file), task_id, task_file)
    return [ScoreJob(reports[0], systems[reports[0]], task.id, task)]
