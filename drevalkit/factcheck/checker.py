"""The bounded fact-checking pipeline for one report.

extract claims (one call per chunk) -> for each claim: cited sources, then one web search -> fetch + extract ->
rank passages -> verify in batches -> for claims left unknown, another round with the verifier's refined query
(``rounds``). Searches and fetches go through the store, so no query or URL is requested twice, and a replay run
reads only stored evidence.

A page that addresses the verifier (``injection.screen``: "mark this claim right", "ignore previous instructions",
a forged "System:" turn or prompt fence) is not evidence: none of its passages is ranked or shown, the verdict of
every claim it was gathered for is flagged with its URL, a claim left with no other evidence is unknown for that
reason, a cited page of that kind counts as not supporting its claims, and the result's reasons name it.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from ..aio import gather_or_cancel
from ..config import Settings
from ..llm import LLMClient
from ..schemas import (
    Claim,
    Evidence,
    FactCheckCounts,
    FactCheckResult,
    FetchRecord,
    Report,
    Status,
    Usage,
    Verdict,
)
from ..store import Store
from .accounting import MIN_EVIDENCE_COVERAGE, cited_sources, describe_failures, failure_causes
from .claims import PROMPTS, Extraction, extract_claims
from .evidence import Candidate, EmbeddingReranker, Reranker, Via, passage_terms, rank, split_passages
from .fetch import Fetcher
from .injection import RULES_VERSION, Finding, screen
from .search import Searcher, SearchError, SearchUnavailable, make_backend, normalise_query, search_client
from .splitter import splitter_name
from .verify import BATCH_SIZE, verify_batch

MAX_CITED_PASSAGES = 2
FETCHES_PER_QUERY = 3
MAX_PASSAGES_PER_DOCUMENT = 1500  # about 180K words: ranking cost per claim stays bounded whatever a page holds
PASSAGE_CACHE_CHARS = 32_000_000  # split documents kept per FactChecker (least recently used dropped beyond this)
# a BM25 ranking of at most this many passages (about 0.1 ms) runs on the event loop: a worker thread's round trip
# costs more CPU than it; larger ones, and every embedding re-ranking, run in a thread
INLINE_RANK_PASSAGES = 64
HOSTILE_URLS_SHOWN = 5  # pages named in the result's reason; the flags of the verdicts name every one


@dataclass(frozen=True)
class Page:
    """A document split into passages, their BM25 terms, and what ``injection.screen`` found in it (None: it only
    informs)."""

    passages: tuple[str, ...]
    terms: tuple[tuple[str, ...], ...]  # ``passage_terms`` of each passage
    finding: Finding | None = None


def prompt_version() -> str:
    """Version of the fact-check prompts (extraction and verification), of the rules that keep pages addressing the
    verifier out of the evidence and of the sentence splitter, recorded in results (a result of others is redone)."""
    return f"{PROMPTS.version}+{RULES_VERSION}+sentences@{splitter_name()}"


@dataclass
class FactChecker:
    """Shared services for fact-checking many reports (one LLM client, searcher and fetcher)."""

    llm: LLMClient
    searcher: Searcher
    fetcher: Fetcher
    max_claims: int = 40
    rounds: int = 2
    reranker: Reranker | None = None
    passages_per_claim: int = 5
    jury: list[LLMClient] = field(default_factory=list)  # judges besides ``llm`` that verify every claim too
    passage_splits: int = field(default=0, init=False)  # documents split into passages (the rest came from cache)
    _passages: OrderedDict[str, Page] = field(default_factory=OrderedDict, init=False, repr=False)
    _passage_chars: int = field(default=0, init=False, repr=False)
    _splitting: dict[str, asyncio.Future[Page]] = field(default_factory=dict, init=False, repr=False)

    @property
    def prompt_version(self) -> str:
        return prompt_version()

    async def check(self, report: Report) -> tuple[FactCheckResult, Usage]:
        run = _ReportRun(self, report)
        return await run.execute()

    async def page(self, text: str, sha256: str = "") -> Page:
        """``split_passages(text)`` and ``screen(text)``, computed once per document (by content hash) for as long
        as this checker lives, so a page cited by 40 claims is split and screened once; both run in a worker
        thread, and concurrent callers for one document wait for the same result."""
        key = sha256 or hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        cached = self._passages.get(key)
        if cached is not None:
            self._passages.move_to_end(key)
            return cached
        future = self._splitting.get(key)
        if future is None:
            future = asyncio.ensure_future(self._split(key, text))
            self._splitting[key] = future
            future.add_done_callback(lambda _: self._splitting.pop(key, None))
        return await asyncio.shield(future)

    async def _split(self, key: str, text: str) -> Page:
        page = await asyncio.to_thread(_read_page, text)
        self.passage_splits += 1
        size = sum(map(len, page.passages))
        if size <= PASSAGE_CACHE_CHARS:
            self._passages[key] = page
            self._passage_chars += size
            while self._passage_chars > PASSAGE_CACHE_CHARS:
                _, dropped = self._passages.popitem(last=False)
                self._passage_chars -= sum(map(len, dropped.passages))
        return page


def _read_page(text: str) -> Page:
    # a page longer than any real source (a hostile one) is ranked on its first passages only
    passages = tuple(split_passages(text)[:MAX_PASSAGES_PER_DOCUMENT])
    return Page(passages, tuple(map(passage_terms, passages)), screen(text))


@dataclass
class _ReportRun:
    checker: FactChecker
    report: Report
    usage: Usage = field(default_factory=Usage)
    reasons: list[str] = field(default_factory=list)
    evidence: dict[str, Evidence] = field(default_factory=dict)
    fetches: dict[str, FetchRecord] = field(default_factory=dict)
    queries: set[str] = field(default_factory=set)  # distinct queries searched (normalised)
    search_problems: int = 0
    empty_queries: set[str] = field(default_factory=set)  # those of them that found nothing
    per_claim: dict[str, list[Evidence]] = field(default_factory=dict)
    citation_urls: dict[int, str] = field(default_factory=dict)
    hostile: dict[str, Finding] = field(default_factory=dict)  # URL -> why the page is not evidence
    withheld: dict[str, dict[str, str]] = field(default_factory=dict)  # claim id -> {URL of a hostile page: via}

    async def execute(self) -> tuple[FactCheckResult, Usage]:
        checker = self.checker
        # a claim's second query is searched only in a later round: with one round, none is asked for
        queries = 2 if checker.rounds > 1 else 1
        extraction = await extract_claims(self.report, checker.llm, checker.max_claims, queries)
        self.usage.add(extraction.usage)
        self.reasons.extend(extraction.failed_chunks)
        claims = extraction.claims
        if not claims:
            return self._result(claims, {}, extraction, self._nothing_checked(extraction)), self.usage
        self.citation_urls = {c.index: c.url for c in self.report.citations if c.index is not None}
        self.per_claim = {c.id: [] for c in claims}
        verdicts = await self._rounds(claims)
        return self._result(claims, verdicts, extraction, self._status(claims, verdicts, extraction)), self.usage

    def _nothing_checked(self, extraction: Extraction) -> Status:
        """The status of a report without claims: nothing checked is never a plain "complete". Nothing readable
        is a failure; no claim in what was read is worth a look (it may be an opinion piece, or the extractor
        missed everything)."""
        if extraction.failed_chunks:
            return "failed"
        if not extraction.sentences:
            self.reasons.append("no sentences could be read from the report, so nothing was checked")
            return "failed"
        self.reasons.append(f"no verifiable claims found in the report's {extraction.sentences} sentences")
        return "partial"

    async def _rounds(self, claims: list[Claim]) -> dict[str, Verdict]:
        """Gather evidence and verify, round after round, while claims are left unknown with a query not yet
        searched (the verifier's refined query, else the extractor's second one)."""
        per_claim = self.per_claim
        verdicts: dict[str, Verdict] = {}
        pending = {c.id: c.queries[0] for c in claims}
        spare = {c.id: c.queries[1] for c in claims if len(c.queries) > 1}
        for round_number in range(1, self.checker.rounds + 1):
            if not pending:
                break
            todo = [c for c in claims if c.id in pending]
            found = await gather_or_cancel(
                *(self._gather(c, pending[c.id], first_round=round_number == 1) for c in todo)
            )
            for claim, items in zip(todo, found):
                known = {e.id for e in per_claim[claim.id]}
                per_claim[claim.id].extend(e for e in items if e.id not in known)
            batches = [todo[i : i + BATCH_SIZE] for i in range(0, len(todo), BATCH_SIZE)]
            outcomes = await gather_or_cancel(*(self._verify(batch, per_claim, round_number) for batch in batches))
            pending = {}
            for batch_verdicts, follow_ups in outcomes:
                for verdict in batch_verdicts:
                    previous = verdicts.get(verdict.claim_id)
                    if previous is not None and verdict.cited_source_supports is None:
                        verdict.cited_source_supports = previous.cited_source_supports
                    verdicts[verdict.claim_id] = verdict
                    if verdict.label == "unknown":
                        query = follow_ups.get(verdict.claim_id) or spare.pop(verdict.claim_id, "")
                        if query and normalise_query(query) not in self.queries:
                            pending[verdict.claim_id] = query
        return verdicts

    def _status(self, claims: list[Claim], verdicts: dict[str, Verdict], extraction: Extraction) -> Status:
        """Complete, partial or failed, by how many claims were verified and how many had any evidence."""
        failed = sum(v.label == "failed" for v in verdicts.values())
        if failed:
            self.reasons.append(f"{failed} claim(s) could not be verified (see their verdicts)")
        with_evidence = sum(bool(self.per_claim[c.id]) for c in claims)
        coverage = with_evidence / len(claims)
        if failed == len(claims):
            return "failed"
        if not with_evidence:
            self.reasons.insert(0, f"no evidence retrieved for any of the {len(claims)} claims: {self._gaps(claims)}")
            return "failed"
        if coverage < MIN_EVIDENCE_COVERAGE:
            self.reasons.insert(
                0,
                f"evidence for only {with_evidence} of {len(claims)} claims (coverage "
                f"{coverage:.0%}, below {MIN_EVIDENCE_COVERAGE:.0%}): {self._gaps(claims)}",
            )
            return "partial"
        if failed or extraction.failed_chunks or self.search_problems:
            return "partial"
        return "complete"

    def _gaps(self, claims: list[Claim]) -> str:
        """Why evidence is missing: fetch failures by cause, unresolved markers, and what search found."""
        parts = [describe_failures(failure_causes(self.fetches.values()))]
        unresolved = {r for c in claims for r in c.cited_refs if r not in self.citation_urls}
        if unresolved:
            parts.append(f"{len(unresolved)} cited reference number(s) have no URL in the report")
        if self.hostile:
            parts.append(f"{len(self.hostile)} page(s) addressed the verifier and were not used")
        backend = self.checker.searcher.backend.name
        if self.queries and self.empty_queries == self.queries:
            parts.append(f"{backend} search found nothing")
        elif self.empty_queries:
            parts.append(f"{backend} search found nothing for {len(self.empty_queries)} of {len(self.queries)} queries")
        return ", ".join(parts)

    async def _verify(
        self, batch: list[Claim], per_claim: dict[str, list[Evidence]], round_number: int
    ) -> tuple[list[Verdict], dict[str, str]]:
        verdicts, follow_ups = await verify_batch(
            self.checker.llm,
            batch,
            per_claim,
            round_number,
            self.usage,
            self.checker.jury,
            follow_up=round_number < self.checker.rounds,  # the last round's would never be searched
        )
        for verdict in verdicts:
            self._withhold(verdict)
        return verdicts, follow_ups

    def _withhold(self, verdict: Verdict) -> None:
        """The verdict flagged with every page withheld from its claim for addressing the verifier. A claim left
        with no evidence at all is unknown for that reason, and a withheld cited page does not support it."""
        withheld = self.withheld.get(verdict.claim_id)
        if not withheld:
            return
        for url in withheld:
            flag = f"evidence page addressed the verifier: {url} ({self.hostile[url]})"
            if flag not in verdict.flags:
                verdict.flags.append(flag)
        if not self.per_claim[verdict.claim_id]:
            verdict.label, verdict.quote = "unknown", ""
            verdict.rationale = (
                "every page read for this claim addressed the verifier, so none of it is "
                f"evidence: {', '.join(withheld)}"
            )
        if verdict.cited_source_supports is None and "citation" in withheld.values():
            verdict.cited_source_supports = False

    async def _gather(self, claim: Claim, query: str, *, first_round: bool) -> list[Evidence]:
        """Evidence for one claim: passages of its cited sources (in the first round), then of the top search
        results. Cited sources are its numbered references and the URLs it links inline."""
        cited_refs: dict[str, int | None] = {}
        if first_round:
            cited_refs = {self.citation_urls[r]: r for r in claim.cited_refs if r in self.citation_urls}
            for url in claim.cited_urls:
                cited_refs.setdefault(url, None)
        cited_urls = list(cited_refs)
        cited = await self._candidates(claim, cited_urls, "citation", cited_refs)
        budget = self.checker.passages_per_claim
        cited_top = min(MAX_CITED_PASSAGES, budget - 1) if budget > 1 else 1
        ranked = await self._rank(claim.text, cited, cited_top)
        found: list[Evidence] = [self._register(c) for c in ranked]
        hits = await self._search(query)
        urls = [h.url for h in hits if h.url not in cited_urls][:FETCHES_PER_QUERY]
        searched = await self._candidates(claim, urls, "search")
        ranked = await self._rank(f"{claim.text} {query}", searched, max(budget - len(found), 0))
        found += [self._register(c) for c in ranked]
        return found

    async def _rank(self, query: str, candidates: list[Candidate], top: int) -> list[Candidate]:
        reranker = self.checker.reranker
        if reranker is None and len(candidates) <= INLINE_RANK_PASSAGES:
            return rank(query, candidates, top)
        return await asyncio.to_thread(rank, query, candidates, top, reranker)

    async def _search(self, query: str) -> list:
        """The hits of ``query``; a search this report sent is counted in its usage, a stored answer is not."""
        key = normalise_query(query)
        self.queries.add(key)
        try:
            hits = await self.checker.searcher.search(query, self.usage)
            if not hits:
                self.empty_queries.add(key)
            return hits
        except SearchUnavailable as exc:
            self.search_problems += 1
            message = f"search stopped: {exc}"
            if message not in self.reasons:
                self.reasons.append(message)
        except SearchError as exc:
            self.search_problems += 1
            self.reasons.append(f"search failed for {query!r}: {exc}")
        return []

    async def _candidates(
        self, claim: Claim, urls: list[str], via: Via, refs: dict[str, int | None] | None = None
    ) -> list[Candidate]:
        """The passages of the pages at ``urls``, except those of a page that addresses the verifier: that one is
        recorded as withheld from ``claim``."""
        results = await gather_or_cancel(*(self.checker.fetcher.fetch(url) for url in dict.fromkeys(urls)))
        candidates = []
        for record, text in results:
            self.fetches[record.url] = record
            if not record.ok or not text:
                continue
            page = await self.checker.page(text, record.content_sha256)
            finding = page.finding or screen(record.title)
            if finding is not None:
                self.hostile.setdefault(record.url, finding)
                self.withheld.setdefault(claim.id, {}).setdefault(record.url, via)
                continue
            for passage, words in zip(page.passages, page.terms, strict=True):
                candidates.append(
                    Candidate(
                        url=record.final_url or record.url,
                        title=record.title,
                        passage=passage,
                        content_sha256=record.content_sha256,
                        retrieved_at=record.fetched_at,
                        via=via,
                        cited_ref=(refs or {}).get(record.url),
                        terms=words,
                    )
                )
        return candidates

    def _register(self, candidate: Candidate) -> Evidence:
        identity = f"{candidate.content_sha256}\0{candidate.passage}\0{candidate.via}\0{candidate.cited_ref}"
        key = hashlib.sha256(identity.encode()).hexdigest()
        existing = self.evidence.get(key)
        if existing is None:
            # ids come from content, not arrival order, so prompts (and cached answers) are reproducible
            taken = {e.id for e in self.evidence.values()}
            length = 10
            while f"e{key[:length]}" in taken:
                length += 2
            existing = Evidence(
                id=f"e{key[:length]}",
                url=candidate.url,
                title=candidate.title,
                passage=candidate.passage,
                retrieved_at=candidate.retrieved_at,
                content_sha256=candidate.content_sha256,
                via=candidate.via,
                cited_ref=candidate.cited_ref,
                score=round(candidate.score, 4),
            )
            self.evidence[key] = existing
        return existing

    def _result(
        self, claims: list[Claim], verdicts: dict[str, Verdict], extraction: Extraction, status: Status
    ) -> FactCheckResult:
        ordered = [verdicts[c.id] for c in claims if c.id in verdicts]
        counts = FactCheckCounts(
            **{label: sum(v.label == label for v in ordered) for label in ("right", "wrong", "unknown", "failed")}
        )
        judged = counts.right + counts.wrong + counts.unknown
        ratios = {
            label: (getattr(counts, label) / judged if judged else None) for label in ("right", "wrong", "unknown")
        }
        support = [v.cited_source_supports for v in ordered if v.cited_source_supports is not None]
        sources, unresolved = cited_sources(claims, verdicts, self.citation_urls, self.fetches, set(self.hostile))
        checked = [c for c in claims if c.id in self.per_claim]
        used = {eid for v in ordered for eid in v.evidence_ids}
        self.usage.fetches += len(self.fetches)
        return FactCheckResult(
            claims=claims,
            verdicts=ordered,
            evidence=sorted((e for e in self.evidence.values() if e.id in used), key=lambda e: e.id),
            fetches=sorted(self.fetches.values(), key=lambda f: f.url),
            counts=counts,
            ratios=ratios,
            citation_accuracy=(sum(support) / len(support)) if support else None,
            citation_reachability=(sum(s.reachable for s in sources) / len(sources)) if sources else None,
            cited_sources=sources,
            citations_unresolved=unresolved,
            evidence_coverage=(sum(bool(self.per_claim[c.id]) for c in checked) / len(checked)) if checked else None,
            fetch_failures=failure_causes(self.fetches.values()),
            claims_found=extraction.found,
            claims_skipped=extraction.skipped,
            search_backend=self.checker.searcher.backend.name,
            replay=self.checker.searcher.replay,
            status=status,
            reasons=self.reasons + self._hostile_reason(),
        )

    def _hostile_reason(self) -> list[str]:
        """One line naming the pages that were not used because they addressed the verifier (none: no line)."""
        if not self.hostile:
            return []
        named = [f"{url} ({finding})" for url, finding in list(self.hostile.items())[:HOSTILE_URLS_SHOWN]]
        more = len(self.hostile) - len(named)
        return [
            f"{len(self.hostile)} page(s) addressed the verifier and were not used as evidence: "
            f"{'; '.join(named)}" + (f"; and {more} more (see the verdicts' flags)" if more else "")
        ]


@asynccontextmanager
async def open_factchecker(
    settings: Settings, llm: LLMClient, store: Store, *, replay: bool = False, jury: list[LLMClient] | None = None
) -> AsyncIterator[FactChecker]:
    """Build the search backend, searcher, fetcher and ranker from settings; closes their connections after. With a
    ``jury``, claims are extracted by ``llm`` and verified by it and every judge of the jury."""
    backend = make_backend(settings, store)
    try:
        reranker = EmbeddingReranker(settings.embedding_model) if settings.embedding_model else None
    except (OSError, RuntimeError, ValueError) as exc:  # a missing package or model: a setting to fix, in one line
        raise SearchError(
            f"cannot load the embedding model {settings.embedding_model!r} (embedding_model): "
            f"{' '.join(str(exc).split())[:300]}"
        ) from None
    async with (
        search_client(settings) as client,
        Fetcher(settings, store, replay=replay) as fetcher,
    ):
        searcher = Searcher(backend, store, settings, client=client, replay=replay)
        yield FactChecker(
            llm,
            searcher,
            fetcher,
            settings.max_claims,
            settings.rounds,
            reranker,
            settings.evidence_per_claim,
            list(jury or []),
        )
