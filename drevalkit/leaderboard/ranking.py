"""Ranking on the shared tasks: the systems with a value for the ranking metric are compared only on the tasks
they all have, each neighbouring gap gets a paired bootstrap test (Holm-adjusted), and systems whose gap is not
significant share a rank band. With too few shared tasks no gap is tested and the ranked systems share one band."""

from __future__ import annotations

from .. import stats
from .models import Gap, SystemRow
from .rows import BoardOptions, SystemValues


def rank_systems(
    rows: list[SystemRow], values: dict[str, SystemValues], options: BoardOptions, tasks: int, problems: list[str]
) -> tuple[list[SystemRow], list[str], list[Gap]]:
    """The ranked rows in rank order, the shared tasks they are ranked on, and the gaps between neighbours; rows
    that cannot be ranked say why, and each ranked row gets its rank band."""
    for row in rows:
        if not values[row.system].rank:
            row.unranked_reason = f"no task with a {'complete ' if not options.include_partial else ''}" + (
                "quality result" if options.rank_by == "quality" else "fact-check verdict"
            )
    ranked = [row for row in rows if values[row.system].rank]
    shared = sorted(set.intersection(*(set(values[r.system].rank) for r in ranked))) if ranked else []
    if not shared:
        for row in ranked:
            row.unranked_reason = "the ranked systems share no task with a value, so they cannot be compared"
        return [], [], []
    for row in ranked:
        row.shared = options.interval(*_on_shared(values[row.system], shared, options))
    ranked.sort(key=lambda r: (-(r.shared.mean or 0.0), r.system))
    pairs = [(values[upper.system], values[lower.system]) for upper, lower in zip(ranked, ranked[1:])]
    if len(shared) >= stats.MIN_TASKS_FOR_TEST:
        gaps = _tested_gaps(pairs, shared, options)
    else:
        gaps = _untested_gaps(pairs, shared)
        if pairs:
            problems.append(
                f"no gap is tested: the ranked systems share {len(shared)} task(s), fewer than "
                f"the {stats.MIN_TASKS_FOR_TEST} a paired test needs, so they share one rank band"
            )
    for row, (first, last) in zip(ranked, stats.rank_bands([gap.significant for gap in gaps])):
        row.rank_low, row.rank_high = first, last
        row.rank = str(first) if first == last else f"{first}-{last}"
    if len(shared) < tasks:
        problems.append(
            f"the ranking rests on the {len(shared)} of {tasks} tasks that every ranked "
            "system has a value for; means over each system's own tasks are shown beside it"
        )
    return ranked, shared, gaps


def _on_shared(
    values: SystemValues, shared: list[str], options: BoardOptions
) -> tuple[list[float], list[list[float]] | None]:
    """A system's ranking metric on the shared tasks, and its judge samples when they widen the intervals."""
    samples = [values.rank_samples[t] for t in shared] if options.judge_variance else None
    return [values.rank[t] for t in shared], samples


def _tested_gaps(pairs: list[tuple[SystemValues, SystemValues]], shared: list[str], options: BoardOptions) -> list[Gap]:
    """Paired bootstrap tests of each neighbouring gap, Holm-adjusted when there is more than one."""
    tests = []
    for upper, lower in pairs:
        a, samples_a = _on_shared(upper, shared, options)
        b, samples_b = _on_shared(lower, shared, options)
        tests.append(
            stats.paired_bootstrap(
                a,
                b,
                resamples=options.resamples,
                seed=options.seed,
                level=options.level,
                samples_a=samples_a,
                samples_b=samples_b,
            )
        )
    adjusted = stats.holm([t.p for t in tests]) if len(tests) > 1 else [t.p for t in tests]
    return [
        Gap(
            upper=upper.system,
            lower=lower.system,
            diff=test.diff,
            low=test.low,
            high=test.high,
            p=test.p,
            p_adjusted=p_adj,
            significant=p_adj < options.alpha,
            tasks=test.n,
        )
        for (upper, lower), test, p_adj in zip(pairs, tests, adjusted)
    ]


def _untested_gaps(pairs: list[tuple[SystemValues, SystemValues]], shared: list[str]) -> list[Gap]:
    """Too few shared tasks for a test: each gap is the mean difference, with a note saying why it is untested."""
    note = f"not tested: {len(shared)} shared task(s), fewer than the {stats.MIN_TASKS_FOR_TEST} a paired test needs"
    return [
        Gap(
            upper=upper.system,
            lower=lower.system,
            diff=sum(upper.rank[t] - lower.rank[t] for t in shared) / len(shared),
            tasks=len(shared),
            note=note,
        )
        for upper, lower in pairs
    ]
