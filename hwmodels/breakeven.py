"""Break-even pruning ratio r* per (config, layer) and speedup-vs-r curves.

r* is the smallest pruning ratio r = 1/alpha at which the sparse implementation is no slower
than the dense one (paper 001 section 5.1). Speedup need not be monotone in r (padding entries
and load imbalance grow at extreme sparsity), so the solver scans a log grid for the first
crossing and then refines inside that grid cell (Illinois regula falsi, bracket kept). r* = 1 means "always" (sparse wins even
unpruned); r* = inf means "never" (sparse loses at every r up to R_MAX).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwmodels.arch import ConfigArray
from hwmodels.cost import LayerArray, evaluate

R_MAX = 1000.0
GRID_POINTS = 24
ROOT_STEPS = 14     # Illinois steps inside one grid cell (width 0.30 in log r)
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


def speedup_curves(configs: ConfigArray, layers: LayerArray, ratios, cache: dict | None = None,
                   weight_bits=None) -> np.ndarray:
    """Sparse-over-dense speedup for every (config, layer, ratio): shape (C, L, R).
    `weight_bits`: optional bits per stored weight, one per layer."""
    ratios = np.asarray(ratios, dtype=float)
    return evaluate(configs, layers, 1.0 / ratios, energy=False, cache=cache,
                    weight_bits=weight_bits).sparse_speedup


def _log_excess(configs, layers, log_r, cache, weight_bits):
    """log(speedup) at r = exp(log_r), shape (C, L); -inf where the sparse design does not fit."""
    s = evaluate(configs, layers, np.exp(-log_r)[..., None], energy=False, cache=cache,
                 weight_bits=weight_bits).sparse_speedup
    with np.errstate(divide="ignore"):
        return np.log(s[..., 0])


def break_even(configs: ConfigArray, layers: LayerArray, r_max: float = R_MAX,
               progress=None, weight_bits=None) -> BreakEven:
    """r* for every config x layer; evaluated in config chunks so memory stays bounded.
    `progress(done, total)` is called after each chunk when given; `weight_bits`: optional
    bits per stored weight, one per layer (quantized plans)."""
    grid = ratio_grid(r_max)
    n = len(configs)
    per_chunk = max(1, CHUNK_ELEMENTS // (len(layers) * grid.size))
    out = np.empty((n, len(layers)))
    for start in range(0, n, per_chunk):
        idx = slice(start, min(n, start + per_chunk))
        out[idx] = _solve(configs.take(idx), layers, grid, weight_bits)
        if progress is not None:
            progress(idx.stop, n)
    return BreakEven(out)


def _solve(configs, layers, grid, weight_bits=None) -> np.ndarray:
    cache: dict = {}
    s = speedup_curves(configs, layers, grid, cache, weight_bits)   # (C, L, G)
    wins = s >= 1.0
    first = np.argmax(wins, axis=-1)
    any_win = wins.any(axis=-1)
    lo = np.log(grid[np.maximum(first - 1, 0)])
    hi = np.log(grid[first])
    idx = np.indices(first.shape)
    with np.errstate(divide="ignore"):
        f_lo = np.log(s[idx[0], idx[1], np.maximum(first - 1, 0)])
        f_hi = np.log(s[idx[0], idx[1], first])
    # Illinois regula falsi on log(speedup) vs log(r): superlinear on smooth curves, and it
    # keeps the bracket, so it is safe where the curve has kinks or -inf (no fit).
    for _ in range(ROOT_STEPS):
        finite = np.isfinite(f_lo) & np.isfinite(f_hi) & (f_hi > f_lo)
        with np.errstate(divide="ignore", invalid="ignore"):
            secant = hi - f_hi * (hi - lo) / (f_hi - f_lo)
        mid = np.where(finite, np.clip(secant, lo, hi), 0.5 * (lo + hi))
        f_mid = _log_excess(configs, layers, mid, cache, weight_bits)
        ok = f_mid >= 0
        # Illinois: halve the stale end's value so the bracket shrinks from both sides
        f_lo = np.where(ok, f_lo * 0.5, f_mid)
        f_hi = np.where(ok, f_mid, f_hi * 0.5)
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    r = np.exp(hi)
    r = np.where(first == 0, 1.0, r)
    return np.where(any_win, r, np.inf)
