"""What the folders of a leaderboard lack: the shards whose run manifest none of them holds, the tasks of the task set
no system has a result for, and each system's missing tasks, with the shard they belong to when the results were
scored in shards (``dreval score --shard K/N``). Each is one line of the leaderboard's problems, naming the tasks."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..shards import MANIFEST_NAME, shard_of

_NAMED = 10  # tasks named in one line; the rest are counted


def _names(tasks: list[str]) -> str:
    more = f" and {len(tasks) - _NAMED} more" if len(tasks) > _NAMED else ""
    return ", ".join(tasks[:_NAMED]) + more


def shards_run(folders: Iterable[Path]) -> dict[int, set[int]]:
    """Shard count -> the shards of it whose run manifest (``run.<K>-of-<N>.json``) one of the output ``folders``
    holds. Only names are read: a manifest is small but written by whoever ran the shard."""
    found: dict[int, set[int]] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        for file in folder.glob("run.*-of-*.json"):
            named = MANIFEST_NAME.match(file.name)
            if named is not None and 1 <= int(named.group(1)) <= int(named.group(2)):
                found.setdefault(int(named.group(2)), set()).add(int(named.group(1)))
    return found


def coverage_problems(folders: list[Path], covered: dict[str, set[str]], task_set: list[str], given: bool) -> list[str]:
    """The lines saying what is missing. ``covered``: each system's tasks with a result; ``given``: whether the task
    set was given (``--tasks``), so a missing shard's tasks can be named."""
    shards = shards_run(folders)
    problems = []
    for count, present in sorted(shards.items()):
        for index in range(1, count + 1):
            if index in present:
                continue
            line = f"shard {index}/{count} is missing: no folder given holds its run manifest (run.{index}-of-{count}.json)"
            if given:
                tasks = [task for task in task_set if shard_of(task, count) == index]
                line += (
                    f"; its {len(tasks)} task(s) of the task set: {_names(tasks)}" if tasks else "; it holds no task"
                )
            problems.append(line)
    if len(shards) > 1:
        problems.append(
            "the folders hold shards of different splits (of " + ", ".join(map(str, sorted(shards))) + "): only "
            "shards of one N divide the task set; score every shard with the same N"
        )
    anyone = set().union(*covered.values()) if covered else set()
    nobody = [task for task in task_set if task not in anyone]
    if nobody:
        problems.append(f"{len(nobody)} task(s) of the task set have no result from any system: {_names(nobody)}")
    split = next(iter(shards)) if len(shards) == 1 else None
    for system, has in sorted(covered.items()):
        missing = [task for task in task_set if task not in has and task in anyone]
        if missing:
            problems.append(f"{system} has no result for {len(missing)} task(s) others have: {_names(missing)}")
            if split is not None:
                problems[-1] += " (in shard " + ", ".join(_in_shards(missing, split)) + ")"
    return problems


def _in_shards(tasks: list[str], count: int) -> list[str]:
    return [f"{index}/{count}" for index in sorted({shard_of(task, count) for task in tasks})]
