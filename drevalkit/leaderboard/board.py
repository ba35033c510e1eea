"""The leaderboard: every system's results gathered from a results folder, counted, averaged with bootstrap
confidence intervals over tasks, and ranked on the tasks all ranked systems share, with paired tests of each
neighbouring gap and rank bands under Holm's correction.

Nothing is dropped silently: per system, results are counted as complete, partial and failed, and tasks of the task
set (``--tasks``, else the union of tasks any system has) with no result as missing; unreadable result files are
counted apart and listed with why (dreval's own outputs filed among the results, such as a leaderboard, are
ignored and listed). A value enters a mean only when the part that produced it is complete (quality for the totals and
dimensions, the fact-check for ratios and citation figures), or partial too with ``include_partial``; how many
tasks stand behind each mean is part of it. Results scored with different rubrics for one task, different judges,
prompt versions or score-affecting options are refused, or with ``allow_mixed`` kept and flagged.

``build_leaderboard`` runs the phases in order: group the results by system, settle the task set, collect each
system's values task by task, turn them into estimates, rank on the shared tasks, and describe the method.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .. import stats
from ..layout import OutputLayout, card_paths
from ..render.scorecard import general_dimensions
from ..schemas import Scorecard
from .coverage import coverage_problems
from .models import RANK_METRICS, Leaderboard, LeaderboardError, Method, RankBy, SystemRow
from .ranking import rank_systems
from .results import (
    FoundResults,
    distinct_roots,
    find_results,
    judge_label,
    mixing,
    output_folder,
    output_root,
    relative_path,
    rubric_kinds,
)
from .rows import BoardOptions, Cells, RowContext, SystemValues, collect_row, estimate_row

NO_JUDGE_VARIANCE = (
    "--judge-variance: there was no judge variance to include (no result has samples > 1; "
    "score with --samples N to judge each report more than once)"
)


def build_leaderboard(
    path: Path | Sequence[Path],
    *,
    task_ids: list[str] | None = None,
    task_source: str = "",
    resamples: int = stats.DEFAULT_RESAMPLES,
    seed: int = stats.DEFAULT_SEED,
    level: float = stats.DEFAULT_LEVEL,
    alpha: float = 0.05,
    judge_variance: bool = False,
    include_partial: bool = False,
    allow_mixed: bool = False,
    rank_by: RankBy = "quality",
    page_root: Path | None = None,
) -> Leaderboard:
    """The leaderboard of every result under ``path``, or under each of several folders (shards scored on several
    machines, systems scored apart: one system's results in several folders are merged). ``task_ids``: the task set
    missing results are counted against (default: the union of tasks seen); ``judge_variance``: intervals of the
    total quality resample the judge samples within tasks too; ``page_root``: the output folder whose ``html/``
    holds the scorecards of the first folder (links to the others' are relative to it)."""
    paths = [Path(path)] if isinstance(path, (str, Path)) else [Path(p) for p in path]
    roots = distinct_roots(paths)
    found = _find_all(paths)
    if not found.cards and not found.unreadable:
        raise LeaderboardError(f"{', '.join(map(str, paths))}: no result files (results/<system>/<task>.json)")
    mixed = _comparable(found, allow_mixed)
    problems: list[str] = []
    by_system, unreadable = _group_by_system(found, roots, problems)
    task_set, source = _task_set(by_system, task_ids, task_source, problems)
    covered = {system: set(cells) for system, cells in by_system.items()}
    problems += coverage_problems([output_folder(r) for r in roots], covered, task_set, task_ids is not None)
    judge_variance = _judge_variance(found, judge_variance, problems)
    options = BoardOptions(resamples, seed, level, alpha, judge_variance, include_partial, rank_by)
    kinds = {key: value for root in roots for key, value in rubric_kinds(root).items()}
    pages = OutputLayout(page_root or output_root(paths[0]))
    others = tuple((root, OutputLayout(output_folder(root))) for root in roots[1:])
    context = RowContext(options, task_set, roots[0], pages, general_dimensions(), kinds, others)
    rows, values = _system_rows(by_system, unreadable, context)
    ranked, shared, gaps = rank_systems(rows, values, options, len(task_set), problems)
    order = {row.system: i for i, row in enumerate(ranked)}
    rows.sort(key=lambda r: (r.system not in order, order.get(r.system, 0), r.system))
    cards = [card for card, _ in found.cards]
    return Leaderboard(
        results_dir=str(roots[0]),
        results_dirs=[str(root) for root in roots],
        task_set=source,
        tasks=task_set,
        shared_tasks=shared,
        method=_method(options, len(ranked)),
        systems=rows,
        gaps=gaps,
        dimension_names={d: context.general.get(d, d) for row in rows for d in row.dimensions},
        problems=problems,
        mixed=mixed,
        judges=sorted({judge_label(card) for card in cards}),
        judge_cards=_judge_cards(roots, cards),
        prompt_versions=_prompt_versions(cards),
    )


# ---------------------------------------------------------------------------------------- gathering the results


def _find_all(paths: list[Path]) -> FoundResults:
    """The results of every folder, in the order given."""
    found = FoundResults([], [])
    for path in paths:
        more = find_results(path)
        found.cards += more.cards
        found.unreadable += more.unreadable
        found.ignored += more.ignored
    return found


def _comparable(found: FoundResults, allow_mixed: bool) -> list[str]:
    """What differs between the results; refused unless ``allow_mixed``, when it is shown instead."""
    mixed = mixing(card for card, _ in found.cards)
    if mixed and not allow_mixed:
        raise LeaderboardError(
            "these results cannot be compared: "
            + "; ".join(mixed)
            + " (score them again alike, or pass --allow-mixed to show them flagged)"
        )
    return mixed


def _group_by_system(
    found: FoundResults, roots: list[Path], problems: list[str]
) -> tuple[dict[str, Cells], dict[str, int]]:
    """Each system's result per task (of two for one task, in one folder or in two, the later), and how many
    unreadable files each has: a broken file counts for the system whose folder it is in, so a system with only
    broken files still has a row."""
    by_system: dict[str, Cells] = {}
    for card, file in found.cards:
        cells = by_system.setdefault(card.system, {})
        if card.task_id in cells:
            kept = max(cells[card.task_id], (card, file), key=lambda item: item[0].provenance.finished_at)
            problems.append(
                f"two results for {card.system} / {card.task_id} ({cells[card.task_id][1]}, {file}); "
                f"the later one is used ({kept[1]})"
            )
            cells[card.task_id] = kept
        else:
            cells[card.task_id] = (card, file)
    folder_systems: dict[str, str] = {}
    for card, file in found.cards:
        folder_systems.setdefault(file.parent.name, card.system)
    unreadable: dict[str, int] = {}
    for file, why in found.unreadable:
        system = folder_systems.get(file.parent.name, file.parent.name if file.parent not in roots else "(unknown)")
        unreadable[system] = unreadable.get(system, 0) + 1
        problems.append(f"{file}: {why}; counted as unreadable for {system}")
        by_system.setdefault(system, {})
    for file, why in found.ignored:
        problems.append(f"{file}: {why}; ignored (it does not belong in the results folder)")
    return by_system, unreadable


def _task_set(
    by_system: dict[str, Cells], task_ids: list[str] | None, task_source: str, problems: list[str]
) -> tuple[list[str], str]:
    """The tasks results are counted against, and where they came from; results outside a given set are said."""
    seen = sorted({task for cells in by_system.values() for task in cells})
    if task_ids is None:
        return seen, "the union of tasks with a result"
    task_set = list(dict.fromkeys(task_ids))
    outside = sorted(set(seen) - set(task_set))
    if outside:
        problems.append(
            f"{len(outside)} result task(s) are not in the task set and are not used: "
            + ", ".join(outside[:10])
            + (" ..." if len(outside) > 10 else "")
        )
    return task_set, task_source or "the given task set"


def _judge_variance(found: FoundResults, wanted: bool, problems: list[str]) -> bool:
    """Whether the intervals can include judge variance: only results judged more than once have any, and the
    method must not claim intervals that include it when there is none."""
    if wanted and not any(card.quality is not None and len(card.quality.samples) > 1 for card, _ in found.cards):
        problems.append(NO_JUDGE_VARIANCE)
        return False
    return wanted


def _system_rows(
    by_system: dict[str, Cells], unreadable: dict[str, int], context: RowContext
) -> tuple[list[SystemRow], dict[str, SystemValues]]:
    """Every system's row with its estimates (in name order), and the values behind them for the ranking."""
    rows, values = [], {}
    for system in sorted(by_system):
        row, values[system] = collect_row(system, by_system[system], context)
        row.unreadable = unreadable.get(system, 0)
        estimate_row(row, values[system], context)
        rows.append(row)
    return rows, values


# ---------------------------------------------------------------------------------------- method and provenance


def _method(options: BoardOptions, ranked: int) -> Method:
    """The method printed with every table, so a reader can tell what the intervals and bands mean."""
    alpha = options.alpha
    correction = (
        ("Holm-Bonferroni over the " + str(ranked - 1) + f" neighbouring comparisons (family-wise error {alpha:g})")
        if ranked > 2
        else ("none needed: one comparison" if ranked == 2 else "none: fewer than two ranked systems")
    )
    return Method(
        intervals=f"{options.level:.0%} percentile bootstrap over tasks ({options.resamples} resamples, "
        f"seed {options.seed})"
        + ("; the total's intervals also resample judge samples within each task" if options.judge_variance else ""),
        level=options.level,
        resamples=options.resamples,
        seed=options.seed,
        paired_test=f"paired bootstrap over shared tasks ({options.resamples} resamples), two-sided, alpha {alpha:g}",
        correction=correction,
        alpha=alpha,
        judge_variance_in_intervals=options.judge_variance,
        include_partial=options.include_partial,
        rank_by=RANK_METRICS[options.rank_by],
    )


def _judge_cards(roots: list[Path], cards: list[Scorecard]) -> dict[str, str]:
    """The judge card (``dreval stress``) of every judge behind the results, when one is filed in an output folder
    the results are in (``OUT/judge-cards/``), relative to the first."""
    outs = [output_folder(root) for root in roots]
    found = {}
    for card in cards:
        for judge in [card.provenance.judge, *card.provenance.jury]:
            for out in outs:
                page = card_paths(out, judge)[1]
                if page.is_file():
                    found[f"{judge.model} · {judge.identity or judge.endpoint or judge.backend}"] = relative_path(
                        page, outs[0]
                    )
                    break
    return dict(sorted(found.items()))


def _prompt_versions(cards: list[Scorecard]) -> dict[str, list[str]]:
    """Every prompt version of each part seen in the results (more than one only with ``allow_mixed``)."""
    versions: dict[str, set[str]] = {}
    for card in cards:
        for part, version in card.provenance.prompt_versions.items():
            versions.setdefault(part, set()).add(version)
    return {part: sorted(v) for part, v in sorted(versions.items())}
