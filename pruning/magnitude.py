"""Iterative magnitude pruning (Han et al. 2015): prune-retrain cycles, the classic baseline.

Each cycle lowers every layer's keep fraction one step along a schedule that ends at the
target, zeroes the smallest-|w| weights of the (already masked) layer and retrains with the
mask held. Han et al. prune by a threshold of quality x std(W); we prune by exact count
(top-k) so that the result meets the per-layer targets the search asks for.

The magnitude mask builders here (layer-wise and global, both monotone: a pruned weight never
comes back) are shared by AGP and progressive ADMM's hard-prune step.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import ClassVar, Mapping

import torch
from torch import nn

from pruning.backend import CompressionResult, Targets, prunable_weights
from pruning.errors import PruningError
from pruning.masks import apply_masks, keep_count, topk_mask
from pruning.method_support import build_result, resolve_alphas
from pruning.methods import register_backend
from pruning.train import TrainContext, evaluate, train_epochs


def _monotone_topk(weight: torch.Tensor, mask: torch.Tensor | None, keep: int) -> torch.Tensor:
    """Top-|w| mask with exactly min(keep, live) entries chosen among the live (mask=True)
    weights only, so a pruned weight never comes back (monotone masks)."""
    if mask is None:
        return topk_mask(weight, keep)
    flat_mask = mask.reshape(-1)
    live = flat_mask.nonzero().squeeze(1)
    chosen = topk_mask(weight.detach().reshape(-1)[live], min(keep, live.numel()))
    out = torch.zeros_like(flat_mask)
    out[live[chosen]] = True
    return out.view_as(mask)


def layerwise_masks(weights: Mapping[str, torch.Tensor], alphas: Mapping[str, float],
                    masks: Mapping[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Per layer, keep the round(alpha*n) largest |w| among the weights the old mask kept."""
    masks = masks or {}
    return {name: _monotone_topk(weights[name], masks.get(name),
                                 keep_count(weights[name].numel(), alpha))
            for name, alpha in alphas.items()}


def global_masks(weights: Mapping[str, torch.Tensor], alpha: float,
                 masks: Mapping[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Rank all listed weights together by |w| and keep the round(alpha*N) largest
    (See et al. 2016 / ShrinkBench "global pruning"); layers end up with different alphas."""
    masks = masks or {}
    names = list(weights)
    flat_w = torch.cat([weights[n].detach().reshape(-1) for n in names])
    flat_m = None if not masks else torch.cat(
        [masks[n].reshape(-1) if n in masks else torch.ones(weights[n].numel(), dtype=torch.bool)
         for n in names])
    keep = _monotone_topk(flat_w, flat_m, keep_count(flat_w.numel(), alpha))
    out, start = {}, 0
    for name in names:
        size = weights[name].numel()
        out[name] = keep[start:start + size].view_as(weights[name])
        start += size
    return out


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



@register_backend
class MagnitudeBackend:
    """Iterative magnitude pruning (Han et al. 2015): prune-retrain cycles.

    Targets: every layer reaches its alpha exactly (top-|w| per layer); scope=global ranks all
    targeted layers together down to their total kept count instead."""
    name: ClassVar[str] = "magnitude"

    @dataclass(frozen=True)
    class Options:
        cycles: int = field(default=3, metadata={
            "help": "prune-retrain cycles; the epoch budget is split evenly over them"})
        schedule: str = field(default="geometric", metadata={
            "help": "keep fraction per cycle: geometric (equal ratio per cycle) or linear",
            "choices": ("geometric", "linear")})
        scope: str = field(default="layer", metadata={
            "help": "layer: each layer to its own alpha; global: one |w| ranking over all "
                    "targeted layers down to their total kept count", "choices": ("layer", "global")})

    def __init__(self, options: Options | None = None) -> None:
        self.options = options or self.Options()

    def compress(self, model: nn.Module, targets: Targets, ctx: TrainContext) -> CompressionResult:
        started = time.perf_counter()
        weights = prunable_weights(model)
        alphas = resolve_alphas(weights, targets)
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
                masks = layerwise_masks(targeted, per_layer, masks)
            apply_masks(weights, masks)
            history += train_epochs(model, ctx, ctx.epochs / self.options.cycles,
                                    phase=f"magnitude-cycle{k + 1}", masks=masks)
        return build_result(self.name, model, masks, alphas, targets, accuracy_dense, ctx, history,
                            ctx.epochs, started, exact=self.options.scope == "layer")
