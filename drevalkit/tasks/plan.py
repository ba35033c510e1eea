"""``dreval generate-tasks --dry-run``: what a run would do before anything is spent, from the real prompts."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from ..config import Settings
from ..llm.tokens import estimate_messages_tokens
from ..schemas import Persona, Task
from . import filters
from .drafts import generation_messages
from .generate import GenerateOptions
from .personas import PersonaLibrary
from .quotas import ASSUMED_PASS_RATE, domain_quota

ANSWER_TOKENS = 1500  # expected length of a no-search answer
GENERATION_TOKENS_PER_TASK = 260
JUDGE_TOKENS = 220
QUALIFIED = 0.6  # share of candidates expected to pass the qualification filter


def plan(settings: Settings, library: PersonaLibrary, options: GenerateOptions) -> dict[str, Any]:
    """The first wave (or every persona), the calls of each stage (expected at the assumed pass rates, and at
    most) and an estimated token count."""
    domains = library.ordered_domains()
    k = settings.task_candidates
    most = {d: len(library.of(d)) + options.synthesize for d in domains}
    quota = domain_quota(options.n, options.per_domain, len(domains))
    if quota is not None:
        per_domain = {d: min(most[d], math.ceil(quota / (k * ASSUMED_PASS_RATE))) for d in domains}
    else:
        per_domain = dict(most)
    personas = [p for d in domains for p in library.of(d)[: per_domain[d]]] or library.personas[:1]
    expected, at_most = sum(per_domain.values()), sum(most.values())
    rows = _stage_rows(settings, options, personas, len(domains), expected, at_most)
    total = {
        "calls": sum(r["calls"] for r in rows),
        "max_calls": sum(r["max_calls"] for r in rows),
        "prompt_tokens": sum(r["prompt_tokens"] for r in rows),
        "completion_tokens": sum(r["completion_tokens"] for r in rows),
    }
    searches = {
        "queries": math.ceil(expected * k * QUALIFIED * 0.5 * settings.searchability_queries)
        if options.searchability
        else 0
    }
    return {
        "domains": domains,
        "quota": quota,
        "candidates_per_persona": k,
        "first_wave_personas": per_domain,
        "personas_available": most,
        "stages": rows,
        "total": total,
        "searches": searches,
        "assumed_pass_rate": ASSUMED_PASS_RATE,
    }


def _stage_rows(
    settings: Settings,
    options: GenerateOptions,
    personas: list[Persona],
    domains: int,
    expected: int,
    at_most: int,
) -> list[dict[str, Any]]:
    """Per stage: the calls expected from ``expected`` personas and at most from ``at_most``, and their tokens
    at the expected count (prompt sizes measured on the first wave's personas and a typical task)."""
    k = settings.task_candidates
    as_of = options.as_of or date.today().isoformat()
    sample = personas[0]
    gen_prompt = sum(
        estimate_messages_tokens(generation_messages(p, k, settings.task_language, as_of)) for p in personas
    ) / len(personas)
    typical = Task(
        id="plan",
        prompt=" ".join(["research"] * 45),
        deliverables=["a deliverable"] * 3,
        time_constraint="a time window",
        persona=sample,
    )
    qual_prompt = estimate_messages_tokens(filters.qualification_messages(typical, sample, as_of))
    answer_prompt = estimate_messages_tokens(filters.answer_messages(typical, as_of))
    nec_prompt = estimate_messages_tokens(
        filters.necessity_messages(typical, "word " * int(ANSWER_TOKENS * 0.75), as_of)
    )
    rows = []

    def row(stage: str, expected_calls: float, most_calls: float, prompt: float, completion: float) -> None:
        rows.append(
            {
                "stage": stage,
                "calls": math.ceil(expected_calls),
                "max_calls": math.ceil(most_calls),
                "prompt_tokens": math.ceil(expected_calls * prompt),
                "completion_tokens": math.ceil(expected_calls * completion),
            }
        )

    if options.synthesize:
        row("personas", domains, domains, 600, 260 * options.synthesize)
    row("generation", expected, at_most, gen_prompt, GENERATION_TOKENS_PER_TASK * k)
    row("qualification", expected * k, at_most * k, qual_prompt, JUDGE_TOKENS)
    row("answer", expected * k * QUALIFIED, at_most * k, answer_prompt, ANSWER_TOKENS)
    row("necessity", expected * k * QUALIFIED, at_most * k, nec_prompt, JUDGE_TOKENS)
    if options.searchability:
        row("single_page", expected * k * QUALIFIED * 0.5, at_most * k, 900, JUDGE_TOKENS)
    return rows
