"""Judge a report against a frozen rubric, one dimension per call, and aggregate the scores.

Prompt layout for prefix caching: the fixed instructions, the task and the report come first and are identical in
every call for a report; only the dimension and its criteria (the last part) vary. The first call runs alone so the
server has the shared prefix cached before the other dimensions (and samples) are sent in parallel. That shared
part is rendered once per report (fencing the report is CPU work on report-sized text) in a worker thread, off the
event loop, and reused for every dimension, sample and juror.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field, create_model

from ..aio import gather_or_cancel
from ..llm import LLMClient
from ..llm.tokens import estimate_messages_tokens, estimate_tokens
from ..schemas import (
    Dimension,
    QualityResult,
    Report,
    Rubric,
    StrictModel,
    Task,
    Usage,
)
from .aggregate import CriterionJudgement, DimensionOutcome, aggregate, combine_quality
from .rubric import PROMPTS, load_general_rubric


def judgement_model(dimension: Dimension) -> type[BaseModel]:
    """Output schema for one dimension: exactly one entry per criterion id (closed, all required)."""
    return _judgement_model(tuple(criterion.id for criterion in dimension.criteria))


@lru_cache(maxsize=256)
def _judgement_model(criterion_ids: tuple[str, ...]) -> type[BaseModel]:
    """Built once per set of criterion ids (every report of a task, every sample and juror shares its rubric's)."""
    fields: dict[str, Any] = {f"c{i}": (CriterionJudgement, Field(alias=cid)) for i, cid in enumerate(criterion_ids)}
    return create_model("DimensionJudgement", __base__=StrictModel, **fields)


@dataclass(frozen=True)
class JudgePrompt:
    """The part of every judging prompt of one report that does not depend on the dimension: the system prompt and
    the task and report context, rendered once."""

    system: str
    context: str

    def messages(self, dimension: Dimension) -> list[dict[str, str]]:
        varying = PROMPTS.render("judge_dimension.j2", dimension=dimension)
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.context + "\n\n" + varying},
        ]


def judge_prompt(task: Task, report: Report) -> JudgePrompt:
    """Render the shared part of a report's judging prompts (CPU work on report-sized text)."""
    general = load_general_rubric()
    return JudgePrompt(
        system=PROMPTS.render("judge_system.j2", scale=general.score_scale, bands=general.score_bands),
        context=PROMPTS.render("judge_context.j2", task=task, report_text=report.text),
    )


def judge_messages(task: Task, report: Report, dimension: Dimension) -> list[dict[str, str]]:
    """One dimension's prompt on its own; judging a whole report renders ``judge_prompt`` once instead."""
    return judge_prompt(task, report).messages(dimension)


async def judge_dimension(
    llm: LLMClient, prompt: JudgePrompt, dimension: Dimension, sample: int, usage: Usage
) -> DimensionOutcome:
    model = judgement_model(dimension)
    answer = await llm.structured_or_reason(prompt.messages(dimension), model, usage, sample=sample)
    if isinstance(answer, str):
        return DimensionOutcome(dimension.id, sample, None, answer)
    judgements = {c.id: getattr(answer, f"c{i}") for i, c in enumerate(dimension.criteria)}
    return DimensionOutcome(dimension.id, sample, judgements)


def prompt_tokens(prompt: JudgePrompt, rubric: Rubric) -> int:
    """Estimated tokens of the longest judging prompt of the report (a scan of report-sized text: run it off the
    event loop)."""
    return max(estimate_messages_tokens(prompt.messages(d)) for d in rubric.dimensions)


def _setting(llm: LLMClient) -> str:
    return "local_context" if llm.backend.name == "local" else "context_tokens"


def context_problem(llm: LLMClient, tokens: int) -> str:
    """Why a prompt of ``tokens`` and the answer cannot fit the judge's context window (one line with both numbers),
    or "" if they can or the window is unknown."""
    context = llm.backend.context_tokens
    needed = tokens + llm.settings.max_tokens
    if not context or needed <= context:
        return ""
    return (
        f"the report does not fit the judge's context: judging it needs about {needed} tokens (a prompt of "
        f"about {tokens} with the report, plus {llm.settings.max_tokens} for the answer) but the judge has "
        f"{context} ({_setting(llm)}); use a judge with a longer context"
    )


MIN_JUDGED_TOKENS = 1000  # a context with room for less of the report than this judges nothing (a failed result)
_CUT_NOTE = "\n\n[dreval: the report is cut here; the rest, about {rest} tokens, did not fit the judge's context]"
_CUT_ATTEMPTS = 4


def cut_text(text: str, tokens: int) -> str:
    """The longest start of ``text`` estimated at no more than ``tokens``, ended at a paragraph, sentence or word
    boundary in its last fifth when there is one."""
    low, high = 0, len(text)
    while low < high:  # the longest prefix within the estimate (estimates grow with the prefix)
        middle = (low + high + 1) // 2
        low, high = (middle, high) if estimate_tokens(text[:middle]) <= tokens else (low, middle - 1)
    if low == len(text):
        return text
    floor = low - low // 5
    for boundary in ("\n\n", ". ", "\n", " "):
        at = text.rfind(boundary, floor, low)
        if at > 0:
            return text[: at + len(boundary)].rstrip()
    return text[:low]


@dataclass(frozen=True)
class FittedPrompt:
    """The judging prompt of a report within every judge's context: of the whole report, or of its start (``cut``
    says so, for the result's reasons); ``problem``: why nothing could be judged."""

    prompt: JudgePrompt
    cut: str = ""
    problem: str = ""


def fit_prompt(task: Task, report: Report, rubric: Rubric, judges: Sequence[LLMClient]) -> FittedPrompt:
    """The prompt of ``report``, cut to the smallest context of ``judges`` (its window less the answer's tokens) when
    it does not fit: report-sized CPU work, for a worker thread. Every judge judges the same text."""
    prompt = judge_prompt(task, report)
    windows = [judge for judge in judges if judge.backend.context_tokens]
    if not windows:
        return FittedPrompt(prompt)
    tightest = min(windows, key=lambda j: (j.backend.context_tokens or 0) - j.settings.max_tokens)
    room = (tightest.backend.context_tokens or 0) - tightest.settings.max_tokens
    tokens = prompt_tokens(prompt, rubric)
    if tokens <= room:
        return FittedPrompt(prompt)
    whole = estimate_tokens(report.text)
    keep = room - (tokens - whole) - estimate_tokens(_CUT_NOTE.format(rest=whole))
    for _ in range(_CUT_ATTEMPTS):  # fencing may lengthen the text a little: cut again until it fits
        if keep < MIN_JUDGED_TOKENS:
            break
        start = cut_text(report.text, keep)
        judged = estimate_tokens(start)
        shown = report.model_copy(update={"text": start + _CUT_NOTE.format(rest=whole - judged)})
        cut_prompt = judge_prompt(task, shown)
        over = prompt_tokens(cut_prompt, rubric) - room
        if over <= 0:
            return FittedPrompt(
                cut_prompt,
                cut=f"the report was cut to fit the judge's context: judged its first {judged} of about {whole} "
                f"tokens (the prompt and {tightest.settings.max_tokens} tokens of answer must fit "
                f"{tightest.backend.context_tokens}, {_setting(tightest)}); give a judge with a longer context to "
                "judge all of it",
            )
        keep -= over + 16
    return FittedPrompt(prompt, problem=context_problem(tightest, tokens))


async def judge_report(
    llm: LLMClient, task: Task, report: Report, rubric: Rubric, samples: int = 1, jury: Sequence[LLMClient] = ()
) -> tuple[QualityResult, Usage]:
    """Judge every dimension (``samples`` times). With a ``jury`` (judges besides ``llm``), every judge judges every
    dimension and the result is the jury's (``drevalkit.quality.aggregate.combine_quality``), each judge's kept. A
    report longer than a judge's context is judged on its start, and the result is partial, saying so; one whose
    context has no room for it is failed before any call."""
    usage = Usage()
    judges = [llm, *jury]
    fitted = await asyncio.to_thread(fit_prompt, task, report, rubric, judges)
    if fitted.problem:
        return QualityResult(rubric_hash=rubric.hash, status="failed", reasons=[fitted.problem]), usage
    prompt = fitted.prompt
    if jury:
        outcomes = await gather_or_cancel(*(_judge_all(judge, prompt, rubric, samples, usage) for judge in judges))
        result = combine_quality(rubric, list(outcomes), samples, [judge.judge_info for judge in judges])
    else:
        result = aggregate(rubric, await _judge_all(llm, prompt, rubric, samples, usage), samples)
    if fitted.cut:
        result.reasons.insert(0, fitted.cut)
        result.status = "partial" if result.status == "complete" else result.status
    return result, usage


async def _judge_all(
    llm: LLMClient, prompt: JudgePrompt, rubric: Rubric, samples: int, usage: Usage
) -> list[DimensionOutcome]:
    jobs = [(sample, dim) for sample in range(samples) for dim in rubric.dimensions]
    first = await judge_dimension(llm, prompt, jobs[0][1], jobs[0][0], usage)
    rest = await gather_or_cancel(*(judge_dimension(llm, prompt, dim, s, usage) for s, dim in jobs[1:]))
    return [first, *rest]
