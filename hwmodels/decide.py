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
safe); r* = 1 means "always", inf "never". Where a curve crosses 1 more than once (13-18% of
ResNet-50's curves over 500 configs of hw_speed.py's sweep), r* is its first crossing from below
at the grid's resolution: the smallest grid ratio that pays, refined inside the cell before it
(a layer that pays at r* may stop paying at a larger r; plans judge every alpha by the rule
itself, never by r*). A curve that pays only inside one cell, between two grid ratios, reads as
"never": 13 of those 27,000 iso-area curves (none in fixed mode) against a 2,000-point grid,
which otherwise puts every first crossing within one of its cells (0.35%) of r*. N:M layers
have one ratio (M/N): r* is that ratio where it pays and inf where it does not.
"""
from __future__ import annotations

from dataclasses import dataclass
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
ROOT_STEPS = 12                 # Illinois steps inside one grid cell (width 0.63 in log r)
CHUNK_ELEMENTS = 250_000        # configs x layers x grid points per evaluation: ~60 MB of cost
                                # arrays (1.5M took 330 MB and was no faster, hw_speed.py)
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
    """r* for every config x layer; evaluated in config chunks so memory stays bounded.
    `progress(done, total)` is called after each chunk when given."""
    grid = ratio_grid(r_max)
    n = len(configs)
    per_chunk = max(1, CHUNK_ELEMENTS // (len(layers) * grid.size))
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


def _log_speedup(configs, layers, log_r, base):
    return _log_margin(sparse_speedup(evaluate(configs, layers, np.exp(-log_r)[..., None],
                                               energy=False, base=base))[..., 0])


def _solve(configs: ConfigArray, layers: LayerArray, grid) -> np.ndarray:
    base = baseline(configs, layers, energy=False)
    s = speedup_curves(configs, layers, grid, base)                # (C, L, G)
    wins = pays(s)
    first = np.argmax(wins, axis=-1)
    any_win = wins.any(axis=-1)
    lo = np.log(grid[np.maximum(first - 1, 0)])
    hi = np.log(grid[first])
    idx = np.indices(first.shape)
    f_lo = _log_margin(s[idx[0], idx[1], np.maximum(first - 1, 0)])
    f_hi = _log_margin(s[idx[0], idx[1], first])
    todo = any_win & (first > 0)
    for _ in range(ROOT_STEPS if todo.any() else 0):
        finite = np.isfinite(f_lo) & np.isfinite(f_hi) & (f_hi > f_lo)
        with np.errstate(divide="ignore", invalid="ignore"):
            secant = hi - f_hi * (hi - lo) / (f_hi - f_lo)
        mid = np.where(finite, np.clip(secant, lo, hi), 0.5 * (lo + hi))
        f_mid = _log_speedup(configs, layers, mid, base)
        ok = f_mid >= 0
        # Illinois: halve the stale end's value so the bracket shrinks from both sides
        f_lo = np.where(ok, f_lo * 0.5, f_mid)
        f_hi = np.where(ok, f_mid, f_hi * 0.5)
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    r = np.where(first == 0, 1.0, np.exp(hi))
    return np.where(any_win, r, np.inf)
