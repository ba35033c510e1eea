"""One idiom for every extension point (search backends, report importers, chat backends, agent protocols).

A ``Registry`` maps names to implementations (or factories). Built-ins register with the decorator
``@REGISTRY.register("name")`` (or ``REGISTRY.register("name", obj)``); a third-party package adds its own without
forking dreval by declaring an entry point in the registry's group, e.g. in its ``pyproject.toml``::

    [project.entry-points."drevalkit.search_backends"]
    mysearch = "mypackage.search:make_backend"

Entry points are loaded lazily, the first time a registry is asked for its names or for a name it does not have.
A plug-in that fails to load is reported (a warning, and an error naming it when it is asked for) and skipped; the
built-ins and the other plug-ins keep working.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar, overload

from .errors import DrevalError

T = TypeVar("T")


class RegistryError(DrevalError, LookupError):
    """A name that no implementation is registered under; the message lists the known names."""


class Registry(Generic[T]):
    def __init__(self, kind: str, group: str):
        self.kind = kind  # e.g. "search backend", for messages
        self.group = group  # entry-point group, e.g. "drevalkit.search_backends"
        self._items: dict[str, T] = {}
        self._discovered = False
        self.broken: dict[str, str] = {}  # plug-ins that failed to load: name -> why

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, item: T) -> T: ...

    def register(self, name: str, item: T | None = None) -> T | Callable[[T], T]:
        """Add ``item`` under ``name`` (case-insensitive); without ``item``, a decorator that does it."""
        key = name.strip().lower()
        if not key:
            raise ValueError(f"a {self.kind} needs a name")

        def add(value: T) -> T:
            self._items[key] = value
            return value

        return add if item is None else add(item)

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        for point in entry_points(group=self.group):
            if point.name.lower() not in self._items:
                try:
                    self._items[point.name.lower()] = point.load()
                except Exception as exc:  # noqa: BLE001 - a broken plug-in must not break dreval or the others
                    self.broken[point.name.lower()] = f"{point.value}: {type(exc).__name__}: {exc}"
                    warnings.warn(
                        f"the {self.kind} plug-in {point.name!r} ({point.value}) failed to load: "
                        f"{type(exc).__name__}: {exc}",
                        RuntimeWarning,
                        stacklevel=2,
                    )

    def get(self, name: str) -> T:
        key = name.strip().lower()
        if key not in self._items:
            self._discover()
        if key in self.broken:
            raise RegistryError(f"the {self.kind} plug-in {name!r} failed to load ({self.broken[key]})")
        try:
            return self._items[key]
        except KeyError:
            raise RegistryError(f"unknown {self.kind} {name!r}: choose one of {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.strip().lower() in self.names()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def items(self) -> list[tuple[str, T]]:
        self._discover()
        return sorted(self._items.items())
