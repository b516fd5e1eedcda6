"""The one dense/sparse rule, and the break-even ratio defined on the same baseline.

A layer runs sparse exactly when it is pruned (alpha < 1), the hardware can run its structure
sparsely, and its sparse implementation is no slower than the dense implementation on the same
hardware (`LayerCosts.dense_mode`: the layer's own dense design in iso-area mode, dense mode on
the sparse-capable chip in fixed mode). The break-even ratio r* is the smallest r = 1/alpha at
which that comparison flips, so a layer runs sparse exactly when its planned ratio reaches r*
(for a random mask; a real mask is judged by its own cost). Plans, sweeps, every search
allocator and the reports call these functions and nothing else.

"No slower" carries the relative tolerance of `hwmodels.ties` (REL_TOL = 1e-9): two times that
close are equal, and equal counts as no slower, so no floating-point tie can flip a decision on
another CPU. Every other float decision of the project (the fastest index width, the smallest
storage, the cheapest choice of a search) goes through `hwmodels.ties` too.

r* is found on a 12-point log grid of r in [1, 1000] (GRID_POINTS) and refined by Illinois
regula falsi on log(speedup) in log(r) (it keeps the bracket, so kinks and integer PE counts are
safe); r* = 1 means "always", inf "never". Where a curve crosses 1 more than once, r* is its
first crossing from below: the smallest grid ratio that pays, refined inside the cell before it
(a layer that pays at r* may stop paying at a larger r; plans judge every alpha by the rule
itself, never by r*). N:M layers have one ratio (M/N): r* is that ratio where it pays and inf
where it does not.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Callable

import numpy as np

from hwmodels.configs import ConfigArray
from hwmodels.cost import Baseline, LayerCosts, MaskArrays, baseline, evaluate
from hwmodels.ties import REL_TOL, no_slower
from hwmodels.workload import LayerArray

R_MAX = 1000.0
GRID_POINTS = 12              # log grid on [1, R_MAX] that brackets the first crossing; 12 points
                              # (cells of 1.87x) find the same r* as 24 or 96 within 0.1% on a
                              # 2,500-config ResNet-50 sweep, at 70% of the cost (hw_speed.py)
ROOT_STEPS = 12                 # Illinois steps inside one grid cell (width 0.63 in log r), at most
X_TOL = 1e-5                    # a pair is solved when its bracket is this narrow (in log r)
CHUNK_ELEMENTS = 125_000        # configs x layers per chunk (memory bound)
PRUNED_BELOW = 1.0 - 1e-9       # alpha below this is pruned
PAYS_AT = 1.0 / (1.0 + REL_TOL)  # a sparse speedup of at least this is "no slower"


def pays(speedup) -> np.ndarray:
    """A sparse speedup that is no slower than dense: the same rule as `no_slower`."""
    return np.asarray(speedup) >= PAYS_AT


def sparse_no_slower(sparse_time, dense_time, supported=True) -> np.ndarray:
    """The rule on bare times: the hardware can run the sparse implementation and it is no
    slower than the dense one (GPU targets compare their 2:4 and dense kernels with it)."""
    return np.asarray(supported, dtype=bool) & no_slower(sparse_time, dense_time)


def runs_sparse(costs: LayerCosts) -> np.ndarray:
    """(C, L, A) booleans: the rule of the module docstring."""
    return ((costs.alphas < PRUNED_BELOW)
            & sparse_no_slower(costs.sparse.time_ns, costs.dense_mode.time_ns, costs.supported))


def chosen_time_ns(costs: LayerCosts) -> np.ndarray:
    return np.where(runs_sparse(costs), costs.sparse.time_ns, costs.dense_mode.time_ns)


def speedup(costs: LayerCosts) -> np.ndarray:
    """Dense baseline time over the time of the implementation the rule chooses."""
    return costs.dense.time_ns / chosen_time_ns(costs)


def sparse_speedup(costs: LayerCosts) -> np.ndarray:
    """Dense-mode time over sparse time on the same hardware (0 where sparse cannot run): the
    quantity that crosses 1 at r*."""
    with np.errstate(divide="ignore", invalid="ignore"):
        s = costs.dense_mode.time_ns / costs.sparse.time_ns
    return np.where(np.isfinite(costs.sparse.time_ns) & costs.supported, s, 0.0)


def network_speedup(costs: LayerCosts) -> np.ndarray:
    """(C, A): sum of dense baseline times over the sum of chosen times (layers run one after
    the other)."""
    return costs.dense.time_ns.sum(axis=1) / chosen_time_ns(costs).sum(axis=1)


@dataclass(frozen=True)
class BreakEven:
    ratio: np.ndarray            # (C, L): r*, 1.0 = always, inf = never

    @property
    def always(self) -> np.ndarray:
        return self.ratio <= 1.0

    @property
    def never(self) -> np.ndarray:
        return ~np.isfinite(self.ratio)

    def label(self, c: int, l: int) -> str:
        return ratio_label(float(self.ratio[c, l]))


def ratio_label(r: float, number: Callable[[float], str] = "{:.3g}".format) -> str:
    """r* for people, the one place that words it (tables, reports, labels); `number` prints a
    finite r* > 1 (a report passes codesign.report.fmt.num)."""
    if np.isnan(r):
        return "–"               # undefined (a median over no layer)
    return "always" if r <= 1.0 else "never" if not np.isfinite(r) else number(r)


def ratio_grid(r_max: float = R_MAX, points: int = GRID_POINTS) -> np.ndarray:
    return np.geomspace(1.0, r_max, points)


def speedup_curves(configs: ConfigArray, layers: LayerArray, ratios,
                   base: Baseline | None = None) -> np.ndarray:
    """sparse_speedup for every (config, layer, ratio): shape (C, L, R)."""
    ratios = np.asarray(ratios, dtype=float)
    return sparse_speedup(evaluate(configs, layers, 1.0 / ratios, energy=False, base=base))


def break_even(configs: ConfigArray, layers: LayerArray, r_max: float = R_MAX,
               progress=None, masks: MaskArrays | None = None) -> BreakEven:
    """r* for every config x layer; solved in config chunks so memory stays bounded.
    `progress(done, total)` is called after each chunk when given."""
    grid = ratio_grid(r_max)
    n = len(configs)
    per_chunk = max(1, CHUNK_ELEMENTS // len(layers))
    out = np.empty((n, len(layers)))
    for start in range(0, n, per_chunk):
        idx = slice(start, min(n, start + per_chunk))
        out[idx] = _solve(configs.take(idx), layers, grid)
        if progress is not None:
            progress(idx.stop, n)
    nm = layers.nm_group[0, :, 0] > 0
    if np.any(nm):                        # N:M: one ratio, profitable or not
        nm_ratio = np.where(nm, layers.nm_group[0, :, 0] / np.maximum(layers.nm_keep[0, :, 0], 1), 1.0)
        costs = evaluate(configs, layers, (1.0 / nm_ratio).reshape(1, -1, 1), energy=False)
        paid = pays(sparse_speedup(costs)[..., 0])
        out = np.where(nm, np.where(paid, nm_ratio, np.inf), out)
    return BreakEven(out)


def _log_margin(s):
    """log(speedup / PAYS_AT): >= 0 exactly where the layer pays; the root solver's function."""
    with np.errstate(divide="ignore"):
        return np.log(s) - np.log(PAYS_AT)


class _Pairs:
    """(config, layer) pairs of one chunk laid out on one axis, so that only the pairs still
    being solved are evaluated: configs, layers and their Baseline gathered to (P, 1, 1)."""

    def __init__(self, configs: ConfigArray, layers: LayerArray, base: Baseline):
        self.configs, self.layers, self.base = configs, layers, base
        self.shape = (len(configs), len(layers))

    def sparse_speedup(self, flat, log_r) -> np.ndarray:
        """sparse_speedup of the pairs at flat indices `flat` (into configs x layers), each at
        its own ratio exp(log_r)."""
        ci, li = np.divmod(flat, self.shape[1])
        labels = ("",) * flat.size          # names only identify the baseline's pairs
        cfg = ConfigArray(labels, {k: v[ci] for k, v in self.configs.values.items()},
                          self.configs.mode)
        lay = replace(self.layers, names=labels,
                      **{f.name: getattr(self.layers, f.name)[0, li][:, None]
                         for f in fields(LayerArray) if f.name != "names"})
        base = _gather(self.base, self.shape, ci, li)
        base = replace(base, config_names=labels, layer_names=labels)
        alpha = np.exp(-np.asarray(log_r, dtype=float)).reshape(-1, 1, 1)
        return sparse_speedup(evaluate(cfg, lay, alpha, energy=False, base=base))[:, 0, 0]


def _gather(obj, shape, ci, li, done=None):
    """`obj` (a Baseline, or a dataclass or array in it) at pairs (ci, li): every (C, L, k)-
    broadcastable array becomes (P, 1, k); other values stay. An array met twice is gathered once."""
    done = {} if done is None else done
    if id(obj) in done:
        return done[id(obj)]
    out = obj
    if isinstance(obj, np.ndarray) and obj.ndim == 3:
        out = obj[ci if obj.shape[0] > 1 else 0, li if obj.shape[1] > 1 else 0]
        out = np.broadcast_to(out, (ci.size,) + obj.shape[2:])[:, None]
    elif isinstance(obj, dict):
        out = {k: _gather(v, shape, ci, li, done) for k, v in obj.items()}
    elif is_dataclass(obj):
        out = replace(obj, **{f.name: _gather(getattr(obj, f.name), shape, ci, li, done) for f in fields(obj)})
    done[id(obj)] = out
    return out


def _solve(configs: ConfigArray, layers: LayerArray, grid) -> np.ndarray:
    """The first paying grid ratio of each pair (only pairs that have not paid yet are
    evaluated at the next one), then Illinois steps inside the cell before it on the pairs
    whose bracket is still wider than X_TOL."""
    pairs = _Pairs(configs, layers, baseline(configs, layers, energy=False))
    n = len(configs) * len(layers)
    log_grid = np.log(grid)
    first = np.full(n, -1)                   # index of the first paying grid ratio; -1: none
    f_lo, f_hi = np.zeros(n), np.zeros(n)
    active = np.arange(n)
    for g in range(grid.size):
        if not active.size:
            break
        s = pairs.sparse_speedup(active, np.full(active.size, log_grid[g]))
        win = pays(s)
        first[active[win]] = g
        f_hi[active[win]] = _log_margin(s[win])
        f_lo[active[~win]] = _log_margin(s[~win])      # the last grid ratio that did not pay
        active = active[~win]
    todo = np.flatnonzero(first > 0)
    lo, hi = log_grid[first[todo] - 1], log_grid[first[todo]]
    f_lo, f_hi = f_lo[todo], f_hi[todo]
    act = np.arange(todo.size)               # positions in todo still being refined
    for _ in range(ROOT_STEPS):
        if not act.size:
            break
        a_lo, a_hi, fa_lo, fa_hi = lo[act], hi[act], f_lo[act], f_hi[act]
        finite = np.isfinite(fa_lo) & np.isfinite(fa_hi) & (fa_hi > fa_lo)
        with np.errstate(divide="ignore", invalid="ignore"):
            secant = a_hi - fa_hi * (a_hi - a_lo) / (fa_hi - fa_lo)
        mid = np.where(finite, np.clip(secant, a_lo, a_hi), 0.5 * (a_lo + a_hi))
        f_mid = _log_margin(pairs.sparse_speedup(todo[act], mid))
        ok = f_mid >= 0
        # Illinois: halve the stale end's value so the bracket shrinks from both sides
        f_lo[act] = np.where(ok, fa_lo * 0.5, f_mid)
        f_hi[act] = np.where(ok, f_mid, fa_hi * 0.5)
        hi[act] = np.where(ok, mid, a_hi)
        lo[act] = np.where(ok, a_lo, mid)
        act = act[hi[act] - lo[act] > X_TOL]
    r = np.where(first == 0, 1.0, np.inf)
    r[todo] = np.exp(hi)
    return r.reshape(len(configs), len(layers))
