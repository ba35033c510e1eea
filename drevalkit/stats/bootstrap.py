"""Statistics of the leaderboard: bootstrap confidence intervals over tasks, paired bootstrap tests, Holm's
correction and rank bands, and the judge's own variance.

Every estimate resamples tasks, the unit a benchmark samples: a mean over n tasks is resampled by drawing n tasks
with replacement ``resamples`` times (seeded, so the same inputs give the same intervals) and the interval is the
percentile interval of the resampled means. With repeated judging, each task also carries its judge samples; a
two-stage bootstrap then draws, within each drawn task, that task's samples with replacement, so the interval
includes the judge's variance as well as the variance over tasks. Two systems are compared on the tasks both have:
the differences per task are resampled together (paired), which removes the variance of task difficulty that an
unpaired test would count twice. ``bootstrap_sums`` is the same resampling for any statistic of counts pooled over
clusters (``dreval agree`` resamples reports and tasks with it). Resampling runs vectorised with numpy, in chunks
that bound memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_RESAMPLES = 10_000
DEFAULT_SEED = 0
DEFAULT_LEVEL = 0.95
# Fewer shared tasks than this and no gap is called significant: with 5 tasks even an exact sign test of five
# differences all of one sign gives p = 2/32 > 0.05, while a bootstrap of so few tasks would claim p near 0.
MIN_TASKS_FOR_TEST = 6
_CHUNK_CELLS = 2_000_000  # drawn indices per chunk (16 MB of int64)


@dataclass(frozen=True)
class Interval:
    """A point estimate and its bootstrap percentile interval; ``n`` is the number of tasks (or other clusters)
    behind it."""

    mean: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class PairedTest:
    """``a - b`` on shared tasks: the mean difference, its interval, and a two-sided bootstrap p-value."""

    diff: float
    low: float
    high: float
    p: float
    n: int


def _percentiles(draws: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(draws, [tail, 100.0 - tail])
    return float(low), float(high)


def _chunks(resamples: int, width: int) -> list[int]:
    size = max(1, min(resamples, _CHUNK_CELLS // max(1, width)))
    sizes = [size] * (resamples // size)
    if resamples % size:
        sizes.append(resamples % size)
    return sizes


def _check(resamples: int, level: float) -> None:
    if resamples < 1:
        raise ValueError("resamples must be at least 1")
    if not 0.0 < level < 1.0:
        raise ValueError("the confidence level must be between 0 and 1")


def _task_draws(rng: np.random.Generator, n: int, resamples: int, width: int) -> list[np.ndarray]:
    return [rng.integers(0, n, size=(size, n)) for size in _chunks(resamples, n * width)]


def _padded(samples: Sequence[Sequence[float]], centres: Sequence[float] | None) -> tuple[np.ndarray, np.ndarray]:
    """Judge samples as an (n, m_max) array (padded with 0) and the count per task; when ``centres`` are given,
    each task's samples are shifted to have that mean (the point estimate), keeping their spread."""
    counts = np.array([max(1, len(s)) for s in samples])
    table = np.zeros((len(samples), int(counts.max()) if len(samples) else 1))
    for row, values in enumerate(samples):
        values = list(values) or ([centres[row]] if centres is not None else [0.0])
        array = np.asarray(values, dtype=float)
        if centres is not None:
            array = array - array.mean() + centres[row]
        table[row, : len(array)] = array
    return table, counts


def _nested_means(rng: np.random.Generator, table: np.ndarray, counts: np.ndarray, drawn: np.ndarray) -> np.ndarray:
    """Per resample (rows of ``drawn``): the mean over the drawn tasks of a resample of each one's samples."""
    m_max = table.shape[1]
    chosen = counts[drawn]  # (size, n)
    picks = np.floor(rng.random(drawn.shape + (m_max,)) * chosen[..., None]).astype(np.int64)
    values = table[drawn[..., None], picks]
    used = np.arange(m_max)[None, None, :] < chosen[..., None]
    means: np.ndarray = ((values * used).sum(axis=-1) / chosen).mean(axis=-1)
    return means


def bootstrap_mean(
    values: Sequence[float],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
    samples: Sequence[Sequence[float]] | None = None,
) -> Interval | None:
    """The mean of ``values`` (one per task) with its percentile bootstrap interval over tasks; None for no values.

    With ``samples`` (the judge samples of each task, aligned with ``values``), the bootstrap is two-stage: the
    judge samples of each drawn task are resampled too, so the interval includes the judge's variance."""
    _check(resamples, level)
    data = np.asarray(values, dtype=float)
    n = len(data)
    if n == 0:
        return None
    mean = float(data.mean())
    rng = np.random.default_rng(seed)
    nested = samples is not None and any(len(s) > 1 for s in samples)
    if nested:
        assert samples is not None and len(samples) == n
        table, counts = _padded(samples, list(data))
        draws = np.concatenate(
            [_nested_means(rng, table, counts, drawn) for drawn in _task_draws(rng, n, resamples, table.shape[1])]
        )
    else:
        draws = np.concatenate([data[drawn].mean(axis=1) for drawn in _task_draws(rng, n, resamples, 1)])
    low, high = _percentiles(draws, level)
    return Interval(mean, min(low, mean), max(high, mean), n)


def bootstrap_sums(
    counts: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
) -> Interval | None:
    """A statistic of counts pooled over clusters (tasks, reports) with its cluster bootstrap interval: each resample
    draws the clusters with replacement and sums their counts, so items of one cluster are always drawn together.

    ``counts[i]`` is cluster i's counts (any shape); ``statistic`` maps summed counts stacked on a first axis to one
    value each, NaN where it is undefined (undefined resamples are left out). None for no clusters or an undefined
    point estimate."""
    _check(resamples, level)
    table = np.asarray(counts, dtype=float)
    n = len(table)
    if n == 0:
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        point = float(statistic(table.sum(axis=0)[None])[0])
    if math.isnan(point):
        return None
    columns = table.reshape(n, -1).T
    rng = np.random.default_rng(seed)
    parts = []
    for drawn in _task_draws(rng, n, resamples, 1):
        sums = np.stack([column[drawn].sum(axis=1) for column in columns], axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            parts.append(statistic(sums.reshape((len(drawn),) + table.shape[1:])))
    draws = np.concatenate(parts)
    draws = draws[~np.isnan(draws)]
    low, high = _percentiles(draws, level) if len(draws) else (point, point)
    return Interval(point, min(low, point), max(high, point), n)


def _ratio(sums: np.ndarray) -> np.ndarray:
    return np.where(sums[:, 1] > 0, sums[:, 0] / np.where(sums[:, 1] > 0, sums[:, 1], 1), np.nan)


def bootstrap_ratio(
    numerators: Sequence[float],
    denominators: Sequence[float],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
) -> Interval | None:
    """A ratio of sums over tasks (a micro average, e.g. right claims over all claims with a verdict) with its
    bootstrap interval; tasks are resampled whole, so claims of one report stay together. None when the
    denominators sum to zero."""
    counts = np.column_stack([np.asarray(numerators, dtype=float), np.asarray(denominators, dtype=float)])
    return bootstrap_sums(counts, _ratio, resamples=resamples, seed=seed, level=level)


def paired_bootstrap(
    a: Sequence[float],
    b: Sequence[float],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
    samples_a: Sequence[Sequence[float]] | None = None,
    samples_b: Sequence[Sequence[float]] | None = None,
) -> PairedTest:
    """``mean(a - b)`` over shared tasks (``a[i]`` and ``b[i]`` are the same task), its percentile interval and a
    two-sided p-value: twice the smaller share of resampled differences on either side of zero (with the usual +1
    so it is never 0). With judge samples for both, each drawn task's samples are resampled too."""
    _check(resamples, level)
    first, second = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(first) != len(second):
        raise ValueError("a paired test needs one value of each system per shared task")
    n = len(first)
    if n == 0:
        raise ValueError("no shared tasks to compare")
    diff = float((first - second).mean())
    rng = np.random.default_rng(seed)
    nested = samples_a is not None and samples_b is not None and any(len(s) > 1 for s in (*samples_a, *samples_b))
    if nested:
        assert samples_a is not None and samples_b is not None
        table_a, counts_a = _padded(samples_a, list(first))
        table_b, counts_b = _padded(samples_b, list(second))
        width = table_a.shape[1] + table_b.shape[1]
        draws = np.concatenate(
            [
                _nested_means(rng, table_a, counts_a, drawn) - _nested_means(rng, table_b, counts_b, drawn)
                for drawn in _task_draws(rng, n, resamples, width)
            ]
        )
    else:
        differences = first - second
        draws = np.concatenate([differences[drawn].mean(axis=1) for drawn in _task_draws(rng, n, resamples, 1)])
    low, high = _percentiles(draws, level)
    total = len(draws)
    at_or_below = int((draws <= 0).sum())
    at_or_above = int((draws >= 0).sum())
    p = min(1.0, 2.0 * min((at_or_below + 1) / (total + 1), (at_or_above + 1) / (total + 1)))
    return PairedTest(diff, min(low, diff), max(high, diff), p, n)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment: family-wise error control over all the given tests, in their order."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[index]))
        adjusted[index] = running
    return adjusted


def rank_bands(separated: Sequence[bool]) -> list[tuple[int, int]]:
    """Rank bands of systems in order, given whether each neighbouring gap is significant (``len(separated)`` is
    one less than the number of systems): (first, last) rank of the band each system is in, 1-based. Systems not
    told apart from their neighbour share its band, so a band can chain several systems."""
    bands: list[list[int]] = [[1]]
    for position, gap in enumerate(separated, start=2):
        if gap:
            bands.append([position])
        else:
            bands[-1].append(position)
    return [(band[0], band[-1]) for band in bands for _ in band]


@dataclass(frozen=True)
class JudgeNoise:
    """How much of the spread is the judge's: with repeated judging, the standard deviation of one report's
    totals between judging passes (pooled over tasks) beside the standard deviation over tasks, and their
    contributions to the standard error of the mean."""

    samples: int  # judging passes per report (the most any task had)
    tasks: int  # tasks with two or more passes
    judge_sd: float
    task_sd: float
    judge_se: float  # the judge's share of the standard error of the mean: sqrt(mean(var_i / m_i) / n)
    task_se: float  # standard error of the mean over tasks: task_sd / sqrt(n)


def judge_noise(totals: Sequence[float], samples: Sequence[Sequence[float]]) -> JudgeNoise | None:
    """The judge's own variance beside the variance over tasks; None without repeated judging."""
    repeated = [np.asarray(s, dtype=float) for s in samples if len(s) >= 2]
    if not repeated or len(totals) < 1:
        return None
    variances = np.array([s.var(ddof=1) for s in repeated])
    counts = np.array([len(s) for s in repeated])
    n = len(totals)
    task_sd = float(np.std(np.asarray(totals, dtype=float), ddof=1)) if n > 1 else 0.0
    return JudgeNoise(
        samples=int(counts.max()),
        tasks=len(repeated),
        judge_sd=float(math.sqrt(variances.mean())),
        task_sd=task_sd,
        judge_se=float(math.sqrt((variances / counts).mean() / n)),
        task_se=task_sd / math.sqrt(n) if n > 1 else 0.0,
    )
