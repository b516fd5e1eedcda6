"""Search logic on a synthetic accuracy oracle with a known optimum (no training involved)."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from codesign.executor import EvalRequest, ExecutorError, InProcessExecutor
from codesign.loop import SearchConfig, SearchError, dp_search, fig5_search, network_speedup
from codesign.loop.allocator import layer_choices, pareto_frontier
from codesign.loop.refine import Refiner, Trial
from codesign.loop.sensitivity import DropCurve
from codesign.loop.synthetic import ProportionalCostModel, SyntheticOracle
from pruning.patterns import UNSTRUCTURED, parse_pattern

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
        opts = [1.0] + [a for a in cfg.alpha_grid if 1 / a >= COST.break_even(n)
                        and a >= cfg.alpha_min]
        options.append(opts)
    best = 1.0
    for combo in itertools.product(*options):
        alphas = dict(zip(NAMES, combo))
        if orc.drop(alphas) <= cfg.max_drop + 1e-9:
            best = max(best, network_speedup(COST, alphas))
    return best


def _curve(orc, name, cfg=CFG, cost=COST, pattern=UNSTRUCTURED):
    grid = np.array(sorted(cfg.alpha_grid, reverse=True))
    usable = grid[(grid >= cfg.alpha_min) & cost.runs_sparse(name, grid, pattern)]
    return DropCurve(usable, np.array([orc.drop({name: a}, {name: str(pattern)}) for a in usable]))


def _frontier(cfg: SearchConfig):
    orc = oracle()
    choices = [layer_choices(COST, n, {UNSTRUCTURED: _curve(orc, n, cfg)}) for n in NAMES]
    return pareto_frontier(choices, cfg.drop_bins)


def test_dp_frontier_holds_the_brute_force_optimum():
    dense = sum(COST.dense_latency(n) for n in NAMES)
    feasible = [p for p in _frontier(CFG) if p.predicted_drop <= CFG.max_drop + 1e-9]
    assert max(dense / p.latency for p in feasible) == pytest.approx(brute_force_best(CFG),
                                                                    rel=1e-9)


def test_dp_search_trains_the_optimum_first_when_the_probes_are_right():
    frontier_only = SearchConfig(max_drop=0.5, max_refine=0)
    res = dp_search(InProcessExecutor(oracle()), COST, frontier_only)
    assert res.constraint_met and res.drop <= 0.5 + 1e-9
    assert res.speedup >= brute_force_best(CFG) * (1 - 1e-9)
    assert res.training_runs <= CFG.max_confirm + 1
    assert res.extras["frontier"][0]["predicted_drop"] == 0.0
    confirms = [r for r in res.history if r.phase == "confirm"]
    assert confirms[0].accepted and confirms[0].speedup >= brute_force_best(CFG) * (1 - 1e-9)


def test_calibration_and_refinement_recover_from_probes_that_overstate_the_drop():
    """Probes that see twice the true drop point at too cautious a plan first; the measured
    drops calibrate them and the search still reaches the grid optimum."""
    overstated = dp_search(InProcessExecutor(oracle(probe_scale=2.0)), COST, CFG)
    assert overstated.constraint_met
    assert overstated.speedup >= brute_force_best(CFG) * (1 - 1e-9)
    assert overstated.training_runs <= CFG.max_confirm + CFG.max_refine + 1
    first = next(r for r in overstated.history if r.phase == "confirm")
    assert first.speedup < brute_force_best(CFG) * (1 - 1e-3)     # the probes misled the first run


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
    assert res.restored == ("conv1",)
    assert res.alphas["conv1"] == 1.0
    assert any(r.phase == "restore" for r in res.history)
    # every other pruned layer clears its break-even ratio
    for n, a in res.alphas.items():
        assert a == 1.0 or 1 / a >= COST.break_even(n)
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
    grid_best = [p for p in _frontier(CFG) if p.predicted_drop <= 0.5][-1]
    budget = _storage(grid_best.alphas)     # a grid plan's: some frontier plan fits it
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
    usable = [a for a in CFG.alpha_grid if a * 2.2 <= 1.0]        # r* = 2.2: probes only there
    assert a.counts["probe"] == b.counts["probe"] == 4 * len(usable) + 1    # + the probes' control


def test_frontier_plans_are_pareto_ordered():
    orc = oracle()
    plans = _frontier(SearchConfig(drop_bins=200))
    lat = [p.latency for p in plans]
    assert lat == sorted(lat, reverse=True) and len(set(lat)) == len(lat)
    assert plans[0].predicted_drop == 0.0 and plans[-1].predicted_drop > CFG.max_drop
    for p in plans:        # the knapsack's surrogate drop matches the oracle (additive, exact)
        assert orc.drop(p.alphas) == pytest.approx(p.predicted_drop, abs=1e-9)


def test_refiner_does_not_train_a_move_as_aggressive_as_a_measured_failure():
    orc = oracle()
    curves = {"conv2": {UNSTRUCTURED: _curve(orc, "conv2")}}
    ref = Refiner(COST, ["conv2"], curves, CFG.alpha_min, lambda: CFG.max_drop)
    base = Trial({"conv2": 0.06}, 0.4, True)
    assert ref.propose(base)[0].trial_alphas == {"conv2": 0.045}     # expansion: next grid α
    ref.learn(Trial({"conv2": 0.045}, 0.9, False))
    move = ref.propose(base)[0]                                     # now bracketed: secant in ln α
    # (0.5 - 0.4) / (0.9 - 0.4) = 0.2 of the ln α bracket, raised to the 0.25 safeguard
    assert move.trial_alphas["conv2"] == pytest.approx(0.06 * (0.045 / 0.06) ** 0.25, abs=1e-4)
    assert curves["conv2"][UNSTRUCTURED].at(0.06) == pytest.approx(orc.drop({"conv2": 0.06}))
    with pytest.raises(SearchError, match="max_refine"):
        SearchConfig(max_refine=-1)


# ---- patterns, verdicts, batches, layers that cannot pay -------------------------------------

PATTERN_COST = ProportionalCostModel(NAMES, MACS, OPS, {n: 2.2 for n in NAMES},
                                     pattern_r_star={"2:4": 1.0, "channel": 1.0})
PENALTY = {"2:4": 1.3, "channel": 6.0}
PATTERNS = tuple(parse_pattern(p) for p in ("unstructured", "2:4", "channel"))


def brute_force_joint(cfg: SearchConfig) -> float:
    orc = oracle(pattern_penalty=PENALTY)
    options = []
    for n in NAMES:
        opts = [(1.0, "unstructured")]
        for p in cfg.patterns:
            alphas = [p.fixed_alpha] if p.fixed_alpha else [a for a in cfg.alpha_grid if a >= cfg.alpha_min]
            opts += [(a, str(p)) for a in alphas if PATTERN_COST.runs_sparse(n, np.array([a]), p)[0]]
        options.append(opts)
    best = 1.0
    for combo in itertools.product(*options):
        alphas = {n: a for n, (a, _) in zip(NAMES, combo)}
        pats = {n: p for n, (_, p) in zip(NAMES, combo)}
        if orc.drop(alphas, pats) <= cfg.max_drop + 1e-9:
            lat = sum(PATTERN_COST.latency(n, np.array([alphas[n]]), parse_pattern(pats[n]))[0] for n in NAMES)
            best = max(best, sum(PATTERN_COST.dense_latency(n) for n in NAMES) / lat)
    return best


def test_the_joint_search_picks_patterns_per_layer_and_beats_every_single_pattern():
    joint_cfg = SearchConfig(max_drop=0.5, patterns=PATTERNS, max_confirm=6)
    joint = dp_search(InProcessExecutor(oracle(pattern_penalty=PENALTY)), PATTERN_COST, joint_cfg)
    assert joint.constraint_met and joint.speedup >= brute_force_joint(joint_cfg) * (1 - 1e-6)
    assert set(joint.patterns.values()) <= {"2:4", "channel"} and joint.patterns
    for n, p in joint.patterns.items():
        assert joint.alphas[n] == (0.5 if p == "2:4" else joint.alphas[n])
    singles = [dp_search(InProcessExecutor(oracle(pattern_penalty=PENALTY)), PATTERN_COST,
                         SearchConfig(max_drop=0.5, patterns=(p,), max_confirm=6)) for p in PATTERNS]
    assert joint.speedup >= max(r.speedup for r in singles) * (1 - 1e-9)
    final = joint.history[-1]
    assert final.phase == "final" and final.patterns == joint.patterns


def test_verdicts_use_the_upper_end_of_the_paired_interval():
    res = dp_search(InProcessExecutor(oracle(samples=4000)), COST, CFG)
    assert res.constraint_met and res.verdict.n == 4000
    assert res.verdict.ci_high <= 0.5 + 1e-9 and res.verdict.ci_low < res.verdict.drop < res.verdict.ci_high
    assert res.test_verdict is not None and res.test_verdict.n == 4000
    point = dp_search(InProcessExecutor(oracle()), COST, CFG)
    assert res.speedup < point.speedup            # the interval costs some speedup: it is honest
    for rec in res.history:
        if rec.accepted and rec.ci_high is not None:
            assert rec.ci_high <= 0.5 + 1e-9


@pytest.mark.parametrize("search", [fig5_search, dp_search])
def test_batches_train_several_candidates_per_round_and_still_meet_the_constraint(search):
    res = search(InProcessExecutor(oracle()), COST, SearchConfig(max_drop=0.5, batch=3))
    assert res.constraint_met and res.speedup > 1.5
    again = search(InProcessExecutor(oracle()), COST, SearchConfig(max_drop=0.5, batch=3))
    assert again.alphas == res.alphas and again.counts == res.counts      # deterministic


@pytest.mark.parametrize("search", [fig5_search, dp_search])
def test_a_layer_that_cannot_pay_is_never_probed_nor_trained_sparse(search):
    cost = ProportionalCostModel(NAMES, MACS, OPS, {**{n: 2.2 for n in NAMES}, "fc1": 80.0})
    orc = oracle()
    res = search(InProcessExecutor(orc), cost, CFG)
    assert res.unpayable_layers == ("fc1",)
    assert not any("fc1" in req.alpha_dict() for req in orc.calls)
    assert res.alphas["fc1"] == 1.0 and res.constraint_met


def test_requests_carry_patterns_in_their_key_and_their_own_seed():
    a = EvalRequest.make("train", {"w": 0.5}, {"w": parse_pattern("2:4")})
    b = EvalRequest.make("train", {"w": 0.5})
    assert a.key != b.key and a.pattern_dict() == {"w": "2:4"}
    assert EvalRequest.make("train", {"w": 1.0}, {"w": "2:4"}).patterns == ()   # dense: no pattern
    assert a.seed(0) == EvalRequest.make("train", {"w": 0.5}, {"w": "2:4"}).seed(0) != a.seed(1)


def test_a_failed_most_cautious_plan_is_scaled_back_instead_of_abandoned():
    """Every layer looks free to its own probe, but pruned together they compound: the
    frontier's most cautious plan fails, and scaling it back finds a plan that passes."""
    free = {n: 0.05 for n in NAMES}
    orc = SyntheticOracle(SENS, free, interaction=0.4)
    res = dp_search(InProcessExecutor(orc), COST, CFG)
    phases = [r.phase for r in res.history]
    assert "back-off" in phases
    first = next(r for r in res.history if r.phase == "confirm")
    assert not first.accepted
    assert res.constraint_met and res.speedup > 1.2
    assert res.training_runs <= CFG.max_confirm + CFG.max_refine + 1


@pytest.mark.parametrize("search", [fig5_search, dp_search])
def test_a_final_run_that_loses_the_constraint_ships_the_candidate_it_started_from(search):
    """The final run continues from the plan's candidate; if the longer run misses the limit,
    the search ships the candidate, whose own verdict passed, and says so."""
    kept = search(InProcessExecutor(oracle(samples=4000)), COST, CFG)
    assert kept.shipped == "final run" and kept.final_run["met"]
    res = search(InProcessExecutor(oracle(samples=4000, final_loss=2.0)), COST, CFG)
    assert res.alphas == kept.alphas                      # the same plan: only the final differs
    assert res.constraint_met and res.shipped == "candidate"
    run = res.final_run
    assert not run["met"] and run["validation"]["ci_high"] > 0.5
    assert res.verdict.to_dict() == kept.verdict.to_dict()   # the candidate's own verdict
    assert res.test_verdict is not None and res.verdict.ci_high <= 0.5 + 1e-9
    last, before = res.history[-1], res.history[-2]
    assert (before.phase, before.accepted, last.phase, last.accepted) == ("final", False, "final", True)


def test_a_final_run_without_a_candidate_that_passes_is_reported_as_not_met():
    # no drop at all is allowed: the plan is dense, and neither model's interval is within 0
    res = dp_search(InProcessExecutor(oracle(samples=4000, final_loss=2.0)), COST, SearchConfig(max_drop=0.0))
    assert all(a == 1.0 for a in res.alphas.values())
    assert res.shipped == "final run" and not res.constraint_met


def test_when_the_final_run_recovers_accuracy_dp_retries_faster_plans_as_final_runs():
    """Short training runs understate what the final run reaches (here by 0.6 points): with
    the recovery measured on its first final run, DP retries as final runs the fastest plans
    whose training runs failed by less, and ships one only if its own final verdict passes."""
    cfg = SearchConfig(max_drop=0.5)
    plain = dp_search(InProcessExecutor(oracle(samples=4000, final_loss=-0.6)), COST,
                      SearchConfig(max_drop=0.5, max_climb=0))
    orc = oracle(samples=4000, final_loss=-0.6)
    res = dp_search(InProcessExecutor(orc), COST, cfg)
    finals = [r for r in res.history if r.phase == "final"]
    assert len(finals) >= 2 and res.extras["climb_recoveries"][0] == pytest.approx(0.6, abs=0.05)
    assert res.speedup > plain.speedup * 1.01 and res.constraint_met
    assert res.verdict.ci_high <= 0.5 + 1e-9
    assert any(f.accepted and f.alphas == res.alphas for f in finals)     # shipped: a passing final
    # every final retried was a plan a training run had rejected
    trained = {json.dumps(r.alphas, sort_keys=True): r.accepted for r in res.history if r.phase in ("confirm", "refine")}
    for f in finals[1:]:
        assert trained.get(json.dumps(f.alphas, sort_keys=True)) is False
    assert res.training_runs <= cfg.max_confirm + cfg.max_refine + 1 + cfg.max_climb
    assert res.counts["final"] == len(finals)
