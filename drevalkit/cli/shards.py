"""``--shard K/N`` of ``dreval score``, ``factcheck`` and ``run-agent``: the option, read into a ``Shard``, and the
work of one shard picked with a line saying how much of the whole it is. (Apart from ``options``, which is full.)"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..shards import Shard, ShardError
from .console import plain, stderr

T = TypeVar("T")


def _parse(ctx: click.Context, param: click.Parameter, value: str | None) -> Shard | None:
    try:
        return None if value is None else Shard.parse(value)
    except ShardError as exc:
        raise click.BadParameter(str(exc)) from None


def shard_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--shard",
        metavar="K/N",
        callback=_parse,
        help="Run only shard K of N (e.g. 2/4): the tasks whose id hashes to it, a split that adding tasks never "
        "changes. Run every K, in as many processes or on as many machines; each writes its own run manifest, so "
        "their output folders merge by copying.",
    )(func)


def pick_shard(items: list[T], shard: Shard | None, task_id: Callable[[T], str], what: str) -> list[T]:
    """The ``items`` of ``shard`` (every item without one), with a line on stderr saying how many of the ``what``
    it holds (none is not an error: the shard's manifest records that it ran)."""
    if shard is None:
        return items
    picked = shard.pick(items, task_id)
    stderr.print(plain(f"shard {shard.label}: {len(picked)} of {len(items)} {what}"), highlight=False, markup=False)
    return picked
