"""Learned threshold pruning, LTP (Azarian et al. 2020, paper 003).

Each pruned layer l learns a threshold tau_l on the *squared* weight. Training uses soft pruning

    v = w * sigmoid((w^2 - tau_l) / T_l),      T_l = T0 * Var(|w_l|)        (eq. 2, 15)

with the soft-L0 regulariser  lambda * sum_l sum_k sigmoid((w^2 - tau_l)/T_l)  (eq. 6, 9) whose
gradient reaches only tau (weights are detached inside it). The weight gradient follows eq. 14:
the sigmoid is held constant w.r.t. w (dv/dw = sigmoid), because the exact gradient (eq. 3/12)
opens a gap around tau and stalls pruning (paper Fig. 1 right; `exact=True` keeps it for the
ablation). After training the net is hard-pruned with w^2 > tau_l (eq. 1). Periodic hard-pruned
evaluations form the "trail" of progressively sparser checkpoints to pick from.

T_l is computed once when a layer is wrapped and kept fixed (the paper leaves open whether it is
recomputed; fixed keeps the transition width from drifting as weights shrink).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


def temperature(weight: torch.Tensor, t0: float) -> torch.Tensor:
    """T_l = T0 * Var(|w_l|) (eq. 15), detached: a constant of the layer, not a learned thing."""
    return (t0 * weight.detach().abs().var()).clamp_min(torch.finfo(weight.dtype).tiny)


def soft_prune(weight: torch.Tensor, tau: torch.Tensor, temp: torch.Tensor,
               exact: bool = False) -> torch.Tensor:
    """v = w * sigmoid((w^2 - tau)/T). exact=False: eq. 14, the sigmoid's input uses a detached
    w, so dv/dw = sigmoid(.) while dv/dtau = -1/2 sigma_T(w) stays exact (eq. 3)."""
    w_in = weight if exact else weight.detach()
    return weight * torch.sigmoid((w_in * w_in - tau) / temp)


def soft_l0(weight: torch.Tensor, tau: torch.Tensor, temp: torch.Tensor,
            exact: bool = False) -> torch.Tensor:
    """Soft count of surviving weights (eq. 6). Weights detached unless exact: L0 moves tau only."""
    w = weight if exact else weight.detach()
    return torch.sigmoid((w * w - tau) / temp).sum()


def hard_mask(weight: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """Eq. 1: keep w with w^2 > tau."""
    w = weight.detach()
    return (w * w) > tau.detach()


def prune_score(weight: torch.Tensor, tau: torch.Tensor, temp: torch.Tensor) -> torch.Tensor:
    """(w^2 - tau)/T: how far above its layer's threshold a weight sits, in units of the layer's
    transition width. Positive = kept by eq. 1. Ranking all layers by it and keeping the top K
    meets an exact weight budget while keeping the per-layer allocation LTP learned."""
    w = weight.detach()
    return ((w * w - tau.detach()) / temp).float()


class SoftThreshold(nn.Module):
    """A parametrization (torch.nn.utils.parametrize) that turns a layer's weight into its
    soft-pruned version; holds the learned tau and the fixed temperature."""

    def __init__(self, weight: torch.Tensor, t0: float = 1e-3, tau0: float = 0.0,
                 exact: bool = False) -> None:
        super().__init__()
        self.tau = nn.Parameter(torch.tensor(float(tau0), dtype=weight.dtype))
        self.register_buffer("temp", temperature(weight, t0))
        self.exact = exact

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return soft_prune(weight, self.tau, self.temp, self.exact)

    def l0(self, weight: torch.Tensor) -> torch.Tensor:
        return soft_l0(weight, self.tau, self.temp, self.exact)


@dataclass(frozen=True)
class TrailPoint:
    """One hard-pruned evaluation during LTP training."""
    epoch: float
    kept: int
    total: int
    accuracy: float

    @property
    def ratio(self) -> float:
        return self.total / max(self.kept, 1)


def pick_from_trail(trail: list[TrailPoint], budget: int) -> int | None:
    """Index of the trail checkpoint to keep: among those within the weight budget, the most
    accurate (earliest on ties); None if no checkpoint reached the budget."""
    within = [i for i, p in enumerate(trail) if p.kept <= budget]
    if not within:
        return None
    return max(within, key=lambda i: (trail[i].accuracy, -i))
