"""LTP (paper 003): soft pruning, eq. 3 / 7 / 14 gradients, hard pruning, the trail."""
import pytest
import torch

from pruning.methods.ltp import (SoftThreshold, TrailPoint, hard_mask, pick_from_trail, prune_score,
                         soft_l0, soft_prune, temperature)


def _w(n=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, generator=g, dtype=torch.float64) * 0.3).requires_grad_()


def test_temperature_is_t0_times_variance_of_abs_weights():
    w = _w()
    assert temperature(w, 1e-3).item() == pytest.approx(1e-3 * w.detach().abs().var().item())
    assert not temperature(w, 1e-3).requires_grad


def test_threshold_gradient_matches_eq3():
    w, tau, T = _w(), torch.tensor(0.04, dtype=torch.float64, requires_grad=True), torch.tensor(0.01, dtype=torch.float64)
    up = torch.linspace(-1, 1, 50, dtype=torch.float64)
    (soft_prune(w, tau, T) * up).sum().backward()
    s = torch.sigmoid((w.detach() ** 2 - 0.04) / 0.01)
    sigma_t = 2 * w.detach() / 0.01 * s * (1 - s)                    # eq. 4
    assert tau.grad.item() == pytest.approx((up * -0.5 * sigma_t).sum().item(), rel=1e-10)


def test_weight_gradient_is_eq14_sigmoid_held_constant():
    w, tau, T = _w(), torch.tensor(0.04, dtype=torch.float64), torch.tensor(0.01, dtype=torch.float64)
    up = torch.linspace(-1, 1, 50, dtype=torch.float64)
    (soft_prune(w, tau, T) * up).sum().backward()
    s = torch.sigmoid((w.detach() ** 2 - 0.04) / 0.01)
    assert torch.allclose(w.grad, s * up, rtol=1e-12)


def test_exact_weight_gradient_matches_finite_differences():
    w, tau, T = _w(8), torch.tensor(0.04, dtype=torch.float64), torch.tensor(0.01, dtype=torch.float64)
    soft_prune(w, tau, T, exact=True).sum().backward()
    eps = 1e-6
    fd = torch.stack([(soft_prune(w.detach() + eps * e, tau, T).sum()
                       - soft_prune(w.detach() - eps * e, tau, T).sum()) / (2 * eps)
                      for e in torch.eye(8, dtype=torch.float64)])
    assert torch.allclose(w.grad, fd, rtol=1e-6, atol=1e-9)
    s = torch.sigmoid((w.detach() ** 2 - 0.04) / 0.01)               # eq. 3 closed form
    assert torch.allclose(w.grad, s + 2 * w.detach() ** 2 / 0.01 * s * (1 - s), rtol=1e-10)


def test_soft_l0_moves_only_the_threshold_eq7():
    w, tau, T = _w(), torch.tensor(0.02, dtype=torch.float64, requires_grad=True), torch.tensor(0.01, dtype=torch.float64)
    soft_l0(w, tau, T).backward()
    s = torch.sigmoid((w.detach() ** 2 - 0.02) / 0.01)
    assert tau.grad.item() == pytest.approx((-(1 / 0.01) * s * (1 - s)).sum().item(), rel=1e-10)
    assert w.grad is None                       # no regulariser gradient on weights (eq. 14)
    # central finite difference in tau
    eps = 1e-7
    fd = (soft_l0(w, tau.detach() + eps, T) - soft_l0(w, tau.detach() - eps, T)) / (2 * eps)
    assert tau.grad.item() == pytest.approx(fd.item(), rel=1e-6)


def test_hard_mask_is_w_squared_above_tau_and_soft_tends_to_hard():
    w = torch.tensor([-0.3, -0.1, 0.0, 0.15, 0.25])
    tau = torch.tensor(0.02)
    assert hard_mask(w, tau).tolist() == [True, False, False, True, True]
    assert (prune_score(w, tau, torch.tensor(1.0)) > 0).tolist() == hard_mask(w, tau).tolist()
    gaps = [(soft_prune(w, tau, torch.tensor(t)) - w * hard_mask(w, tau)).abs().max().item()
            for t in (1e-2, 1e-3, 1e-5)]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-6


def test_parametrization_carries_tau_and_fixed_temperature():
    w = torch.randn(30, 4)
    p = SoftThreshold(w, t0=1e-3, tau0=0.01)
    assert p.temp.item() == pytest.approx(1e-3 * w.abs().var().item())
    assert [n for n, _ in p.named_parameters()] == ["tau_param"]
    assert torch.allclose(p(w), soft_prune(w, p.tau, p.temp))


def test_trail_pick_is_the_most_accurate_checkpoint_within_budget():
    trail = [TrailPoint(1, 500, 1000, 0.90), TrailPoint(2, 300, 1000, 0.88),
             TrailPoint(3, 250, 1000, 0.89), TrailPoint(4, 200, 1000, 0.85)]
    assert pick_from_trail(trail, 300) == 2
    assert pick_from_trail(trail, 100) is None
    assert trail[3].ratio == 5.0
