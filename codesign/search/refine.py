"""Local refinement after the allocator's frontier search: one layer at a time, off the grid.

Why: the frontier's plans past the best confirmed one often change several layers at once, and
the short probes misjudge some layers far more than others, so those plans fail together. A
move of ONE layer from the confirmed plan is judged much better: only that layer's probe error
enters. And once a layer runs sparse, its latency is smooth in α, so its α may leave the grid.

Each step trains one candidate: the confirmed plan with one layer moved further. Per layer:
- no failing α known for it yet: the next usable grid α below its current one (expansion);
- a failing α known: a safeguarded secant step in ln α between the passing α (the current
  plan, drop measured) and the failing one (drop measured), aimed at the allowed drop and
  kept within the middle half of the bracket, so noisy drops still halve the bracket at worst.
  The measured drops are what correct the probes here; the probes only rank the layers.
Which layer: the largest simulated latency gain per probe-predicted drop increase. A failing α
stays valid when another layer moves later (plans only get more aggressive), and a candidate at
least as aggressive as a measured failing plan in every layer is taken as failing untrained.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from codesign.executor import ALPHA_DIGITS
from codesign.search.costs import CostModel, layer_latency, runs_sparse

BRACKET_TOL = 0.01          # stop a layer when its passing/failing α differ by < 1% (in ln α)
SAFEGUARD = (0.25, 0.75)    # secant step within this share of the ln α bracket


@dataclass(frozen=True)
class Trial:
    alphas: dict[str, float]
    drop: float             # measured, points
    feasible: bool


def probe_drop(grid_desc: np.ndarray, drops: np.ndarray, alpha: float) -> float:
    """A layer's probe drop at any α: linear in ln α between grid points (0 at α = 1),
    extended linearly below the grid and never below the last probe."""
    x = np.log(np.concatenate([[1.0], grid_desc]))[::-1]      # ascending for np.interp
    y = np.concatenate([[0.0], drops])[::-1]
    la = np.log(alpha)
    if la >= x[0]:
        return float(np.interp(la, x, y))
    slope = (y[1] - y[0]) / (x[1] - x[0]) if len(x) > 1 else 0.0
    return float(max(y[0], y[0] + slope * (la - x[0])))


class Refiner:
    def __init__(self, cost: CostModel, layers: list[str], grid_desc: np.ndarray,
                 curves: Mapping[str, np.ndarray], alpha_min: float, max_drop: float,
                 fits: Callable[[dict[str, float]], bool] = lambda a: True) -> None:
        self.cost, self.layers, self.grid = cost, layers, grid_desc
        self.curves, self.alpha_min, self.max_drop, self.fits = curves, alpha_min, max_drop, fits
        self.failing: dict[str, tuple[float, float]] = {}    # layer -> (failing α, its drop)
        self.failed_plans: list[Trial] = []

    def learn(self, trial: Trial) -> None:
        """Remember a measured plan that failed (from the frontier search or a refinement)."""
        if not trial.feasible:
            self.failed_plans.append(trial)

    def _usable(self, name: str, a: float) -> bool:
        return a >= self.alpha_min - 1e-12 and runs_sparse(self.cost, name, a)

    def _next_alpha(self, base: Trial, name: str) -> float | None:
        cur = base.alphas[name]
        if name in self.failing:
            a_x, d_x = self.failing[name]
            span = np.log(a_x) - np.log(cur)                    # negative
            if abs(span) < BRACKET_TOL:
                return None
            t = ((self.max_drop - base.drop) / (d_x - base.drop) if d_x > base.drop else 0.5)
            t = float(np.clip(t, *SAFEGUARD))
            return float(np.exp(np.log(cur) + t * span))
        below = [float(a) for a in self.grid if a < cur * (1 - 1e-9) and self._usable(name, a)]
        if below:
            return below[0]
        return (self.alpha_min if cur > self.alpha_min * (1 + 1e-9)
                and self._usable(name, self.alpha_min) else None)

    def _dominated(self, alphas: Mapping[str, float]) -> Trial | None:
        for f in self.failed_plans:
            if all(alphas.get(n, 1.0) <= f.alphas.get(n, 1.0) + 1e-12 for n in self.layers):
                return f
        return None

    def propose(self, base: Trial) -> tuple[str, dict[str, float]] | None:
        """The next single-layer move to train from the passing plan `base` (None: done)."""
        base_lat = sum(layer_latency(self.cost, n, base.alphas[n]) for n in self.layers)
        best, best_score = None, -np.inf
        for name in self.layers:
            while True:
                a = self._next_alpha(base, name)
                if a is None:
                    break
                cand = {**base.alphas, name: round(a, ALPHA_DIGITS)}
                failed = self._dominated(cand)
                if failed is None:
                    break
                self.failing[name] = (cand[name], failed.drop)   # known to fail: shrink
            if a is None or not self.fits(cand):
                continue
            lat = sum(layer_latency(self.cost, n, cand[n]) for n in self.layers)
            gain = base_lat - lat
            if gain <= 0:
                continue
            extra = (probe_drop(self.grid, self.curves[name], cand[name])
                     - probe_drop(self.grid, self.curves[name], base.alphas[name]))
            score = gain / max(extra, 1e-6)
            if score > best_score:
                best, best_score = (name, cand), score
        return best

    def observe(self, name: str, trial: Trial) -> None:
        """Result of a proposed move of `name`; a failure brackets that layer."""
        if not trial.feasible:
            self.failing[name] = (trial.alphas[name], trial.drop)
            self.learn(trial)
