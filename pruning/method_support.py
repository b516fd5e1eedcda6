"""Plumbing shared by the method backends (magnitude, AGP, progressive ADMM, LTP, ASL), which
all train the given model in place (as the ADMM backend does) and return it in the result:
turning Targets into per-layer keep fractions, per-layer MAC counts, a validation hold-out,
re-parametrizing weights in place, and assembling the one per-layer result table.
"""
from __future__ import annotations

import dataclasses
import math
import time
from typing import Iterable, Mapping

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.overrides import TorchFunctionMode

from pruning.backend import CompressionResult, LayerResult, Targets, prunable_weights
from pruning.data import Dataset
from pruning.errors import PruningError
from pruning.masks import Masks, check_sparsity, topk_mask
from pruning.train import TrainContext, evaluate

def resolve_alphas(weights: Mapping[str, torch.Tensor], targets: Targets) -> dict[str, float]:
    """Per-layer keep fractions to reach, resolved as the ADMM backend does (explicit alphas
    win; a global alpha becomes per-layer alphas by one magnitude ranking; layers at 1 drop
    out), so every method prunes towards the same per-layer targets."""
    from pruning.admm import resolve_alphas as resolve
    alphas = resolve(weights, targets)
    if not alphas:
        raise PruningError("nothing to prune: give per-layer alphas below 1 or a global alpha "
                           "below 1 (e.g. --alphas plan.json or a global keep fraction)")
    return alphas


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
def layer_macs(model: nn.Module, example: torch.Tensor) -> dict[str, int]:
    """MACs per prunable weight for one sample (one multiply-add = one MAC), from a traced
    forward pass: conv output elements x (weight numel / dim 0), transposed conv likewise per
    input element, linear / matmul output elements x contraction length. Works for torch
    modules and the ONNX bridge alike; a weight no op reads counts one MAC per weight."""
    weights = prunable_weights(model)
    counter = _MacCounter(weights)
    was_training = model.training
    try:
        model.eval()
        with counter:
            model(example[:1])
    finally:
        model.train(was_training)
    return {n: counter.counts.get(n, weights[n].numel()) for n in weights}


def holdout(ctx: TrainContext, fraction: float = 0.1, limit: int = 2000
            ) -> tuple[TrainContext, tuple[np.ndarray, np.ndarray]]:
    """Split a validation set off the training data, so model selection (progressive pool,
    LTP trail) never looks at the test set. Seeded; returns the training context without it."""
    data = ctx.data
    n = len(data.train_y)
    k = min(limit, max(1, int(n * fraction))) if n > 1 else 0
    order = np.random.default_rng(ctx.seed + 7).permutation(n)
    val, train = order[:k], np.sort(order[k:])
    reduced = Dataset(data.train_x[train], data.train_y[train], data.test_x, data.test_y,
                      data.input_shape, data.num_classes, data.name)
    return dataclasses.replace(ctx, data=reduced), (data.train_x[val], data.train_y[val])


def attach(model: nn.Module, weights: Mapping[str, torch.Tensor], make) -> dict[str, nn.Module]:
    """Register `make(name, weight)` as a parametrization of each named weight; returns them."""
    out = {}
    for name, w in weights.items():
        module, attr = owner_of(model, w)
        out[name] = make(name, w)
        parametrize.register_parametrization(module, attr, out[name])
    return out


def detach(model: nn.Module) -> None:
    """Remove every parametrization, restoring the raw weight parameters (same objects)."""
    for module in list(model.modules()):
        if parametrize.is_parametrized(module):
            for attr in list(module.parametrizations.keys()):
                parametrize.remove_parametrizations(module, attr, leave_parametrized=False)


def build_result(method: str, model: nn.Module, masks: Masks, alphas: Mapping[str, float],
                 targets: Targets, accuracy_dense: float, ctx: TrainContext, history: list[dict],
                 epochs_used: float, started: float, exact: bool) -> CompressionResult:
    """Check that every pruned weight is zero (and, for methods that promise exact alphas, the
    kept counts), evaluate on the test split and fill the per-layer table."""
    weights = prunable_weights(model)
    achieved = {n: int(m.sum()) / m.numel() for n, m in masks.items() if int(m.sum())}
    check_sparsity(masks, alphas if exact else achieved, weights)
    layers = [LayerResult(name, w.numel(), int(masks[name].sum()) if name in masks else w.numel(),
                          float(alphas.get(name, 1.0)), targets.bits.get(name))
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
