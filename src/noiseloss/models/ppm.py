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

Storage is a trie over contexts read backwards (a dict ``(node, symbol) -> child``) with one
count row per context seen at least twice; a context seen once is a pointer into the learned
symbols (its one continuation, and the context can be extended backwards from there), so a
long unique context costs nothing until it recurs. A prediction copies its ``[orders, A]``
count rows; the rows of up to 256 predictions are blended in one numpy pass (no Python loop
over the alphabet or over the predictions of a pass).
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


def _symbols(sequence, alphabet_size: int, name: str = "sequence") -> list[int]:
    """``sequence`` as a list of ints in ``[0, alphabet_size)``; ``ParameterError`` otherwise."""
    array = np.asarray(sequence)
    if array.ndim != 1:
        raise ParameterError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size == 0:
        return []
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        if not (np.issubdtype(array.dtype, np.floating) and np.all(array == np.round(array))):
            raise ParameterError(f"{name} must hold integer symbols, got dtype {array.dtype}")
    low, high = array.min(), array.max()
    if low < 0 or high >= alphabet_size:
        raise ParameterError(f"{name} symbols must be in [0, {alphabet_size - 1}] "
                             f"(alphabet_size {alphabet_size}), got {low if low < 0 else high}")
    return array.astype(np.int64).tolist()


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

    Cost: a prediction or an update walks the contexts present, up to ``order_bound`` or the
    longest recurring context (PPM*); memory grows with the contexts seen at least twice.
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
        # Learned symbols, each sequence after a -1; pointers index this list.
        self._data: list[int] = [-1]
        self._learned = 0
        # (row * A + symbol) -> row of the context one symbol longer, or ~position (seen once:
        # the position in _data of the symbol that followed it).
        self._child: dict[int, int] = {}
        self._rows = 1  # row 0: the empty context (order 0)
        self._full = np.zeros((64, self.alphabet_size))
        self._upex = np.zeros((64, self.alphabet_size)) if update_exclusion else None

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
        for index, sequence in enumerate(sequences):
            symbols = _symbols(sequence, self.alphabet_size, f"sequences[{index}]")
            position = self._begin()
            for i in range(len(symbols)):
                self._data.append(symbols[i])
                self._insert(symbols, i, position + i)
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
        symbols = _symbols(sequence, self.alphabet_size)
        position = self._begin() if update else 0
        counts, seen = [], []
        for i in range(len(symbols)):
            rows, total_seen = self._counts(symbols, i)  # copies: later updates leave them be
            counts.append(rows)
            seen.append(total_seen)
            if update:
                self._data.append(symbols[i])
                self._insert(symbols, i, position + i)
        return self._blend_many(counts, seen)

    def information_content(self, sequence, *, update: bool = True) -> np.ndarray:
        """``-log p`` of each symbol of ``sequence`` given those before it, nats ``[T]``.

        ``update`` as in ``predict``.
        """
        return information_content(self.predict(sequence, update=update), sequence)

    # -- learning --------------------------------------------------------------------------

    def _begin(self) -> int:
        """Start a sequence in ``_data``; the position its first symbol will have."""
        self._data.append(-1)
        return len(self._data)

    def _new_row(self) -> int:
        row = self._rows
        if row == self._full.shape[0]:
            grow = np.zeros_like(self._full)
            self._full = np.concatenate([self._full, grow])
            if self._upex is not None:
                self._upex = np.concatenate([self._upex, grow])
        self._rows += 1
        return row

    def _insert(self, symbols: list[int], i: int, position: int) -> None:
        """Count ``symbols[i]`` after each of its contexts (it is ``_data[position]``)."""
        a = self.alphabet_size
        child, data, bound = self._child, self._data, self._bound
        row = 0
        path = [0]
        for order in range(min(i, bound)):  # to the context of order + 1
            key = row * a + symbols[i - 1 - order]
            nxt = child.get(key)
            if nxt is None:  # a new context: a pointer (longer ones are new too)
                child[key] = ~position
                break
            if nxt < 0:  # seen once: give it a row, and its own longer context a pointer
                first = ~nxt
                nxt = self._new_row()
                self._full[nxt, data[first]] = 1.0
                if self._upex is not None:
                    self._upex[nxt, data[first]] = 1.0
                child[key] = nxt
                if order + 2 <= bound and data[first - order - 2] >= 0:
                    child[nxt * a + data[first - order - 2]] = ~first
            row = nxt
            path.append(row)
        symbol = symbols[i]
        rows = np.array(path)  # distinct rows: one fancy update each
        if self._upex is not None:
            # Update exclusion: the orders at and above the longest that had seen this n-gram.
            seen = int(np.count_nonzero(self._full[rows, symbol]))
            self._upex[rows[max(seen - 1, 0):], symbol] += 1.0
        self._full[rows, symbol] += 1.0
        self._learned += 1

    # -- prediction ------------------------------------------------------------------------

    def _counts(self, symbols: list[int], i: int) -> tuple[np.ndarray, int]:
        """Count rows ``[orders, A]`` (orders ``0..chosen``) and the symbols ever seen.

        They predict ``symbols[i]`` given ``symbols[:i]``: a copy of the model as it is.
        """
        a = self.alphabet_size
        if self._learned == 0:  # nothing seen: order -1 alone, uniform
            return np.zeros((1, a)), 0
        child, data = self._child, self._data
        top = min(i, self._bound)
        row = 0
        rows = [0]
        once = 0  # orders above the rows whose context was seen once (one continuation)
        for order in range(top):
            nxt = child.get(row * a + symbols[i - 1 - order])
            if nxt is None:
                break
            if nxt < 0:
                first = ~nxt
                once_symbol = data[first]
                once = 1
                if not self.shortest_deterministic:  # extend it backwards while it matches
                    depth = order + 1
                    while (depth + once <= top
                           and data[first - depth - once] == symbols[i - depth - once]):
                        once += 1
                break
            row = nxt
            rows.append(row)
        full = self._full[rows]
        highest = len(rows) - 1
        longest = highest + once
        chosen, selected = longest, False
        if self.shortest_deterministic:
            single = np.count_nonzero(full, axis=1) == 1
            det = int(single.argmax()) if single.any() else (highest + 1 if once else -1)
            if 0 <= det < longest:
                chosen, selected = det, True
        n_rows = min(chosen, highest) + 1
        if self._upex is None:
            counts = full[:n_rows]
        else:
            counts = self._upex[rows[:n_rows]]
            if selected and chosen <= highest:
                counts[chosen] = full[chosen]
        if chosen > highest:  # contexts seen once: one count of their one continuation
            extra = np.zeros((chosen - highest, a))
            extra[:, once_symbol] = 1.0
            counts = np.concatenate([counts, extra])
        return counts, int(np.count_nonzero(full[0]))

    def _blend_many(self, counts: list[np.ndarray], seen: list[int], *,
                    chunk: int = 256) -> np.ndarray:
        """Distributions ``[N, A]`` from each prediction's ``_counts`` (in chunks of ``chunk``)."""
        a = self.alphabet_size
        out = np.empty((len(counts), a))
        for start in range(0, len(counts), chunk):
            part = counts[start:start + chunk]
            # rows of absent higher orders are zero: they neither predict nor escape
            stacked = np.zeros((len(part), max(c.shape[0] for c in part), a))
            for n, c in enumerate(part):
                stacked[n, : c.shape[0]] = c
            out[start:start + len(part)] = self._blend(
                stacked, np.asarray(seen[start:start + chunk], dtype=np.float64))
        return out

    def _blend(self, counts: np.ndarray, seen: np.ndarray) -> np.ndarray:
        """Interpolate count rows ``[N, orders, A]`` of orders ``0..`` and order -1: ``[N, A]``."""
        present = counts > 0
        mod = np.maximum(counts + self._k, 0.0) if self._k else counts
        total = mod.sum(axis=2)
        if self.exclusion:  # symbols seen at an order were seen at every lower one: excluding
            # the next higher order's symbols excludes those of all higher orders
            total[:, :-1] -= (mod[:, :-1] * present[:, 1:]).sum(axis=2)
        escape = self.escape
        if escape == "a":
            denominator = total + 1.0
        elif escape == "ax":
            denominator = total + np.count_nonzero(counts == 1.0, axis=2) + 1.0
        else:
            distinct = np.count_nonzero(present, axis=2)
            denominator = total + (distinct * 0.5 if escape == "d" else distinct)
        lam = np.divide(total, denominator, out=np.zeros_like(total), where=denominator > 0)
        stay = np.cumprod((1.0 - lam)[:, ::-1], axis=1)[:, ::-1]  # stay[o] = prod over o' >= o
        above = np.empty_like(stay)
        above[:, -1] = 1.0
        above[:, :-1] = stay[:, 1:]
        weight = np.divide(lam * above, total, out=np.zeros_like(total), where=total > 0)
        a = self.alphabet_size
        minus1 = 1.0 / (a + 1 - seen) if self.exclusion else np.full_like(seen, 1.0 / a)
        dist = np.einsum("no,noa->na", weight, mod) + (stay[:, 0] * minus1)[:, None]
        return dist / dist.sum(axis=1, keepdims=True)


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
    size = probs.shape[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = entropy(probs) / math.log(size) if size > 1 else np.ones(probs.shape[:-1])
        log_weight = -bias * np.log(relative) if bias else np.zeros_like(relative)  # [M, T]
        infinite = np.isposinf(log_weight)
        if infinite.any():  # zero entropy: those models share the weight
            hit = infinite.any(axis=0)
            log_weight = np.where(hit, np.where(infinite, 0.0, -np.inf), log_weight)
        log_weight = log_weight - log_weight.max(axis=0)
        exponent = np.exp(log_weight)
        exponent /= exponent.sum(axis=0)
        logs = np.log(probs)
        mixed = np.where(exponent[..., None] > 0, exponent[..., None] * logs, 0.0).sum(axis=0)
    peak = mixed.max(axis=-1, keepdims=True)
    out = np.exp(mixed - np.where(np.isfinite(peak), peak, 0.0))
    total = out.sum(axis=-1, keepdims=True)
    return np.divide(out, total, out=np.zeros_like(out), where=total > 0)


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
