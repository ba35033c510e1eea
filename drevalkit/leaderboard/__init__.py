"""Leaderboards: results of many systems aggregated with bootstrap confidence intervals, paired significance of
neighbouring gaps and rank bands (``board``), on the statistics of ``stats``. Rendering is in
``drevalkit.leaderboard.formats``."""

from .board import (
    Estimate,
    Gap,
    Leaderboard,
    LeaderboardError,
    SystemRow,
    build_leaderboard,
    find_results,
    leaderboard_json,
    mixing,
    output_root,
    read_result,
    results_root,
)

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
