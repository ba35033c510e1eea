"""The agent runner behind ``dreval run-agent``: runs a batch of tasks into one ``--out`` folder, resuming an
earlier run there, ``agent_concurrency`` tasks at a time, and writes the run's manifest. One task's run is in
``task_run``, the files it leaves in ``task_output``.

A task is finished when its sidecar and report agree, and a rerun skips it. A task that failed for a reason that may
pass (an endpoint error, an internal error) is run again; one that failed on the model's own account (give-up text,
no report) only with ``retry_failed``. A task interrupted by a crash or a kill has no sidecar and starts again from
scratch.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..__version__ import __version__
from ..aio import gather_or_cancel, run_loop
from ..config import Settings, is_openai_host
from ..errors import DrevalError
from ..factcheck.fetch import Fetcher
from ..factcheck.search import Searcher, make_backend, search_client
from ..files import atomic_write_text
from ..ingest.sidecar import read_sidecar, sha256_text
from ..schemas import Task, utc_now
from ..shards import Shard
from ..store import Store
from .endpoint import AgentEndpoint
from .protocols.base import get_protocol
from .run_setup import RunSetup
from .task_output import TaskOutcome
from .task_run import run_task
from .tools import Extractor, Toolbox

RETRIED = ("endpoint_error", "internal_error")  # failures a rerun tries again
MANIFEST = ".run-agent.json"


def manifest_path(out: Path, shard: Shard | None = None) -> Path:
    """The run's manifest in ``out``: ``.run-agent.json``, for a shard ``.run-agent.<K>-of-<N>.json`` (the
    manifests of shards merged into one folder by copying never overwrite each other)."""
    return out / (MANIFEST if shard is None else f".run-agent.{shard.slug}.json")


class AgentRunError(DrevalError, ValueError):
    """A run that cannot start as asked (settings, output folder); the message says what to change."""


@dataclass
class RunSummary:
    outcomes: list[TaskOutcome]
    seconds: float = 0.0

    @property
    def ran(self) -> list[TaskOutcome]:
        return [o for o in self.outcomes if o.status != "skipped"]

    @property
    def skipped(self) -> list[TaskOutcome]:
        return [o for o in self.outcomes if o.status == "skipped"]

    @property
    def failed(self) -> list[TaskOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]


class AgentRunner(RunSetup):
    """Runs tasks with one protocol, endpoint and toolbox, writing the output contract into ``out``."""

    # -- resuming --------------------------------------------------------------------------------------------------
    def previous(self, task: Task, *, retry_failed: bool) -> TaskOutcome | None:
        """The outcome of an earlier run of ``task`` into this folder, if it is finished and need not run again.
        Raises ``AgentRunError`` when the folder holds another model's, protocol's or tool's reports."""
        path = self.report_path(task.id)
        sidecar = read_sidecar(path)
        if sidecar is None:
            return None
        if sidecar.agent is None:
            raise AgentRunError(
                f"{path} was written by 'dreval import', not by an agent run; give run-agent its own --out folder"
            )
        agent = sidecar.agent
        if (agent.model, agent.protocol) != (self.endpoint.model, self.protocol.name):
            raise AgentRunError(
                f"{self.out} holds reports of model {agent.model!r} with protocol {agent.protocol!r}; "
                f"this run is {self.endpoint.model!r} with {self.protocol.name!r}: give another --out "
                "(one folder per system) or --no-resume to replace them"
            )
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        if sha256_text(text) != sidecar.text_sha256:
            return None
        if sidecar.status == "failed" and (retry_failed or agent.termination in RETRIED):
            return None
        return TaskOutcome.of(task.id, sidecar, path, "skipped")

    # -- many tasks ------------------------------------------------------------------------------------------------
    async def run_all(
        self,
        tasks: list[Task],
        *,
        resume: bool = True,
        retry_failed: bool = False,
        on_start: Callable[[Task], None] | None = None,
        on_done: Callable[[TaskOutcome], None] | None = None,
        shard: Shard | None = None,
    ) -> RunSummary:
        """Run every task not finished in an earlier run, ``agent_concurrency`` at a time; ``shard``: the shard of
        the task set the tasks are (picked by the caller), which names the manifest."""
        started = time.monotonic()
        done: dict[str, TaskOutcome] = {}
        if resume:
            for task in tasks:  # all checked before anything runs: a folder of another system's reports is refused
                previous = self.previous(task, retry_failed=retry_failed)
                if previous is not None:
                    done[task.id] = previous
        slots = asyncio.Semaphore(self.settings.agent_concurrency)

        async def one(task: Task) -> TaskOutcome:
            if task.id in done:
                outcome = done[task.id]
            else:
                async with slots:
                    if on_start is not None:
                        on_start(task)
                    outcome = await run_task(self, task)
            if on_done is not None:
                on_done(outcome)
            return outcome

        outcomes = await gather_or_cancel(*(one(task) for task in tasks))
        summary = RunSummary(outcomes=outcomes, seconds=round(time.monotonic() - started, 3))
        self._write_manifest(summary, shard)
        return summary

    def _write_manifest(self, summary: RunSummary, shard: Shard | None) -> None:
        counts: dict[str, int] = {}
        for outcome in summary.outcomes:
            counts[outcome.termination] = counts.get(outcome.termination, 0) + 1
        manifest = {
            "dreval_version": __version__,
            "finished_at": utc_now(),
            "protocol": self.protocol.name,
            "model": self.endpoint.model,
            "endpoint": self.endpoint.endpoint,
            "shard": shard.model_dump() if shard is not None else None,
            "settings": self.run_settings(),
            "tasks": len(summary.outcomes),
            "ran": len(summary.ran),
            "skipped": len(summary.skipped),
            "failed": len(summary.failed),
            "terminations": counts,
            "seconds": summary.seconds,
            "prompt_tokens": sum(o.prompt_tokens for o in summary.ran),
            "completion_tokens": sum(o.completion_tokens for o in summary.ran),
            "results": [
                {
                    "task_id": o.task_id,
                    "status": o.status,
                    "termination": o.termination,
                    "failure": o.failure,
                    "turns": o.turns,
                    "tool_calls": o.tool_calls,
                    "text_tool_calls": o.text_tool_calls,
                    "seconds": o.seconds,
                }
                for o in summary.outcomes
            ],
        }
        atomic_write_text(manifest_path(self.out, shard), json.dumps(manifest, indent=2) + "\n")


# ------------------------------------------------------------------------------------------------ building a run


def agent_endpoint(settings: Settings) -> AgentEndpoint:
    """The agent's endpoint from the ``agent_*`` settings; ``AgentRunError`` says what is missing."""
    if not settings.agent_model:
        raise AgentRunError("no agent model: pass --model (or set DREVAL_AGENT_MODEL)")
    key = settings.agent_api_key.get_secret_value() if settings.agent_api_key else None
    if (
        key is None
        and os.environ.get("OPENAI_API_KEY")
        and (not settings.agent_base_url or is_openai_host(settings.agent_base_url))
    ):
        key = os.environ["OPENAI_API_KEY"]  # only ever sent to OpenAI itself
    if not settings.agent_base_url and not key:
        raise AgentRunError(
            "no agent endpoint: pass --base-url (e.g. http://localhost:30000/v1) or set DREVAL_AGENT_BASE_URL"
        )
    return AgentEndpoint(
        settings.agent_base_url,
        key,
        settings.agent_model,
        timeout=settings.agent_timeout,
        max_retries=settings.max_retries,
        backoff_base=settings.backoff_base,
        backoff_max=settings.backoff_max,
    )


def extraction_endpoint(settings: Settings, agent: AgentEndpoint) -> AgentEndpoint | None:
    if settings.agent_extract == "off":
        return None
    if settings.agent_extract == "agent":
        return agent
    if not settings.model or not (settings.base_url or settings.api_key):
        raise AgentRunError("agent_extract = judge needs the judge's endpoint: set DREVAL_BASE_URL and DREVAL_MODEL")
    key = settings.api_key.get_secret_value() if settings.api_key else None
    return AgentEndpoint(
        settings.base_url,
        key,
        settings.model,
        timeout=settings.timeout,
        max_retries=settings.max_retries,
        backoff_base=settings.backoff_base,
        backoff_max=settings.backoff_max,
        label="extraction",
    )


async def arun_agent(
    settings: Settings,
    tasks: list[Task],
    out: Path,
    *,
    store: Store | None = None,
    resume: bool = True,
    retry_failed: bool = False,
    check: bool = True,
    on_start: Callable[[Task], None] | None = None,
    on_done: Callable[[TaskOutcome], None] | None = None,
    shard: Shard | None = None,
) -> RunSummary:
    """Run ``tasks`` with the agent the settings name and write the reports, sidecars and traces into ``out``;
    ``shard``: the shard of the task set ``tasks`` are, which names the manifest (``manifest_path``).

    Raises ``AgentRunError`` (settings, output folder), ``SearchError`` (a search backend without its key or URL)
    and ``LLMUnavailable`` (the agent endpoint cannot be used; tasks finished before are kept)."""
    try:
        protocol = get_protocol(settings.agent_protocol)(settings)
    except LookupError as exc:
        raise AgentRunError(str(exc)) from None
    endpoint = agent_endpoint(settings)
    extract_endpoint = extraction_endpoint(settings, endpoint)
    own_store = store is None
    store = Store(settings.store_path) if store is None else store
    try:
        backend = make_backend(settings, store)
        async with search_client(settings) as client, Fetcher(settings, store) as fetcher:
            if check:
                await endpoint.check()
                if extract_endpoint is not None and extract_endpoint is not endpoint:
                    await extract_endpoint.check()
            remote = bool(getattr(backend, "remote", True))
            searcher = Searcher(backend, store, settings, client=client if remote else None)
            extractor = Extractor(extract_endpoint) if extract_endpoint is not None else None
            toolbox = Toolbox(
                searcher,
                fetcher,
                page_chars=settings.agent_page_chars,
                search_results=settings.search_results,
                extractor=extractor,
            )
            runner = AgentRunner(settings, endpoint, protocol, toolbox, out)
            return await runner.run_all(
                tasks, resume=resume, retry_failed=retry_failed, on_start=on_start, on_done=on_done, shard=shard
            )
    finally:
        await endpoint.close()
        if extract_endpoint is not None and extract_endpoint is not endpoint:
            await extract_endpoint.close()
        if own_store:
            store.close()


def run_agent(settings: Settings, tasks: list[Task], out: Path, **options: Any) -> RunSummary:
    """``arun_agent`` for code that is not in an event loop."""
    return run_loop(arun_agent(settings, tasks, out, **options))


__all__ = ["AgentRunError", "AgentRunner", "RunSummary", "TaskOutcome", "agent_endpoint", "arun_agent", "run_agent"]
