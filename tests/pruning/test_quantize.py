import numpy as np
import pytest
import torch

from pruning.protocol import Targets, prunable_weights
from pruning.masks import check_sparsity
from pruning.methods import get_backend
from pruning.quantize import GridTrainer, fit_interval, half_levels, on_grid, project_to_grid
from pruning.train import TrainContext


def test_levels_have_no_zero_and_saturate():
    v = torch.tensor([0.0, 0.1, -0.2, 0.74, 0.76, -9.0, 3.0])
    out = project_to_grid(v, q=0.5, bits=3)                 # levels ±0.5 .. ±2.0
    assert out.tolist() == [0.5, 0.5, -0.5, 0.5, 1.0, -2.0, 2.0]
    mask = torch.tensor([False, True, True, True, True, True, False])
    assert project_to_grid(v, 0.5, 3, mask).tolist() == [0.0, 0.5, -0.5, 0.5, 1.0, -2.0, 0.0]
    assert half_levels(2) == 2 and half_levels(3) == 4


def test_fit_interval_minimizes_squared_error():
    rng = np.random.default_rng(1)
    w = rng.laplace(0, 0.05, 3000)
    w[rng.random(3000) < 0.7] = 0.0                          # pruned entries do not count
    q = fit_interval(torch.tensor(w), bits=3)
    nz = w[w != 0]

    def err(qq):
        return float(((torch.tensor(nz) - project_to_grid(torch.tensor(nz), qq, 3)) ** 2).sum())
    brute = min(np.linspace(1e-4, 0.2, 4001), key=err)
    assert err(q) <= err(brute) * (1 + 1e-3)


def test_paper_figure_3_example():
    # paper 001 Fig. 3: q = 0.5, n = 3 -> levels {-4..-1, 1..4} * 0.5
    w = torch.tensor([1.9, -1.1, 0.6, -0.4, 0.0, 2.4])
    mask = w != 0
    assert (project_to_grid(w, 0.5, 3, mask) / 0.5).tolist() == [4.0, -2.0, 1.0, -1.0, 0.0, 4.0]


def test_grid_trainer_moves_weights_between_levels():
    p = torch.nn.Parameter(torch.tensor([0.5, -0.5, 1.0]))
    grid = GridTrainer({"w": p}, {"w": 0.5}, {"w": 2})
    for _ in range(3):                                      # three small optimizer steps of +0.1
        with torch.no_grad():
            p += 0.1
        grid(1)
    assert p.tolist() == [1.0, -0.5, 1.0]                    # latent 0.8 -> level 2; -0.2 -> -1
    assert on_grid(p.detach(), 0.5, 2)


@pytest.fixture(scope="module")
def joint_result(pretrained):
    model, ds = pretrained()
    alphas = {"fc1.weight": 0.1, "fc2.weight": 0.2}
    bits = {"fc1.weight": 2, "fc2.weight": 2, "fc3.weight": 3}
    backend = get_backend("admm", update_every=10, update_unit="steps", rho=0.1)
    res = backend.compress(model, Targets(alphas=alphas, bits=bits), TrainContext(ds, epochs=6, batch_size=32, lr=1e-2))
    return res, alphas, bits


def test_joint_mode_keeps_masks_and_never_collapses_kept_weights(joint_result):
    res, alphas, bits = joint_result
    weights = prunable_weights(res.model)
    check_sparsity({n: res.masks[n] for n in alphas}, alphas, weights)          # no pruned weight came back
    intervals = res.history[-1]["intervals"]
    for name, b in bits.items():
        w, m = weights[name].detach(), res.masks[name]
        assert (w[m] != 0).all(), f"{name}: a kept weight collapsed to zero"
        assert on_grid(w, intervals[name], b, m)
        assert len(torch.unique(w[m])) <= 2 ** b
    assert [l.bits for l in res.layers] == [2, 2, 3]
    assert res.accuracy > 0.8
