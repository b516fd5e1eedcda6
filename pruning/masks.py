"""Pruning masks keyed by ONNX weight name (True = kept).

Which entries a mask keeps is decided in pruning.projections; this module keeps masks in force.
A mask only means something if it holds: `MaskEnforcer` zeroes the gradients of pruned
entries before an optimizer step, and after the step re-applies the mask to the weights AND
zeroes the optimizer state (SGD momentum, Adam moments) of pruned entries, so neither momentum
nor decoupled weight decay can revive a pruned weight. `check_sparsity` fails loudly when the
achieved keep count differs from the requested one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import torch
from torch import nn

from pruning import safe_files
from pruning.errors import PruningError, SparsityMismatchError
from pruning.patterns import UNSTRUCTURED, Pattern, expected_units, kept_units, pattern_violations

Masks = dict[str, torch.Tensor]


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
                   weights: Mapping[str, torch.Tensor] | None = None,
                   patterns: Mapping[str, Pattern] | None = None,
                   layouts: Mapping[str, int] | None = None) -> None:
    """Raise SparsityMismatchError unless every layer in `targets` keeps exactly what its
    pattern's projection keeps at its alpha (entries, blocks or rows: projections.
    expected_units), its mask holds the pattern, and (when `weights` is given) every pruned
    weight is 0."""
    patterns, layouts = patterns or {}, layouts or {}
    problems = []
    for name, alpha in targets.items():
        if name not in masks:
            problems.append(f"{name}: no mask (requested alpha {alpha:g})")
            continue
        mask, pattern, axis = masks[name], patterns.get(name, UNSTRUCTURED), layouts.get(name, 0)
        want = expected_units(tuple(mask.shape), alpha, pattern, axis)
        got = kept_units(mask, pattern, axis)
        if want != got:
            problems.append(f"{name}: kept {got} {pattern.kind} units, requested {want} (alpha {alpha:g})")
        bad = pattern_violations(mask, pattern, axis)
        if bad:
            problems.append(f"{name}: {bad} groups break pattern {pattern}")
        if weights is not None:
            revived = int((weights[name].detach()[~mask] != 0).sum())
            if revived:
                problems.append(f"{name}: {revived} pruned weights are nonzero")
    if problems:
        raise SparsityMismatchError("achieved sparsity differs from the request: " + "; ".join(problems)
                                    + " (a bug in the method: masks must be enforced after every step)")


def save_masks(masks: Masks, path: str | Path, within: str | Path | None = None) -> None:
    """Save as .npz of bool arrays keyed by weight name (names may contain dots and slashes);
    `within`: the run folder `path` is in (pruning.safe_files)."""
    arrays = {f"m{i}": m.cpu().numpy() for i, m in enumerate(masks.values())}
    safe_files.write_file(path, lambda f: np.savez_compressed(f, **arrays, names=np.array(list(masks), dtype=str)),
                          within=within)


def load_masks(path: str | Path) -> Masks:
    try:
        npz = np.load(path, allow_pickle=False)
        names = [str(n) for n in npz["names"]]
        return {n: torch.from_numpy(npz[f"m{i}"].astype(bool)) for i, n in enumerate(names)}
    except (OSError, KeyError, ValueError) as exc:
        raise PruningError(f"cannot read masks from {path} ({exc}); write them with save_masks") from exc
