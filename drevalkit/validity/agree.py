"""``dreval agree``: dreval's verdicts and preferences against human labels (formats: ``drevalkit.validity.labels``).

dreval's side comes from result files: either read from a results folder (``--results DIR``, any folder of
Scorecards, e.g. ``OUT/results``; each labelled report is found by the path its result recorded, else by its file
name), or scored now with the judge settings (``score_jobs``): claim labels fact-check each labelled report (no
task needed), pairwise labels judge each report's quality against its task. Scoring now writes ordinary results
under ``OUT/agree/<label file name>/`` (resumable and cached like ``dreval score``: a second run makes no calls).

Claims: each label is matched to one claim dreval checked in that report (``labels.match_claims``); the matched
pairs give accuracy, Cohen's kappa over right / wrong / unknown, the confusion matrix and per-label precision and
recall (``agreement``). dreval verdicts that failed (verification itself failed) are left out of the statistics
and counted; labels dreval did not check are counted as not checked. Pairs: dreval prefers the report with the
higher total (a tie when the totals differ by no more than ``tie_margin``).

Intervals come from a cluster bootstrap (``stats.bootstrap_sums``): claims of one report share the judge's context
and the cited pages, and pairs of one task its rubric and reports, so they are not independent; resampling them one
by one would give intervals too narrow. Reports (claims) or tasks (pairs) are drawn with replacement, each with all
its items, and every figure is computed on the pooled items of each resample. A figure whose items all come from one
report or task has no interval: every resample would be that one again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from .. import stats
from ..__version__ import __version__
from ..config import Settings
from ..files import safe_filename
from ..ingest.task_files import load_tasks, select_task
from ..llm import LLMClient
from ..quality.rubric import read_rubric
from ..schemas import JudgeInfo, Scorecard, Task, utc_now
from ..scoring import ScoreJob, ScorePlan, read_scorecard, score_jobs
from ..stats import agreement
from ..store import Store
from .labels import DEFAULT_MIN_SIMILARITY, ClaimLabel, LabelError, PairLabel, match_claims, resolve

NOT_CHECKED = "not checked"


@dataclass
class AgreeOptions:
    min_similarity: float = DEFAULT_MIN_SIMILARITY
    tie_margin: float = 0.0
    resamples: int = stats.DEFAULT_RESAMPLES
    seed: int = stats.DEFAULT_SEED
    level: float = stats.DEFAULT_LEVEL


class Estimate(BaseModel):
    value: float
    low: float | None = Field(description="None when every item behind the figure comes from one report (task)")
    high: float | None
    n: int = Field(description="items (claims, pairs) behind the figure")
    clusters: int = Field(description="reports (claims) or tasks (pairs) those items come from")


class ClaimRow(BaseModel):
    line: int
    report: str
    claim: str = ""
    sentence: str = ""
    label: str
    reason: str = ""
    source: str = ""
    result: str = Field(default="", description="the result file dreval's verdict comes from")
    similarity: float | None = None
    dreval_claim: str = ""
    dreval_sentence: str = ""
    dreval_label: str | None = Field(default=None, description="right / wrong / unknown / failed; None: not checked")
    dreval_rationale: str = ""
    problem: str = ""


class LabelCounts(BaseModel):
    label: str
    human: int
    dreval: int
    both: int
    precision: Estimate | None = None
    recall: Estimate | None = None


class ClaimAgreement(BaseModel):
    labels: int
    no_result: int = Field(description="labels whose report has no usable fact-check result")
    not_checked: int = Field(description="labels matched to no claim dreval checked")
    failed: int = Field(description="matched claims whose dreval verification failed (left out)")
    compared: int
    resampled_by: str = Field(default="report", description="the unit the intervals resample")
    clusters: int = Field(description="reports with compared claims")
    accuracy: Estimate | None = None
    kappa: Estimate | None = None
    confusion_labels: list[str] = Field(default_factory=lambda: list(agreement.VERDICT_LABELS))
    confusion_columns: list[str] = Field(default_factory=list)
    confusion: list[list[int]] = Field(
        default_factory=list, description="rows: people's labels; columns: dreval's, then failed and not checked"
    )
    per_label: list[LabelCounts] = Field(default_factory=list)


class PairRow(BaseModel):
    line: int
    task_id: str
    report_a: str
    report_b: str
    preferred: str
    reason: str = ""
    total_a: float | None = None
    total_b: float | None = None
    dreval: str | None = None
    problem: str = ""


class PairAgreement(BaseModel):
    pairs: int
    scored: int
    human_ties: int
    dreval_ties: int
    tie_margin: float
    resampled_by: str = Field(default="task", description="the unit the intervals resample")
    clusters: int = Field(description="tasks with scored pairs")
    agreement: Estimate | None = Field(default=None, description="pairs a person preferred one of; dreval's ties 1/2")
    strict: Estimate | None = Field(default=None, description="the same, dreval's ties counted as disagreement")
    with_ties: Estimate | None = Field(default=None, description="all pairs: dreval's a / b / tie is the person's")


class AgreeReport(BaseModel):
    schema_version: str = "2"
    dreval_version: str = __version__
    created_at: str = Field(default_factory=utc_now)
    labels_file: str
    kind: str
    results: str = Field(description="where dreval's results came from")
    scored_now: bool
    judges: list[JudgeInfo] = Field(default_factory=list)
    min_similarity: float
    method: str
    claims: ClaimAgreement | None = None
    pairs: PairAgreement | None = None
    claim_rows: list[ClaimRow] = Field(default_factory=list)
    pair_rows: list[PairRow] = Field(default_factory=list)


METHOD = {
    "claims": "intervals: {level:.0%} percentile cluster bootstrap ({resamples:,} resamples, seed {seed}): claims of "
    "one report are not independent, so reports are drawn with replacement, each with all its compared "
    "claims, and accuracy, kappa, precision and recall are computed on each resample's pooled claims; a "
    "figure whose claims all come from one report has no interval; claims matched by word-and-number "
    "similarity >= {sim:g}, one to one",
    "pairs": "intervals: {level:.0%} percentile cluster bootstrap ({resamples:,} resamples, seed {seed}): pairs of one "
    "task are not independent, so tasks are drawn with replacement, each with all its scored pairs, and "
    "every share is computed on each resample's pooled pairs; a figure whose pairs all come from one task "
    "has no interval",
}


# ----------------------------------------------------------------------------------------------- results


def read_results(folder: Path) -> list[tuple[Path, Scorecard]]:
    """Every result file (a Scorecard) below ``folder``; other JSON files are skipped."""
    found = []
    for path in sorted(Path(folder).rglob("*.json")):
        if path.name.startswith(".") or path.name.endswith(".meta.json"):
            continue
        card = read_scorecard(path)
        if card is not None:
            found.append((path, card))
    return found


def find_result(
    results: list[tuple[Path, Scorecard]], report: Path, task_id: str | None = None
) -> tuple[Path, Scorecard] | None:
    """The result of ``report`` (and of ``task_id``, when given): by the report path the result recorded, else by
    file name when exactly one result has it."""

    def recorded(card: Scorecard) -> Path | None:  # the report path of a result that has one and fits task_id
        ref = card.report_ref
        return Path(ref.path) if ref is not None and (task_id is None or card.task_id == task_id) else None

    target = report.resolve()
    same = [(p, c) for p, c in results if (path := recorded(c)) is not None and path.resolve() == target]
    if same:
        return same[0]
    named = [(p, c) for p, c in results if (path := recorded(c)) is not None and path.name == report.name]
    return named[0] if len(named) == 1 else None


def _jury(jury: list[LLMClient] | None) -> dict[str, list[LLMClient]]:
    return {"jury": jury} if jury else {}  # judges besides the lead (score_jobs' jury)


def _slug(path: Path) -> str:
    digest = hashlib.sha256(str(path.resolve()).encode("utf-8")).hexdigest()[:8]
    return f"{safe_filename(path.stem, 50)}-{digest}"


def agree_folder(out: Path, labels_file: Path) -> Path:
    return Path(out) / "agree" / safe_filename(Path(labels_file).stem)


def _check_files(paths: list[Path]) -> None:
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise LabelError(f"labelled report(s) not found: {', '.join(missing[:5])}")


def pair_tasks(labels: list[PairLabel], labels_file: Path, tasks_file: Path | None) -> list[Task]:
    """The task of each pair: a task file relative to the label file, or an id in ``tasks_file``."""
    by_id = {t.id: t for t in load_tasks(tasks_file)} if tasks_file else {}
    tasks = []
    for label in labels:
        path = resolve(labels_file, label.task)
        if path.is_file():
            extra = label.model_extra or {}  # always a dict: PairLabel allows extra fields
            tasks.append(select_task(load_tasks(path), str(extra.get("task_id") or "") or None, path))
        elif label.task in by_id:
            tasks.append(by_id[label.task])
        else:
            raise LabelError(
                f"{labels_file}, line {label.line}: task {label.task!r} is neither a task file (relative "
                "to the label file) nor an id in --tasks"
            )
    return tasks


async def score_claim_reports(
    settings: Settings,
    store: Store,
    llm: LLMClient,
    labels: list[ClaimLabel],
    labels_file: Path,
    replay: bool = False,
    jury: list[LLMClient] | None = None,
    on_done: Callable[[Scorecard, bool], None] | None = None,
) -> list[tuple[Path, Scorecard]]:
    """Fact-check every labelled report now, into ``OUT/agree/<label file>/``."""
    reports = list(dict.fromkeys(resolve(labels_file, label.report) for label in labels))
    _check_files(reports)
    settings = settings.model_copy(update={"out": agree_folder(settings.out, labels_file)})
    jobs = [ScoreJob(path, "agree", _slug(path), None) for path in reports]
    plan = ScorePlan(quality=False, factcheck=True, replay=replay)
    outcome = await score_jobs(settings, store, llm, jobs, plan, on_done, **_jury(jury))
    return [(settings.layout.result(c.system, c.task_id), c) for c in outcome.cards]


async def score_pair_reports(
    settings: Settings,
    store: Store,
    llm: LLMClient,
    labels: list[PairLabel],
    tasks: list[Task],
    labels_file: Path,
    jury: list[LLMClient] | None = None,
    on_done: Callable[[Scorecard, bool], None] | None = None,
) -> list[tuple[Path, Scorecard]]:
    """Judge the quality of every labelled report against its pair's task now, into ``OUT/agree/<label file>/``;
    reports with a pinned rubric are judged with it."""
    settings = settings.model_copy(update={"out": agree_folder(settings.out, labels_file)})
    groups: dict[str, dict[tuple[Path, str], ScoreJob]] = {}
    for label, task in zip(labels, tasks):
        rubric = str(resolve(labels_file, label.rubric)) if label.rubric else ""
        for report in (label.report_a, label.report_b):
            path = resolve(labels_file, report)
            groups.setdefault(rubric, {})[(path.resolve(), task.id)] = ScoreJob(path, _slug(path), task.id, task)
    _check_files([job.report_path for jobs in groups.values() for job in jobs.values()])
    found: list[tuple[Path, Scorecard]] = []
    for rubric, jobs in groups.items():
        fixed = read_rubric(Path(rubric)) if rubric else None
        plan = ScorePlan(quality=True, factcheck=False, fixed_rubric=fixed)
        outcome = await score_jobs(settings, store, llm, list(jobs.values()), plan, on_done, **_jury(jury))
        found += [(settings.layout.result(c.system, c.task_id), c) for c in outcome.cards]
    return found


# -------------------------------------------------------------------------------------------- statistics


def _estimate(
    counts: np.ndarray, statistic: Callable[[np.ndarray], np.ndarray], items: np.ndarray, options: AgreeOptions
) -> Estimate | None:
    """``statistic`` of the counts pooled over clusters (``counts[i]`` is cluster i's), with its cluster bootstrap
    interval; ``items[i]`` is how many of cluster i's items the figure stands on. None when it is undefined."""
    interval = stats.bootstrap_sums(
        counts, statistic, resamples=options.resamples, seed=options.seed, level=options.level
    )
    if interval is None:
        return None
    clusters = int((items > 0).sum())
    spread = clusters >= 2  # from one cluster, every resample is that cluster again
    return Estimate(
        value=interval.mean,
        low=interval.low if spread else None,
        high=interval.high if spread else None,
        n=int(items.sum()),
        clusters=clusters,
    )


def _accuracy(tables: np.ndarray) -> np.ndarray:
    return np.trace(tables, axis1=1, axis2=2) / tables.sum(axis=(1, 2))


def _precision(label: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda tables: tables[:, label, label] / tables[:, :, label].sum(axis=1)


def _recall(label: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda tables: tables[:, label, label] / tables[:, label, :].sum(axis=1)


def _share(numerator: int, denominator: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda sums: sums[:, numerator] / sums[:, denominator]


def claim_agreement(
    labels: list[ClaimLabel], labels_file: Path, results: list[tuple[Path, Scorecard]], options: AgreeOptions
) -> tuple[ClaimAgreement, list[ClaimRow]]:
    """Each claim label beside dreval's verdict on the claim it matched, and how far the two agree."""
    rows = [
        ClaimRow(
            line=label.line,
            report=label.report,
            claim=label.claim,
            sentence=label.sentence,
            label=label.label,
            reason=label.reason,
            source=label.source,
        )
        for label in labels
    ]
    by_report: dict[Path, list[int]] = {}
    for i, label in enumerate(labels):
        by_report.setdefault(resolve(labels_file, label.report).resolve(), []).append(i)
    no_result = sum(
        _match_report(find_result(results, report), [labels[i] for i in indices], [rows[i] for i in indices], options)
        for report, indices in by_report.items()
    )
    labels_order = list(agreement.VERDICT_LABELS)
    tables = _report_tables(rows, list(by_report.values()), labels_order)
    claims_per_report = tables.sum(axis=(1, 2))
    agreed = ClaimAgreement(
        labels=len(rows),
        no_result=no_result,
        not_checked=sum(r.dreval_label is None and r.result != "" for r in rows),
        failed=sum(r.dreval_label == "failed" for r in rows),
        compared=int(claims_per_report.sum()),
        clusters=len(tables),
        accuracy=_estimate(tables, _accuracy, claims_per_report, options),
        kappa=_estimate(tables, agreement.kappa_from_tables, claims_per_report, options),
        confusion_columns=labels_order + ["failed", NOT_CHECKED],
        confusion=_confusion(tables, rows, labels_order),
        per_label=_per_label(tables, labels_order, options),
    )
    return agreed, rows


def _match_report(
    found: tuple[Path, Scorecard] | None, labels: list[ClaimLabel], rows: list[ClaimRow], options: AgreeOptions
) -> int:
    """Fill the rows of one report's labels with dreval's verdicts on the claims they match (``found``: the report's
    result); returns how many labels have no usable fact-check result."""
    fc = found[1].factcheck if found else None
    if found is None or fc is None or fc.status == "failed":  # no verdict stands on evidence there
        why = (
            "no fact-check result for this report"
            if found is None or fc is None
            else f"the fact-check failed: {'; '.join(fc.reasons[:2])}"
        )
        for row in rows:
            row.problem = why
        return len(rows)
    verdicts = {v.claim_id: v for v in fc.verdicts}
    claims = [c for c in fc.claims if c.id in verdicts]
    matched = match_claims(labels, claims, options.min_similarity)
    for position, row in enumerate(rows):
        row.result = str(found[0])
        if position not in matched:
            row.problem = "not checked by dreval (no claim it checked is similar enough)"
            continue
        j, value = matched[position]
        verdict = verdicts[claims[j].id]
        row.similarity = round(value, 3)
        row.dreval_claim, row.dreval_sentence = claims[j].text, claims[j].sentence
        row.dreval_label, row.dreval_rationale = verdict.label, verdict.rationale
    return 0


def _report_tables(rows: list[ClaimRow], reports: list[list[int]], labels_order: list[str]) -> np.ndarray:
    """One confusion table (people's labels by dreval's) per report with compared claims: the clusters the
    intervals resample."""
    groups = [[rows[i] for i in indices if rows[i].dreval_label in agreement.VERDICT_LABELS] for indices in reports]
    return np.asarray(
        [
            agreement.confusion([r.label for r in group], [r.dreval_label or "" for r in group], labels_order)
            for group in groups
            if group
        ],
        dtype=float,
    ).reshape(-1, len(labels_order), len(labels_order))


def _confusion(tables: np.ndarray, rows: list[ClaimRow], labels_order: list[str]) -> list[list[int]]:
    """The pooled confusion table, with a column of failed verdicts and one of labels dreval did not check."""
    table = tables.sum(axis=0).astype(int).tolist()
    for row_index, label in enumerate(labels_order):
        table[row_index].append(sum(r.label == label and r.dreval_label == "failed" for r in rows))
        table[row_index].append(sum(r.label == label and r.dreval_label is None and r.result != "" for r in rows))
    return table


def _per_label(tables: np.ndarray, labels_order: list[str], options: AgreeOptions) -> list[LabelCounts]:
    """Each label's counts on either side, and dreval's precision and recall on it."""
    per_label = []
    for index, label in enumerate(labels_order):
        said, truth = tables[:, :, index].sum(axis=1), tables[:, index, :].sum(axis=1)
        per_label.append(
            LabelCounts(
                label=label,
                human=int(truth.sum()),
                dreval=int(said.sum()),
                both=int(tables[:, index, index].sum()),
                precision=_estimate(tables, _precision(index), said, options),
                recall=_estimate(tables, _recall(index), truth, options),
            )
        )
    return per_label


def pair_agreement(
    labels: list[PairLabel],
    tasks: list[Task],
    labels_file: Path,
    results: list[tuple[Path, Scorecard]],
    options: AgreeOptions,
) -> tuple[PairAgreement, list[PairRow]]:
    """Each pair beside dreval's preference from the two totals, and how often the two agree."""
    rows = []
    for label, task in zip(labels, tasks):
        row = PairRow(
            line=label.line,
            task_id=task.id,
            report_a=label.report_a,
            report_b=label.report_b,
            preferred=label.preferred,
            reason=label.reason,
        )
        totals = []
        for report in (label.report_a, label.report_b):
            found = find_result(results, resolve(labels_file, report), task.id)
            quality = found[1].quality if found else None
            totals.append(quality.total if quality is not None and quality.status != "failed" else None)
            if found is None:
                row.problem = f"no result for {report} on task {task.id}"
            elif totals[-1] is None:
                row.problem = f"{report} has no quality total" + (
                    f": {'; '.join(quality.reasons[:2])}" if quality else ""
                )
        row.total_a, row.total_b = totals
        if row.total_a is not None and row.total_b is not None:
            row.dreval = agreement.machine_preference(row.total_a, row.total_b, options.tie_margin)
        rows.append(row)
    scored = [r for r in rows if r.dreval is not None]
    # per task: [agreement (dreval's ties 1/2), pairs a person preferred one of, strict agreement, exact, pairs]
    by_task: dict[str, list[float]] = {}
    for r in scored:
        counts = by_task.setdefault(r.task_id, [0.0] * 5)
        if r.preferred != "tie":
            counts[0] += 1.0 if r.dreval == r.preferred else 0.5 if r.dreval == "tie" else 0.0
            counts[1] += 1
            counts[2] += r.dreval == r.preferred
        counts[3] += r.dreval == r.preferred
        counts[4] += 1
    sums = np.asarray(list(by_task.values()), dtype=float).reshape(-1, 5)
    return PairAgreement(
        pairs=len(rows),
        scored=len(scored),
        human_ties=sum(r.preferred == "tie" for r in scored),
        dreval_ties=sum(r.dreval == "tie" for r in scored),
        tie_margin=options.tie_margin,
        clusters=len(sums),
        agreement=_estimate(sums, _share(0, 1), sums[:, 1], options),
        strict=_estimate(sums, _share(2, 1), sums[:, 1], options),
        with_ties=_estimate(sums, _share(3, 4), sums[:, 4], options),
    ), rows


def method_text(options: AgreeOptions, kind: str) -> str:
    return METHOD[kind].format(
        level=options.level, resamples=options.resamples, seed=options.seed, sim=options.min_similarity
    )
