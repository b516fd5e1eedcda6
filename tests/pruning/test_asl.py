"""ASL (paper 002): STE, eq. 16-19 gradients, the erf sparsity model, budgets, clamping."""
import math

import pytest
import torch

from pruning.methods.asl import (B_MAX, STEThreshold, asl_prune, b_for_sparsity, budget_loss,
                         budgets_from_alphas, counted_density, modelled_density, shares)
from pruning.errors import PruningError


def _w(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, generator=g, dtype=torch.float64).requires_grad_()


def test_forward_prunes_below_b_sigma_and_ste_passes_full_gradient():
    w, b = _w(), torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    up = torch.linspace(-1, 1, 200, dtype=torch.float64)
    out = asl_prune(w, b)
    t = w.detach().std()
    pruned = w.detach().abs() < t
    assert (out[pruned] == 0).all() and torch.allclose(out[~pruned], w.detach()[~pruned])
    (out * up).sum().backward()
    assert torch.equal(w.grad, up)                              # eq. 16: dw~/dw = 1 for all
    wt = out.detach()
    assert b.grad.item() == pytest.approx(((wt - w.detach()) / 1.0 * up).sum().item(), rel=1e-10)  # eq. 18
    assert b.grad.item() == pytest.approx(-(w.detach()[pruned] * up[pruned]).sum().item(), rel=1e-10)


def test_without_ste_pruned_weights_freeze_and_threshold_gets_no_task_gradient():
    w, b = _w(), torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    asl_prune(w, b, ste=False).sum().backward()
    pruned = w.detach().abs() < w.detach().std()
    assert (w.grad[pruned] == 0).all() and (w.grad[~pruned] == 1).all()
    assert b.grad is None or b.grad.item() == 0.0


def test_sparsity_model_gradient_eq19_and_finite_differences():
    b = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    modelled_density(b).backward()
    assert b.grad.item() == pytest.approx(-math.sqrt(2 / math.pi) * math.exp(-1.3 ** 2 / 2), rel=1e-12)
    eps = 1e-6
    fd = (modelled_density(torch.tensor(1.3 + eps, dtype=torch.float64))
          - modelled_density(torch.tensor(1.3 - eps, dtype=torch.float64))) / (2 * eps)
    assert b.grad.item() == pytest.approx(fd.item(), rel=1e-7)


def test_gaussian_bound_eq3_hits_the_requested_sparsity_on_gaussian_weights():
    assert b_for_sparsity(0.85) == pytest.approx(1.4395, abs=1e-4)
    w = torch.randn(400_000, generator=torch.Generator().manual_seed(1))
    density = counted_density(w, torch.tensor(b_for_sparsity(0.85)))
    assert density == pytest.approx(0.15, abs=0.002)
    assert modelled_density(torch.tensor(b_for_sparsity(0.85))).item() == pytest.approx(0.15, abs=1e-6)


def test_threshold_is_clamped_to_zero_and_five_sigma():
    w = _w().detach()
    assert torch.allclose(asl_prune(w, torch.tensor(-2.0, dtype=torch.float64)), w, rtol=1e-12)  # dense
    assert torch.equal(asl_prune(w, torch.tensor(9.0, dtype=torch.float64)),
                       asl_prune(w, torch.tensor(B_MAX, dtype=torch.float64)))
    assert modelled_density(torch.tensor(-1.0)).item() == 1.0


def test_budget_losses_squared_and_hinge():
    d = torch.tensor([0.5, 0.1], dtype=torch.float64, requires_grad=True)
    c = shares([100, 300])                                       # c = [0.25, 0.75]
    ls = 0.25 * 0.5 + 0.75 * 0.1
    assert budget_loss(d, c, 0.15).item() == pytest.approx((ls - 0.15) ** 2)
    assert budget_loss(d, c, 0.15, "hinge").item() == pytest.approx(ls - 0.15)
    assert budget_loss(d, c, 0.5, "hinge").item() == 0.0         # under budget: no pull
    budget_loss(d, c, 0.15).backward()
    assert d.grad.tolist() == pytest.approx([2 * (ls - 0.15) * 0.25, 2 * (ls - 0.15) * 0.75])
    with pytest.raises(PruningError, match="hinge"):
        budget_loss(d, c, 0.1, "cubic")


def test_budgets_from_a_plan_weight_and_mac_shares():
    bp, bf = budgets_from_alphas({"conv": 0.5, "fc": 0.1}, {"conv": 100, "fc": 900},
                                 {"conv": 9000, "fc": 900})
    assert bp == pytest.approx((50 + 90) / 1000)
    assert bf == pytest.approx((4500 + 90) / 9900)


def test_parametrization_holds_one_threshold():
    p = STEThreshold(b_for_sparsity(0.5))
    w = torch.randn(1000, generator=torch.Generator().manual_seed(0))
    assert [n for n, _ in p.named_parameters()] == ["b"]
    assert (p(w) == 0).float().mean().item() == pytest.approx(0.5, abs=0.05)
