"""Build, freeze and reuse the adaptive rubric of a task.

A rubric is built once per task (4 general dimensions from ``rubrics/general.json`` plus 1-3 task-specific ones,
dimension weights, 2-8 weighted criteria per dimension), written to ``OUT/rubrics/<task id>.json`` and reused for every
report of that task, so every system is judged against the same frozen rubric. Ids are assigned here, not by the
model, so they are stable and cannot be misspelt.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol, cast

from pydantic import BaseModel, Field, ValidationError, create_model

from ..aio import gather_or_cancel, map_in_order
from ..errors import DrevalError
from ..files import ParseFailure, atomic_write_text, load_json
from ..layout import OutputLayout
from ..llm import LLMClient, LLMError, LLMUnavailable
from ..prompts import PromptSet
from ..resources import data_path
from ..schemas import Criterion, Dimension, Rubric, StrictModel, Task, Usage, stable_hash

PROMPTS = PromptSet("drevalkit.quality")
MAX_SPECIFIC_DIMENSIONS = 3
# A dimension or criterion id: a short slug (dreval's own are "coverage", "task_<slug>_2", "coverage.1"). Ids are
# written outside the rubric's fence (the judge keys its answer by them), so nothing else may pass.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
ID_RULE = "an id is 1-64 ASCII letters, digits, '_', '.' or '-', starting with a letter or digit"


class RubricError(DrevalError, RuntimeError):
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


class _DimensionPlan(Protocol):
    """The fields of a ``dimension_plan_model`` answer (the model is built at run time, so mypy cannot see them)."""

    analysis: str
    specific_dimensions: list[_SpecificDimension]
    general_weights: BaseModel  # one float field per general dimension id


def dimension_plan_model(general: GeneralRubric) -> type[BaseModel]:
    """Schema of the first rubric call: task-specific dimensions plus a weight for each general dimension."""
    weight_fields: dict[str, Any] = {d.id: (float, Field(ge=0, le=1)) for d in general.dimensions}
    weights = create_model("GeneralWeights", __base__=StrictModel, **weight_fields)
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
    """Weights summing to 1; weights that already do are kept as they are, so a frozen rubric reads back
    bit-identical (and keeps its hash)."""
    total = sum(weights)  # > 0: checked by _check_weights
    if abs(total - 1.0) < 1e-9:
        return list(weights)
    return [w / total for w in weights]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40] or "dimension"


def build_key(task: Task, judge_model: str, prompt_version: str | None = None) -> str:
    """What a frozen rubric depends on: the task's content, the model that built it and the prompt version (the
    current one unless named)."""
    prompts = PROMPTS.version if prompt_version is None else prompt_version
    return stable_hash({"task": task.content_key(), "judge": judge_model, "prompts": prompts})


def built_from(rubric: Rubric, task: Task) -> bool:
    """Whether ``rubric`` was built from ``task`` (its build key, made again with the judge model and prompt version
    the rubric records); a hand-written rubric (no build key) may serve any task of its id."""
    return not rubric.build_key or rubric.build_key == build_key(task, rubric.judge.model, rubric.prompt_version)


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
    plan = cast("_DimensionPlan", plan_result.value)
    general_weights = plan.general_weights.model_dump()

    skeleton: list[tuple[str, str, Literal["general", "specific"], str, float]] = [
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
                PROMPTS.render("rubric_criteria.j2", task=task, dimension={"name": name, "definition": definition})
            ),
            CriteriaPlan,
            temperature=0.0,
        )
        usage.add(result.usage)
        return result.value

    plans = await gather_or_cancel(*(criteria_for(name, definition) for _, name, _, definition, _ in skeleton))
    dimensions = []
    for (dim_id, name, kind, definition, weight), criteria_plan in zip(skeleton, plans):
        criteria = [
            Criterion(id=f"{dim_id}.{i}", text=c.criterion.strip(), explanation=c.explanation.strip(), weight=c.weight)
            for i, c in enumerate(criteria_plan.criteria, start=1)
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
    _check_weights(rubric.model_dump(), f"the rubric the judge built for task {task.id!r}")
    rubric = normalised(rubric)
    rubric.hash = rubric.content_hash()
    return rubric, usage


def _check_weights(data: Any, where: str) -> None:
    """Refuse a missing, non-numeric, negative or all-zero weight with a message naming the dimension."""
    dimensions = data.get("dimensions") if isinstance(data, dict) else None
    if not isinstance(dimensions, list) or not dimensions:
        raise RubricError(f"{where}: a rubric needs a non-empty 'dimensions' list")

    def weight_of(item: Any, what: str) -> float:
        value = item.get("weight") if isinstance(item, dict) else None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RubricError(f"{where}: {what} has {'no' if value is None else 'a non-numeric'} weight")
        if value < 0 or value != value or value == float("inf"):
            raise RubricError(f"{where}: {what} has weight {value}; weights must be finite and >= 0")
        return float(value)

    names = []
    for number, dim in enumerate(dimensions, start=1):
        if not isinstance(dim, dict):
            raise RubricError(f"{where}: dimension {number} is not an object")
        name = f"dimension {dim.get('id') or number!r}"
        names.append(name)
        weight_of(dim, name)
        criteria = dim.get("criteria")
        if not isinstance(criteria, list) or not criteria:
            raise RubricError(f"{where}: {name} has no criteria")
        criterion_weights = [
            weight_of(c, f"criterion {(c.get('id') if isinstance(c, dict) else None) or i!r} of {name}")
            for i, c in enumerate(criteria, start=1)
        ]
        if sum(criterion_weights) <= 0:
            raise RubricError(f"{where}: every criterion weight of {name} is 0")
    if sum(weight_of(dim, name) for dim, name in zip(dimensions, names)) <= 0:
        raise RubricError(f"{where}: every dimension weight is 0")


def check_ids(rubric: Rubric, where: str) -> None:
    """Refuse a dimension or criterion id that is not a short slug, naming it (shortened, escaped) and the rule."""
    named = [("dimension", d.id) for d in rubric.dimensions]
    named += [("criterion", c.id) for d in rubric.dimensions for c in d.criteria]
    for what, value in named:
        if not _ID.fullmatch(value):
            shown = repr(value[:60]) + ("..." if len(value) > 60 else "")
            raise RubricError(f"{where}: {what} id {shown} is not allowed: {ID_RULE}")


def normalised(rubric: Rubric) -> Rubric:
    """Dimension weights summing to 1, and criterion weights summing to 1 within each dimension, so a total is
    always within 0-10 whatever scale the weights were written in (3/7, percentages, ...)."""
    dimension_weights = _normalise([d.weight for d in rubric.dimensions])
    dimensions = []
    for dim, weight in zip(rubric.dimensions, dimension_weights):
        criteria = [
            c.model_copy(update={"weight": w})
            for c, w in zip(dim.criteria, _normalise([c.weight for c in dim.criteria]))
        ]
        dimensions.append(dim.model_copy(update={"weight": weight, "criteria": criteria}))
    return rubric.model_copy(update={"dimensions": dimensions})


def read_rubric(path: Path) -> Rubric:
    """A rubric file, generated or hand-written, checked and normalised. A rubric edited after it was frozen is
    used as it now is: its hash is recomputed, so results judged with the old one are scored again."""
    try:
        data = load_json(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RubricError(f"cannot read rubric {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise RubricError(f"{path} is not UTF-8 text") from None
    except ParseFailure as exc:
        raise RubricError(f"{path}: {exc}") from None
    _check_weights(data, str(path))
    try:
        rubric = Rubric.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RubricError(
            f"{path} is not a valid rubric: {exc.error_count()} problem(s), first at {where}: {first['msg']}"
        ) from None
    check_ids(rubric, str(path))
    ids = [d.id for d in rubric.dimensions] + [c.id for d in rubric.dimensions for c in d.criteria]
    if len(set(ids)) != len(ids):
        raise RubricError(f"{path}: dimension and criterion ids must be unique")
    rubric = normalised(rubric)
    rubric.hash = rubric.content_hash()
    return rubric


# What to do about a stale frozen rubric, in the words of the command that found it (flags differ per command).
STALE_HINT_SCORE = "pass --rebuild-rubrics to replace it or --rubric FILE to use a specific one"
STALE_HINT_RUBRIC = "pass --rebuild to replace it"


class RubricBook:
    """Frozen rubrics of one output folder; builds each task's rubric once, even under concurrency."""

    def __init__(
        self,
        layout: OutputLayout,
        llm: LLMClient,
        *,
        rebuild: bool = False,
        fixed: Rubric | None = None,
        stale_hint: str = STALE_HINT_SCORE,
    ):
        self.layout = layout
        self.llm = llm
        self.rebuild = rebuild
        if fixed is not None:  # also a Rubric built in code, not read from a file
            check_ids(fixed, f"the rubric for task {fixed.task_id!r}")
        self.fixed = fixed
        self.stale_hint = stale_hint
        self._locks: dict[str, asyncio.Lock] = {}
        self._rebuilt: set[str] = set()
        self._files: dict[Path, tuple[tuple[int, int, int], Rubric]] = {}

    @property
    def prompt_version(self) -> str:
        """Version of the quality prompts (rubric building and judging), recorded in results."""
        return PROMPTS.version

    def current_hash(self, task: Task) -> str | None:
        """Hash of the rubric a score of ``task`` would use now, without building one (None: it would be built)."""
        if self.fixed is not None:
            return self.fixed.hash
        path = self.layout.rubric(task.id)
        if self.rebuild or not path.exists():
            return None
        try:
            return self._read(path).hash
        except RubricError:
            return None

    def _read(self, path: Path) -> Rubric:
        """``read_rubric(path)``, parsed once while the file stays as it is (its inode, size and modification time):
        every report of a task asks for its rubric (parsing, checking and normalising it each time was 2% of a
        scoring run's CPU). A file edited during a run is read again; a rubric is never changed by its users."""
        try:
            stat = path.stat()
        except OSError:
            return read_rubric(path)  # which says why it cannot be read
        key = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        cached = self._files.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        rubric = read_rubric(path)
        self._files[path] = (key, rubric)
        return rubric

    async def get(self, task: Task) -> tuple[Rubric, Usage]:
        """The task's frozen rubric (built now if needed) and the usage spent building it."""
        if self.fixed is not None:
            return self.fixed, Usage()
        lock = self._locks.setdefault(task.id, asyncio.Lock())
        async with lock:
            path = self.layout.rubric(task.id)
            expected = build_key(task, self.llm.model)
            if path.exists() and not (self.rebuild and task.id not in self._rebuilt):
                rubric = self._read(path)
                if rubric.build_key and rubric.build_key != expected:
                    raise RubricError(
                        f"the frozen rubric {path} was built from a different task text, judge model or prompt "
                        f"version; {self.stale_hint}"
                    )
                return rubric, Usage()
            rubric, usage = await build_rubric(task, self.llm)
            atomic_write_text(path, rubric.model_dump_json(indent=2))
            self._rebuilt.add(task.id)
            return rubric, usage


async def build_rubrics(
    layout: OutputLayout,
    llm: LLMClient,
    tasks: Iterable[Task],
    *,
    rebuild: bool = False,
    stale_hint: str = STALE_HINT_RUBRIC,
    on_done: Callable[[Task, str, str | None], None] | None = None,
) -> int:
    """Freeze the rubric of every task; ``on_done(task, summary, None)`` or ``(task, "", the reason it failed)`` is
    called per task, in order, as each is done. Tasks are drawn from ``tasks`` as work frees up (a few times the
    judge's concurrency at once), so a lazy iterable of a million stays lazy. Returns how many failed.
    ``LLMUnavailable`` (no judge at all) propagates; one task's failure does not stop the others."""
    await llm.check()
    book = RubricBook(layout, llm, rebuild=rebuild, stale_hint=stale_hint)

    async def one(task: Task) -> tuple[str, str | None]:
        try:
            built, _ = await book.get(task)
        except LLMUnavailable:
            raise
        except (LLMError, RubricError) as exc:
            return "", str(exc)
        return f"{len(built.dimensions)} dimensions, hash {built.hash}", None

    failed = 0
    async for task, (summary, problem) in map_in_order(one, tasks, 4 * max(llm.settings.concurrency, 4)):
        failed += problem is not None
        if on_done is not None:
            on_done(task, summary, problem)
    return failed
