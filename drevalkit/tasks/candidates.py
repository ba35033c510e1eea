"""A candidate task and the phases that screen it, in order: format, then novelty (against ``--against``) and
duplicates (against the candidates accepted so far), then the filter chain (qualification, Search Necessity,
searchability). A candidate rejected at one phase goes no further, so no call is spent on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..factcheck.search import SearchError
from ..llm import LLMError, LLMUnavailable
from ..schemas import Persona, Task
from . import filters
from .dedup import Match, Similarity, deduplicate
from .drafts import DraftTask, candidate_id, format_problems
from .outputs import TaskOutputs
from .pipeline import Pipeline

STAGES = ("generation", "format", "novelty", "duplicate", "qualification", "necessity", "searchability", "quota")


@dataclass
class Candidate:
    """One generated task on its way through the screening; ``rejected`` says where it stopped and why."""

    id: str
    persona: Persona
    persona_source: str
    index: int
    draft: DraftTask
    wave: int
    stage: str = "generated"  # the last stage it reached
    rejected: tuple[str, str, bool] | None = None  # (stage, reason, failed)
    qualification: dict[str, Any] | None = None
    baseline: str | None = None
    necessity: dict[str, Any] | None = None
    searchability: dict[str, Any] | None = None
    nearest: tuple[str, float] | None = None
    match: Match | None = None

    @property
    def kept(self) -> bool:
        return self.rejected is None and self.stage == "passed"

    def reject(self, stage: str, reason: str, failed: bool = False) -> None:
        self.stage = stage
        self.rejected = (stage, reason, failed)

    def task(self, task_id: str | None = None, language: str = "en") -> Task:
        return Task(
            id=task_id or self.id,
            prompt=self.draft.task.strip(),
            language=language,
            domain=self.persona.domain,
            persona=self.persona,
            deliverables=self.draft.deliverables,
            time_constraint=self.draft.time_window.strip(),
            key_challenges=self.draft.key_challenges,
        )

    def rejected_record(self, outputs: TaskOutputs) -> dict[str, Any]:
        """The line of the rejected file: why, where, and every judgement made before it."""
        assert self.rejected is not None
        stage, reason, failed = self.rejected
        record: dict[str, Any] = {
            "candidate_id": self.id,
            "stage": stage,
            "reason": reason,
            "failed": failed,
            "domain": self.persona.domain,
            "persona_id": self.persona.id,
            "prompt": self.draft.task,
            "wave": self.wave,
        }
        if self.match is not None:
            record["similar_to"] = {
                "id": self.match.other,
                "similarity": self.match.similarity,
                "kind": self.match.kind,
            }
        if self.qualification:
            record["qualification"] = verdict_copy(self.qualification)
        if self.necessity:
            record["necessity"] = verdict_copy(self.necessity)
        if self.baseline is not None:
            record["baseline_answer"] = outputs.relative(outputs.baseline(self.id))
        if self.searchability:
            record["searchability"] = self.searchability
        return record


def verdict_copy(verdict: dict[str, Any] | None) -> dict[str, Any] | None:
    """A verdict as written out, a copy so the record never shares it with the candidate."""
    return None if verdict is None else dict(verdict)


def make_candidates(persona: Persona, source: str, drafts: list[dict[str, Any]], wave: int) -> list[Candidate]:
    """One persona's batch of drafts as candidates, with ids that stay unique when a batch repeats a text."""
    made: list[Candidate] = []
    taken: set[str] = set()
    for index, raw in enumerate(drafts):
        draft = DraftTask.model_validate(raw)
        ident = candidate_id(persona, draft.task)
        if ident in taken:  # the same text twice in one batch
            ident = f"{ident}-{index + 1}"
        taken.add(ident)
        made.append(Candidate(ident, persona, source, index, draft, wave))
    return made


def screen_format(candidates: list[Candidate]) -> list[Candidate]:
    """Those whose draft is usable; the others are rejected at stage ``format``."""
    fresh = []
    for c in candidates:
        problems = format_problems(c.draft)
        if problems:
            c.reject("format", "; ".join(problems))
        else:
            fresh.append(c)
    return fresh


def accepted_before(candidates: list[Candidate], wave: int) -> list[tuple[str, str]]:
    """Every distinct task of the earlier waves, whatever the filters later made of it (as within a wave)."""
    return [
        (c.id, c.draft.task)
        for c in candidates
        if c.wave < wave and (c.rejected is None or c.rejected[0] not in ("format", "novelty", "duplicate"))
    ]


def screen_duplicates(
    fresh: list[Candidate],
    accepted: list[tuple[str, str]],
    against: list[tuple[str, str]],
    similarity: Similarity,
    threshold: float,
) -> list[Candidate]:
    """Those new both to ``--against`` and to the tasks accepted so far; the others are rejected at stage
    ``novelty`` or ``duplicate``, naming the task they repeat."""
    dropped, nearest = deduplicate(
        [(c.id, c.draft.task) for c in fresh],
        accepted=accepted,
        against=against,
        similarity=similarity,
        threshold=threshold,
    )
    survivors = []
    for c in fresh:
        c.nearest = nearest.get(c.id)
        match = dropped.get(c.id)
        if match is not None:
            c.match = match
            what = "an existing task" if match.kind == "novelty" else "a task generated earlier"
            c.reject(
                match.kind,
                f"too close to {what}, {match.other} ({similarity.name} similarity "
                f"{match.similarity:.2f} >= {threshold:g})",
            )
        else:
            survivors.append(c)
    return survivors


async def screen_with_filters(pipeline: Pipeline, c: Candidate) -> None:
    """Qualification, then the no-search answer and Search Necessity, then searchability (with a searcher): the
    candidate passes, or is rejected at the first filter it fails or whose call fails."""
    settings = pipeline.settings
    task = c.task(language=pipeline.language)
    stage = "qualification"
    try:
        raw = await pipeline.qualification(task)
        c.qualification = filters.qualification_verdict(raw, settings.qualification_threshold)
        if not c.qualification["passed"]:
            return c.reject(stage, c.qualification["reason"])
        stage = "necessity"
        pipeline.progress("answer", 0, 1)
        c.baseline = await pipeline.baseline(task)
        pipeline.progress("necessity", 0, 1)
        raw = await pipeline.necessity(task, c.baseline)
        c.necessity = filters.necessity_verdict(raw, settings.necessity_threshold)
        if not c.necessity["passed"]:
            return c.reject(stage, c.necessity["reason"])
        if pipeline.searcher is not None:
            stage = "searchability"
            pipeline.progress("searchability", 0, 1)
            c.searchability = await pipeline.searchable(task, c.draft.search_queries)
            if not c.searchability["passed"]:
                return c.reject(stage, c.searchability["reason"])
    except LLMUnavailable:
        raise
    except LLMError as exc:
        return c.reject(stage, f"failed: {exc}", failed=True)
    except SearchError as exc:
        return c.reject(stage, f"failed: search: {exc}", failed=True)
    c.stage = "passed"
