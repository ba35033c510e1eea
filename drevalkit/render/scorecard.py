"""The scorecard page of one result: header, dimension chart, criteria, fact-check with a claim table that filters
by verdict, the report itself with its checked claims highlighted, problems, provenance and usage.

The report text is not stored in the result (it can be megabytes, and is already on disk): the scorer renders the
page with the report it has just read, and ``dreval html`` reads the file named in ``report_ref`` again, using it
only when its normalised text still has the recorded sha256; otherwise the page says why the report is not shown
and everything else still renders from the result. Because a result file may come from someone else, the file is
read only from under the working folder or a folder the user names (``dreval html --reports DIR``). See ``drevalkit.render.page`` for how untrusted text is kept
inert.
"""

from __future__ import annotations

import hashlib
import json
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from ..resources import data_path
from ..schemas import Report, Rubric, Scorecard, Usage
from ..text import one_line
from .highlight import VERDICT_MARK, Highlight
from .markdown import render_markdown
from .page import asset, content_security_policy, environment
from .svg import ChartRow, dimension_chart
from .urls import is_http_url

VERDICTS = ("right", "wrong", "unknown", "failed")
META_MAX_ITEMS = 60
META_MAX_CHARS = 600
META_MAX_DEPTH = 4
REPORT_MAX_BYTES = 50_000_000  # dreval html reads no larger report file (the scorer's cap is max_report_mb)


@lru_cache(maxsize=1)
def general_dimensions() -> dict[str, str]:
    """Ids and names of the general dimensions (``rubrics/general.json``): the others are task-specific."""
    data = json.loads((data_path("rubrics") / "general.json").read_text(encoding="utf-8"))
    return {d["id"]: d["name"] for d in data["dimensions"]}


def dimension_kind(dimension_id: str, rubric: Rubric | None = None) -> str:
    if rubric is not None:
        for dimension in rubric.dimensions:
            if dimension.id == dimension_id:
                return dimension.kind
    return "general" if dimension_id in general_dimensions() else "specific"


def load_report_for(
    card: Scorecard, roots: Sequence[Path] | None = None, max_bytes: int = REPORT_MAX_BYTES
) -> tuple[Report | None, str]:
    """The report a result was scored from, read again from ``report_ref.path``; (None, why) when it is gone, is not
    a regular file under one of ``roots`` (default: the working folder) within ``max_bytes``, or its text is no
    longer the one that was scored. A result file may come from someone else: its path must not pick any file."""
    from ..ingest.importers import ReportError, load_report

    ref = card.report_ref
    if ref is None:
        return None, "no report was read for this result"
    path, why = _trusted_report_path(ref.path, [Path.cwd()] if roots is None else roots, max_bytes)
    if path is None:
        return None, why
    try:
        report = load_report(
            path, system=card.system, task_id=card.task_id, max_bytes=max_bytes, format_name=ref.source_format
        )
    except (ReportError, OSError, ValueError) as exc:
        return None, f"the report file {ref.path} cannot be read again ({exc}), so the report is not shown"
    if hashlib.sha256(report.text.encode("utf-8")).hexdigest() != ref.sha256:
        return None, (
            f"the report file {ref.path} has changed since it was scored (its text no longer has the "
            "scored sha256), so it is not shown: the scores below are for the earlier text"
        )
    return report, ""


def _trusted_report_path(name: str, roots: Sequence[Path], max_bytes: int) -> tuple[Path | None, str]:
    """``name`` resolved (symlinks followed) when it is a regular file of at most ``max_bytes`` under one of
    ``roots``; else (None, why). Checked before anything is read, so a hand-edited path reads nothing."""
    path = Path(name)
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):  # missing, a dangling link or a link loop
        return None, f"the report file {name} is not there any more, so the report is not shown"
    if not any(resolved.is_relative_to(root.resolve()) for root in roots):
        return None, (
            f"the report file {name} is, or links to, a file outside the working folder, so it is not read "
            "(a result may come from someone else): run dreval html from the folder it was scored in, or name the "
            "report folder with --reports DIR"
        )
    try:
        status = resolved.stat()
    except OSError as exc:
        return None, f"the report file {name} cannot be read again ({exc.strerror}), so the report is not shown"
    if not stat.S_ISREG(status.st_mode):
        return None, f"the report file {name} is not a regular file, so it is not read"
    if status.st_size > max_bytes:
        return None, (
            f"the report file {name} is over the report size cap ({status.st_size:,} bytes, cap {max_bytes:,}), "
            "so it is not read"
        )
    return resolved, ""


def render_meta(value: Any, depth: int = 0) -> Markup:
    """Report metadata of any shape (an import or agent-run sidecar's fields) as escaped nested lists."""
    if isinstance(value, dict):
        if not value:
            return Markup('<span class="muted">none</span>')
        if depth >= META_MAX_DEPTH:
            return Markup('<span class="muted">…</span>')
        rows = [
            Markup("<dt>{}</dt><dd>{}</dd>").format(one_line(str(k), 80), render_meta(v, depth + 1))
            for k, v in list(value.items())[:META_MAX_ITEMS]
        ]
        more = len(value) - META_MAX_ITEMS
        tail = Markup('<dt>…</dt><dd class="muted">{} more</dd>').format(more) if more > 0 else Markup("")
        return Markup('<dl class="meta">') + Markup("").join(rows) + tail + Markup("</dl>")
    if isinstance(value, (list, tuple)):
        if not value:
            return Markup('<span class="muted">none</span>')
        if all(not isinstance(v, (dict, list, tuple)) for v in value):
            shown = Markup(", ").join(render_meta(v, depth + 1) for v in value[:META_MAX_ITEMS])
        else:
            shown = (
                Markup("<ol>")
                + Markup("").join(
                    Markup("<li>{}</li>").format(render_meta(v, depth + 1)) for v in value[:META_MAX_ITEMS]
                )
                + Markup("</ol>")
            )
        more = len(value) - META_MAX_ITEMS
        return shown + (Markup(' <span class="muted">and {} more</span>').format(more) if more > 0 else Markup(""))
    if value is None:
        return Markup('<span class="muted">—</span>')
    if isinstance(value, bool):
        return Markup("yes" if value else "no")
    text = one_line(str(value), META_MAX_CHARS)
    if isinstance(value, str) and is_http_url(value):
        return Markup('<a href="{}" rel="noopener noreferrer nofollow">{}</a>').format(value, text)
    return escape(text)


@dataclass
class ClaimRow:
    number: int
    claim: Any
    verdict: Any | None
    label: str
    evidence: list[Any] = field(default_factory=list)
    highlighted: bool = False


def _criteria(rubric: Rubric | None) -> dict[str, Any]:
    return {c.id: c for d in rubric.dimensions for c in d.criteria} if rubric else {}


def _dimensions(card: Scorecard, rubric: Rubric | None) -> list[dict[str, Any]]:
    quality = card.quality
    if quality is None:
        return []
    names = {d.id: d.name for d in rubric.dimensions} if rubric else {}
    general = general_dimensions()
    criteria = _criteria(rubric)
    by_dimension: dict[str, list[Any]] = {}
    for score in quality.scores:
        by_dimension.setdefault(score.dimension_id, []).append(score)
    rows = []
    for dim_id, dim in quality.dimension_scores.items():
        rows.append(
            {
                "id": dim_id,
                "name": names.get(dim_id) or general.get(dim_id) or dim_id,
                "kind": dimension_kind(dim_id, rubric),
                "score": dim,
                "criteria": [
                    {"score": s, "criterion": criteria.get(s.criterion_id)} for s in by_dimension.get(dim_id, [])
                ],
            }
        )
    rows.sort(key=lambda row: row["kind"] != "general")
    return rows


def _claims(card: Scorecard, highlighted: set[int]) -> list[ClaimRow]:
    fc = card.factcheck
    if fc is None:
        return []
    verdicts = {v.claim_id: v for v in fc.verdicts}
    evidence = {e.id: e for e in fc.evidence}
    rows = []
    for number, claim in enumerate(fc.claims, start=1):
        verdict = verdicts.get(claim.id)
        label = verdict.label if verdict else "none"
        items = [evidence[e] for e in (verdict.evidence_ids if verdict else []) if e in evidence]
        rows.append(ClaimRow(number, claim, verdict, label, items, number in highlighted))
    return rows


def _highlights(card: Scorecard) -> list[Highlight]:
    fc = card.factcheck
    if fc is None:
        return []
    verdicts = {v.claim_id: v.label for v in fc.verdicts}
    groups: dict[str, Highlight] = {}
    for number, claim in enumerate(fc.claims, start=1):
        key = " ".join(claim.sentence.split())
        if not key:
            continue
        groups.setdefault(key, Highlight(claim.sentence, [])).claims.append((number, verdicts.get(claim.id, "none")))
    return list(groups.values())


def render_scorecard(
    card: Scorecard,
    rubric: Rubric | None = None,
    report: Report | None = None,
    report_note: str = "",
) -> str:
    """The scorecard page of ``card``. ``rubric`` names the dimensions and criteria (a rubric whose hash is not the
    result's is ignored); ``report`` is the report that was scored (else ``report_note`` says why it is absent)."""
    if (
        rubric is not None
        and card.quality is not None
        and rubric.hash
        and card.quality.rubric_hash
        and rubric.hash != card.quality.rubric_hash
    ):
        rubric = None
    dimensions = _dimensions(card, rubric)
    chart = (
        dimension_chart(
            [
                ChartRow(
                    name=row["name"],
                    kind=row["kind"],
                    weight=row["score"].weight,
                    score=row["score"].score,
                    std=row["score"].spread.std if row["score"].spread else None,
                    status=row["score"].status,
                )
                for row in dimensions
            ]
        )
        if dimensions
        else None
    )

    rendered = None
    if report is not None:
        rendered = render_markdown(report.text, _highlights(card))
    elif not report_note:
        report_note = "the report is not available to this page"
    claims = _claims(card, rendered.highlighted if rendered else set())
    anchors = rendered.references if rendered else set()
    meta = dict(report.meta) if report is not None else {}
    flags = [str(flag) for flag in meta.get("flags", []) or []] if isinstance(meta.get("flags"), list) else []

    fc = card.factcheck
    counts = {label: getattr(fc.counts, label) for label in VERDICTS} if fc else {}
    style = asset("scorecard.css")
    policy = content_security_policy([str(style)])
    return (
        environment()
        .get_template("scorecard.html.j2")
        .render(
            card=card,
            policy=policy,
            style=style,
            chart=chart,
            dimensions=dimensions,
            claims=claims,
            counts=counts,
            verdict_mark=VERDICT_MARK,
            anchors=anchors,
            report_html=rendered.html if rendered else None,
            report_note=report_note,
            report_found=len(rendered.highlighted) if rendered else 0,
            meta=render_meta(meta) if meta else None,
            flags=flags,
            cost=cost_text(card.usage),
            price_note=price_note(card.usage),
            tokens=card.usage.prompt_tokens + card.usage.completion_tokens,
            cache_note=cache_note(card.usage),
        )
    )


def cost_text(usage: Usage) -> str:
    """What the judging cost: "unknown" when no call had a price in the config (never "0.0000"), "at least" the
    priced part when some had none."""
    if usage.unpriced_calls and usage.unpriced_calls >= usage.calls:
        return "unknown"
    return f"at least {usage.cost:.4f}" if usage.unpriced_calls else f"{usage.cost:.4f}"


def price_note(usage: Usage) -> str:
    if not usage.unpriced_calls:
        return ""
    calls = f"{usage.unpriced_calls} call{'s' if usage.unpriced_calls != 1 else ''}"
    return f"{calls} without a price ([prices] in dreval.toml)"


def cache_note(usage: Usage) -> str:
    """Answers served from the LLM cache cost nothing now: say how many, and what they cost when first asked, so
    "0.0000, 0 tokens" is not read as a free judge."""
    if not usage.cache_hits:
        return ""
    answers = f"{usage.cache_hits} answer{'s' if usage.cache_hits != 1 else ''} from the cache"
    first = usage.from_cache_prompt_tokens + usage.from_cache_completion_tokens
    if not first:
        return answers + " (what they first cost was not recorded)"
    return f"{answers} (first cost {usage.from_cache_cost:.4f}, {first} tokens)"
