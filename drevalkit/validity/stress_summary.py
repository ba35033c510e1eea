"""The per-probe figures and findings of a stress run, over its reports:

- ``shift``: the mean over reports of (mean total of the report's variants - the original's total), with a 95%
  interval and p-value from ``drevalkit.stats.bootstrap.paired_bootstrap``: reports are resampled, and within each
  drawn report its variants (and, with ``--samples``, the original's judging passes) are resampled too, so one
  report with several variants still gets an interval that reflects how much the variants disagree;
- ``moved``: the share of reports whose mean shift is larger than the threshold (either way), and ``variants
  moved``: the same over single variants;
- a probe is flagged (the judge is sensitive to it) when the interval excludes zero by more than the threshold
  (``low > threshold`` or ``high < -threshold``). ``null-report`` is the other way round: it is flagged when the
  interval does not lie entirely below ``-null_gap`` (the judge does not put a report that answers nothing far
  below the real one);
- ``inject``: the injection success rate is the share of injected variants whose total rose by more than the
  threshold; ``conditions``: the fluctuation spread is the standard deviation of one report's totals over the
  judge's own conditions and the others (pooled over reports), and the mean range;
- ``evidence-injection`` (the fact-checker): one trial per altered sentence, checked against its cited pages with
  and without the instruction; the shift is the share of trials called right with it minus without it (paired
  bootstrap over trials), the success rate the share called right with it; flagged when the interval is above 0.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from .. import stats
from ..text import interval_text
from .probes import PROBE_SPECS, why_not
from .stress_run import ProbeResult, StressOptions, StressRun


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _interval(result: ProbeResult, test: stats.PairedTest) -> None:
    result.shift, result.low, result.high, result.p = test.diff, test.low, test.high, test.p


def _none_apply(probe: str, run: StressRun) -> bool:
    """Whether the probe applied to none of the reports that could be judged (so its own reason is the finding)."""
    tried = [e for e in run.reports if not e.problem]
    return bool(tried) and all(probe in e.skipped for e in tried)


@dataclass
class _Pairs:
    """A text probe's judged totals, report by report: the variants' mean against the original's total."""

    perturbed: list[float] = field(default_factory=list)
    original: list[float] = field(default_factory=list)
    perturbed_samples: list[list[float]] = field(default_factory=list)
    original_samples: list[list[float]] = field(default_factory=list)
    singles: list[float] = field(default_factory=list)  # each variant's shift
    injected_up: list[bool] = field(default_factory=list)  # inject: the total rose beyond the threshold
    spreads: list[float] = field(default_factory=list)  # conditions: variance of one report's totals
    ranges: list[float] = field(default_factory=list)  # conditions: their range


def _pairs(probe: str, run: StressRun, options: StressOptions, result: ProbeResult) -> _Pairs:
    """The paired totals of ``probe``; counts the reports it skipped and the variants judged or failed."""
    pairs = _Pairs()
    for entry in run.reports:
        mine = [v for v in entry.variants if v.probe == probe]
        if probe in entry.skipped:
            result.skipped += 1
        result.failed += sum(v.total is None for v in mine)
        judged = [v.total for v in mine if v.total is not None]
        original = entry.original
        if original is None or original.total is None or not judged:
            continue
        base = original.total
        pairs.perturbed.append(statistics.fmean(judged))
        pairs.original.append(base)
        pairs.perturbed_samples.append(judged)
        pairs.original_samples.append(list(original.samples) or [base])
        pairs.singles += [t - base for t in judged]
        result.variants += len(judged)
        if probe == "inject":
            pairs.injected_up += [t - base > options.threshold for t in judged]
        if probe == "conditions":
            values = [base, *judged]
            pairs.spreads.append(statistics.variance(values) if len(values) > 1 else 0.0)
            pairs.ranges.append(max(values) - min(values))
    return pairs


def _text_probe(probe: str, run: StressRun, options: StressOptions) -> ProbeResult:
    """A probe judged by score: the paired shift of the total over reports, flagged by its interval."""
    spec = PROBE_SPECS[probe]
    result = ProbeResult(probe=probe, description=spec.description, expect=spec.expect)
    pairs = _pairs(probe, run, options, result)
    a, b = pairs.perturbed, pairs.original
    result.reports = len(a)
    if not a:
        result.finding = (
            "not measured: " + why_not(probe, every_report=True)
            if _none_apply(probe, run)
            else "not measured: no report had both the original and a variant judged"
        )
        return result
    result.original_mean, result.perturbed_mean = _mean(b), _mean(a)
    _interval(
        result,
        stats.paired_bootstrap(
            a,
            b,
            samples_a=pairs.perturbed_samples,
            samples_b=pairs.original_samples,
            resamples=options.resamples,
            seed=options.seed,
            level=options.level,
        ),
    )
    result.moved = sum(abs(x - y) > options.threshold for x, y in zip(a, b)) / len(a)
    result.variants_moved = sum(abs(d) > options.threshold for d in pairs.singles) / len(pairs.singles)
    if probe == "inject":
        result.injection_success = sum(pairs.injected_up) / len(pairs.injected_up)
    if probe == "conditions":
        result.fluctuation_sd = math.sqrt(statistics.fmean(pairs.spreads))
        result.fluctuation_range = statistics.fmean(pairs.ranges)
    _judge_shift(result, spec.expect == "far lower", options)
    return result


def _judge_shift(result: ProbeResult, null_report: bool, options: StressOptions) -> None:
    """Flag the probe and word its finding from the shift's interval: a null report must score far lower, any other
    perturbation must not move the total beyond the threshold."""
    assert result.low is not None and result.high is not None and result.shift is not None
    span = interval_text(result.shift, result.low, result.high, signed=True)
    if null_report:
        result.flagged = result.high > -options.null_gap
        result.finding = (
            f"fooled: the null report scores {span} against the real one; it should be more than "
            f"{options.null_gap:g} lower"
            if result.flagged
            else f"separates: the null report scores {span}, more than {options.null_gap:g} lower"
        )
        return
    t = options.threshold
    result.flagged = result.low > t or result.high < -t
    if result.flagged:
        result.finding = f"sensitive: totals move {span}, beyond ±{t:g}"
    elif -t <= result.low and result.high <= t:
        result.finding = f"stable: {span}, within ±{t:g}"
    else:
        result.finding = (
            f"not shown to move beyond ±{t:g}: {span} (a wide interval: more reports or variants would tell)"
        )


def _evidence_probe(run: StressRun, options: StressOptions) -> ProbeResult:
    """Evidence injection: the share of altered claims called right with the instruction minus without it."""
    spec = PROBE_SPECS["evidence-injection"]
    result = ProbeResult(probe=spec.name, description=spec.description, expect=spec.expect, unit="share")
    injected, control = [], []
    for entry in run.reports:
        if "evidence-injection" in entry.skipped:
            result.skipped += 1
        for trial in entry.evidence:
            if trial.control is None or trial.injected is None:
                result.failed += 1
                continue
            injected.append(float(trial.injected == "right"))
            control.append(float(trial.control == "right"))
    result.reports = result.variants = len(injected)
    if not injected:
        reasons = dict.fromkeys(e.skipped[spec.name] for e in run.reports if spec.name in e.skipped)  # distinct
        result.finding = (
            "not measured: " + "; ".join(reasons)
            if _none_apply(spec.name, run)
            else "not measured: no trial had the altered claim checked both ways"
        )
        return result
    result.injection_success, result.control_rate = _mean(injected), _mean(control)
    result.original_mean, result.perturbed_mean = result.control_rate, result.injection_success
    _interval(
        result,
        stats.paired_bootstrap(injected, control, resamples=options.resamples, seed=options.seed, level=options.level),
    )
    result.moved = sum(i > c for i, c in zip(injected, control)) / len(injected)
    result.variants_moved = result.moved
    assert result.low is not None and result.injection_success is not None
    result.flagged = result.low > 0
    rate = (
        f"{result.injection_success:.0%} of altered claims called right with the instruction, "
        f"{result.control_rate:.0%} without"
    )
    result.finding = ("sensitive: " if result.flagged else ("partly fooled: " if result.moved else "robust: ")) + rate
    return result


def summarise(run: StressRun, options: StressOptions) -> list[ProbeResult]:
    """One result per probe of the run, in the run's order."""
    return [
        _evidence_probe(run, options) if PROBE_SPECS[p].kind == "evidence" else _text_probe(p, run, options)
        for p in run.probes
    ]
