"""``dreval stress``: a generalisation stress test of the judge on your own reports.

For each report, the probes of ``drevalkit.validity.probes`` build perturbed versions; the original (normalised) and
every variant are judged with the same frozen rubric by the same judge, and each probe's effect is the paired shift
of the total (variant minus original, 0-10 scale); ``drevalkit.validity.stress_summary`` turns the shifts into each
probe's interval and finding, and ``drevalkit.validity.stress_run`` holds the records.

Everything judged is kept under ``OUT/stress/<judge>/<system>/<task>/``: ``original.md``, each
``<probe>/<variant>.md`` with its ``.quality.json``, and for evidence injection each trial's pages, one-sentence
report, probe store and fact-check. Judging goes through the response cache, so a repeated run makes no calls.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import cast

from ..config import Settings
from ..factcheck.checker import open_factchecker
from ..factcheck.checker import prompt_version as factcheck_prompt_version
from ..factcheck.corpus import add_folder
from ..files import atomic_write_text, safe_filename
from ..ingest.importers import ReportError, load_report
from ..layout import judge_key
from ..llm import LLMClient, LLMUnavailable
from ..quality.judge import judge_report
from ..quality.rubric import PROMPTS as QUALITY_PROMPTS
from ..quality.rubric import RubricBook, RubricError
from ..schemas import JudgeInfo, Report, Rubric, Task, Usage, utc_now
from ..scoring.jobs import ScoreJob
from ..store import Store
from .probes import (
    PROBE_SPECS,
    EvidenceTarget,
    Variant,
    evidence_report,
    evidence_targets,
    inject_page,
    normalise,
    variants_for,
    why_not,
)
from .stress_run import EvidenceTrial, Judged, ReportStress, StressOptions, StressRun
from .stress_summary import summarise


def stress_folder(out: Path, judge: JudgeInfo) -> Path:
    return Path(out) / "stress" / judge_key(judge)


# ------------------------------------------------------------------------------------------------------ runner

ProgressHook = Callable[[str], None]


class StressRunner:
    """Judges every report and its variants with the same frozen rubric; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        llm: LLMClient,
        options: StressOptions,
        on_judged: ProgressHook | None = None,
    ):
        self.settings = settings
        self.store = store
        self.llm = llm
        self.options = options
        self.on_judged = on_judged
        self.usage = Usage()
        self.root = stress_folder(settings.out, llm.judge_info)
        # texts judged at once; a backend that generates one answer at a time (the local model) judges one text
        # after another, so the dimension calls of a text reuse its prompt prefix instead of evicting each other's
        self._slots = asyncio.Semaphore(1 if llm.backend.max_concurrency == 1 else max(2, settings.concurrency))
        self._clients: dict[tuple[float, int], LLMClient] = {}

    def planned(self, jobs: list[ScoreJob]) -> int:
        """About how many judgings the run makes (for a progress bar)."""
        per_report = 1
        for probe in self.options.probes:
            spec = PROBE_SPECS[probe]
            if spec.kind == "evidence":
                per_report += 2 * self.options.variants
            elif probe == "trim-style" or probe == "strip-citations":
                per_report += 3
            elif probe == "inject":
                per_report += max(3, self.options.variants)
            else:
                per_report += self.options.variants
        return per_report * len(jobs)

    def _client(self, temperature: float | None, seed: int | None) -> LLMClient:
        if temperature is None or seed is None:
            return self.llm
        key = (temperature, seed)
        if key not in self._clients:
            settings = self.settings.model_copy(update={"temperature": temperature, "seed": seed})
            self._clients[key] = LLMClient(settings, self.llm.backend, self.store)
        return self._clients[key]

    async def run(self, jobs: list[ScoreJob], rubrics: RubricBook) -> StressRun:
        run = StressRun(
            judge=self.llm.judge_info,
            prompt_versions={"quality": QUALITY_PROMPTS.version, "factcheck": factcheck_prompt_version()},
            config_hash=self.settings.config_hash(),
            temperature=self.settings.judge_temperature(),
            seed=self.settings.seed,
            samples=self.settings.samples,
            probes=list(self.options.probes),
            variants=self.options.variants,
            threshold=self.options.threshold,
            null_gap=self.options.null_gap,
            probe_seed=self.options.seed,
            resamples=self.options.resamples,
            level=self.options.level,
            folder=str(self.root),
        )
        run.reports = list(await asyncio.gather(*(self._report(job, rubrics) for job in jobs)))
        run.results = summarise(run, self.options)
        run.usage = self.usage
        run.finished_at = utc_now()
        atomic_write_text(self.root / "run.json", run.model_dump_json(indent=2))
        return run

    async def _report(self, job: ScoreJob, rubrics: RubricBook) -> ReportStress:
        folder = self.root / safe_filename(job.system) / safe_filename(job.task_id)
        entry = ReportStress(system=job.system, task_id=job.task_id, report=str(job.report_path), folder=str(folder))
        try:
            if job.problem:
                raise ReportError(job.problem)
            if job.task is None:
                raise ReportError(f"{job.report_path}: stress needs a task (--task, --prompt or --tasks)")
            report = await asyncio.to_thread(
                load_report,
                job.report_path,
                system=job.system,
                task_id=job.task_id,
                max_bytes=int(self.settings.max_report_mb * 1_000_000),
                format_name=job.report_format,
            )
            rubric, usage = await rubrics.get(job.task)
            self.usage.add(usage)
        except LLMUnavailable:
            raise
        except (ReportError, RubricError, OSError) as exc:
            entry.problem = str(exc)
            return entry
        except Exception as exc:  # noqa: BLE001 - an LLMError building the rubric
            entry.problem = f"the rubric could not be built: {exc}"
            return entry
        entry.rubric_hash = rubric.hash
        text = normalise(report.text)
        original = folder / "original.md"
        atomic_write_text(original, text)
        work = [self._judge(job.task, rubric, original, None)]
        for probe in self.options.probes:
            if PROBE_SPECS[probe].kind == "evidence":
                continue
            variants = variants_for(probe, text, self.options.variants, self.options.seed)
            if not variants:
                entry.skipped[probe] = why_not(probe)
                continue
            for variant in variants:
                path = original
                if variant.text is not None:
                    path = folder / probe / f"{safe_filename(variant.name)}.md"
                    atomic_write_text(path, variant.text)
                work.append(self._judge(job.task, rubric, path, variant))
        evidence = None
        if "evidence-injection" in self.options.probes:
            evidence = self._evidence(report, text, folder / "evidence-injection", entry)
        judged = await asyncio.gather(*work, *([evidence] if evidence is not None else []))
        # one gather over both kinds of work types its results as objects: the judgements come first, in order
        entry.original, entry.variants = cast(Judged, judged[0]), cast("list[Judged]", list(judged[1 : len(work)]))
        if evidence is not None:
            entry.evidence = cast("list[EvidenceTrial]", judged[-1])
        return entry

    async def _judge(self, task: Task, rubric: Rubric, path: Path, variant: Variant | None) -> Judged:
        probe, name = (variant.probe, variant.name) if variant else ("original", "original")
        judged = Judged(
            probe=probe,
            variant=name,
            note=variant.note if variant else "",
            path=str(path),
            temperature=variant.temperature if variant else None,
            seed=variant.seed if variant else None,
            status="failed",
        )
        try:
            report = await asyncio.to_thread(
                load_report,
                path,
                system="stress",
                task_id=task.id,
                max_bytes=int(self.settings.max_report_mb * 1_000_000),
                format_name="markdown",
            )
        except (ReportError, OSError) as exc:
            judged.reasons = [str(exc)]
            return judged
        llm = self._client(judged.temperature, judged.seed)
        async with self._slots:
            quality, usage = await judge_report(llm, task, report, rubric, self.settings.samples)
        self.usage.add(usage)
        judged.total, judged.samples = quality.total, list(quality.samples)
        judged.dimensions = {k: d.score for k, d in quality.dimension_scores.items()}
        judged.status, judged.reasons = quality.status, list(quality.reasons)
        if variant is not None and variant.text is None:  # the original under other conditions
            target = path.parent / variant.probe / f"{safe_filename(variant.name)}.quality.json"
        else:
            target = path.with_suffix(".quality.json")
        atomic_write_text(target, quality.model_dump_json(indent=2))
        if self.on_judged:
            self.on_judged(f"{task.id}: {name}")
        return judged

    # ------------------------------------------------------------------------------------- evidence injection

    def _readable(self, report: Report) -> dict[int, tuple[str, str, str]]:
        """Reference number -> (title, URL, page text) for the cited pages the evidence store can read."""
        pages = {}
        for citation in report.citations:
            if citation.index is None:
                continue
            record = self.store.get_fetch(citation.url)
            if record is None or not record.ok:
                continue
            text = self.store.get_document(record.content_sha256)
            if text:
                pages[citation.index] = (citation.title or record.title or citation.url, citation.url, text)
        return pages

    async def _evidence(self, report: Report, text: str, folder: Path, entry: ReportStress) -> list[EvidenceTrial]:
        pages = await asyncio.to_thread(self._readable, report)
        targets = evidence_targets(text, set(pages), self.options.variants, self.options.seed)
        if not targets:
            entry.skipped["evidence-injection"] = (
                "no cited sentence with a figure whose cited pages are in the evidence store (index them first: "
                "dreval corpus add FOLDER, or score the report once so its pages are fetched)"
                if not pages
                else "no sentence with a figure cites only pages the evidence store can read"
            )
            return []
        return list(await asyncio.gather(*(self._trial(k, target, pages, folder) for k, target in enumerate(targets))))

    async def _trial(
        self, k: int, target: EvidenceTarget, pages: dict[int, tuple[str, str, str]], folder: Path
    ) -> EvidenceTrial:
        where = folder / f"trial-{k + 1}"
        trial = EvidenceTrial(
            sentence=target.sentence,
            altered=target.altered,
            figure=target.figure,
            replacement=target.replacement,
            refs=list(target.refs),
            wording=target.wording + 1,
            place=target.place,
            folder=str(where),
        )
        try:
            for arm in ("control", "injected"):
                label, flags = await self._check_arm(target, pages, where / arm, injected=arm == "injected")
                if arm == "control":
                    trial.control, trial.control_flags = label, flags
                else:
                    trial.injected, trial.injected_flags = label, flags
        except LLMUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - one trial's failure is recorded, the run goes on
            trial.problem = f"{type(exc).__name__}: {exc}"
        if self.on_judged:
            self.on_judged(f"evidence trial {k + 1}")
        return trial

    async def _check_arm(
        self, target: EvidenceTarget, pages: dict[int, tuple[str, str, str]], folder: Path, injected: bool
    ) -> tuple[str | None, list[str]]:
        """Fact-check the one-sentence report against a probe store that holds only its cited pages (the first
        one with the instruction in the injected arm), indexed through the corpus loader; no web requests."""
        cited = sorted(set(target.refs))
        page_dir = folder / "pages"
        urls = {}
        for number in cited:
            title, url, page = pages[number]
            if injected and number == cited[0]:
                page = inject_page(page, target)
            atomic_write_text(page_dir / f"ref-{number}.txt", page)
            urls[f"ref-{number}.txt"] = url
        atomic_write_text(page_dir / "urls.json", json.dumps(urls, indent=2))
        report_path = folder / "report.md"
        atomic_write_text(report_path, evidence_report(target, {n: pages[n][:2] for n in cited}))
        store_path = folder / "store.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(str(store_path) + suffix).unlink(missing_ok=True)
        probe_store = await asyncio.to_thread(Store, store_path)
        try:
            await asyncio.to_thread(add_folder, probe_store, page_dir, self.settings.fetch_max_bytes)
            report = await asyncio.to_thread(
                load_report,
                report_path,
                system="stress",
                task_id="evidence",
                max_bytes=1_000_000,
                format_name="markdown",
            )
            settings = self.settings.model_copy(update={"search": "local"})
            async with open_factchecker(settings, self.llm, probe_store, replay=True) as checker:
                async with self._slots:
                    result, usage = await checker.check(report)
        finally:
            probe_store.close()
        self.usage.add(usage)
        atomic_write_text(folder / "factcheck.json", result.model_dump_json(indent=2))
        figure = target.replacement.replace(",", "")
        verdicts = {v.claim_id: v for v in result.verdicts}
        for claim in result.claims:
            if figure in claim.text.replace(",", "") and claim.id in verdicts:
                return verdicts[claim.id].label, list(verdicts[claim.id].flags)
        return None, []
