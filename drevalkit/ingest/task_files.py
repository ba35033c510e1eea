"""Read tasks from JSON (one task or a list) or JSONL files, with errors that name the file and line.

Besides dreval's own task shape (``samples/task.json``), the task files of the common benchmarks are understood;
each is a shape in the ``TASK_FORMATS`` registry, recognised item by item:

- ``drb``: DeepResearch Bench (and DeepResearchEval) ``query.jsonl`` lines ``{id, topic, language, prompt}``;
  ``topic`` becomes the domain.
- ``deepresearcheval``: DeepResearchEval's generated tasks ``{task_id, domain, expert: {name, role, affiliation,
  background, subdomain}, query: {deep_research_query, key_challenges, expected_search_rounds, time_sensitivity,
  time_constraint}, ...}`` and the flat intermediate form with ``deep_research_query`` at the top; the expert
  becomes the persona.
- ``miroeval``: MiroEval queries ``{id, chat_id, query, rewritten_query, files, annotation: {language, domain,
  ...}}`` (also its result files); the prompt is ``rewritten_query``, else ``query``.
- ``dreval``: anything ``Task`` accepts (``prompt`` or ``question`` / ``task`` / ``query`` / ``instruction``).

``load_tasks`` is strict: any bad item or a repeated id refuses the file, except in DeepResearchEval's generated
tasks, which number tasks per expert (``task_1`` for each), where a repeated id is renamed ``<id>-2``, ``<id>-3`` in
file order (the original id kept in ``provenance.original_id``). ``import_tasks`` (``dreval import --tasks``) keeps
the good items, lists the bad ones with reasons, and renames every repeated id with another prompt that way.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import DrevalError
from ..files import ParseFailure, load_json
from ..registry import Registry
from ..schemas import Task

MAX_TASK_FILE_BYTES = 200_000_000


class TaskError(DrevalError, ValueError):
    """A task file or task id that cannot be used; the message says why."""


Shape = Callable[[dict[str, Any]], "dict[str, Any] | None"]
TASK_FORMATS: Registry[Shape] = Registry("task format", "drevalkit.task_formats")


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _id(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "persona"


def _challenges(value: Any) -> list[str]:
    if isinstance(value, str) and value.strip():
        return [value.strip()]
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return []


@TASK_FORMATS.register("drb")
def drb_shape(item: dict[str, Any]) -> dict[str, Any] | None:
    """``{id, topic, language, prompt}``."""
    if "topic" not in item or _text(item.get("prompt")) is None or "id" not in item:
        return None
    return {
        "id": _id(item["id"]),
        "prompt": item["prompt"].strip(),
        "language": item.get("language") or "en",
        "domain": item.get("topic") or "",
        "provenance": {"format": "drb"},
    }


@TASK_FORMATS.register("deepresearcheval")
def deepresearcheval_shape(item: dict[str, Any]) -> dict[str, Any] | None:
    """Generated tasks, nested (``query.deep_research_query``) or flat (``deep_research_query``)."""
    nested = item.get("query")
    query: dict[str, Any] = nested if isinstance(nested, dict) else item
    prompt = _text(query.get("deep_research_query"))
    if prompt is None:
        return None
    task: dict[str, Any] = {
        "prompt": prompt,
        "language": item.get("language") or "en",
        "domain": item.get("domain") or "",
        "time_constraint": query.get("time_constraint") or "",
        "key_challenges": _challenges(query.get("key_challenges")),
    }
    identifier = item.get("task_id", item.get("id"))
    if identifier is not None:
        task["id"] = _id(identifier)
    expert = item.get("expert") or item.get("persona")
    if isinstance(expert, dict) and _text(expert.get("name")):
        task["persona"] = {
            "id": _slug(expert["name"]),
            "name": expert["name"],
            **{
                k: str(expert[k])
                for k in ("role", "affiliation", "background", "subdomain", "domain")
                if isinstance(expert.get(k), str)
            },
        }
        task["persona"].setdefault("domain", task["domain"])
    provenance: dict[str, Any] = {"format": "deepresearcheval"}
    for key in ("expected_search_rounds", "time_sensitivity"):
        if key in query:
            provenance[key] = query[key]
    for key in ("retention_reason", "generated_timestamp"):
        if isinstance(item.get(key), str):
            provenance[key] = item[key]
    task["provenance"] = provenance
    return task


@TASK_FORMATS.register("miroeval")
def miroeval_shape(item: dict[str, Any]) -> dict[str, Any] | None:
    """``{id, chat_id, query, rewritten_query, annotation}``."""
    if "rewritten_query" not in item and not ("chat_id" in item and "query" in item):
        return None
    prompt = _text(item.get("rewritten_query")) or _text(item.get("query"))
    if prompt is None or "id" not in item:
        return None
    annotated = item.get("annotation")
    annotation: dict[str, Any] = annotated if isinstance(annotated, dict) else {}
    provenance: dict[str, Any] = {"format": "miroeval"}
    if _text(item.get("query")) and _text(item.get("query")) != prompt:
        provenance["original_query"] = item["query"].strip()
    for key in ("chat_id",):
        if key in item:
            provenance[key] = item[key]
    for key in ("category", "pattern", "origin_id"):
        if key in annotation:
            provenance[key] = annotation[key]
    if isinstance(item.get("files"), list) and item["files"]:
        provenance["files"] = [f.get("filename", "") if isinstance(f, dict) else str(f) for f in item["files"]][:50]
    return {
        "id": _id(item["id"]),
        "prompt": prompt,
        "language": annotation.get("language") or "en",
        "domain": annotation.get("domain") or "",
        "provenance": provenance,
    }


@TASK_FORMATS.register("dreval")
def dreval_shape(item: dict[str, Any]) -> dict[str, Any] | None:
    """dreval's own shape, and the aliases ``Task`` accepts."""
    return item


_AUTO_ORDER = ("deepresearcheval", "miroeval", "drb", "dreval")


def normalise_task(item: Any, format_name: str | None = None) -> dict[str, Any] | None:
    """The task dict for one item of a task file in ``format_name`` (or the first shape that fits it)."""
    if not isinstance(item, dict):
        return None
    names = [format_name] if format_name and format_name != "auto" else list(_AUTO_ORDER)
    names += [n for n in TASK_FORMATS.names() if n not in names and not format_name]
    for name in names:
        shaped = TASK_FORMATS.get(name)(item)
        if shaped is not None:
            return shaped
    return None


def _task_from(data: Any, where: str, format_name: str | None = None) -> Task:
    if not isinstance(data, dict):
        raise TaskError(f"{where}: a task must be a JSON object")
    shaped = normalise_task(data, format_name)
    if shaped is None:
        raise TaskError(f"{where}: not a {format_name} task")
    try:
        return Task.model_validate(shaped)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'task'}: {e['msg']}" for e in exc.errors(include_url=False)[:3]
        )
        raise TaskError(f"{where}: invalid task ({problems})") from None


Item = tuple[str, Any, "str | None"]  # (where, the parsed item, why it cannot be read)


def _items(path: Path) -> Iterator[Item]:
    """(where, item, problem) for every item of a task file, as it is read: a JSONL file (a JSON value on its first
    line and more lines after it) line by line, so a file of a million tasks never sits whole in memory; any other
    file whole, bounded by ``MAX_TASK_FILE_BYTES``: a JSON list, an object (with a ``tasks`` list, or one task)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_TASK_FILE_BYTES:
            raise TaskError(
                f"{path}: {size / 1e6:.0f} MB is larger than the {MAX_TASK_FILE_BYTES / 1e6:.0f} MB limit "
                "for task files"
            )
        with path.open(encoding="utf-8-sig") as handle:
            filled = ((number, line) for number, line in enumerate(handle, start=1) if line.strip())
            first, second = next(filled, None), next(filled, None)
            if first is None:
                raise TaskError(f"{path}: the task file is empty")
            if second is not None and _parses(first[1]):
                for number, line in itertools.chain((first, second), filled):
                    yield _line_item(path, number, line)
                return
            handle.seek(0)
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskError(f"{path}: cannot read the task file ({exc})") from None
    yield from _whole_file_items(path, text)


def _parses(line: str) -> bool:
    try:
        load_json(line)
    except ParseFailure:
        return False
    return True


def _line_item(path: Path, number: int, line: str) -> Item:
    try:
        return f"{path}:{number}", load_json(line), None
    except ParseFailure as exc:
        return f"{path}:{number}", None, f"{path}:{number}: {exc}"


def _whole_file_items(path: Path, text: str) -> list[Item]:
    try:
        data = load_json(text.strip())
    except ParseFailure as failure:
        if not failure.syntax:
            return [(str(path), None, f"{path}: {failure}")]
        lines = enumerate(text.splitlines(), start=1)  # JSONL whose first line is broken
        return [_line_item(path, number, line) for number, line in lines if line.strip()]
    if isinstance(data, dict) and isinstance(data.get("tasks"), list):
        data = data["tasks"]
    if isinstance(data, list):
        return [(f"{path}[{i}]", item, None) for i, item in enumerate(data)]
    return [(f"{path}[0]", data, None)]


def iter_tasks(path: Path, format_name: str | None = None) -> Iterator[Task]:
    """Every task of a file, checked as ``load_tasks`` checks them, read as they are needed: of a JSONL file only
    the ids seen so far are held (to refuse a repeated one)."""
    seen: dict[str, bool] = {}  # id -> whether that task is a generated one (whose repeated ids are renamed)
    for where, item, problem in _items(path):
        if problem:
            raise TaskError(problem)
        task = _task_from(item, where, format_name)
        if task.id in seen:
            if not (_generated(task) and seen[task.id]):
                raise TaskError(
                    f"{path}: task id {task.id!r} appears more than once (dreval import --tasks renames repeated ids)"
                )
            task = _renamed(task, seen)
        seen[task.id] = _generated(task)
        yield task
    if not seen:
        raise TaskError(f"{path}: no tasks found")


def load_tasks(path: Path, format_name: str | None = None) -> list[Task]:
    """All tasks in a file: JSONL (one per line), a JSON list, or a single JSON object."""
    return list(iter_tasks(path, format_name))


def _generated(task: Task) -> bool:
    """DeepResearchEval numbers its generated tasks per expert (task_1, task_2, ... for each), so there a repeated id
    is expected and renamed rather than refused."""
    return task.provenance.get("format") == "deepresearcheval"


def _renamed(task: Task, taken: dict[str, Task] | dict[str, bool]) -> Task:
    n = 2
    while f"{task.id}-{n}" in taken:
        n += 1
    return task.model_copy(update={"id": f"{task.id}-{n}", "provenance": {**task.provenance, "original_id": task.id}})


@dataclass
class TaskImport:
    """What ``import_tasks`` read: the tasks, and every file or item it could not use, with the reason."""

    tasks: list[Task] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)
    duplicates: int = 0  # the same task (id and prompt) found again, kept once
    files: int = 0


def import_tasks(paths: Iterable[Path], format_name: str | None = None) -> TaskImport:
    """Tasks from many files, tolerant: unreadable files and bad items are listed, the rest are kept. A repeated id
    with the same prompt is kept once; with another prompt it is renamed ``<id>-2`` (listed in ``renamed``)."""
    result = TaskImport()
    by_id: dict[str, Task] = {}
    seen: set[tuple[str, str]] = set()  # (id as found, prompt) of every task kept
    for path in map(Path, paths):
        result.files += 1
        found = 0
        try:
            for where, item, problem in _items(path):
                if problem:
                    result.problems.append(problem)
                    continue
                try:
                    task = _task_from(item, where, format_name)
                except TaskError as exc:
                    result.problems.append(str(exc))
                    continue
                found += 1
                if (task.id, task.prompt) in seen:
                    result.duplicates += 1
                    continue
                seen.add((task.id, task.prompt))
                if task.id in by_id:
                    renamed = _renamed(task, by_id)
                    result.renamed.append(
                        f"{where}: task id {task.id!r} is taken by another task; renamed {renamed.id}"
                    )
                    task = renamed
                by_id[task.id] = task
                result.tasks.append(task)
        except TaskError as exc:  # the file cannot be read (on from where it broke)
            result.problems.append(str(exc))
            continue
        if not found and not any(p.startswith(str(path)) for p in result.problems):
            result.problems.append(f"{path}: no tasks found")
    return result


def _unknown(task_id: str, path: Path, first_ids: list[str], count: int) -> TaskError:
    known = ", ".join(first_ids[:5]) + (" ..." if count > 5 else "")
    return TaskError(f"unknown task id {task_id!r} in {path} (known: {known})")


def select_task(tasks: list[Task], task_id: str | None, path: Path) -> Task:
    if task_id is None:
        if len(tasks) == 1:
            return tasks[0]
        raise TaskError(f"{path} holds {len(tasks)} tasks: pick one with --task-id")
    for task in tasks:
        if task.id == task_id:
            return task
    raise _unknown(task_id, path, [t.id for t in tasks[:5]], len(tasks))


def scan_tasks(path: Path, task_ids: Iterable[str] = (), format_name: str | None = None) -> tuple[int, list[Task]]:
    """How many tasks a file holds, every one checked as ``load_tasks`` checks them but read as a stream (only the
    ids are held), and the tasks of ``task_ids``, in that order; an unknown id is a ``TaskError``."""
    wanted: dict[str, Task | None] = dict.fromkeys(task_ids)
    first_ids: list[str] = []
    count = 0
    for task in iter_tasks(path, format_name):
        count += 1
        if len(first_ids) < 5:
            first_ids.append(task.id)
        if task.id in wanted:
            wanted[task.id] = task
    missing = next((task_id for task_id, found in wanted.items() if found is None), None)
    if missing is not None:
        raise _unknown(missing, path, first_ids, count)
    return count, [found for found in wanted.values() if found is not None]
