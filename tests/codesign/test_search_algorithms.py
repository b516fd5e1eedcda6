"""Search logic on a synthetic accuracy oracle with a known optimum (no training involved)."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from codesign.executor import EvalRequest, ExecutorError, InProcessExecutor
from codesign.search import SearchConfig, SearchError, dp_search, fig5_search, network_speedup
from codesign.search.allocator import layer_choices, pareto_frontier
from codesign.search.refine import Refiner, Trial, probe_drop
from codesign.search.synthetic import ProportionalCostModel, SyntheticOracle

NAMES = ("conv1", "conv2", "fc1", "fc2")
MACS = {"conv1": 288_000, "conv2": 1_600_000, "fc1": 400_000, "fc2": 5_000}
OPS = {"conv1": "conv", "conv2": "conv", "fc1": "gemm", "fc2": "gemm"}
COST = ProportionalCostModel(NAMES, MACS, OPS, {n: 2.2 for n in NAMES})
# conv1 is sensitive: reaching r* = 2.2 (α ≤ 0.4545) alone costs 3·ln(0.6/0.4545)² ≈ 0.23 points,
# and more with the others; conv2 and fc1 prune far for free.
SENS = {"conv1": 3.0, "conv2": 0.5, "fc1": 0.3, "fc2": 1.0}
FREE = {"conv1": 0.6, "conv2": 0.15, "fc1": 0.08, "fc2": 0.5}
CFG = SearchConfig(max_drop=0.5)


def oracle(**kw) -> SyntheticOracle:
    return SyntheticOracle(SENS, FREE, **kw)


def brute_force_best(cfg: SearchConfig) -> float:
    """Best whole-network speedup over every grid combination that meets the constraint."""
    orc = oracle()
    options = []
    for n in NAMES:
        opts = [1.0] + [a for a in cfg.alpha_grid if 1 / a >= COST.breakeven(n)
                        and a >= cfg.alpha_min]
        options.append(opts)
    best = 1.0
    for combo in itertools.product(*options):
        alphas = dict(zip(NAMES, combo))
        if orc.drop(alphas) <= cfg.max_drop + 1e-9:
            best = max(best, network_speedup(COST, alphas))
    return best


def _frontier(cfg: SearchConfig):
    grid = np.array(sorted(cfg.alpha_grid, reverse=True))
    orc = oracle()
    choices = [layer_choices(COST, n, grid, np.array([orc.drop({n: a}) for a in grid]),
                             cfg.alpha_min) for n in NAMES]
    return pareto_frontier(choices, cfg.drop_bins)


def test_dp_frontier_holds_the_brute_force_optimum():
    dense = sum(COST.dense_latency(n) for n in NAMES)
    feasible = [p for p in _frontier(CFG) if p.predicted_drop <= CFG.max_drop + 1e-9]
    assert max(dense / p.latency for p in feasible) == pytest.approx(brute_force_best(CFG),
                                                                    rel=1e-9)


def test_dp_search_meets_the_constraint_within_its_bisection_resolution():
    frontier_only = SearchConfig(max_drop=0.5, max_refine=0)    # spends all 4 runs confirming
    res = dp_search(InProcessExecutor(oracle()), COST, frontier_only)
    assert res.constraint_met and res.drop <= 0.5 + 1e-9
    speeds = [p["speedup"] for p in res.extras["frontier"]]
    resolution = (max(speeds) - 1.0) / 2 ** CFG.max_confirm
    assert brute_force_best(CFG) - resolution <= res.speedup <= brute_force_best(CFG) + 1e-12
    assert res.training_runs <= CFG.max_confirm + 1
    assert res.extras["frontier"][0]["predicted_drop"] == 0.0
    more = dp_search(InProcessExecutor(oracle()), COST, SearchConfig(max_drop=0.5, max_confirm=8))
    assert more.constraint_met and more.speedup >= brute_force_best(CFG) * (1 - 1e-9)


def test_refinement_reaches_the_grid_optimum_the_frontier_bisection_missed():
    frontier_only = dp_search(InProcessExecutor(oracle()), COST,
                              SearchConfig(max_drop=0.5, max_refine=0))
    refined = dp_search(InProcessExecutor(oracle()), COST, CFG)
    assert frontier_only.speedup < brute_force_best(CFG) * (1 - 1e-3)
    assert refined.constraint_met and refined.speedup >= brute_force_best(CFG) * (1 - 1e-9)
    assert refined.training_runs <= CFG.max_confirm + CFG.max_refine + 1
    assert any(r.phase == "refine" for r in refined.history)


def test_refinement_finds_the_continuous_optimum_of_one_layer_off_the_grid():
    # Only conv2 may be pruned: drop = 0.5 ln(0.15/α)² <= 0.5 gives α* = 0.15/e = 0.0552,
    # between the grid points 0.06 and 0.045; latency falls with α, so α* is the optimum.
    cfg = SearchConfig(max_drop=0.5, layers=("conv2",))
    res = dp_search(InProcessExecutor(oracle()), COST, cfg)
    a_star = FREE["conv2"] / np.e
    assert res.constraint_met and res.drop <= 0.5 + 1e-9
    assert a_star <= res.alphas["conv2"] <= a_star * 1.01       # within 1% of α*, feasible side
    assert res.training_runs <= cfg.max_confirm + cfg.max_refine + 1
    moves = [r for r in res.history if r.phase == "refine"]
    assert moves and all(set(r.alphas) == {"conv2"} for r in moves)


def test_fig5_restores_a_layer_that_cannot_pass_break_even():
    ex = InProcessExecutor(oracle())
    res = fig5_search(ex, COST, CFG)
    assert res.restored == ["conv1"]
    assert res.alphas["conv1"] == 1.0
    assert any(r.phase == "restore" for r in res.history)
    # every other pruned layer clears its break-even ratio
    for n, a in res.alphas.items():
        assert a == 1.0 or 1 / a >= COST.breakeven(n)
    assert res.constraint_met and 1.0 < res.speedup <= brute_force_best(CFG) + 1e-12


def test_fig5_reduces_in_proportion_to_computation():
    ex = InProcessExecutor(oracle())
    res = fig5_search(ex, COST, SearchConfig(max_drop=0.5), initial={n: 0.9 for n in NAMES})
    first = next(r for r in res.history if r.phase == "reduce"
                 and min(r.alphas.values()) > CFG.alpha_min)       # a step nobody hit the floor in
    deltas = {n: 0.9 - first.alphas[n] for n in NAMES}
    ref = max(deltas, key=lambda n: MACS[n])
    for n, d in deltas.items():
        assert d == pytest.approx(deltas[ref] * MACS[n] / MACS[ref], abs=2e-4)


def test_dp_beats_fig5_with_fewer_training_runs_on_the_synthetic_problem():
    fig5 = fig5_search(InProcessExecutor(oracle()), COST, CFG)
    dp = dp_search(InProcessExecutor(oracle()), COST, SearchConfig(max_drop=0.5, max_confirm=6))
    assert dp.speedup >= fig5.speedup
    assert 2 * dp.training_runs <= fig5.training_runs


def test_fig5_backs_off_from_an_infeasible_user_start():
    res = fig5_search(InProcessExecutor(oracle()), COST, CFG,
                      initial={"conv1": 0.1, "conv2": 0.1, "fc1": 0.1, "fc2": 0.1})
    init = [r for r in res.history if r.phase == "init"]
    assert not init[0].accepted and any(r.accepted for r in init[1:])
    assert res.constraint_met


def test_fig5_rejects_unknown_initial_layers():
    with pytest.raises(SearchError, match="unknown layers"):
        fig5_search(InProcessExecutor(oracle()), COST, CFG, initial={"nope": 0.5})


@pytest.mark.parametrize("search", [fig5_search, dp_search])
def test_interrupted_search_resumes_from_the_checkpoint(tmp_path, search):
    ckpt = tmp_path / "evaluations.jsonl"
    whole = search(InProcessExecutor(oracle()), COST, CFG)
    total_calls = sum(whole.counts.values())
    with pytest.raises(KeyboardInterrupt):
        search(InProcessExecutor(oracle(fail_after=total_calls // 2), ckpt), COST, CFG)
    done = len(ckpt.read_text().splitlines())
    assert done == total_calls // 2
    second = oracle()
    resumed = search(InProcessExecutor(second, ckpt), COST, CFG)
    assert len(second.calls) == total_calls - done       # only the missing evaluations ran
    assert resumed.alphas == whole.alphas
    assert resumed.speedup == whole.speedup and resumed.counts == whole.counts


def test_checkpoint_with_a_torn_last_line_is_repaired(tmp_path):
    ckpt = tmp_path / "e.jsonl"
    ex = InProcessExecutor(oracle(), ckpt)
    ex.evaluate("train", {"conv2": 0.5})
    with ckpt.open("a") as fh:
        fh.write('{"key": "tor')                          # killed mid-write
    ex2 = InProcessExecutor(oracle(), ckpt)
    assert ex2.evaluate("train", {"conv2": 0.5}).cached
    ex2.evaluate("train", {"conv2": 0.4})
    lines = [json.loads(l) for l in ckpt.read_text().splitlines()]
    assert [l["alphas"] for l in lines] == [{"conv2": 0.5}, {"conv2": 0.4}]


def test_requests_are_keyed_by_rounded_alpha_vector():
    a = EvalRequest.make("train", {"b": 0.30000001, "a": 1.0})
    b = EvalRequest.make("train", {"b": 0.3})
    assert a == b and a.key == b.key
    assert EvalRequest.make("probe", {"b": 0.3}).key != a.key
    with pytest.raises(ExecutorError, match="must be in"):
        EvalRequest.make("train", {"a": 0.0})
    with pytest.raises(ExecutorError, match="kind"):
        EvalRequest.make("bogus", {})


def _storage(alphas) -> float:
    return sum(COST.storage_bits(n, np.array([alphas.get(n, 1.0)]))[0] for n in NAMES)


def test_dp_respects_a_storage_budget():
    free = dp_search(InProcessExecutor(oracle()), COST, CFG)
    budget = _storage(free.alphas)
    fits = dp_search(InProcessExecutor(oracle()), COST,
                     SearchConfig(max_drop=0.5, storage_budget_bits=budget))
    assert _storage(fits.alphas) <= budget and fits.constraint_met
    # a budget that only plans too aggressive for the accuracy constraint meet: reported, not hidden
    none = dp_search(InProcessExecutor(oracle()), COST,
                     SearchConfig(max_drop=0.5, storage_budget_bits=0.5 * budget))
    assert not none.constraint_met and none.speedup == 1.0
    with pytest.raises(SearchError, match="storage budget"):
        dp_search(InProcessExecutor(oracle()), COST, SearchConfig(storage_budget_bits=1.0))


def test_shared_executor_counts_each_search_separately():
    ex = InProcessExecutor(oracle())
    a = fig5_search(ex, COST, CFG)
    b = dp_search(ex, COST, CFG)
    alone = dp_search(InProcessExecutor(oracle()), COST, CFG)
    assert b.counts == alone.counts                 # probes replayed from the cache still count
    assert a.counts["probe"] == b.counts["probe"] == 4 * len(CFG.alpha_grid)


def test_frontier_plans_are_pareto_ordered():
    orc = oracle()
    plans = _frontier(SearchConfig(drop_bins=200))
    lat = [p.latency for p in plans]
    assert lat == sorted(lat, reverse=True) and len(set(lat)) == len(lat)
    assert plans[0].predicted_drop == 0.0 and plans[-1].predicted_drop > CFG.max_drop
    for p in plans:        # the knapsack's surrogate drop matches the oracle (additive, exact)
        assert orc.drop(p.alphas) == pytest.approx(p.predicted_drop, abs=1e-9)


def test_refiner_does_not_train_a_move_as_aggressive_as_a_measured_failure():
    grid = np.array(sorted(CFG.alpha_grid, reverse=True))
    orc = oracle()
    curves = {n: np.array([orc.drop({n: a}) for a in grid]) for n in NAMES}
    ref = Refiner(COST, ["conv2"], grid, curves, CFG.alpha_min, CFG.max_drop)
    base = Trial({"conv2": 0.06}, 0.4, True)
    assert ref.propose(base) == ("conv2", {"conv2": 0.045})      # expansion: next grid α
    ref.learn(Trial({"conv2": 0.045}, 0.9, False))
    name, alphas = ref.propose(base)                              # now bracketed: secant in ln α
    # (0.5 - 0.4) / (0.9 - 0.4) = 0.2 of the ln α bracket, raised to the 0.25 safeguard
    assert alphas["conv2"] == pytest.approx(0.06 * (0.045 / 0.06) ** 0.25, abs=1e-4)
    assert probe_drop(grid, curves["conv2"], 0.06) == pytest.approx(orc.drop({"conv2": 0.06}))
    with pytest.raises(SearchError, match="max_refine"):
        SearchConfig(max_refine=-1)
