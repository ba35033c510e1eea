"""What a leaderboard is made of: the per-system rows of means with their intervals, the tested gaps between
neighbours and the method behind them. Kept apart from how they are computed so the formats and the CLI can use
them without the statistics."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, Field

from .. import stats
from ..__version__ import __version__
from ..errors import DrevalError
from ..schemas import utc_now

RankBy = Literal["quality", "right"]
RANK_METRICS = {"quality": "mean total quality (0-10)", "right": "right ratio, macro over reports"}


class LeaderboardError(DrevalError, ValueError):
    """Results that do not make a leaderboard (none found, or mixed without ``allow_mixed``)."""


class Estimate(BaseModel):
    """A mean over tasks with its bootstrap interval; ``n`` tasks stand behind it."""

    mean: float | None = None
    low: float | None = None
    high: float | None = None
    n: int = 0

    @classmethod
    def of(cls, interval: stats.Interval | None) -> Estimate:
        """One task gives a mean but no interval (resampling one value says nothing about the spread)."""
        if interval is None:
            return cls()
        if interval.n < 2:
            return cls(mean=interval.mean, n=interval.n)
        return cls(mean=interval.mean, low=interval.low, high=interval.high, n=interval.n)


class JudgeVariance(BaseModel):
    samples: int = Field(description="judging passes per report (the most any task had)")
    tasks: int = Field(description="tasks judged two or more times")
    judge_sd: float = Field(description="standard deviation of one report's total between judging passes, pooled")
    task_sd: float = Field(description="standard deviation of the totals over tasks")
    judge_se: float = Field(description="the judge's part of the standard error of the mean")
    task_se: float = Field(description="standard error of the mean over tasks")


class TaskCell(BaseModel):
    """One system's result on one task, as the leaderboard used it."""

    task_id: str
    status: Literal["complete", "partial", "failed", "missing", "unreadable"]
    total: float | None = None
    right: float | None = None
    used_quality: bool = False
    used_factcheck: bool = False
    result: str = Field(default="", description="the result file, relative to the (first) results folder")
    scorecard: str = Field(default="", description="the scorecard page, relative to the (first) output folder")
    reasons: list[str] = Field(default_factory=list)


class SystemRow(BaseModel):
    system: str
    rank: str = Field(default="", description="rank band: '1', '2-4'; empty when not ranked")
    rank_low: int | None = None
    rank_high: int | None = None
    unranked_reason: str = ""
    results: int = 0
    complete: int = 0
    partial: int = 0
    failed: int = 0
    missing: int = 0
    unreadable: int = 0
    outside_task_set: int = Field(default=0, description="results for tasks not in the task set (not used)")
    quality: Estimate = Field(default_factory=Estimate, description="mean total over the tasks it has")
    shared: Estimate = Field(default_factory=Estimate, description="the ranking metric on the shared tasks")
    dimensions: dict[str, Estimate] = Field(default_factory=dict, description="general dimensions, by id")
    specific: Estimate = Field(
        default_factory=Estimate,
        description="task-specific dimensions: per report the weighted mean of its own task's specific dimensions",
    )
    right_micro: Estimate = Field(default_factory=Estimate)
    wrong_micro: Estimate = Field(default_factory=Estimate)
    unknown_micro: Estimate = Field(default_factory=Estimate)
    right_macro: Estimate = Field(default_factory=Estimate)
    wrong_macro: Estimate = Field(default_factory=Estimate)
    unknown_macro: Estimate = Field(default_factory=Estimate)
    claims: int = Field(default=0, description="claims with a verdict behind the micro ratios")
    factcheck_failed: int = Field(default=0, description="results whose fact-check failed (no claim of them counts)")
    citation_accuracy: Estimate = Field(default_factory=Estimate)
    citation_reachability: Estimate = Field(default_factory=Estimate)
    tokens: Estimate = Field(
        default_factory=Estimate,
        description="judging tokens per report (prompt + "
        "completion): spent when scoring plus the original tokens of answers served from the "
        "LLM cache",
    )
    cost: Estimate = Field(default_factory=Estimate, description="judging cost per report, counted as the tokens")
    from_cache: int = Field(default=0, description="results scored (partly) from LLM cache answers")
    from_cache_unpriced: int = Field(
        default=0,
        description="of them, results without the original usage of their "
        "cached answers (scored by an older dreval): their tokens and cost count only "
        "the calls made when scoring",
    )
    seconds: Estimate = Field(default_factory=Estimate)
    judge_variance: JudgeVariance | None = None
    jury_alpha: Estimate = Field(
        default_factory=Estimate,
        description="with a jury: mean Krippendorff's alpha of its judges over each report's criteria",
    )
    jury_kappa: Estimate = Field(
        default_factory=Estimate, description="with a jury: mean Fleiss' kappa of its judges over each report's claims"
    )
    tasks: list[TaskCell] = Field(default_factory=list)


class Gap(BaseModel):
    """A paired bootstrap test between two systems adjacent in the ranking, on their shared tasks; with fewer
    than ``stats.MIN_TASKS_FOR_TEST`` shared tasks no test is made (``p`` is None, ``note`` says why)."""

    upper: str
    lower: str
    diff: float
    low: float | None = None
    high: float | None = None
    p: float | None = None
    p_adjusted: float | None = None
    significant: bool = False
    tasks: int
    note: str = ""


class Method(BaseModel):
    intervals: str
    level: float
    resamples: int
    seed: int
    paired_test: str
    correction: str
    alpha: float
    judge_variance_in_intervals: bool
    include_partial: bool
    rank_by: str


class Leaderboard(BaseModel):
    dreval_version: str = __version__
    generated_at: str = Field(default_factory=utc_now)
    results_dir: str
    results_dirs: list[str] = Field(
        default_factory=list, description="every results folder read, the first being results_dir"
    )
    task_set: str = Field(description="where the task set came from: a task file, or the union of tasks seen")
    tasks: list[str]
    shared_tasks: list[str] = Field(default_factory=list, description="tasks every ranked system has a value for")
    method: Method
    systems: list[SystemRow]
    gaps: list[Gap] = Field(default_factory=list)
    dimension_names: dict[str, str] = Field(default_factory=dict)
    problems: list[str] = Field(
        default_factory=list,
        description="unreadable files, duplicate results, tasks outside the task set, missing shards and tasks",
    )
    mixed: list[str] = Field(default_factory=list, description="what differs between the results (allow_mixed)")
    judges: list[str] = Field(default_factory=list)
    judge_cards: dict[str, str] = Field(
        default_factory=dict, description="judge -> its judge card page (dreval stress), relative to the output folder"
    )
    prompt_versions: dict[str, list[str]] = Field(default_factory=dict)


def leaderboard_json(board: Leaderboard) -> str:
    return json.dumps(board.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
