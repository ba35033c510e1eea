"""Build, freeze and reuse the adaptive rubric of a task.

A rubric is built once per task (4 general dimensions from ``rubrics/general.json`` plus 1-3 task-specific ones,
dimension weights, 2-8 weighted criteria per dimension), written to ``OUT/rubrics/<task id>.json`` and reused for every
report of that task, so every system is judged against the same frozen rubric. Ids are assigned here, not by the
model, so they are stable and cannot be misspelt.
"""

from __future__ import annotations

import asyncio
import re
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, create_model

from ..files import atomic_write_text, safe_filename
from ..aio import gather_or_cancel
from ..llm import LLMClient
from ..prompts import PromptSet
from ..resources import data_path
from ..schemas import Criterion, Dimension, Rubric, StrictModel, Task, Usage, stable_hash

PROMPTS = PromptSet("drevalkit.quality")
MAX_SPECIFIC_DIMENSIONS = 3


class RubricError(RuntimeError):
    """A rubric that cannot be built or reused; the message says why and what to do."""


class GeneralDimension(BaseModel):
    id: str
    name: str
    definition: str


class ScoreBand(BaseModel):
    range: str
    meaning: str


class GeneralRubric(BaseModel):
    version: str
    score_scale: str
    score_bands: list[ScoreBand]
    dimensions: list[GeneralDimension]


@lru_cache(maxsize=4)
def load_general_rubric(path: Path | None = None) -> GeneralRubric:
    path = path or data_path("rubrics") / "general.json"
    try:
        return GeneralRubric.model_validate_json(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValidationError) as exc:
        raise RubricError(f"cannot load the general rubric {path}: {exc}") from None


# Output models the rubric builder asks the LLM for.

class _SpecificDimension(StrictModel):
    name: str = Field(description="short name of the task-specific dimension")
    definition: str = Field(description="one sentence: what this dimension measures for this task")
    weight: float = Field(ge=0, le=1)


def dimension_plan_model(general: GeneralRubric) -> type[BaseModel]:
    """Schema of the first rubric call: task-specific dimensions plus a weight for each general dimension."""
    weights = create_model(
        "GeneralWeights",
        __base__=StrictModel,
        **{d.id: (float, Field(ge=0, le=1)) for d in general.dimensions},
    )
    return create_model(
        "DimensionPlan",
        __base__=StrictModel,
        analysis=(str, Field(description="what this task's reader needs most, briefly")),
        specific_dimensions=(
            list[_SpecificDimension],
            Field(min_length=1, max_length=MAX_SPECIFIC_DIMENSIONS),
        ),
        general_weights=(weights, ...),
    )


class _CriterionDraft(StrictModel):
    criterion: str = Field(description="what the judge checks in the report")
    explanation: str = Field(description="what a strong report does to satisfy it")
    weight: float = Field(ge=0, le=1)


class CriteriaPlan(StrictModel):
    criteria: list[_CriterionDraft] = Field(min_length=2, max_length=8)


def _normalise(weights: list[float]) -> list[float]:
    total = sum(weights)
    if total <= 0:
        return [1.0 / len(weights)] * len(weights)
    return [w / total for w in weights]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40] or "dimension"


def build_key(task: Task, judge_model: str) -> str:
    """What a frozen rubric depends on: the task's content, the model that built it and the prompt version."""
    return stable_hash({"task": task.content_key(), "judge": judge_model, "prompts": PROMPTS.version})


def _messages(user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": PROMPTS.render("rubric_system.j2")}, {"role": "user", "content": user}]


async def build_rubric(task: Task, llm: LLMClient) -> tuple[Rubric, Usage]:
    """Ask the LLM for dimensions and weights, then for each dimension's criteria (in parallel)."""
    general = load_general_rubric()
    usage = Usage()
    plan_result = await llm.structured(
        _messages(PROMPTS.render("rubric_dimensions.j2", task=task, general=general.dimensions)),
        dimension_plan_model(general),
        temperature=0.0,
    )
    usage.add(plan_result.usage)
    plan = plan_result.value
    general_weights = plan.general_weights.model_dump()

    skeleton: list[tuple[str, str, str, str, float]] = [
        (d.id, d.name, "general", d.definition, general_weights[d.id]) for d in general.dimensions
    ]
    taken = {d.id for d in general.dimensions}
    for spec in plan.specific_dimensions:
        dim_id = "task_" + _slug(spec.name)
        suffix = 2
        while dim_id in taken:
            dim_id = f"task_{_slug(spec.name)}_{suffix}"
            suffix += 1
        taken.add(dim_id)
        skeleton.append((dim_id, spec.name.strip(), "specific", spec.definition.strip(), spec.weight))

    async def criteria_for(name: str, definition: str) -> CriteriaPlan:
        result = await llm.structured(
            _messages(
                PROMPTS.render(
                    "rubric_criteria.j2", task=task, dimension={"name": name, "definition": definition}
                )
            ),
            CriteriaPlan,
            temperature=0.0,
        )
        usage.add(result.usage)
        return result.value

    plans = await gather_or_cancel(*(criteria_for(name, definition) for _, name, _, definition, _ in skeleton))
    dimension_weights = _normalise([weight for *_, weight in skeleton])
    dimensions = []
    for (dim_id, name, kind, definition, _), weight, criteria_plan in zip(skeleton, dimension_weights, plans):
        criterion_weights = _normalise([c.weight for c in criteria_plan.criteria])
        criteria = [
            Criterion(id=f"{dim_id}.{i}", text=c.criterion.strip(), explanation=c.explanation.strip(), weight=w)
            for i, (c, w) in enumerate(zip(criteria_plan.criteria, criterion_weights), start=1)
        ]
        dimensions.append(
            Dimension(id=dim_id, name=name, kind=kind, definition=definition, weight=weight, criteria=criteria)
        )
    rubric = Rubric(
        task_id=task.id,
        dimensions=dimensions,
        judge=llm.judge_info,
        prompt_version=PROMPTS.version,
        build_key=build_key(task, llm.model),
    )
    rubric.hash = rubric.content_hash()
    return rubric, usage


def rubric_path(out_dir: Path, task_id: str) -> Path:
    return Path(out_dir) / "rubrics" / f"{safe_filename(task_id)}.json"


def read_rubric(path: Path) -> Rubric:
    try:
        rubric = Rubric.model_validate_json(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RubricError(f"cannot read rubric {path}: {exc.strerror}") from None
    except ValidationError as exc:
        raise RubricError(f"{path} is not a valid rubric: {exc.error_count()} problem(s), first: "
                          f"{exc.errors(include_url=False)[0]['msg']}") from None
    if not rubric.dimensions or any(not d.criteria for d in rubric.dimensions):
        raise RubricError(f"{path}: a rubric needs at least one dimension and every dimension a criterion")
    if rubric.hash and rubric.hash != rubric.content_hash():
        raise RubricError(f"{path}: the rubric was edited after it was frozen (hash mismatch); rebuild it")
    if not rubric.hash:
        rubric.hash = rubric.content_hash()
    return rubric


class RubricBook:
    """Frozen rubrics of one output folder; builds each task's rubric once, even under concurrency."""

    def __init__(self, out_dir: Path, llm: LLMClient, *, rebuild: bool = False, fixed: Rubric | None = None):
        self.out_dir = Path(out_dir)
        self.llm = llm
        self.rebuild = rebuild
        self.fixed = fixed
        self._locks: dict[str, asyncio.Lock] = {}
        self._rebuilt: set[str] = set()

    async def get(self, task: Task) -> tuple[Rubric, Usage]:
        """The task's frozen rubric (built now if needed) and the usage spent building it."""
        if self.fixed is not None:
            return self.fixed, Usage()
        lock = self._locks.setdefault(task.id, asyncio.Lock())
        async with lock:
            path = rubric_path(self.out_dir, task.id)
            expected = build_key(task, self.llm.model)
            if path.exists() and not (self.rebuild and task.id not in self._rebuilt):
                rubric = read_rubric(path)
                if rubric.build_key != expected:
                    raise RubricError(
                        f"the frozen rubric {path} was built from a different task text, judge model or prompt "
                        "version; pass --rebuild-rubrics to replace it or --rubric FILE to use a specific one"
                    )
                return rubric, Usage()
            rubric, usage = await build_rubric(task, self.llm)
            atomic_write_text(path, rubric.model_dump_json(indent=2))
            self._rebuilt.add(task.id)
            return rubric, usage

