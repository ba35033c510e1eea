"""The files a run writes, and writing them: only once the run is complete, each atomically, the summary last."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..files import atomic_write_text, safe_filename
from ..schemas import Persona, Task
from .personas import dump_personas


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
class GenerationResult:
    """A finished run, held in memory until ``write_outputs`` writes it out whole."""

    tasks: list[Task]
    rejected: list[dict[str, Any]]
    summary: dict[str, Any]
    outputs: TaskOutputs
    baselines: dict[str, str]
    synthesized: list[Persona]


def write_outputs(result: GenerationResult) -> None:
    """Every output atomically, the summary (which says ``complete``) last."""
    outputs = result.outputs
    for candidate, answer in result.baselines.items():
        atomic_write_text(outputs.baseline(candidate), answer.rstrip() + "\n")
    if result.synthesized:
        atomic_write_text(outputs.personas, dump_personas(result.synthesized))
    atomic_write_text(outputs.rejected, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in result.rejected))
    atomic_write_text(outputs.tasks, "".join(t.model_dump_json() + "\n" for t in result.tasks))
    atomic_write_text(outputs.summary, json.dumps(result.summary, indent=2, ensure_ascii=False) + "\n")
