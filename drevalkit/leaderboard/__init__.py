"""Leaderboards: results of many systems aggregated with bootstrap confidence intervals, paired significance of
neighbouring gaps and rank bands (``board``), on the statistics of ``stats``. What a leaderboard holds is in
``models``, finding and reading the result files in ``results``, and rendering in ``formats``."""

from .board import build_leaderboard
from .models import Estimate, Gap, Leaderboard, LeaderboardError, SystemRow, leaderboard_json
from .results import find_results, mixing, output_root, read_result, results_root

__all__ = [
    "Estimate",
    "Gap",
    "Leaderboard",
    "LeaderboardError",
    "SystemRow",
    "build_leaderboard",
    "find_results",
    "leaderboard_json",
    "mixing",
    "output_root",
    "read_result",
    "results_root",
]
