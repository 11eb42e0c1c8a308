"""The key/value cache of a ``transformers`` decoder, across the versions noiseloss supports.

``transformers`` renamed the cache argument and output from ``past_key_values`` to ``cache``
(5.24 warns that the old name goes in 5.40). Versions 5.0-5.23 accepted ``cache=`` and ignored
it without an error (wrong logits), so the new name is used only where ``forward`` declares it.
"""

from __future__ import annotations

import functools
import inspect


@functools.lru_cache(maxsize=32)
def _keyword(forward) -> str:
    parameters = inspect.signature(forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def cache_keyword(model) -> str:
    """``"cache"`` where ``model.forward`` declares it, else ``"past_key_values"``."""
    return _keyword(type(model).forward)


def output_cache(output):
    """The cache a forward pass returned (``output.cache`` or ``output.past_key_values``)."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def cached_forward(model, cache=None, **inputs):
    """``model(**inputs, use_cache=True)`` continuing ``cache``; returns ``(output, cache)``."""
    out = model(**inputs, use_cache=True, **({cache_keyword(model): cache} if cache is not None
                                             else {}))
    return out, output_cache(out)


def select_cache(cache, rows):
    """The cache with batch rows ``rows`` (indices, repeats allowed) of its own (in place)."""
    cache.batch_select_indices(rows)
    return cache
