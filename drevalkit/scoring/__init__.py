"""Scoring: jobs (which report against which task), the scorer that composes quality and fact-check into a
Scorecard, batch runs, and ``score_report`` for notebooks and scripts."""

from .api import ascore_report, score_report
from .batch import BatchOutcome, ScorePlan, score_jobs
from .clash import TaskSetClash
from .jobs import REPORT_SUFFIXES, JobError, ScoreJob, build_jobs, collect_reports
from .scorer import Scorer, read_scorecard

__all__ = [
    "REPORT_SUFFIXES",
    "BatchOutcome",
    "JobError",
    "ScoreJob",
    "ScorePlan",
    "Scorer",
    "TaskSetClash",
    "ascore_report",
    "build_jobs",
    "collect_reports",
    "read_scorecard",
    "score_jobs",
    "score_report",
]
