"""Iterative magnitude pruning (Han et al. 2015): prune-retrain cycles, the classic baseline.

Each cycle lowers every layer's keep fraction one step along a schedule that ends at the
target, zeroes the smallest-|w| weights of the (already masked) layer and retrains with the
mask held. Han et al. prune by a threshold of quality x std(W); we prune by exact count
(top-k) so that the result meets the per-layer targets the search asks for.

Masks are monotone (a pruned weight never comes back) and follow each layer's pattern
(pruning.support.staged_masks); scope=global ranks all layers together instead.
"""
from __future__ import annotations

import time
from typing import ClassVar, Mapping

import torch
from torch import nn

from pruning.errors import PruningError
from pruning.masks import apply_masks
from pruning.methods.options import MagnitudeOptions
from pruning.projections import global_masks
from pruning.protocol import CompressionResult, Targets, prunable_weights
from pruning.support import build_result, resolve, staged_masks
from pruning.train import TrainContext, evaluate, train_epochs


def cycle_alphas(alpha_final: float, cycles: int, schedule: str = "geometric") -> list[float]:
    """Keep fractions after each of `cycles` prune-retrain cycles, ending at alpha_final.

    geometric: equal pruning *ratio* per cycle (alpha^(k/K)), the usual reading of Han et al.'s
    iterative pruning where each round removes a similar share of what is left; linear: equal
    steps in alpha."""
    if cycles < 1:
        raise PruningError(f"cycles={cycles}: need at least one prune-retrain cycle")
    ks = range(1, cycles + 1)
    if schedule == "geometric":
        return [alpha_final ** (k / cycles) for k in ks]
    if schedule == "linear":
        return [1.0 - (1.0 - alpha_final) * k / cycles for k in ks]
    raise PruningError(f"unknown cycle schedule {schedule!r}; use 'geometric' or 'linear'")


def mac_weighted_alpha(alphas: Mapping[str, float], macs: Mapping[str, int]) -> float:
    """Fraction of the dense MACs that survive when layer i keeps alpha_i of its weights."""
    total = sum(macs[n] for n in alphas)
    return sum(alphas[n] * macs[n] for n in alphas) / total if total else 1.0



class MagnitudeBackend:
    """Iterative magnitude pruning (Han et al. 2015): prune-retrain cycles.

    Targets: every layer reaches its alpha exactly (top-|w| per layer); scope=global ranks all
    targeted layers together down to their total kept count instead."""
    name: ClassVar[str] = "magnitude"

    Options = MagnitudeOptions

    def __init__(self, options: MagnitudeOptions | None = None) -> None:
        self.options = options or self.Options()

    def compress(self, model: nn.Module, targets: Targets, ctx: TrainContext) -> CompressionResult:
        started = time.perf_counter()
        weights = prunable_weights(model)
        plan = resolve(model, targets)
        alphas = plan.alphas
        if self.options.scope == "global" and plan.patterns:
            raise PruningError("magnitude pruning with --magnitude-scope global ranks weights across "
                               "layers and cannot keep per-layer patterns; use scope layer")
        accuracy_dense = evaluate(model, ctx.data)
        targeted = {n: weights[n] for n in alphas}
        overall = (sum(alphas[n] * w.numel() for n, w in targeted.items())
                   / sum(w.numel() for w in targeted.values()))
        steps = cycle_alphas(overall, self.options.cycles, self.options.schedule)
        masks: dict[str, torch.Tensor] = {}
        history: list[dict] = []
        for k in range(self.options.cycles):
            if self.options.scope == "global":
                masks = global_masks(targeted, steps[k], masks)
            else:
                per_layer = {n: cycle_alphas(a, self.options.cycles, self.options.schedule)[k]
                             for n, a in alphas.items()}
                masks = staged_masks(targeted, plan, per_layer, masks)
            apply_masks(weights, masks)
            history += train_epochs(model, ctx, ctx.epochs / self.options.cycles,
                                    phase=f"magnitude-cycle{k + 1}", masks=masks)
        return build_result(self.name, model, masks, plan, targets, accuracy_dense, ctx, history,
                            ctx.epochs, started, exact=self.options.scope == "layer")


Backend = MagnitudeBackend
