"""A small generic registry used by every extension point (models, perturbations, detectors).

Listing a registry never imports heavy modules or loads weights: entries may be registered lazily
as ``"module:attribute"`` strings and are only resolved by ``get``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from noiseloss.errors import ParameterError, suggest

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> object mapping with decorator registration and lazy targets.

    Args:
        kind: What the registry holds, used in error messages ("model", "perturbation").
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T | str] = {}
        self._help: dict[str, str] = {}

    def register(self, name: str, target: T | str | None = None, *, help: str = "") -> Callable:
        """Register ``target`` under ``name``; usable as a decorator when ``target`` is omitted."""

        def add(obj):
            if name in self._entries:
                raise ParameterError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = obj
            doc = help or (getattr(obj, "__doc__", None) or "").strip().split("\n")[0]
            self._help[name] = doc
            return obj

        return add(target) if target is not None else add

    def get(self, name: str) -> T:
        """Return the entry registered as ``name``, resolving lazy targets."""
        self.check(name)
        entry = self._entries[name]
        if isinstance(entry, str):
            module, _, attr = entry.partition(":")
            entry = getattr(importlib.import_module(module), attr)
            self._entries[name] = entry
        return entry

    def check(self, name) -> None:
        """``ParameterError`` unless ``name`` is registered; the one message for an unknown name.

        An unknown name first loads the installed plugins (``noiseloss.plugins``), once.
        """
        if isinstance(name, str) and name not in self._entries:
            from noiseloss.plugins import load_installed_plugins

            load_installed_plugins()
        if not isinstance(name, str) or name not in self._entries:
            hint = suggest(name, self._entries) if isinstance(name, str) else ""
            raise ParameterError(f"unknown {self.kind} {name!r}; registered: {sorted(self._entries)}."
                                 f"{hint}".rstrip("."))

    def describe(self, name: str) -> str:
        """One-line description of an entry (never resolves it)."""
        return self._help.get(name, "")

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str) and name not in self._entries:
            from noiseloss.plugins import load_installed_plugins

            load_installed_plugins()
        return isinstance(name, str) and name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def keys(self) -> list[str]:
        """Sorted registered names."""
        return sorted(self._entries)

    def ordered(self) -> list[str]:
        """Registered names in the order they were registered."""
        return list(self._entries)
