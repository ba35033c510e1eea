"""The parts of a generation run's summary (``tasks.summary.json``, put together by ``generate.run_summary``): what
each stage let through, how each domain fared against its quota, whether the filters discriminate, what failed, and
the warnings a user should read."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..schemas import Task
from . import filters
from .candidates import STAGES, Candidate
from .quotas import Quotas


def stage_rows(candidates: list[Candidate], searched: bool) -> list[dict[str, Any]]:
    """Per stage after generation: how many candidates entered, passed, were rejected, or failed a call."""
    rows: list[dict[str, Any]] = []
    entered = len(candidates)
    for stage in STAGES[1:]:
        rejected_here = [c.rejected for c in candidates if c.rejected and c.rejected[0] == stage]
        failed = sum(failed_call for _, _, failed_call in rejected_here)
        dropped = len(rejected_here) - failed
        if stage == "searchability" and not searched:
            rows.append(
                {
                    "stage": stage,
                    "entered": 0,
                    "passed": 0,
                    "rejected": 0,
                    "failed": 0,
                    "rejection_rate": None,
                    "skipped": True,
                }
            )
            continue
        rows.append(
            {
                "stage": stage,
                "entered": entered,
                "passed": entered - len(rejected_here),
                "rejected": dropped,
                "failed": failed,
                "rejection_rate": round(dropped / (entered - failed), 4) if entered - failed else None,
            }
        )
        entered -= len(rejected_here)
    return rows


def domain_rows(
    candidates: list[Candidate], tasks: list[Task], quotas: Quotas
) -> tuple[list[dict[str, Any]], list[str]]:
    """Per domain: personas, candidates, kept tasks against the quota; and a warning for each domain short of it
    (or, without a quota, that kept nothing), saying why."""
    kept_ids = {t.provenance["candidate_id"] for t in tasks}
    quota, used = quotas.quota, quotas.used
    targets = quotas.targets() or {}
    rows, warnings = [], []
    for domain in quotas.domains:
        mine = [c for c in candidates if c.persona.domain == domain]
        kept = sum(c.id in kept_ids for c in mine)
        by_stage = Counter(c.rejected[0] for c in mine if c.rejected)
        row = {
            "domain": domain,
            "personas_available": len(quotas.pools[domain]),
            "personas_used": used.get(domain, 0),
            "candidates": len(mine),
            "passed_filters": sum(c.kept or (c.rejected or ("",))[0] == "quota" for c in mine),
            "kept": kept,
            "quota": quota,
            "target": targets.get(domain),
            "met": None,
            "rejected_by_stage": dict(by_stage),
        }
        if quota is not None:
            row["met"] = kept >= quota
            if kept < quota:
                why = (
                    "all its personas were used"
                    if used.get(domain, 0) >= len(quotas.pools[domain])
                    else "the target count was reached first"
                )
                stages = ", ".join(f"{s} {n}" for s, n in by_stage.most_common() if s != "quota") or "none"
                warnings.append(
                    f"{domain}: quota not met, {kept} of {quota} tasks ({why}; {len(mine)} candidates "
                    f"from {used.get(domain, 0)} personas; rejected: {stages})"
                )
        elif kept == 0:
            warnings.append(f"{domain}: no task kept ({len(mine)} candidates)")
        rows.append(row)
    return rows, warnings


def filter_histograms(candidates: list[Candidate]) -> tuple[dict[str, Any], list[str]]:
    """The score histograms of both filters, and a warning for a filter that gives most tasks the same score."""
    histograms, warnings = {}, []
    for name, scores in (
        ("qualification", [c.qualification["confidence"] for c in candidates if c.qualification]),
        ("necessity", [c.necessity["quality"] for c in candidates if c.necessity]),
    ):
        hist = filters.histogram(scores)
        histograms[name] = hist.as_dict()
        if hist.dominant is not None:
            what = "confidences" if name == "qualification" else "answer qualities"
            warnings.append(
                f"{name} filter: {hist.dominant_count} of {hist.n} {what} are exactly "
                f"{hist.dominant:g}; a filter that gives most tasks the same score cannot discriminate "
                "(check the judge model and its answers)"
            )
    return histograms, warnings


def failed_steps(candidates: list[Candidate], generation_failures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every call that failed (retried by the next run): the candidates' filter calls, then the generator's."""
    return [
        {"candidate_id": c.id, "stage": c.rejected[0], "reason": c.rejected[1]}
        for c in candidates
        if c.rejected and c.rejected[2]
    ] + generation_failures
