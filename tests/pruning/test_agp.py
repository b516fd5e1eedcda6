"""AGP (paper 004): the cubic schedule, when masks move, and the three modes."""
import pytest
import torch

from pruning.support import ResolvedTargets
from pruning.methods.agp import AGPPruner, CubicSchedule, layer_windows
from pruning.errors import PruningError

# s_i = 0, s_f = 0.9, n = 10 at k = 0..10 (digest B.2, checked by hand from eq. 1)
REFERENCE = [0.0, 0.2439, 0.4392, 0.5913, 0.7056, 0.7875, 0.8424, 0.8757, 0.8928, 0.8991, 0.9]


def test_cubic_schedule_matches_eq1_reference_values():
    sched = CubicSchedule(t0=50, n=10, dt=7)
    got = [sched.sparsity(50 + 7 * k, 0.9) for k in range(11)]
    assert got == pytest.approx(REFERENCE, abs=5e-5)


def test_schedule_holds_between_updates_and_freezes_after_end():
    sched = CubicSchedule(t0=10, n=4, dt=5)
    assert sched.sparsity(9, 0.8) == 0.0                       # before t0: dense
    assert sched.sparsity(16, 0.8) == sched.sparsity(15, 0.8)  # held until the next update
    assert sched.end_step == 30
    assert sched.sparsity(1000, 0.8) == pytest.approx(0.8)
    updates = [t for t in range(0, 60) if sched.is_update_step(t)]
    assert updates == [10, 15, 20, 25, 30]


def test_nonzero_initial_sparsity_and_linear_exponent():
    sched = CubicSchedule(t0=0, n=2, dt=1, exponent=1.0)
    assert [sched.sparsity(t, 0.9, 0.5) for t in (0, 1, 2)] == pytest.approx([0.5, 0.7, 0.9])


def test_bad_schedule_is_rejected():
    with pytest.raises(PruningError, match="n >= 1"):
        CubicSchedule(n=0)


def _plan(alphas):
    return ResolvedTargets(dict(alphas), {}, {n: 0 for n in alphas}, {})


def _weights(seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"a": torch.randn(20, 10, generator=g), "b": torch.randn(100, generator=g) * 0.1}


def test_layerwise_masks_follow_schedule_and_are_monotone():
    w = _weights()
    pruner = AGPPruner(_plan({"a": 0.1, "b": 0.5}), CubicSchedule(t0=0, n=4, dt=2))
    previous = None
    for t in range(0, 12):
        masks = pruner.step(t, w)
        if t % 2 or t > 8:
            assert masks is None
            continue
        alphas = pruner.target_alphas(t)
        assert int(masks["a"].sum()) == round(alphas["a"] * 200)
        if previous is not None:
            assert not (masks["a"] & ~previous).any()          # pruned weights never return
        previous = masks["a"].clone()
        w = {k: v + 0.3 * torch.randn_like(v) for k, v in w.items()}   # training moves weights
    assert int(previous.sum()) == 20


def test_global_mode_ranks_layers_together():
    w = _weights()
    pruner = AGPPruner(_plan({"a": 1.0, "b": 1.0}), CubicSchedule(t0=0, n=1, dt=1), mode="global",
                       global_alpha=0.2)
    masks = pruner.step(1, w)
    assert int(masks["a"].sum()) + int(masks["b"].sum()) == 60
    assert int(masks["b"].sum()) < 5            # b's weights are 10x smaller: pruned first


def test_layerwise_constant_prunes_one_layer_at_a_time():
    sched = CubicSchedule(t0=0, n=4, dt=1)
    windows = layer_windows(sched, ["a", "b"])
    assert (windows["a"].t0, windows["a"].end_step) == (0, 2)
    assert (windows["b"].t0, windows["b"].end_step) == (2, 4)
    pruner = AGPPruner(_plan({"a": 0.5, "b": 0.5}), sched, mode="layerwise_constant")
    assert pruner.target_alphas(2) == pytest.approx({"a": 0.5, "b": 1.0})
    assert pruner.target_alphas(4) == pytest.approx({"a": 0.5, "b": 0.5})


def test_global_mode_needs_a_global_alpha():
    with pytest.raises(PruningError, match="global"):
        AGPPruner(_plan({"a": 0.5}), CubicSchedule(), mode="global")


def test_layer_windows_with_fewer_updates_than_layers_end_within_training():
    """layerwise_constant with a short budget: every layer's window ends in the pruning
    interval, so every layer reaches its target (each once had a window past the last step)."""
    from pruning.methods.agp import CubicSchedule, layer_windows
    schedule = CubicSchedule(t0=3, n=2, dt=4)
    windows = layer_windows(schedule, [f"l{i}" for i in range(5)])
    ends = [w.end_step for w in windows.values()]
    assert ends == sorted(ends) and ends[-1] == schedule.end_step and all(e >= schedule.t0 for e in ends)
    assert all(w.sparsity(schedule.end_step, 0.5) == 0.5 for w in windows.values())
