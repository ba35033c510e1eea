"""Shards: a task set split into N parts by a hash of each task id, so N processes or machines can each run one part
(``--shard K/N``) and their output folders merge by copying.

The split depends on the task id alone (sha256 of the id, mod N): adding tasks to a set, or running a subset of it,
never moves a task to another shard, and every machine computes the same split without talking to the others.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from typing import TypeVar

from pydantic import BaseModel, Field

from .errors import DrevalError

T = TypeVar("T")

_SPEC = re.compile(r"\s*(\d{1,6})\s*/\s*(\d{1,6})\s*")
MANIFEST_NAME = re.compile(r"^run\.(\d{1,6})-of-(\d{1,6})\.json$")  # a shard's run manifest, ``OutputLayout``


class ShardError(DrevalError, ValueError):
    """A ``--shard`` that is not K/N with 1 <= K <= N; the message shows the form."""


def shard_of(task_id: str, count: int) -> int:
    """The shard (1-based, of ``count``) that holds ``task_id``."""
    digest = hashlib.sha256(task_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


class Shard(BaseModel):
    """Shard ``index`` of ``count`` (``2/4``: the second of four); recorded in a shard's run manifest."""

    index: int = Field(ge=1, description="which shard, 1-based")
    count: int = Field(ge=1, description="how many shards the task set is split into")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``K/N`` as typed after ``--shard``; ``ShardError`` says what a good one looks like."""
        found = _SPEC.fullmatch(text)
        if found is None:
            raise ShardError(f"{text!r} is not K/N: give which shard of how many, e.g. 2/4 (the second of four)")
        index, count = int(found.group(1)), int(found.group(2))
        if count < 1 or not 1 <= index <= count:
            raise ShardError(f"{text!r}: K must be 1 to N (shards are numbered from 1), e.g. 1/{max(count, 2)}")
        return cls(index=index, count=count)

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def slug(self) -> str:
        """``K-of-N``: the shard in a file name."""
        return f"{self.index}-of-{self.count}"

    def holds(self, task_id: str) -> bool:
        return shard_of(task_id, self.count) == self.index

    def pick(self, items: Iterable[T], task_id: Callable[[T], str]) -> list[T]:
        """The items whose task this shard holds, in their order."""
        return [item for item in items if self.holds(task_id(item))]
