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
from .aio import gather_or_cancel
from .reports.importers import ReportError, load_report
from .config import Settings
from .files import atomic_write_text, safe_filename
from .llm import LLMClient, LLMError, LLMUnavailable
from .factcheck.claims import PROMPTS as FACTCHECK_PROMPTS
from .factcheck.pipeline import FactChecker
from .quality.judge import judge_report
from .quality.rubric import PROMPTS as QUALITY_PROMPTS
from .quality.rubric import RubricBook, RubricError
from .report.html import write_scorecard
from .schemas import (
    FactCheckResult,
    Provenance,
    QualityResult,
    Report,
    ReportRef,
    Rubric,
    Scorecard,
    Task,
    Usage,
    stable_hash,
    utc_now,
)


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


def result_path(out_dir: Path, system: str, task_id: str) -> Path:
    return Path(out_dir) / "results" / safe_filename(system) / f"{safe_filename(task_id)}.json"


def _combine(quality: QualityResult | None, factcheck: FactCheckResult | None) -> tuple[str, list[str]]:
    """Overall status: complete only if every part ran complete; failed only if every part failed."""
    parts = [(name, part) for name, part in (("quality", quality), ("fact-check", factcheck)) if part is not None]
    reasons = [f"{name}: {reason}" for name, part in parts for reason in part.reasons]
    statuses = {part.status for _, part in parts}
    if statuses == {"complete"}:
        return "complete", reasons
    if statuses == {"failed"}:
        return "failed", reasons
    return "partial", reasons


def read_scorecard(path: Path) -> Scorecard | None:
    try:
        return Scorecard.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError):
        return None


class Scorer:
    """Scores reports with the quality half (needs a task), the fact-check half, or both."""

    def __init__(
        self,
        settings: Settings,
        llm: LLMClient,
        rubrics: RubricBook | None,
        factchecker: FactChecker | None = None,
    ):
        if rubrics is None and factchecker is None:
            raise ValueError("nothing to score: both quality and fact-checking are off")
        self.settings = settings
        self.llm = llm
        self.rubrics = rubrics
        self.factchecker = factchecker

    def _prompt_versions(self) -> dict[str, str]:
        versions = {}
        if self.rubrics is not None:
            versions["quality"] = QUALITY_PROMPTS.version
        if self.factchecker is not None:
            versions["factcheck"] = FACTCHECK_PROMPTS.version
        return versions

    def _provenance(self, job: ScoreJob, started_at: str) -> Provenance:
        return Provenance(
            dreval_version=__version__,
            judge=self.llm.judge_info,
            prompt_versions=self._prompt_versions(),
            config_hash=self.settings.config_hash(),
            input_key=self.input_key(job) or "",
            samples=self.settings.samples,
            started_at=started_at,
        )

    def input_key(self, job: ScoreJob) -> str | None:
        """What a result was computed from: the report file's bytes, the task, a fixed rubric, replay or not."""
        if job.input_key is not None:
            return job.input_key
        try:
            report_sha = hashlib.sha256(job.report_path.read_bytes()).hexdigest()
        except OSError:
            return None
        fixed = self.rubrics.fixed.hash if self.rubrics is not None and self.rubrics.fixed is not None else None
        replay = self.factchecker.searcher.replay if self.factchecker is not None else None
        task = job.task.content_key() if job.task is not None else None
        job.input_key = stable_hash({"report": report_sha, "task": task, "rubric": fixed, "replay": replay})
        return job.input_key

    def is_finished(self, job: ScoreJob) -> Scorecard | None:
        """The existing complete result for this job from the same inputs, parts, judge, settings and prompts."""
        previous = read_scorecard(result_path(self.settings.out, job.system, job.task_id))
        if (
            previous is not None
            and previous.status == "complete"
            and previous.provenance.config_hash == self.settings.config_hash()
            and previous.provenance.judge.model == self.llm.model
            and previous.provenance.prompt_versions == self._prompt_versions()
            and previous.provenance.input_key == self.input_key(job)
        ):
            return previous
        return None

    async def _quality(self, task: Task, report: Report, usage: Usage) -> tuple[QualityResult | None, Rubric | None]:
        assert self.rubrics is not None
        try:
            rubric, rubric_usage = await self.rubrics.get(task)
        except RubricError as exc:
            return QualityResult(rubric_hash="", status="failed", reasons=[str(exc)]), None
        except LLMUnavailable:
            raise
        except LLMError as exc:
            usage.add(exc.usage)
            return QualityResult(rubric_hash="", status="failed", reasons=[f"rubric could not be built: {exc}"]), None
        usage.add(rubric_usage)
        quality, judge_usage = await judge_report(self.llm, task, report, rubric, self.settings.samples)
        usage.add(judge_usage)
        return quality, rubric

    async def _factcheck(self, report: Report, usage: Usage) -> FactCheckResult:
        assert self.factchecker is not None
        result, check_usage = await self.factchecker.check(report)
        usage.add(check_usage)
        return result

    async def score(self, job: ScoreJob) -> Scorecard:
        started, started_at = time.perf_counter(), utc_now()
        card = Scorecard(
            system=job.system,
            task_id=job.task_id,
            task=job.task,
            provenance=self._provenance(job, started_at),
            status="failed",
        )
        usage = Usage()
        rubric = None
        try:
            if job.problem:
                raise ReportError(job.problem)
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
            parts = []
            if self.rubrics is not None:
                if job.task is None:
                    raise ReportError(f"quality scoring of {job.report_path} needs a task (--task, --prompt, --tasks)")
                parts.append(self._quality(job.task, report, usage))
            if self.factchecker is not None:
                parts.append(self._factcheck(report, usage))
            outcomes = await gather_or_cancel(*parts)
            if self.rubrics is not None:
                card.quality, rubric = outcomes.pop(0)
            if self.factchecker is not None:
                card.factcheck = outcomes.pop(0)
            card.status, card.reasons = _combine(card.quality, card.factcheck)
        except LLMUnavailable:
            raise
        except ReportError as exc:
            card.reasons = [str(exc)]
        except Exception as exc:  # noqa: BLE001 - one report's unexpected failure must not end the batch
            card.status = "failed"
            card.reasons = [f"internal error while scoring ({type(exc).__name__}: {exc}); please report it"]
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

        return await gather_or_cancel(*(run(job) for job in jobs))
