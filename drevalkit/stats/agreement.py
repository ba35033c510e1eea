"""Agreement statistics: between dreval and people (``dreval agree``) and between the judges of a jury.

- ``confusion``, ``cohen_kappa``: two raters of nominal labels (people and dreval); kappa is
  ``(p_o - p_e) / (1 - p_e)`` with the chance agreement ``p_e`` from each rater's own label shares;
- ``fleiss_kappa``: any fixed number of raters per item (the judges of a jury on each claim), ``(P - P_e) / (1 - P_e)``
  with ``P`` the mean pairwise agreement within items and ``P_e`` the sum of squared category shares;
- ``krippendorff_alpha``: interval data with missing values (the judges' scores of each criterion),
  ``1 - D_o / D_e`` from the coincidences of the values within units (``D_o``) and over all pairable values
  (``D_e``); units with fewer than two values are not pairable and are left out;
- ``machine_preference``: dreval's order of two reports from their totals (a tie within a margin).

``kappa_from_tables`` computes kappa for many confusion tables at once, so ``dreval agree`` can compute it on every
resample of its cluster bootstrap (``drevalkit.validity.agree``). ``None`` means a statistic is undefined (no items,
or no variation to agree on).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

VERDICT_LABELS = ("right", "wrong", "unknown")
DISPUTED_MAX = 5  # disputed items a jury agreement lists


def confusion(human: Sequence[str], machine: Sequence[str], labels: Sequence[str]) -> list[list[int]]:
    """Counts with people's labels as rows and dreval's as columns, both in the order of ``labels``."""
    index = {label: i for i, label in enumerate(labels)}
    table = [[0] * len(labels) for _ in labels]
    for h, m in zip(human, machine, strict=True):
        table[index[h]][index[m]] += 1
    return table


def kappa_from_tables(counts: np.ndarray) -> np.ndarray:
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
    value = kappa_from_tables(np.asarray([confusion(human, machine, labels)]))[0]
    return None if np.isnan(value) else float(value)


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
    expected = float((shares**2).sum())
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


def machine_preference(total_a: float, total_b: float, tie_margin: float = 0.0) -> str:
    difference = total_a - total_b
    if abs(difference) <= tie_margin:
        return "tie"
    return "a" if difference > 0 else "b"
