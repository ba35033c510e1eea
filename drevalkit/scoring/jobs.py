"""Which reports to score against which tasks: report files collected from the arguments and matched to tasks.

A file may hold one report or many (a DeepResearch Bench JSONL, a MiroEval array): every report in it is a job.
Each report's task id comes from the file's content when it has one (``query_id``, the ``deep_research_<id>_...``
file name, a line's ``id``, an import sidecar), else from the file name; a report that carries its own query
(DeepResearchEval ``entries[0].query``, DeepResearch Bench ``prompt``, MiroEval ``rewritten_query``, a sidecar's
prompt, an echoed question) needs no task file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import DrevalError
from ..ingest.importers import ReportError, read_reports
from ..ingest.sidecar import is_sidecar
from ..ingest.task_files import load_tasks, select_task
from ..schemas import Task

REPORT_SUFFIXES = (".md", ".markdown", ".txt", ".text", ".json", ".jsonl", ".html", ".htm")
PEEK_MAX_BYTES = 100_000_000  # reading a file to list its reports; the report size limit applies when scoring


class JobError(DrevalError, ValueError):
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


@dataclass
class _Entry:
    """One report found in a file: its task id, the prompt it carries, or why it cannot be read."""

    path: Path
    system: str
    task_id: str
    prompt: str | None = None
    problem: str = ""


def collect_reports(paths: list[Path] | tuple[Path, ...]) -> list[tuple[Path, str | None]]:
    """Report files from the arguments, folders expanded, each with the name of the folder it was found in.
    Import sidecars (``*.meta.json``) and hidden files in a folder are not reports."""
    files: list[tuple[Path, str | None]] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(
                p
                for p in path.iterdir()
                if p.is_file()
                and p.suffix.lower() in REPORT_SUFFIXES
                and not is_sidecar(p)
                and not p.name.startswith(".")
            )
            if not found:
                raise JobError(f"{path}: no report files ({', '.join(REPORT_SUFFIXES)}) in this folder")
            files.extend((p, path.resolve().name) for p in found)
        elif path.exists():
            files.append((path, None))
        else:
            raise JobError(f"{path}: no such file or folder")
    return files


def _entries(files: list[tuple[Path, str | None]], system: str | None, report_format: str | None) -> list[_Entry]:
    """Every report of every file. A file that cannot be read is one entry named after the file; scoring it
    records the reason. A file of several reports given directly is named after itself as the system."""
    entries: list[_Entry] = []
    for path, folder in files:
        try:
            _, reports = read_reports(path, report_format, max_bytes=PEEK_MAX_BYTES)
        except (ReportError, OSError):
            entries.append(_Entry(path, system or folder or "default", path.stem))
            continue
        name = system or folder or (path.stem if len(reports) > 1 else "default")
        for number, report in enumerate(reports, start=1):
            if report.error is not None and report.task_id is None:
                where = (report.entry or f"entry {number}").replace(" ", "")
                entries.append(_Entry(path, name, f"{path.stem}-{where}", problem=report.error))
                continue
            entries.append(
                _Entry(path, name, report.task_id or path.stem, prompt=report.prompt, problem=report.error or "")
            )
    return entries


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
    """One job per report; the system is ``system``, else the report's folder name, else (a file of several
    reports) the file's name, else 'default'.

    A task comes from exactly one of ``task_file`` (+ ``task_id``), ``prompt`` or ``tasks_file`` (reports matched
    by task id), else from the report itself when it carries its query; without any, and when no task is required
    (fact-check only), results are named after the reports' task ids or files.
    """
    jobs = _jobs_for(_entries(files, system, report_format), task_file, task_id, prompt, tasks_file, task_required)
    seen: dict[tuple[str, str], Path] = {}
    for job in jobs:
        job.report_format = report_format
        key = (job.system, job.task_id)
        if key in seen:
            raise JobError(
                f"{seen[key]} and {job.report_path} would both be the result of system {job.system!r} on "
                f"task {job.task_id!r}; score them separately or give each folder its own --system"
            )
        seen[key] = job.report_path
    return jobs


def _own_task(entry: _Entry) -> Task | None:
    if not entry.prompt or not entry.prompt.strip():
        return None
    return Task.model_validate(
        {
            "id": entry.task_id,
            "prompt": entry.prompt.strip(),
            "provenance": {"source": "the report file", "file": str(entry.path)},
        }
    )


def _jobs_for(
    entries: list[_Entry],
    task_file: Path | None,
    task_id: str | None,
    prompt: str | None,
    tasks_file: Path | None,
    task_required: bool,
) -> list[ScoreJob]:
    given = [name for name, value in (("--task", task_file), ("--prompt", prompt), ("--tasks", tasks_file)) if value]
    if len(given) > 1:
        raise JobError("give exactly one of --task FILE, --prompt TEXT or --tasks FILE (reports named by task id)")
    if not given:
        carried = [_own_task(entry) for entry in entries]
        if task_required and not any(carried):
            raise JobError(
                "give exactly one of --task FILE, --prompt TEXT or --tasks FILE (reports named by task id); "
                "these reports do not carry their question"
            )
        jobs = []
        for entry, task in zip(entries, carried):
            problem = entry.problem
            if task is None and task_required and not problem:
                problem = (
                    f"no task for {entry.path} (task {entry.task_id!r}): the report does not carry its "
                    "question; give --tasks"
                )
            jobs.append(ScoreJob(entry.path, entry.system, entry.task_id, task, problem))
        return jobs
    if tasks_file is not None:
        by_id = {t.id: t for t in load_tasks(tasks_file)}
        jobs = []
        for entry in entries:
            task = by_id.get(entry.task_id)
            problem = entry.problem or (
                "" if task else f"no task with id {entry.task_id!r} (from the report {entry.path.name}) in {tasks_file}"
            )
            jobs.append(ScoreJob(entry.path, entry.system, entry.task_id, task, problem))
        return jobs
    if len(entries) != 1:
        raise JobError("--task and --prompt score one report; for many, use --tasks with files named <task id>.md")
    entry = entries[0]
    if prompt is not None:
        if not prompt.strip():
            raise JobError("--prompt is empty")
        task = Task.model_validate({"prompt": prompt.strip()})
    else:
        assert task_file is not None
        task = select_task(load_tasks(task_file), task_id, task_file)
    return [ScoreJob(entry.path, entry.system, task.id, task, entry.problem)]
