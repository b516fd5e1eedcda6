"""ADMM weight pruning and quantization, paper 001 §3 (eq. 5-7).

Per constrained weight W_i the W-step minimizes loss + sum_i rho_i/2 * ||W_i - Z_i + U_i||_F^2
(the SQUARED Frobenius norm; some public code uses the norm itself or drops the 1/2) by
ordinary training; once per ADMM iteration Z_i <- Proj_S_i(W_i + U_i) and U_i <- U_i + W_i - Z_i.
S_i is "at most alpha_i N_i nonzeros" (projection: exact top-k magnitudes) or the
quantization grid (projection: nearest level). ADMM does not yield exact zeros, so it ends with
a hard projection and retraining with the constraint enforced (masks; grid).

`AdmmBackend` runs: ADMM pruning -> hard prune -> masked retrain, and when bits are requested,
ADMM quantization of the kept weights -> projection -> retraining on the grid (joint mode:
prune first, then quantize the nonzeros, as paper 001 §3.3 argues).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Mapping

import torch
from torch import nn

from pruning.backend import CompressionResult, LayerResult, Targets, prunable_weights
from pruning.errors import PruningError
from pruning.masks import Masks, apply_masks, check_sparsity, global_alphas, keep_count, magnitude_masks, topk_mask
from pruning.methods import register_backend
from pruning.quantize import GridTrainer, fit_interval, project_to_grid
from pruning.train import TrainContext, evaluate, split_budget, train_epochs

Projection = Callable[[str, torch.Tensor], torch.Tensor]


def sparse_projection(keep: Mapping[str, int]) -> Projection:
    """Euclidean projection onto {at most keep[name] nonzeros}: keep the largest magnitudes."""
    return lambda name, v: v * topk_mask(v, keep[name]).to(v.dtype)


def grid_projection(intervals: Mapping[str, float], bits: Mapping[str, int],
                    masks: Mapping[str, torch.Tensor | None]) -> Projection:
    """Euclidean projection onto the quantization grid, pruned entries held at zero."""
    return lambda name, v: project_to_grid(v, intervals[name], bits[name], masks.get(name))


class AdmmPenalty:
    """The ADMM state (Z, U, rho) for a set of weights: the penalty term of eq. (5) and the
    Z/U updates of eq. (7). Checkpointable through state_dict/load_state_dict."""

    def __init__(self, weights: Mapping[str, nn.Parameter], project: Projection, rho: float,
                 rho_growth: float = 1.0, rho_max: float | None = None):
        if rho <= 0 or rho_growth < 1.0:
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
        self.rho, self.iterations = state["rho"], state["iterations"]
        self.residuals = list(state["residuals"])


@register_backend
class AdmmBackend:
    """ADMM pruning (paper 001 eq. 5-7) with hard prune + masked retrain, then optional ADMM
    quantization of the kept weights with retraining on the grid."""
    name: ClassVar[str] = "admm"

    @dataclass(frozen=True)
    class Options:
        rho: float = field(default=0.03, metadata={
            "help": "ADMM penalty rho_i for every layer, on the mean cross-entropy loss (paper "
                    "001 §3.4.1 uses 3e-3 with Caffe's loss scaling; see benchmarks/RESULTS.md "
                    "admm_lenet.py for how 0.03 was chosen)"})
        rho_growth: float = field(default=1.0, metadata={
            "help": "multiply rho by this after every ADMM iteration (1 = constant)"})
        rho_max: float = field(default=1.0, metadata={"help": "upper bound of the rho schedule"})
        update_every: float = field(default=0.25, metadata={
            "help": "length of one ADMM iteration (one Z/U update), in update-unit"})
        update_unit: str = field(default="epochs", metadata={
            "help": "unit of update-every", "choices": ("epochs", "steps")})
        retrain_share: float = field(default=0.5, metadata={
            "help": "share of the pruning budget spent on masked retraining after ADMM"})
        quant_share: float = field(default=0.3, metadata={
            "help": "share of the total budget spent on quantization when bits are given"})
        retrain_lr: float | None = field(default=None, metadata={
            "help": "learning rate of the retraining phases (default: the run's lr)"})
        w_step_optimizer: str = field(default="sgd", metadata={
            "help": "optimizer of the ADMM W-step: sgd (momentum from the run) or run (the run's "
                    "optimizer). Adam's per-weight step normalization keeps every pruned weight "
                    "jittering at ~lr, so W never gets close to the sparse Z in big layers",
            "choices": ("sgd", "run")})
        w_step_lr: float = field(default=0.05, metadata={"help": "learning rate of the ADMM W-step with sgd"})
        w_step_clip: float | None = field(default=None, metadata={
            "help": "clip the gradient norm in the ADMM W-step to this (default: no clipping)"})
        mask_source: str = field(default="w", metadata={
            "help": "hard prune keeps the largest |W| (w, paper 000 §2.3) or the support of the "
                    "last Z = Proj(W + U) (z)", "choices": ("w", "z")})

    def __init__(self, options: "AdmmBackend.Options | None" = None):
        self.options = options or self.Options()
        o = self.options
        if not 0 <= o.retrain_share < 1 or not 0 <= o.quant_share < 1 or o.update_every <= 0:
            raise PruningError(f"bad ADMM options {o}: shares must be in [0, 1), update_every > 0")

    # -- phases ---------------------------------------------------------------------------

    def _iteration_steps(self, ctx: TrainContext) -> int:
        o = self.options
        return max(1, round(o.update_every)) if o.update_unit == "steps" else ctx.steps(o.update_every)

    def _admm(self, model, ctx, epochs, phase, weights, project, masks=None) -> AdmmPenalty:
        o = self.options
        admm = AdmmPenalty(weights, project, o.rho, o.rho_growth, o.rho_max)
        optimizer = None
        if o.w_step_optimizer == "sgd":
            optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad],
                                        lr=o.w_step_lr, momentum=ctx.momentum)
        train_epochs(model, ctx, epochs, phase=phase, loss_extra=admm.penalty, optimizer=optimizer,
                     clip_grad_norm=o.w_step_clip,
                     after_step=admm.every(self._iteration_steps(ctx)), masks=masks, state=admm)
        return admm

    def prune(self, model: nn.Module, alphas: Mapping[str, float], ctx: TrainContext,
              epochs: float, history: list[dict]) -> Masks:
        """ADMM pruning, hard prune, masked retrain; returns the masks (checked)."""
        o = self.options
        weights = prunable_weights(model)
        keep = {n: keep_count(weights[n].numel(), a) for n, a in alphas.items()}
        budget = split_budget(epochs, {"admm": 1 - o.retrain_share, "retrain": o.retrain_share})
        admm = self._admm(model, ctx, budget["admm"], "admm-prune", {n: weights[n] for n in alphas},
                          sparse_projection(keep))
        accuracy_admm = evaluate(model, ctx.data)
        if o.mask_source == "z":
            masks = {n: topk_mask(admm.project(n, weights[n].detach() + admm.U[n]), keep[n]) for n in alphas}
        else:
            masks = magnitude_masks(weights, alphas)      # hard prune: keep the largest |W_i|
        apply_masks(weights, masks)
        history.append({"phase": "admm-prune", "admm_iterations": admm.iterations,
                        "residuals": admm.residuals, "accuracy": accuracy_admm,
                        "accuracy_hard_pruned": evaluate(model, ctx.data)})
        train_epochs(model, ctx, budget["retrain"], phase="retrain-prune", masks=masks,
                     lr=o.retrain_lr)
        check_sparsity(masks, alphas, weights)
        return masks

    def quantize(self, model: nn.Module, bits: Mapping[str, int], masks: Masks, ctx: TrainContext,
                 epochs: float, history: list[dict]) -> dict[str, float]:
        """ADMM quantization of the kept weights, projection, retraining on the grid; returns
        the interval q_i per layer."""
        o = self.options
        weights = prunable_weights(model)
        layer_masks = {n: masks.get(n) for n in bits}
        intervals = {n: fit_interval(weights[n], b, layer_masks[n]) for n, b in bits.items()}
        budget = split_budget(epochs, {"admm": 1 - o.retrain_share, "retrain": o.retrain_share})
        admm = self._admm(model, ctx, budget["admm"], "admm-quant", {n: weights[n] for n in bits},
                          grid_projection(intervals, bits, layer_masks), masks=masks)
        history.append({"phase": "admm-quant", "admm_iterations": admm.iterations,
                        "residuals": admm.residuals, "intervals": intervals})
        grid = GridTrainer(weights, intervals, bits, layer_masks)   # projects onto the grid now
        train_epochs(model, ctx, budget["retrain"], phase="retrain-quant", masks=masks,
                     after_step=grid, lr=o.retrain_lr, state=grid)
        return intervals

    # -- the protocol -----------------------------------------------------------------------

    def compress(self, model: nn.Module, targets: Targets, ctx: TrainContext) -> CompressionResult:
        t0 = time.perf_counter()
        weights = prunable_weights(model)
        alphas = resolve_alphas(weights, targets)
        bits = {n: int(b) for n, b in targets.bits.items()}
        unknown = sorted(set(bits) - set(weights))
        if unknown:
            raise PruningError(f"bits name unknown weights {unknown}; known: {sorted(weights)}")
        accuracy_dense = evaluate(model, ctx.data)
        history: list[dict] = []
        quant_epochs = ctx.epochs * self.options.quant_share if bits else 0.0
        prune_epochs = ctx.epochs - quant_epochs if alphas else 0.0
        if not alphas and bits:
            quant_epochs = ctx.epochs
        masks = self.prune(model, alphas, ctx, prune_epochs, history) if alphas else {}
        masks = {n: masks.get(n, torch.ones_like(w, dtype=torch.bool)) for n, w in weights.items()}
        intervals = self.quantize(model, bits, masks, ctx, quant_epochs, history) if bits else {}
        check_sparsity({n: masks[n] for n in alphas}, alphas, weights)
        layers = [LayerResult(n, w.numel(), int(masks[n].sum()), alphas.get(n, 1.0), bits.get(n))
                  for n, w in weights.items()]
        accuracy = evaluate(model, ctx.data)
        history.append({"phase": "final", "accuracy": accuracy, "intervals": intervals})
        return CompressionResult(self.name, model, masks, accuracy_dense, accuracy, layers, history,
                                 epochs_used=prune_epochs + quant_epochs,
                                 seconds=time.perf_counter() - t0)


def resolve_alphas(weights: Mapping[str, torch.Tensor], targets: Targets) -> dict[str, float]:
    """Per-layer keep fractions from Targets: explicit alphas win; a global alpha is turned
    into per-layer alphas by one magnitude ranking over the layers not given explicitly."""
    alphas = {n: float(a) for n, a in targets.alphas.items()}
    unknown = sorted(set(alphas) - set(weights))
    if unknown:
        raise PruningError(f"alphas name unknown weights {unknown}; known: {sorted(weights)}")
    for n, a in alphas.items():
        keep_count(weights[n].numel(), a)                       # validates the range
    if targets.global_alpha is not None:
        rest = {n: w for n, w in weights.items() if n not in alphas}
        if rest:
            alphas.update(global_alphas(rest, targets.global_alpha))
    return {n: a for n, a in alphas.items() if a < 1.0}
