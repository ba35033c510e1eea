"""The summary of a generation run (``tasks.summary.json``): what each stage let through, how each domain fared
against its quota, whether the filters discriminate, what failed, and the warnings a user should read."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from ..__version__ import __version__
from ..schemas import Task, utc_now
from . import filters
from .candidates import STAGES, Candidate
from .drafts import PROMPTS
from .quotas import Quotas

if TYPE_CHECKING:
    from .generate import TaskGenerator


def stage_rows(candidates: list[Candidate], searched: bool) -> list[dict[str, Any]]:
    """Per stage after generation: how many candidates entered, passed, were rejected, or failed a call."""
    rows: list[dict[str, Any]] = []
    entered = len(candidates)
    for stage in STAGES[1:]:
        rejected_here = [c for c in candidates if c.rejected and c.rejected[0] == stage]
        failed = sum(c.rejected[2] for c in rejected_here)  # type: ignore[index]
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
        {"candidate_id": c.id, "stage": c.rejected[0], "reason": c.rejected[1]}  # type: ignore[index]
        for c in candidates
        if c.rejected and c.rejected[2]
    ] + generation_failures


def run_summary(run: TaskGenerator, tasks: list[Task], waves: int) -> dict[str, Any]:
    """The summary of a finished run, ``status: complete``."""
    settings, options, candidates = run.settings, run.options, run.candidates
    stages = stage_rows(candidates, run.searcher is not None)
    domains, warnings = domain_rows(candidates, tasks, run.quotas)
    histograms, histogram_warnings = filter_histograms(candidates)
    warnings += histogram_warnings
    if options.n and len(tasks) < options.n:
        warnings.append(f"{len(tasks)} tasks kept, fewer than --n {options.n}")
    failures = failed_steps(candidates, run.generation_failures)
    if failures:
        warnings.append(
            f"{len(failures)} steps failed (listed under failures and in the rejected file); run the "
            "same command again to retry them"
        )
    if run.searcher is not None:
        single = sum(1 for t in tasks if (t.provenance.get("searchability") or {}).get("single_page_flag"))
        if single:
            warnings.append(f"{single} kept tasks are flagged: one search result may already answer them whole")
    windows = sum(bool(t.time_constraint) for t in tasks)
    if tasks and windows * 2 < len(tasks):
        warnings.append(f"only {windows} of {len(tasks)} kept tasks state a time window")
    warnings += run.synthesis_notes + [f"--against: {p}" for p in run.against_notes]
    return {
        "status": "complete",
        "dreval_version": __version__,
        "prompt_version": PROMPTS.version,
        "as_of": run.as_of,
        "finished_at": utc_now(),
        "models": run.roles.info(),
        "options": {
            "n": options.n,
            "per_domain": options.per_domain,
            "candidates_per_persona": run.k,
            "language": run.language,
            "qualification_threshold": settings.qualification_threshold,
            "necessity_threshold": settings.necessity_threshold,
            "dedup_method": run.similarity.name,
            "dedup_threshold": run.threshold,
            "against": [str(p) for p in options.against],
            "searchability": run.searcher.backend.name if run.searcher else None,
            "synthesize_personas": options.synthesize,
            "id_prefix": options.id_prefix,
        },
        "files": {
            "tasks": str(run.outputs.tasks),
            "rejected": str(run.outputs.rejected),
            "baselines": str(run.outputs.baselines),
            "personas": str(run.outputs.personas) if run.synthesized else None,
        },
        "counts": {
            "personas_used": sum(run.quotas.used.values()),
            "personas_synthesized": len(run.synthesized),
            "waves": waves,
            "candidates": len(candidates),
            "kept": len(tasks),
            "rejected": sum(1 for c in candidates if c.rejected and not c.rejected[2]),
            "failed": len(failures),
            "with_time_window": windows,
        },
        "stages": stages,
        "domains": domains,
        "histograms": histograms,
        "warnings": warnings,
        "failures": failures,
        "journal": {"reused": sum(run.journal.reused.values()), "recorded": sum(run.journal.recorded.values())},
        "usage": {stage: usage.model_dump() for stage, usage in sorted(run.usage.items())}
        | {"total": run.total_usage().model_dump()},
    }
