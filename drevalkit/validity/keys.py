"""Where a judge's card is filed: a key from the judge's identity (no imports beyond the schemas, so the leaderboard
can find cards cheaply)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..files import safe_filename
from ..schemas import JudgeInfo

CARDS_FOLDER = "judge-cards"


def judge_key(judge: JudgeInfo) -> str:
    """A file name for a judge: its model and a hash of what tells its weights apart (backend, model, endpoint
    identity, model file)."""
    digest = hashlib.sha256(json.dumps([judge.backend, judge.model, judge.identity, judge.model_sha256]).encode())
    return safe_filename(Path(judge.model).name or judge.model, 60) + "-" + digest.hexdigest()[:8]


def card_paths(out: Path, judge: JudgeInfo) -> tuple[Path, Path]:
    """(JSON, HTML) of the judge's card in the output folder ``out``."""
    base = Path(out) / CARDS_FOLDER / judge_key(judge)
    return base.with_suffix(".json"), base.with_suffix(".html")
