"""Weight pruning via adaptive sparsity loss, ASL (Retsinas et al. 2020, paper 002).

Each pruned layer i has one trainable threshold b_i in units of the layer's std sigma_i
(footnote 2 parameterisation; sigma detached, b clamped to [0, 5]). The forward pass hard-prunes

    w~ = t * STE(w / t),   t = b * sigma,   STE(x) = x * [|x| >= 1] forward, identity backward

so every weight keeps receiving its full gradient (eq. 16) and b gets dL/db = sum (w~ - w)/b *
dL/dw~ (eq. 17-18) from the task loss. Sparsity is modelled as s_i = erf(b_i / sqrt 2) for
Gaussian weights, which makes the budget differentiable:

    L_s(c) = sum_i c_i (1 - s_i)                                 (eq. 8, code's normalisation)
    squared:  lambda_p (L_s(c_p) - B_p)^2 + lambda_f (L_s(c_f) - B_f)^2            (eq. 10)
    hinge:    lambda_p max(L_s(c_p) - B_p, 0) + lambda_f max(L_s(c_f) - B_f, 0)     (eq. 11)

with c_p = weights share and c_f = MAC share of each pruned layer. The MAC term is what ties the
method to hardware cost (the paper defines it, never runs it: any MAC-budget result is ours).
Layers below `min_weights` (the code's pthres = 1000) stay dense.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import torch
from torch import nn

from pruning.errors import PruningError

B_MAX = 5.0                      # clamp of b in sigma units (authors' code)
SQRT2 = math.sqrt(2.0)


class HardShrinkSTE(torch.autograd.Function):
    """Unit-bound hard shrink, eq. 13: x * [|x| >= 1]; backward is the identity (STE)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:   # type: ignore[override]
        return x * (x.abs() >= 1).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return grad


def clamp_b(b: torch.Tensor) -> torch.Tensor:
    return b.clamp(0.0, B_MAX)


def threshold(weight: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Magnitude bound b * sigma, sigma detached (the paper's remark: sigma is not learned
    through). The tiny epsilon keeps w/t finite when b = 0 (nothing pruned then)."""
    return clamp_b(b) * weight.detach().std() + 1e-12


def asl_prune(weight: torch.Tensor, b: torch.Tensor, ste: bool = True) -> torch.Tensor:
    """Hard-pruned weight used in the forward pass. ste=False multiplies by a non-differentiable
    mask instead (the paper's ablation: pruned weights freeze and b gets no task gradient)."""
    t = threshold(weight, b)
    if ste:
        return t * HardShrinkSTE.apply(weight / t)
    return weight * (weight.abs() >= t).to(weight.dtype)


def b_for_sparsity(s: float) -> float:
    """Gaussian-assumption bound, eq. 3 in sigma units: b = sqrt2 * erfinv(s)."""
    return SQRT2 * torch.erfinv(torch.tensor(float(s), dtype=torch.float64)).item()


def modelled_density(b: torch.Tensor) -> torch.Tensor:
    """1 - s = 1 - erf(b / sqrt 2): kept fraction if the layer's weights were Gaussian."""
    return 1.0 - torch.erf(clamp_b(b) / SQRT2)


def counted_density(weight: torch.Tensor, b: torch.Tensor) -> float:
    """Kept fraction actually counted (|w| >= b*sigma), the number to report."""
    w = weight.detach()
    return (w.abs() >= threshold(w, b.detach())).float().mean().item()


def hard_mask(weight: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    w = weight.detach()
    return w.abs() >= threshold(w, b.detach())


def prune_score(weight: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """|w| / (b sigma): >= 1 means kept. Global top-K on it meets an exact weight budget while
    keeping the per-layer allocation the thresholds learned."""
    w = weight.detach()
    return (w.abs() / threshold(w, b.detach())).float()


def shares(counts: Sequence[float]) -> torch.Tensor:
    """Contribution weights c_i = count_i / sum(count) (eq. 9 for weights; MACs likewise)."""
    c = torch.tensor([float(x) for x in counts], dtype=torch.float64)
    return c / c.sum()


def budget_loss(densities: torch.Tensor, c: torch.Tensor, budget: float, kind: str = "squared"
                ) -> torch.Tensor:
    """One budget term: (L_s - B)^2 (eq. 10) or max(L_s - B, 0) (eq. 11), L_s = sum c_i d_i."""
    ls = (c.to(densities.dtype) * densities).sum()
    if kind == "squared":
        return (ls - budget) ** 2
    if kind == "hinge":
        return torch.relu(ls - budget)
    raise PruningError(f"unknown ASL budget loss {kind!r}; use 'squared' or 'hinge'")


class STEThreshold(nn.Module):
    """Parametrization (torch.nn.utils.parametrize) for one ASL layer: holds b (sigma units)."""

    def __init__(self, b0: float, ste: bool = True) -> None:
        super().__init__()
        self.b = nn.Parameter(torch.tensor(float(b0)))
        self.ste = ste

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return asl_prune(weight, self.b.to(weight.dtype), self.ste)


def budgets_from_alphas(alphas: Mapping[str, float], weights: Mapping[str, int],
                        macs: Mapping[str, int]) -> tuple[float, float]:
    """(B_p, B_f) for a plan: kept-weight share and kept-MAC share over the pruned layers if
    layer i kept alpha_i of its weights (MACs scale with density, paper §3.1)."""
    tw = sum(weights[n] for n in alphas)
    tm = sum(macs[n] for n in alphas)
    bp = sum(alphas[n] * weights[n] for n in alphas) / tw
    bf = sum(alphas[n] * macs[n] for n in alphas) / tm if tm else bp
    return bp, bf
