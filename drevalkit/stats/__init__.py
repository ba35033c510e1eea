"""Statistics dreval reports with its figures: bootstrap intervals over tasks and paired gap tests (``bootstrap``;
the leaderboard and the stress probes), and agreement measures between people, dreval and the judges of a jury
(``agreement``). Pure functions over numbers: no other part of dreval is imported here."""

from .agreement import (
    VERDICT_LABELS,
    cohen_kappa,
    confusion,
    fleiss_kappa,
    fleiss_kappa_labels,
    kappa_from_tables,
    krippendorff_alpha,
    machine_preference,
)
from .bootstrap import (
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    MIN_TASKS_FOR_TEST,
    Interval,
    JudgeNoise,
    PairedTest,
    bootstrap_mean,
    bootstrap_ratio,
    bootstrap_sums,
    holm,
    judge_noise,
    paired_bootstrap,
    rank_bands,
)

__all__ = [
    "DEFAULT_LEVEL",
    "DEFAULT_RESAMPLES",
    "DEFAULT_SEED",
    "MIN_TASKS_FOR_TEST",
    "VERDICT_LABELS",
    "Interval",
    "JudgeNoise",
    "PairedTest",
    "bootstrap_mean",
    "bootstrap_ratio",
    "bootstrap_sums",
    "cohen_kappa",
    "confusion",
    "fleiss_kappa",
    "fleiss_kappa_labels",
    "holm",
    "judge_noise",
    "kappa_from_tables",
    "krippendorff_alpha",
    "machine_preference",
    "paired_bootstrap",
    "rank_bands",
]
