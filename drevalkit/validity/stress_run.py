"""What a stress run is asked (``StressOptions``) and what it records: each judging, each evidence trial, each
report, each probe's result, and the run with its judging conditions (``run.json``, read back by the judge card)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from .. import stats
from ..__version__ import __version__
from ..schemas import JudgeInfo, Status, Usage, utc_now
from .probes import PROBE_SPECS, PROBES

DEFAULT_THRESHOLD = 0.5
DEFAULT_NULL_GAP = 3.0
DEFAULT_VARIANTS = 3


@dataclass
class StressOptions:
    """What ``dreval stress`` runs: which probes, how many variants each, and the thresholds a finding uses."""

    probes: tuple[str, ...] = PROBES
    variants: int = DEFAULT_VARIANTS
    threshold: float = DEFAULT_THRESHOLD
    null_gap: float = DEFAULT_NULL_GAP
    seed: int = 0
    resamples: int = stats.DEFAULT_RESAMPLES
    level: float = stats.DEFAULT_LEVEL

    def __post_init__(self) -> None:
        unknown = [p for p in self.probes if p not in PROBE_SPECS]
        if unknown:
            raise ValueError(f"unknown probe(s) {', '.join(unknown)}; known: {', '.join(PROBES)}")
        if self.variants < 1:
            raise ValueError("variants must be at least 1")
        if self.threshold < 0 or self.null_gap < 0:
            raise ValueError("the threshold and the null gap must be >= 0")


class Judged(BaseModel):
    """One judging of one text: the original report or a variant."""

    probe: str = Field(description="'original' for the report itself")
    variant: str
    note: str = ""
    path: str = Field(default="", description="the text that was judged")
    temperature: float | None = None
    seed: int | None = None
    total: float | None = None
    samples: list[float] = Field(default_factory=list, description="total of each complete judging pass")
    dimensions: dict[str, float | None] = Field(default_factory=dict)
    status: Status
    reasons: list[str] = Field(default_factory=list)


class EvidenceTrial(BaseModel):
    """One altered sentence checked against its cited pages, clean (control) and with the instruction (injected)."""

    sentence: str
    altered: str
    figure: str
    replacement: str
    refs: list[int]
    wording: int
    place: str
    folder: str
    control: str | None = Field(
        default=None,
        description="verdict on the altered claim against the clean pages; "
        "None: no checked claim holds the altered figure",
    )
    injected: str | None = None
    control_flags: list[str] = Field(default_factory=list)
    injected_flags: list[str] = Field(default_factory=list)
    problem: str = ""


class ReportStress(BaseModel):
    """One report: its original and every variant judged, its evidence trials, and the probes that did not apply."""

    system: str
    task_id: str
    report: str
    folder: str = ""
    rubric_hash: str = ""
    original: Judged | None = None
    variants: list[Judged] = Field(default_factory=list)
    evidence: list[EvidenceTrial] = Field(default_factory=list)
    skipped: dict[str, str] = Field(default_factory=dict, description="probe -> why it does not apply here")
    problem: str = ""


class ProbeResult(BaseModel):
    """One probe over every report: the shift with its interval, how often totals moved, and the finding."""

    probe: str
    description: str
    expect: str
    unit: Literal["points", "share"] = Field(
        default="points", description="points of the 0-10 total, or a share of claims (evidence-injection)"
    )
    reports: int = Field(default=0, description="reports (trials, for evidence-injection) behind the shift")
    variants: int = Field(default=0, description="variants judged")
    failed: int = Field(default=0, description="variants whose judging failed (left out)")
    skipped: int = Field(default=0, description="reports the probe does not apply to")
    original_mean: float | None = None
    perturbed_mean: float | None = None
    shift: float | None = None
    low: float | None = None
    high: float | None = None
    p: float | None = None
    moved: float | None = Field(
        default=None,
        description="share of reports whose total moved more than the "
        "threshold (flipped to right, for evidence-injection)",
    )
    variants_moved: float | None = None
    flagged: bool = False
    finding: str = ""
    injection_success: float | None = None
    control_rate: float | None = Field(
        default=None, description="evidence-injection: share called right without the instruction"
    )
    fluctuation_sd: float | None = None
    fluctuation_range: float | None = None


class JudgingConditions(BaseModel):
    """Who judged and under which settings: shared by a stress run and the judge card built from it."""

    judge: JudgeInfo
    prompt_versions: dict[str, str] = Field(default_factory=dict)
    config_hash: str = ""
    temperature: float = 0.0
    seed: int = 0
    samples: int = 1

    def conditions(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in JudgingConditions.model_fields}


class StressRun(JudgingConditions):
    """A whole stress run as written to ``run.json``: its settings, every report judged and every probe's result."""

    schema_version: str = "1"
    dreval_version: str = __version__
    probes: list[str] = Field(default_factory=list)
    variants: int = DEFAULT_VARIANTS
    threshold: float = DEFAULT_THRESHOLD
    null_gap: float = DEFAULT_NULL_GAP
    probe_seed: int = 0
    resamples: int = stats.DEFAULT_RESAMPLES
    level: float = stats.DEFAULT_LEVEL
    reports: list[ReportStress] = Field(default_factory=list)
    results: list[ProbeResult] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    started_at: str = Field(default_factory=utc_now)
    finished_at: str = ""
    folder: str = ""
