"""``dreval generate-tasks``: personas -> candidate tasks -> dedup and novelty -> Task Qualification -> answer
without search -> Search Necessity -> searchability -> per-domain quotas -> ``tasks.jsonl``.

How a run goes:

1. Personas come from the library (or ``--personas DIR``), optionally with ``--synthesize-personas N`` more per
   domain written by the generator model (deduplicated against the others, saved beside the output).
2. Work proceeds in *waves*. Without ``--n`` / ``--per-domain`` every persona is used in one wave. With a target,
   each domain takes just enough personas for its quota (``--per-domain``, else ``ceil(n / domains)``) at the pass
   rate seen so far, and takes more in the next wave while it is short; a domain that runs out of personas says so
   and, with ``--n`` alone, its shortfall is spread over the others.
3. In a wave, each persona's K candidates are written in one call, checked for format, compared (in a fixed
   order, so a rerun decides the same) with ``--against`` task sets and with every candidate accepted so far,
   and then go through the filters concurrently. No call is spent on a duplicate.
4. Kept tasks are chosen per domain (most search-dependent first: lowest no-search quality, then highest
   qualification confidence) up to the quota and ``--n``; the others are rejected at stage ``quota``.

Every finished call's output is recorded in the store's journal under the run (the output file) and the exact
inputs of the step, so a run restarted after a crash or Ctrl-C repeats none of them; the output files are written
only when the run is complete, each atomically. A failed call is recorded in the rejected file and the summary, and
not in the journal, so the next run tries it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from ..__version__ import __version__
from ..aio import gather_or_cancel
from ..config import Settings
from ..errors import DrevalError
from ..factcheck.search import Searcher
from ..ingest.task_files import import_tasks
from ..llm import LLMError, LLMUnavailable
from ..schemas import Persona, Task, Usage, stable_hash, utc_now
from ..store import Store
from .candidates import (
    Candidate,
    accepted_before,
    make_candidates,
    screen_duplicates,
    screen_format,
    screen_with_filters,
    verdict_copy,
)
from .dedup import DEFAULT_THRESHOLDS, Similarity, make_similarity
from .drafts import (
    PROMPTS,
    PersonaDraft,
    generate_drafts,
    persona_from_draft,
    synthesize_personas,
    vet_synthesized,
)
from .journal import Journal, llm_identity, run_id
from .outputs import GenerationResult, TaskOutputs, write_outputs
from .personas import PersonaLibrary
from .pipeline import Pipeline, ProgressHook, Roles
from .quotas import Quotas
from .summary import domain_rows, failed_steps, filter_histograms, stage_rows


class GenerationError(DrevalError, RuntimeError):
    """A run that cannot start (bad --against file, no personas, ...); the message says why."""


@dataclass
class GenerateOptions:
    """What the run was asked for: the command's options that are not model or threshold settings."""

    out: Path = Path("tasks.jsonl")
    n: int | None = None
    per_domain: int | None = None
    synthesize: int = 0
    id_prefix: str | None = None
    against: list[Path] = field(default_factory=list)
    searchability: bool = False
    as_of: str | None = None
    resume: bool = True


class TaskGenerator(Pipeline):
    """One ``generate-tasks`` run: setup, then waves of generation and screening until the quotas are met, then
    the kept tasks and every output file."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        roles: Roles,
        library: PersonaLibrary,
        options: GenerateOptions,
        *,
        progress: ProgressHook | None = None,
        searcher: Searcher | None = None,
        similarity: Similarity | None = None,
    ):
        outputs = TaskOutputs(Path(options.out))
        super().__init__(settings, store, roles, Journal(store, run_id("generate", outputs.tasks)), progress, searcher)
        self.library = library
        self.options = options
        self.outputs = outputs
        self.similarity = similarity or make_similarity(settings.dedup_method, settings.embedding_model)
        self.threshold = settings.dedup_threshold or DEFAULT_THRESHOLDS[self.similarity.name]
        self.k = settings.task_candidates
        self.candidates: list[Candidate] = []
        self.generation_failures: list[dict[str, Any]] = []
        self.synthesized: list[Persona] = []
        self.synthesis_notes: list[str] = []
        self.against: list[tuple[str, str]] = []
        self.against_notes: list[str] = []
        self.quotas: Quotas  # set by run() once synthesis has made the persona pools final

    async def run(self) -> GenerationResult:
        self.load_against()
        await self.start()
        await self.synthesize()
        self.quotas = Quotas(
            self.options.n,
            self.options.per_domain,
            self.k,
            {d: self.pool(d) for d in self.domains()},
            self.candidates,
        )
        number = 0
        while True:
            personas = self.quotas.next_personas()
            if not personas:
                break
            number += 1
            await self.wave(number, personas)
            if self.quotas.quota is None:
                break
        result = self.finish(number)
        write_outputs(result)
        await self.journal.set_state(status="complete", finished_at=utc_now())
        return result

    # -- setup ----------------------------------------------------------------------------------------------
    def load_against(self) -> None:
        if not self.options.against:
            return
        imported = import_tasks(self.options.against)
        unreadable = [p for p in imported.problems if "cannot read" in p or "is empty" in p or "no tasks" in p]
        if unreadable or not imported.tasks:
            raise GenerationError("--against: " + "; ".join(unreadable or imported.problems or ["no tasks found"]))
        self.against_notes = imported.problems
        self.against = [(f"{t.id}", t.prompt) for t in imported.tasks]

    async def start(self) -> None:
        journal = self.journal
        if not self.options.resume:
            await self.store.arun(self.store.clear_journal, journal.run)
        state = await journal.state()
        if self.options.as_of:
            self.as_of = self.options.as_of
        elif state and state.get("as_of"):
            self.as_of = state["as_of"]  # a resumed run keeps its date, so its recorded steps still match
        await journal.set_state(
            as_of=self.as_of, status="running", started_at=(state or {}).get("started_at") or utc_now()
        )

    def domains(self) -> list[str]:
        return self.library.ordered_domains()

    def pool(self, domain: str) -> list[Persona]:
        """The domain's personas in a fixed order that spreads runs with small quotas over the library (by
        ``seed``), synthesized ones last."""
        own = sorted(self.library.of(domain), key=lambda p: stable_hash([self.settings.seed, p.id]))
        return own + [p for p in self.synthesized if p.domain == domain]

    def source_of(self, persona: Persona) -> str:
        if persona in self.synthesized:
            return "synthesized"
        return self.library.sources.get(persona.id, "")

    async def synthesize(self) -> None:
        """``--synthesize-personas``: new personas per domain, those that repeat none of the library's kept."""
        if self.options.synthesize <= 0:
            return
        domains = self.domains()
        self.progress("personas", 0, len(domains))
        results = await gather_or_cancel(*(self.synthesize_for(d) for d in domains))
        for domain, made in zip(domains, results):
            kept, notes = vet_synthesized(self.library, domain, made)
            self.synthesized += kept
            self.synthesis_notes += notes

    async def synthesize_for(self, domain: str) -> list[Persona]:
        generator = self.roles.generator
        count = self.options.synthesize
        existing = self.library.of(domain)
        inputs = {
            "domain": domain,
            "count": count,
            "existing": [p.model_dump() for p in existing],
            "model": llm_identity(generator),
            "language": self.language,
        }

        async def compute() -> tuple[Any, Usage]:
            drafts, usage = await synthesize_personas(generator, domain, existing, count, self.language)
            return [d.model_dump() for d in drafts], usage

        try:
            drafts = await self.step("personas", inputs, compute)
        except LLMUnavailable:
            raise
        except LLMError as exc:
            self.generation_failures.append({"stage": "personas", "domain": domain, "reason": str(exc)})
            return []
        return [persona_from_draft(PersonaDraft.model_validate(d), domain) for d in drafts]

    # -- one wave ---------------------------------------------------------------------------------------------
    async def generate_for(self, persona: Persona, wave: int) -> list[Candidate]:
        generator = self.roles.generator
        inputs = {
            "persona": persona.model_dump(),
            "count": self.k,
            "language": self.language,
            "model": llm_identity(generator),
            "as_of": self.as_of,
        }

        async def compute() -> tuple[Any, Usage]:
            drafts, usage = await generate_drafts(generator, persona, self.k, self.language, self.as_of)
            return [d.model_dump() for d in drafts], usage

        try:
            drafts = await self.step("generation", inputs, compute)
        except LLMUnavailable:
            raise
        except LLMError as exc:
            self.generation_failures.append(
                {"stage": "generation", "domain": persona.domain, "persona_id": persona.id, "reason": str(exc)}
            )
            return []
        return make_candidates(persona, self.source_of(persona), drafts, wave)

    async def wave(self, number: int, personas: list[Persona]) -> list[Candidate]:
        """Write each persona's candidates, then screen them: format, novelty and duplicates in a fixed order (so
        a rerun decides the same), then the filters concurrently."""
        self.progress("generation", 0, len(personas))
        batches = await gather_or_cancel(*(self.generate_for(p, number) for p in personas))
        made = [c for batch in batches for c in batch]
        self.candidates.extend(made)
        fresh = screen_format(made)
        survivors = screen_duplicates(
            fresh, accepted_before(self.candidates, number), self.against, self.similarity, self.threshold
        )
        self.progress("qualification", 0, len(survivors))
        await gather_or_cancel(*(screen_with_filters(self, c) for c in survivors))
        return survivors

    # -- the kept tasks -----------------------------------------------------------------------------------------
    def finish(self, waves: int) -> GenerationResult:
        chosen = self.quotas.select()
        ids = self.task_ids(chosen)
        tasks = [self.final_task(c, ids[c.id]) for c in chosen]
        rejected = [c.rejected_record(self.outputs) for c in self.candidates if c.rejected is not None]
        rejected += [
            {
                "candidate_id": None,
                "stage": f["stage"],
                "reason": f"failed: {f['reason']}",
                "failed": True,
                "domain": f["domain"],
                "persona_id": f.get("persona_id"),
            }
            for f in self.generation_failures
        ]
        return GenerationResult(
            tasks=tasks,
            rejected=rejected,
            summary=run_summary(self, tasks, waves),
            outputs=self.outputs,
            baselines={c.id: c.baseline for c in self.candidates if c.baseline is not None},
            synthesized=list(self.synthesized),
        )

    def task_ids(self, chosen: list[Candidate]) -> dict[str, str]:
        if not self.options.id_prefix:
            return {c.id: c.id for c in chosen}
        width = max(3, len(str(len(chosen))))
        return {c.id: f"{self.options.id_prefix}{i:0{width}d}" for i, c in enumerate(chosen, start=1)}

    def final_task(self, c: Candidate, task_id: str) -> Task:
        """The kept task with its provenance: how it was made, what each filter said, when to check it again."""
        revalidate_after = None
        if c.draft.time_sensitive:
            revalidate_after = (
                date.fromisoformat(self.as_of) + timedelta(days=self.settings.revalidate_days)
            ).isoformat()
        provenance = {
            "generator": "dreval generate-tasks",
            "dreval_version": __version__,
            "prompt_version": PROMPTS.version,
            "candidate_id": c.id,
            "generated_at": self.as_of,
            "persona_source": c.persona_source,
            "models": self.roles.info(),
            "language": self.language,
            "time_sensitive": c.draft.time_sensitive,
            "revalidate_after": revalidate_after,
            "expected_search_rounds": c.draft.expected_search_rounds,
            "search_angles": c.draft.search_angles,
            "source_kinds": c.draft.source_kinds,
            "search_queries": c.draft.search_queries,
            "qualification": verdict_copy(c.qualification),
            "necessity": verdict_copy(c.necessity),
            "baseline_answer": self.outputs.relative(self.outputs.baseline(c.id)),
            "searchability": c.searchability,
            "dedup": {
                "method": self.similarity.name,
                "threshold": self.threshold,
                "nearest": {"id": c.nearest[0], "similarity": round(c.nearest[1], 4)} if c.nearest else None,
            },
        }
        return c.task(task_id, self.language).model_copy(update={"provenance": provenance})


def run_summary(run: TaskGenerator, tasks: list[Task], waves: int) -> dict[str, Any]:
    """The summary of a finished run: ``complete`` when every step succeeded, ``partial`` when some failed (a re-run
    retries them), ``failed`` when steps failed and no task was kept."""
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
        "status": ("partial" if tasks else "failed") if failures else "complete",
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
