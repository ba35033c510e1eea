"""``dreval stress``: a generalisation stress test of the judge on your own reports.

For each report, the probes of ``drevalkit.validity.probes`` build perturbed versions; the original (normalised) and
every variant are judged with the same frozen rubric by the same judge, and each probe's effect is the paired shift
of the total (variant minus original, 0-10 scale). Per probe, over reports:

- ``shift``: the mean over reports of (mean total of the report's variants - the original's total), with a 95%
  interval and p-value from ``drevalkit.stats.bootstrap.paired_bootstrap``: reports are resampled, and within each
  drawn report its variants (and, with ``--samples``, the original's judging passes) are resampled too, so one
  report with several variants still gets an interval that reflects how much the variants disagree;
- ``moved``: the share of reports whose mean shift is larger than the threshold (either way), and ``variants
  moved``: the same over single variants;
- a probe is flagged (the judge is sensitive to it) when the interval excludes zero by more than the threshold
  (``low > threshold`` or ``high < -threshold``). ``null-report`` is the other way round: it is flagged when the
  interval does not lie entirely below ``-null_gap`` (the judge does not put a report that answers nothing far
  below the real one);
- ``inject``: the injection success rate is the share of injected variants whose total rose by more than the
  threshold; ``conditions``: the fluctuation spread is the standard deviation of one report's totals over the
  judge's own conditions and the others (pooled over reports), and the mean range;
- ``evidence-injection`` (the fact-checker): one trial per altered sentence, checked against its cited pages with
  and without the instruction; the shift is the share of trials called right with it minus without it (paired
  bootstrap over trials), the success rate the share called right with it; flagged when the interval is above 0.

Everything judged is kept under ``OUT/stress/<judge>/<system>/<task>/``: ``original.md``, each
``<probe>/<variant>.md`` with its ``.quality.json``, and for evidence injection each trial's pages, one-sentence
report, probe store and fact-check. Judging goes through the response cache, so a repeated run makes no calls.
"""

from __future__ import annotations

import asyncio
import json
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from .. import stats
from ..__version__ import __version__
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
from ..schemas import JudgeInfo, Report, Rubric, Status, Task, Usage, utc_now
from ..scoring.jobs import ScoreJob
from ..store import Store
from .probes import (
    PROBE_SPECS,
    PROBES,
    EvidenceTarget,
    Variant,
    evidence_report,
    evidence_targets,
    inject_page,
    normalise,
    variants_for,
    why_not,
)

DEFAULT_THRESHOLD = 0.5
DEFAULT_NULL_GAP = 3.0
DEFAULT_VARIANTS = 3


@dataclass
class StressOptions:
    probes: tuple[str, ...] = PROBES
    variants: int = DEFAULT_VARIANTS
    threshold: float = DEFAULT_THRESHOLD
    null_gap: float = DEFAULT_NULL_GAP
    seed: int = 0
    resamples: int = stats.DEFAULT_RESAMPLES
    level: float = stats.DEFAULT_LEVEL

    def __post_init__(self) -> None:
        unknown = [p for p in self.probes if p not in PROBE_SPECS]
        if unknown:
            raise ValueError(f"unknown probe(s) {', '.join(unknown)}; known: {', '.join(PROBES)}")
        if self.variants < 1:
            raise ValueError("variants must be at least 1")
        if self.threshold < 0 or self.null_gap < 0:
            raise ValueError("the threshold and the null gap must be >= 0")


class Judged(BaseModel):
    """One judging of one text: the original report or a variant."""

    probe: str = Field(description="'original' for the report itself")
    variant: str
    note: str = ""
    path: str = Field(default="", description="the text that was judged")
    temperature: float | None = None
    seed: int | None = None
    total: float | None = None
    samples: list[float] = Field(default_factory=list, description="total of each complete judging pass")
    dimensions: dict[str, float | None] = Field(default_factory=dict)
    status: Status
    reasons: list[str] = Field(default_factory=list)


class EvidenceTrial(BaseModel):
    """One altered sentence checked against its cited pages, clean (control) and with the instruction (injected)."""

    sentence: str
    altered: str
    figure: str
    replacement: str
    refs: list[int]
    wording: int
    place: str
    folder: str
    control: str | None = Field(
        default=None,
        description="verdict on the altered claim against the clean pages; "
        "None: no checked claim holds the altered figure",
    )
    injected: str | None = None
    control_flags: list[str] = Field(default_factory=list)
    injected_flags: list[str] = Field(default_factory=list)
    problem: str = ""


class ReportStress(BaseModel):
    system: str
    task_id: str
    report: str
    folder: str = ""
    rubric_hash: str = ""
    original: Judged | None = None
    variants: list[Judged] = Field(default_factory=list)
    evidence: list[EvidenceTrial] = Field(default_factory=list)
    skipped: dict[str, str] = Field(default_factory=dict, description="probe -> why it does not apply here")
    problem: str = ""


class ProbeResult(BaseModel):
    probe: str
    description: str
    expect: str
    unit: Literal["points", "share"] = Field(
        default="points", description="points of the 0-10 total, or a share of claims (evidence-injection)"
    )
    reports: int = Field(default=0, description="reports (trials, for evidence-injection) behind the shift")
    variants: int = Field(default=0, description="variants judged")
    failed: int = Field(default=0, description="variants whose judging failed (left out)")
    skipped: int = Field(default=0, description="reports the probe does not apply to")
    original_mean: float | None = None
    perturbed_mean: float | None = None
    shift: float | None = None
    low: float | None = None
    high: float | None = None
    p: float | None = None
    moved: float | None = Field(
        default=None,
        description="share of reports whose total moved more than the "
        "threshold (flipped to right, for evidence-injection)",
    )
    variants_moved: float | None = None
    flagged: bool = False
    finding: str = ""
    injection_success: float | None = None
    control_rate: float | None = Field(
        default=None, description="evidence-injection: share called right without the instruction"
    )
    fluctuation_sd: float | None = None
    fluctuation_range: float | None = None


class JudgingConditions(BaseModel):
    """Who judged and under which settings: shared by a stress run and the judge card built from it."""

    judge: JudgeInfo
    prompt_versions: dict[str, str] = Field(default_factory=dict)
    config_hash: str = ""
    temperature: float = 0.0
    seed: int = 0
    samples: int = 1

    def conditions(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in JudgingConditions.model_fields}


class StressRun(JudgingConditions):
    schema_version: str = "1"
    dreval_version: str = __version__
    probes: list[str] = Field(default_factory=list)
    variants: int = DEFAULT_VARIANTS
    threshold: float = DEFAULT_THRESHOLD
    null_gap: float = DEFAULT_NULL_GAP
    probe_seed: int = 0
    resamples: int = stats.DEFAULT_RESAMPLES
    level: float = stats.DEFAULT_LEVEL
    reports: list[ReportStress] = Field(default_factory=list)
    results: list[ProbeResult] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    started_at: str = Field(default_factory=utc_now)
    finished_at: str = ""
    folder: str = ""


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
        entry.original, entry.variants = judged[0], list(judged[1 : len(work)])
        if evidence is not None:
            entry.evidence = judged[-1]
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


# -------------------------------------------------------------------------------------------------- statistics


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _interval(result: ProbeResult, test: stats.PairedTest) -> None:
    result.shift, result.low, result.high, result.p = test.diff, test.low, test.high, test.p


def _none_apply(probe: str, run: StressRun) -> bool:
    """Whether the probe applied to none of the reports that could be judged (so its own reason is the finding)."""
    tried = [e for e in run.reports if not e.problem]
    return bool(tried) and all(probe in e.skipped for e in tried)


def _text_probe(probe: str, run: StressRun, options: StressOptions) -> ProbeResult:
    spec = PROBE_SPECS[probe]
    result = ProbeResult(probe=probe, description=spec.description, expect=spec.expect)
    a, b, samples_a, samples_b, singles, spreads, ranges = [], [], [], [], [], [], []
    injected_up: list[bool] = []
    for entry in run.reports:
        mine = [v for v in entry.variants if v.probe == probe]
        if probe in entry.skipped:
            result.skipped += 1
        result.failed += sum(v.total is None for v in mine)
        judged = [v.total for v in mine if v.total is not None]
        original = entry.original
        if original is None or original.total is None or not judged:
            continue
        base = original.total
        a.append(statistics.fmean(judged))
        b.append(base)
        samples_a.append(judged)
        samples_b.append(list(original.samples) or [base])
        singles += [t - base for t in judged]
        result.variants += len(judged)
        if probe == "inject":
            injected_up += [t - base > options.threshold for t in judged]
        if probe == "conditions":
            values = [base, *judged]
            spreads.append(statistics.variance(values) if len(values) > 1 else 0.0)
            ranges.append(max(values) - min(values))
    result.reports = len(a)
    if not a:
        result.finding = (
            "not measured: " + why_not(probe, every_report=True)
            if _none_apply(probe, run)
            else "not measured: no report had both the original and a variant judged"
        )
        return result
    result.original_mean, result.perturbed_mean = _mean(b), _mean(a)
    _interval(
        result,
        stats.paired_bootstrap(
            a,
            b,
            samples_a=samples_a,
            samples_b=samples_b,
            resamples=options.resamples,
            seed=options.seed,
            level=options.level,
        ),
    )
    result.moved = sum(abs(x - y) > options.threshold for x, y in zip(a, b)) / len(a)
    result.variants_moved = sum(abs(d) > options.threshold for d in singles) / len(singles)
    if probe == "inject":
        result.injection_success = sum(injected_up) / len(injected_up)
    if probe == "conditions":
        result.fluctuation_sd = math.sqrt(statistics.fmean(spreads))
        result.fluctuation_range = statistics.fmean(ranges)
    assert result.low is not None and result.high is not None and result.shift is not None
    span = f"{result.shift:+.2f} [{result.low:+.2f}, {result.high:+.2f}]"
    if spec.expect == "far lower":
        result.flagged = result.high > -options.null_gap
        result.finding = (
            f"fooled: the null report scores {span} against the real one; it should be more than "
            f"{options.null_gap:g} lower"
            if result.flagged
            else f"separates: the null report scores {span}, more than {options.null_gap:g} lower"
        )
    else:
        t = options.threshold
        result.flagged = result.low > t or result.high < -t
        if result.flagged:
            result.finding = f"sensitive: totals move {span}, beyond ±{t:g}"
        elif -t <= result.low and result.high <= t:
            result.finding = f"stable: {span}, within ±{t:g}"
        else:
            result.finding = (
                f"not shown to move beyond ±{t:g}: {span} (a wide interval: more reports or variants would tell)"
            )
    return result


def _evidence_probe(run: StressRun, options: StressOptions) -> ProbeResult:
    spec = PROBE_SPECS["evidence-injection"]
    result = ProbeResult(probe=spec.name, description=spec.description, expect=spec.expect, unit="share")
    injected, control = [], []
    for entry in run.reports:
        if "evidence-injection" in entry.skipped:
            result.skipped += 1
        for trial in entry.evidence:
            if trial.control is None or trial.injected is None:
                result.failed += 1
                continue
            injected.append(float(trial.injected == "right"))
            control.append(float(trial.control == "right"))
    result.reports = result.variants = len(injected)
    if not injected:
        reasons = dict.fromkeys(e.skipped[spec.name] for e in run.reports if spec.name in e.skipped)  # distinct
        result.finding = (
            "not measured: " + "; ".join(reasons)
            if _none_apply(spec.name, run)
            else "not measured: no trial had the altered claim checked both ways"
        )
        return result
    result.injection_success, result.control_rate = _mean(injected), _mean(control)
    result.original_mean, result.perturbed_mean = result.control_rate, result.injection_success
    _interval(
        result,
        stats.paired_bootstrap(injected, control, resamples=options.resamples, seed=options.seed, level=options.level),
    )
    result.moved = sum(i > c for i, c in zip(injected, control)) / len(injected)
    result.variants_moved = result.moved
    assert result.low is not None and result.injection_success is not None
    result.flagged = result.low > 0
    rate = (
        f"{result.injection_success:.0%} of altered claims called right with the instruction, "
        f"{result.control_rate:.0%} without"
    )
    result.finding = ("sensitive: " if result.flagged else ("partly fooled: " if result.moved else "robust: ")) + rate
    return result


def summarise(run: StressRun, options: StressOptions) -> list[ProbeResult]:
    """One result per probe of the run, in the run's order."""
    return [
        _evidence_probe(run, options) if PROBE_SPECS[p].kind == "evidence" else _text_probe(p, run, options)
        for p in run.probes
    ]
