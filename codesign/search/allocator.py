"""A better allocator than Fig. 5: choose every layer's α at once from measured curves.

Inputs: per-layer sensitivity curves drop_i(α) from short probes (one layer pruned at a time),
and the simulator's per-layer latency lat_i(α) of the implementation the hardware chooses (a
layer whose sparse implementation is slower runs dense, so its useful choices are α = 1 and the
α at which it runs sparse, i.e. α ≤ 1/r*). The surrogate problem

    minimise Σ_i lat_i(α_i)   subject to   Σ_i drop_i(α_i) ≤ B

is a multiple-choice knapsack. Why dynamic programming and not greedy marginal gain or a
Lagrangian: lat_i(α) is not convex. It stays flat at the dense latency until 1/α reaches r*, then
jumps; a greedy step from α = 1 sees no gain and stalls, and a Lagrangian only reaches the convex
hull of each layer's (drop, latency) points. A DP over a discretised drop budget is exact for the
surrogate and costs O(layers · choices · bins), microseconds to milliseconds.

The probes' drops are not calibrated (a one-layer probe with little retraining overstates what a
full compression run loses, and drops do not add exactly), but they order the plans well. So the
DP returns the whole Pareto frontier (one plan per budget B, least aggressive first), and at
most max_confirm real training runs search it for the most aggressive plan that meets the
accuracy constraint: bisection in speedup until two feasible plans are measured, then secant
steps on (probe-predicted drop -> measured drop), which calibrate the probes' scale.
Then at most max_refine more runs (plus confirm runs left unused) refine the best confirmed
plan one layer at a time, off the grid (codesign.search.refine): plans past it on the frontier
often move several layers at once and fail on the probes' errors about one of them. So the
allocator trains at most max_confirm + max_refine times, plus the final compression run.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codesign.executor import Executor
from codesign.search.costs import CostModel, layer_latency
from codesign.search.records import IterationHook, SearchConfig, SearchError, SearchResult
from codesign.search.sensitivity import probe_curves
from codesign.search.refine import Refiner, Trial
from codesign.search.session import DROP_EPS, SearchSession

ALGORITHM = "dp"


@dataclass(frozen=True)
class FrontierPlan:
    alphas: dict[str, float]
    predicted_drop: float       # sum of probe drops (points, uncalibrated)
    latency: float              # simulated seconds
    storage_bits: float = 0.0   # weights + indices of the searched layers


@dataclass(frozen=True)
class LayerChoices:
    name: str
    alphas: np.ndarray          # candidate α, 1.0 (dense) first
    drops: np.ndarray           # probe drop at each α
    latency: np.ndarray         # simulated latency at each α (dense latency at 1.0)
    storage: np.ndarray         # weight + index bits at each α (zeros if the model has none)


def layer_choices(cost: CostModel, name: str, grid_desc: np.ndarray, drops: np.ndarray,
                  alpha_min: float) -> LayerChoices:
    """Dense, plus every grid α at which the layer runs sparse (elsewhere it would run dense
    with its weights restored, so pruning it would cost accuracy for nothing)."""
    allowed = grid_desc >= alpha_min
    usable = np.zeros(grid_desc.shape, dtype=bool)
    if allowed.any():
        usable[allowed] = cost.runs_sparse(name, grid_desc[allowed])
    alphas = np.concatenate([[1.0], grid_desc[usable]])
    lat = cost.latency(name, alphas)
    storage_fn = getattr(cost, "storage_bits", None)
    storage = storage_fn(name, alphas) if storage_fn else np.zeros(len(alphas))
    return LayerChoices(name, alphas, np.concatenate([[0.0], drops[usable]]), np.asarray(lat, float),
                        np.asarray(storage, float))


def pareto_frontier(choices: list[LayerChoices], bins: int) -> list[FrontierPlan]:
    """Exact multiple-choice knapsack over a drop budget discretised into `bins` steps.

    Drops are rounded up to whole bins, so a plan's true surrogate drop never exceeds its
    budget. Returns the distinct optimal plans for budgets 0..bins, least aggressive first."""
    total = sum(float(c.drops.max()) for c in choices)
    if total <= 0:                      # nothing costs accuracy: take the fastest of each layer
        ks = [int(np.argmin(c.latency)) for c in choices]
        best = {c.name: float(c.alphas[k]) for c, k in zip(choices, ks)}
        return [FrontierPlan(best, 0.0, sum(float(c.latency[k]) for c, k in zip(choices, ks)),
                             sum(float(c.storage[k]) for c, k in zip(choices, ks)))]
    step = total / bins
    f = np.zeros(bins + 1)             # best latency of the layers so far, per budget
    picks = []                         # per layer: argmin choice per budget
    for c in choices:
        w = np.ceil(c.drops / step - 1e-9).astype(int)
        cand = np.full((len(c.alphas), bins + 1), np.inf)
        for k, (wk, lk) in enumerate(zip(w, c.latency)):
            if wk <= bins:
                cand[k, wk:] = f[: bins + 1 - wk] + lk
        pick = np.argmin(cand, axis=0)
        f = cand[pick, np.arange(bins + 1)]
        picks.append(pick)
    plans: list[FrontierPlan] = []
    for b in range(bins + 1):
        if plans and f[b] >= plans[-1].latency - 1e-15:
            continue                   # the same (or no better) plan as a smaller budget
        budget, alphas, drop, bits = b, {}, 0.0, 0.0
        for c, pick in zip(reversed(choices), reversed(picks)):
            k = int(pick[budget])
            alphas[c.name] = float(c.alphas[k])
            drop += float(c.drops[k])
            bits += float(c.storage[k])
            budget -= int(np.ceil(c.drops[k] / step - 1e-9))
        plans.append(FrontierPlan(dict(reversed(list(alphas.items()))), drop, float(f[b]), bits))
    return plans


def within_storage(frontier: list[FrontierPlan], cost: CostModel, searched: list[str],
                   budget_bits: float) -> list[FrontierPlan]:
    """Secondary constraint: weights + indices of the whole model within an on-chip budget.
    Pruning shrinks storage along the frontier, so the budget cuts off its cautious end."""
    if not hasattr(cost, "storage_bits"):
        raise SearchError("this cost model has no storage figures; drop the storage budget")
    fixed = sum(float(cost.storage_bits(n, np.array([1.0]))[0]) for n in cost.layer_names()
                if n not in searched)
    kept = [p for p in frontier if p.storage_bits + fixed <= budget_bits]
    if not kept:
        least = min(p.storage_bits for p in frontier) + fixed
        raise SearchError(f"no plan fits the storage budget of {budget_bits:,.0f} bits; the "
                          f"smallest on the frontier needs {least:,.0f} bits: raise the budget "
                          f"or lower alpha_min")
    return kept


def pivot(frontier: list[FrontierPlan], lo: int, hi: int, measured: dict[int, float],
          max_drop: float) -> int:
    """The next frontier plan to train, strictly between lo (feasible) and hi (infeasible).

    Once two feasible plans are measured, the probes are calibrated on them: a line through
    (probe-predicted drop, measured drop) is extended to the allowed drop (a secant step),
    so the probes' scale error (they prune one layer with little retraining) cancels.
    Before that, and when the line does not rise, bisect in speedup."""
    inside = range(lo + 1, hi)
    pred = [p.predicted_drop for p in frontier]
    ok = sorted(i for i in measured if i <= lo)
    if len(ok) >= 2:
        (i0, i1) = ok[-2:]
        slope = (measured[i1] - measured[i0]) / max(pred[i1] - pred[i0], 1e-12)
        if slope > 0:
            target = pred[i1] + (max_drop - measured[i1]) / slope
            return min(inside, key=lambda i: abs(pred[i] - target))
    speed = [1.0 / p.latency for p in frontier]
    s_lo = speed[lo] if lo >= 0 else speed[0]
    s_hi = speed[hi] if hi < len(frontier) else speed[-1] * (1 + 1e-9)
    target = (s_lo + s_hi) / 2
    return min(inside, key=lambda i: abs(speed[i] - target))


def dp_search(executor: Executor, cost: CostModel, config: SearchConfig,
              on_iteration: IterationHook | None = None) -> SearchResult:
    s = SearchSession(executor, cost, config, on_iteration)
    grid_desc = np.array(sorted(config.alpha_grid, reverse=True))
    curves = probe_curves(s, tuple(grid_desc))
    choices = [layer_choices(cost, n, grid_desc, curves[n], config.alpha_min) for n in s.layers]
    frontier = pareto_frontier(choices, config.drop_bins)
    if config.storage_budget_bits is not None:
        frontier = within_storage(frontier, cost, s.layers, config.storage_budget_bits)
    # Search the frontier (ordered by aggressiveness) with real training runs.
    lo, hi = -1, len(frontier)          # lo: known feasible (-1: dense), hi: known infeasible
    best = {n: 1.0 for n in s.layers}
    measured: dict[int, float] = {}     # frontier index -> measured drop
    confirm_runs = 0
    for i in range(config.max_confirm):
        if hi - lo <= 1:
            break
        # With a storage budget dense is no fallback: try the most cautious plan that fits first.
        mid = (0 if i == 0 and config.storage_budget_bits is not None
               else pivot(frontier, lo, hi, measured, config.max_drop))
        plan = frontier[mid]
        ev = s.run("train", plan.alphas)[0]
        confirm_runs += 1
        measured[mid] = s.drop(ev.accuracy)
        ok = s.feasible(ev.accuracy)
        s.record("confirm", plan.alphas, ev.accuracy, ok,
                 f"frontier plan {mid + 1}/{len(frontier)}, probe-predicted drop "
                 f"{plan.predicted_drop:.2f}")
        if ok:
            lo, best = mid, plan.alphas
        else:
            hi = mid
            if mid == 0:
                break                   # the most cautious plan fails: none will pass
    if lo < 0 and config.storage_budget_bits is not None:
        s.record("confirm", best, None, False, "no plan meets both the accuracy constraint and "
                 "the storage budget; falling back to dense")
    else:
        best = _refine(s, grid_desc, curves, frontier, measured, lo,
                       config.max_refine + config.max_confirm - confirm_runs)
    result = s.finish(ALGORITHM, best, restored=[])
    if lo < 0 and config.storage_budget_bits is not None:
        result.constraint_met = False       # dense does not fit the storage budget
    dense = sum(cost.dense_latency(n) for n in cost.layer_names())
    # layers the search may not touch run dense
    fixed = sum(layer_latency(cost, n, 1.0) for n in cost.layer_names() if n not in s.layers)
    result.extras["frontier"] = [
        {"alphas": p.alphas, "predicted_drop": p.predicted_drop,
         "speedup": dense / (p.latency + fixed), "storage_bits": p.storage_bits}
        for p in frontier]
    return result


def _refine(s: SearchSession, grid_desc: np.ndarray,
            curves: dict[str, np.ndarray], frontier: list[FrontierPlan],
            measured: dict[int, float], lo: int, runs: int) -> dict[str, float]:
    """Single-layer moves from the best confirmed plan (see codesign.search.refine)."""
    base_alphas = frontier[lo].alphas if lo >= 0 else {n: 1.0 for n in s.layers}
    base = Trial(dict(base_alphas), measured.get(lo, 0.0), True)
    fits = (lambda a: True)
    if s.config.storage_budget_bits is not None:
        budget, names = s.config.storage_budget_bits, s.cost.layer_names()
        fits = (lambda a: sum(float(s.cost.storage_bits(n, np.array([a.get(n, 1.0)]))[0])
                              for n in names) <= budget)
    refiner = Refiner(s.cost, s.layers, grid_desc, curves, s.config.alpha_min,
                      s.config.max_drop, fits)
    for i, d in measured.items():
        refiner.learn(Trial(frontier[i].alphas, d, d <= s.config.max_drop + DROP_EPS))
    for _ in range(runs):
        move = refiner.propose(base)
        if move is None:
            break
        name, alphas = move
        ev = s.run("train", alphas)[0]
        trial = Trial(alphas, s.drop(ev.accuracy), s.feasible(ev.accuracy))
        s.record("refine", alphas, ev.accuracy, trial.feasible,
                 f"{name} {base.alphas[name]:.4g} -> {alphas[name]:.4g} from the best plan")
        refiner.observe(name, trial)
        if trial.feasible:
            base = trial
    return base.alphas
