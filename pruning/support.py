"""Plumbing shared by the compression methods (pruning.methods.*), which all train the given
model in place and return it in the result: turning Targets into per-layer keep fractions and
patterns, per-layer MAC counts, a validation hold-out, re-parametrizing weights in place, and
assembling the one per-layer result table. Imports no method's code.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.overrides import TorchFunctionMode

from pruning.data import Dataset, take
from pruning.errors import PruningError, SparsityMismatchError
from pruning.masks import Masks, check_sparsity
from pruning.patterns import Pattern
from pruning.projections import check_pattern, global_alphas, keep_count, pattern_mask, topk_mask
from pruning.protocol import (CompressionResult, LayerResult, Targets, classifier_name,
                              prunable_weights, weight_layouts)
from pruning.train import TrainContext, evaluate


@dataclass(frozen=True)
class ResolvedTargets:
    """What a method must reach: keep fraction, pattern and output axis per pruned weight."""
    alphas: dict[str, float]
    patterns: dict[str, Pattern]
    layouts: dict[str, int]
    skipped: dict[str, str]              # weight -> why it stays dense

    def only(self, names) -> "ResolvedTargets":
        """The plan restricted to `names` (a method's exclusions)."""
        keep = [n for n in self.alphas if n in set(names)]
        return ResolvedTargets({n: self.alphas[n] for n in keep},
                    {n: p for n, p in self.patterns.items() if n in keep},
                    {n: self.layouts[n] for n in keep}, dict(self.skipped))


def resolve(model: nn.Module, targets: Targets, require: bool = True) -> ResolvedTargets:
    """Per-layer targets every method prunes towards: explicit alphas win; a global alpha is
    one magnitude ranking over the layers not named; an N:M pattern sets its own alpha (N/M);
    the classifier layer is never channel-pruned (it stays dense); layers at 1 drop out."""
    weights = prunable_weights(model)
    layouts = weight_layouts(model)
    if require and not weights:
        raise PruningError("the model has no weight the bridge can prune: no Conv, Gemm, MatMul or recurrent "
                           "layer reads a stored tensor (its weights are computed in the graph); export it "
                           "with its weights as initializers")
    unknown = sorted((set(targets.alphas) | set(targets.patterns)) - set(weights))
    if unknown:
        raise PruningError(f"targets name unknown weights {unknown[:5]}; known: {sorted(weights)[:10]}")
    alphas = {n: float(a) for n, a in targets.alphas.items()}
    for n, a in alphas.items():
        keep_count(weights[n].numel(), a)                       # validates the range
    if targets.global_alpha is not None:
        rest = {n: w for n, w in weights.items() if n not in alphas}
        if rest:
            alphas.update(global_alphas(rest, targets.global_alpha))
    patterns: dict[str, Pattern] = {}
    skipped: dict[str, str] = {}
    classifier = classifier_name(model)
    for n, p in targets.patterns.items():
        if p.kind == "unstructured":
            continue
        if p.kind == "channel" and n == classifier:
            skipped[n] = "the classifier layer is never channel-pruned (it would remove classes)"
            alphas.pop(n, None)
            continue
        if p.kind == "nm":
            alphas[n] = p.n / p.m
        elif n not in alphas:
            raise PruningError(f"layer {n!r} has pattern {p} but no keep fraction; give its alpha")
        patterns[n] = p
    alphas = {n: a for n, a in alphas.items() if a < 1.0}
    if require and not alphas:
        raise PruningError("nothing to prune: give per-layer alphas below 1, a global alpha "
                           "below 1 or an N:M pattern")
    return ResolvedTargets(alphas, {n: p for n, p in patterns.items() if n in alphas},
                {n: layouts.get(n, 0) for n in alphas}, skipped)


def owner_of(model: nn.Module, param: torch.Tensor) -> tuple[nn.Module, str]:
    """The module and attribute name that hold `param` (needed to re-parametrize it)."""
    for module in model.modules():
        for attr, p in module._parameters.items():
            if p is param:
                return module, attr
        parametrizations = getattr(module, "parametrizations", None)
        if parametrizations is not None:
            for attr, plist in parametrizations.items():
                if plist.original is param:
                    return module, attr
    raise PruningError("a prunable weight is not a parameter of the model; cannot attach to it")


def is_depthwise(model: nn.Module, param: torch.Tensor) -> bool:
    module, _ = owner_of(model, param)
    groups = getattr(module, "groups", 1)
    return groups > 1 and groups == getattr(module, "in_channels", -1)


def exclude(model: nn.Module, alphas: Mapping[str, float], *, first: bool = False,
            depthwise: bool = False, names: Iterable[str] = (), min_weights: int = 0
            ) -> dict[str, float]:
    """Drop layers that stay dense: the first prunable layer, depthwise convs, listed names,
    layers with fewer than `min_weights` weights. Biases are never in the list at all."""
    weights = prunable_weights(model)
    order = [n for n in weights if n in alphas]
    skip = set(names)
    if first and order:
        skip.add(order[0])
    return {n: alphas[n] for n in order
            if n not in skip and weights[n].numel() >= min_weights
            and not (depthwise and is_depthwise(model, weights[n]))}


class _MacCounter(TorchFunctionMode):
    """Counts, per weight, the MACs of every conv / linear / matmul call that reads it. Weights
    are recognised by storage, so transposed views (ONNX Gemm with transB) still count."""

    def __init__(self, weights: Mapping[str, torch.Tensor]) -> None:
        super().__init__()
        self.by_storage = {w.untyped_storage().data_ptr(): n for n, w in weights.items()}
        self.counts: dict[str, int] = {}

    def _name(self, t) -> str | None:
        if isinstance(t, torch.Tensor):
            return self.by_storage.get(t.untyped_storage().data_ptr())
        return None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        kind = getattr(func, "__name__", "")
        if kind.startswith(("conv", "linear", "matmul", "__matmul__", "mm", "addmm")):
            operands = args[1:3] if kind == "addmm" else args[:2]
            for pos, t in enumerate(operands):
                name = self._name(t)
                if name is None:
                    continue
                if kind.startswith("conv_transpose"):
                    macs = args[0].numel() * (t.numel() // t.shape[0])   # per input element
                elif kind.startswith("conv"):
                    macs = out.numel() * (t.numel() // t.shape[0])       # per output element
                else:                                                   # contraction length
                    macs = out.numel() * operands[0].shape[-1]
                self.counts[name] = self.counts.get(name, 0) + int(macs)
                break
        return out


@torch.no_grad()
def layer_macs(model: nn.Module, example) -> dict[str, int]:
    """MACs per prunable weight for one sample (one multiply-add = one MAC), from a traced
    forward pass: conv output elements x (weight numel / dim 0), transposed conv likewise per
    input element, linear / matmul output elements x contraction length. Works for torch
    modules and the ONNX bridge alike; a weight no op reads counts one MAC per weight."""
    from pruning.train import as_batch
    weights = prunable_weights(model)
    counter = _MacCounter(weights)
    was_training = model.training
    try:
        model.eval()
        with counter:
            model(as_batch(example[:1]) if not torch.is_tensor(example) else example[:1])
    finally:
        model.train(was_training)
    return {n: counter.counts.get(n, weights[n].numel()) for n in weights}


def holdout(ctx: TrainContext, fraction: float = 0.1, limit: int = 2000) -> tuple[TrainContext, Dataset]:
    """Split a validation set off the training data, so model selection (progressive pool,
    LTP trail) never looks at the test set. Seeded; returns the training context without it
    and the validation samples as a Dataset (its test split), with the data's task."""
    data = ctx.data
    n = len(data.train_x)
    k = min(limit, max(1, int(n * fraction))) if n > 1 else 0
    order = np.random.default_rng(ctx.seed + 7).permutation(n)
    val, train = order[:k], np.sort(order[k:])
    reduced = dataclasses.replace(data, train_x=data.train_x[train], train_y=take(data.train_y, train))
    held = dataclasses.replace(data, test_x=data.train_x[val], test_y=take(data.train_y, val))
    return dataclasses.replace(ctx, data=reduced), held


def attach(model: nn.Module, weights: Mapping[str, torch.Tensor], make) -> dict[str, nn.Module]:
    """Register `make(name, weight)` as a parametrization of each named weight, on the weight's
    device (a learned threshold trains beside its weight); returns them."""
    out = {}
    for name, w in weights.items():
        module, attr = owner_of(model, w)
        out[name] = make(name, w).to(w.device)
        parametrize.register_parametrization(module, attr, out[name])
    return out


def detach(model: nn.Module) -> None:
    """Remove every parametrization, restoring the raw weight parameters (same objects)."""
    for module in list(model.modules()):
        if parametrize.is_parametrized(module):
            for attr in list(module.parametrizations.keys()):
                parametrize.remove_parametrizations(module, attr, leave_parametrized=False)


def build_result(method: str, model: nn.Module, masks: Masks, plan: ResolvedTargets,
                 targets: Targets, accuracy_dense: float, ctx: TrainContext, history: list[dict],
                 epochs_used: float, started: float, exact: bool) -> CompressionResult:
    """Check that every pruned weight is zero and every mask holds its pattern (and, for
    methods that promise exact alphas, the kept counts), evaluate on the test split and fill
    the per-layer table."""
    weights = prunable_weights(model)
    alphas = plan.alphas
    if exact:
        check_sparsity(masks, alphas, weights, plan.patterns, plan.layouts)
    else:
        check_pattern(masks, plan.patterns, plan.layouts)
        revived = [n for n, m in masks.items() if int((weights[n].detach()[~m] != 0).sum())]
        if revived:
            raise SparsityMismatchError(f"pruned weights of {', '.join(revived)} are nonzero (a bug "
                                        "in the method: masks must be enforced after every step)")
    layers = [LayerResult(name, w.numel(), int(masks[name].sum()) if name in masks else w.numel(),
                          float(alphas.get(name, 1.0)), targets.bits.get(name),
                          str(plan.patterns.get(name, "unstructured")) if name in masks else "dense")
              for name, w in weights.items()]
    return CompressionResult(method, model, dict(masks), accuracy_dense, evaluate(model, ctx.data),
                             layers, history, epochs_used, time.perf_counter() - started)


def keep_at_least_one(masks: Mapping[str, torch.Tensor], scores: Mapping[str, torch.Tensor]) -> Masks:
    """A learned threshold can empty a layer, which disconnects the network: keep its best."""
    out = {}
    for name, mask in masks.items():
        out[name] = mask
        if not mask.any():
            out[name] = mask.clone()
            out[name].view(-1)[scores[name].reshape(-1).argmax()] = True
    return out


def shrink_to_budget(scores: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor],
                     keep: int) -> Masks:
    """Cut learned masks down to `keep` weights in total, every layer by the same factor (its
    highest-scoring kept weights stay, at least one): the per-layer allocation the method
    learned keeps its shape. (One global ranking of the scores instead can empty whole layers
    whose thresholds are far from converged.) Masks already within budget are returned as is."""
    kept = {n: int(m.sum()) for n, m in masks.items()}
    total = sum(kept.values())
    if total <= keep:
        return dict(masks)
    out = {}
    for name, mask in masks.items():
        score = torch.where(mask, scores[name].detach().double() - scores[name].min().item() + 1.0,
                            torch.zeros_like(scores[name], dtype=torch.float64))
        out[name] = topk_mask(score, max(1, math.floor(kept[name] * keep / total)))
    return out


def optimizer_with_thresholds(model: nn.Module, ctx: TrainContext, thresholds: list[nn.Parameter],
                              lr_ratio: float) -> torch.optim.Optimizer:
    """ctx's optimizer for the weights plus a group for learned thresholds: their own learning
    rate (lr * lr_ratio) and no weight decay (both LTP and ASL keep decay off thresholds)."""
    ids = {id(p) for p in thresholds}
    base = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    groups = [{"params": base}, {"params": thresholds, "lr": ctx.lr * lr_ratio, "weight_decay": 0.0}]
    if ctx.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=ctx.lr, momentum=ctx.momentum, weight_decay=ctx.weight_decay)
    return torch.optim.Adam(groups, lr=ctx.lr, weight_decay=ctx.weight_decay)


def stage_plan(plan: ResolvedTargets, stage_alphas: Mapping[str, float]) -> ResolvedTargets:
    """The plan part-way (gradual and iterative methods): each layer's pattern at its stage
    alpha. An N:M layer goes through k:M with k = round(M * alpha) from M down to its N, and
    is not pruned yet while k = M."""
    alphas, patterns = {}, {}
    for name, a in stage_alphas.items():
        p = plan.patterns.get(name, Pattern())
        if p.kind == "nm":
            k = min(p.m, max(p.n, round(p.m * a)))
            if k >= p.m:
                continue
            p = Pattern("nm", n=k, m=p.m)
            a = k / p.m
        alphas[name] = a
        if p.kind != "unstructured":
            patterns[name] = p
    return ResolvedTargets(alphas, patterns, {n: plan.layouts.get(n, 0) for n in alphas}, dict(plan.skipped))


def staged_masks(weights: Mapping[str, torch.Tensor], plan: ResolvedTargets,
                 stage_alphas: Mapping[str, float],
                 live: Mapping[str, torch.Tensor] | None = None) -> Masks:
    """Masks of `stage_plan`, never reviving a weight `live` pruned (monotone masks); a layer
    not pruned yet keeps its live mask (all True at first)."""
    live = live or {}
    stage = stage_plan(plan, stage_alphas)
    out = {n: live.get(n, torch.ones_like(weights[n], dtype=torch.bool)) for n in stage_alphas}
    out.update({n: pattern_mask(weights[n], a, stage.patterns.get(n, Pattern()), stage.layouts[n],
                                live.get(n)) for n, a in stage.alphas.items()})
    return out


def project_learned(scores: Mapping[str, torch.Tensor], masks: Masks, plan: ResolvedTargets) -> Masks:
    """Learned-threshold methods (LTP, ASL) learn unstructured masks; a layer with a pattern
    takes the pattern's projection of its learned scores (higher = keep) at its target alpha."""
    out = dict(masks)
    for name, pattern in plan.patterns.items():
        if name in scores:
            s = scores[name].detach().double()
            positive = s - s.min() + 1.0
            out[name] = pattern_mask(positive, plan.alphas[name], pattern, plan.layouts.get(name, 0))
    return out
