"""Agreement statistics: between dreval and people (``dreval agree``) and between the judges of a jury.

- ``confusion``, ``cohen_kappa``: two raters of nominal labels (people and dreval); kappa is
  ``(p_o - p_e) / (1 - p_e)`` with the chance agreement ``p_e`` from each rater's own label shares;
- ``fleiss_kappa``: any fixed number of raters per item (the judges of a jury on each claim), ``(P - P_e) / (1 - P_e)``
  with ``P`` the mean pairwise agreement within items and ``P_e`` the sum of squared category shares;
- ``krippendorff_alpha``: interval data with missing values (the judges' scores of each criterion),
  ``1 - D_o / D_e`` from the coincidences of the values within units (``D_o``) and over all pairable values
  (``D_e``); units with fewer than two values are not pairable and are left out;
- ``preference_agreement``: how often dreval's totals order two reports as a person did.

Every interval comes from ``drevalkit.leaderboard.stats``: shares (accuracy, pairwise agreement) are a
``bootstrap_mean`` of 0/1 (or 0, 1/2, 1) scores, precision and recall a ``bootstrap_ratio`` of counts, both over
items (claims, pairs); kappa, which is neither a mean nor a ratio of sums, is computed on the same seeded resamples of
items that module draws, with its percentile interval. Claims of one report are not independent, so with few reports
the intervals are optimistic. ``None`` means a statistic is undefined (no items, or no variation to agree on).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..leaderboard import stats

VERDICT_LABELS = ("right", "wrong", "unknown")


def confusion(human: Sequence[str], machine: Sequence[str], labels: Sequence[str]) -> list[list[int]]:
    """Counts with people's labels as rows and dreval's as columns, both in the order of ``labels``."""
    index = {label: i for i, label in enumerate(labels)}
    table = [[0] * len(labels) for _ in labels]
    for h, m in zip(human, machine, strict=True):
        table[index[h]][index[m]] += 1
    return table


def _kappa_from_counts(counts: np.ndarray) -> np.ndarray:
    """Cohen's kappa of confusion tables stacked on the first axis (NaN where chance agreement is 1)."""
    n = counts.sum(axis=(1, 2)).astype(float)
    observed = np.trace(counts, axis1=1, axis2=2) / n
    expected = (counts.sum(axis=2) * counts.sum(axis=1)).sum(axis=1) / (n * n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(expected < 1.0, (observed - expected) / (1.0 - expected), np.nan)


def cohen_kappa(human: Sequence[str], machine: Sequence[str], labels: Sequence[str] | None = None) -> float | None:
    """Cohen's kappa of two raters; None for no items or when both always give the same single label."""
    if not human:
        return None
    labels = list(labels or sorted(set(human) | set(machine)))
    value = _kappa_from_counts(np.asarray([confusion(human, machine, labels)]))[0]
    return None if np.isnan(value) else float(value)


def kappa_interval(human: Sequence[str], machine: Sequence[str], labels: Sequence[str] | None = None, *,
                   resamples: int = stats.DEFAULT_RESAMPLES, seed: int = stats.DEFAULT_SEED,
                   level: float = stats.DEFAULT_LEVEL) -> stats.Interval | None:
    """Cohen's kappa with a percentile interval over resampled items (the leaderboard's seeded draws)."""
    point = cohen_kappa(human, machine, labels)
    if point is None:
        return None
    stats._check(resamples, level)
    labels = list(labels or sorted(set(human) | set(machine)))
    index = {label: i for i, label in enumerate(labels)}
    k = len(labels)
    codes = np.asarray([index[h] * k + index[m] for h, m in zip(human, machine)])
    rng = np.random.default_rng(seed)
    parts = []
    for drawn in stats._task_draws(rng, len(codes), resamples, k * k):
        sample = codes[drawn]
        counts = np.stack([(sample == c).sum(axis=1) for c in range(k * k)], axis=1).reshape(-1, k, k)
        parts.append(_kappa_from_counts(counts))
    draws = np.concatenate(parts)
    draws = draws[~np.isnan(draws)]
    low, high = stats._percentiles(draws, level) if len(draws) else (point, point)
    return stats.Interval(point, min(low, point), max(high, point), len(codes))


def share_interval(scores: Sequence[float], *, resamples: int = stats.DEFAULT_RESAMPLES,
                   seed: int = stats.DEFAULT_SEED, level: float = stats.DEFAULT_LEVEL) -> stats.Interval | None:
    """The mean of per-item scores (1 agree, 0 not; 1/2 for a half) with its bootstrap interval over items."""
    return stats.bootstrap_mean(list(scores), resamples=resamples, seed=seed, level=level)


@dataclass(frozen=True)
class LabelStats:
    label: str
    human: int  # items people gave this label
    machine: int  # items dreval gave it
    both: int
    precision: stats.Interval | None  # of dreval's label: both / machine
    recall: stats.Interval | None  # of people's label found by dreval: both / human


def per_label(human: Sequence[str], machine: Sequence[str], labels: Sequence[str], *,
              resamples: int = stats.DEFAULT_RESAMPLES, seed: int = stats.DEFAULT_SEED,
              level: float = stats.DEFAULT_LEVEL) -> list[LabelStats]:
    """Precision and recall of each label, each a ratio of counts with its bootstrap interval over items."""
    rows = []
    for label in labels:
        both = [float(h == label and m == label) for h, m in zip(human, machine)]
        said = [float(m == label) for m in machine]
        truth = [float(h == label) for h in human]
        options = dict(resamples=resamples, seed=seed, level=level)
        rows.append(LabelStats(label, int(sum(truth)), int(sum(said)), int(sum(both)),
                               stats.bootstrap_ratio(both, said, **options) if human else None,
                               stats.bootstrap_ratio(both, truth, **options) if human else None))
    return rows


# --------------------------------------------------------------------------------------------------- juries

def fleiss_kappa(counts: Sequence[Sequence[int]]) -> float | None:
    """Fleiss' kappa from per-item category counts (each row sums to the same number of raters, at least 2);
    None for no items, fewer than two raters, or a single category used throughout."""
    table = np.asarray(counts, dtype=float)
    if table.ndim != 2 or table.shape[0] == 0:
        return None
    raters = table.sum(axis=1)
    if not np.all(raters == raters[0]):
        raise ValueError("Fleiss' kappa needs the same number of ratings for every item")
    if raters[0] < 2:
        return None
    n = raters[0]
    agreement = ((table * (table - 1)).sum(axis=1) / (n * (n - 1))).mean()
    shares = table.sum(axis=0) / table.sum()
    expected = float((shares ** 2).sum())
    if expected >= 1.0:
        return None
    return float((agreement - expected) / (1.0 - expected))


def fleiss_kappa_labels(ratings: Sequence[Sequence[str]], categories: Sequence[str] | None = None) -> float | None:
    """Fleiss' kappa of items each rated by the same raters: ``ratings[i]`` holds item i's labels."""
    if not ratings:
        return None
    categories = list(categories or sorted({label for item in ratings for label in item}))
    counts = [[Counter(item)[c] for c in categories] for item in ratings]
    return fleiss_kappa(counts)


def krippendorff_alpha(units: Sequence[Sequence[float | None]]) -> float | None:
    """Krippendorff's alpha for interval data: ``units[u]`` holds every coder's value for unit u (None: missing).
    Units with fewer than two values cannot be paired and are left out; None when fewer than two pairable values
    remain or they do not vary at all."""
    pairable = [np.asarray([v for v in unit if v is not None], dtype=float) for unit in units]
    pairable = [values for values in pairable if len(values) >= 2]
    if not pairable:
        return None
    n = sum(len(values) for values in pairable)
    observed = sum(((values[:, None] - values[None, :]) ** 2).sum() / (len(values) - 1) for values in pairable) / n
    every = np.concatenate(pairable)
    expected = ((every[:, None] - every[None, :]) ** 2).sum() / (n * (n - 1))
    if expected == 0:
        return None
    return float(1.0 - observed / expected)


# ---------------------------------------------------------------------------------------- pairwise preferences

@dataclass(frozen=True)
class PreferenceAgreement:
    pairs: int  # pairs with both reports scored
    human_ties: int
    machine_ties: int  # pairs whose totals differ by no more than the tie margin
    agreement: stats.Interval | None  # over pairs a person preferred one of: dreval's tie counts 1/2
    strict: stats.Interval | None  # the same with dreval's ties counted as disagreement
    with_ties: stats.Interval | None  # over all pairs: dreval's order (a, b or tie) is the person's


def machine_preference(total_a: float, total_b: float, tie_margin: float = 0.0) -> str:
    difference = total_a - total_b
    if abs(difference) <= tie_margin:
        return "tie"
    return "a" if difference > 0 else "b"


def preference_agreement(human: Sequence[str], totals: Sequence[tuple[float, float]], tie_margin: float = 0.0, *,
                         resamples: int = stats.DEFAULT_RESAMPLES, seed: int = stats.DEFAULT_SEED,
                         level: float = stats.DEFAULT_LEVEL) -> PreferenceAgreement:
    """``human[i]`` is 'a', 'b' or 'tie' for pair i, whose totals (a, b) dreval gave."""
    machine = [machine_preference(a, b, tie_margin) for a, b in totals]
    decided = [(h, m) for h, m in zip(human, machine) if h != "tie"]
    half = [1.0 if h == m else (0.5 if m == "tie" else 0.0) for h, m in decided]
    strict = [float(h == m) for h, m in decided]
    exact = [float(h == m) for h, m in zip(human, machine)]
    options = dict(resamples=resamples, seed=seed, level=level)
    return PreferenceAgreement(
        pairs=len(machine), human_ties=sum(h == "tie" for h in human), machine_ties=machine.count("tie"),
        agreement=share_interval(half, **options), strict=share_interval(strict, **options),
        with_ties=share_interval(exact, **options),
    )
