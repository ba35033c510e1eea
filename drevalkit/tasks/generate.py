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

import json
import math
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from ..__version__ import __version__
from ..aio import gather_or_cancel
from ..config import Settings
from ..errors import DrevalError
from ..factcheck.search import Searcher, SearchError, SearchUnavailable
from ..files import atomic_write_text, safe_filename
from ..ingest.task_files import TaskError, import_tasks
from ..llm import LLMClient, LLMError, LLMUnavailable
from ..llm.tokens import estimate_messages_tokens
from ..schemas import Persona, SearchHit, Task, Usage, stable_hash, utc_now
from ..store import Store
from . import filters
from .dedup import DEFAULT_THRESHOLDS, LexicalSimilarity, Match, Similarity, deduplicate, make_similarity
from .generation import (
    PROMPTS,
    DraftTask,
    PersonaDraft,
    candidate_id,
    format_problems,
    generate_drafts,
    generation_messages,
    persona_from_draft,
    synthesize_personas,
)
from .personas import DOMAINS, PersonaLibrary, dump_personas, word_count

STAGES = ("generation", "format", "novelty", "duplicate", "qualification", "necessity", "searchability", "quota")
ASSUMED_PASS_RATE = 0.35  # share of candidates expected to survive every filter, before any is seen
MIN_PASS_RATE = 0.1
PERSONA_DUPLICATE = 0.5  # lexical similarity at which a synthesized persona repeats an existing one
ProgressHook = Callable[[str, int, int], None]  # (stage, advance, add to total)


class GenerationError(DrevalError, RuntimeError):
    """A run that cannot start (bad --against file, no personas, ...); the message says why."""


@dataclass(frozen=True)
class TaskOutputs:
    """Where a run writes: ``tasks.jsonl`` and, beside it, ``tasks.rejected.jsonl``, ``tasks.summary.json``,
    ``tasks.baselines/<candidate id>.md`` (the no-search answers) and ``tasks.personas.yaml`` (synthesized ones)."""

    tasks: Path

    @property
    def stem(self) -> str:
        name = self.tasks.name
        for suffix in (".jsonl", ".json"):
            if name.endswith(suffix) and len(name) > len(suffix):
                return name[: -len(suffix)]
        return name

    def _beside(self, suffix: str) -> Path:
        return self.tasks.with_name(self.stem + suffix)

    @property
    def rejected(self) -> Path:
        return self._beside(".rejected.jsonl")

    @property
    def summary(self) -> Path:
        return self._beside(".summary.json")

    @property
    def baselines(self) -> Path:
        return self._beside(".baselines")

    @property
    def personas(self) -> Path:
        return self._beside(".personas.yaml")

    @property
    def revalidation(self) -> Path:
        return self._beside(".revalidation.json")

    def baseline(self, candidate: str) -> Path:
        return self.baselines / f"{safe_filename(candidate)}.md"

    def relative(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.tasks.parent))
        except ValueError:
            return str(path)


@dataclass
class GenerateOptions:
    out: Path = Path("tasks.jsonl")
    n: int | None = None
    per_domain: int | None = None
    synthesize: int = 0
    id_prefix: str | None = None
    against: list[Path] = field(default_factory=list)
    searchability: bool = False
    as_of: str | None = None
    resume: bool = True


@dataclass
class Roles:
    """The model of each role; one client may serve several."""

    generator: LLMClient
    answer: LLMClient
    judge: LLMClient

    def info(self) -> dict[str, Any]:
        return {role: getattr(self, role).judge_info.model_dump() for role in ("generator", "answer", "judge")}

    async def close(self) -> None:
        for client in {id(c): c for c in (self.generator, self.answer, self.judge)}.values():
            await client.close()


@dataclass
class Candidate:
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


def llm_identity(llm: LLMClient) -> str:
    info = llm.judge_info
    return stable_hash([info.model, info.backend, info.identity, info.model_sha256, info.structured_output], 24)


class Journal:
    """The finished steps of one run in the store: ``(stage, key of the step's exact inputs) -> output``."""

    def __init__(self, store: Store, run: str):
        self.store = store
        self.run = run
        self.reused: Counter[str] = Counter()
        self.recorded: Counter[str] = Counter()

    async def get(self, stage: str, key: str) -> Any | None:
        return await self.store.arun(self.store.get_journal, self.run, stage, key)

    async def put(self, stage: str, key: str, value: Any) -> None:
        await self.store.arun(self.store.put_journal, self.run, stage, key, value)
        self.recorded[stage] += 1

    async def state(self) -> dict[str, Any] | None:
        return await self.get("run", "state")

    async def set_state(self, **values: Any) -> None:
        state = await self.state() or {}
        state.update(values)
        await self.store.arun(self.store.put_journal, self.run, "run", "state", state)

    def count(self) -> int:
        return len(self.store.journal_entries(self.run))


def run_id(kind: str, path: Path) -> str:
    """A run is identified by what it writes (or reads, for revalidation): one journal per output file."""
    return f"{kind}:{Path(path).expanduser().resolve()}"


class _Pipeline:
    """Shared by generation and revalidation: journaled steps, usage per stage, progress."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        roles: Roles,
        journal: Journal,
        progress: ProgressHook | None,
        searcher: Searcher | None,
    ):
        self.settings = settings
        self.store = store
        self.roles = roles
        self.journal = journal
        self.progress = progress or (lambda stage, advance, total: None)
        self.searcher = searcher
        self.usage: dict[str, Usage] = defaultdict(Usage)
        self.calls_failed: list[dict[str, Any]] = []
        self.as_of = date.today().isoformat()
        self.language = settings.task_language

    async def step(
        self,
        stage: str,
        key_parts: Any,
        compute: Callable[[], Awaitable[tuple[Any, Usage]]],
        progress_stage: str | None = None,
    ) -> Any:
        """The journaled output of one step, computed (and recorded) only if no earlier run finished it."""
        key = stable_hash({"stage": stage, "inputs": key_parts, "prompts": PROMPTS.version}, 40)
        shown = progress_stage or stage
        recorded = await self.journal.get(stage, key)
        if recorded is not None:
            self.journal.reused[stage] += 1
            self.progress(shown, 1, 0)
            return recorded
        try:
            value, usage = await compute()
        except LLMError as exc:
            self.usage[stage].add(exc.usage)
            self.progress(shown, 1, 0)
            raise
        self.usage[stage].add(usage)
        await self.journal.put(stage, key, value)
        self.progress(shown, 1, 0)
        return value

    # -- the filter steps ------------------------------------------------------------------------------------
    async def qualification(self, task: Task) -> dict[str, Any]:
        judge = self.roles.judge
        inputs = {
            "task": task.model_dump(exclude={"id", "provenance"}),
            "judge": llm_identity(judge),
            "as_of": self.as_of,
        }

        async def compute() -> tuple[Any, Usage]:
            value, usage = await filters.qualify(judge, task, task.persona, self.as_of)
            return value.model_dump(), usage

        return await self.step("qualification", inputs, compute)

    async def baseline(self, task: Task) -> str:
        answerer = self.roles.answer
        inputs = {
            "task": task.model_dump(exclude={"id", "provenance", "persona"}),
            "model": llm_identity(answerer),
            "as_of": self.as_of,
        }

        async def compute() -> tuple[Any, Usage]:
            return await filters.answer_without_search(answerer, task, self.as_of)

        return await self.step("answer", inputs, compute)

    async def necessity(self, task: Task, answer: str) -> dict[str, Any]:
        judge = self.roles.judge
        inputs = {
            "task": task.model_dump(exclude={"id", "provenance", "persona"}),
            "answer": answer,
            "judge": llm_identity(judge),
            "as_of": self.as_of,
        }

        async def compute() -> tuple[Any, Usage]:
            value, usage = await filters.judge_necessity(judge, task, answer, self.as_of)
            return value.model_dump(), usage

        return await self.step("necessity", inputs, compute)

    async def searchable(self, task: Task, queries: list[str]) -> dict[str, Any]:
        """Search the key queries; with enough material, ask whether one page already answers the task. A check
        that searching could not complete raises ``SearchError`` (recorded as a failure, retried next run)."""
        assert self.searcher is not None
        settings = self.settings
        queries = [q for q in dict.fromkeys(" ".join(q.split()) for q in queries) if q][
            : settings.searchability_queries
        ]
        inputs = {"backend": self.searcher.backend.name, "k": self.searcher.k, "queries": queries}

        async def search() -> tuple[Any, Usage]:
            urls: dict[str, SearchHit] = {}
            errors = []
            for query in queries:
                try:
                    for hit in await self.searcher.search(query):
                        urls.setdefault(hit.url, hit)
                except SearchUnavailable:
                    raise
                except SearchError as exc:
                    errors.append(f"{query!r}: {exc}")
            if errors:
                raise SearchError("; ".join(errors))
            hits = list(urls.values())
            return {
                "queries": queries,
                "urls": [h.url for h in hits],
                "sites": sorted({filters.site_of(h.url) for h in hits}),
                "hits": [h.model_dump() for h in hits[:10]],
            }, Usage(searches=len(queries))

        found = await self.step("search", inputs, search, progress_stage="searchability")
        verdict = filters.searchability_verdict(
            found, settings.searchability_min_results, settings.searchability_min_domains
        )
        single = None
        if verdict["passed"] and found["hits"]:
            judge = self.roles.judge
            hits = [SearchHit.model_validate(h) for h in found["hits"]]
            single_inputs = {
                "task": task.model_dump(exclude={"id", "provenance", "persona"}),
                "hits": found["hits"],
                "judge": llm_identity(judge),
            }

            async def compute() -> tuple[Any, Usage]:
                return await filters.check_single_page(judge, task, hits)

            self.progress("searchability", 0, 1)
            single = await self.step("single_page", single_inputs, compute, progress_stage="searchability")
        found = {k: v for k, v in found.items() if k != "hits"}
        return filters.searchability_verdict(
            {**found, "single_page": single}, settings.searchability_min_results, settings.searchability_min_domains
        )


class TaskGenerator(_Pipeline):
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
        self.used: dict[str, int] = {}

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
        present = self.library.domains()
        return [d for d in DOMAINS if d in present] + [d for d in present if d not in DOMAINS]

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
        count = self.options.synthesize
        if count <= 0:
            return
        generator = self.roles.generator
        self.progress("personas", 0, len(self.domains()))

        async def one(domain: str) -> list[Persona]:
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

        results = await gather_or_cancel(*(one(d) for d in self.domains()))
        lexical = LexicalSimilarity()
        for domain, made in zip(self.domains(), results):
            pool = [(p.id, f"{p.role} {p.subdomain} {p.background}") for p in self.library.of(domain)]
            names = {" ".join(p.name.lower().split()) for p in self.library.personas}
            for persona in made:
                text = f"{persona.role} {persona.subdomain} {persona.background}"
                sims = lexical.matrix([text], [t for _, t in pool]) if pool else [[]]
                closest = max(range(len(pool)), key=lambda j: sims[0][j], default=None)
                if persona.name.lower() in names or persona.id in self.library.sources:
                    self.synthesis_notes.append(
                        f"{domain}: synthesized persona {persona.name!r} dropped: the name is taken"
                    )
                elif closest is not None and sims[0][closest] >= PERSONA_DUPLICATE:
                    self.synthesis_notes.append(
                        f"{domain}: synthesized persona {persona.name!r} dropped: too close to {pool[closest][0]} "
                        f"(similarity {sims[0][closest]:.2f})"
                    )
                else:
                    self.synthesized.append(persona)
                    pool.append((persona.id, text))
                    names.add(persona.name.lower())
                    words = word_count(persona.background)
                    if not 60 <= words <= 220:
                        self.synthesis_notes.append(
                            f"{domain}: synthesized persona {persona.id} has a {words}-word background"
                        )

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
        made: list[Candidate] = []
        taken: set[str] = set()
        for index, raw in enumerate(drafts):
            draft = DraftTask.model_validate(raw)
            ident = candidate_id(persona, draft.task)
            if ident in taken:  # the same text twice in one batch
                ident = f"{ident}-{index + 1}"
            taken.add(ident)
            made.append(Candidate(ident, persona, self.source_of(persona), index, draft, wave))
        return made

    def reject(self, candidate: Candidate, stage: str, reason: str, failed: bool = False) -> None:
        candidate.stage = stage
        candidate.rejected = (stage, reason, failed)

    async def filter_chain(self, c: Candidate) -> None:
        task = c.task(language=self.language)
        stage = "qualification"
        try:
            raw = await self.qualification(task)
            c.qualification = filters.qualification_verdict(raw, self.settings.qualification_threshold)
            if not c.qualification["passed"]:
                return self.reject(c, stage, c.qualification["reason"])
            stage = "necessity"
            self.progress("answer", 0, 1)
            c.baseline = await self.baseline(task)
            self.progress("necessity", 0, 1)
            raw = await self.necessity(task, c.baseline)
            c.necessity = filters.necessity_verdict(raw, self.settings.necessity_threshold)
            if not c.necessity["passed"]:
                return self.reject(c, stage, c.necessity["reason"])
            if self.searcher is not None:
                stage = "searchability"
                self.progress("searchability", 0, 1)
                c.searchability = await self.searchable(task, c.draft.search_queries)
                if not c.searchability["passed"]:
                    return self.reject(c, stage, c.searchability["reason"])
        except LLMUnavailable:
            raise
        except LLMError as exc:
            return self.reject(c, stage, f"failed: {exc}", failed=True)
        except SearchError as exc:
            return self.reject(c, stage, f"failed: search: {exc}", failed=True)
        c.stage = "passed"

    async def wave(self, number: int, personas: list[Persona]) -> list[Candidate]:
        self.progress("generation", 0, len(personas))
        batches = await gather_or_cancel(*(self.generate_for(p, number) for p in personas))
        made = [c for batch in batches for c in batch]
        self.candidates.extend(made)
        fresh = []
        for c in made:
            problems = format_problems(c.draft)
            if problems:
                self.reject(c, "format", "; ".join(problems))
            else:
                fresh.append(c)
        # every distinct task of the earlier waves, whatever the filters later made of it (as within a wave)
        accepted = [
            (c.id, c.draft.task)
            for c in self.candidates
            if c.wave < number and (c.rejected is None or c.rejected[0] not in ("format", "novelty", "duplicate"))
        ]
        dropped, nearest = deduplicate(
            [(c.id, c.draft.task) for c in fresh],
            accepted=accepted,
            against=self.against,
            similarity=self.similarity,
            threshold=self.threshold,
        )
        survivors = []
        for c in fresh:
            c.nearest = nearest.get(c.id)
            match = dropped.get(c.id)
            if match is not None:
                c.match = match
                what = "an existing task" if match.kind == "novelty" else "a task generated earlier"
                self.reject(
                    c,
                    match.kind,
                    f"too close to {what}, {match.other} ({self.similarity.name} similarity "
                    f"{match.similarity:.2f} >= {self.threshold:g})",
                )
            else:
                survivors.append(c)
        self.progress("qualification", 0, len(survivors))
        await gather_or_cancel(*(self.filter_chain(c) for c in survivors))
        return survivors

    # -- targets and waves -------------------------------------------------------------------------------------
    def quota(self) -> int | None:
        if self.options.per_domain:
            return self.options.per_domain
        if self.options.n:
            return math.ceil(self.options.n / len(self.domains()))
        return None

    def kept_in(self, domain: str) -> list[Candidate]:
        return [c for c in self.candidates if c.kept and c.persona.domain == domain]

    def targets(self, used: dict[str, int]) -> dict[str, int] | None:
        quota = self.quota()
        if quota is None:
            return None
        targets = {d: quota for d in self.domains()}
        if self.options.n and not self.options.per_domain:
            exhausted = [d for d in targets if used[d] >= len(self.pool(d))]
            open_ = [d for d in targets if d not in exhausted]
            if exhausted and open_:
                short = self.options.n - sum(min(len(self.kept_in(d)), quota) for d in exhausted)
                share = math.ceil(max(short, 0) / len(open_))
                for d in open_:
                    targets[d] = max(quota, share)
        return targets

    def next_personas(self, used: dict[str, int]) -> list[Persona]:
        targets = self.targets(used)
        chosen: list[Persona] = []
        for domain in self.domains():
            pool = self.pool(domain)
            if targets is None:
                take = len(pool) - used[domain]
            else:
                need = targets[domain] - len(self.kept_in(domain))
                if (
                    self.options.n
                    and sum(len(self.kept_in(d)) for d in self.domains()) >= self.options.n
                    and not self.options.per_domain
                ):
                    need = 0
                if need <= 0:
                    continue
                seen = [c for c in self.candidates if c.persona.domain == domain]
                rate = len(self.kept_in(domain)) / len(seen) if len(seen) >= self.k else ASSUMED_PASS_RATE
                take = math.ceil(need / (self.k * max(rate, MIN_PASS_RATE)))
            take = max(0, min(take, len(pool) - used[domain]))
            chosen.extend(pool[used[domain] : used[domain] + take])
            used[domain] += take
        return chosen

    async def run(self) -> "GenerationResult":
        self.load_against()
        await self.start()
        await self.synthesize()
        used = self.used = {d: 0 for d in self.domains()}
        number = 0
        while True:
            personas = self.next_personas(used)
            if not personas:
                break
            number += 1
            await self.wave(number, personas)
            if self.quota() is None:
                break
        result = self.finish(used, number)
        self.write(result)
        await self.journal.set_state(status="complete", finished_at=utc_now())
        return result

    # -- selection and output -----------------------------------------------------------------------------------
    def select(self) -> list[Candidate]:
        """The kept tasks: per domain, those that need search most first (lowest no-search quality, then highest
        qualification confidence); with ``--per-domain`` up to the quota in each; with ``--n`` taken round-robin
        over the domains, so the set stays balanced and a domain that came up short leaves its place to others."""
        by_domain: dict[str, list[Candidate]] = {}
        for domain in self.domains():
            kept = sorted(
                self.kept_in(domain),
                key=lambda c: (
                    c.necessity["quality"] if c.necessity else 1.0,
                    -(c.qualification or {}).get("confidence", 0),
                    c.id,
                ),
            )
            by_domain[domain] = kept[: self.options.per_domain] if self.options.per_domain else kept
        if self.options.n:
            chosen: list[Candidate] = []
            for i in range(max((len(v) for v in by_domain.values()), default=0)):
                for domain in self.domains():
                    if i < len(by_domain[domain]) and len(chosen) < self.options.n:
                        chosen.append(by_domain[domain][i])
        else:
            chosen = [c for d in self.domains() for c in by_domain[d]]
        picked = {c.id for c in chosen}
        for c in self.candidates:
            if c.kept and c.id not in picked:
                limit = (
                    f"--n {self.options.n} was reached"
                    if c in by_domain[c.persona.domain]
                    else f"the quota of {c.persona.domain} ({self.options.per_domain}) is filled"
                )
                self.reject(c, "quota", f"passed every filter, but {limit} (by tasks that need search more)")
        order = {d: i for i, d in enumerate(self.domains())}
        return sorted(chosen, key=lambda c: (order[c.persona.domain], c.persona.id, c.index))

    def task_ids(self, chosen: list[Candidate]) -> dict[str, str]:
        if not self.options.id_prefix:
            return {c.id: c.id for c in chosen}
        width = max(3, len(str(len(chosen))))
        return {c.id: f"{self.options.id_prefix}{i:0{width}d}" for i, c in enumerate(chosen, start=1)}

    def final_task(self, c: Candidate, task_id: str) -> Task:
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
            "qualification": _verdict(c.qualification),
            "necessity": _verdict(c.necessity),
            "baseline_answer": self.outputs.relative(self.outputs.baseline(c.id)),
            "searchability": c.searchability,
            "dedup": {
                "method": self.similarity.name,
                "threshold": self.threshold,
                "nearest": {"id": c.nearest[0], "similarity": round(c.nearest[1], 4)} if c.nearest else None,
            },
        }
        return c.task(task_id, self.language).model_copy(update={"provenance": provenance})

    def rejected_record(self, c: Candidate) -> dict[str, Any]:
        assert c.rejected is not None
        stage, reason, failed = c.rejected
        record: dict[str, Any] = {
            "candidate_id": c.id,
            "stage": stage,
            "reason": reason,
            "failed": failed,
            "domain": c.persona.domain,
            "persona_id": c.persona.id,
            "prompt": c.draft.task,
            "wave": c.wave,
        }
        if c.match is not None:
            record["similar_to"] = {"id": c.match.other, "similarity": c.match.similarity, "kind": c.match.kind}
        if c.qualification:
            record["qualification"] = _verdict(c.qualification)
        if c.necessity:
            record["necessity"] = _verdict(c.necessity)
        if c.baseline is not None:
            record["baseline_answer"] = self.outputs.relative(self.outputs.baseline(c.id))
        if c.searchability:
            record["searchability"] = c.searchability
        return record

    def finish(self, used: dict[str, int], waves: int) -> "GenerationResult":
        chosen = self.select()
        ids = self.task_ids(chosen)
        tasks = [self.final_task(c, ids[c.id]) for c in chosen]
        rejected = [self.rejected_record(c) for c in self.candidates if c.rejected is not None]
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
        summary = self.summary(tasks, used, waves)
        return GenerationResult(
            tasks=tasks,
            rejected=rejected,
            summary=summary,
            outputs=self.outputs,
            baselines={c.id: c.baseline for c in self.candidates if c.baseline is not None},
            synthesized=list(self.synthesized),
        )

    def summary(self, tasks: list[Task], used: dict[str, int], waves: int) -> dict[str, Any]:
        settings = self.settings
        candidates = self.candidates
        stage_rows = []
        entered = len(candidates)
        for stage in STAGES[1:]:
            rejected_here = [c for c in candidates if c.rejected and c.rejected[0] == stage]
            failed = sum(c.rejected[2] for c in rejected_here)  # type: ignore[index]
            dropped = len(rejected_here) - failed
            if stage == "searchability" and self.searcher is None:
                stage_rows.append(
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
            stage_rows.append(
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
        kept_ids = {t.provenance["candidate_id"] for t in tasks}
        quota = self.quota()
        domain_rows = []
        warnings: list[str] = []
        targets = self.targets(used) or {}
        for domain in self.domains():
            mine = [c for c in candidates if c.persona.domain == domain]
            kept = sum(c.id in kept_ids for c in mine)
            by_stage = Counter(c.rejected[0] for c in mine if c.rejected)
            row = {
                "domain": domain,
                "personas_available": len(self.pool(domain)),
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
                        if used.get(domain, 0) >= len(self.pool(domain))
                        else "the target count was reached first"
                    )
                    stages = ", ".join(f"{s} {n}" for s, n in by_stage.most_common() if s != "quota") or "none"
                    warnings.append(
                        f"{domain}: quota not met, {kept} of {quota} tasks ({why}; {len(mine)} candidates "
                        f"from {used.get(domain, 0)} personas; rejected: {stages})"
                    )
            elif kept == 0:
                warnings.append(f"{domain}: no task kept ({len(mine)} candidates)")
            domain_rows.append(row)
        histograms = {}
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
        if self.options.n and len(tasks) < self.options.n:
            warnings.append(f"{len(tasks)} tasks kept, fewer than --n {self.options.n}")
        failures = [
            {"candidate_id": c.id, "stage": c.rejected[0], "reason": c.rejected[1]}  # type: ignore[index]
            for c in candidates
            if c.rejected and c.rejected[2]
        ] + self.generation_failures
        if failures:
            warnings.append(
                f"{len(failures)} steps failed (listed under failures and in the rejected file); run the "
                "same command again to retry them"
            )
        if self.searcher is not None:
            single = sum(1 for t in tasks if (t.provenance.get("searchability") or {}).get("single_page_flag"))
            if single:
                warnings.append(f"{single} kept tasks are flagged: one search result may already answer them whole")
        windows = sum(bool(t.time_constraint) for t in tasks)
        if tasks and windows * 2 < len(tasks):
            warnings.append(f"only {windows} of {len(tasks)} kept tasks state a time window")
        warnings += self.synthesis_notes + [f"--against: {p}" for p in self.against_notes]
        usage_total = Usage()
        for usage in self.usage.values():
            usage_total.add(usage)
        return {
            "status": "complete",
            "dreval_version": __version__,
            "prompt_version": PROMPTS.version,
            "as_of": self.as_of,
            "finished_at": utc_now(),
            "models": self.roles.info(),
            "options": {
                "n": self.options.n,
                "per_domain": self.options.per_domain,
                "candidates_per_persona": self.k,
                "language": self.language,
                "qualification_threshold": settings.qualification_threshold,
                "necessity_threshold": settings.necessity_threshold,
                "dedup_method": self.similarity.name,
                "dedup_threshold": self.threshold,
                "against": [str(p) for p in self.options.against],
                "searchability": self.searcher.backend.name if self.searcher else None,
                "synthesize_personas": self.options.synthesize,
                "id_prefix": self.options.id_prefix,
            },
            "files": {
                "tasks": str(self.outputs.tasks),
                "rejected": str(self.outputs.rejected),
                "baselines": str(self.outputs.baselines),
                "personas": str(self.outputs.personas) if self.synthesized else None,
            },
            "counts": {
                "personas_used": sum(used.values()),
                "personas_synthesized": len(self.synthesized),
                "waves": waves,
                "candidates": len(candidates),
                "kept": len(tasks),
                "rejected": sum(1 for c in candidates if c.rejected and not c.rejected[2]),
                "failed": len(failures),
                "with_time_window": windows,
            },
            "stages": stage_rows,
            "domains": domain_rows,
            "histograms": histograms,
            "warnings": warnings,
            "failures": failures,
            "journal": {"reused": sum(self.journal.reused.values()), "recorded": sum(self.journal.recorded.values())},
            "usage": {stage: usage.model_dump() for stage, usage in sorted(self.usage.items())}
            | {"total": usage_total.model_dump()},
        }

    def write(self, result: "GenerationResult") -> None:
        """Every output atomically, the summary (which says ``complete``) last."""
        outputs = result.outputs
        for candidate, answer in result.baselines.items():
            atomic_write_text(outputs.baseline(candidate), answer.rstrip() + "\n")
        if result.synthesized:
            atomic_write_text(outputs.personas, dump_personas(result.synthesized))
        atomic_write_text(outputs.rejected, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in result.rejected))
        atomic_write_text(outputs.tasks, "".join(t.model_dump_json() + "\n" for t in result.tasks))
        atomic_write_text(outputs.summary, json.dumps(result.summary, indent=2, ensure_ascii=False) + "\n")


def _verdict(verdict: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if verdict is None else dict(verdict)


@dataclass
class GenerationResult:
    tasks: list[Task]
    rejected: list[dict[str, Any]]
    summary: dict[str, Any]
    outputs: TaskOutputs
    baselines: dict[str, str]
    synthesized: list[Persona]


# -- revalidation ----------------------------------------------------------------------------------------------


class TaskRevalidator(_Pipeline):
    """Both filters (and searchability) run again on existing tasks as of today: which tasks have gone stale?"""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        roles: Roles,
        tasks_file: Path,
        *,
        as_of: str | None = None,
        progress: ProgressHook | None = None,
        searcher: Searcher | None = None,
    ):
        super().__init__(settings, store, roles, Journal(store, run_id("revalidate", tasks_file)), progress, searcher)
        self.tasks_file = Path(tasks_file)
        self.outputs = TaskOutputs(self.tasks_file)
        self.explicit_date = bool(as_of)
        if as_of:
            self.as_of = as_of

    async def one(self, task: Task) -> dict[str, Any]:
        provenance = task.provenance
        due_after = provenance.get("revalidate_after")
        record: dict[str, Any] = {
            "id": task.id,
            "prompt": task.prompt,
            "domain": task.domain,
            "generated_at": provenance.get("generated_at"),
            "revalidate_after": due_after,
            "due": bool(due_after and due_after <= self.as_of),
            "reasons": [],
        }
        if task.language:
            self.language = task.language
        stage = "qualification"
        try:
            q = filters.qualification_verdict(await self.qualification(task), self.settings.qualification_threshold)
            record["qualification"] = q
            self.progress("answer", 0, 1)
            stage = "necessity"
            answer = await self.baseline(task)
            self.progress("necessity", 0, 1)
            n = filters.necessity_verdict(await self.necessity(task, answer), self.settings.necessity_threshold)
            record["necessity"] = n
            checks = [q, n]
            if self.searcher is not None:
                stage = "searchability"
                self.progress("searchability", 0, 1)
                s = await self.searchable(task, provenance.get("search_queries") or [task.prompt])
                record["searchability"] = s
                checks.append(s)
        except LLMUnavailable:
            raise
        except (LLMError, SearchError) as exc:
            record.update(status="failed", reasons=[f"{stage}: {exc}"])
            return record
        record["reasons"] = [
            f"{name}: {c['reason']}"
            for name, c in zip(("qualification", "necessity", "searchability"), checks)
            if not c["passed"]
        ]
        for name, check in (("qualification", q), ("necessity", n)):
            before = (provenance.get(name) or {}).get("score")
            record[f"{name}_before"] = before
        record["status"] = "stale" if record["reasons"] else "fresh"
        return record

    async def run(self, tasks: list[Task]) -> dict[str, Any]:
        state = await self.journal.state()
        if not self.explicit_date and state and state.get("status") == "running" and state.get("as_of"):
            self.as_of = state["as_of"]  # an interrupted revalidation continues as of the day it started
        await self.journal.set_state(as_of=self.as_of, status="running")
        self.progress("qualification", 0, len(tasks))
        records = await gather_or_cancel(*(self.one(t) for t in tasks))
        counts = Counter(r["status"] for r in records)
        report = {
            "status": "complete",
            "tasks_file": str(self.tasks_file),
            "as_of": self.as_of,
            "dreval_version": __version__,
            "prompt_version": PROMPTS.version,
            "models": self.roles.info(),
            "thresholds": {
                "qualification": self.settings.qualification_threshold,
                "necessity": self.settings.necessity_threshold,
            },
            "searchability": self.searcher.backend.name if self.searcher else None,
            "counts": {
                "tasks": len(records),
                "fresh": counts["fresh"],
                "stale": counts["stale"],
                "failed": counts["failed"],
                "due": sum(r["due"] for r in records),
            },
            "tasks": records,
        }
        atomic_write_text(self.outputs.revalidation, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        await self.journal.set_state(status="complete", finished_at=utc_now())
        return report


# -- planning (dry run) -------------------------------------------------------------------------------------------

ANSWER_TOKENS = 1500  # expected length of a no-search answer
GENERATION_TOKENS_PER_TASK = 260
JUDGE_TOKENS = 220


def plan(settings: Settings, library: PersonaLibrary, options: GenerateOptions) -> dict[str, Any]:
    """What a run would do before anything is spent: the first wave (or every persona), the calls of each stage
    (expected at the assumed pass rates, and at most) and an estimated token count, from the real prompts."""
    domains = [d for d in DOMAINS if d in library.domains()] + [d for d in library.domains() if d not in DOMAINS]
    k = settings.task_candidates
    if options.per_domain or options.n:
        quota = options.per_domain or math.ceil((options.n or 0) / len(domains))
        per_domain = {
            d: min(len(library.of(d)) + options.synthesize, math.ceil(quota / (k * ASSUMED_PASS_RATE))) for d in domains
        }
    else:
        quota = None
        per_domain = {d: len(library.of(d)) + options.synthesize for d in domains}
    most = {d: len(library.of(d)) + options.synthesize for d in domains}
    personas = [p for d in domains for p in library.of(d)[: per_domain[d]]] or library.personas[:1]
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
    expected_personas, max_personas = sum(per_domain.values()), sum(most.values())
    qualified = 0.6  # share of candidates expected to pass the qualification filter
    rows = []

    def row(stage: str, expected: float, most_calls: float, prompt: float, completion: float) -> None:
        rows.append(
            {
                "stage": stage,
                "calls": math.ceil(expected),
                "max_calls": math.ceil(most_calls),
                "prompt_tokens": math.ceil(expected * prompt),
                "completion_tokens": math.ceil(expected * completion),
            }
        )

    if options.synthesize:
        row("personas", len(domains), len(domains), 600, 260 * options.synthesize)
    row("generation", expected_personas, max_personas, gen_prompt, GENERATION_TOKENS_PER_TASK * k)
    row("qualification", expected_personas * k, max_personas * k, qual_prompt, JUDGE_TOKENS)
    row("answer", expected_personas * k * qualified, max_personas * k, answer_prompt, ANSWER_TOKENS)
    row("necessity", expected_personas * k * qualified, max_personas * k, nec_prompt, JUDGE_TOKENS)
    if options.searchability:
        row("single_page", expected_personas * k * qualified * 0.5, max_personas * k, 900, JUDGE_TOKENS)
    total = {
        "calls": sum(r["calls"] for r in rows),
        "max_calls": sum(r["max_calls"] for r in rows),
        "prompt_tokens": sum(r["prompt_tokens"] for r in rows),
        "completion_tokens": sum(r["completion_tokens"] for r in rows),
    }
    searches = {
        "queries": math.ceil(expected_personas * k * qualified * 0.5 * settings.searchability_queries)
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


async def with_searcher(
    settings: Settings, store: Store, enabled: bool, body: Callable[[Searcher | None], Awaitable[Any]]
) -> Any:
    """Run ``body`` with a Searcher over the configured backend (or None when searchability is off)."""
    if not enabled:
        return await body(None)
    from ..factcheck.search import make_backend

    backend = make_backend(settings, store)
    async with httpx.AsyncClient(timeout=settings.fetch_timeout) as client:
        return await body(Searcher(backend, store, settings, client=client))


def read_tasks_for_revalidation(path: Path) -> list[Task]:
    from ..ingest.task_files import load_tasks

    try:
        return load_tasks(path)
    except TaskError as exc:
        raise GenerationError(str(exc)) from None
