"""ADMM weight pruning and quantization, paper 001 section 3 (eq. 5-7), on any sparsity pattern.

The ADMM iterations (pruning.admm_core) pull each weight towards Z = Proj(W + U), the nearest
point of its pattern's set (top-k magnitudes, per-group top-N for N:M, block or filter norms);
ADMM does not yield exact zeros, so it ends with a hard projection and masked retraining.
When bits are requested, ADMM quantization of the kept weights follows: projection onto the
grid, retraining on the grid (joint mode: prune first, then quantize the non-zeros, as paper
001 section 3.3 argues).
"""
from __future__ import annotations

import time
from typing import ClassVar, Mapping

import torch
from torch import nn

from pruning.admm_core import AdmmPenalty, grid_projection, run_admm, sparse_projection, w_step
from pruning.errors import PruningError
from pruning.masks import Masks, check_sparsity
from pruning.methods.options import AdmmOptions
from pruning.projections import pattern_masks
from pruning.protocol import CompressionResult, LayerResult, Targets, prunable_weights
from pruning.pruners import LoopPruner
from pruning.quantize import GridTrainer, fit_interval
from pruning.support import ResolvedTargets, resolve
from pruning.train import TrainContext, evaluate, split_budget, train_epochs


def update_steps(options: AdmmOptions, steps_per_epoch: int | None) -> int:
    """Optimizer steps of one ADMM iteration (one Z/U update)."""
    o = options
    if o.update_unit == "steps":
        return max(1, round(o.update_every))
    if steps_per_epoch is None:
        raise PruningError(f"admm: update_every={o.update_every:g} epochs needs steps_per_epoch (your loader's "
                           "length), or give update_unit='steps'")
    return max(1, round(o.update_every * steps_per_epoch))


class AdmmLoop(LoopPruner):
    """ADMM pruning in any training loop (pruning.pruners): the penalty rho/2 ||W - Z + U||^2
    of eq. (5), the Z/U update of eq. (7) every `every` steps, then (at step `prune_at`, or
    when the caller says: `hard_prune`) the hard projection, whose masks are held from then on.
    The object codesign.pruner returns and AdmmBackend.prune drives."""
    name: ClassVar[str] = "admm"
    # options of codesign.prune's own phases: a user's loop chooses its optimizer, learning
    # rate and clipping itself, and a pruner does not quantize
    LOOP_OWNED = ("w_step_optimizer", "w_step_lr", "w_step_clip", "retrain_lr", "quant_share")

    def __init__(self, model: nn.Module, plan: ResolvedTargets, options: AdmmOptions, every: int,
                 prune_at: int | None = None) -> None:
        super().__init__(model, plan)
        o = self.options = options
        self.every, self.prune_at = every, prune_at
        self.admm = AdmmPenalty({n: self.weights[n] for n in plan.alphas},
                                sparse_projection(plan.alphas, plan.patterns, plan.layouts),
                                o.rho, o.rho_growth, o.rho_max)

    @classmethod
    def for_loop(cls, model, targets, options, *, steps, steps_per_epoch=None, given=()) -> "AdmmLoop":
        owned = sorted(set(given) & set(cls.LOOP_OWNED))
        if owned:
            raise PruningError(f"admm option(s) {owned} belong to codesign.prune's own training phases; in your "
                               "loop choose the optimizer, learning rate and clipping yourself")
        prune_at = max(1, round((1 - options.retrain_share) * steps))
        return cls(model, resolve(model, targets), options, update_steps(options, steps_per_epoch), prune_at)

    def penalty(self, model: nn.Module | None = None) -> torch.Tensor:
        return super().penalty() if self.masks else self.admm.penalty()

    def _update(self, t: int) -> None:
        if self.masks:
            return
        if t % self.every == 0:
            self.admm.update()
        if self.prune_at is not None and t >= self.prune_at:
            self.hard_prune()

    def hard_prune(self) -> Masks:
        """End ADMM: the pattern's projection of W (or of W + U, mask_source z) as the masks,
        applied now and held from here on."""
        alphas, weights = self.plan.alphas, self.weights
        source = {n: (weights[n].detach() + self.admm.U[n]) if self.options.mask_source == "z" else weights[n]
                  for n in alphas}
        self.masks = pattern_masks(source, alphas, self.plan.patterns, self.plan.layouts)
        self.hold()
        return self.masks

    def _finish(self) -> None:
        if not self.masks:
            self.hard_prune()

    # -- checkpointing: ADMM's state as AdmmPenalty writes it, the masks and the step count
    def state_dict(self) -> dict:
        return {**self.admm.state_dict(), "masks": self.masks, "step": self.steps_done}

    def load_state_dict(self, state: dict) -> None:
        self.admm.load_state_dict(state)
        self.masks = dict(state.get("masks") or {})
        self.steps_done = int(state.get("step", self.steps_done))


class AdmmBackend:
    """ADMM pruning (paper 001 eq. 5-7) with hard prune + masked retrain, then optional ADMM
    quantization of the kept weights with retraining on the grid."""
    name: ClassVar[str] = "admm"
    Options = AdmmOptions

    def __init__(self, options: AdmmOptions | None = None):
        self.options = options or self.Options()
        o = self.options
        if not 0 <= o.retrain_share < 1 or not 0 <= o.quant_share < 1 or not o.update_every > 0:
            raise PruningError(f"bad ADMM options {o}: shares must be in [0, 1), update_every > 0")

    def _admm(self, model, ctx, epochs, phase, weights, project, masks=None):
        o = self.options
        return run_admm(model, ctx, epochs, phase, weights, project, rho=o.rho,
                        rho_growth=o.rho_growth, rho_max=o.rho_max,
                        update_steps=update_steps(o, ctx.steps_per_epoch),
                        w_step_optimizer=o.w_step_optimizer, w_step_lr=o.w_step_lr,
                        w_step_clip=o.w_step_clip, masks=masks)

    def prune(self, model: nn.Module, plan: ResolvedTargets, ctx: TrainContext, epochs: float,
              history: list[dict]) -> Masks:
        """ADMM pruning (the pruner's W-step in train_epochs), hard prune, masked retrain;
        returns the masks (checked)."""
        o = self.options
        budget = split_budget(epochs, {"admm": 1 - o.retrain_share, "retrain": o.retrain_share})
        pruner = AdmmLoop(model, plan, o, update_steps(o, ctx.steps_per_epoch))
        w_step(model, ctx, budget["admm"], "admm-prune", penalty=pruner.penalty, after_step=pruner.step,
               state=pruner, w_step_optimizer=o.w_step_optimizer, w_step_lr=o.w_step_lr,
               w_step_clip=o.w_step_clip)
        accuracy_admm = evaluate(model, ctx.data)
        masks = pruner.hard_prune()
        history.append({"phase": "admm-prune", "admm_iterations": pruner.admm.iterations,
                        "residuals": pruner.admm.residuals, "accuracy": accuracy_admm,
                        "accuracy_hard_pruned": evaluate(model, ctx.data)})
        train_epochs(model, ctx, budget["retrain"], phase="retrain-prune", masks=masks,
                     lr=o.retrain_lr)
        check_sparsity(masks, plan.alphas, pruner.weights, plan.patterns, plan.layouts)
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

    def compress(self, model: nn.Module, targets: Targets, ctx: TrainContext) -> CompressionResult:
        t0 = time.perf_counter()
        weights = prunable_weights(model)
        bits = {n: int(b) for n, b in targets.bits.items()}
        plan = resolve(model, targets, require=not bits)
        unknown = sorted(set(bits) - set(weights))
        if unknown:
            raise PruningError(f"bits name unknown weights {unknown}; known: {sorted(weights)}")
        accuracy_dense = evaluate(model, ctx.data)
        history: list[dict] = []
        alphas = plan.alphas
        quant_epochs = ctx.epochs * self.options.quant_share if bits else 0.0
        prune_epochs = ctx.epochs - quant_epochs if alphas else 0.0
        if not alphas and bits:
            quant_epochs = ctx.epochs
        masks = self.prune(model, plan, ctx, prune_epochs, history) if alphas else {}
        masks = {n: masks.get(n, torch.ones_like(w, dtype=torch.bool)) for n, w in weights.items()}
        intervals = self.quantize(model, bits, masks, ctx, quant_epochs, history) if bits else {}
        check_sparsity({n: masks[n] for n in alphas}, alphas, weights, plan.patterns, plan.layouts)
        layers = [LayerResult(n, w.numel(), int(masks[n].sum()), alphas.get(n, 1.0), bits.get(n),
                              str(plan.patterns.get(n, "unstructured")) if n in alphas else "dense")
                  for n, w in weights.items()]
        accuracy = evaluate(model, ctx.data)
        history.append({"phase": "final", "accuracy": accuracy, "intervals": intervals,
                        "skipped": plan.skipped})
        return CompressionResult(self.name, model, masks, accuracy_dense, accuracy, layers, history,
                                 epochs_used=prune_epochs + quant_epochs,
                                 seconds=time.perf_counter() - t0)


Backend = AdmmBackend
Pruner = AdmmLoop
