"""PPM: the variable-order Markov model of IDyOM, over integer symbols ``0..A-1``.

IDyOM (Pearce 2005) predicts each event of a melody from the events before it with PPM
(Cleary & Witten 1984; PPM* of Cleary & Teahan 1997): the counts of what followed each
context of order ``0..k`` (the ``k`` preceding symbols), blended from the chosen order down to
order -1 (a uniform distribution), each order escaping to the next with the probability its
escape method gives. A long-term model (LTM) is trained on a corpus (``fit``); a short-term
model (STM) learns the piece as it reads it (``predict(update=True)``); ``combine`` merges
their distributions per event. The numbers reproduce IDyOM 1.5 and its 2020 update-exclusion
fix as recorded in ``pmcharrison/ppm`` (Harrison et al. 2020), tested to 1e-5.

One prediction, for symbol ``x_t`` after ``x_0 .. x_{t-1}`` (context of order ``o``: the
last ``o`` symbols)::

    x_0 .. x_{t-3} x_{t-2} x_{t-1} | x_t ?
                            '-----'          order 1 context
                    '-------------'          order 2 context
    p(s) = sum over o = chosen .. 0 of  lambda_o * c_o(s) / n_o * prod_{o' > o} (1 - lambda_o')
         + prod_{o = chosen .. 0} (1 - lambda_o) * p_{-1}(s),       then normalised

``c_o(s)``: count of ``s`` after the order-``o`` context (plus ``k``: -1 for escape B, -1/2
for D, clipped at 0); ``n_o``: the sum of ``c_o`` over symbols not seen at any higher order
(exclusion); ``lambda_o = n_o / (n_o + e_o)`` with ``e_o`` = 1 (A), the number of distinct
symbols seen after the context (B, C), half of it (D), or 1 + the number seen once (AX);
``p_{-1} = 1 / (A + 1 - symbols ever seen)`` (``1 / A`` without exclusion). The chosen order
is the longest context that has been seen followed by something (within the order bound), or
with ``shortest_deterministic`` (PPM*) the shortest context seen followed by one symbol only
if that is shorter. Update exclusion counts a new n-gram only at the orders at and above the
longest one already seen (the full counts still count everything; PPM* then blends the
deterministic order it selected with its full counts).

Storage: the learned symbols, and a trie over their contexts read backwards compiled into
sorted numpy arrays (``_Trie``: one level per order, ``node * A + symbol`` keys found with
``np.searchsorted``) with one count row per context seen at least twice; a context seen once
is a pointer into the learned symbols (its one continuation; longer contexts are read from
there), so a long unique context costs nothing until it recurs. ``fit`` builds the trie
with one sort per order; symbols learned by ``predict(update=True)`` are kept and compiled
only when the model predicts again (a short-term model's piece never is), into a small trie
merged with the others as they grow (at most about log2(N) tries).

Prediction has no Python loop over positions or contexts: all positions of a sequence are
looked up in the trie at once, one vectorised step per order; what the sequence itself
teaches (``update=True``) comes from its contexts sorted once (``_Contexts``, a suffix array
of the sequence read backwards: prefix doubling, then common prefixes of neighbours), which
give every position's longest earlier match, the earlier positions sharing its context at
each order, and, alone with shortest-deterministic selection, its chosen order before any
count is built. The counts of every (position, order) are then blended at once
(``PPM._blend``); orders >= 1 only over the symbols ever seen after the symbol before the
position. With exclusion, an order whose context saw the same symbols as the next one has
nothing left to add (no count after exclusion, escape 1): it is left out, and with a
single source not even counted (the orders at which a symbol stops being seen are known from
the trie's nodes or the sequence's matches). The result equals the literal ``_ReferencePPM``
to about 1e-16.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from noiseloss.errors import ParameterError, check_choice, check_int

#: Escape methods (``A``, ``B``, ``C``, ``D`` and ``AX``, IDyOM's ``:x``).
ESCAPES = ("a", "b", "c", "d", "ax")
#: IDyOM's long-term model (``mvs/params.lisp``): PPM* with escape C, no update exclusion.
LTM_DEFAULTS = {"order_bound": None, "escape": "c", "update_exclusion": False}
#: IDyOM's short-term model: PPM* with escape AX and update exclusion.
STM_DEFAULTS = {"order_bound": None, "escape": "ax", "update_exclusion": True}
#: IDyOM's bias of the LTM + STM combination (``*ltm-stm-bias*``, IDyOM 1.7).
LTM_STM_BIAS = 7.0
#: IDyOM's bias of the combination of viewpoints (``*viewpoint-bias*``).
VIEWPOINT_BIAS = 2.0

_K = {"a": 0.0, "b": -1.0, "c": 0.0, "d": -0.5, "ax": 0.0}
_UNBOUNDED = 1 << 62


def _check_options(alphabet_size, order_bound, escape, update_exclusion, shortest_deterministic,
                   exclusion) -> tuple[int, int, bool]:
    """Validated ``(alphabet_size, bound, shortest_deterministic)``; bound is huge when None."""
    alphabet_size = check_int("alphabet_size", alphabet_size, low=1)
    bound = _UNBOUNDED if order_bound is None else check_int("order_bound", order_bound, low=0)
    check_choice("escape", escape, ESCAPES)
    for name, value in (("update_exclusion", update_exclusion), ("exclusion", exclusion)):
        if not isinstance(value, bool):
            raise ParameterError(f"{name} must be True or False, got {value!r}")
    if shortest_deterministic is None:
        shortest_deterministic = order_bound is None
    elif not isinstance(shortest_deterministic, bool):
        raise ParameterError("shortest_deterministic must be True, False or None (True when "
                             f"order_bound is None), got {shortest_deterministic!r}")
    return alphabet_size, bound, shortest_deterministic


def _symbol_array(sequence, alphabet_size: int, name: str = "sequence") -> np.ndarray:
    """``sequence`` as int64 symbols in ``[0, alphabet_size)``; ``ParameterError`` otherwise."""
    array = np.asarray(sequence)
    if array.ndim != 1:
        raise ParameterError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        if not (np.issubdtype(array.dtype, np.floating) and np.all(array == np.round(array))):
            raise ParameterError(f"{name} must hold integer symbols, got dtype {array.dtype}")
    low, high = array.min(), array.max()
    if low < 0 or high >= alphabet_size:
        raise ParameterError(f"{name} symbols must be in [0, {alphabet_size - 1}] "
                             f"(alphabet_size {alphabet_size}), got {low if low < 0 else high}")
    return array.astype(np.int64)


def _symbols(sequence, alphabet_size: int, name: str = "sequence") -> list[int]:
    """``sequence`` as a list of ints in ``[0, alphabet_size)``; ``ParameterError`` otherwise."""
    return _symbol_array(sequence, alphabet_size, name).tolist()


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``arange(s, s + n)`` for each start ``s`` and length ``n``, concatenated."""
    ends = np.cumsum(lengths)
    total = int(ends[-1]) if ends.size else 0
    return np.arange(total) + np.repeat(starts - (ends - lengths), lengths)


def _extend(source: np.ndarray, j: np.ndarray, x: np.ndarray, t: np.ndarray, level: np.ndarray,
            top: np.ndarray) -> np.ndarray:
    """How many orders beyond ``level`` the context of ``source[j]`` matches that of ``x[t]``.

    Both sequences are preceded by -1; the match stops at order ``top`` (one per position).
    """
    ext = np.zeros(j.size, dtype=np.int64)
    live = np.arange(j.size)
    step = 1
    while live.size:  # one pass per order; the positions still matching shrink
        order = level[live] + step
        before = source[j[live] - order]
        live = live[(order <= top[live]) & (before >= 0) & (before == x[t[live] - order])]
        ext[live] = step
        step += 1
    return ext


def _sparse_table(values: np.ndarray, op) -> np.ndarray:
    """``[K, n]``: row ``k`` holds ``op`` (min or max) of ``values[i : i + 2**k]``, clipped."""
    n = values.size
    table = np.empty((max(1, n.bit_length()), n), dtype=values.dtype)
    table[0] = values
    for k in range(1, table.shape[0]):
        half = 1 << (k - 1)
        table[k] = table[k - 1]
        op(table[k - 1][:-half], table[k - 1][half:], out=table[k][:-half])
    return table


def _range_min(table: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The minimum of ``values[lo:hi]`` for each pair (``hi > lo``), from a min ``_sparse_table``."""
    k = np.frexp((hi - lo).astype(np.float64))[1] - 1
    flat, row = table.ravel(), k * table.shape[1]  # (flat indices: faster)
    return np.minimum(flat[row + lo], flat[row + hi - (1 << k)])


def _nearest(values: np.ndarray, smaller: bool) -> tuple[np.ndarray, np.ndarray]:
    """The nearest ``j < i`` and ``j > i`` with ``values[j]`` smaller (larger) than ``values[i]``.

    For each ``i``, by binary lifting over a ``_sparse_table``; -1 and ``n`` where none is.
    ``values``: ``0..n-1``, padded on both sides with a value that stops every search.
    """
    n = values.size
    levels = max(1, n.bit_length())
    span = 1 << (levels - 1)  # the longest step
    edge = np.full(span, -1 if smaller else n, dtype=values.dtype)
    table = _sparse_table(np.concatenate([edge, values, edge]),
                          np.minimum if smaller else np.maximum)
    left = np.arange(span, span + n)  # the stretch [left, i) holds no such value (padded)
    right = left + 1  # nor (i, right)
    for k in range(levels - 1, -1, -1):
        step, row = 1 << k, table[k]
        block = row[left - step]
        left -= step * ((block > values) if smaller else (block < values))
        block = row[right]
        right += step * ((block > values) if smaller else (block < values))
    return left - span - 1, right - span


def _context_ranks(x: np.ndarray, top: int) -> list[np.ndarray]:
    """Prefix doubling over the contexts of ``x`` (as ``_Contexts``): ranks of their starts.

    ``ranks[k][e]``: the rank of the ``2**k`` symbols before ``e`` (each -1 unique), up to
    ``top`` symbols or until all differ; the last one sorts the contexts.
    """
    n = x.size
    z = np.where(x >= 0, x + n, np.arange(n))
    base = np.empty(n, dtype=np.int64)
    base[0] = -1
    base[1:] = z[:-1]
    rank = np.unique(base, return_inverse=True)[1].astype(np.int64)
    ranks = [rank]
    span = 1
    while span <= top and rank.max() < n - 1:
        shifted = np.zeros(n, dtype=np.int64)
        shifted[span:] = rank[:-span] + 1
        rank = np.unique(rank * (n + 1) + shifted, return_inverse=True)[1].astype(np.int64)
        ranks.append(rank)
        span *= 2
    return ranks


class _Contexts:
    """The contexts of the positions of ``x``, sorted: a suffix array of ``x`` read backwards.

    ``x``: sequences, each after a -1. The context of position ``e`` is ``x[e-1], x[e-2], ..``
    back to the -1 before its sequence; each -1 is made unique, so no match crosses one.
    ``order``: the positions by context (prefix doubling, up to ``top`` symbols);
    ``shared(i, j)``: the symbols shared by the contexts at sorted places ``i < j`` (the least
    of the neighbours' common prefixes between them).
    """

    def __init__(self, x: np.ndarray, top: int):
        n = self.n = x.size
        self.top = top
        ranks = _context_ranks(x, top)
        order = self.order = np.argsort(ranks[-1], kind="stable")
        self.place = np.empty(n, dtype=np.int64)
        self.place[order] = np.arange(n)
        common = np.zeros(n, dtype=np.int64)  # common[i]: order[i - 1] and order[i] share
        a, b = order[:-1], order[1:]
        for k in range(len(ranks) - 1, -1, -1):
            same = ranks[k][np.maximum(a - common[1:], 0)] == ranks[k][np.maximum(b - common[1:], 0)]
            common[1:] += same.astype(np.int64) << k
        self.table = _sparse_table(common, np.minimum)

    def shared(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Symbols shared by the contexts at sorted places ``i < j``."""
        return _range_min(self.table, i + 1, j + 1)

    def matches(self, later: bool) -> np.ndarray:
        """Each position's longest context (at most ``top``) shared with an earlier (later) one.

        That position is the nearest earlier (later) one on either side in the sorted order.
        """
        n = self.n
        left, right = _nearest(self.order, smaller=not later)
        index = np.arange(n)
        best = np.zeros(n, dtype=np.int64)
        ok = left >= 0
        best[ok] = self.shared(left[ok], index[ok])
        ok = right < n
        best[ok] = np.maximum(best[ok], self.shared(index[ok], right[ok]))
        out = np.empty(n, dtype=np.int64)
        out[self.order] = best
        return np.minimum(out, self.top)

    def continuations(self, x: np.ndarray, a: int, t: np.ndarray, key: np.ndarray) -> np.ndarray:
        """The longest context ``t[i]`` shares with an earlier ``e`` with pair ``key[i]``.

        ``e``'s pair is ``x[e-1] * a + x[e]``; 0 where there is none, at most ``top``. The
        positions of each pair in context order; the nearest earlier one on either side of
        ``t[i]`` by binary lifting, as in ``matches``.
        """
        e = np.flatnonzero((x[:-1] >= 0) & (x[1:] >= 0)) + 1
        pair = x[e - 1] * a + x[e]
        by = np.argsort(pair * self.n + self.place[e])
        e, pair = e[by], pair[by]
        sorted_key = pair * self.n + self.place[e]
        table = _sparse_table(e, np.minimum)
        probe = key * self.n + self.place[t]
        by = np.argsort(probe)  # (sorted, the binary searches are faster)
        key, t, probe = key[by], t[by], probe[by]
        lo, hi = np.searchsorted(pair, key), np.searchsorted(pair, key, side="right")
        left = np.searchsorted(sorted_key, probe)
        right = left.copy()
        for k in range(table.shape[0] - 1, -1, -1):
            step, row = 1 << k, table[k]
            can = left - step >= lo
            left -= step * (can & (row[np.where(can, left - step, 0)] >= t))
            can = right + step <= hi
            right += step * (can & (row[np.where(can, right, 0)] >= t))
        best = np.zeros(t.size, dtype=np.int64)
        ok = np.flatnonzero(left > lo)
        best[ok] = self.shared(self.place[e[left[ok] - 1]], self.place[t[ok]])
        ok = np.flatnonzero(right < hi)
        best[ok] = np.maximum(best[ok], self.shared(self.place[t[ok]], self.place[e[right[ok]]]))
        out = np.empty_like(best)
        out[by] = np.minimum(best, self.top)
        return out

    def groups(self, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each position ``e`` at each order ``1..depth[e]``, grouped by that order's context.

        Returns ``(positions, orders, heads)`` sorted by group, then position; ``heads``: the
        first entry of each group.
        """
        d = depth[self.order]
        places = np.repeat(np.arange(self.n), d)
        orders = _ranges(np.ones_like(d), d)
        small = np.int16 if places.size == 0 or d.max() < 1 << 15 else np.int64
        by = np.argsort(orders.astype(small), kind="stable")  # by order, then context
        places, orders = places[by], orders[by]
        new = np.ones(places.size, dtype=bool)
        if places.size > 1:
            same = np.flatnonzero(orders[1:] == orders[:-1])
            new[same + 1] = self.shared(places[same], places[same + 1]) < orders[same + 1]
        pos = self.order[places]
        by = np.argsort((np.cumsum(new) - 1) * self.n + pos)  # within each group (one order)
        return pos[by], orders, np.flatnonzero(new)


def _add_at(target: np.ndarray, rows, cols, values) -> None:
    """``target[rows, cols] += values`` for distinct ``(rows, cols)`` (flat indices: faster)."""
    flat = (np.asarray(rows) * target.shape[1] + np.asarray(cols)).ravel()
    np.put(target, flat, np.take(target, flat) + np.broadcast_to(values, np.broadcast(
        np.asarray(rows), np.asarray(cols)).shape).ravel())


def _classes(pairs: np.ndarray, a: int) -> tuple[np.ndarray, np.ndarray]:
    """The classes of sorted ``c * a + s`` pairs and where each starts (and the end)."""
    classes = np.unique(pairs // a)
    return classes, np.append(np.searchsorted(pairs, classes * a), pairs.size)


class _Hits:
    """Where the contexts of some positions lead in one ``_Trie``.

    ``nodes[o]``: ``(positions, node)`` of the positions whose order-``o`` context is a node of
    level ``o``; ``once``: the position in the learned data of the one continuation of the
    deepest context seen once (-1: none), from order ``level`` up to ``reach``; ``reach``: the
    longest context seen followed by something (``_Trie.lookup``'s ``settle``: or only
    whether it is longer than the first deterministic one).
    """

    __slots__ = ("nodes", "once", "level", "reach")

    def __init__(self, nodes, once, level, reach):
        self.nodes, self.once, self.level, self.reach = nodes, once, level, reach

    def subset(self, keep: np.ndarray) -> _Hits:
        """The hits of positions ``keep`` (numbered ``0..len(keep)-1`` in that order)."""
        new = np.full(self.once.size, -1, dtype=np.int64)
        new[keep] = np.arange(keep.size)
        nodes = []
        for act, node in self.nodes:
            mine = new[act]
            ok = mine >= 0
            nodes.append((mine[ok], node[ok]))
        return _Hits(nodes, self.once[keep], self.level[keep], self.reach[keep])


class _Trie:
    """The contexts of ``data[start:stop]`` (whole sequences) compiled into sorted arrays.

    Level ``o`` numbers the contexts of order ``o`` seen at least twice (each followed by a
    symbol) ``0, 1, ..``. ``children[o]`` (``o >= 1``) maps the sorted keys ``node * A + s``
    (a context of level ``o - 1`` read one symbol further back, ``s``) to a node of level
    ``o``, or to ``~j`` for a context seen once, at ``data[j]`` (its continuation; the longer
    contexts are read from ``data`` itself). ``rows[o]``: the sorted keys ``node * A + s`` of
    the symbols seen after each node of level ``o``, their full and update-excluded counts.

    A context of order ``>= 1`` ends with a symbol ``c`` (its class), and only the symbols
    ever seen after ``c`` can follow it: ``pairs`` (sorted ``c * A + s``) lists them (class
    ``classes[i]`` from ``first[i]`` to ``first[i + 1]``).
    The nodes of levels ``>= 1`` are numbered on (node ``n`` of level ``o``: ``offsets[o] +
    n``); node ``g``'s counts are the entries ``starts[g]`` to ``starts[g + 1]``: each one's
    symbol, its place among its class's symbols (``slots``), full and update-excluded counts;
    ``sizes[g]``: how many (1: it is deterministic).
    """

    def __init__(self, data: np.ndarray, lmax: np.ndarray | None, start: int, stop: int, a: int,
                 bound: int):
        self.start, self.stop, self.a = start, stop, a
        self.children: list = [None]
        self.rows: list = []
        pos = start + np.flatnonzero(data[start:stop] >= 0)
        before = data[pos - 1]
        self.pairs = np.unique(before[before >= 0] * a + data[pos[before >= 0]])
        self.classes, self.first = _classes(self.pairs, a)
        parts, self.offsets = [], [0, 0]  # per level >= 1: keys, full, upex, slots
        sym = data[pos]
        node = np.zeros(pos.size, dtype=np.int64)
        nodes, order = 1, 0
        while pos.size:
            keys, inverse, full = np.unique(node * a + sym, return_inverse=True, return_counts=True)
            full = full.astype(np.float64)
            upex = None if lmax is None else np.bincount(inverse, weights=lmax[pos] <= order,
                                                         minlength=keys.size)
            self.rows.append((keys, full, upex))
            if order >= 1:  # each count's place among its class's symbols
                cls = np.empty(nodes, dtype=np.int64)
                cls[node] = data[pos - 1]
                c = cls[keys // a]
                slots = np.searchsorted(self.pairs, c * a + keys % a) \
                    - self.first[np.searchsorted(self.classes, c)]
                parts.append((keys + self.offsets[-1] * a, full, upex, slots))
                self.offsets.append(self.offsets[-1] + nodes)
            if order >= bound:
                break
            order += 1
            ext = data[pos - order]
            keep = ext >= 0
            pos, sym = pos[keep], sym[keep]
            if not pos.size:
                break
            keys, index, inverse, counts = np.unique(node[keep] * a + ext[keep], return_index=True,
                                                     return_inverse=True, return_counts=True)
            twice = counts >= 2
            ids = np.cumsum(twice) - 1
            self.children.append((keys, np.where(twice, ids, ~pos[index])))
            nodes = int(ids[-1]) + 1
            keep = twice[inverse]
            pos, sym, node = pos[keep], sym[keep], ids[inverse[keep]]
        keys = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
        self.symbols = keys % a
        self.starts = np.searchsorted(keys, np.arange(self.offsets[-1] + 1) * a)
        self.full = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0)
        self.upex = (np.concatenate([p[2] for p in parts]) if parts else np.zeros(0)) \
            if lmax is not None else None
        self.slots = np.concatenate([p[3] for p in parts]) if parts else keys
        self.sizes = np.diff(self.starts)

    @property
    def size(self) -> int:
        """Positions of the learned data it covers."""
        return self.stop - self.start

    def lookup(self, data: np.ndarray, x: np.ndarray, targets: np.ndarray, bound: int,
               rank: np.ndarray, *, settle: bool = False) -> _Hits | None:
        """The contexts of ``x[targets]`` (read back to the -1 before their sequence).

        ``rank``: each position's rank by context (``_context_ranks``): taken in that order,
        the keys probed at each order are sorted, as the nodes are numbered, and their binary
        searches fast. ``settle``: follow a position one order past its first deterministic
        context (seen followed by one symbol only) and no further: its ``reach`` is then only
        known to exceed that order or not, all that the shortest deterministic selection needs.
        """
        if not self.rows:
            return None
        n, a = targets.size, self.a
        act = np.argsort(rank[targets], kind="stable")
        nodes = [(act, np.zeros(n, dtype=np.int64))]
        once = np.full(n, -1, dtype=np.int64)
        level = np.zeros(n, dtype=np.int64)
        reach = np.zeros(n, dtype=np.int64)
        cur, where = nodes[0][1], targets[act]
        settled = np.full(n, settle and self.rows[0][0].size == 1)  # past a deterministic one
        for order in range(1, len(self.children)):  # one vectorised step per order
            ext = x[where - order]
            keys, values = self.children[order]
            probe = cur * a + ext
            index = np.minimum(np.searchsorted(keys, probe), keys.size - 1)
            value = values[index]
            hit = keys[index] == probe
            hit &= ext >= 0
            node = hit & (value >= 0)
            single = hit ^ node
            if single.any():
                once[act[single]] = ~value[single]
                level[act[single]] = order
            found, child = act[node], value[node]
            if not found.size:
                break
            nodes.append((found, child))
            reach[found] = order
            if settle:  # the positions settled before this order go no further
                more = ~settled[node]
                act, cur, where = found[more], child[more], where[node][more]
                settled = self.sizes[self.offsets[order] + cur] == 1
            else:
                act, cur, where = found, child, where[node]
        single = np.flatnonzero(once >= 0)
        if single.size:  # (a context seen once is deterministic: settled one order further)
            top = np.full(single.size, bound)
            if settle:
                top = np.minimum(top, level[single] + 1)
            reach[single] = level[single] + _extend(data, once[single], x, targets[single],
                                                    level[single], top)
        return _Hits(nodes, once, level, reach)

    def ngram_orders(self, hits: _Hits, x: np.ndarray, targets: np.ndarray,
                     data: np.ndarray) -> np.ndarray:
        """Longest order at which ``x[target]`` was seen after the target's context (-1: none)."""
        a = self.a
        out = np.full(targets.size, -1, dtype=np.int64)
        sym = x[targets]
        for order, (act, node) in enumerate(hits.nodes):  # seen at an order: at every lower one
            keys = self.rows[order][0]
            probe = node * a + sym[act]
            found = keys[np.minimum(np.searchsorted(keys, probe), keys.size - 1)] == probe
            out[act[found]] = order
        single = np.flatnonzero(hits.once >= 0)
        single = single[data[hits.once[single]] == sym[single]]
        out[single] = hits.reach[single]
        return out


class PPM:
    """A PPM model over symbols ``0..alphabet_size-1`` (IDyOM's PPM / PPM*).

    Defaults are IDyOM's for its long-term model (``LTM_DEFAULTS``): unbounded order (PPM*),
    escape C, exclusion, no update exclusion; its short-term model is ``STM_DEFAULTS``
    (escape AX, update exclusion).

    Args:
        alphabet_size: Number of symbols ``A``; symbols are ``0..A-1``.
        order_bound: Longest context, symbols; None for unbounded (PPM*).
        escape: ``a``, ``b``, ``c``, ``d`` or ``ax`` (module docstring).
        update_exclusion: Blend with update-excluded counts (IDyOM's short-term model).
        shortest_deterministic: Select the shortest context followed by one symbol only when
            it is shorter than the longest context (PPM*). None: as IDyOM, True exactly when
            ``order_bound`` is None. ``pmcharrison/ppm`` applies it at any bound.
        exclusion: Leave the counts of symbols seen at a higher order out of a lower order's
            total (as IDyOM). Without it the order -1 probability is ``1 / A`` (as IDyOM).

    As in ``pmcharrison/ppm`` (whose tests hold IDyOM's numbers): no end-of-sequence symbol is
    learned, and with an order bound only n-grams up to the bound are stored, so update
    exclusion looks for the longest n-gram seen within the bound. As in IDyOM and unlike it:
    the default of ``shortest_deterministic`` and the order -1 probability without exclusion.

    Cost (module docstring): ``fit`` sorts the learned symbols once per order of context
    seen at least twice; ``predict`` looks all positions of the sequence up at once, one
    vectorised step per order, and sorts the sequence's own contexts once; its work grows
    with the sum over positions of their chosen order (the orders they take part in, in
    the sequence itself). Memory grows with the contexts seen at least twice (about 30
    bytes each).
    """

    def __init__(self, alphabet_size: int, *, order_bound: int | None = None, escape: str = "c",
                 update_exclusion: bool = False, shortest_deterministic: bool | None = None,
                 exclusion: bool = True):
        self.alphabet_size, self._bound, self.shortest_deterministic = _check_options(
            alphabet_size, order_bound, escape, update_exclusion, shortest_deterministic,
            exclusion)
        self.order_bound = order_bound
        self.escape = escape
        self.update_exclusion = update_exclusion
        self.exclusion = exclusion
        self._k = _K[escape]
        # Learned symbols: data[0] = -1, then each sequence followed by a -1; lmax[j]: the
        # longest order at which data[j] had been seen after its context when it was learned
        # (-1: never; kept for update exclusion only).
        self._data = np.full(256, -1, dtype=np.int64)
        self._lmax = np.full(256, -1, dtype=np.int64) if update_exclusion else None
        self._size = 1
        self._learned = 0
        self._seen = np.zeros(self.alphabet_size, dtype=bool)
        # Tries over consecutive ranges of _data, oldest and largest first; _data[_indexed:]
        # is learned but not yet compiled (a short-term model's piece never needs it).
        self._tries: list[_Trie] = []
        self._indexed = 1

    def __repr__(self) -> str:
        return (f"PPM({self.alphabet_size}, order_bound={self.order_bound}, escape={self.escape!r}, "
                f"update_exclusion={self.update_exclusion}, "
                f"shortest_deterministic={self.shortest_deterministic}, "
                f"exclusion={self.exclusion}; {self._learned} symbols learned)")

    @property
    def symbols_learned(self) -> int:
        """Symbols the model has learned (``fit`` and ``predict(update=True)``)."""
        return self._learned

    def fit(self, sequences: Iterable) -> PPM:
        """Learn each sequence of ``sequences`` (the long-term model's training); returns self.

        Sequences are learned separately: no context spans two of them.
        """
        if isinstance(sequences, np.ndarray) and sequences.ndim == 1:
            raise ParameterError("sequences must be a list of sequences, got one 1-D array "
                                 "(wrap it: [sequence])")
        arrays = [_symbol_array(sequence, self.alphabet_size, f"sequences[{index}]")
                  for index, sequence in enumerate(sequences)]
        parts = [np.full(1, -1, dtype=np.int64)]
        for array in arrays:
            parts += [array, np.full(1, -1, dtype=np.int64)]
        x = np.concatenate(parts)
        lx = None
        if self.update_exclusion:
            self._sync()
            targets = np.flatnonzero(x >= 0)
            contexts = _Contexts(x, self._bound + 1)
            hits = [(trie, hit) for trie in self._tries if (hit := trie.lookup(
                self._data, x, targets, self._bound, contexts.place)) is not None]
            lx = self._lmax_of(x, targets, hits, contexts.matches(later=False))
        self._append(x, lx)
        self._sync()
        return self

    def predict(self, sequence, *, update: bool = True) -> np.ndarray:
        """Predictive distribution of each symbol of ``sequence`` given the symbols before it.

        ::

            sequence   x_0   x_1   x_2   x_3
            row t        0     1     2     3      row t = p( . | x_0 .. x_{t-1}); row 0: no context

        Args:
            sequence: Symbols, ``[T]`` ints in ``[0, alphabet_size)``.
            update: Learn each symbol after predicting it (the short-term model; the model
                keeps it). False leaves the model unchanged.

        Returns:
            float64 ``[T, alphabet_size]``; each row sums to 1.
        """
        columns, probs = self._compact(sequence, update)
        out = np.empty((probs.shape[0], self.alphabet_size))
        out[:] = probs[:, -1:]
        out[:, columns] = probs[:, :-1]
        return out

    def _compact(self, sequence, update: bool) -> tuple[np.ndarray, np.ndarray]:
        """``predict``'s distributions as ``(symbols [S], probabilities [T, S + 1])``.

        Column ``S`` is the probability of each other symbol (never learned nor in
        ``sequence``: the order -1 share alone, the same for all of them).
        """
        symbols = _symbol_array(sequence, self.alphabet_size)
        if symbols.size == 0:
            return np.zeros(0, dtype=np.int64), np.empty((0, 1))
        self._sync()
        x = np.concatenate(([-1], symbols, [-1]))
        out, lx = self._distributions(x, update)
        if update:
            self._append(x, lx)
        return out

    def information_content(self, sequence, *, update: bool = True) -> np.ndarray:
        """``-log p`` of each symbol of ``sequence`` given those before it, nats ``[T]``.

        ``update`` as in ``predict``.
        """
        return information_content(self.predict(sequence, update=update), sequence)

    # -- learning --------------------------------------------------------------------------

    def _append(self, x: np.ndarray, lx: np.ndarray | None) -> None:
        """Learn the sequences of ``x`` (``-1, seq, -1, seq, .., -1``); ``lx``: their lmax."""
        add = x.size - 1
        if self._size + add > self._data.size:
            capacity = max(2 * self._data.size, self._size + add)
            self._data = np.concatenate([self._data[: self._size],
                                         np.full(capacity - self._size, -1, dtype=np.int64)])
            if self._lmax is not None:
                self._lmax = np.concatenate([self._lmax[: self._size],
                                             np.full(capacity - self._size, -1, dtype=np.int64)])
        self._data[self._size:self._size + add] = x[1:]
        if self._lmax is not None:
            self._lmax[self._size:self._size + add] = lx[1:]
        self._size += add
        symbols = x[x >= 0]
        self._seen[symbols] = True
        self._learned += symbols.size

    def _sync(self) -> None:
        """Compile the symbols learned since the last call; merge tries of similar size."""
        if self._indexed == self._size:
            return
        a, bound = self.alphabet_size, self._bound
        if np.any(self._data[self._indexed:self._size] >= 0):
            self._tries.append(_Trie(self._data, self._lmax, self._indexed, self._size, a, bound))
        self._indexed = self._size
        tries = self._tries
        while len(tries) >= 2 and tries[-2].size <= 2 * tries[-1].size:
            last, before = tries.pop(), tries.pop()
            tries.append(_Trie(self._data, self._lmax, before.start, last.stop, a, bound))

    def _lmax_of(self, x: np.ndarray, targets: np.ndarray, hits: list,
                 deep: np.ndarray) -> np.ndarray:
        """For update exclusion: the longest order at which each ``x[target]`` was seen before.

        Seen after its context in the learned data, or before it in ``x`` (``deep``: each
        position's longest context shared with an earlier one); by position of ``x``, -1 for
        never.
        """
        orders = deep[targets + 1] - 1  # the n-gram ending at j is the context of j + 1
        for trie, hit in hits:
            orders = np.maximum(orders, trie.ngram_orders(hit, x, targets, self._data))
        lx = np.full(x.size, -1, dtype=np.int64)
        lx[targets] = orders
        return lx

    # -- prediction ------------------------------------------------------------------------

    def _distributions(self, x: np.ndarray, update: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """``_compact``'s distributions for ``x = -1, symbols, -1``, and the symbols' lmax.

        With ``update`` each symbol also counts for those after it (lmax: for ``_append``).

        Every position ``t`` gets its counts at every order from 0 to its longest context at
        once: order 0 over the symbols seen (``[T, S]``), orders ``1..longest[t]`` over the
        symbols ever seen after the symbol before ``t`` (its class; one row per position and
        order, ``[K, rows]``). The counts come from each ``_Trie`` (its nodes and the contexts
        it saw once) and, with ``update``, from the sequence itself (``_Contexts.groups``:
        the positions before ``t`` in ``t``'s group at each order); ``_blend`` mixes them.
        """
        a, data, lmax, bound = self.alphabet_size, self._data, self._lmax, self._bound
        upex = self.update_exclusion
        count = x.size - 2
        targets = np.arange(1, count + 1)
        # One source alone (a trie, or the sequence itself): its deterministic orders are
        # known before any row is built, and only the rows up to them are built (the sequence
        # itself: only the rows that _blend keeps, ``sparse``).
        early = self.shortest_deterministic and len(self._tries) + update == 1
        sparse = None
        contexts = _Contexts(x, bound + 1) if update else None
        rank = None  # each position's rank by context, for the lookups in the tries
        if self._tries:
            rank = contexts.place if update else _context_ranks(x, bound + 1)[-1]
        hits = [(trie, hit) for trie in self._tries
                if (hit := trie.lookup(data, x, targets, bound, rank, settle=early)) is not None]
        expand = None
        if not update and len(hits) == 1:  # one trie: the same path through it, the same row
            trie, hit = hits[0]
            deepest = np.full(count, -1, dtype=np.int64)
            for o, (act, node) in enumerate(hit.nodes[1:], 1):
                deepest[act] = trie.offsets[o] + node
            path = (deepest, hit.once, hit.reach)
            by = np.lexsort(path[::-1])  # by path, then position
            new = np.zeros(count, dtype=bool)
            new[0] = True
            for column in path:
                new[1:] |= column[by[1:]] != column[by[:-1]]
            first = by[new]  # the first position of each path
            if first.size < 0.9 * count:
                group = np.empty(count, dtype=np.int64)
                group[by] = np.cumsum(new) - 1
                keep = np.sort(first)
                expand = np.searchsorted(keep, first)[group]
                hits = [(trie, hit.subset(keep))]
                targets, count = targets[keep], keep.size
        longest = np.full(count, -1, dtype=np.int64)
        for _, hit in hits:
            np.maximum(longest, hit.reach, out=longest)
        lx = None
        if update:
            previous = contexts.matches(later=False)
            if upex:
                lx = self._lmax_of(x, targets, hits, previous)
            np.minimum(previous, bound, out=previous)
            mine = previous[targets]
            np.maximum(longest, np.where(mine >= 1, mine, np.where(targets >= 2, 0, -1)),
                       out=longest)
        if not (longest >= 0).any():  # nothing learned: order -1 alone
            return (np.zeros(0, dtype=np.int64), np.full((count, 1), 1.0 / a)), lx

        # order 0, over the symbols seen (learned: the tries' order-0 rows; or in x); a
        # position with nothing learned before it has a row of zeros, which adds nothing
        cols0 = np.unique(np.concatenate([trie.rows[0][0] for trie, _ in hits] + [x[1:-1]]))
        full0 = np.zeros((count, cols0.size))
        upex0 = np.zeros((count, cols0.size)) if upex else None
        for trie, _ in hits:
            keys, full, upex_counts = trie.rows[0]
            row = np.zeros(cols0.size)
            row[np.searchsorted(cols0, keys)] = full
            full0 += row
            if upex:
                row[np.searchsorted(cols0, keys)] = upex_counts
                upex0 += row
        if update:  # the symbols before each position
            ones = np.zeros((count - 1, cols0.size))
            ones[np.arange(count - 1), np.searchsorted(cols0, x[targets[:-1]])] = 1.0
            full0[1:] += np.cumsum(ones, axis=0)
            if upex:
                ones *= (lx[targets[:-1]] <= 0)[:, None]
                upex0[1:] += np.cumsum(ones, axis=0)
        chosen = longest.copy()
        selected = np.zeros(count, dtype=bool)
        if self.shortest_deterministic:
            det = np.flatnonzero(np.count_nonzero(full0, axis=1) == 1)
            chosen[det] = 0
            selected[det] = longest[det] > 0
        level0 = (cols0, full0, upex0)

        # orders >= 1, over the symbols of each position's class (the symbol before it)
        if not (chosen >= 1).any():
            return self._expand(self._blend(count, level0, None, chosen, selected), expand), lx
        cls = x[targets - 1]
        keys = [trie.pairs for trie, _ in hits]
        if update:
            keys.append(np.unique(x[1:-2] * a + x[2:-1]))
        keys = np.unique(np.concatenate(keys))  # (class, symbol) pairs: the symbols of a class
        classes, first = _classes(keys, a)  # symbols[i]: the symbols of class classes[i]
        width = int(np.diff(first).max())
        rank = np.searchsorted(classes, keys // a)
        symbols = np.full((classes.size, width), -1, dtype=np.int64)
        symbols[rank, np.arange(keys.size) - first[rank]] = keys % a

        def slot(c: np.ndarray, s: np.ndarray) -> np.ndarray:
            """Where symbol ``s`` is among class ``c``'s symbols."""
            return np.searchsorted(keys, c * a + s) - first[np.searchsorted(classes, c)]

        nodes = []  # per trie: position, level, node of each node at a level >= 1
        for trie, hit in hits:
            if len(hit.nodes) > 1:
                nodes.append((np.concatenate([act for act, _ in hit.nodes[1:]]),
                              np.repeat(np.arange(1, len(hit.nodes)),
                                        [act.size for act, _ in hit.nodes[1:]]),
                              np.concatenate([trie.offsets[o] + n for o, (_, n) in
                                              enumerate(hit.nodes[1:], 1)])))
            else:
                nodes.append(None)
        if early and update:
            # the order-o context of t saw symbol s iff t shares o symbols of context with an
            # earlier position followed by s: deterministic from the second longest such match
            tt = np.flatnonzero(chosen >= 1)
            rank = np.searchsorted(classes, cls[tt])
            size = first[rank + 1] - first[rank]
            query = np.repeat(np.arange(tt.size), size)
            place = _ranges(np.zeros_like(size), size)
            match = np.zeros((tt.size, width), dtype=np.int64)
            match[query, place] = contexts.continuations(
                x, a, tt[query] + 1, keys[first[rank[query]] + place])
            match.sort(axis=1)
            top, second = match[:, -1], (match[:, -2] if width > 1 else np.zeros_like(tt))
            det = second + 1
            ok = (top > second) & (det <= longest[tt])
            chosen[tt[ok]] = det[ok]
            selected[tt[ok]] = det[ok] < longest[tt[ok]]
            if self.exclusion:  # the rows built: the chosen order and, below it, each order
                # at which a symbol is seen for the last time (a match); at the others, a row
                # sees the symbols of the next order and adds nothing (_blend)
                wanted = np.ones((tt.size, width + 1), dtype=bool)
                wanted[:, :-1] = (match >= 1) & (match < chosen[tt][:, None])
                wanted[:, 1:-1] &= match[:, 1:] != match[:, :-1]
                sparse = (np.broadcast_to(tt[:, None], wanted.shape)[wanted],
                          np.concatenate([match, chosen[tt][:, None]], axis=1)[wanted])
        elif early:
            never = np.iinfo(np.int64).max
            det = np.full(count, never)
            (trie, hit), found = hits[0], nodes[0]
            if found is not None:
                one = np.flatnonzero(trie.sizes[found[2]] == 1)
                np.minimum.at(det, found[0][one], found[1][one])
            single = np.flatnonzero(hit.once >= 0)
            np.minimum.at(det, single, hit.level[single])
            det[chosen < 1] = never
            which = np.flatnonzero(det <= longest)
            chosen[which] = det[which]
            selected[which] = det[which] < longest[which]
        length = np.where(chosen >= 1, chosen if early else longest, 0)
        if update:  # the sequence itself: the positions before t with t's context, by order
            following = np.minimum(contexts.matches(later=True), bound)
            depth = np.zeros(x.size, dtype=np.int64)  # the orders each position takes part in
            depth[1:-1] = length
            inner = np.flatnonzero(x[:-2] >= 0) + 1  # (the last position counts nothing)
            if early:  # as an earlier position, up to the deepest order its class needs
                inner_class = np.searchsorted(classes, x[inner - 1])
                deepest = np.zeros(classes.size + 1, dtype=np.int64)  # (+1: a class not listed)
                np.maximum.at(deepest, np.searchsorted(classes, cls), length)
                following[inner] = np.minimum(following[inner], deepest[inner_class])
            depth[inner] = np.maximum(depth[inner], following[inner])
            member, level, heads = contexts.groups(depth)
            where = np.full(x.size, -1, dtype=np.int64)  # each position's place in its class
            ok = np.flatnonzero((x[:-1] >= 0) & (x[1:] >= 0)) + 1
            where[ok] = slot(x[ok - 1], x[ok])
            x_slot = where[member]
            x_valid = np.flatnonzero(x_slot >= 0)
            # before[:, i]: the entries of each symbol before entry i in its group (full, then
            # update-excluded): a running count that each group's last entry sets back to 0
            before = np.zeros(((1 + upex) * width, member.size + 1))
            before[x_slot[x_valid], x_valid + 1] = 1.0
            if upex:
                before[width + x_slot[x_valid], x_valid + 1] = lx[member[x_valid]] <= level[x_valid]
            before[:, heads[1:]] -= np.add.reduceat(before[:, 1:], heads, axis=1)[:, :-1]
            np.cumsum(before, axis=1, out=before)
            if sparse is not None:  # its rows, each an entry of the sequence's groups
                t, order = sparse
                start = np.cumsum(depth) - depth  # entries by position, then order
                entry = np.empty(member.size, dtype=np.int64)
                entry[start[member] + level - 1] = np.arange(member.size)
                both = np.take(before, entry[start[t + 1] + order - 1], axis=1)
                upper = (t, order, np.searchsorted(classes, cls), both[:width],
                         both[width:] if upex else None, symbols)
                return self._blend(count, level0, upper, chosen, selected), lx
            own = np.minimum(member, count) - 1
            target = np.flatnonzero((member <= count) & (level <= length[own]))
        rows = np.cumsum(length) - length  # rows[t] .. rows[t] + length[t] - 1: orders 1 ..
        total_rows = built = int(length.sum())
        kept = None  # the rows built (None: all)
        if early and not update and self.exclusion and nodes[0] is not None:  # one trie: the
            # rows that _blend keeps, where the number of symbols seen changes (at the next
            # order, some of them are seen), and the top (a context seen once: there alone)
            t, order, node = nodes[0]
            ok = order <= length[t]
            size = np.zeros(total_rows + 1, dtype=np.int64)
            size[rows[t[ok]] + order[ok] - 1] = hits[0][0].sizes[node[ok]]
            kept = size[:-1] != size[1:]
            kept[(rows + length - 1)[length > 0]] = True
            index = np.cumsum(kept) - 1
            built = int(kept.sum())
        if update and not hits:  # each row is an entry of the sequence's groups
            source = np.empty(total_rows, dtype=np.int64)
            source[rows[member[target] - 1] + level[target] - 1] = target
            both = np.take(before, source, axis=1)
            full, upex_rows = both[:width], (both[width:] if upex else None)
        else:
            full = np.zeros((width, built))
            upex_rows = np.zeros((width, built)) if upex else None
        for (trie, hit), found in zip(hits, nodes, strict=True):
            if found is not None:  # nodes: their counts over the class's symbols
                t, order, node = found
                ok = order <= length[t]
                at = rows[t] + order - 1
                if kept is not None:
                    ok[ok] = kept[at[ok]]
                t, order, node, at = t[ok], order[ok], node[ok], at[ok]
                if kept is not None:
                    at = index[at]
                first_entry = trie.starts[node]
                entries = trie.starts[node + 1] - first_entry
                entry = _ranges(first_entry, entries)
                at = np.repeat(at, entries)
                if keys.size == trie.pairs.size:  # the same symbols in the same places
                    dest = trie.slots[entry]
                else:
                    dest = slot(np.repeat(cls[t], entries), trie.symbols[entry])
                _add_at(full, dest, at, trie.full[entry])
                if upex:
                    _add_at(upex_rows, dest, at, trie.upex[entry])
            # the context seen once: one count of its continuation, orders level .. reach
            single = np.flatnonzero((hit.once >= 0) & (hit.level <= length))
            if single.size:
                span = np.minimum(hit.reach[single], length[single]) - hit.level[single] + 1
                t = np.repeat(single, span)
                order = np.repeat(hit.level[single], span) + _ranges(np.zeros_like(span), span)
                j = hit.once[t]
                dest = slot(cls[t], data[j])
                at = rows[t] + order - 1 if kept is None else index[rows[t] + order - 1]
                _add_at(full, dest, at, 1.0)
                if upex:
                    _add_at(upex_rows, dest, at, lmax[j] <= order)
        if update and hits:
            at = rows[member[target] - 1] + level[target] - 1
            both = np.take(before, target, axis=1)
            every = np.arange(width)[:, None]
            _add_at(full, every, at, both[:width])
            if upex:
                _add_at(upex_rows, every, at, both[width:])

        # the chosen order of each position; keep the rows up to it
        t = np.repeat(np.arange(count), length)
        order = np.arange(total_rows) - np.repeat(rows, length) + 1
        if kept is not None:
            t, order = t[kept], order[kept]
        if self.shortest_deterministic and not early:
            det = np.flatnonzero(np.count_nonzero(full, axis=0) == 1)
            det = det[np.concatenate(([True], t[det[1:]] != t[det[:-1]]))] if det.size else det
            chosen[t[det]] = order[det]
            selected[t[det]] = order[det] < longest[t[det]]
            keep = np.flatnonzero(order <= chosen[t])
            t, order, full = t[keep], order[keep], full[:, keep]
            upex_rows = upex_rows[:, keep] if upex else None
        upper = (t, order, np.searchsorted(classes, cls), full, upex_rows, symbols)
        return self._expand(self._blend(count, level0, upper, chosen, selected), expand), lx

    @staticmethod
    def _expand(compact: tuple[np.ndarray, np.ndarray], expand: np.ndarray | None):
        """The distributions of all positions from those of their representatives."""
        return compact if expand is None else (compact[0], compact[1][expand])

    def _blend(self, count: int, level0: tuple, upper: tuple | None, chosen: np.ndarray,
               selected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Interpolate each position's rows from its chosen order down to order -1.

        Returns the distributions as ``_compact`` does (over ``level0``'s symbols, the rest).

        ``level0``: the symbols of order 0, their full counts ``[count, S]`` and update-excluded
        ones (or None). ``upper``: None, or the rows of orders ``1..chosen[t]`` of each position
        ``t`` (by position, then order; with exclusion, those that saw the symbols of the next
        order may be missing): positions, orders, the class of each position (its row of
        ``symbols``), full and update-excluded counts ``[K, rows]``, and the symbols of each
        class ``[C, K]``. The products of ``1 - lambda`` over the orders above each row are
        taken by doubling.
        """
        a, k, escape = self.alphabet_size, self._k, self.escape
        cols0, full0, upex0 = level0
        out = np.zeros((count, cols0.size + 1))  # the symbols of order 0, and the rest
        above = np.ones(count)  # product of (1 - lambda) over the orders above 0

        def lambdas(counts, total, axis):
            if escape == "a":
                denominator = total + 1.0
            elif escape == "ax":
                denominator = total + np.count_nonzero(counts == 1.0, axis=axis) + 1.0
            else:
                distinct = np.count_nonzero(counts > 0, axis=axis)
                denominator = total + (distinct * 0.5 if escape == "d" else distinct)
            return np.divide(total, denominator, out=np.zeros_like(total), where=denominator > 0)

        if upper is not None:
            t, order, cls, full, upex_rows, symbols = upper
            last = order == chosen[t]
            if upex_rows is None:
                counts = full
            else:  # update exclusion, but full counts at a deterministic order it selected
                counts = upex_rows
                swap = np.flatnonzero(last & selected[t])
                counts[:, swap] = full[:, swap]
            present = counts > 0
            if self.exclusion:  # a row that saw the symbols of the next order has nothing left
                # after exclusion (lambda 0: no weight, escape 1) and excludes what that one
                # does: left out
                same = ~last[:-1] & (present[:, :-1] == present[:, 1:]).all(axis=0)
                if same.any():
                    keep = np.flatnonzero(~np.append(same, False))
                    t, last, counts, present = t[keep], last[keep], counts[:, keep], present[:, keep]
            first = np.ones(t.size, dtype=bool)
            first[1:] = t[1:] != t[:-1]
            bottom = np.flatnonzero(first)  # each position's first row
            left = np.flatnonzero(last)[np.cumsum(first) - 1] - np.arange(t.size)  # rows above
            mod = np.maximum(counts + k, 0.0) if k else counts
            total = mod.sum(axis=0)
            if self.exclusion:  # symbols seen at the next higher order were seen at every lower
                # one: excluding them excludes those of all higher orders (row i + 1 is the next
                # order kept of row i's position unless i is its last)
                total[:-1] -= np.where(last[:-1], 0.0,
                                       np.einsum("ij,ij->j", mod[:, :-1], present[:, 1:]))
            lam = lambdas(counts, total, 0)
            product = 1.0 - lam  # becomes the product from each row up to its position's top
            step, top = 1, int(left.max())
            while step <= top:  # each pass doubles the rows multiplied in
                product[:-step] *= np.where(left[:-step] >= step, product[step:], 1.0)
                step *= 2
            row_above = np.ones(t.size)
            row_above[:-1] = np.where(last[:-1], 1.0, product[1:])
            weight = np.divide(lam * row_above, total, out=np.zeros_like(total), where=total > 0)
            mix = np.add.reduceat(weight * mod, bottom, axis=1)  # [K, positions]
            own = cls[t[bottom]]  # the class of each position with rows
            valid = symbols[own] >= 0
            columns = np.searchsorted(cols0, symbols)[own]  # of its symbols in out
            rows = np.broadcast_to(t[bottom][:, None], valid.shape)
            out[rows[valid], columns[valid]] += mix.T[valid]
            above[t[bottom]] = product[bottom]
        counts0 = full0
        if upex0 is not None:
            counts0 = upex0
            swap = np.flatnonzero(selected & (chosen == 0))
            counts0[swap] = full0[swap]
        mod0 = np.maximum(counts0 + k, 0.0) if k else counts0
        total0 = mod0.sum(axis=1)
        if self.exclusion and upper is not None:
            at = t[bottom]
            total0[at] -= np.einsum("ij,ji->i", mod0[at[:, None], columns], present[:, bottom])
        lam0 = lambdas(counts0, total0, 1)
        weight0 = np.divide(lam0 * above, total0, out=np.zeros_like(total0), where=total0 > 0)
        out[:, :-1] += weight0[:, None] * mod0
        above *= 1.0 - lam0
        seen = np.count_nonzero(full0, axis=1)
        minus1 = 1.0 / (a + 1 - seen) if self.exclusion else np.full(count, 1.0 / a)
        out += (above * minus1)[:, None]
        out /= (out[:, :-1].sum(axis=1) + (a - cols0.size) * out[:, -1])[:, None]
        return cols0, out


def information_content(distributions, sequence) -> np.ndarray:
    """``-log p`` of each observed symbol, nats ``[T]``.

    Args:
        distributions: ``[T, A]`` probabilities (``PPM.predict`` or ``combine``).
        sequence: ``[T]`` observed symbols in ``[0, A)``.
    """
    probs = np.asarray(distributions, dtype=np.float64)
    if probs.ndim != 2:
        raise ParameterError(f"distributions must be [T, A], got shape {probs.shape}")
    symbols = np.asarray(_symbols(sequence, probs.shape[1]), dtype=np.int64)
    if symbols.size != probs.shape[0]:
        raise ParameterError(f"sequence must have one symbol per distribution ({probs.shape[0]}), "
                             f"got {symbols.size}")
    with np.errstate(divide="ignore"):
        return -np.log(probs[np.arange(symbols.size), symbols])


def entropy(distributions) -> np.ndarray:
    """Entropy ``-sum p log p`` of each distribution, nats (``[..., A]`` -> ``[...]``)."""
    probs = np.asarray(distributions, dtype=np.float64)
    logs = np.log(probs, out=np.zeros_like(probs), where=probs > 0)
    return -(probs * logs).sum(axis=-1)


def combine(distributions, *, bias: float = LTM_STM_BIAS) -> np.ndarray:
    """IDyOM's entropy-weighted geometric mean of several models' distributions, per event.

    Model ``m`` gets weight ``w_m = (H_m / log A) ** -bias`` (``H_m``: its entropy, relative
    to the uniform one's; 1 when ``A`` = 1), and ``p(s) ∝ prod_m p_m(s) ** (w_m / sum w)``,
    renormalised (IDyOM ``mvs/prediction-sets.lisp``, ``geometric-combination``). A model
    with zero entropy takes all the weight (shared among such models).

    Args:
        distributions: ``[M, T, A]`` (or ``[M, A]`` for one event): ``M`` models'
            distributions over the same ``A`` symbols, e.g. ``[ltm, stm]``.
        bias: ``b >= 0``; 0 is the plain geometric mean. IDyOM uses 7 for LTM + STM
            (``LTM_STM_BIAS``) and 2 across viewpoints (``VIEWPOINT_BIAS``).

    Returns:
        float64 ``[T, A]`` (or ``[A]``); each row sums to 1 (zeros where the models share
        no symbol, as IDyOM's normalisation leaves them).
    """
    probs = np.asarray(distributions, dtype=np.float64)
    if probs.ndim not in (2, 3) or probs.shape[0] < 1 or probs.shape[-1] < 1:
        raise ParameterError(f"distributions must be [M, T, A] or [M, A], got shape {probs.shape}")
    if not np.all(np.isfinite(probs)) or np.any(probs < 0):
        raise ParameterError("distributions must be finite and non-negative")
    if isinstance(bias, bool) or not isinstance(bias, (int, float)) or not math.isfinite(bias) \
            or bias < 0:
        raise ParameterError(f"bias must be a finite number >= 0, got {bias!r}")
    return _combine(probs, bias, None, probs.shape[-1])


def _combine(probs: np.ndarray, bias: float, multiplicity: np.ndarray | None,
             size: int) -> np.ndarray:
    """``combine`` of validated ``probs``, column ``i`` standing for ``multiplicity[i]`` symbols.

    Those symbols have equal probability (None: one symbol a column), ``size`` in all.
    """
    def total(values):
        return values.sum(axis=-1) if multiplicity is None else values @ multiplicity

    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(probs)
        if size > 1:
            relative = -total(np.where(probs > 0, probs * logs, 0.0)) / math.log(size)
        else:
            relative = np.ones(probs.shape[:-1])
        log_weight = -bias * np.log(relative) if bias else np.zeros_like(relative)  # [M, T]
        infinite = np.isposinf(log_weight)
        if infinite.any():  # zero entropy: those models share the weight
            hit = infinite.any(axis=0)
            log_weight = np.where(hit, np.where(infinite, 0.0, -np.inf), log_weight)
        log_weight = log_weight - log_weight.max(axis=0)
        exponent = np.exp(log_weight)
        exponent /= exponent.sum(axis=0)
        mixed = np.where(exponent[..., None] > 0, exponent[..., None] * logs, 0.0).sum(axis=0)
    counted = mixed if multiplicity is None else np.where(multiplicity > 0, mixed, -np.inf)
    peak = counted.max(axis=-1, keepdims=True)
    out = np.exp(mixed - np.where(np.isfinite(peak), peak, 0.0))
    norm = total(out)[..., None]
    return np.divide(out, norm, out=np.zeros_like(out), where=norm > 0)


def _combine_compact(parts: list, *, bias: float = LTM_STM_BIAS,
                    size: int) -> tuple[np.ndarray, np.ndarray]:
    """``combine`` of distributions in ``PPM._compact``'s form (over ``size`` symbols).

    Args:
        parts: ``(symbols [S_m], probabilities [T, S_m + 1])`` per model.
        bias: As in ``combine``.
        size: The alphabet size ``A``.

    Returns:
        ``(symbols [S], probabilities [T, S + 1])`` over the union of the models' symbols;
        the last column is each other symbol's probability.
    """
    union = np.unique(np.concatenate([columns for columns, _ in parts]))
    stacked = []
    for columns, probs in parts:
        wide = np.empty((probs.shape[0], union.size + 1))
        wide[:] = probs[:, -1:]
        wide[:, np.searchsorted(union, columns)] = probs[:, :-1]
        stacked.append(wide)
    multiplicity = np.ones(union.size + 1)
    multiplicity[-1] = size - union.size
    return union, _combine(np.stack(stacked), bias, multiplicity, size)


class _ReferencePPM:
    """The same model, written literally: n-gram tuples, loops over orders and symbols.

    Slow (every count is a dict lookup of an n-gram tuple); it is the specification that
    ``PPM`` is tested and timed against (``tests/test_ppm.py``, ``benchmarks/ppm_speed.py``).
    """

    def __init__(self, alphabet_size: int, *, order_bound: int | None = None, escape: str = "c",
                 update_exclusion: bool = False, shortest_deterministic: bool | None = None,
                 exclusion: bool = True):
        self.a, self.bound, self.sd = _check_options(alphabet_size, order_bound, escape,
                                                     update_exclusion, shortest_deterministic,
                                                     exclusion)
        self.escape, self.k = escape, _K[escape]
        self.update_exclusion, self.exclusion = update_exclusion, exclusion
        self.counts: dict[tuple, list[int]] = {}  # n-gram -> [full count, update-excluded count]

    def fit(self, sequences) -> _ReferencePPM:
        for sequence in sequences:
            symbols = _symbols(sequence, self.a)
            for i in range(len(symbols)):
                self._learn(symbols, i)
        return self

    def predict(self, sequence, *, update: bool = True) -> np.ndarray:
        symbols = _symbols(sequence, self.a)
        out = np.empty((len(symbols), self.a))
        for i in range(len(symbols)):
            out[i] = self._distribution(symbols, i)
            if update:
                self._learn(symbols, i)
        return out

    def _learn(self, symbols, i) -> None:
        full_only = False  # longest n-gram first; below the longest one seen before: full only
        for start in range(max(0, i - self.bound), i + 1):
            record = self.counts.setdefault(tuple(symbols[start:i + 1]), [0, 0])
            seen_before = record[0] > 0
            record[0] += 1
            if not full_only:
                record[1] += 1
            full_only = seen_before

    def _count(self, n_gram, update_excluded) -> int:
        record = self.counts.get(n_gram)
        return 0 if record is None else record[1 if update_excluded else 0]

    def _continuations(self, context) -> int:
        return sum(self._count(context + (s,), False) > 0 for s in range(self.a))

    def _distribution(self, symbols, i) -> np.ndarray:
        context = tuple(symbols[max(0, i - self.bound):i])
        n = len(context)
        longest = next((o for o in range(n, -1, -1)
                        if self._continuations(context[n - o:]) > 0), -1)
        chosen, selected = longest, False
        if self.sd:
            det = next((o for o in range(n + 1) if self._continuations(context[n - o:]) == 1), -1)
            if 0 <= det < longest:
                chosen, selected = det, True
        probs = [0.0] * self.a
        excluded = [False] * self.a
        escape_mass = 1.0
        for order in range(chosen, -1, -1):
            ctx = context[n - order:]
            update_excluded = self.update_exclusion and not (selected and order == chosen)
            raw = [self._count(ctx + (s,), update_excluded) for s in range(self.a)]
            mod = [max(c + self.k, 0.0) if c > 0 else 0.0 for c in raw]
            total = sum(m for m, x in zip(mod, excluded, strict=True) if not x)
            distinct = sum(c > 0 for c in raw)
            if total <= 0:
                lam = 0.0
            elif self.escape == "a":
                lam = total / (total + 1)
            elif self.escape in ("b", "c"):
                lam = total / (total + distinct)
            elif self.escape == "d":
                lam = total / (total + distinct / 2)
            else:
                lam = total / (total + sum(0 < m <= 1 for m in mod) + 1)
            for s in range(self.a):
                if lam > 0:
                    probs[s] += escape_mass * lam * mod[s] / total
                if self.exclusion and raw[s] > 0:
                    excluded[s] = True
            escape_mass *= 1 - lam
        seen = sum(self._count((s,), False) > 0 for s in range(self.a))
        minus1 = 1 / (self.a + 1 - seen) if self.exclusion else 1 / self.a
        dist = np.array([p + escape_mass * minus1 for p in probs])
        return dist / dist.sum()
