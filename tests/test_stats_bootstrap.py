"""Properties of the leaderboard's statistics: seeded bootstrap intervals over tasks, paired tests, Holm's
correction, rank bands and the judge's variance."""

from __future__ import annotations

import numpy as np
import pytest

from drevalkit import stats


def test_bootstrap_is_seeded_and_repeatable():
    values = list(np.random.default_rng(1).normal(6, 1, 40))
    first = stats.bootstrap_mean(values, seed=7)
    assert first == stats.bootstrap_mean(values, seed=7)
    other = stats.bootstrap_mean(values, seed=8)
    assert other.mean == first.mean and (other.low, other.high) != (first.low, first.high)
    assert first.n == 40 and stats.bootstrap_mean([]) is None


def test_interval_covers_the_mean_and_the_truth_about_as_often_as_it_says():
    rng = np.random.default_rng(3)
    covered = 0
    trials = 300
    for trial in range(trials):
        values = rng.normal(5.0, 1.5, 30)
        interval = stats.bootstrap_mean(values, resamples=2000, seed=trial)
        assert interval.low <= interval.mean <= interval.high  # always holds the point estimate
        covered += interval.low <= 5.0 <= interval.high
    # a 95% percentile interval over 30 tasks covers the true mean close to 95% of the time (it runs a little
    # narrow at small n); far off either way would mean a broken resampler
    assert 0.88 <= covered / trials <= 0.99


def test_interval_narrows_with_more_tasks():
    rng = np.random.default_rng(5)
    widths = {}
    for n in (10, 40, 160):
        runs = [stats.bootstrap_mean(rng.normal(6, 1, n), resamples=2000, seed=n) for _ in range(20)]
        widths[n] = float(np.mean([r.high - r.low for r in runs]))
    assert widths[10] > widths[40] > widths[160]
    assert widths[40] / widths[160] == pytest.approx(2.0, rel=0.25)  # 1 / sqrt(n): four times the tasks, half


class _CountingGenerator:
    """A numpy Generator that counts its calls and the random values they return."""

    def __init__(self, generator: np.random.Generator):
        self._generator = generator
        self.calls = 0
        self.values = 0

    def __getattr__(self, name):
        method = getattr(self._generator, name)

        def counted(*args, **kwargs):
            result = method(*args, **kwargs)
            self.calls += 1
            self.values += int(np.size(result))
            return result

        return counted


def test_ten_thousand_resamples_are_drawn_in_a_few_vectorised_calls(monkeypatch):
    """Fast without a clock: every one of the 10,000 resamples draws its 100 tasks, in a few array-sized calls to the
    random generator (a loop per resample would make 10,000), and the intervals are right."""
    generators = []
    seeded = np.random.default_rng

    def counting(seed=None):
        generators.append(_CountingGenerator(seeded(seed)))
        return generators[-1]

    monkeypatch.setattr(np.random, "default_rng", counting)
    values = list(seeded(0).normal(6, 1, 100))
    interval = stats.bootstrap_mean(values)
    paired = stats.paired_bootstrap(values, [v - 0.1 for v in values])
    assert len(generators) == 2
    for generator in generators:
        assert generator.values == stats.DEFAULT_RESAMPLES * 100  # each resample draws all 100 tasks
        assert 1 <= generator.calls <= 4
    # and what they computed: the mean with an interval about 1.96 standard errors either side, and a difference
    # that is 0.1 on every task, so on every resample
    assert interval.n == 100 and interval.mean == pytest.approx(float(np.mean(values)))
    assert interval.low < interval.mean < interval.high
    standard_error = float(np.std(values, ddof=1)) / 10
    assert interval.high - interval.low == pytest.approx(2 * 1.96 * standard_error, rel=0.15)
    assert paired.n == 100 and paired.diff == pytest.approx(0.1)
    assert paired.low == pytest.approx(0.1) and paired.high == pytest.approx(0.1)
    assert paired.p == pytest.approx(2 / (stats.DEFAULT_RESAMPLES + 1))


def test_paired_test_detects_a_planted_difference_an_unpaired_view_misses():
    rng = np.random.default_rng(11)
    difficulty = rng.normal(6, 1.5, 30)  # tasks differ a lot; the systems differ a little, consistently
    a = difficulty + 0.3 + rng.normal(0, 0.15, 30)
    b = difficulty + rng.normal(0, 0.15, 30)
    test = stats.paired_bootstrap(list(a), list(b))
    assert test.p < 0.001 and test.low > 0 and test.diff == pytest.approx(float((a - b).mean()))
    ci_a, ci_b = stats.bootstrap_mean(list(a)), stats.bootstrap_mean(list(b))
    assert ci_a.low < ci_b.high  # the two intervals overlap: comparing them separately would not tell them apart


def test_paired_test_does_not_find_a_null_difference():
    rng = np.random.default_rng(13)
    false_positives = 0
    for trial in range(100):
        difficulty = rng.normal(6, 1.5, 40)
        a = difficulty + rng.normal(0, 0.4, 40)
        b = difficulty + rng.normal(0, 0.4, 40)
        test = stats.paired_bootstrap(list(a), list(b), resamples=2000, seed=trial)
        assert 0 < test.p <= 1
        false_positives += test.p < 0.05
    assert false_positives <= 12  # about 5 expected
    same = stats.paired_bootstrap([5.0, 6.0, 7.0], [5.0, 6.0, 7.0])
    assert same.diff == 0 and same.p == 1.0


def test_paired_test_needs_aligned_tasks():
    with pytest.raises(ValueError):
        stats.paired_bootstrap([1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        stats.paired_bootstrap([], [])


def test_ratio_of_sums_is_a_micro_average_resampled_by_task():
    interval = stats.bootstrap_ratio([8, 1, 9], [10, 10, 10])
    assert interval.mean == pytest.approx(18 / 30)
    assert interval.low < interval.mean < interval.high
    assert stats.bootstrap_ratio([0, 0], [0, 0]) is None
    # a task with many claims weighs more than in the macro mean of per-task ratios
    micro = stats.bootstrap_ratio([90, 0], [100, 1])
    macro = stats.bootstrap_mean([0.9, 0.0])
    assert micro.mean == pytest.approx(90 / 101) and macro.mean == pytest.approx(0.45)


def test_holm_adjustment():
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.5]) == [0.5]
    assert stats.holm([0.001, 0.9]) == pytest.approx([0.002, 0.9])
    raw = list(np.random.default_rng(2).uniform(0, 0.2, 8))
    adjusted = stats.holm(raw)
    assert all(a >= r for a, r in zip(adjusted, raw)) and max(adjusted) <= 1.0
    order = np.argsort(raw)
    assert all(adjusted[order[i]] <= adjusted[order[i + 1]] for i in range(len(raw) - 1))  # monotone


def test_rank_bands_chain_systems_not_told_apart():
    assert stats.rank_bands([]) == [(1, 1)]
    assert stats.rank_bands([True, True]) == [(1, 1), (2, 2), (3, 3)]
    assert stats.rank_bands([False, False]) == [(1, 3)] * 3
    assert stats.rank_bands([True, False, True]) == [(1, 1), (2, 3), (2, 3), (4, 4)]


def test_judge_variance_beside_task_variance_and_in_two_stage_intervals():
    rng = np.random.default_rng(17)
    truth = rng.normal(6, 0.5, 30)
    samples = [list(t + rng.normal(0, 1.0, 3)) for t in truth]  # a noisy judge, three passes per report
    totals = [float(np.mean(s)) for s in samples]
    noise = stats.judge_noise(totals, samples)
    assert noise.samples == 3 and noise.tasks == 30
    assert noise.judge_sd == pytest.approx(1.0, rel=0.25)
    assert noise.task_sd == pytest.approx(float(np.std(totals, ddof=1)))
    assert noise.judge_se == pytest.approx(1.0 / np.sqrt(3) / np.sqrt(30), rel=0.3)
    plain = stats.bootstrap_mean(totals)
    nested = stats.bootstrap_mean(totals, samples=samples)
    assert nested.mean == plain.mean
    assert nested.high - nested.low > plain.high - plain.low  # the judge's variance widens the interval
    assert stats.judge_noise(totals, [[t] for t in totals]) is None  # one pass: nothing to say
    paired = stats.paired_bootstrap(
        totals, [t - 0.2 for t in totals], samples_a=samples, samples_b=[[t - 0.2] for t in totals]
    )
    assert paired.diff == pytest.approx(0.2) and paired.high - paired.low > 0


# ---------------------------------------------------------------------------------- cluster bootstrap of sums


def test_bootstrap_sums_is_the_cluster_bootstrap_behind_bootstrap_ratio():
    top, bottom = [3.0, 0.0, 5.0, 2.0], [4.0, 2.0, 5.0, 6.0]
    counts = np.column_stack([top, bottom])
    ratio = stats.bootstrap_sums(counts, lambda s: s[:, 0] / s[:, 1], resamples=3000, seed=4)
    assert ratio == stats.bootstrap_ratio(top, bottom, resamples=3000, seed=4)
    assert ratio.mean == pytest.approx(10 / 17) and ratio.n == 4
    # counts of any shape: a 2x2 table per cluster, a statistic of the pooled table
    tables = np.asarray([[[4, 0], [0, 4]], [[0, 4], [4, 0]]], dtype=float)
    share = stats.bootstrap_sums(tables, lambda t: np.trace(t, axis1=1, axis2=2) / t.sum(axis=(1, 2)), resamples=3000)
    assert (share.mean, share.low, share.high, share.n) == (0.5, 0.0, 1.0, 2)
    assert stats.bootstrap_sums(np.zeros((0, 2)), lambda s: s[:, 0]) is None
    assert stats.bootstrap_sums(np.asarray([[0.0, 0.0]]), lambda s: s[:, 0] / s[:, 1]) is None  # undefined
