"""Equal-distance weight quantization of paper 001 §3.4.2.

A layer with n bits uses M = 2^n levels {±q, ±2q, ..., ±(M/2)q}: zero is not a level, because
zero means "pruned" and is stored in the index, not in the weight (at 8 bits the levels are
±1..±127, int8's symmetric range). The interval q is chosen
per layer by a search that minimizes the squared quantization error of the nonzero weights.
Projection onto the grid (nearest level, pruned entries stay 0) is the Z-step of ADMM
quantization; `GridTrainer` keeps weights on the grid during retraining with latent float
weights (straight-through), so training can move a weight from one level to another.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
from torch import nn

from pruning.errors import PruningError
from pruning.ranges import WEIGHT_BITS, check

SEARCH_POINTS = 256      # candidates per search round; two rounds give ~1e-4 relative precision


INT8_MAX = 127


def half_levels(bits: int) -> int:
    """M/2: the number of positive levels at `bits` bits; at 8 bits 127, int8's symmetric
    range (int8 cannot hold +128 next to the zero that marks a pruned weight, and a standard
    QDQ export stores the levels as int8)."""
    check("quantization bits", bits, WEIGHT_BITS)
    half = 2 ** int(bits) // 2
    return INT8_MAX if int(bits) == 8 else half


def project_to_grid(values: torch.Tensor, q: float, bits: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Nearest level in {±q..±(M/2)q}; entries outside `mask` become 0. A kept entry of exactly 0
    goes to +q: a kept weight never collapses to zero."""
    levels = torch.clamp(torch.round(values.abs() / q), 1, half_levels(bits))
    sign = torch.where(values < 0, -1.0, 1.0).to(values.dtype)
    out = sign * levels * q
    return out if mask is None else out * mask.to(values.dtype)


def _sq_error(w: np.ndarray, qs: np.ndarray, half: int) -> np.ndarray:
    """Squared error of nearest-level quantization of |w| for each candidate interval in qs."""
    levels = np.clip(np.rint(w[None, :] / qs[:, None]), 1, half)
    return ((w[None, :] - levels * qs[:, None]) ** 2).sum(axis=1)


def fit_interval(weights: torch.Tensor | np.ndarray, bits: int, mask: torch.Tensor | None = None,
                 max_samples: int = 20000) -> float:
    """The interval q minimizing sum_j (w_j - f(w_j))^2 over the nonzero (kept) weights.

    The error is piecewise smooth in q and not unimodal, so a plain binary search can stop in
    a local minimum; we scan a grid over (0, 1.2 max|w| / (M/2)] and refine around the best
    point. Large layers are subsampled deterministically (evenly spaced sorted magnitudes)."""
    w = weights.detach().cpu().numpy() if torch.is_tensor(weights) else np.asarray(weights)
    if mask is not None:
        w = w[mask.cpu().numpy().astype(bool)]
    w = np.abs(w[w != 0]).astype(np.float64).ravel()
    if w.size == 0:
        raise PruningError("cannot fit a quantization interval to a layer with no kept weights")
    if w.size > max_samples:
        w = np.sort(w)[np.linspace(0, w.size - 1, max_samples).astype(np.int64)]
    half = half_levels(bits)
    hi = 1.2 * w.max() / half
    qs = np.linspace(hi / SEARCH_POINTS, hi, SEARCH_POINTS)
    for _ in range(2):
        best = int(np.argmin(_sq_error(w, qs, half)))
        step = qs[1] - qs[0]
        qs = np.linspace(max(qs[best] - step, step / 10), qs[best] + step, SEARCH_POINTS)
    return float(qs[int(np.argmin(_sq_error(w, qs, half)))])


def on_grid(values: torch.Tensor, q: float, bits: int, mask: torch.Tensor | None = None,
            atol: float = 1e-6) -> bool:
    """True when every kept entry is a level of the grid and every pruned entry is 0."""
    target = project_to_grid(values, q, bits, mask)
    return bool(torch.allclose(values, target, atol=atol * max(q, 1e-12), rtol=0))


class GridTrainer:
    """Straight-through training on the grid, as an `after_step` hook plus checkpointable state.

    Each weight has a latent float copy L; the model always holds P = project(L). After the
    optimizer moved a weight from P to W, L += W - P and the weight is set to project(L).
    The forward pass therefore always sees grid weights, and gradients accumulate in L until
    a weight crosses to the next level."""

    def __init__(self, params: Mapping[str, nn.Parameter], intervals: Mapping[str, float],
                 bits: Mapping[str, int], masks: Mapping[str, torch.Tensor] | None = None):
        self.params = {n: params[n] for n in intervals}
        self.intervals, self.bits = dict(intervals), dict(bits)
        self.masks = {n: (masks or {}).get(n) for n in intervals}
        self.latent = {n: p.detach().clone() for n, p in self.params.items()}
        self._snap()

    def _project(self, name: str, values: torch.Tensor) -> torch.Tensor:
        return project_to_grid(values, self.intervals[name], self.bits[name], self.masks[name])

    @torch.no_grad()
    def _snap(self) -> None:
        for n, p in self.params.items():
            p.copy_(self._project(n, self.latent[n]))

    @torch.no_grad()
    def __call__(self, step: int) -> None:
        for n, p in self.params.items():
            self.latent[n] += p - self._project(n, self.latent[n])
        self._snap()

    def state_dict(self) -> dict:
        return {"latent": {n: t.clone() for n, t in self.latent.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.latent = {n: t.clone() for n, t in state["latent"].items()}
        self._snap()
