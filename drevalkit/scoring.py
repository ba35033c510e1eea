"""``dreval score``: compose the quality stage into a ``Scorecard`` per report, written atomically.

Bad input and failed judging are recorded in the scorecard (``failed`` / ``partial`` with reasons), never as zeros.
Finished results are skipped on a re-run, so an interrupted batch resumes where it stopped. Only an endpoint that
cannot serve the run at all (``LLMUnavailable``) stops the batch; everything finished before is already on disk.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from . import __version__
from .agents.importers import ReportError, load_report
from .config import Settings
from .files import atomic_write_text, safe_filename
from .llm import LLMClient, LLMError, LLMUnavailable
from .quality.judge import judge_report
from .quality.rubric import PROMPTS as QUALITY_PROMPTS
from .quality.rubric import RubricBook, RubricError
from .report.html import write_scorecard
from .schemas import Provenance, ReportRef, Scorecard, Task, Usage, utc_now


@dataclass
class ScoreJob:
    """One report to score. ``problem`` is set when the job is known to be unscoreable before it starts."""

    report_path: Path
    system: str
    task_id: str
    task: Task | None
    problem: str = ""
    report_format: str | None = None


def result_path(out_dir: Path, system: str, task_id: str) -> Path:
    return Path(out_dir) / "results" / safe_filename(system) / f"{safe_filename(task_id)}.json"


def read_scorecard(path: Path) -> Scorecard | None:
    try:
        return Scorecard.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError):
        return None


class Scorer:
    def __init__(self, settings: Settings, llm: LLMClient, rubrics: RubricBook):
        self.settings = settings
        self.llm = llm
        self.rubrics = rubrics

    def _provenance(self, started_at: str) -> Provenance:
        return Provenance(
            dreval_version=__version__,
            judge=self.llm.judge_info,
            prompt_versions={"quality": QUALITY_PROMPTS.version},
            config_hash=self.settings.config_hash(),
            samples=self.settings.samples,
            started_at=started_at,
        )

    def is_finished(self, job: ScoreJob) -> Scorecard | None:
        """The existing complete result for this job under the same judge and settings, if any."""
        previous = read_scorecard(result_path(self.settings.out, job.system, job.task_id))
        if (
            previous is not None
            and previous.status == "complete"
            and previous.provenance.config_hash == self.settings.config_hash()
            and previous.provenance.judge.model == self.llm.model
            and previous.provenance.prompt_versions.get("quality") == QUALITY_PROMPTS.version
        ):
            return previous
        return None

    async def score(self, job: ScoreJob) -> Scorecard:
        started, started_at = time.perf_counter(), utc_now()
        card = Scorecard(
            system=job.system,
            task_id=job.task_id,
            task=job.task,
            provenance=self._provenance(started_at),
            status="failed",
        )
        usage = Usage()
        rubric = None
        try:
            if job.problem:
                raise ReportError(job.problem)
            assert job.task is not None
            report = load_report(
                job.report_path,
                system=job.system,
                task_id=job.task_id,
                max_bytes=int(self.settings.max_report_mb * 1_000_000),
                format_name=job.report_format,
            )
            card.report_ref = ReportRef(
                path=str(job.report_path),
                sha256=hashlib.sha256(report.text.encode("utf-8")).hexdigest(),
                words=len(report.text.split()),
                source_format=report.source_format,
                citations=len(report.citations),
            )
            rubric, rubric_usage = await self.rubrics.get(job.task)
            usage.add(rubric_usage)
            quality, judge_usage = await judge_report(self.llm, job.task, report, rubric, self.settings.samples)
            usage.add(judge_usage)
            card.quality = quality
            card.status = quality.status
            card.reasons = list(quality.reasons)
        except LLMUnavailable:
            raise
        except (ReportError, RubricError) as exc:
            card.reasons = [str(exc)]
        except LLMError as exc:
            usage.add(exc.usage)
            card.reasons = [f"rubric could not be built: {exc}"]
        card.usage = usage
        card.seconds = round(time.perf_counter() - started, 3)
        card.provenance.finished_at = utc_now()
        atomic_write_text(result_path(self.settings.out, job.system, job.task_id), card.model_dump_json(indent=2))
        write_scorecard(self.settings.out, card, rubric)
        return card

    async def score_all(
        self,
        jobs: list[ScoreJob],
        on_done: Callable[[Scorecard, bool], None] | None = None,
        resume: bool = True,
    ) -> list[Scorecard]:
        """Score every job concurrently; ``on_done(card, skipped)`` is called as each finishes."""
        in_flight = asyncio.Semaphore(max(2, self.settings.concurrency))

        async def run(job: ScoreJob) -> Scorecard:
            if resume and (finished := self.is_finished(job)) is not None:
                if on_done:
                    on_done(finished, True)
                return finished
            async with in_flight:
                card = await self.score(job)
            if on_done:
                on_done(card, False)
            return card

        tasks = [asyncio.ensure_future(run(job)) for job in jobs]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
