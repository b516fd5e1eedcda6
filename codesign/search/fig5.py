"""Paper 001 Fig. 5: hardware-aware DNN model compression, as the paper describes it.

1. Start from initial keep fractions α_i (a sensitivity scan, or a user file standing in for
   "the α_i of prior work"). If that start breaks the accuracy constraint, back off towards dense
   by binary search so that the loop starts feasible.
2. Reduction iteration: lower every prunable layer's α_i by Δα_i = t · C_i / max_j C_j (the
   reduction is proportional to the layer's computation C_i); binary-search the largest step t
   whose compressed model keeps the accuracy drop within the constraint. Repeat until a step no
   longer passes (no progress).
3. Break-even check: every layer whose pruning ratio 1/α_i is below its r* (the hardware would
   run it dense: hwmodels.decide) cannot pay for its indices; restore it to dense (α_i = 1)
   and keep it there. The accuracy this frees is the
   "margin" the other layers get: go back to 2 with the remaining layers. Stop when no layer is
   restored (the others only ever decrease α, so they stay above r*).
4. Final compression at the found α (ADMM, optionally quantization) and a final accuracy check.
Each accuracy evaluation in 2 is one training run of the backend ("train" requests).
"""
from __future__ import annotations

from typing import Mapping

from codesign.executor import ALPHA_DIGITS, Executor
from codesign.search.costs import CostModel, runs_sparse
from codesign.search.records import IterationHook, SearchConfig, SearchError, SearchResult
from codesign.search.sensitivity import probe_curves, scan_initial_alphas
from codesign.search.session import SearchSession

ALGORITHM = "fig5"


def fig5_search(executor: Executor, cost: CostModel, config: SearchConfig,
                initial: Mapping[str, float] | None = None,
                on_iteration: IterationHook | None = None) -> SearchResult:
    s = SearchSession(executor, cost, config, on_iteration)
    alphas = _initial_alphas(s, initial)
    alphas = _feasible_start(s, alphas)
    frozen: set[str] = set()
    restored: list[str] = []
    iterations = 0
    while True:
        while iterations < config.max_iterations:
            iterations += 1
            step = _reduction_step(s, alphas, frozen)
            if step is None:
                break
            alphas = step
        failing = [n for n in s.layers if n not in frozen and alphas[n] < 1.0
                   and not runs_sparse(cost, n, alphas[n])]
        if not failing:
            break
        for n in failing:
            alphas[n] = 1.0
            frozen.add(n)
        restored += failing
        s.record("restore", alphas, None, True,
                 "restored to dense (pruning ratio below r*): " + ", ".join(failing))
        if iterations >= config.max_iterations:
            break
    return s.finish(ALGORITHM, alphas, restored)


def _initial_alphas(s: SearchSession, initial: Mapping[str, float] | None) -> dict[str, float]:
    lo = s.config.alpha_min
    if initial is None:
        curves = probe_curves(s, s.config.alpha_grid)
        start = scan_initial_alphas(curves, s.config.alpha_grid, s.config.max_drop)
    else:
        unknown = sorted(set(initial) - set(s.layers))
        if unknown:
            raise SearchError(f"initial α names unknown layers {unknown}; "
                              f"prunable layers are {s.layers}")
        start = {n: float(initial.get(n, 1.0)) for n in s.layers}
        bad = {n: a for n, a in start.items() if not 0 < a <= 1}
        if bad:
            raise SearchError(f"initial α must be in (0, 1]: {bad}")
    return {n: round(max(lo, a), ALPHA_DIGITS) for n, a in start.items()}


def _feasible_start(s: SearchSession, alphas: dict[str, float]) -> dict[str, float]:
    """Binary search u in [0, 1] for α(u) = 1 - u(1 - α0), largest u that meets the constraint."""
    def at(u: float) -> dict[str, float]:
        return {n: round(1.0 - u * (1.0 - a), ALPHA_DIGITS) for n, a in alphas.items()}

    ev = s.run("train", alphas)[0]
    ok = s.feasible(ev.accuracy)
    s.record("init", alphas, ev.accuracy, ok, "initial α" + ("" if ok else ": too aggressive"))
    if ok:
        return dict(alphas)
    lo, hi, best = 0.0, 1.0, {n: 1.0 for n in alphas}
    for _ in range(s.config.bisect_steps):
        u = (lo + hi) / 2
        cand = at(u)
        ev = s.run("train", cand)[0]
        ok = s.feasible(ev.accuracy)
        s.record("init", cand, ev.accuracy, ok, f"back off towards dense, u={u:.3f}")
        if ok:
            lo, best = u, cand
        else:
            hi = u
    return best


def _reduction_step(s: SearchSession, alphas: dict[str, float],
                    frozen: set[str]) -> dict[str, float] | None:
    """One Fig. 5 iteration: Δα_i ∝ C_i, step size by binary search; None = no progress."""
    lo_alpha = s.config.alpha_min
    movable = [n for n in s.layers if n not in frozen and alphas[n] > lo_alpha]
    if not movable:
        return None
    c_max = max(s.cost.macs(n) for n in movable)
    weight = {n: s.cost.macs(n) / c_max for n in movable}
    # The full step takes the most computation-heavy movable layer (weight 1) to alpha_min.
    t_hi = max(alphas[n] - lo_alpha for n in movable if weight[n] == 1.0)

    def at(t: float) -> dict[str, float]:
        out = dict(alphas)
        for n in movable:
            out[n] = round(max(lo_alpha, alphas[n] - t * weight[n]), ALPHA_DIGITS)
        return out

    lo, hi, best = 0.0, t_hi, None
    t = t_hi                              # the full step first: it often passes late in the run
    for k in range(s.config.bisect_steps + 1):
        cand = at(t)
        if cand == alphas:                # the step rounds to nothing: no progress possible
            break
        ev = s.run("train", cand)[0]
        ok = s.feasible(ev.accuracy)
        s.record("reduce", cand, ev.accuracy, ok, f"step t={t:.4g} (Δα ∝ C_i)")
        if ok:
            lo, best = t, cand
            if k == 0:
                break
        else:
            hi = t
        t = (lo + hi) / 2
    return best
