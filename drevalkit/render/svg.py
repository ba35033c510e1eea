"""The dimension chart of a scorecard as inline SVG: one bar per dimension (score 0-10, with the spread of repeated
judging as a whisker) and its weight beside it, general and task-specific dimensions in two labelled groups with
their own colours. Names come from rubrics a model wrote from the task, so every text is escaped and long names
are cut (the full name is in the element's ``<title>`` tooltip). Presentation is by attributes and classes only
(no ``style`` attributes), so the page's Content-Security-Policy needs no ``unsafe-inline``."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

from ..text import one_line

WIDTH = 800
LABEL_W = 230
BAR_X = LABEL_W + 10
BAR_W = 360
WEIGHT_X = BAR_X + BAR_W + 60
WEIGHT_W = 80
ROW_H = 26
GROUP_H = 24
TOP = 30
LABEL_CHARS = 34


@dataclass
class ChartRow:
    name: str
    kind: str  # "general" or "specific"
    weight: float
    score: float | None
    std: float | None = None
    status: str = "complete"


def _x(score: float) -> float:
    return BAR_X + BAR_W * max(0.0, min(10.0, score)) / 10.0


def dimension_chart(rows: list[ChartRow]) -> Markup:
    """The chart of ``rows`` as an ``<svg>`` element, ready to put in a page."""
    groups = [("general", "General dimensions"), ("specific", "Task-specific dimensions")]
    present = [(kind, title, [r for r in rows if r.kind == kind]) for kind, title in groups]
    present = [g for g in present if g[2]]
    height = TOP + sum(GROUP_H + ROW_H * len(g[2]) for g in present) + 14
    max_weight = max((r.weight for r in rows), default=0.0) or 1.0
    parts: list[str] = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
        f'height="{height}" role="img" aria-labelledby="chart-title">',
        '<title id="chart-title">Dimension scores (0-10) and weights</title>',
        *_axis(height),
    ]
    y = TOP
    for kind, title, members in present:
        parts.append(f'<text class="group group-{kind}" x="0" y="{y + 16}">{escape(title)}</text>')
        y += GROUP_H
        for row in members:
            parts += _row(row, kind, y, max_weight)
            y += ROW_H
    parts.append("</svg>")
    return Markup("".join(parts))


def _axis(height: int) -> list[str]:
    """Ticks and grid lines every 2 points, and the column titles."""
    parts = []
    for tick in range(0, 11, 2):
        x = _x(tick)
        parts.append(f'<line class="grid" x1="{x:.1f}" y1="{TOP - 6}" x2="{x:.1f}" y2="{height - 10}"/>')
        parts.append(f'<text class="tick" x="{x:.1f}" y="{TOP - 12}" text-anchor="middle">{tick}</text>')
    parts.append(f'<text class="tick" x="{BAR_X - 14}" y="{TOP - 12}" text-anchor="end">score</text>')
    parts.append(f'<text class="tick" x="{WEIGHT_X}" y="{TOP - 12}">weight</text>')
    return parts


def _row(row: ChartRow, kind: str, y: int, max_weight: float) -> list[str]:
    """One dimension at height ``y``: its label (the full name in the tooltip), its bar and its weight."""
    name = one_line(row.name)
    short = one_line(name, LABEL_CHARS)
    middle = y + ROW_H / 2
    parts = ['<g class="row">']
    parts.append(
        f"<title>{escape(name)}: "
        + (f"{row.score:.2f}" if row.score is not None else "not judged")
        + (f" ± {row.std:.2f}" if row.std else "")
        + f", weight {row.weight:.0%}</title>"
    )
    parts.append(f'<text class="label" x="{LABEL_W}" y="{middle + 4:.1f}" text-anchor="end">{escape(short)}</text>')
    parts.append(f'<rect class="track" x="{BAR_X}" y="{y + 5}" width="{BAR_W}" height="{ROW_H - 10}"/>')
    parts += _bar(row, kind, y, middle)
    weight_width = WEIGHT_W * row.weight / max_weight
    parts.append(f'<rect class="weight" x="{WEIGHT_X}" y="{y + 8}" width="{weight_width:.1f}" height="{ROW_H - 16}"/>')
    parts.append(f'<text class="value" x="{WEIGHT_X + WEIGHT_W + 6}" y="{middle + 4:.1f}">{row.weight:.0%}</text>')
    parts.append("</g>")
    return parts


def _bar(row: ChartRow, kind: str, y: int, middle: float) -> list[str]:
    """The score's bar with the spread of repeated judging as a whisker, or a dashed outline saying it was not judged."""
    if row.score is None:
        return [
            f'<rect class="bar-missing" x="{BAR_X}" y="{y + 5}" width="{BAR_W}" height="{ROW_H - 10}"/>',
            f'<text class="value missing" x="{BAR_X + 8}" y="{middle + 4:.1f}">not judged'
            f"{(' (' + escape(row.status) + ')') if row.status != 'complete' else ''}</text>",
        ]
    width = _x(row.score) - BAR_X
    parts = [f'<rect class="bar bar-{kind}" x="{BAR_X}" y="{y + 5}" width="{width:.1f}" height="{ROW_H - 10}"/>']
    if row.std:
        low, high = _x(row.score - row.std), _x(row.score + row.std)
        parts.append(f'<line class="whisker" x1="{low:.1f}" y1="{middle:.1f}" x2="{high:.1f}" y2="{middle:.1f}"/>')
        for end in (low, high):
            parts.append(
                f'<line class="whisker" x1="{end:.1f}" y1="{middle - 5:.1f}" x2="{end:.1f}" y2="{middle + 5:.1f}"/>'
            )
    parts.append(f'<text class="value" x="{BAR_X + BAR_W + 8}" y="{middle + 4:.1f}">{row.score:.2f}</text>')
    return parts
