"""drevalkit: evaluate deep-research agents (adaptive rubric judging and active fact-checking).

The public API: ``score_report`` / ``ascore_report`` score one report from Python; the models (``Task``, ``Report``,
``Rubric``, ``Scorecard``, ...) are the artifacts dreval reads and writes; ``load_settings`` and ``Settings`` are
the configuration; ``load_report`` and ``load_tasks`` read files the way the CLI does; ``Shard`` splits a task set the
way ``--shard K/N`` does.
"""

from typing import Any

from .__version__ import __version__
from .config import Settings, load_settings
from .layout import OutputLayout
from .schemas import (
    Claim,
    Evidence,
    FactCheckResult,
    QualityResult,
    Report,
    Rubric,
    Scorecard,
    Task,
    Verdict,
)
from .shards import Shard


def __getattr__(name: str) -> Any:  # the scoring stack imports spaCy, trafilatura and the SDK: load it on first use
    if name in ("score_report", "ascore_report"):
        from . import scoring

        return getattr(scoring, name)
    if name == "load_report":
        from .ingest.importers import load_report

        return load_report
    if name == "load_tasks":
        from .ingest.task_files import load_tasks

        return load_tasks
    raise AttributeError(f"module 'drevalkit' has no attribute {name!r}")


__all__ = [
    "Claim",
    "Evidence",
    "FactCheckResult",
    "OutputLayout",
    "QualityResult",
    "Report",
    "Rubric",
    "Scorecard",
    "Settings",
    "Shard",
    "Task",
    "Verdict",
    "__version__",
    "ascore_report",
    "load_report",
    "load_settings",
    "load_tasks",
    "score_report",
]
