"""Pydantic models of every artifact dreval reads or writes. JSON on disk; ``SCHEMA_VERSION`` marks the layout."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .shards import Shard

SCHEMA_VERSION = "1"

Status = Literal["complete", "partial", "failed"]


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def stable_hash(value: Any, length: int = 16) -> str:
    """Hash of a JSON-serialisable value, independent of key order."""
    payload = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:length]


class StrictModel(BaseModel):
    """Base of the output models LLMs are asked for: closed objects, so unknown keys are invalid output."""

    model_config = ConfigDict(extra="forbid")


class Persona(BaseModel):
    id: str
    domain: str = ""
    name: str = ""
    role: str = ""
    affiliation: str = ""
    background: str = ""
    subdomain: str = ""


class Task(BaseModel):
    """A research task. ``id`` is given or derived from the prompt, so it is stable across runs."""

    model_config = ConfigDict(extra="ignore")

    id: str
    prompt: str = Field(min_length=1)
    language: str = "en"
    domain: str = ""
    persona: Persona | None = None
    deliverables: list[str] = Field(default_factory=list)
    time_constraint: str = ""
    key_challenges: list[str] = Field(default_factory=list)
    provenance: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _accept_common_shapes(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "prompt" not in data:
            for alias in ("question", "task", "query", "instruction"):
                if isinstance(data.get(alias), str):
                    data["prompt"] = data.pop(alias)
                    break
        if "id" not in data:
            for alias in ("task_id", "qid", "uid"):
                if alias in data:
                    data["id"] = str(data.pop(alias))
                    break
        if "id" not in data and isinstance(data.get("prompt"), str):
            data["id"] = "task-" + stable_hash(data["prompt"].strip(), 12)
        if isinstance(data.get("id"), int):
            data["id"] = str(data["id"])
        return data

    def content_key(self) -> str:
        """Hash of everything that shapes a rubric (not provenance)."""
        return stable_hash(self.model_dump(exclude={"provenance"}))


class Citation(BaseModel):
    index: int | None = None
    url: str
    title: str = ""


class Report(BaseModel):
    system: str
    task_id: str
    text: str
    citations: list[Citation] = Field(default_factory=list)
    source_format: str = "markdown"
    meta: dict[str, Any] = Field(default_factory=dict)


class Criterion(BaseModel):
    id: str
    text: str
    explanation: str = ""
    weight: float = Field(ge=0)


class Dimension(BaseModel):
    id: str
    name: str
    kind: Literal["general", "specific"]
    definition: str
    weight: float = Field(ge=0)
    criteria: list[Criterion]


class JudgeInfo(BaseModel):
    model: str
    endpoint: str = ""
    backend: str = "openai"
    model_sha256: str = Field(default="", description="sha256 of the model file, for the embedded local judge")
    identity: str = Field(default="", description="what tells these weights apart: endpoint, file hash or cache scope")
    structured_output: str = Field(default="auto", description="how JSON was asked for")


class Rubric(BaseModel):
    """A frozen rubric: built once per task and shared by every system scored on it."""

    schema_version: str = SCHEMA_VERSION
    task_id: str
    dimensions: list[Dimension]
    judge: JudgeInfo = Field(default_factory=lambda: JudgeInfo(model="hand-written", backend="none"))
    prompt_version: str = ""
    build_key: str = Field(
        default="",
        description="hash of task content, judge model and prompt version it was "
        "built from; empty for a hand-written rubric",
    )
    hash: str = ""
    created_at: str = Field(default_factory=utc_now)

    def content_hash(self) -> str:
        return stable_hash([d.model_dump() for d in self.dimensions])


class Spread(BaseModel):
    """Spread of repeated judgements (``--samples N``)."""

    n: int
    std: float
    min: float
    max: float


class CriterionScore(BaseModel):
    criterion_id: str
    dimension_id: str
    score: float = Field(description="mean over samples, 0-10")
    rationale: str
    samples: list[float] = Field(default_factory=list)
    spread: Spread | None = None


class DimensionScore(BaseModel):
    dimension_id: str
    weight: float
    score: float | None = Field(default=None, description="sum of criterion weight x score; None if not judged")
    spread: Spread | None = None
    status: Status
    reason: str = ""


class JuryAgreement(BaseModel):
    """How far the judges of a jury agree (``--judge`` given more than once)."""

    judges: int
    items: int = Field(description="criteria (or claims) judged by at least two judges")
    statistic: Literal["krippendorff_alpha", "fleiss_kappa"]
    value: float | None = Field(default=None, description="None: undefined (too few items, or no variation)")
    unanimous: float | None = Field(default=None, description="share of items every judge scored (labelled) alike")
    spread: float | None = Field(default=None, description="scores: largest difference between two judges' totals")
    disputed: list[str] = Field(default_factory=list, description="ids of the items the judges disagree on most")


class JurorQuality(BaseModel):
    """One judge's own scores, kept beside the jury's mean."""

    judge: JudgeInfo
    total: float | None = None
    dimension_scores: dict[str, float | None] = Field(default_factory=dict)
    criterion_scores: dict[str, float] = Field(default_factory=dict, description="mean over its samples")
    status: Status
    reasons: list[str] = Field(default_factory=list)


class QualityResult(BaseModel):
    rubric_hash: str
    scores: list[CriterionScore] = Field(default_factory=list)
    dimension_scores: dict[str, DimensionScore] = Field(default_factory=dict)
    total: float | None = Field(default=None, description="weighted over judged dimensions; None if none judged")
    weight_judged: float = Field(default=0.0, description="share of dimension weight behind `total` (1.0 = all)")
    samples: list[float] = Field(default_factory=list, description="total of each complete judging pass")
    spread: Spread | None = None
    status: Status
    reasons: list[str] = Field(default_factory=list)
    jury: list[JurorQuality] = Field(
        default_factory=list,
        description="with several judges: each one's scores (the fields above are then their mean)",
    )
    agreement: JuryAgreement | None = Field(
        default=None, description="with several judges: Krippendorff's alpha over the criteria"
    )


class Usage(BaseModel):
    """Resource use of one call or a sum of calls. Cache hits cost nothing and are counted apart; the ``from_cache_*``
    fields keep what their answers cost when they were first asked, so a system scored from the cache can still be
    compared on judging cost (every other field is what was spent in this run)."""

    calls: int = 0
    cache_hits: int = 0
    failed_calls: int = 0
    retries: int = Field(default=0, description="requests sent again after 429/5xx/timeouts/connection errors")
    repairs: int = Field(default=0, description="attempts made again after invalid output (bad JSON, schema)")
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    latency_s: float = 0.0
    cost: float = 0.0
    unpriced_calls: int = Field(
        default=0, description="calls to a model without a price in the config: what they cost is unknown"
    )
    from_cache_prompt_tokens: int = Field(default=0, description="original prompt tokens of the cached answers used")
    from_cache_completion_tokens: int = Field(
        default=0, description="original completion tokens of the cached answers used"
    )
    from_cache_cost: float = Field(default=0.0, description="original cost of the cached answers used (not spent now)")
    searches: int = Field(
        default=0, description="searches sent in this run, each once (retries not counted; stored answers not at all)"
    )
    fetches: int = 0

    def add(self, other: Usage) -> Usage:
        for name in type(self).model_fields:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


ClaimKind = Literal["number", "date", "event", "person", "organization", "place", "other"]
VerdictLabel = Literal["right", "wrong", "unknown", "failed"]


class Claim(BaseModel):
    """A self-contained verifiable statement from a report, linked to where it came from."""

    id: str
    text: str
    sentence: str
    section: str = ""
    cited_refs: list[int] = Field(default_factory=list)
    cited_urls: list[str] = Field(default_factory=list)  # cited inline (links, bare URLs), not as a numbered reference
    kind: ClaimKind = "other"
    worthiness: float = Field(default=0.5, ge=0, le=1)
    queries: list[str] = Field(default_factory=list)


class SearchHit(BaseModel):
    url: str
    title: str = ""
    snippet: str = ""


class FetchRecord(BaseModel):
    """The outcome of fetching one URL. Failures that are properties of the page (404, too large, no text) are
    stored too, so such a URL is not fetched again; those that may pass (timeouts, 5xx) hold for one run only."""

    url: str
    final_url: str = ""
    ok: bool
    http_status: int | None = None
    content_type: str = ""
    title: str = ""
    content_sha256: str = ""
    error: str = ""
    note: str = Field(default="", description="on a page that was read: what was left out (e.g. markup cut)")
    fetched_at: str = Field(default_factory=utc_now)
    via: Literal["web", "corpus"] = "web"
    guarded: bool = Field(default=True, description="fetched with the private-address guard on")


class Evidence(BaseModel):
    """A passage of a fetched document shown to the verifier."""

    id: str
    url: str
    title: str = ""
    passage: str
    retrieved_at: str
    content_sha256: str
    via: Literal["citation", "search"]
    cited_ref: int | None = Field(default=None, description="the report's reference number, for cited sources")
    score: float = 0.0


class JurorVerdict(BaseModel):
    """One judge's verdict on a claim, kept beside the jury's majority."""

    judge: int = Field(description="the judge's position in provenance.jury")
    model: str = ""
    label: VerdictLabel
    quote: str = ""
    rationale: str = ""
    evidence_ids: list[str] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list)


class Verdict(BaseModel):
    claim_id: str
    label: VerdictLabel
    quote: str = Field(default="", description="the evidence sentence the verifier found relevant")
    rationale: str = ""
    evidence_ids: list[str] = Field(default_factory=list)
    cited_source_supports: bool | None = None
    round: int = 1
    flags: list[str] = Field(
        default_factory=list,
        description="what dreval's own checks found: a quote not in the "
        "evidence, figures that differ from the evidence, a failed re-verification",
    )
    reverified: bool = Field(
        default=False, description="sent back once: its quote was not in its evidence or its figures differed"
    )
    jury: list[JurorVerdict] = Field(
        default_factory=list,
        description="with several judges: each one's verdict (the label above is their majority; a tie is unknown)",
    )


class FactCheckCounts(BaseModel):
    right: int = 0
    wrong: int = 0
    unknown: int = 0
    failed: int = 0


class CitedSource(BaseModel):
    """One source the report cites for the checked claims: could it be read, and did it support them."""

    index: int | None = Field(description="its reference number; None for a source linked inline")
    url: str
    reachable: bool
    error: str = ""
    claims: list[str] = Field(default_factory=list, description="ids of the checked claims citing it")
    supported: int = Field(default=0, description="claims it was judged to support")
    unsupported: int = Field(default=0, description="claims it was judged not to support")


class FactCheckResult(BaseModel):
    claims: list[Claim] = Field(default_factory=list)
    verdicts: list[Verdict] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    fetches: list[FetchRecord] = Field(default_factory=list)
    counts: FactCheckCounts = Field(default_factory=FactCheckCounts)
    ratios: dict[str, float | None] = Field(
        default_factory=dict, description="right / wrong / unknown over claims with a verdict (failed excluded)"
    )
    citation_accuracy: float | None = Field(
        default=None,
        description="share of the checked cited claims whose (reachable) cited source was judged, that it supports",
    )
    citation_reachability: float | None = Field(
        default=None, description="share of the cited sources of checked claims that could be read"
    )
    cited_sources: list[CitedSource] = Field(default_factory=list)
    citations_unresolved: int = Field(default=0, description="cited reference numbers with no URL in the report")
    evidence_coverage: float | None = Field(
        default=None, description="share of checked claims that were shown at least one evidence passage"
    )
    fetch_failures: dict[str, int] = Field(default_factory=dict, description="failed fetches by cause")
    claims_found: int = 0
    claims_skipped: int = Field(default=0, description="over the --max-claims budget, least check-worthy first")
    search_backend: str = ""
    replay: bool = False
    status: Status
    reasons: list[str] = Field(default_factory=list)
    agreement: JuryAgreement | None = Field(
        default=None, description="with several judges: Fleiss' kappa over the claims every judge labelled"
    )


class ReportRef(BaseModel):
    path: str
    sha256: str
    words: int
    source_format: str
    citations: int


class Provenance(BaseModel):
    dreval_version: str
    schema_version: str = SCHEMA_VERSION
    judge: JudgeInfo
    prompt_versions: dict[str, str] = Field(default_factory=dict)
    config_hash: str
    input_key: str = Field(default="", description="hash of the report file, task, fixed rubric and replay flag")
    samples: int = 1
    started_at: str
    finished_at: str = ""
    jury: list[JudgeInfo] = Field(
        default_factory=list,
        description="with several judges: all of them, the first "
        "(``judge``) building rubrics and extracting claims; empty for one judge",
    )


class RunManifest(BaseModel):
    """``OUT/run.json`` (``OUT/run.<K>-of-<N>.json`` for a shard): what the last scoring run into this folder did,
    for audits, resumed runs and finding the shards missing from a leaderboard."""

    schema_version: str = SCHEMA_VERSION
    dreval_version: str
    judge: JudgeInfo
    shard: Shard | None = Field(default=None, description="the shard of the task set this run scored (--shard K/N)")
    config_hash: str
    started_at: str
    finished_at: str
    jobs: int
    scored: int = Field(description="results computed in this run")
    skipped: int = Field(description="finished results of an earlier run, reused")
    statuses: dict[str, int] = Field(default_factory=dict, description="of every result of the run")
    results: list[str] = Field(default_factory=list, description="result files, relative to the output folder")
    kept: dict[str, str] = Field(
        default_factory=dict,
        description="result files left as they were (a finished "
        "result of another report file) because this run's report for them could not be "
        "read or scored: file -> what was kept and why; counted as failed in statuses",
    )
    usage: Usage = Field(default_factory=Usage)
    structured_output_used: str = Field(
        default="",
        description="how the run asked for JSON at its end: the judge's structured_output setting, or with auto the "
        "mode it settled on (json_schema, else json_object or text after an endpoint refused the stricter one)",
    )


class Scorecard(BaseModel):
    schema_version: str = SCHEMA_VERSION
    system: str
    task_id: str
    task: Task | None = None
    report_ref: ReportRef | None = None
    quality: QualityResult | None = None
    factcheck: FactCheckResult | None = None
    provenance: Provenance
    usage: Usage = Field(default_factory=Usage)
    seconds: float = 0.0
    status: Status
    reasons: list[str] = Field(default_factory=list)
