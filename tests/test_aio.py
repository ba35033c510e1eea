"""drevalkit.aio.run_loop: uvloop's event loop when it is installed, asyncio's own otherwise."""

from __future__ import annotations

import asyncio
import sys

import pytest

from drevalkit.aio import loop_name, run_loop


async def _answer_after_a_thread_hop() -> tuple[type, int]:
    """The loop's class, and a value computed in the default executor (the store and spaCy run there)."""
    value = await asyncio.to_thread(sum, [20, 22])
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()), value


def test_without_uvloop_asyncio_runs_the_coroutine(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvloop", None)  # "import uvloop" raises ImportError
    loop_class, value = run_loop(_answer_after_a_thread_hop())
    assert value == 42
    assert loop_class.__module__.startswith("asyncio")
    assert loop_name() == "asyncio"


def test_with_uvloop_installed_its_loop_runs_the_coroutine():
    uvloop = pytest.importorskip("uvloop")
    loop_class, value = run_loop(_answer_after_a_thread_hop())
    assert value == 42
    assert issubclass(loop_class, uvloop.Loop)
    assert loop_name() == "uvloop"


def test_an_error_in_the_coroutine_reaches_the_caller(monkeypatch):
    async def fail() -> None:
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        run_loop(fail())
