"""Progressive ADMM (paper 000): stage targets, rho = 0 for layers not pruned further, and the
pool bookkeeping of Fig. 2 under both readings of the selection rule."""
import math

import pytest
import torch

from pruning.errors import PruningError
from pruning.methods.progressive import (StageResult, fraction_for_rate, run_progressive, stage_alphas,
                                 stage_rhos)

NUMELS = {"conv": 100, "fc": 1000}
TARGETS = {"conv": 0.5, "fc": 1 / 30}


def test_stage_alphas_follow_the_log_path_to_the_targets():
    assert stage_alphas(TARGETS, 1.0) == pytest.approx(TARGETS)
    half = stage_alphas(TARGETS, 0.5)
    assert half["fc"] == pytest.approx(math.sqrt(1 / 30))
    assert fraction_for_rate(15, 30) == pytest.approx(math.log(15) / math.log(30))
    assert stage_alphas({"fc": 1 / 30}, fraction_for_rate(15, 30))["fc"] == pytest.approx(1 / 15)
    with pytest.raises(PruningError):
        fraction_for_rate(40, 30)


def test_rho_is_zero_for_layers_not_pruned_further():
    parent = {"conv": torch.zeros(100, dtype=torch.bool), "fc": torch.zeros(1000, dtype=torch.bool)}
    parent["conv"][:50] = True                  # conv already at its target 0.5
    parent["fc"][:100] = True
    rhos = stage_rhos(parent, {"conv": 0.5, "fc": 0.05}, NUMELS, 1.5e-3)
    assert rhos == {"conv": 0.0, "fc": 1.5e-3}
    assert stage_rhos(None, {"conv": 1.0, "fc": 0.5}, NUMELS, 3e-3) == {"conv": 0.0, "fc": 3e-3}


def _scripted(accuracy):
    """A stage that 'trains' instantly: accuracy(parent_fraction, fraction) decides the score."""
    calls = []

    def stage(parent, alphas, rhos):
        pf = None if parent is None else parent.fraction
        f = math.log(alphas["fc"]) / math.log(TARGETS["fc"])
        calls.append((pf, round(f, 6), dict(rhos)))
        masks = {n: torch.ones(NUMELS[n], dtype=torch.bool) for n in NUMELS}
        for n, a in alphas.items():
            masks[n][round(a * NUMELS[n]):] = False
        return StageResult({}, masks, accuracy(pf, round(f, 6)))
    return stage, calls


RATES = [15, 18, 21, 24, 27, 30]
F = {r: round(fraction_for_rate(r, 30), 6) for r in RATES}


def test_try_all_reproduces_the_papers_figure2_walk():
    # The paper's example: 24x is best reached from 15x, 27x from 18x, 30x from 24x.
    best_parent = {F[24]: F[15], F[27]: F[18], F[30]: F[24]}

    def acc(pf, f):
        return 0.9 if pf is not None and best_parent.get(f) == round(pf, 6) else 0.5
    stage, calls = _scripted(acc)
    best, log = run_progressive(stage, TARGETS, NUMELS, tuple(F[r] for r in RATES[:3]),
                                tuple(F[r] for r in RATES[3:5]), 1.5e-3, "try_all")
    assert [c[0] for c in calls[:3]] == [None, None, None]         # pool built from dense
    assert len(calls) == 3 + 3 * 3                                  # 3 candidates per step
    kept = [r for r in log.runs if r["kept"] and r["parent"] is not None]
    assert [(round(r["parent"], 6), round(r["fraction"], 6)) for r in kept] == \
        [(F[15], F[24]), (F[18], F[27]), (F[24], F[30])]
    assert [round(r["evicted"], 6) for r in kept] == [F[15], F[18], F[24]]
    assert tuple(round(f, 6) for f in best.path) == (F[15], F[24], F[30])   # the 15->24->30 chain
    assert best.fraction == 1.0 and best.accuracy == 0.9


def test_best_parent_runs_one_stage_per_step_from_the_most_accurate_pool_model():
    pool_acc = {F[15]: 0.7, F[18]: 0.8, F[21]: 0.6}

    def acc(pf, f):
        return pool_acc[f] if pf is None else 0.75
    stage, calls = _scripted(acc)
    best, log = run_progressive(stage, TARGETS, NUMELS, tuple(F[r] for r in RATES[:3]), (),
                                1.5e-3, "best_parent")
    assert len(calls) == 4                                          # pool + one final stage
    assert round(calls[-1][0], 6) == F[18]                          # parent = most accurate
    assert best.fraction == 1.0
    assert calls[-1][2] == {"conv": 1.5e-3, "fc": 1.5e-3}


def test_linear_chain_and_rho_zero_once_a_layer_reached_its_target():
    stage, calls = _scripted(lambda pf, f: 0.5)
    run_progressive(stage, {"conv": 1.0, "fc": 0.1}, NUMELS, (0.5,), (), 1e-3, "try_all")
    assert calls[0][2] == {"conv": 0.0, "fc": 1e-3}                 # conv is never pruned
    assert calls[1][2] == {"conv": 0.0, "fc": 1e-3}


def test_fractions_must_increase():
    stage, _ = _scripted(lambda pf, f: 0.5)
    with pytest.raises(PruningError, match="increase"):
        run_progressive(stage, TARGETS, NUMELS, (0.6, 0.5), (), 1e-3)
    with pytest.raises(PruningError, match="selection"):
        run_progressive(stage, TARGETS, NUMELS, (0.5,), (), 1e-3, "random")


def test_the_stage_that_reaches_the_targets_uses_rho_final():
    stage, calls = _scripted(lambda pf, f: 0.5)
    run_progressive(stage, TARGETS, NUMELS, (0.5, 0.8), (), 1.5e-3, "best_parent", rho_final=3e-3)
    assert [max(c[2].values()) for c in calls] == [1.5e-3, 1.5e-3, 3e-3]


def test_backend_counts_stage_runs_for_the_epoch_split():
    from pruning.methods import get_backend
    assert get_backend("progressive", pool="0.8,0.85,0.9", steps="0.93,0.97").runs()[2] == 3 + 3 * 3
    assert get_backend("progressive", pool="0.5", selection="best_parent").runs()[2] == 2
    with pytest.raises(PruningError, match="comma-separated"):
        get_backend("progressive", pool="half").runs()
