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
Each accuracy evaluation in 2 is one training run of the backend ("train" requests); a step
passes when the upper end of its paired drop interval is within the constraint. Layers that
cannot run sparse at any allowed α (r* above 1/alpha_min) are left dense from the start: step 3
would restore them anyway, after spending their share of the reductions. With a batch of k, each
binary search trains k step sizes per round (k-section); k = 1 is the paper's bisection.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Mapping

from codesign.executor import ALPHA_DIGITS, Executor
from codesign.loop.costs import CostModel, runs_sparse
from codesign.loop.records import IterationHook, SearchConfig, SearchError, SearchResult
from codesign.loop.sensitivity import probe_curves, scan_initial_alphas
from codesign.loop.session import SearchSession
from pruning.patterns import UNSTRUCTURED

ALGORITHM = "fig5"


def fig5_search(executor: Executor, cost: CostModel, config: SearchConfig,
                initial: Mapping[str, float] | None = None,
                on_iteration: IterationHook | None = None) -> SearchResult:
    s = SearchSession(executor, cost, config, on_iteration)
    payable = s.payable([UNSTRUCTURED])
    alphas = _initial_alphas(s, initial, payable)
    alphas = _feasible_start(s, alphas)
    frozen: set[str] = {n for n in s.layers if n not in payable}
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
    result = s.finish(ALGORITHM, alphas, restored)
    return replace(result, unpayable_layers=[n for n in s.layers if n not in payable])


def _initial_alphas(s: SearchSession, initial: Mapping[str, float] | None,
                    payable: list[str]) -> dict[str, float]:
    lo = s.config.alpha_min
    if initial is None:
        curves = probe_curves(s, [UNSTRUCTURED], payable)
        start = scan_initial_alphas(curves, UNSTRUCTURED, s.config.max_drop, s.layers)
    else:
        unknown = sorted(set(initial) - set(s.layers))
        if unknown:
            raise SearchError(f"initial α names unknown layers {unknown}; "
                              f"prunable layers are {s.layers}")
        start = {n: float(initial.get(n, 1.0)) if n in payable else 1.0 for n in s.layers}
        bad = {n: a for n, a in start.items() if not 0 < a <= 1}
        if bad:
            raise SearchError(f"initial α must be in (0, 1]: {bad}")
    return {n: round(max(lo, a), ALPHA_DIGITS) for n, a in start.items()}


def _largest_passing(s: SearchSession, phase: str, make: Callable[[float], dict[str, float] | None],
                     top: float, rounds: int, note: Callable[[float], str]) -> dict[str, float] | None:
    """The candidate of the largest parameter t in (0, top] that meets the constraint: top
    itself first, then `rounds` rounds of k-section (k = the batch; 1: bisection)."""
    k = s.config.batch
    lo, hi, best = 0.0, top, None
    ts = [top] + [top * (j + 1) / k for j in range(k - 1)]
    for r in range(rounds + 1):
        cands = [(t, c) for t, c in ((t, make(t)) for t in sorted(set(ts), reverse=True)) if c is not None]
        if not cands:
            break
        evals = s.run("train", [c for _, c in cands])
        results = []
        for (t, cand), ev in zip(cands, evals):
            ok = s.feasible(ev)
            s.record(phase, cand, ev, ok, note(t))
            results.append((t, cand, ok))
        passing = [(t, c) for t, c, ok in results if ok]
        if passing:
            t_ok, cand = max(passing, key=lambda x: x[0])
            if t_ok > lo or best is None:
                lo, best = t_ok, cand
            if r == 0 and t_ok == top:
                break
        above = [t for t, _, ok in results if not ok and t > lo]
        if above:
            hi = min(above)
        ts = [lo + (hi - lo) * (j + 1) / (k + 1) for j in range(k)]
    return best


def _feasible_start(s: SearchSession, alphas: dict[str, float]) -> dict[str, float]:
    """Back off towards dense: α(u) = 1 - u(1 - α0), the largest u in [0, 1] that passes."""
    def at(u: float) -> dict[str, float]:
        return {n: round(1.0 - u * (1.0 - a), ALPHA_DIGITS) for n, a in alphas.items()}

    best = _largest_passing(s, "init", at, 1.0, s.config.bisect_steps,
                            lambda u: "initial α" if u == 1.0 else f"back off towards dense, u={u:.3f}")
    return best if best is not None else {n: 1.0 for n in alphas}


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

    def at(t: float) -> dict[str, float] | None:
        out = dict(alphas)
        for n in movable:
            out[n] = round(max(lo_alpha, alphas[n] - t * weight[n]), ALPHA_DIGITS)
        return None if out == alphas else out   # a step that rounds to nothing: no progress

    return _largest_passing(s, "reduce", at, t_hi, s.config.bisect_steps, lambda t: f"step t={t:.4g} (Δα ∝ C_i)")
