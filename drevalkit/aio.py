"""Asyncio helpers shared by the stages."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, on uvloop's event loop when uvloop is installed (``pip install "drevalkit[fast]"``:
    its socket and scheduling work in C, a few percent less CPU in a scoring run), on asyncio's own otherwise."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    result: T = uvloop.run(main)
    return result


def loop_name() -> str:
    """The event loop ``run_loop`` uses: ``uvloop`` or ``asyncio``."""
    try:
        import uvloop  # noqa: F401 - only whether it imports
    except ImportError:
        return "asyncio"
    return "uvloop"


async def gather_or_cancel(*awaitables: Awaitable[Any]) -> list[Any]:
    """Like ``asyncio.gather``, but when one fails the others are cancelled (and awaited) before the error
    propagates, so no orphaned work keeps using clients that are about to be closed."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def map_in_order(fn: Callable[[T], Awaitable[R]], items: Iterable[T], limit: int) -> AsyncIterator[tuple[T, R]]:
    """``(item, await fn(item))`` in the order of ``items``, at most ``limit`` running at once, and ``items`` drawn
    only as room frees up, so a lazy iterable of a million items stays lazy; when one fails the others are cancelled
    (and awaited) before the error propagates, as in ``gather_or_cancel``."""
    running: deque[tuple[T, asyncio.Future[R]]] = deque()
    try:
        for item in items:
            running.append((item, asyncio.ensure_future(fn(item))))
            if len(running) >= max(1, limit):
                first, future = running.popleft()
                yield first, await future
        while running:
            first, future = running.popleft()
            yield first, await future
    finally:
        for _, future in running:
            future.cancel()
        await asyncio.gather(*(future for _, future in running), return_exceptions=True)
