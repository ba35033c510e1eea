"""``dreval generate-tasks --revalidate``: both filters (and searchability) run again on existing tasks as of
today, to find the tasks that have gone stale; the report is written beside the tasks file."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from ..__version__ import __version__
from ..aio import gather_or_cancel
from ..config import Settings
from ..factcheck.search import Searcher, SearchError
from ..files import atomic_write_text
from ..ingest.task_files import TaskError, load_tasks
from ..llm import LLMError, LLMUnavailable
from ..schemas import Task, utc_now
from ..store import Store
from . import filters
from .drafts import PROMPTS
from .generate import GenerationError
from .journal import Journal, run_id
from .outputs import TaskOutputs
from .pipeline import Pipeline, ProgressHook, Roles


class TaskRevalidator(Pipeline):
    """Both filters (and searchability) run again on existing tasks as of today: which tasks have gone stale?"""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        roles: Roles,
        tasks_file: Path,
        *,
        as_of: str | None = None,
        progress: ProgressHook | None = None,
        searcher: Searcher | None = None,
    ):
        super().__init__(settings, store, roles, Journal(store, run_id("revalidate", tasks_file)), progress, searcher)
        self.tasks_file = Path(tasks_file)
        self.outputs = TaskOutputs(self.tasks_file)
        self.explicit_date = bool(as_of)
        if as_of:
            self.as_of = as_of

    async def one(self, task: Task) -> dict[str, Any]:
        provenance = task.provenance
        due_after = provenance.get("revalidate_after")
        record: dict[str, Any] = {
            "id": task.id,
            "prompt": task.prompt,
            "domain": task.domain,
            "generated_at": provenance.get("generated_at"),
            "revalidate_after": due_after,
            "due": bool(due_after and due_after <= self.as_of),
            "reasons": [],
        }
        if task.language:
            self.language = task.language
        stage = "qualification"
        try:
            q = filters.qualification_verdict(await self.qualification(task), self.settings.qualification_threshold)
            record["qualification"] = q
            self.progress("answer", 0, 1)
            stage = "necessity"
            answer = await self.baseline(task)
            self.progress("necessity", 0, 1)
            n = filters.necessity_verdict(await self.necessity(task, answer), self.settings.necessity_threshold)
            record["necessity"] = n
            checks = [q, n]
            if self.searcher is not None:
                stage = "searchability"
                self.progress("searchability", 0, 1)
                s = await self.searchable(task, provenance.get("search_queries") or [task.prompt])
                record["searchability"] = s
                checks.append(s)
        except LLMUnavailable:
            raise
        except (LLMError, SearchError) as exc:
            record.update(status="failed", reasons=[f"{stage}: {exc}"])
            return record
        record["reasons"] = [
            f"{name}: {c['reason']}"
            for name, c in zip(("qualification", "necessity", "searchability"), checks)
            if not c["passed"]
        ]
        for name in ("qualification", "necessity"):
            record[f"{name}_before"] = (provenance.get(name) or {}).get("score")
        record["status"] = "stale" if record["reasons"] else "fresh"
        return record

    async def run(self, tasks: list[Task]) -> dict[str, Any]:
        state = await self.journal.state()
        if not self.explicit_date and state and state.get("status") == "running" and state.get("as_of"):
            self.as_of = state["as_of"]  # an interrupted revalidation continues as of the day it started
        await self.journal.set_state(as_of=self.as_of, status="running")
        self.progress("qualification", 0, len(tasks))
        records = await gather_or_cancel(*(self.one(t) for t in tasks))
        report = self.report(records)
        atomic_write_text(self.outputs.revalidation, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        await self.journal.set_state(status="complete", finished_at=utc_now())
        return report

    def report(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        counts = Counter(r["status"] for r in records)
        return {
            "status": "complete",
            "tasks_file": str(self.tasks_file),
            "as_of": self.as_of,
            "dreval_version": __version__,
            "prompt_version": PROMPTS.version,
            "models": self.roles.info(),
            "thresholds": {
                "qualification": self.settings.qualification_threshold,
                "necessity": self.settings.necessity_threshold,
            },
            "searchability": self.searcher.backend.name if self.searcher else None,
            "counts": {
                "tasks": len(records),
                "fresh": counts["fresh"],
                "stale": counts["stale"],
                "failed": counts["failed"],
                "due": sum(r["due"] for r in records),
            },
            "tasks": records,
        }


def read_tasks_for_revalidation(path: Path) -> list[Task]:
    try:
        return load_tasks(path)
    except TaskError as exc:
        raise GenerationError(str(exc)) from None
