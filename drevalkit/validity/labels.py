"""Human label files for ``dreval agree`` and how human claims are matched to dreval's.

Two JSONL formats (one JSON object a line; blank lines are skipped; the kind is told by the fields):

- claim verdicts: ``{"report": PATH, "claim": TEXT, "sentence": TEXT, "label": "right"|"wrong"|"unknown",
  "reason": TEXT, "source": URL}``: at least one of ``claim`` (the fact, self-contained) and ``sentence`` (the
  report's sentence it is in); ``reason`` and ``source`` (the page that settles it) are for people and kept in the
  output; ``unknown`` means the sources available (the cited pages, the corpus) do not settle the claim;
- pairwise preferences: ``{"task": PATH-or-ID, "report_a": PATH, "report_b": PATH, "preferred": "a"|"b"|"tie",
  "reason": TEXT, "rubric": PATH}``: ``task`` is a task file (JSON, or JSONL with ``task_id``) or, with ``dreval
  agree --tasks FILE``, a task id; ``rubric`` optionally pins a frozen rubric.

Paths are relative to the label file's folder (or absolute). Other fields (``id``, notes) are kept and ignored.

Matching (claim labels): dreval extracts its own claims, so each labelled claim is matched to one claim dreval
checked in the same report by text similarity, bounded and one-to-one. Texts are compared as bags of words and
numbers (case, accents, punctuation, citation markers and thousands separators ignored): the similarity is the Dice
coefficient of the two bags (twice the shared tokens over the sum of their sizes), multiplied by
``(1 + share of numbers in common) / 2`` when either side has numbers (so two sentences about different years or
amounts score low); the best of the label's claim and sentence against dreval's claim and source sentence counts.
Pairs are accepted from the most similar down, each label and each dreval claim used at most once, and only at
``min_similarity`` (default 0.5) or above; a label left unmatched was not checked by dreval (not extracted, or over
``--max-claims``) and is counted apart, never as a disagreement.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import DrevalError
from ..files import ParseFailure, load_json
from ..schemas import Claim

DEFAULT_MIN_SIMILARITY = 0.5
MAX_LABEL_FILE_BYTES = 50_000_000


class LabelError(DrevalError, ValueError):
    """A label file that cannot be used; the message names the file and line."""


class ClaimLabel(BaseModel):
    model_config = ConfigDict(extra="allow")

    report: str
    claim: str = ""
    sentence: str = ""
    label: Literal["right", "wrong", "unknown"]
    reason: str = ""
    source: str = ""
    line: int = Field(default=0, exclude=True)

    @field_validator("label", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _some_text(self) -> ClaimLabel:
        if not self.claim.strip() and not self.sentence.strip():
            raise ValueError("a claim label needs a 'claim' or a 'sentence'")
        return self


class PairLabel(BaseModel):
    model_config = ConfigDict(extra="allow")

    task: str
    report_a: str
    report_b: str
    preferred: Literal["a", "b", "tie"]
    reason: str = ""
    rubric: str = ""
    line: int = Field(default=0, exclude=True)

    @field_validator("preferred", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


LabelKind = Literal["claims", "pairs"]


def read_labels(path: Path) -> tuple[Literal["claims"], list[ClaimLabel]] | tuple[Literal["pairs"], list[PairLabel]]:
    """The labels of a JSONL file and their kind; a ``LabelError`` names the first bad line."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_LABEL_FILE_BYTES:
            raise LabelError(f"{path}: larger than {MAX_LABEL_FILE_BYTES // 1_000_000} MB")
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise LabelError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise LabelError(f"{path} is not UTF-8 text") from None
    kind: LabelKind | None = None
    labels: list[Any] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = load_json(line)
        except ParseFailure as exc:
            raise LabelError(f"{path}, line {number}: {exc}") from None
        if not isinstance(data, dict):
            raise LabelError(f"{path}, line {number}: expected a JSON object")
        this: LabelKind = "pairs" if "preferred" in data else "claims"
        if kind is not None and this != kind:
            raise LabelError(f"{path}, line {number}: mixes pairwise preferences and claim labels; use two files")
        kind = this
        model = PairLabel if this == "pairs" else ClaimLabel
        try:
            labels.append(model.model_validate({**data, "line": number}))
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "(line)"
            raise LabelError(f"{path}, line {number}: {where}: {first['msg']}") from None
    if kind is None:
        raise LabelError(f"{path}: no labels")
    return ("pairs", labels) if kind == "pairs" else ("claims", labels)


def resolve(base: Path, value: str) -> Path:
    """A path from a label file: absolute, or relative to the label file's folder."""
    candidate = Path(value).expanduser()
    return candidate if candidate.is_absolute() else (Path(base).parent / candidate)


# -------------------------------------------------------------------------------------------------- matching

_MARKER = re.compile(r"\[\^?\d{1,4}(?:\s*[,;–-]\s*\d{1,4})*\]|【[^】]*】")
_TOKEN = re.compile(r"\d+(?:\.\d+)?|[^\W\d_]+")


def tokens(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _MARKER.sub(" ", text)
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    return _TOKEN.findall(text)


def similarity(a: str, b: str) -> float:
    """Dice coefficient of the word-and-number bags of ``a`` and ``b``, weighted by the numbers they share."""
    ta, tb = Counter(tokens(a)), Counter(tokens(b))
    if not ta or not tb:
        return 0.0
    dice = 2 * sum((ta & tb).values()) / (sum(ta.values()) + sum(tb.values()))
    na = {t for t in ta if t[0].isdigit()}
    nb = {t for t in tb if t[0].isdigit()}
    if na or nb:
        dice *= (1 + len(na & nb) / len(na | nb)) / 2
    return dice


def label_similarity(label: ClaimLabel, claim: Claim) -> float:
    ours = [t for t in (label.claim, label.sentence) if t.strip()]
    theirs = [t for t in (claim.text, claim.sentence) if t.strip()]
    return max(similarity(a, b) for a in ours for b in theirs)


def match_claims(
    labels: list[ClaimLabel], claims: list[Claim], min_similarity: float = DEFAULT_MIN_SIMILARITY
) -> dict[int, tuple[int, float]]:
    """label index -> (claim index, similarity) for the labels matched, one to one, most similar first."""
    scored = sorted(
        ((label_similarity(label, claim), i, j) for i, label in enumerate(labels) for j, claim in enumerate(claims)),
        key=lambda item: (-item[0], item[1], item[2]),
    )
    matched: dict[int, tuple[int, float]] = {}
    used: set[int] = set()
    for value, i, j in scored:
        if value < min_similarity:
            break
        if i in matched or j in used:
            continue
        matched[i] = (j, value)
        used.add(j)
    return matched
