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

Optimizers: with SGD, tau is the raw threshold with lr = eta * 1e-5 (paper: 1e-5..1e-7). Adam
ignores gradient size, so there tau is learned in units of the layer's mean w^2 with an lr sized
to the pruning window (ours, not the paper's); the balance point, hence the sparsity, is the same.
LTP has no budget; to meet a plan's weight count the backend picks a trail checkpoint within it
(on a validation hold-out) or cuts the learned masks down to it (see Options.budget).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from pruning.protocol import CompressionResult, Targets, prunable_weights
from pruning.masks import apply_masks
from pruning.projections import keep_count
from pruning.support import (attach, build_result, detach, holdout, keep_at_least_one,
                                    optimizer_with_thresholds, project_learned, resolve, shrink_to_budget)
from pruning.methods.options import LtpOptions
from pruning.train import TrainContext, evaluate, quality, train_epochs


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
    transition width. Positive = kept by eq. 1; the order in which to cut a layer further."""
    w = weight.detach()
    return ((w * w - tau.detach()) / temp).float()


TAU_TRAVEL = 50.0   # Adam auto lr: tau / mean(w^2) can move this far over the pruning window,
TAU_STEP_MAX = 0.3  # but at most this far per step (short runs would otherwise overshoot)


class SoftThreshold(nn.Module):
    """A parametrization (torch.nn.utils.parametrize) that turns a layer's weight into its
    soft-pruned version; holds the learned threshold and the fixed temperature.

    tau = tau_param * scale. scale = 1 gives the paper's raw threshold (SGD with eta_tau/eta of
    1e-5..1e-7); for Adam, whose steps ignore gradient size, scale = mean(w^2) of the layer makes
    the learned number dimensionless, so one learning rate suits every layer. Either way the
    stationary point (task gradient = lambda x L0 gradient) and so the sparsity are the same.
    `hard` switches the forward pass to eq. 1 for trail evaluations."""

    def __init__(self, weight: torch.Tensor, t0: float = 1e-3, tau0: float = 0.0,
                 exact: bool = False, scale: float = 1.0) -> None:
        super().__init__()
        self.tau_param = nn.Parameter(torch.tensor(float(tau0) / scale, dtype=weight.dtype))
        self.register_buffer("temp", temperature(weight, t0))
        self.register_buffer("scale", torch.tensor(float(scale), dtype=weight.dtype))
        self.exact = exact
        self.hard = False

    @property
    def tau(self) -> torch.Tensor:
        return self.tau_param * self.scale

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if self.hard:
            return weight * hard_mask(weight, self.tau).to(weight.dtype)
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


class LTPBackend:
    """Learned threshold pruning (Azarian et al. 2020): per-layer thresholds learned with soft L0.

    Targets: the alphas pick the layers and a total weight budget sum(round(alpha_i n_i));
    LTP learns its own per-layer split. lam_n sets how far it prunes by itself; `budget`
    says how the budget is then met (trail checkpoint, cut, or not at all)."""
    name: ClassVar[str] = "ltp"

    Options = LtpOptions

    def __init__(self, options: LtpOptions | None = None) -> None:
        self.options = options or self.Options()

    def compress(self, model: nn.Module, targets: Targets, ctx: TrainContext) -> CompressionResult:
        started = time.perf_counter()
        o = self.options
        weights = prunable_weights(model)
        plan = resolve(model, targets)
        alphas = plan.alphas
        accuracy_dense = evaluate(model, ctx.data)
        train_ctx, val = holdout(ctx)
        raw = {n: weights[n] for n in alphas}
        total = sum(w.numel() for w in raw.values())
        budget = sum(keep_count(w.numel(), alphas[n]) for n, w in raw.items())
        lam = o.lam_n / total
        sgd = ctx.optimizer == "sgd"
        prune_epochs = ctx.epochs * o.prune_share
        # auto with Adam: let tau/mean(w^2) travel up to ~TAU_TRAVEL over the pruning window,
        # so the lambda balance, not the step size, decides where the thresholds stop
        ratio = o.tau_lr_ratio or (1e-5 if sgd else min(
            TAU_TRAVEL / max(train_ctx.steps(prune_epochs), 1), TAU_STEP_MAX) / ctx.lr)
        soft = attach(model, raw, lambda n, w: SoftThreshold(
            w, o.t0, 0.0, o.exact_grad, 1.0 if sgd else float(w.detach().pow(2).mean())))
        opt = optimizer_with_thresholds(model, train_ctx, [p.tau_param for p in soft.values()], ratio)

        def loss_extra(_model: nn.Module) -> torch.Tensor:
            return lam * sum(soft[n].l0(w) for n, w in raw.items())

        points = max(1, o.trail_points)
        history: list[dict] = []
        trail: list[TrailPoint] = []
        picked: tuple[int, dict, dict] | None = None      # only the pick is kept: memory
        for k in range(points):
            history += train_epochs(model, train_ctx, prune_epochs / points, phase=f"ltp-prune{k + 1}",
                                    loss_extra=loss_extra, optimizer=opt)
            kept = sum(int(hard_mask(w, soft[n].tau).sum()) for n, w in raw.items())
            for p in soft.values():
                p.hard = True
            accuracy = quality(model, val)       # the metric, higher is better
            for p in soft.values():
                p.hard = False
            trail.append(TrailPoint(prune_epochs * (k + 1) / points, kept, total, accuracy))
            history.append({"phase": "ltp-trail", "epoch": trail[-1].epoch, "kept": kept,
                            "ratio": trail[-1].ratio, "val_accuracy": accuracy})
            if o.budget == "trail" and pick_from_trail(trail, budget) == k:
                picked = (k, {n: w.detach().clone() for n, w in raw.items()},
                          {n: p.tau_param.detach().clone() for n, p in soft.items()})

        index = len(trail) - 1
        if picked is not None and picked[0] != index:      # go back to the picked checkpoint
            index = picked[0]
            with torch.no_grad():
                for n, w in raw.items():
                    w.copy_(picked[1][n])
                    soft[n].tau_param.copy_(picked[2][n])
        scores = {n: prune_score(w, soft[n].tau, soft[n].temp) for n, w in raw.items()}
        masks = keep_at_least_one({n: s > 0 for n, s in scores.items()}, scores)
        kept = sum(int(m.sum()) for m in masks.values())
        cut = o.budget != "free" and kept > budget
        if cut:
            masks = shrink_to_budget(scores, masks, budget)
        history.append({"phase": "ltp-select", "trail_index": index, "kept_learned": kept,
                        "budget": budget, "cut_to_budget": cut,
                        "taus": {n: float(p.tau.detach()) for n, p in soft.items()}})
        masks = project_learned(scores, masks, plan)
        detach(model)
        apply_masks(raw, masks)
        history += train_epochs(model, train_ctx, ctx.epochs - prune_epochs, phase="ltp-finetune",
                                masks=masks)
        return build_result(self.name, model, masks, plan, targets, accuracy_dense, ctx, history,
                            ctx.epochs, started, exact=False)


Backend = LTPBackend
