"""Local refinement after the allocator's frontier search: one layer at a time, off the grid.

Why: the frontier's plans past the best confirmed one often change several layers at once, and
the short probes misjudge some layers far more than others, so those plans fail together. A
move of ONE layer from the confirmed plan is judged much better: only that layer's probe error
enters. And once a layer runs sparse, its latency is smooth in α, so its α may leave the grid.

Each candidate is the confirmed plan with one layer moved further, within its pattern (a layer
that is dense in the plan may start on any allowed pattern; an N:M layer has no further α):
- no failing α known for it yet: the deepest probed α below its current one that its probe
  says keeps the plan within the allowed drop, at least the next one (expansion);
- a failing α known: a safeguarded secant step in ln α between the passing α (the current
  plan, drop measured) and the failing one (drop measured), aimed at the allowed drop and
  kept within the middle half of the bracket, so noisy drops still halve the bracket at worst.
  The measured drops are what correct the probes here; the probes only rank the layers.
Which layer: the largest simulated latency gain per probe-predicted drop increase, among moves
that gain at least MIN_GAIN of the plan's latency; with a batch of k, the k best moves of
different layers are trained together. A failing α stays valid when
another layer moves later (plans only get more aggressive), and a candidate at least as
aggressive as a measured failing plan in every layer is taken as failing untrained.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from codesign.executor import ALPHA_DIGITS
from codesign.loop.costs import CostModel, layer_latency, runs_sparse
from codesign.loop.sensitivity import Curves
from hwmodels.ties import clearly_less, rank
from pruning.patterns import UNSTRUCTURED, Pattern

BRACKET_TOL = 0.01          # stop a layer when its passing/failing α differ by < 1% (in ln α)
SAFEGUARD = (0.25, 0.75)    # secant step within this share of the ln α bracket
# A move must shorten the plan's simulated latency by at least this share to be worth a
# training run: smaller gains are below the hardware model's resolution (its errors against
# paper 001's Table 9 are 2-20%, benchmarks/RESULTS.md calibrate_admmnn.py) and far below what
# one run can tell apart from training noise (vgg7: runs 1% apart in one layer's alpha measured
# drops 0.4 points apart, search_vgg7.py).
MIN_GAIN = 0.01


@dataclass(frozen=True)
class Trial:
    alphas: dict[str, float]
    drop: float             # measured, points
    feasible: bool
    patterns: dict[str, Pattern] = field(default_factory=dict)

    def pattern(self, name: str) -> Pattern:
        return self.patterns.get(name, UNSTRUCTURED)


@dataclass(frozen=True)
class Move:
    name: str
    trial_alphas: dict[str, float]
    trial_patterns: dict[str, Pattern]
    score: float


def at_least_as_aggressive(alphas: Mapping[str, float], patterns: Mapping[str, Pattern], other: Trial,
                           layers: Sequence[str]) -> bool:
    """Every layer pruned at least as far as in `other`, with the same pattern where pruned: a
    plan that cannot do better than `other` if `other` failed."""
    return all(alphas.get(n, 1.0) <= other.alphas.get(n, 1.0) + 1e-12
               and (alphas.get(n, 1.0) >= 1.0 or patterns.get(n, UNSTRUCTURED) == other.pattern(n))
               for n in layers)


class Refiner:
    def __init__(self, cost: CostModel, layers: list[str], curves: Curves, alpha_min: float,
                 target: Callable[[], float],
                 fits: Callable[[dict[str, float], dict[str, Pattern]], bool] = lambda a, p: True) -> None:
        self.cost, self.layers, self.curves = cost, layers, curves
        self.alpha_min, self.target, self.fits = alpha_min, target, fits
        self.failing: dict[tuple[str, Pattern], tuple[float, float]] = {}   # -> (failing α, drop)
        self.failed_plans: list[Trial] = []

    def learn(self, trial: Trial) -> None:
        """Remember a measured plan that failed (from the frontier search or a refinement)."""
        if not trial.feasible:
            self.failed_plans.append(trial)

    def _usable(self, name: str, pattern: Pattern, a: float) -> bool:
        return a >= self.alpha_min - 1e-12 and runs_sparse(self.cost, name, a, pattern)

    def _next_alpha(self, base: Trial, name: str, pattern: Pattern) -> float | None:
        cur = base.alphas[name]
        if self.curves.get(name, {}).get(pattern) is None:
            return None
        if pattern.fixed_alpha is not None:            # N:M: its one α, unless it failed
            return pattern.fixed_alpha if cur >= 1.0 and (name, pattern) not in self.failing else None
        if (name, pattern) in self.failing:
            a_x, d_x = self.failing[(name, pattern)]
            span = np.log(a_x) - np.log(cur)                    # negative
            if abs(span) < BRACKET_TOL:
                return None
            t = ((self.target() - base.drop) / (d_x - base.drop) if d_x > base.drop else 0.5)
            a = float(np.exp(np.log(cur) + float(np.clip(t, *SAFEGUARD)) * span))
            return a if self._usable(name, pattern, a) else None
        curve = self.curves[name][pattern]
        below = [float(a) for a in curve.alphas if a < cur * (1 - 1e-9)]
        if below:
            # One layer moved alone: its probe is a fair guide, so jump to the deepest probed alpha
            # it says keeps the plan within the target (at least one step).
            now = 0.0 if cur >= 1.0 else curve.at(cur)
            within = [a for a in below if base.drop + curve.at(a) - now <= self.target()]
            return within[-1] if within else below[0]
        if cur > self.alpha_min * (1 + 1e-9) and self._usable(name, pattern, self.alpha_min):
            return self.alpha_min
        return None

    def _dominated(self, alphas: Mapping[str, float], patterns: Mapping[str, Pattern]) -> Trial | None:
        return next((f for f in self.failed_plans if at_least_as_aggressive(alphas, patterns, f, self.layers)),
                    None)

    def _latency(self, alphas: Mapping[str, float], patterns: Mapping[str, Pattern]) -> float:
        return sum(layer_latency(self.cost, n, alphas[n], patterns.get(n, UNSTRUCTURED)) for n in self.layers)

    def _move(self, base: Trial, name: str, pattern: Pattern, base_lat: float) -> Move | None:
        while True:
            a = self._next_alpha(base, name, pattern)
            if a is None:
                return None
            alphas = {**base.alphas, name: round(a, ALPHA_DIGITS)}
            patterns = {**base.patterns, name: pattern}
            failed = self._dominated(alphas, patterns)
            if failed is None:
                break
            self.failing[(name, pattern)] = (alphas[name], failed.drop)   # known to fail: shrink
        if not self.fits(alphas, patterns):
            return None
        gain = base_lat - self._latency(alphas, patterns)
        if gain <= MIN_GAIN * base_lat:
            return None
        curve = self.curves[name][pattern]
        now = 0.0 if base.alphas[name] >= 1.0 else curve.at(base.alphas[name])
        extra = curve.at(alphas[name]) - now
        return Move(name, alphas, patterns, gain / max(extra, 1e-6))

    def propose(self, base: Trial, k: int = 1) -> list[Move]:
        """The k best single-layer moves (different layers) from the passing plan `base`."""
        base_lat = self._latency(base.alphas, base.patterns)
        best: dict[str, Move] = {}
        for name in self.layers:
            options: Sequence[Pattern] = ([base.pattern(name)] if base.alphas[name] < 1.0
                                          else list(self.curves.get(name, {})))
            for pattern in options:
                move = self._move(base, name, pattern, base_lat)
                if move is not None and (name not in best or clearly_less(best[name].score, move.score)):
                    best[name] = move
        moves = list(best.values())
        return [moves[i] for i in rank([-m.score for m in moves])[:k]]

    def observe(self, move: Move, trial: Trial) -> None:
        """Result of a proposed move; a failure brackets that layer in its pattern."""
        if not trial.feasible:
            self.failing[(move.name, move.trial_patterns[move.name])] = (trial.alphas[move.name], trial.drop)
            self.learn(trial)
