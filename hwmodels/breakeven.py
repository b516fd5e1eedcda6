"""Break-even pruning ratio r* per (config, layer) and speedup-vs-r curves.

r* is the smallest pruning ratio r = 1/alpha at which the sparse implementation is no slower
than the dense one (paper 001 section 5.1). Speedup need not be monotone in r (padding entries
and load imbalance grow at extreme sparsity), so the solver scans a log grid for the first
crossing and then bisects inside that grid cell. r* = 1 means "always" (sparse wins even
unpruned); r* = inf means "never" (sparse loses at every r up to R_MAX).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwmodels.arch import ConfigArray
from hwmodels.cost import LayerArray, evaluate

R_MAX = 1000.0
GRID_POINTS = 48
BISECT_STEPS = 30
CHUNK_ELEMENTS = 1_500_000       # configs x layers x grid points per evaluation (memory bound)


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
        r = float(self.ratio[c, l])
        return "always" if r <= 1.0 else "never" if not np.isfinite(r) else f"{r:.3g}"


def ratio_grid(r_max: float = R_MAX, points: int = GRID_POINTS) -> np.ndarray:
    return np.geomspace(1.0, r_max, points)


def speedup_curves(configs: ConfigArray, layers: LayerArray, ratios) -> np.ndarray:
    """Sparse-over-dense speedup for every (config, layer, ratio): shape (C, L, R)."""
    ratios = np.asarray(ratios, dtype=float)
    return evaluate(configs, layers, 1.0 / ratios).sparse_speedup


def _speedup_at(configs, layers, ratio_cl):
    return evaluate(configs, layers, 1.0 / ratio_cl[..., None]).sparse_speedup[..., 0]


def break_even(configs: ConfigArray, layers: LayerArray, r_max: float = R_MAX,
               progress=None) -> BreakEven:
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
    return BreakEven(out)


def _solve(configs, layers, grid) -> np.ndarray:
    s = speedup_curves(configs, layers, grid)                      # (C, L, G)
    wins = s >= 1.0
    first = np.argmax(wins, axis=-1)
    any_win = wins.any(axis=-1)
    lo = np.log(grid[np.maximum(first - 1, 0)])
    hi = np.log(grid[first])
    for _ in range(BISECT_STEPS):
        mid = 0.5 * (lo + hi)
        ok = _speedup_at(configs, layers, np.exp(mid)) >= 1.0
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    r = np.exp(hi)
    r = np.where(first == 0, 1.0, r)
    return np.where(any_win, r, np.inf)
