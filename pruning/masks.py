"""Pruning masks keyed by ONNX weight name (True = kept).

A mask only means something if it holds: `MaskEnforcer` zeroes the gradients of pruned
entries before an optimizer step, and after the step re-applies the mask to the weights AND
zeroes the optimizer state (SGD momentum, Adam moments) of pruned entries, so neither momentum
nor decoupled weight decay can revive a pruned weight. `check_sparsity` fails loudly when the
achieved keep count differs from the requested one.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping

import numpy as np
import torch
from torch import nn

from pruning.errors import PruningError, SparsityMismatchError

Masks = dict[str, torch.Tensor]


def keep_count(numel: int, alpha: float) -> int:
    """Number of weights kept at keep fraction `alpha` (round half up, at least one)."""
    if not 0.0 < alpha <= 1.0:
        raise PruningError(f"keep fraction alpha must be in (0, 1], got {alpha}")
    return min(numel, max(1, math.floor(alpha * numel + 0.5)))


def topk_mask(values: torch.Tensor, keep: int) -> torch.Tensor:
    """Bool mask of the `keep` largest |values|. Ties are broken deterministically: among equal
    magnitudes the lower flat index wins (a stable descending sort), so the same tensor always
    gives the same mask, which torch.topk does not guarantee."""
    flat = values.detach().reshape(-1).abs()
    keep = max(0, min(int(keep), flat.numel()))
    order = torch.sort(flat, descending=True, stable=True).indices
    mask = torch.zeros(flat.numel(), dtype=torch.bool, device=values.device)
    mask[order[:keep]] = True
    return mask.reshape(values.shape)


def magnitude_masks(weights: Mapping[str, torch.Tensor], alphas: Mapping[str, float]) -> Masks:
    """Layer-wise top-|w| masks for the layers named in `alphas` (others get no mask)."""
    unknown = sorted(set(alphas) - set(weights))
    if unknown:
        raise PruningError(f"alphas name unknown weights {unknown}; known: {sorted(weights)}")
    return {n: topk_mask(weights[n], keep_count(weights[n].numel(), a)) for n, a in alphas.items()}


def global_alphas(weights: Mapping[str, torch.Tensor], global_alpha: float) -> dict[str, float]:
    """Per-layer keep fractions from one global magnitude ranking over all given weights."""
    names = list(weights)
    flat = torch.cat([weights[n].detach().reshape(-1) for n in names])
    mask = topk_mask(flat, keep_count(flat.numel(), global_alpha))
    out, start = {}, 0
    for n in names:
        size = weights[n].numel()
        out[n] = max(int(mask[start:start + size].sum()), 1) / size
        start += size
    return out


def masks_from_zeros(weights: Mapping[str, torch.Tensor]) -> Masks:
    """Masks read off a pruned model: nonzero entries are kept."""
    return {n: w.detach() != 0 for n, w in weights.items()}


@torch.no_grad()
def apply_masks(weights: Mapping[str, torch.Tensor], masks: Masks) -> None:
    """Zero the pruned entries in place."""
    for name, mask in masks.items():
        weights[name].mul_(mask.to(weights[name].dtype))


class MaskEnforcer:
    """Keeps masks in force during training. Call `before_step()` after backward() and
    `after_step(optimizer)` after optimizer.step()."""

    def __init__(self, params: Mapping[str, nn.Parameter], masks: Masks):
        unknown = sorted(set(masks) - set(params))
        if unknown:
            raise PruningError(f"masks name unknown weights {unknown}; known: {sorted(params)}")
        self.pairs = [(params[n], masks[n].to(params[n].device)) for n in masks]

    @torch.no_grad()
    def before_step(self) -> None:
        for p, m in self.pairs:
            if p.grad is not None:
                p.grad.mul_(m)

    @torch.no_grad()
    def after_step(self, optimizer: torch.optim.Optimizer | None = None) -> None:
        for p, m in self.pairs:
            p.mul_(m)
            if optimizer is not None:
                for value in optimizer.state.get(p, {}).values():
                    if torch.is_tensor(value) and value.shape == p.shape:
                        value.mul_(m)


def check_sparsity(masks: Masks, targets: Mapping[str, float],
                   weights: Mapping[str, torch.Tensor] | None = None) -> None:
    """Raise SparsityMismatchError unless every layer in `targets` keeps exactly
    keep_count(numel, alpha) weights, and (when `weights` is given) every pruned weight is 0."""
    problems = []
    for name, alpha in targets.items():
        if name not in masks:
            problems.append(f"{name}: no mask (requested alpha {alpha:g})")
            continue
        mask = masks[name]
        want, got = keep_count(mask.numel(), alpha), int(mask.sum())
        if want != got:
            problems.append(f"{name}: kept {got}/{mask.numel()} (alpha {got / mask.numel():.4f}), "
                            f"requested {want} (alpha {alpha:g})")
        if weights is not None:
            revived = int((weights[name].detach()[~mask] != 0).sum())
            if revived:
                problems.append(f"{name}: {revived} pruned weights are nonzero")
    if problems:
        raise SparsityMismatchError("achieved sparsity differs from the request: " + "; ".join(problems)
                                    + " (a bug in the method: masks must be enforced after every step)")


def save_masks(masks: Masks, path: str | Path) -> None:
    """Save as .npz of bool arrays keyed by weight name (names may contain dots and slashes)."""
    np.savez_compressed(path, **{f"m{i}": m.cpu().numpy() for i, m in enumerate(masks.values())},
                        names=np.array(list(masks), dtype=str))


def load_masks(path: str | Path) -> Masks:
    try:
        npz = np.load(path, allow_pickle=False)
        names = [str(n) for n in npz["names"]]
        return {n: torch.from_numpy(npz[f"m{i}"].astype(bool)) for i, n in enumerate(names)}
    except (OSError, KeyError, ValueError) as exc:
        raise PruningError(f"cannot read masks from {path} ({exc}); write them with save_masks") from exc
