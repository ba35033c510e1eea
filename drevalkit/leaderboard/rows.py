"""One system's row of the leaderboard: its results read task by task into counts, task cells and the values its
means are taken over (``collect_row``), then those values turned into estimates with bootstrap intervals
(``estimate_row``). A value is used only when the part that produced it is complete, or partial too with
``include_partial``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .. import stats
from ..layout import OutputLayout
from ..schemas import Scorecard
from .models import Estimate, JudgeVariance, RankBy, SystemRow, TaskCell
from .results import relative_path

Cells = dict[str, tuple[Scorecard, Path]]  # task -> the result used and its file

# per-report values a system's means are taken over, by name
_SERIES = (
    "total",
    "specific",
    "right_macro",
    "wrong_macro",
    "unknown_macro",
    "accuracy",
    "reachability",
    "tokens",
    "cost",
    "seconds",
    "jury_alpha",
    "jury_kappa",
)
_LABELS = ("right", "wrong", "unknown")


@dataclass(frozen=True)
class BoardOptions:
    """The statistical choices of one leaderboard, so each phase gets them in one piece."""

    resamples: int
    seed: int
    level: float
    alpha: float
    judge_variance: bool
    include_partial: bool
    rank_by: RankBy

    def interval(self, data: list[float], samples: list[list[float]] | None = None) -> Estimate:
        return Estimate.of(
            stats.bootstrap_mean(data, resamples=self.resamples, seed=self.seed, level=self.level, samples=samples)
        )


@dataclass(frozen=True)
class RowContext:
    """What reading a result into a row needs besides the result: where its files are and which dimensions are
    general (from the frozen rubrics when there, else the general rubric). ``root`` and ``pages`` are the first
    results folder and the output folder of its scorecards, which the paths of a row are relative to; ``others``
    each further results folder with the output folder of its own scorecards."""

    options: BoardOptions
    task_set: list[str]
    root: Path
    pages: OutputLayout
    general: dict[str, str]
    kinds_by_rubric: dict[str, dict[str, str]]
    others: tuple[tuple[Path, OutputLayout], ...] = ()

    def pages_of(self, file: Path) -> OutputLayout:
        """Where the scorecard of the result in ``file`` is: beside the results folder it was found in."""
        return next((pages for root, pages in self.others if file.is_relative_to(root)), self.pages)


@dataclass
class SystemValues:
    """One system's values, task by task, before they become estimates; ``rank`` and ``rank_samples`` hold the
    ranking metric (and its judge samples) per task that has one."""

    system: str
    series: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in _SERIES})
    dims: dict[str, list[float]] = field(default_factory=dict)
    micro: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in (*_LABELS, "verdicts")})
    samples: list[list[float]] = field(default_factory=list)
    rank: dict[str, float] = field(default_factory=dict)
    rank_samples: dict[str, list[float]] = field(default_factory=dict)


def collect_row(system: str, cells: Cells, context: RowContext) -> tuple[SystemRow, SystemValues]:
    """A system's row of counts and task cells, and the values its means are taken over."""
    row, values = SystemRow(system=system), SystemValues(system)
    for task in context.task_set:
        if task not in cells:
            row.missing += 1
            row.tasks.append(TaskCell(task_id=task, status="missing"))
            continue
        card, file = cells[task]
        page = context.pages_of(file).scorecard(card.system, card.task_id)
        cell = TaskCell(
            task_id=task,
            status=card.status,
            reasons=card.reasons[:5],
            result=relative_path(file, context.root),
            scorecard=relative_path(page, context.pages.root) if page.is_file() else "",
        )
        row.results += 1
        setattr(row, card.status, getattr(row, card.status) + 1)
        row.factcheck_failed += card.factcheck is not None and card.factcheck.status == "failed"
        _add_usage(row, values, card)
        if _quality_used(card, context.options.include_partial):
            _add_quality(cell, values, card, context)
        if _factcheck_used(card, context.options.include_partial):
            _add_factcheck(cell, values, card, context.options.rank_by)
        row.tasks.append(cell)
    in_set = set(context.task_set)
    row.outside_task_set = sum(1 for task in cells if task not in in_set)
    return row, values


def _add_usage(row: SystemRow, values: SystemValues, card: Scorecard) -> None:
    """Judging tokens, cost and time of a result that read a report, counting what cached answers first cost."""
    if card.report_ref is None:
        return
    u = card.usage
    values.series["tokens"].append(
        u.prompt_tokens + u.completion_tokens + u.from_cache_prompt_tokens + u.from_cache_completion_tokens
    )
    if not u.unpriced_calls:  # a call to a model without a price: what the result cost is unknown
        values.series["cost"].append(u.cost + u.from_cache_cost)
    values.series["seconds"].append(card.seconds)
    if u.cache_hits:
        row.from_cache += 1
        # scored before dreval kept the original usage of cached answers (or from a judge that
        # reports none): its cost and tokens count only the calls made when scoring
        row.from_cache_unpriced += not (u.from_cache_prompt_tokens or u.from_cache_completion_tokens)


def _add_quality(cell: TaskCell, values: SystemValues, card: Scorecard, context: RowContext) -> None:
    """A used quality result: its total, its judge samples, its general dimensions (complete ones only, so a mean
    never mixes in a guess) and the summary of its task-specific ones."""
    quality = card.quality
    assert quality is not None and quality.total is not None
    if quality.agreement is not None and quality.agreement.value is not None:
        values.series["jury_alpha"].append(quality.agreement.value)
    cell.used_quality, cell.total = True, quality.total
    values.series["total"].append(quality.total)
    values.samples.append(list(quality.samples))
    kinds = context.kinds_by_rubric.get(quality.rubric_hash, {})
    for dim_id, dim in quality.dimension_scores.items():
        kind = kinds.get(dim_id, "general" if dim_id in context.general else "specific")
        if kind == "general" and dim.score is not None and dim.status == "complete":
            values.dims.setdefault(dim_id, []).append(dim.score)
    specific = _specific(card, kinds, context.general)
    if specific is not None:
        values.series["specific"].append(specific)
    if context.options.rank_by == "quality":
        values.rank[cell.task_id] = quality.total
        values.rank_samples[cell.task_id] = list(quality.samples)


def _add_factcheck(cell: TaskCell, values: SystemValues, card: Scorecard, rank_by: RankBy) -> None:
    """A used fact-check: verdict counts for the micro ratios, per-report ratios for the macro ones, citations."""
    fc = card.factcheck
    assert fc is not None
    cell.used_factcheck = True
    judged = fc.counts.right + fc.counts.wrong + fc.counts.unknown
    if judged:
        for label in _LABELS:
            values.micro[label].append(getattr(fc.counts, label))
            values.series[f"{label}_macro"].append(getattr(fc.counts, label) / judged)
        values.micro["verdicts"].append(judged)
        cell.right = fc.counts.right / judged
        if rank_by == "right":
            values.rank[cell.task_id] = cell.right
            values.rank_samples[cell.task_id] = []
    if fc.agreement is not None and fc.agreement.value is not None:
        values.series["jury_kappa"].append(fc.agreement.value)
    if fc.citation_accuracy is not None:
        values.series["accuracy"].append(fc.citation_accuracy)
    if fc.citation_reachability is not None:
        values.series["reachability"].append(fc.citation_reachability)


def _quality_used(card: Scorecard, include_partial: bool) -> bool:
    q = card.quality
    return (
        q is not None
        and q.total is not None
        and (q.status == "complete" or (include_partial and q.status == "partial"))
    )


def _factcheck_used(card: Scorecard, include_partial: bool) -> bool:
    fc = card.factcheck
    return fc is not None and (fc.status == "complete" or (include_partial and fc.status == "partial"))


def _specific(card: Scorecard, kinds: dict[str, str], general: dict[str, str]) -> float | None:
    """The weighted mean of a report's task-specific dimensions: each task has its own, so only this summary of
    them compares across tasks; none unless every one was judged."""
    assert card.quality is not None
    dims = [
        (d.weight, d.score, d.status)
        for dim_id, d in card.quality.dimension_scores.items()
        if kinds.get(dim_id, "general" if dim_id in general else "specific") == "specific"
    ]
    if not dims or any(score is None or status != "complete" for _, score, status in dims):
        return None
    scored = [(w, s) for w, s, _ in dims if s is not None]  # every one of them, checked above
    weight = sum(w for w, _ in scored)
    if weight <= 0:
        return sum(s for _, s in scored) / len(scored)
    return sum(w * s for w, s in scored) / weight


def estimate_row(row: SystemRow, values: SystemValues, context: RowContext) -> None:
    """The row's means with their intervals; general dimensions first in the general rubric's order."""
    options, series, dims = context.options, values.series, values.dims
    ci = options.interval
    row.quality = ci(series["total"], values.samples if options.judge_variance else None)
    row.specific = ci(series["specific"])
    row.dimensions = {dim_id: ci(dims[dim_id]) for dim_id in context.general if dim_id in dims}
    row.dimensions.update({dim_id: ci(v) for dim_id, v in sorted(dims.items()) if dim_id not in context.general})
    for label in _LABELS:
        micro = stats.bootstrap_ratio(
            values.micro[label],
            values.micro["verdicts"],
            resamples=options.resamples,
            seed=options.seed,
            level=options.level,
        )
        setattr(row, f"{label}_micro", Estimate.of(micro))
        setattr(row, f"{label}_macro", ci(series[f"{label}_macro"]))
    row.claims = int(sum(values.micro["verdicts"]))
    row.citation_accuracy = ci(series["accuracy"])
    row.citation_reachability = ci(series["reachability"])
    row.tokens, row.cost, row.seconds = ci(series["tokens"]), ci(series["cost"]), ci(series["seconds"])
    row.jury_alpha, row.jury_kappa = ci(series["jury_alpha"]), ci(series["jury_kappa"])
    noise = stats.judge_noise(series["total"], values.samples)
    if noise is not None:
        row.judge_variance = JudgeVariance(**noise.__dict__)
