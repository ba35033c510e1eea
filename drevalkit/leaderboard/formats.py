"""The leaderboard as CSV, JSON, Markdown and a self-contained HTML page.

Every mean is printed with its interval and the number of tasks behind it, the method (bootstrap, resamples,
seed, paired test, correction) is printed with every table, and missing, failed and unreadable results are
counted beside the means. System names and task ids are untrusted text: escaped in HTML and Markdown, and CSV
cells that a spreadsheet would read as a formula are prefixed with a quote. The HTML page sorts its tables with a
small inline script that the page's Content-Security-Policy allows by its hash; each cell links to the per-system
breakdown, whose cells link to the scorecards behind them.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..render.page import asset, content_security_policy, environment
from ..text import interval_text, one_line
from .models import Estimate, Gap, Leaderboard, SystemRow, leaderboard_json
from .results import output_folder

FORMATS = ("csv", "json", "md", "html")


def _number(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


# how each kind of estimate is written; any other kind is a score with two decimals
_STYLES: dict[str, dict[str, Any]] = {
    "ratio": {"digits": 0, "percent": True},
    "int": {"digits": 0, "thousands": True},
    "cost": {"digits": 4},
    "seconds": {"digits": 1},
}


def fmt(estimate: Estimate, kind: str = "score") -> str:
    """``6.61 [6.20, 7.01]``; ratios as percentages; an empty estimate as a dash."""
    if estimate.mean is None:
        return "—"
    # a bound of -0.0 is written as 0, not -0.00
    low = None if estimate.low is None else estimate.low or 0.0
    high = None if estimate.high is None else estimate.high or 0.0
    return interval_text(estimate.mean, low, high, no_interval="[no interval: 1 task]", **_STYLES.get(kind, {}))


def counts(row: SystemRow) -> str:
    text = f"{row.complete} complete, {row.partial} partial, {row.failed} failed, {row.missing} missing"
    if row.unreadable:
        text += f", {row.unreadable} unreadable"
    return text


def from_cache(row: SystemRow) -> str:
    """How many of a system's results were scored (partly) from cached answers, and of how many the original cost
    is unknown (those cost cells count only what was spent when scoring)."""
    if not row.from_cache:
        return "0"
    text = f"{row.from_cache} of {row.results}"
    return text + (f" ({row.from_cache_unpriced} without their cost)" if row.from_cache_unpriced else "")


def cost_note(board: Leaderboard) -> str:
    """Cost and tokens depend on the LLM cache: say what they count, and whose are understated."""
    results = sum(row.results for row in board.systems)
    cached = sum(row.from_cache for row in board.systems)
    unpriced = [row for row in board.systems if row.from_cache_unpriced]
    if unpriced:
        return (
            f"Cost and tokens count only the calls made when scoring for {sum(r.from_cache_unpriced for r in unpriced)}"
            f" of {results} results, scored (partly) from the LLM cache by a dreval that did not keep what the "
            "cached answers cost ("
            + ", ".join(f"{r.system}: {r.from_cache_unpriced}" for r in unpriced)
            + "): their cost is understated; score them again to compare costs."
        )
    if cached:
        return (
            f"Cost and tokens per report are the judging cost: the calls made when scoring plus the original "
            f"cost of the cached answers used ({cached} of {results} results were scored (partly) from the LLM "
            "cache)."
        )
    return ""


def method_lines(board: Leaderboard) -> list[str]:
    """How the numbers were made, printed with every table (and by the CLI): a mean means little without it."""
    m = board.method
    lines = [
        f"Ranked by {m.rank_by} on the {len(board.shared_tasks)} tasks every ranked system has a value for "
        f"(task set: {len(board.tasks)} tasks, {board.task_set}).",
        f"Intervals: {m.intervals}. Neighbouring gaps: {m.paired_test}; multiple comparisons: {m.correction}. "
        "Systems whose gap is not significant share a rank band.",
        "Means use " + ("complete and partial" if m.include_partial else "complete") + " parts only (quality for "
        "totals and dimensions, the fact-check for ratios and citations); n is the number of tasks behind a mean. "
        "Right / wrong / unknown: micro = over all claims with a verdict, macro = mean of per-report ratios.",
    ]
    if board.judges:
        lines.append(
            "Judge: "
            + "; ".join(board.judges)
            + ". Prompt versions: "
            + "; ".join(f"{part} {', '.join(v)}" for part, v in board.prompt_versions.items())
            + "."
        )
    if board.judge_cards:
        lines.append(
            "Judge cards (dreval stress): "
            + "; ".join(f"{judge}: {path}" for judge, path in board.judge_cards.items())
            + "."
        )
    note = cost_note(board)
    if note:
        lines.append(note)
    juries = [row for row in board.systems if row.jury_alpha.mean is not None or row.jury_kappa.mean is not None]
    if juries:
        lines.append(
            "Jury agreement, mean over each system's reports (1 = the judges agree fully): "
            + "; ".join(
                f"{row.system}: Krippendorff's alpha {fmt(row.jury_alpha)}, Fleiss' kappa {fmt(row.jury_kappa)}"
                for row in juries
            )
            + "."
        )
    return lines


def _gap_of(board: Leaderboard) -> dict[str, Gap]:
    """Each system's gap to the next one down, by the upper system's name."""
    return {gap.upper: gap for gap in board.gaps}


# ------------------------------------------------------------------------------------------------------ CSV


def _cell(value: object) -> str:
    """One CSV cell on one line; text a spreadsheet would run as a formula gets a leading quote."""
    text = "" if value is None else str(value)
    text = one_line(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# (column name, SystemRow attribute) of every estimate after the dimensions; each becomes mean, low, high, n
_ESTIMATES_AFTER_DIMENSIONS = [
    ("specific", "specific"),
    ("right_micro", "right_micro"),
    ("wrong_micro", "wrong_micro"),
    ("unknown_micro", "unknown_micro"),
    ("right_macro", "right_macro"),
    ("wrong_macro", "wrong_macro"),
    ("unknown_macro", "unknown_macro"),
    ("citation_accuracy", "citation_accuracy"),
    ("citation_reachability", "citation_reachability"),
    ("tokens_per_report", "tokens"),
    ("cost_per_report", "cost"),
    ("seconds_per_report", "seconds"),
]
_COUNT_COLUMNS = [
    "rank",
    "rank_low",
    "rank_high",
    "system",
    "tasks_in_set",
    "results",
    "complete",
    "partial",
    "failed",
    "missing",
    "unreadable",
    "outside_task_set",
    "claims",
    "factcheck_failed",
]
_TRAILING_COLUMNS = [
    "results_from_cache",
    "results_from_cache_without_cost",
    "judge_sd",
    "task_sd",
    "gap_to_next_diff",
    "gap_to_next_low",
    "gap_to_next_high",
    "gap_to_next_p",
    "gap_to_next_p_adjusted",
    "gap_to_next_significant",
    "ranked_on_tasks",
    "interval_method",
    "level",
    "resamples",
    "seed",
    "paired_test",
    "correction",
]


def to_csv(board: Leaderboard) -> str:
    """One row per system; every estimate as mean, low, high, n; the method in the last columns."""
    estimates = [
        ("quality", "quality"),
        ("shared", "shared"),
        *((f"dim_{d}", d) for d in board.dimension_names),
        *_ESTIMATES_AFTER_DIMENSIONS,
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        _COUNT_COLUMNS
        + [f"{name}_{part}" for name, _ in estimates for part in ("mean", "low", "high", "n")]
        + _TRAILING_COLUMNS
    )
    gaps = _gap_of(board)
    m = board.method
    for row in board.systems:
        line: list[object] = [row.rank, row.rank_low, row.rank_high, row.system, len(board.tasks), row.results]
        line += [row.complete, row.partial, row.failed, row.missing, row.unreadable, row.outside_task_set, row.claims]
        line.append(row.factcheck_failed)
        for name, attribute in estimates:
            estimate = row.dimensions.get(attribute, Estimate()) if name.startswith("dim_") else getattr(row, attribute)
            line += [_number(estimate.mean, 6), _number(estimate.low, 6), _number(estimate.high, 6), estimate.n]
        jv = row.judge_variance
        line += [row.from_cache, row.from_cache_unpriced]
        line += [_number(jv.judge_sd, 6), _number(jv.task_sd, 6)] if jv else ["", ""]
        line += _gap_cells(gaps.get(row.system))
        line += [len(board.shared_tasks), m.intervals, m.level, m.resamples, m.seed, m.paired_test, m.correction]
        writer.writerow([_cell(value) for value in line])
    return buffer.getvalue()


def _gap_cells(gap: Gap | None) -> list[object]:
    """The gap to the next system: difference, interval, p, adjusted p, significance; empty for the last one."""
    if gap is None:
        return ["", "", "", "", "", ""]
    return [
        _number(gap.diff, 6),
        _number(gap.low, 6),
        _number(gap.high, 6),
        "" if gap.p is None else f"{gap.p:.6g}",
        "" if gap.p_adjusted is None else f"{gap.p_adjusted:.6g}",
        str(gap.significant).lower(),
    ]


# ------------------------------------------------------------------------------------------------- Markdown


def md_escape(text: str) -> str:
    text = one_line(text)
    out = []
    for char in text:
        if char in "\\`*_[]<>|#~!{}":
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def _md_table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---:" if i in right else "---" for i in range(len(header))) + " |",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def to_markdown(board: Leaderboard) -> str:
    """The method first, then one table per section, then what was mixed and what went wrong."""
    lines = ["# dreval leaderboard", ""]
    lines += [md_escape(line) for line in method_lines(board)]
    lines.append("")
    lines += _md_ranking(board)
    lines += _md_dimensions(board)
    lines += _md_factcheck(board)
    lines += ["", "## Cost per report", ""]
    lines += _md_table(
        ["system", "tokens", "cost", "seconds", "results from the LLM cache"],
        [
            [md_escape(r.system), fmt(r.tokens, "int"), fmt(r.cost, "cost"), fmt(r.seconds, "seconds"), from_cache(r)]
            for r in board.systems
        ],
        {1, 2, 3},
    )
    lines += _md_per_task(board)
    lines += _md_judge_variance(board)
    if board.mixed:
        lines += ["", "## Mixed results (shown because of --allow-mixed)", ""]
        lines += [f"- {md_escape(text)}" for text in board.mixed]
    if board.problems:
        lines += ["", "## Problems", ""]
        lines += [f"- {md_escape(text)}" for text in board.problems]
    folders = md_escape(", ".join(board.results_dirs or [board.results_dir]))
    lines += ["", f"dreval {board.dreval_version}, {board.generated_at}, results in {folders}", ""]
    return "\n".join(lines)


def _md_gap(gap: Gap | None) -> str:
    if gap is None:
        return "—"
    if gap.p_adjusted is None:
        return f"{gap.diff:+.2f}, {gap.note}"
    verdict = " significant" if gap.significant else " not significant"
    return interval_text(gap.diff, gap.low, gap.high, signed=True) + f", p={gap.p_adjusted:.3g}" + verdict


def _md_ranking(board: Leaderboard) -> list[str]:
    """The ranking table, and why each system that is not ranked is not."""
    gaps = _gap_of(board)
    kind = "ratio" if board.method.rank_by.startswith("right") else "score"
    rows = [
        [
            row.rank or "—",
            md_escape(row.system),
            fmt(row.shared, kind) + f" (n={row.shared.n})",
            fmt(row.quality) + f" (n={row.quality.n})",
            counts(row),
            _md_gap(gaps.get(row.system)),
        ]
        for row in board.systems
    ]
    lines = ["## Ranking", ""]
    lines += _md_table(
        [
            "rank",
            "system",
            f"ranked metric, shared tasks [{board.method.level:.0%} CI]",
            "mean total quality, own tasks",
            "results",
            "gap to the next system (paired, adjusted p)",
        ],
        rows,
        {2, 3},
    )
    unranked = [row for row in board.systems if not row.rank and row.unranked_reason]
    if unranked:
        lines += [""] + [
            f"- {md_escape(row.system)} is not ranked: {md_escape(row.unranked_reason)}" for row in unranked
        ]
    return lines


def _md_dimensions(board: Leaderboard) -> list[str]:
    dims = list(board.dimension_names)
    return ["", "## Quality dimensions", ""] + _md_table(
        ["system", *(md_escape(board.dimension_names[d]) for d in dims), "task-specific"],
        [
            [md_escape(r.system), *(fmt(r.dimensions.get(d, Estimate())) for d in dims), fmt(r.specific)]
            for r in board.systems
        ],
        set(range(1, len(dims) + 2)),
    )


def claims_text(row: SystemRow) -> str:
    """The claims behind a system's ratios, and its failed fact-checks: "failed", not "0", when every one failed."""
    if not row.factcheck_failed:
        return str(row.claims)
    failed = f"{row.factcheck_failed} fact-check{'s' if row.factcheck_failed != 1 else ''} failed"
    return f"{row.claims} ({failed})" if row.claims else f"failed ({failed})"


def _md_factcheck(board: Leaderboard) -> list[str]:
    ratios = ["right_micro", "right_macro", "wrong_micro", "wrong_macro", "unknown_micro", "unknown_macro"]
    ratios += ["citation_accuracy", "citation_reachability"]
    return ["", "## Fact-check", ""] + _md_table(
        [
            "system",
            "claims",
            "right (micro)",
            "right (macro)",
            "wrong (micro)",
            "wrong (macro)",
            "unknown (micro)",
            "unknown (macro)",
            "citation accuracy",
            "citation reachability",
        ],
        [
            [md_escape(r.system), claims_text(r), *(fmt(getattr(r, name), "ratio") for name in ratios)]
            for r in board.systems
        ],
        set(range(1, 10)),
    )


def _md_per_task(board: Leaderboard) -> list[str]:
    """Every system's total quality on every task, or the task's status where it has none."""
    matrix = []
    for number, task in enumerate(board.tasks):
        cells = []
        for row in board.systems:
            cell = row.tasks[number]
            cells.append(
                f"{cell.total:.2f}" + ("" if cell.status == "complete" else f" ({cell.status})")
                if cell.total is not None
                else cell.status
            )
        matrix.append([md_escape(task), *cells])
    return ["", "## Per task (total quality; status where there is none)", ""] + _md_table(
        ["task", *(md_escape(r.system) for r in board.systems)], matrix, set(range(1, len(board.systems) + 1))
    )


def _md_judge_variance(board: Leaderboard) -> list[str]:
    """How much of the spread is the judge's, for the systems judged more than once."""
    rows = []
    for r in board.systems:
        jv = r.judge_variance
        if jv is not None:
            spreads = (jv.judge_sd, jv.task_sd, jv.judge_se, jv.task_se)
            rows.append([md_escape(r.system), str(jv.samples), *(f"{value:.3f}" for value in spreads)])
    if not rows:
        return []
    return ["", "## Judge variance (repeated judging)", ""] + _md_table(
        ["system", "passes", "judge SD within a report", "SD over tasks", "judge part of the SE", "SE over tasks"],
        rows,
        {1, 2, 3, 4, 5},
    )


# ------------------------------------------------------------------------------------------------------ HTML


def _href(target: Path, page: Path | None) -> str:
    base = page.parent if page is not None else Path.cwd()
    relative = os.path.relpath(target, base)
    return quote(Path(relative).as_posix())


def to_html(board: Leaderboard, page: Path | None = None, page_root: Path | None = None) -> str:
    """The page; ``page`` is where it will be written (links to scorecards are relative to it) and
    ``page_root`` the output folder the scorecards' paths are relative to."""
    root = Path(page_root) if page_root else output_folder(Path(board.results_dir))
    links = {}
    for row in board.systems:
        for cell in row.tasks:
            if cell.scorecard:
                links[(row.system, cell.task_id)] = _href(root / cell.scorecard, page)
    style, script = asset("leaderboard.css"), asset("leaderboard.js")
    return (
        environment()
        .get_template("leaderboard.html.j2")
        .render(
            board=board,
            policy=content_security_policy([str(style)], [str(script)]),
            style=style,
            script=script,
            links=links,
            fmt=fmt,
            counts=counts,
            from_cache=from_cache,
            method=method_lines(board),
            gaps=_gap_of(board),
            card_links={judge: _href(root / path, page) for judge, path in board.judge_cards.items()},
            dims=list(board.dimension_names),
            empty=Estimate(),
            rank_is_ratio=board.method.rank_by.startswith("right"),
        )
    )


def render(board: Leaderboard, format_name: str, page: Path | None = None, page_root: Path | None = None) -> str:
    if format_name == "csv":
        return to_csv(board)
    if format_name == "json":
        return leaderboard_json(board)
    if format_name == "md":
        return to_markdown(board)
    if format_name == "html":
        return to_html(board, page, page_root)
    raise ValueError(f"unknown leaderboard format {format_name!r}; expected one of {', '.join(FORMATS)}")
