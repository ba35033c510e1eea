"""The leaderboard: every system's results gathered from a results folder, counted, averaged with bootstrap
confidence intervals over tasks, and ranked on the tasks all ranked systems share, with paired tests of each
neighbouring gap and rank bands under Holm's correction.

Nothing is dropped silently: per system, results are counted as complete, partial and failed, and tasks of the task
set (``--tasks``, else the union of tasks any system has) with no result as missing; unreadable result files are
counted apart and listed with why (dreval's own outputs filed among the results, such as a leaderboard, are
ignored and listed). A value enters a mean only when the part that produced it is complete (quality for the totals and
dimensions, the fact-check for ratios and citation figures), or partial too with ``include_partial``; how many
tasks stand behind each mean is part of it. Results scored with different rubrics for one task, different judges,
prompt versions or score-affecting settings are refused, or with ``allow_mixed`` kept and flagged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from .. import stats
from ..__version__ import __version__
from ..errors import DrevalError
from ..schemas import Scorecard, utc_now

RankBy = Literal["quality", "right"]
RANK_METRICS = {"quality": "mean total quality (0-10)", "right": "right ratio, macro over reports"}


NO_JUDGE_VARIANCE = (
    "--judge-variance: there was no judge variance to include (no result has samples > 1; "
    "score with --samples N to judge each report more than once)"
)


class LeaderboardError(DrevalError, ValueError):
    """Results that do not make a leaderboard (none found, or mixed without ``allow_mixed``)."""


class Estimate(BaseModel):
    """A mean over tasks with its bootstrap interval; ``n`` tasks stand behind it."""

    mean: float | None = None
    low: float | None = None
    high: float | None = None
    n: int = 0

    @classmethod
    def of(cls, interval: stats.Interval | None) -> "Estimate":
        """One task gives a mean but no interval (resampling one value says nothing about the spread)."""
        if interval is None:
            return cls()
        if interval.n < 2:
            return cls(mean=interval.mean, n=interval.n)
        return cls(mean=interval.mean, low=interval.low, high=interval.high, n=interval.n)


class JudgeVariance(BaseModel):
    samples: int = Field(description="judging passes per report (the most any task had)")
    tasks: int = Field(description="tasks judged two or more times")
    judge_sd: float = Field(description="standard deviation of one report's total between judging passes, pooled")
    task_sd: float = Field(description="standard deviation of the totals over tasks")
    judge_se: float = Field(description="the judge's part of the standard error of the mean")
    task_se: float = Field(description="standard error of the mean over tasks")


class TaskCell(BaseModel):
    """One system's result on one task, as the leaderboard used it."""

    task_id: str
    status: Literal["complete", "partial", "failed", "missing", "unreadable"]
    total: float | None = None
    right: float | None = None
    used_quality: bool = False
    used_factcheck: bool = False
    result: str = Field(default="", description="the result file, relative to the results folder")
    scorecard: str = Field(default="", description="the scorecard page, relative to the results folder's root")
    reasons: list[str] = Field(default_factory=list)


class SystemRow(BaseModel):
    system: str
    rank: str = Field(default="", description="rank band: '1', '2-4'; empty when not ranked")
    rank_low: int | None = None
    rank_high: int | None = None
    unranked_reason: str = ""
    results: int = 0
    complete: int = 0
    partial: int = 0
    failed: int = 0
    missing: int = 0
    unreadable: int = 0
    outside_task_set: int = Field(default=0, description="results for tasks not in the task set (not used)")
    quality: Estimate = Field(default_factory=Estimate, description="mean total over the tasks it has")
    shared: Estimate = Field(default_factory=Estimate, description="the ranking metric on the shared tasks")
    dimensions: dict[str, Estimate] = Field(default_factory=dict, description="general dimensions, by id")
    specific: Estimate = Field(
        default_factory=Estimate,
        description="task-specific dimensions: per report the weighted mean of its own task's specific dimensions",
    )
    right_micro: Estimate = Field(default_factory=Estimate)
    wrong_micro: Estimate = Field(default_factory=Estimate)
    unknown_micro: Estimate = Field(default_factory=Estimate)
    right_macro: Estimate = Field(default_factory=Estimate)
    wrong_macro: Estimate = Field(default_factory=Estimate)
    unknown_macro: Estimate = Field(default_factory=Estimate)
    claims: int = Field(default=0, description="claims with a verdict behind the micro ratios")
    citation_accuracy: Estimate = Field(default_factory=Estimate)
    citation_reachability: Estimate = Field(default_factory=Estimate)
    tokens: Estimate = Field(
        default_factory=Estimate,
        description="judging tokens per report (prompt + "
        "completion): spent when scoring plus the original tokens of answers served from the "
        "LLM cache",
    )
    cost: Estimate = Field(default_factory=Estimate, description="judging cost per report, counted as the tokens")
    from_cache: int = Field(default=0, description="results scored (partly) from LLM cache answers")
    from_cache_unpriced: int = Field(
        default=0,
        description="of them, results without the original usage of their "
        "cached answers (scored by an older dreval): their tokens and cost count only "
        "the calls made when scoring",
    )
    seconds: Estimate = Field(default_factory=Estimate)
    judge_variance: JudgeVariance | None = None
    jury_alpha: Estimate = Field(
        default_factory=Estimate,
        description="with a jury: mean Krippendorff's alpha of its judges over each report's criteria",
    )
    jury_kappa: Estimate = Field(
        default_factory=Estimate, description="with a jury: mean Fleiss' kappa of its judges over each report's claims"
    )
    tasks: list[TaskCell] = Field(default_factory=list)


class Gap(BaseModel):
    """A paired bootstrap test between two systems adjacent in the ranking, on their shared tasks; with fewer
    than ``stats.MIN_TASKS_FOR_TEST`` shared tasks no test is made (``p`` is None, ``note`` says why)."""

    upper: str
    lower: str
    diff: float
    low: float | None = None
    high: float | None = None
    p: float | None = None
    p_adjusted: float | None = None
    significant: bool = False
    tasks: int
    note: str = ""


class Method(BaseModel):
    intervals: str
    level: float
    resamples: int
    seed: int
    paired_test: str
    correction: str
    alpha: float
    judge_variance_in_intervals: bool
    include_partial: bool
    rank_by: str


class Leaderboard(BaseModel):
    dreval_version: str = __version__
    generated_at: str = Field(default_factory=utc_now)
    results_dir: str
    task_set: str = Field(description="where the task set came from: a task file, or the union of tasks seen")
    tasks: list[str]
    shared_tasks: list[str] = Field(default_factory=list, description="tasks every ranked system has a value for")
    method: Method
    systems: list[SystemRow]
    gaps: list[Gap] = Field(default_factory=list)
    dimension_names: dict[str, str] = Field(default_factory=dict)
    problems: list[str] = Field(
        default_factory=list, description="unreadable files, duplicate results, tasks outside the task set"
    )
    mixed: list[str] = Field(default_factory=list, description="what differs between the results (allow_mixed)")
    judges: list[str] = Field(default_factory=list)
    judge_cards: dict[str, str] = Field(
        default_factory=dict, description="judge -> its judge card page (dreval stress), relative to the output folder"
    )
    prompt_versions: dict[str, list[str]] = Field(default_factory=dict)


@dataclass
class _Found:
    cards: list[tuple[Scorecard, Path]]
    unreadable: list[tuple[Path, str]]
    ignored: list[tuple[Path, str]] = field(default_factory=list)


# what dreval writes that is not a result: by name (when the file is not a valid result, so a task named "run"
# still counts), and by its marker, a top-level ``dreval_version`` (results carry theirs in ``provenance``)
_OWN_NAMES = {
    "leaderboard.json": "a dreval leaderboard",
    "run.json": "a dreval run manifest",
    "agreement.json": "a dreval agreement report (dreval agree)",
    "urls.json": "a dreval URL map",
    "factcheck.json": "a dreval stress fact-check",
}
_OWN_SUFFIXES = {".quality.json": "a dreval stress quality result", ".meta.json": "a report's metadata sidecar"}
_OWN_MARKERS = (
    (("systems", "method"), "a dreval leaderboard"),
    (("jobs", "scored"), "a dreval run manifest"),
    (("labels_file",), "a dreval agreement report (dreval agree)"),
    (("key", "judge"), "a dreval judge card (dreval stress)"),
)


@dataclass
class ResultFile:
    """One ``.json`` file read as a result: the Scorecard, or why it is none; ``own`` when it is one of dreval's
    own outputs (a leaderboard, a run manifest, a judge card...), which a results folder may hold by mistake."""

    card: Scorecard | None
    why: str = ""
    own: bool = False


def _own_output(file: Path, data: object) -> str:
    if isinstance(data, dict) and "dreval_version" in data and "provenance" not in data:
        for keys, what in _OWN_MARKERS:
            if all(key in data for key in keys):
                return what
        return "a dreval output file"
    for suffix, what in _OWN_SUFFIXES.items():
        if file.name.endswith(suffix):
            return what
    return _OWN_NAMES.get(file.name, "")


def read_result(file: Path) -> ResultFile:
    """The result in ``file``, or why it is not one in words a user can act on: the file cannot be read, is not
    valid JSON (with where), is dreval's own output, or is JSON that is not a Scorecard (with the first error)."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return ResultFile(None, f"cannot be read ({getattr(exc, 'strerror', None) or exc})")
    try:
        return ResultFile(Scorecard.model_validate_json(text))
    except ValidationError as exc:
        error = exc
    if not text.strip():
        return ResultFile(None, "an empty file, not a dreval result")
    try:
        data = json.loads(text)
    except ValueError as exc:
        where = f" (line {exc.lineno} column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        return ResultFile(None, f"not valid JSON{where}")
    own = _own_output(file, data)
    if own:
        return ResultFile(None, f"{own}, not a result", own=True)
    lines = str(error).strip().splitlines()
    first = lines[0] if lines else type(error).__name__
    if len(lines) > 2:  # "N validation errors for Scorecard", then the first field and its message
        first += f": {lines[1].strip()} {lines[2].strip()}"
    return ResultFile(None, f"not a dreval result ({first[:200]})")


def results_root(path: Path) -> Path:
    """The results folder: ``OUT/results`` for an output folder, the folder itself when it is a results folder,
    and its parent for one system's folder inside a results folder (``OUT/results/<system>``), an easy mistake
    that must not make a leaderboard of one system nor write one into the results."""
    path = Path(path)
    if (path / "results").is_dir():
        return path / "results"
    if _system_folder(path):
        return path.parent
    return path


def _system_folder(path: Path) -> bool:
    """A folder of result files (no folders of them) inside a folder named ``results``."""
    return (
        path.parent.name == "results"
        and path.is_dir()
        and any(path.glob("*.json"))
        and not any(sub.is_dir() and any(sub.glob("*.json")) for sub in path.iterdir())
    )


def output_root(path: Path) -> Path:
    """The output folder whose ``leaderboard.*`` and ``html/`` go with the results of ``path`` (an output folder,
    its results folder or a system folder in it); never a folder inside ``results/``."""
    root = results_root(path)
    return root.parent if root.name == "results" else root


def find_results(path: Path) -> _Found:
    """Every result file under ``path`` (an output folder, its ``results`` folder or a system folder in it); files
    that are not valid results are listed with why, and dreval's own outputs among them apart."""
    root = results_root(path)
    if not root.is_dir():
        raise LeaderboardError(f"{path}: no such folder")
    found = _Found([], [])
    for file in sorted(root.rglob("*.json")):
        if file.name.startswith("."):
            continue
        read = read_result(file)
        if read.card is not None:
            found.cards.append((read.card, file))
        else:
            (found.ignored if read.own else found.unreadable).append((file, read.why))
    return found


def _judge_key(card: Scorecard) -> str:
    j = card.provenance.judge
    parts = [j.backend, j.model, j.identity or j.endpoint, j.model_sha256[:12], j.structured_output]
    return " · ".join(p for p in parts if p)


def mixing(cards: Iterable[Scorecard]) -> list[str]:
    """What differs between results that a comparison needs equal: the rubric of a task, the judge, the prompt
    version of a part, the score-affecting settings (config hash), the number of judging samples."""
    cards = list(cards)
    problems = []
    rubrics: dict[str, dict[str, list[str]]] = {}
    for card in cards:
        if card.quality is not None and card.quality.rubric_hash:
            rubrics.setdefault(card.task_id, {}).setdefault(card.quality.rubric_hash, []).append(card.system)
    for task, hashes in sorted(rubrics.items()):
        if len(hashes) > 1:
            described = "; ".join(f"{h} ({', '.join(sorted(set(s)))})" for h, s in sorted(hashes.items()))
            problems.append(f"task {task} was scored with {len(hashes)} different rubrics: {described}")

    def differing(label: str, key) -> None:  # type: ignore[no-untyped-def]
        groups: dict[str, set[str]] = {}
        for card in cards:
            value = key(card)
            if value is not None:
                groups.setdefault(value, set()).add(card.system)
        if len(groups) > 1:
            described = "; ".join(
                f"{value or '(none)'} ({', '.join(sorted(systems))})" for value, systems in sorted(groups.items())
            )
            problems.append(f"results were scored with different {label}: {described}")

    differing("judges", _judge_key)
    parts = sorted({part for card in cards for part in card.provenance.prompt_versions})
    for part in parts:
        differing(f"{part} prompt versions", lambda c, part=part: c.provenance.prompt_versions.get(part))
    differing("score-affecting settings (config hash)", lambda c: c.provenance.config_hash)
    differing("numbers of judging samples", lambda c: str(c.provenance.samples))
    return problems


def _general_names() -> dict[str, str]:
    from ..render.scorecard import general_dimensions

    return general_dimensions()


def _rubric_kinds(root: Path) -> dict[str, dict[str, str]]:
    """Dimension kinds per rubric hash, from the frozen rubrics of the output folder (when there)."""
    from ..schemas import Rubric

    kinds: dict[str, dict[str, str]] = {}
    folder = root.parent / "rubrics" if root.name == "results" else root / "rubrics"
    if folder.is_dir():
        for file in folder.glob("*.json"):
            try:
                rubric = Rubric.model_validate_json(file.read_text(encoding="utf-8"))
            except (OSError, ValidationError, ValueError):
                continue
            kinds[rubric.hash or rubric.content_hash()] = {d.id: d.kind for d in rubric.dimensions}
    return kinds


def _quality_used(card: Scorecard, include_partial: bool) -> bool:
    q = card.quality
    return (
        q is not None
        and q.total is not None
        and (q.status == "complete" or (include_partial and q.status == "partial"))
    )


def _factcheck_used(card: Scorecard, include_partial: bool) -> bool:
    fc = card.factcheck
    return fc is not None and (fc.status == "complete" or (include_partial and fc.status == "partial"))


def _specific(card: Scorecard, kinds: dict[str, str], general: dict[str, str]) -> float | None:
    assert card.quality is not None
    dims = [
        (d.weight, d.score, d.status)
        for dim_id, d in card.quality.dimension_scores.items()
        if kinds.get(dim_id, "general" if dim_id in general else "specific") == "specific"
    ]
    if not dims or any(score is None or status != "complete" for _, score, status in dims):
        return None
    weight = sum(w for w, _, _ in dims)
    if weight <= 0:
        return sum(s for _, s, _ in dims) / len(dims)  # type: ignore[misc]
    return sum(w * s for w, s, _ in dims) / weight  # type: ignore[operator]


def build_leaderboard(
    path: Path,
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
    """The leaderboard of every result under ``path``. ``task_ids``: the task set missing results are counted
    against (default: the union of tasks seen); ``judge_variance``: intervals of the total quality resample the
    judge samples within tasks too; ``page_root``: the output folder whose ``html/`` holds the scorecards."""
    root = results_root(path)
    found = find_results(path)
    if not found.cards and not found.unreadable:
        raise LeaderboardError(f"{path}: no result files (results/<system>/<task>.json)")
    mixed = mixing(card for card, _ in found.cards)
    if mixed and not allow_mixed:
        raise LeaderboardError(
            "these results cannot be compared: "
            + "; ".join(mixed)
            + " (score them again alike, or pass --allow-mixed to show them flagged)"
        )
    problems: list[str] = []
    by_system: dict[str, dict[str, tuple[Scorecard, Path]]] = {}
    for card, file in found.cards:
        cell = by_system.setdefault(card.system, {})
        if card.task_id in cell:
            kept = max(cell[card.task_id], (card, file), key=lambda item: item[0].provenance.finished_at)
            problems.append(
                f"two results for {card.system} / {card.task_id} ({cell[card.task_id][1]}, {file}); "
                f"the later one is used ({kept[1]})"
            )
            cell[card.task_id] = kept
        else:
            cell[card.task_id] = (card, file)
    folder_systems: dict[str, str] = {}
    for card, file in found.cards:
        folder_systems.setdefault(file.parent.name, card.system)
    unreadable_by_system: dict[str, list[tuple[Path, str]]] = {}
    for file, why in found.unreadable:
        system = folder_systems.get(file.parent.name, file.parent.name if file.parent != root else "(unknown)")
        unreadable_by_system.setdefault(system, []).append((file, why))
        problems.append(f"{file}: {why}; counted as unreadable for {system}")
        by_system.setdefault(system, {})
    for file, why in found.ignored:
        problems.append(f"{file}: {why}; ignored (it does not belong in the results folder)")

    seen = sorted({task for cells in by_system.values() for task in cells})
    if task_ids is not None:
        task_set = list(dict.fromkeys(task_ids))
        source = task_source or "the given task set"
        outside = sorted(set(seen) - set(task_set))
        if outside:
            problems.append(
                f"{len(outside)} result task(s) are not in the task set and are not used: "
                + ", ".join(outside[:10])
                + (" ..." if len(outside) > 10 else "")
            )
    else:
        task_set = seen
        source = "the union of tasks with a result"
    in_set = set(task_set)
    general = _general_names()
    kinds_by_rubric = _rubric_kinds(root)
    page_root = page_root or output_root(path)

    from ..layout import OutputLayout

    layout = OutputLayout(page_root)
    if judge_variance and not any(
        card.quality is not None and len(card.quality.samples) > 1 for card, _ in found.cards
    ):
        judge_variance = False  # so the method does not claim intervals that include it
        problems.append(NO_JUDGE_VARIANCE)
    rows: list[SystemRow] = []
    rank_values: dict[str, dict[str, float]] = {}
    rank_samples: dict[str, dict[str, list[float]]] = {}
    for system in sorted(by_system):
        cells = by_system[system]
        row = SystemRow(system=system)
        row.unreadable = len(unreadable_by_system.get(system, []))
        values: dict[str, list[float]] = {
            k: []
            for k in (
                "total",
                "specific",
                "right_macro",
                "wrong_macro",
                "unknown_macro",
                "accuracy",
                "reachability",
                "tokens",
                "cost",
                "seconds",
                "jury_alpha",
                "jury_kappa",
            )
        }
        dims: dict[str, list[float]] = {}
        micro: dict[str, list[float]] = {"right": [], "wrong": [], "unknown": [], "verdicts": []}
        samples: list[list[float]] = []
        rank_values[system], rank_samples[system] = {}, {}
        for task in task_set:
            if task not in cells:
                row.missing += 1
                row.tasks.append(TaskCell(task_id=task, status="missing"))
                continue
            card, file = cells[task]
            page = layout.scorecard(card.system, card.task_id)
            cell = TaskCell(
                task_id=task,
                status=card.status,
                reasons=card.reasons[:5],
                result=file.relative_to(root).as_posix(),
                scorecard=page.relative_to(page_root).as_posix() if page.is_file() else "",
            )
            row.results += 1
            setattr(row, card.status, getattr(row, card.status) + 1)
            if card.report_ref is not None:
                u = card.usage
                values["tokens"].append(
                    u.prompt_tokens + u.completion_tokens + u.from_cache_prompt_tokens + u.from_cache_completion_tokens
                )
                values["cost"].append(u.cost + u.from_cache_cost)
                values["seconds"].append(card.seconds)
                if u.cache_hits:
                    row.from_cache += 1
                    # scored before dreval kept the original usage of cached answers (or from a judge that
                    # reports none): its cost and tokens count only the calls made when scoring
                    row.from_cache_unpriced += not (u.from_cache_prompt_tokens or u.from_cache_completion_tokens)
            if _quality_used(card, include_partial):
                assert card.quality is not None and card.quality.total is not None
                if card.quality.agreement is not None and card.quality.agreement.value is not None:
                    values["jury_alpha"].append(card.quality.agreement.value)
                cell.used_quality, cell.total = True, card.quality.total
                values["total"].append(card.quality.total)
                samples.append(list(card.quality.samples))
                kinds = kinds_by_rubric.get(card.quality.rubric_hash, {})
                for dim_id, dim in card.quality.dimension_scores.items():
                    kind = kinds.get(dim_id, "general" if dim_id in general else "specific")
                    if kind == "general" and dim.score is not None and dim.status == "complete":
                        dims.setdefault(dim_id, []).append(dim.score)
                specific = _specific(card, kinds, general)
                if specific is not None:
                    values["specific"].append(specific)
                if rank_by == "quality":
                    rank_values[system][task] = card.quality.total
                    rank_samples[system][task] = list(card.quality.samples)
            if _factcheck_used(card, include_partial):
                fc = card.factcheck
                assert fc is not None
                cell.used_factcheck = True
                judged = fc.counts.right + fc.counts.wrong + fc.counts.unknown
                if judged:
                    for label in ("right", "wrong", "unknown"):
                        micro[label].append(getattr(fc.counts, label))
                        values[f"{label}_macro"].append(getattr(fc.counts, label) / judged)
                    micro["verdicts"].append(judged)
                    cell.right = fc.counts.right / judged
                    if rank_by == "right":
                        rank_values[system][task] = cell.right
                        rank_samples[system][task] = []
                if fc.agreement is not None and fc.agreement.value is not None:
                    values["jury_kappa"].append(fc.agreement.value)
                if fc.citation_accuracy is not None:
                    values["accuracy"].append(fc.citation_accuracy)
                if fc.citation_reachability is not None:
                    values["reachability"].append(fc.citation_reachability)
            row.tasks.append(cell)
        row.outside_task_set = sum(1 for task in cells if task not in in_set)

        def ci(data: list[float], extra: list[list[float]] | None = None) -> Estimate:
            return Estimate.of(stats.bootstrap_mean(data, resamples=resamples, seed=seed, level=level, samples=extra))

        row.quality = ci(values["total"], samples if judge_variance else None)
        row.specific = ci(values["specific"])
        row.dimensions = {dim_id: ci(dims[dim_id]) for dim_id in general if dim_id in dims}
        row.dimensions.update({dim_id: ci(v) for dim_id, v in sorted(dims.items()) if dim_id not in general})
        for label in ("right", "wrong", "unknown"):
            setattr(
                row,
                f"{label}_micro",
                Estimate.of(
                    stats.bootstrap_ratio(micro[label], micro["verdicts"], resamples=resamples, seed=seed, level=level)
                ),
            )
            setattr(row, f"{label}_macro", ci(values[f"{label}_macro"]))
        row.claims = int(sum(micro["verdicts"]))
        row.citation_accuracy = ci(values["accuracy"])
        row.citation_reachability = ci(values["reachability"])
        row.tokens, row.cost, row.seconds = ci(values["tokens"]), ci(values["cost"]), ci(values["seconds"])
        row.jury_alpha, row.jury_kappa = ci(values["jury_alpha"]), ci(values["jury_kappa"])
        noise = stats.judge_noise(values["total"], samples)
        if noise is not None:
            row.judge_variance = JudgeVariance(**noise.__dict__)
        rows.append(row)

    ranked = [row for row in rows if rank_values[row.system]]
    for row in rows:
        if not rank_values[row.system]:
            row.unranked_reason = f"no task with a {'complete ' if not include_partial else ''}" + (
                "quality result" if rank_by == "quality" else "fact-check verdict"
            )
    shared = sorted(set.intersection(*(set(rank_values[r.system]) for r in ranked))) if ranked else []
    gaps: list[Gap] = []
    if ranked and not shared:
        for row in ranked:
            row.unranked_reason = "the ranked systems share no task with a value, so they cannot be compared"
        ranked = []
    if ranked:
        for row in ranked:
            row.shared = Estimate.of(
                stats.bootstrap_mean(
                    [rank_values[row.system][t] for t in shared],
                    resamples=resamples,
                    seed=seed,
                    level=level,
                    samples=[rank_samples[row.system][t] for t in shared] if judge_variance else None,
                )
            )
        ranked.sort(key=lambda r: (-(r.shared.mean or 0.0), r.system))
        pairs = list(zip(ranked, ranked[1:]))
        if len(shared) >= stats.MIN_TASKS_FOR_TEST:
            tests = [
                stats.paired_bootstrap(
                    [rank_values[upper.system][t] for t in shared],
                    [rank_values[lower.system][t] for t in shared],
                    resamples=resamples,
                    seed=seed,
                    level=level,
                    samples_a=[rank_samples[upper.system][t] for t in shared] if judge_variance else None,
                    samples_b=[rank_samples[lower.system][t] for t in shared] if judge_variance else None,
                )
                for upper, lower in pairs
            ]
            adjusted = stats.holm([t.p for t in tests]) if len(tests) > 1 else [t.p for t in tests]
            separated = [p < alpha for p in adjusted]
            for (upper, lower), test, p_adj, sig in zip(pairs, tests, adjusted, separated):
                gaps.append(
                    Gap(
                        upper=upper.system,
                        lower=lower.system,
                        diff=test.diff,
                        low=test.low,
                        high=test.high,
                        p=test.p,
                        p_adjusted=p_adj,
                        significant=sig,
                        tasks=test.n,
                    )
                )
        else:
            separated = [False] * len(pairs)
            note = (
                f"not tested: {len(shared)} shared task(s), fewer than the {stats.MIN_TASKS_FOR_TEST} a "
                "paired test needs"
            )
            for upper, lower in pairs:
                diff = sum(rank_values[upper.system][t] - rank_values[lower.system][t] for t in shared) / len(shared)
                gaps.append(Gap(upper=upper.system, lower=lower.system, diff=diff, tasks=len(shared), note=note))
            if pairs:
                problems.append(
                    f"no gap is tested: the ranked systems share {len(shared)} task(s), fewer than "
                    f"the {stats.MIN_TASKS_FOR_TEST} a paired test needs, so they share one rank band"
                )
        for row, (first, last) in zip(ranked, stats.rank_bands(separated)):
            row.rank_low, row.rank_high = first, last
            row.rank = str(first) if first == last else f"{first}-{last}"
        if len(shared) < len(task_set):
            problems.append(
                f"the ranking rests on the {len(shared)} of {len(task_set)} tasks that every ranked "
                "system has a value for; means over each system's own tasks are shown beside it"
            )
    order = {row.system: i for i, row in enumerate(ranked)}
    rows.sort(key=lambda r: (r.system not in order, order.get(r.system, 0), r.system))

    k = len(ranked)
    correction = (
        ("Holm-Bonferroni over the " + str(k - 1) + f" neighbouring comparisons (family-wise error {alpha:g})")
        if k > 2
        else ("none needed: one comparison" if k == 2 else "none: fewer than two ranked systems")
    )
    method = Method(
        intervals=f"{level:.0%} percentile bootstrap over tasks ({resamples} resamples, seed {seed})"
        + ("; the total's intervals also resample judge samples within each task" if judge_variance else ""),
        level=level,
        resamples=resamples,
        seed=seed,
        paired_test=f"paired bootstrap over shared tasks ({resamples} resamples), two-sided, alpha {alpha:g}",
        correction=correction,
        alpha=alpha,
        judge_variance_in_intervals=judge_variance,
        include_partial=include_partial,
        rank_by=RANK_METRICS[rank_by],
    )
    dimension_names = {d: general.get(d, d) for row in rows for d in row.dimensions}
    judges = sorted({_judge_key(card) for card, _ in found.cards})
    judge_cards = _judge_cards(root, [card for card, _ in found.cards])
    versions: dict[str, set[str]] = {}
    for card, _ in found.cards:
        for part, version in card.provenance.prompt_versions.items():
            versions.setdefault(part, set()).add(version)
    return Leaderboard(
        results_dir=str(root),
        task_set=source,
        tasks=task_set,
        shared_tasks=shared,
        method=method,
        systems=rows,
        gaps=gaps,
        dimension_names=dimension_names,
        problems=problems,
        mixed=mixed,
        judges=judges,
        judge_cards=judge_cards,
        prompt_versions={part: sorted(v) for part, v in sorted(versions.items())},
    )


def _judge_cards(root: Path, cards: list[Scorecard]) -> dict[str, str]:
    """The judge card (``dreval stress``) of every judge behind the results, when one is filed in the output folder
    the results are in (``OUT/judge-cards/``)."""
    from ..layout import card_paths

    out = root.parent if root.name == "results" else root
    found = {}
    for card in cards:
        for judge in [card.provenance.judge, *card.provenance.jury]:
            page = card_paths(out, judge)[1]
            if page.is_file():
                found[f"{judge.model} · {judge.identity or judge.endpoint or judge.backend}"] = page.relative_to(
                    out
                ).as_posix()
    return dict(sorted(found.items()))


def leaderboard_json(board: Leaderboard) -> str:
    return json.dumps(board.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
