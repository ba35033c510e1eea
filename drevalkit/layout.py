"""Where every output of a run goes. One object owns the paths, so no stage builds one by hand::

    OUT/rubrics/<task>.json              frozen rubrics, shared by every system
    OUT/results/<system>/<task>.json     one Scorecard per report
    OUT/html/<system>/<task>.html        its scorecard page
    OUT/run.json                         the manifest of the last run
    OUT/run.<K>-of-<N>.json              the manifest of the last run of shard K of N (--shard K/N)
    OUT/leaderboard.{csv,json,md,html}   the leaderboard of every result in OUT (dreval leaderboard)
    OUT/judge-cards/<judge key>.{json,html}  a judge's card (dreval stress), found by the judge's identity

Ids become file names through ``safe_filename``: distinct ids never share a file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from .files import safe_filename
from .schemas import JudgeInfo
from .shards import Shard

CARDS_FOLDER = "judge-cards"


@dataclass(frozen=True)
class OutputLayout:
    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def rubrics_dir(self) -> Path:
        return self.root / "rubrics"

    @property
    def results_dir(self) -> Path:
        return self.root / "results"

    @property
    def html_dir(self) -> Path:
        return self.root / "html"

    @property
    def manifest(self) -> Path:
        return self.root / "run.json"

    def run_manifest(self, shard: Shard | None) -> Path:
        """The manifest of a run: ``run.json``, or for a shard ``run.<K>-of-<N>.json``, so the manifests of shards
        run into one folder (or merged into one by copying) never overwrite each other."""
        return self.manifest if shard is None else self.root / f"run.{shard.slug}.json"

    def leaderboard(self, format_name: str) -> Path:
        """``OUT/leaderboard.<csv|json|md|html>``."""
        return self.root / f"leaderboard.{format_name}"

    def rubric(self, task_id: str) -> Path:
        return self.rubrics_dir / f"{safe_filename(task_id)}.json"

    def result(self, system: str, task_id: str) -> Path:
        return self.results_dir / safe_filename(system) / f"{safe_filename(task_id)}.json"

    def scorecard(self, system: str, task_id: str) -> Path:
        return self.html_dir / safe_filename(system) / f"{safe_filename(task_id)}.html"


def judge_key(judge: JudgeInfo) -> str:
    """A file name for a judge: its model and a hash of what tells its weights apart (backend, model, endpoint
    identity, model file)."""
    digest = hashlib.sha256(json.dumps([judge.backend, judge.model, judge.identity, judge.model_sha256]).encode())
    return safe_filename(Path(judge.model).name or judge.model, 60) + "-" + digest.hexdigest()[:8]


def card_paths(out: Path, judge: JudgeInfo) -> tuple[Path, Path]:
    """(JSON, HTML) of the judge's card in the output folder ``out``. The suffix is appended, not swapped in with
    ``with_suffix``: a key holds dots (``Qwen2.5-72B-Instruct-<hash>``), and swapping would cut the name and hash
    at the first of them, filing different judges' cards under one name."""
    folder, key = Path(out) / CARDS_FOLDER, judge_key(judge)
    return folder / f"{key}.json", folder / f"{key}.html"
