"""The one extension idiom: registration, lookup errors, and plug-ins from entry points (a broken one is skipped)."""

from __future__ import annotations

import pytest

from drevalkit import registry
from drevalkit.registry import Registry, RegistryError


class _Point:
    def __init__(self, name, target):
        self.name, self.value, self._target = name, f"pkg:{name}", target

    def load(self):
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


def test_register_lookup_and_plugins_with_a_broken_one(monkeypatch):
    points = [_Point("broken", ImportError("no module named pkg")), _Point("good", "plug-in value")]
    monkeypatch.setattr(registry, "entry_points", lambda group: points if group == "drevalkit.test" else [])
    things: Registry[str] = Registry("thing", "drevalkit.test")

    @things.register("Built-In")
    def builtin():  # a decorator returns what it registers
        return "x"

    assert things.get("built-in") is builtin
    with pytest.warns(RuntimeWarning, match="'broken'"):
        names = things.names()
    assert names == ["built-in", "good"]  # the broken plug-in is skipped, the one after it still loads
    assert things.get("GOOD") == "plug-in value"
    with pytest.raises(RegistryError, match="plug-in 'broken' failed to load .*ImportError"):
        things.get("broken")
    with pytest.raises(RegistryError, match="unknown thing 'nope': choose one of built-in, good"):
        things.get("nope")
