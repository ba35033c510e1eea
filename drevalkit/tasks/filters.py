"""The two filters and the searchability check, and the statistics that tell whether a filter discriminates.

- Task Qualification: a judge decides whether the task truly needs deep web research (recent information,
  cross-verification, multiple angles, fits the persona, feasible) and gives a confidence; kept when the verdict is
  yes and the confidence is at least the threshold.
- Search Necessity: the answer model answers the task without search; a judge scores that answer (accuracy,
  completeness, depth, timeliness, 0-10 each); quality is their mean on 0-1; kept when quality is at most the
  threshold and the judge says search is necessary.
- Searchability: the task's key queries are searched; kept when they return enough distinct results from enough
  distinct sites; a judge shown the results flags a task that one single page already answers whole.

Decisions are pure functions of the recorded judgements and the thresholds, so thresholds can change without a call.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, create_model

from ..llm import LLMClient
from ..schemas import Persona, SearchHit, StrictModel, Task, Usage
from .drafts import PROMPTS

HISTOGRAM_BINS = 10


class Qualification(StrictModel):
    reasoning: str
    recent_information: bool
    cross_verification: bool
    multiple_angles: bool
    fits_persona: bool
    feasible: bool
    requires_deep_research: bool
    confidence: float = Field(ge=0, le=1)


class BaselineAnswer(StrictModel):
    answer: str


class NecessityJudgement(StrictModel):
    reasoning: str
    accuracy: float = Field(ge=0, le=10)
    completeness: float = Field(ge=0, le=10)
    depth: float = Field(ge=0, le=10)
    timeliness: float = Field(ge=0, le=10)
    search_necessary: bool


ASPECTS = ("accuracy", "completeness", "depth", "timeliness")


def _judge_messages(template: str, **values: Any) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": PROMPTS.render("judge_system.j2")},
        {"role": "user", "content": PROMPTS.render(template, **values)},
    ]


def qualification_messages(task: Task, persona: Persona | None, as_of: str) -> list[dict[str, str]]:
    persona = persona or Persona(id="unknown", role="(not given)")
    return _judge_messages("qualify.j2", task=task, persona=persona, as_of=as_of)


def answer_messages(task: Task, as_of: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": PROMPTS.render("answer_system.j2")},
        {"role": "user", "content": PROMPTS.render("answer.j2", task=task, as_of=as_of)},
    ]


def necessity_messages(task: Task, answer: str, as_of: str) -> list[dict[str, str]]:
    return _judge_messages("necessity.j2", task=task, answer=answer, as_of=as_of)


async def qualify(llm: LLMClient, task: Task, persona: Persona | None, as_of: str) -> tuple[Qualification, Usage]:
    result = await llm.structured(qualification_messages(task, persona, as_of), Qualification, temperature=0.0)
    return result.value, result.usage


async def answer_without_search(llm: LLMClient, task: Task, as_of: str) -> tuple[str, Usage]:
    result = await llm.structured(answer_messages(task, as_of), BaselineAnswer, temperature=0.0)
    return result.value.answer, result.usage


async def judge_necessity(llm: LLMClient, task: Task, answer: str, as_of: str) -> tuple[NecessityJudgement, Usage]:
    result = await llm.structured(necessity_messages(task, answer, as_of), NecessityJudgement, temperature=0.0)
    return result.value, result.usage


def qualification_verdict(q: dict[str, Any], threshold: float) -> dict[str, Any]:
    """The recorded judgement with the decision: kept when the judge says deep research and is confident enough."""
    passed = bool(q["requires_deep_research"]) and float(q["confidence"]) >= threshold
    if passed:
        reason = f"needs deep research (confidence {q['confidence']:.2f} >= {threshold:g})"
    elif not q["requires_deep_research"]:
        reason = f"the judge says it does not need deep research (confidence {q['confidence']:.2f})"
    else:
        reason = f"confidence {q['confidence']:.2f} below the threshold {threshold:g}"
    return {**q, "score": float(q["confidence"]), "threshold": threshold, "passed": passed, "reason": reason}


def answer_quality(judgement: dict[str, Any]) -> float:
    return round(sum(float(judgement[a]) for a in ASPECTS) / (10 * len(ASPECTS)), 4)


def necessity_verdict(judgement: dict[str, Any], threshold: float) -> dict[str, Any]:
    """Kept when the no-search answer is inadequate (quality <= threshold) and the judge says search is needed."""
    quality = answer_quality(judgement)
    passed = quality <= threshold and bool(judgement["search_necessary"])
    if passed:
        reason = f"the no-search answer is inadequate (quality {quality:.2f} <= {threshold:g}) and search is necessary"
    elif quality > threshold:
        reason = f"answered well enough without search (quality {quality:.2f} > {threshold:g})"
    else:
        reason = f"the judge says search is not necessary (quality {quality:.2f})"
    return {
        **judgement,
        "quality": quality,
        "score": quality,
        "threshold": threshold,
        "passed": passed,
        "reason": reason,
    }


# -- searchability ---------------------------------------------------------------------------------------------


def site_of(url: str) -> str:
    """The site a result comes from: its host without ``www.``, lower case."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def single_page_model(refs: list[str]) -> type[BaseModel]:
    page: Any = Literal[tuple([*refs, "none"])]  # a Literal of the refs, built at run time: no static type
    return create_model(
        "SinglePageCheck",
        __base__=StrictModel,
        reasoning=(str, ...),
        single_page=(bool, ...),
        page=(page, ...),
    )


def single_page_messages(task: Task, hits: list[SearchHit]) -> tuple[list[dict[str, str]], list[str]]:
    refs = [f"r{i}" for i in range(1, len(hits) + 1)]
    shown = [{"ref": ref, "url": h.url, "title": h.title, "snippet": h.snippet} for ref, h in zip(refs, hits)]
    return _judge_messages("single_page.j2", task=task, hits=shown), refs


async def check_single_page(llm: LLMClient, task: Task, hits: list[SearchHit]) -> tuple[dict[str, Any], Usage]:
    messages, refs = single_page_messages(task, hits)
    result = await llm.structured(messages, single_page_model(refs), temperature=0.0)
    value = result.value.model_dump()
    page = value["page"]
    value["url"] = hits[refs.index(page)].url if page in refs else ""
    value["single_page"] = bool(value["single_page"]) and page in refs
    return value, result.usage


def searchability_verdict(found: dict[str, Any], min_results: int, min_sites: int) -> dict[str, Any]:
    """``found``: {"queries": [...], "urls": [...], "sites": [...], "errors": [...], "single_page": {...}|None}."""
    urls, sites = len(found["urls"]), len(found["sites"])
    passed = urls >= min_results and sites >= min_sites
    reason = (
        f"{urls} distinct results from {sites} sites"
        if passed
        else f"only {urls} distinct results from {sites} sites (needs {min_results} from {min_sites})"
    )
    single = found.get("single_page") or {}
    return {
        **found,
        "results": urls,
        "site_count": sites,
        "passed": passed,
        "reason": reason,
        "single_page_flag": bool(single.get("single_page")),
        "min_results": min_results,
        "min_sites": min_sites,
    }


# -- statistics -----------------------------------------------------------------------------------------------


@dataclass
class Histogram:
    counts: list[int]
    n: int
    dominant: float | None  # the value more than half the scores share exactly, if any
    dominant_count: int

    def as_dict(self) -> dict[str, Any]:
        edges = [round(i / HISTOGRAM_BINS, 2) for i in range(HISTOGRAM_BINS + 1)]
        return {
            "bins": [f"{edges[i]:.1f}-{edges[i + 1]:.1f}" for i in range(HISTOGRAM_BINS)],
            "counts": self.counts,
            "n": self.n,
            "dominant_value": self.dominant,
            "dominant_count": self.dominant_count,
        }


def histogram(scores: list[float]) -> Histogram:
    """Ten bins over 0-1 (the last one closed), and the value that more than half of the scores share, if one
    does: a filter whose scores mostly coincide cannot tell tasks apart."""
    counts = [0] * HISTOGRAM_BINS
    for score in scores:
        counts[min(HISTOGRAM_BINS - 1, max(0, int(score * HISTOGRAM_BINS + 1e-9)))] += 1
    dominant, dominant_count = None, 0
    if scores:
        value, count = Counter(round(s, 3) for s in scores).most_common(1)[0]
        if count * 2 > len(scores) and len(scores) >= 4:
            dominant, dominant_count = value, count
    return Histogram(counts, len(scores), dominant, dominant_count)
