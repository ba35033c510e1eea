"""Writing personas and candidate tasks with the generator model.

Every call asks for a JSON Schema (pydantic output models below); the prompts state constraints only, never example
values a model could copy. Candidate ids are content hashes of the persona and the task text, so they are stable
across runs and never repeat across personas.
"""

from __future__ import annotations

from typing import Literal, Protocol, cast

from pydantic import BaseModel, Field, create_model

from ..llm import LLMClient
from ..prompts import PromptSet
from ..schemas import Persona, StrictModel, Usage, stable_hash
from .dedup import LexicalSimilarity
from .personas import PersonaLibrary, slug, word_count

PROMPTS = PromptSet("drevalkit.tasks")
GENERATION_TEMPERATURE = 0.9  # candidate tasks and personas should differ; judging stays greedy
TASK_WORDS = (10, 60)
PERSONA_DUPLICATE = 0.5  # lexical similarity at which a synthesized persona repeats an existing one

LANGUAGES = {
    "en": "English",
    "zh": "Chinese (Simplified)",
    "zh-TW": "Chinese (Traditional)",
    "ja": "Japanese",
    "ko": "Korean",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "pt": "Portuguese",
    "pt-BR": "Brazilian Portuguese",
    "it": "Italian",
    "nl": "Dutch",
    "sv": "Swedish",
    "pl": "Polish",
    "ru": "Russian",
    "uk": "Ukrainian",
    "tr": "Turkish",
    "ar": "Arabic",
    "hi": "Hindi",
    "id": "Indonesian",
    "vi": "Vietnamese",
}
_CJK_LANGUAGES = ("zh", "ja", "ko")

SourceKind = Literal[
    "official statistics",
    "government or regulator documents",
    "legislation or court decisions",
    "academic research",
    "company filings or reports",
    "industry or trade reports",
    "news reporting",
    "NGO or think-tank reports",
    "technical documentation or standards",
    "datasets",
    "expert commentary",
    "community or practitioner forums",
]


def language_name(code: str) -> str:
    return LANGUAGES.get(code) or LANGUAGES.get(code.split("-")[0]) or f"the language with code {code}"


def is_cjk(code: str) -> bool:
    return code.split("-")[0].lower() in _CJK_LANGUAGES


class DraftTask(StrictModel):
    task: str = Field(description="the research request itself")
    deliverables: list[str] = Field(min_length=1, max_length=6)
    time_window: str = Field(description="the time window stated in the task, or empty")
    time_sensitive: bool
    search_angles: list[str] = Field(min_length=2, max_length=6)
    source_kinds: list[SourceKind] = Field(min_length=2, max_length=8)
    search_queries: list[str] = Field(min_length=2, max_length=5)
    key_challenges: list[str] = Field(min_length=1, max_length=4)
    expected_search_rounds: int = Field(ge=2, le=30)


class _TaskDrafts(Protocol):
    """The field of a ``draft_batch_model`` answer (the model is built at run time, so mypy cannot see it)."""

    tasks: list[DraftTask]


def draft_batch_model(count: int) -> type[BaseModel]:
    """Exactly ``count`` tasks: the array's bounds are in the schema, so a model cannot return fewer or more."""
    return create_model(
        "TaskDrafts", __base__=StrictModel, tasks=(list[DraftTask], Field(min_length=count, max_length=count))
    )


class PersonaDraft(StrictModel):
    name: str
    role: str
    affiliation: str
    subdomain: str
    background: str = Field(description="100 to 150 words")
    kind: Literal["expert", "ordinary person"]


class _PersonaDrafts(Protocol):
    """The field of a ``persona_batch_model`` answer (the model is built at run time, so mypy cannot see it)."""

    personas: list[PersonaDraft]


def persona_batch_model(count: int) -> type[BaseModel]:
    return create_model(
        "PersonaDrafts", __base__=StrictModel, personas=(list[PersonaDraft], Field(min_length=count, max_length=count))
    )


def generation_messages(persona: Persona, count: int, language: str, as_of: str) -> list[dict[str, str]]:
    user = PROMPTS.render(
        "generate_tasks.j2",
        persona=persona,
        count=count,
        language=language_name(language),
        cjk=is_cjk(language),
        as_of=as_of,
        min_windows=max(1, (count * 3 + 3) // 4),
    )
    return [{"role": "system", "content": PROMPTS.render("generate_system.j2")}, {"role": "user", "content": user}]


async def generate_drafts(
    llm: LLMClient, persona: Persona, count: int, language: str, as_of: str
) -> tuple[list[DraftTask], Usage]:
    result = await llm.structured(
        generation_messages(persona, count, language, as_of),
        draft_batch_model(count),
        temperature=GENERATION_TEMPERATURE,
    )
    return list(cast("_TaskDrafts", result.value).tasks), result.usage


def synthesis_messages(domain: str, existing: list[Persona], count: int, language: str) -> list[dict[str, str]]:
    user = PROMPTS.render(
        "synthesize_personas.j2", domain=domain, existing=existing, count=count, language=language_name(language)
    )
    return [{"role": "system", "content": PROMPTS.render("synthesize_system.j2")}, {"role": "user", "content": user}]


async def synthesize_personas(
    llm: LLMClient, domain: str, existing: list[Persona], count: int, language: str
) -> tuple[list[PersonaDraft], Usage]:
    result = await llm.structured(
        synthesis_messages(domain, existing, count, language),
        persona_batch_model(count),
        temperature=GENERATION_TEMPERATURE,
    )
    return list(cast("_PersonaDrafts", result.value).personas), result.usage


def persona_from_draft(draft: PersonaDraft, domain: str) -> Persona:
    name = " ".join(draft.name.split())
    return Persona(
        id=f"synth-{slug(domain, 16)}-{slug(name, 32)}-{stable_hash([domain, name], 6)}",
        domain=domain,
        name=name,
        role=" ".join(draft.role.split()),
        affiliation=" ".join(draft.affiliation.split()),
        background=" ".join(draft.background.split()),
        subdomain=" ".join(draft.subdomain.split()),
    )


def vet_synthesized(library: PersonaLibrary, domain: str, made: list[Persona]) -> tuple[list[Persona], list[str]]:
    """The synthesized personas of one domain worth adding, and notes on the others: a persona whose name is taken
    or that is too close to one before it (in the library or kept from this batch) is dropped; one kept with a
    background of unusual length is noted."""
    kept: list[Persona] = []
    notes: list[str] = []
    lexical = LexicalSimilarity()
    pool = [(p.id, f"{p.role} {p.subdomain} {p.background}") for p in library.of(domain)]
    names = {" ".join(p.name.lower().split()) for p in library.personas}
    for persona in made:
        text = f"{persona.role} {persona.subdomain} {persona.background}"
        sims = lexical.matrix([text], [t for _, t in pool]) if pool else [[]]
        closest = max(range(len(pool)), key=lambda j: sims[0][j], default=None)
        if persona.name.lower() in names or persona.id in library.sources:
            notes.append(f"{domain}: synthesized persona {persona.name!r} dropped: the name is taken")
        elif closest is not None and sims[0][closest] >= PERSONA_DUPLICATE:
            notes.append(
                f"{domain}: synthesized persona {persona.name!r} dropped: too close to {pool[closest][0]} "
                f"(similarity {sims[0][closest]:.2f})"
            )
        else:
            kept.append(persona)
            pool.append((persona.id, text))
            names.add(persona.name.lower())
            words = word_count(persona.background)
            if not 60 <= words <= 220:
                notes.append(f"{domain}: synthesized persona {persona.id} has a {words}-word background")
    return kept, notes


def candidate_id(persona: Persona, prompt: str) -> str:
    """Stable and unique: the same persona and text always give the same id, two personas never share one."""
    return "task-" + stable_hash([persona.id, " ".join(prompt.split())], 12)


def format_problems(draft: DraftTask) -> list[str]:
    """What makes a draft unusable before any judge sees it (the schema has checked the rest)."""
    problems = []
    words = word_count(draft.task)
    if not TASK_WORDS[0] <= words <= TASK_WORDS[1]:
        problems.append(f"the task has {words} words, outside {TASK_WORDS[0]}-{TASK_WORDS[1]}")
    if not any(d.strip() for d in draft.deliverables):
        problems.append("no deliverable is named")
    if len({a.strip().lower() for a in draft.search_angles if a.strip()}) < 2:
        problems.append("fewer than two distinct search angles")
    if len(set(draft.source_kinds)) < 2:
        problems.append("fewer than two kinds of sources")
    if not any(q.strip() for q in draft.search_queries):
        problems.append("no search query")
    return problems
