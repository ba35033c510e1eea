"""The run journal: every finished step of a run, kept in the store so a restarted run repeats none of them.

A run is named by the file it writes (or, for revalidation, reads); a step by its stage and a hash of its exact
inputs, which include the identity of the model that answers it, so a different model never reuses an answer.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ..llm import LLMClient
from ..schemas import stable_hash
from ..store import Store


def run_id(kind: str, path: Path) -> str:
    """A run is identified by what it writes (or reads, for revalidation): one journal per output file."""
    return f"{kind}:{Path(path).expanduser().resolve()}"


def llm_identity(llm: LLMClient) -> str:
    """What of a model goes into a step's key: a new model (or weights, or backend) means new answers."""
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
