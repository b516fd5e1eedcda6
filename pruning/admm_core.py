"""The ADMM machinery shared by the admm and progressive methods (paper 001 eq. 5-7).

Per constrained weight W_i the W-step minimizes loss + sum_i rho_i/2 * ||W_i - Z_i + U_i||_F^2
(the SQUARED Frobenius norm; some public code uses the norm itself or drops the 1/2) by
ordinary training; once per ADMM iteration Z_i <- Proj_S_i(W_i + U_i) and U_i <- U_i + W_i - Z_i.
S_i is a sparsity pattern at keep fraction alpha_i (projection: pruning.projections) or the
quantization grid (projection: nearest level).
"""
from __future__ import annotations

from typing import Callable, Mapping

import torch
from torch import nn

from pruning.errors import PruningError
from pruning.patterns import UNSTRUCTURED, Pattern
from pruning.projections import pattern_mask
from pruning.quantize import project_to_grid
from pruning.train import TrainContext, train_epochs

Projection = Callable[[str, torch.Tensor], torch.Tensor]
W_STEP_OPTIMIZERS = ("run", "sgd")


def sparse_projection(alphas: Mapping[str, float], patterns: Mapping[str, Pattern] | None = None,
                      layouts: Mapping[str, int] | None = None) -> Projection:
    """Euclidean projection onto each layer's pattern at its keep fraction."""
    patterns, layouts = patterns or {}, layouts or {}
    return lambda name, v: v * pattern_mask(v, alphas[name], patterns.get(name, UNSTRUCTURED),
                                            layouts.get(name, 0)).to(v.dtype)


def grid_projection(intervals: Mapping[str, float], bits: Mapping[str, int],
                    masks: Mapping[str, torch.Tensor | None]) -> Projection:
    """Euclidean projection onto the quantization grid, pruned entries held at zero."""
    return lambda name, v: project_to_grid(v, intervals[name], bits[name], masks.get(name))


class AdmmPenalty:
    """The ADMM state (Z, U, rho) for a set of weights: the penalty term of eq. (5) and the
    Z/U updates of eq. (7). Checkpointable through state_dict/load_state_dict (plain tensors)."""

    def __init__(self, weights: Mapping[str, nn.Parameter], project: Projection, rho: float,
                 rho_growth: float = 1.0, rho_max: float | None = None):
        if not rho > 0 or not rho_growth >= 1.0:
            raise PruningError(f"ADMM needs rho > 0 and rho_growth >= 1, got {rho}, {rho_growth}")
        self.weights, self.project = dict(weights), project
        self.rho, self.rho_growth = float(rho), float(rho_growth)
        self.rho_max = float(rho_max) if rho_max is not None else float("inf")
        with torch.no_grad():
            self.Z = {n: project(n, w.detach().clone()) for n, w in self.weights.items()}
            self.U = {n: torch.zeros_like(w) for n, w in self.weights.items()}
        self.iterations = 0
        self.residuals: list[float] = []

    def penalty(self, model: nn.Module | None = None) -> torch.Tensor:
        """sum_i rho/2 * ||W_i - Z_i + U_i||_F^2 (the argument is ignored: a loss_extra hook)."""
        total = sum(((w - self.Z[n] + self.U[n]) ** 2).sum() for n, w in self.weights.items())
        return 0.5 * self.rho * total

    @torch.no_grad()
    def update(self) -> float:
        """One Z/U update; returns the relative primal residual ||W - Z||_F / ||W||_F."""
        num = den = 0.0
        for n, w in self.weights.items():
            self.Z[n] = self.project(n, w.detach() + self.U[n])
            self.U[n] += w.detach() - self.Z[n]
            num += float(((w - self.Z[n]) ** 2).sum())
            den += float((w ** 2).sum())
        self.iterations += 1
        self.rho = min(self.rho * self.rho_growth, self.rho_max)
        residual = (num / max(den, 1e-30)) ** 0.5
        self.residuals.append(residual)
        return residual

    def every(self, steps: int) -> Callable[[int], None]:
        """An after_step hook that updates Z and U every `steps` optimizer steps."""
        return lambda step: self.update() if step % steps == 0 else None

    def state_dict(self) -> dict:
        return {"Z": self.Z, "U": self.U, "rho": self.rho, "iterations": self.iterations,
                "residuals": self.residuals}

    def load_state_dict(self, state: dict) -> None:
        self.Z, self.U = dict(state["Z"]), dict(state["U"])
        self.rho, self.iterations = float(state["rho"]), int(state["iterations"])
        self.residuals = [float(r) for r in state["residuals"]]


def run_admm(model: nn.Module, ctx: TrainContext, epochs: float, phase: str,
             weights: Mapping[str, nn.Parameter], project: Projection, *, rho: float,
             rho_growth: float = 1.0, rho_max: float | None = None, update_steps: int,
             w_step_optimizer: str = "run", w_step_lr: float | None = None,
             w_step_clip: float | None = None, masks=None) -> AdmmPenalty:
    """ADMM on `weights` (a fresh AdmmPenalty), Z/U updated every `update_steps` steps; see
    `w_step`."""
    check_w_step_optimizer(w_step_optimizer)
    admm = AdmmPenalty(weights, project, rho, rho_growth, rho_max)
    w_step(model, ctx, epochs, phase, penalty=admm.penalty, after_step=admm.every(max(1, update_steps)),
           state=admm, w_step_optimizer=w_step_optimizer, w_step_lr=w_step_lr, w_step_clip=w_step_clip,
           masks=masks)
    return admm


def check_w_step_optimizer(name: str) -> None:
    if name not in W_STEP_OPTIMIZERS:
        raise PruningError(f"ADMM W-step optimizer {name!r} is not one of {W_STEP_OPTIMIZERS}")


def w_step(model: nn.Module, ctx: TrainContext, epochs: float, phase: str, *,
           penalty: Callable[[nn.Module], torch.Tensor], after_step: Callable[[int], None], state,
           w_step_optimizer: str = "run", w_step_lr: float | None = None,
           w_step_clip: float | None = None, masks=None) -> None:
    """The ADMM W-step as training with the `penalty`, `after_step` doing the Z/U updates (an
    AdmmPenalty's own, or a pruner's that drives one). `w_step_optimizer`: "run" trains with
    the run's optimizer (ctx), "sgd" with SGD at `w_step_lr` and the run's momentum."""
    check_w_step_optimizer(w_step_optimizer)
    optimizer = None
    if w_step_optimizer == "sgd":
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad],
                                    lr=w_step_lr or ctx.lr, momentum=ctx.momentum)
    train_epochs(model, ctx, epochs, phase=phase, loss_extra=penalty, optimizer=optimizer,
                 clip_grad_norm=w_step_clip, after_step=after_step, masks=masks, state=state)
