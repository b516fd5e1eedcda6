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

The erf model assumes Gaussian weights; trained layers are heavier-tailed, so the counted
sparsity can miss the budget (the digest measured ~88% for an 85% target). The backend reports
counted and modelled shares and, by default, cuts the learned masks to the weight budget.
With Adam the threshold lr is sized to the training window (SGD: lr/100, the authors' code).
"""
from __future__ import annotations

import math
import time
from typing import ClassVar, Mapping, Sequence

import torch
from torch import nn

from pruning.protocol import CompressionResult, Targets, prunable_weights
from pruning.errors import PruningError
from pruning.masks import apply_masks
from pruning.support import (attach, build_result, detach, exclude, keep_at_least_one,
                                    layer_macs, optimizer_with_thresholds, project_learned, resolve,
                                    shrink_to_budget)
from pruning.methods.options import AslOptions
from pruning.train import TrainContext, evaluate, train_epochs

B_MAX = 5.0                      # clamp of b in sigma units (authors' code)
SQRT2 = math.sqrt(2.0)
B_TRAVEL = 10.0                  # Adam auto lr: b may move this many sigmas over training,
B_STEP_MAX = 0.05                # but at most this many per step (short runs overshoot)


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


def prune_score(weight: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """|w| / (b sigma): >= 1 means kept; the order in which to cut a layer further."""
    w = weight.detach()
    return (w.abs() / threshold(w, b.detach())).float()


def shares(counts: Sequence[float]) -> torch.Tensor:
    """Contribution weights c_i = count_i / sum(count) (eq. 9 for weights; MACs likewise)."""
    c = torch.tensor([float(x) for x in counts], dtype=torch.float64)
    return c / c.sum()


def budget_loss(densities: torch.Tensor, c: torch.Tensor, budget: float, kind: str = "squared"
                ) -> torch.Tensor:
    """One budget term: (L_s - B)^2 (eq. 10) or max(L_s - B, 0) (eq. 11), L_s = sum c_i d_i."""
    ls = (c.to(densities) * densities).sum()              # dtype and device of the densities
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


class ASLBackend:
    """Adaptive sparsity loss (Retsinas et al. 2020): learned sigma-unit thresholds, STE, budget loss.

    Targets: B_p = the plan's kept-weight share and B_f = its kept-MAC share over the layers
    ASL prunes (those with >= min_weights); the thresholds learn their own per-layer split.
    budget_correction then cuts to the weight budget if the counted sparsity fell short."""
    name: ClassVar[str] = "asl"

    Options = AslOptions

    def __init__(self, options: AslOptions | None = None) -> None:
        self.options = options or self.Options()

    def compress(self, model: nn.Module, targets: Targets, ctx: TrainContext) -> CompressionResult:
        started = time.perf_counter()
        o = self.options
        weights = prunable_weights(model)
        plan = resolve(model, targets)
        alphas = plan.alphas
        wrapped = exclude(model, alphas, min_weights=o.min_weights)
        plan = plan.only(wrapped)
        if not wrapped:
            raise PruningError(f"ASL: every targeted layer has fewer than {o.min_weights} weights; "
                               "lower --asl-min-weights")
        accuracy_dense = evaluate(model, ctx.data)
        raw = {n: weights[n] for n in wrapped}
        numels = {n: w.numel() for n, w in raw.items()}
        macs = layer_macs(model, ctx.data.train_x[:1])
        b_p, b_f = budgets_from_alphas(wrapped, numels, macs)
        c_p, c_f = shares([numels[n] for n in raw]), shares([macs[n] for n in raw])
        b0 = b_for_sparsity(o.init_share * (1.0 - b_p))
        ste = attach(model, raw, lambda n, w: STEThreshold(b0, o.ste))
        train_share = ctx.epochs * (1.0 - o.finetune_share)
        # auto with Adam (whose steps ignore gradient size): b may travel B_TRAVEL sigmas over
        # the training window, so the budget balance, not the step size, decides where it stops
        ratio = o.b_lr_ratio or (0.01 if ctx.optimizer == "sgd" else min(
            B_TRAVEL / max(ctx.steps(train_share), 1), B_STEP_MAX) / ctx.lr)
        opt = optimizer_with_thresholds(model, ctx, [p.b for p in ste.values()], ratio)

        def loss_extra(_model: nn.Module) -> torch.Tensor:
            d = torch.stack([modelled_density(p.b) for p in ste.values()])
            loss = o.lam_p * budget_loss(d, c_p, b_p, o.loss)
            if o.lam_f:
                loss = loss + o.lam_f * budget_loss(d, c_f, b_f, o.loss)
            return loss

        history = train_epochs(model, ctx, train_share, phase="asl", loss_extra=loss_extra,
                               optimizer=opt)
        scores = {n: prune_score(w, ste[n].b) for n, w in raw.items()}
        masks = keep_at_least_one({n: s >= 1 for n, s in scores.items()}, scores)
        kept = {n: int(m.sum()) for n, m in masks.items()}
        budget = round(b_p * sum(numels.values()))
        cut = o.budget_correction and sum(kept.values()) > budget
        history.append({
            "phase": "asl-budget", "b": {n: float(p.b.detach()) for n, p in ste.items()},
            "modelled_density": {n: float(modelled_density(p.b.detach())) for n, p in ste.items()},
            "counted_density": {n: kept[n] / numels[n] for n in raw},
            "param_budget": b_p, "param_share_counted": sum(kept.values()) / sum(numels.values()),
            "param_share_modelled": float((c_p * torch.stack(
                [modelled_density(p.b.detach()) for p in ste.values()]).double().cpu()).sum()),
            "mac_budget": b_f, "mac_share_counted": sum(kept[n] / numels[n] * macs[n] for n in raw)
            / sum(macs[n] for n in raw), "cut_to_budget": cut})
        if cut:
            masks = shrink_to_budget(scores, masks, budget)
        masks = project_learned(scores, masks, plan)
        detach(model)
        apply_masks(raw, masks)
        history += train_epochs(model, ctx, ctx.epochs - train_share, phase="asl-finetune",
                                masks=masks)
        return build_result(self.name, model, masks, plan, targets, accuracy_dense, ctx, history,
                            ctx.epochs, started, exact=False)


Backend = ASLBackend
