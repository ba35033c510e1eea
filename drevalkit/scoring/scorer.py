"""Compose the quality and fact-check stages into a ``Scorecard`` per report, written atomically.

Bad input and failed judging are recorded in the scorecard (``failed`` / ``partial`` with reasons), never as zeros.
The two halves are independent: an unexpected error in one is recorded as that half's failure and the other half's
result is kept. Finished results are skipped on a re-run only when everything they were computed from is unchanged
(see ``Scorer.resume_key``), so an interrupted batch resumes where it stopped. Only a judge that cannot serve the run
at all (``LLMUnavailable``) stops the batch; everything finished before is already on disk.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..__version__ import __version__
from ..aio import gather_or_cancel
from ..config import Settings
from ..factcheck.checker import FactChecker
from ..files import atomic_write_text
from ..ingest.importers import ReportError, importer_for, load_report, read_report_bytes
from ..ingest.sidecar import MAX_SIDECAR_BYTES, sidecar_path
from ..llm import LLMClient, LLMError, LLMUnavailable
from ..quality.judge import judge_report
from ..quality.rubric import RubricBook, RubricError
from ..render.scorecard import render_scorecard
from ..schemas import (
    FactCheckResult,
    JudgeInfo,
    Provenance,
    QualityResult,
    Report,
    ReportRef,
    Rubric,
    Scorecard,
    Status,
    Task,
    Usage,
    stable_hash,
    utc_now,
)
from ..text import redact_secrets
from .jobs import ScoreJob


def _combine(quality: QualityResult | None, factcheck: FactCheckResult | None) -> tuple[Status, list[str]]:
    """Overall status: complete only if every part ran complete; failed only if every part failed."""
    parts = [(name, part) for name, part in (("quality", quality), ("fact-check", factcheck)) if part is not None]
    reasons = [f"{name}: {reason}" for name, part in parts for reason in part.reasons]
    statuses = {part.status for _, part in parts}
    if statuses == {"complete"}:
        return "complete", reasons
    if statuses == {"failed"}:
        return "failed", reasons
    return "partial", reasons


def read_scorecard(path: Any) -> Scorecard | None:
    try:
        return Scorecard.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError, ValueError):
        return None


def _identity(judge: JudgeInfo) -> tuple[str, str, str, str, str]:
    return judge.backend, judge.model, judge.identity, judge.model_sha256, judge.structured_output


def _same_file(recorded: str, path: Path) -> bool:
    """Whether a result's ``report_ref.path`` names ``path`` (older results stored it relative to the cwd)."""
    try:
        return Path(recorded).resolve() == path.resolve()
    except (OSError, RuntimeError):
        return recorded == str(path)


def _internal(exc: BaseException, where: str) -> str:
    return f"internal error in the {where} ({type(exc).__name__}: {exc}); please report it"


class Scorer:
    """Scores reports with the quality half (needs a task), the fact-check half, or both."""

    def __init__(
        self,
        settings: Settings,
        llm: LLMClient,
        rubrics: RubricBook | None,
        factchecker: FactChecker | None = None,
        html: bool = True,
        jury: list[LLMClient] | None = None,
    ):
        if rubrics is None and factchecker is None:
            raise ValueError("nothing to score: both quality and fact-checking are off")
        self.settings = settings
        self.layout = settings.layout
        self.llm = llm
        self.rubrics = rubrics
        self.factchecker = factchecker
        self.html = html  # write the HTML scorecard beside each result
        self.jury = list(jury or [])  # judges besides ``llm`` that judge every criterion and claim too
        self.kept: dict[str, str] = {}  # results not replaced by a report that failed on its input (_keep_previous)

    def _prompt_versions(self) -> dict[str, str]:
        versions = {}
        if self.rubrics is not None:
            versions["quality"] = self.rubrics.prompt_version
        if self.factchecker is not None:
            versions["factcheck"] = self.factchecker.prompt_version
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
            jury=self._jury_info(),
        )

    def _jury_info(self) -> list[JudgeInfo]:
        """Every judge of a jury, the lead first; empty for one judge."""
        return [self.llm.judge_info, *(judge.judge_info for judge in self.jury)] if self.jury else []

    @property
    def max_report_bytes(self) -> int:
        return int(self.settings.max_report_mb * 1_000_000)

    def input_key(self, job: ScoreJob) -> str | None:
        """What a result is computed from besides settings and judge: the report file's bytes and the format it is
        read in, its import or agent sidecar (which can mark it failed or carry its prompt), the task, and replay or
        not. None when the report cannot be read (too large, missing: nothing beyond the size cap is read)."""
        if job.input_key is None:
            try:
                data = read_report_bytes(job.report_path, self.max_report_bytes)
            except ReportError:
                return None
            job.input_key = self._key_of(job, data)
        return job.input_key

    def _key_of(self, job: ScoreJob, data: bytes) -> str | None:
        """The input key of ``job`` whose report file holds ``data``."""
        try:
            raw = data.decode("utf-8-sig", errors="replace")  # a JSON file's format is told by its content
            report_format = importer_for(job.report_path, job.report_format, raw).name
            sidecar = sidecar_path(job.report_path)
            sidecar_sha = None
            if sidecar.is_file():
                with sidecar.open("rb") as handle:  # bounded: a huge sidecar is not read (read_sidecar ignores it)
                    sidecar_sha = hashlib.sha256(handle.read(MAX_SIDECAR_BYTES + 1)).hexdigest()
        except (OSError, ReportError):
            return None
        replay = self.factchecker.searcher.replay if self.factchecker is not None else None
        task = job.task.content_key() if job.task is not None else None
        report_sha = hashlib.sha256(data).hexdigest()
        return stable_hash(
            {"report": report_sha, "format": report_format, "task": task, "replay": replay, "sidecar": sidecar_sha}
        )

    def _read(self, job: ScoreJob, started_at: str) -> tuple[bytes | None, Provenance]:
        """The report file read once (None when it cannot be: loading it says why) and the provenance computed from
        those very bytes, which are the ones scored: the file may change after a resume check read it."""
        data = None
        if not job.problem:
            try:
                data = read_report_bytes(job.report_path, self.max_report_bytes)
            except ReportError:
                pass
        job.input_key = self._key_of(job, data) if data is not None else None
        return data, self._provenance(job, started_at)

    def is_finished(self, job: ScoreJob) -> Scorecard | None:
        """The existing complete result for this job, if it was computed from exactly what this run would use: the
        same inputs, parts, judge (backend, model, endpoint identity, weights), score-affecting settings, prompts,
        and the rubric content that is in force now."""
        previous = read_scorecard(self.layout.result(job.system, job.task_id))
        if previous is None or previous.status != "complete":
            return None
        judge, now = previous.provenance.judge, self.llm.judge_info
        same = (
            previous.provenance.config_hash == self.settings.config_hash()
            and (judge.backend, judge.model, judge.identity, judge.model_sha256, judge.structured_output)
            == (now.backend, now.model, now.identity, now.model_sha256, now.structured_output)
            and previous.provenance.prompt_versions == self._prompt_versions()
            and previous.provenance.input_key == self.input_key(job)
            and [_identity(j) for j in previous.provenance.jury] == [_identity(j) for j in self._jury_info()]
        )
        if same and self.rubrics is not None:
            rubric_hash = self.rubrics.current_hash(job.task) if job.task is not None else None
            same = (
                rubric_hash is not None and previous.quality is not None and previous.quality.rubric_hash == rubric_hash
            )
        return previous if same else None

    async def _quality(self, task: Task, report: Report, usage: Usage) -> tuple[QualityResult, Rubric | None, bool]:
        """The quality half, the rubric it used, and whether the rubric was refused (an input problem: nothing of
        this half was judged)."""
        assert self.rubrics is not None
        try:
            rubric, rubric_usage = await self.rubrics.get(task)
        except RubricError as exc:  # an input problem (e.g. a hand-edited frozen rubric): nothing was judged
            return QualityResult(rubric_hash="", status="failed", reasons=[str(exc)]), None, True
        except LLMUnavailable:
            raise
        except LLMError as exc:
            usage.add(exc.usage)
            failed = QualityResult(rubric_hash="", status="failed", reasons=[f"rubric could not be built: {exc}"])
            return failed, None, False
        except Exception as exc:  # noqa: BLE001 - e.g. OUT/rubrics not writable: the fact-check half must survive
            failed = QualityResult(rubric_hash="", status="failed", reasons=[_internal(exc, "rubric stage")])
            return failed, None, False
        usage.add(rubric_usage)
        try:
            quality, judge_usage = await judge_report(self.llm, task, report, rubric, self.settings.samples, self.jury)
        except LLMUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - the fact-check half must survive a bug here
            failed = QualityResult(
                rubric_hash=rubric.hash, status="failed", reasons=[_internal(exc, "quality judging")]
            )
            return failed, rubric, False
        usage.add(judge_usage)
        return quality, rubric, False

    async def _factcheck(self, report: Report, usage: Usage) -> FactCheckResult:
        assert self.factchecker is not None
        try:
            result, check_usage = await self.factchecker.check(report)
        except LLMUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - the quality half must survive a bug here
            return FactCheckResult(status="failed", reasons=[_internal(exc, "fact-check")])
        usage.add(check_usage)
        if self.jury and result.verdicts:
            from ..factcheck.jury import verdict_agreement

            result.agreement = verdict_agreement(result, 1 + len(self.jury))
        return result

    async def score(self, job: ScoreJob, on_done: Callable[[Scorecard, bool], None] | None = None) -> Scorecard:
        """Score one job and write its result; ``on_done(card, False)`` runs in the writing thread right after, so
        a result on disk is counted even when the run is interrupted at that moment (the thread finishes)."""
        started, started_at = time.perf_counter(), utc_now()
        data, provenance = await asyncio.to_thread(self._read, job, started_at)  # reads and hashes the report
        card = Scorecard(system=job.system, task_id=job.task_id, task=job.task, provenance=provenance, status="failed")
        usage = Usage()
        rubric = None
        report: Report | None = None
        unscored = ""  # why it failed on its input (nothing was scored): "could not be read (...)"
        try:
            if job.problem:
                raise ReportError(job.problem)
            loaded, card.report_ref = await asyncio.to_thread(self._load, job, data)
            report = loaded
            parts: list[Awaitable[Any]] = []
            if self.rubrics is not None:
                if job.task is None:
                    raise ReportError(f"quality scoring of {job.report_path} needs a task (--task, --prompt, --tasks)")
                parts.append(self._quality(job.task, loaded, usage))
            if self.factchecker is not None:
                parts.append(self._factcheck(loaded, usage))
            outcomes = await gather_or_cancel(*parts)
            if self.rubrics is not None:
                card.quality, rubric, refused = outcomes.pop(0)
                if refused and self.factchecker is None:  # nothing was scored: the rubric is the bad input
                    unscored = (
                        f"could not be scored (the rubric of task {job.task_id!r} was refused: "
                        f"{card.quality.reasons[0]})"
                    )
            if self.factchecker is not None:
                card.factcheck = outcomes.pop(0)
            card.status, card.reasons = _combine(card.quality, card.factcheck)
        except LLMUnavailable:
            raise
        except ReportError as exc:
            card.reasons = [str(exc)]
            reason = str(exc).removeprefix(f"{job.report_path}: ")
            unscored = f"could not be read ({reason})"
        except Exception as exc:  # noqa: BLE001 - one report's unexpected failure must not end the batch
            card.status = "failed"
            card.reasons = [_internal(exc, "scorer")]
        card.usage = usage
        card.seconds = round(time.perf_counter() - started, 3)
        card.provenance.finished_at = utc_now()
        card = self._without_secrets(card)

        def write() -> None:
            if not (unscored and self._keep_previous(job, unscored)):
                self._write(card, rubric, report)
            if on_done:
                on_done(card, False)

        await asyncio.to_thread(write)
        return card

    def _without_secrets(self, card: Scorecard) -> Scorecard:
        """The card with every configured key redacted: the last guard before a result is written, its page
        rendered and its reasons printed (each endpoint's client already redacts the key it sends)."""
        secrets = [*self.settings.secrets(), *(s for judge in self.jury for s in judge.settings.secrets())]
        dumped = card.model_dump_json()
        redacted = redact_secrets(dumped, secrets)
        return card if redacted == dumped else Scorecard.model_validate_json(redacted)

    def _keep_previous(self, job: ScoreJob, problem: str) -> bool:
        """Whether to keep the complete or partial result at this job's place instead of writing the failed one:
        it was computed from another report file, so bad input here must not lose it. When the same file is now
        broken (e.g. emptied), the failed result is the honest one and is written. A kept result is noted in
        ``self.kept`` (result file relative to the output folder: one line saying what was kept and why)."""
        result = self.layout.result(job.system, job.task_id)
        previous = read_scorecard(result)
        if previous is None or previous.status == "failed" or previous.report_ref is None:
            return False
        if _same_file(previous.report_ref.path, job.report_path):
            return False
        self.kept[result.relative_to(self.layout.root).as_posix()] = (
            f"kept the {previous.status} result of {previous.report_ref.path} for system {job.system}, task "
            f"{job.task_id}: {job.report_path} {problem}; nothing was written for {job.report_path}"
        )
        return True

    def _load(self, job: ScoreJob, data: bytes | None) -> tuple[Report, ReportRef]:
        """The report read from ``data`` (the bytes its input key was computed from; None: read again, to say why it
        cannot be) and its reference (hash and word count of the whole text): report-sized work for a thread."""
        report = load_report(
            job.report_path,
            system=job.system,
            task_id=job.task_id,
            max_bytes=self.max_report_bytes,
            format_name=job.report_format,
            data=data,
        )
        ref = ReportRef(
            path=str(job.report_path.resolve()),  # absolute: dreval html and agree may run from another folder
            sha256=hashlib.sha256(report.text.encode("utf-8")).hexdigest(),
            words=len(report.text.split()),
            source_format=report.source_format,
            citations=len(report.citations),
        )
        return report, ref

    def _write(self, card: Scorecard, rubric: Rubric | None, report: Report | None = None) -> None:
        """The result JSON always; the HTML page (unless turned off) when it renders. A page that fails to render
        makes a complete result partial, with the reason (so the next run scores it again and renders the page);
        the result is kept. Without a new page, an earlier page of this result is removed rather than left to stand
        for it. Blocking file I/O and rendering of the whole report: called in a worker thread."""
        page: str | None = None
        if self.html:
            try:
                page = render_scorecard(card, rubric, report)
            except Exception as exc:  # noqa: BLE001 - the page is extra: its failure is a reason, the result is kept
                card.reasons.append(f"the HTML scorecard could not be rendered ({type(exc).__name__}: {exc})")
                card.status = "partial" if card.status == "complete" else card.status
        atomic_write_text(self.layout.result(card.system, card.task_id), card.model_dump_json(indent=2))
        if page is not None:
            atomic_write_text(self.layout.scorecard(card.system, card.task_id), page)
        else:
            self.layout.scorecard(card.system, card.task_id).unlink(missing_ok=True)

    async def score_all(
        self,
        jobs: list[ScoreJob],
        on_done: Callable[[Scorecard, bool], None] | None = None,
        resume: bool = True,
    ) -> list[Scorecard]:
        """Score every job concurrently; ``on_done(card, skipped)`` is called as each finishes."""
        in_flight = asyncio.Semaphore(max(2, self.settings.concurrency))

        async def run(job: ScoreJob) -> Scorecard:
            if resume and (finished := await asyncio.to_thread(self.is_finished, job)) is not None:
                if on_done:
                    on_done(finished, True)
                return finished
            async with in_flight:
                return await self.score(job, on_done)

        return await gather_or_cancel(*(run(job) for job in jobs))
