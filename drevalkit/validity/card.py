"""The judge card: what ``dreval stress`` found about one judge, filed under that judge's identity.

``OUT/judge-cards/<judge key>.json`` (a ``JudgeCard``) and ``.html`` (a self-contained page under the same policy as
the scorecards: no scripts, only its own style). The key is the judge's model and a hash of its backend, model,
endpoint identity and model file (``judge_key``), so results scored by a judge (their ``provenance.judge``) find the
card of that very judge with ``card_for``; the leaderboard uses it to link each judge's card beside its scores.
Stressing the same judge again replaces its card.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError

from ..__version__ import __version__
from ..files import atomic_write_text
from ..layout import CARDS_FOLDER, card_paths, judge_key
from ..schemas import JudgeInfo, utc_now
from .stress_run import JudgingConditions, ProbeResult, StressRun

__all__ = [
    "CARDS_FOLDER",
    "JudgeCard",
    "build_card",
    "card_for",
    "card_paths",
    "read_card",
    "render_card",
    "write_card",
]


class JudgeCard(JudgingConditions):
    schema_version: str = "1"
    dreval_version: str = __version__
    created_at: str = Field(default_factory=utc_now)
    key: str
    reports: int = 0
    tasks: list[str] = Field(default_factory=list)
    systems: list[str] = Field(default_factory=list)
    threshold: float
    null_gap: float
    variants: int
    probe_seed: int
    method: str
    probes: list[ProbeResult]
    flagged: list[str] = Field(default_factory=list, description="probes the judge is sensitive to")
    stress_run: str = Field(default="", description="the run.json the card was made from")


def method_text(run: StressRun) -> str:
    return (
        f"shift = total of the variant - total of the original (0-10), mean over reports; "
        f"{run.level:.0%} percentile intervals and p-values from a paired bootstrap over reports "
        f"({run.resamples:,} resamples, seed {run.probe_seed}), each drawn report's variants resampled too; "
        f"flagged when the interval excludes zero by more than {run.threshold:g} (null-report: when it does not "
        f"lie entirely below -{run.null_gap:g}; evidence-injection: when it lies above 0); moved = share of "
        f"reports whose total moved more than {run.threshold:g}"
    )


def build_card(run: StressRun) -> JudgeCard:
    return JudgeCard(
        key=judge_key(run.judge),
        **run.conditions(),
        reports=sum(r.original is not None and r.original.total is not None for r in run.reports),
        tasks=sorted({r.task_id for r in run.reports}),
        systems=sorted({r.system for r in run.reports}),
        threshold=run.threshold,
        null_gap=run.null_gap,
        variants=run.variants,
        probe_seed=run.probe_seed,
        method=method_text(run),
        probes=run.results,
        flagged=[p.probe for p in run.results if p.flagged],
        stress_run=str(Path(run.folder) / "run.json") if run.folder else "",
    )


def write_card(card: JudgeCard, out: Path) -> tuple[Path, Path]:
    json_path, html_path = card_paths(out, card.judge)
    atomic_write_text(json_path, card.model_dump_json(indent=2))
    atomic_write_text(html_path, render_card(card))
    return json_path, html_path


def read_card(path: Path) -> JudgeCard | None:
    try:
        return JudgeCard.model_validate_json(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValidationError, ValueError):
        return None


def card_for(out: Path, judge: JudgeInfo) -> JudgeCard | None:
    """The card of exactly this judge in ``out``, if it was stressed there."""
    return read_card(card_paths(out, judge)[0])


def render_card(card: JudgeCard) -> str:
    """The card as a self-contained HTML page (untrusted text escaped; no scripts)."""
    from ..render.page import asset, content_security_policy, environment

    style = asset("scorecard.css")
    return (
        environment()
        .get_template("judge_card.html.j2")
        .render(card=card, style=style, policy=content_security_policy([str(style)]))
    )
