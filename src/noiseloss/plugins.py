"""Plugins: modules that register extensions (models, perturbations, detectors, metrics).

A plugin is a Python module whose import registers its extensions (``docs/extending.md``). It
reaches every way of using ``noiseloss``:

- installed packages declare it under the entry-point group ``noiseloss.plugins``
  (``[project.entry-points."noiseloss.plugins"] mine = "my_package.noiseloss_plugin"``); they are
  loaded the first time a registry is asked for a name it does not hold;
- ``noiseloss --plugin MODULE ...`` on the command line (repeatable);
- ``plugins: [MODULE, ...]`` in a config, loaded before the rest of it is read;
- ``load_plugins([MODULE, ...])`` from Python.

Each module is imported once per process.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys

from noiseloss.errors import ParameterError

#: The entry-point group of installed plugins.
ENTRY_POINT_GROUP = "noiseloss.plugins"

_installed_loaded = False


def load_plugins(modules=()) -> list[str]:
    """Import each plugin module named in ``modules`` (once); return their names.

    Raises:
        ParameterError: A name is not a module name, cannot be found, or fails on import (the
            message names the plugin and the error).
    """
    names = []
    for name in modules:
        if not isinstance(name, str) or not all(p.isidentifier() for p in name.split(".")):
            raise ParameterError(f"a plugin is a Python module name (my_package.plugin), got "
                                 f"{name!r}")
        _import(name, origin=f"plugin {name!r}")
        names.append(name)
    return names


def load_installed_plugins() -> list[str]:
    """Load every plugin of the ``noiseloss.plugins`` entry-point group (once per process)."""
    global _installed_loaded
    if _installed_loaded:
        return []
    _installed_loaded = True
    loaded = []
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        _import(entry.value.partition(":")[0],
                origin=f"installed plugin {entry.name!r} ({entry.value}, from "
                       f"{entry.dist.name if entry.dist else 'an unknown package'})")
        loaded.append(entry.name)
    return loaded


def _import(module: str, *, origin: str) -> None:
    if module in sys.modules:
        return
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            raise ParameterError(f"{origin} cannot be found: no module {exc.name!r} on the "
                                 "Python path") from exc
        raise ParameterError(f"{origin} failed on import: {type(exc).__name__}: {exc}") from exc
    except Exception as exc:  # a plugin's own error, whatever its type
        raise ParameterError(f"{origin} failed on import: {type(exc).__name__}: {exc}") from exc
