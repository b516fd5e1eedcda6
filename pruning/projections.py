"""Projections onto sparsity patterns (pruning.patterns): which entries of a weight to keep.

Every function sees a weight as a matrix of output channels x reduction positions (ONNX layout:
`out_axis` is the output channel axis, 0 for Conv and Gemm with transB, 1 for ConvTranspose
and MatMul/Gemm weights stored (in, out)) and returns a bool mask of the weight's own shape:
- unstructured: the k largest |w| (k = round(alpha * n), at least one);
- N:M: per row, the N largest |w| of every aligned group of M positions (a trailing partial
  group keeps at most N);
- block KxL: the blocks of K rows x L positions with the largest L2 norm, round(alpha * blocks)
  of them (edge blocks are partial);
- channel: the rows with the largest L2 norm, round(alpha * rows) of them.
Keeping the largest magnitudes (or block / row norms) is the Euclidean projection onto each
pattern's set, so ADMM's Z-step is `weight * pattern_mask(weight, ...)`.

What a mask holds (violations, kept units, the padding rule of partial blocks and groups) is
pruning.patterns' rule, which codesign reads masks with too; it is re-exported here.

`live`: an earlier mask; entries it pruned are never chosen again (monotone masks, as
magnitude pruning, AGP and progressive ADMM need). Ties break by the lower flat index.
"""
from __future__ import annotations

from typing import Mapping

import torch

from pruning.errors import PruningError, SparsityMismatchError
from pruning.patterns import (UNSTRUCTURED, Pattern, expected_units, keep_count, kept_units,  # noqa: F401
                               pattern_violations)


def topk_mask(scores: torch.Tensor, keep: int) -> torch.Tensor:
    """Bool mask of the `keep` largest scores; among equal scores the lower flat index wins (a
    stable sort), so the same tensor always gives the same mask (torch.topk does not)."""
    flat = scores.detach().reshape(-1)
    keep = max(0, min(int(keep), flat.numel()))
    order = torch.sort(flat, descending=True, stable=True).indices
    mask = torch.zeros(flat.numel(), dtype=torch.bool, device=scores.device)
    mask[order[:keep]] = True
    return mask.reshape(scores.shape)


def _rows(t: torch.Tensor, out_axis: int) -> torch.Tensor:
    """The (out, reduction) view of a tensor (pruning.patterns.as_rows in torch)."""
    return t.movedim(out_axis, 0).reshape(t.shape[out_axis], -1)


def _from_rows(rows: torch.Tensor, like: torch.Tensor, out_axis: int) -> torch.Tensor:
    moved = list(like.movedim(out_axis, 0).shape)
    return rows.reshape(moved).movedim(0, out_axis)


def _scores(weight: torch.Tensor, live: torch.Tensor | None) -> torch.Tensor:
    s = weight.detach().abs().double()
    if live is not None:
        s = torch.where(live, s, torch.full_like(s, -1.0))      # dead entries are never chosen
    return s


def _count(alpha: float, units: int, live_units: int | None) -> int:
    k = keep_count(units, alpha)
    return min(k, live_units) if live_units is not None else k


def _nm_mask(rows: torch.Tensor, n: int, m: int) -> torch.Tensor:
    out, cols = rows.shape
    pad = (-cols) % m
    padded = torch.nn.functional.pad(rows, (0, pad), value=-2.0)        # padding never kept
    groups = padded.reshape(out, -1, m)
    order = torch.sort(groups, dim=2, descending=True, stable=True).indices
    keep = torch.zeros_like(groups, dtype=torch.bool)
    keep.scatter_(2, order[:, :, :n], True)
    keep &= groups >= 0                 # a dead or padded position is never kept
    return keep.reshape(out, -1)[:, :cols]


def _block_mask(rows: torch.Tensor, k: int, l: int, alpha: float, live_rows) -> torch.Tensor:
    out, cols = rows.shape
    pr, pc = (-out) % k, (-cols) % l
    sq = torch.nn.functional.pad(rows.clamp_min(0) ** 2, (0, pc, 0, pr))
    blocks = sq.reshape((out + pr) // k, k, (cols + pc) // l, l).sum(dim=(1, 3))
    if live_rows is not None:
        alive = torch.nn.functional.pad(live_rows.double(), (0, pc, 0, pr)).reshape(
            blocks.shape[0], k, blocks.shape[1], l).sum(dim=(1, 3)) > 0
        blocks = torch.where(alive, blocks, torch.full_like(blocks, -1.0))
        n_live = int(alive.sum())
    else:
        n_live = None
    chosen = topk_mask(blocks, _count(alpha, blocks.numel(), n_live))
    full = chosen.repeat_interleave(k, 0).repeat_interleave(l, 1)[:out, :cols]
    return full if live_rows is None else full & live_rows


def _channel_mask(rows: torch.Tensor, alpha: float, live_rows) -> torch.Tensor:
    norms = (rows.clamp_min(0) ** 2).sum(dim=1)
    n_live = None
    if live_rows is not None:
        alive = live_rows.any(dim=1)
        norms = torch.where(alive, norms, torch.full_like(norms, -1.0))
        n_live = int(alive.sum())
    chosen = topk_mask(norms, _count(alpha, norms.numel(), n_live))
    full = chosen[:, None].expand_as(rows)
    return full if live_rows is None else full & live_rows


def pattern_mask(weight: torch.Tensor, alpha: float, pattern: Pattern = UNSTRUCTURED,
                 out_axis: int = 0, live: torch.Tensor | None = None) -> torch.Tensor:
    """The mask of `pattern` at keep fraction `alpha` (N:M: the pattern sets the fraction)."""
    scores = _scores(weight, live)
    if pattern.kind == "unstructured":
        n_live = None if live is None else int(live.sum())
        return topk_mask(scores, _count(alpha, weight.numel(), n_live))
    rows = _rows(scores, out_axis)
    live_rows = None if live is None else _rows(live, out_axis)
    if pattern.kind == "nm":
        mask = _nm_mask(rows, pattern.n, pattern.m)
    elif pattern.kind == "block":
        mask = _block_mask(rows, pattern.k, pattern.l, alpha, live_rows)
    elif pattern.kind == "channel":
        mask = _channel_mask(rows, alpha, live_rows)
    else:                                               # pragma: no cover (Pattern validates kinds)
        raise PruningError(f"unknown pattern {pattern}")
    return _from_rows(mask, weight, out_axis)


def pattern_masks(weights: Mapping[str, torch.Tensor], alphas: Mapping[str, float],
                  patterns: Mapping[str, Pattern] | None = None,
                  layouts: Mapping[str, int] | None = None,
                  live: Mapping[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Masks of the layers named in `alphas` (others get none)."""
    unknown = sorted(set(alphas) - set(weights))
    if unknown:
        raise PruningError(f"alphas name unknown weights {unknown}; known: {sorted(weights)}")
    patterns, layouts, live = patterns or {}, layouts or {}, live or {}
    return {n: pattern_mask(weights[n], a, patterns.get(n, UNSTRUCTURED), layouts.get(n, 0), live.get(n))
            for n, a in alphas.items()}


def global_masks(weights: Mapping[str, torch.Tensor], alpha: float,
                 live: Mapping[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Rank all listed weights together by |w| and keep the round(alpha * N) largest (See et
    al. 2016, torch.nn.utils.prune.global_unstructured); layers end up with different alphas."""
    live = live or {}
    names = list(weights)
    flat = torch.cat([_scores(weights[n], live.get(n)).reshape(-1) for n in names])
    n_live = None if not live else sum(int(live[n].sum()) if n in live else weights[n].numel() for n in names)
    keep = topk_mask(flat, _count(alpha, flat.numel(), n_live))
    out, start = {}, 0
    for name in names:
        size = weights[name].numel()
        out[name] = keep[start:start + size].view_as(weights[name])
        start += size
    return out


def global_alphas(weights: Mapping[str, torch.Tensor], alpha: float) -> dict[str, float]:
    """Per-layer keep fractions of one global magnitude ranking."""
    masks = global_masks(weights, alpha)
    return {n: max(int(m.sum()), 1) / m.numel() for n, m in masks.items()}


def check_pattern(masks: Mapping[str, torch.Tensor], patterns: Mapping[str, Pattern],
                  layouts: Mapping[str, int] | None = None) -> None:
    """Raise SparsityMismatchError when a mask breaks its pattern."""
    layouts = layouts or {}
    problems = [f"{n}: {v} {p.kind} groups break {p}" for n, p in patterns.items() if n in masks
                for v in [pattern_violations(masks[n], p, layouts.get(n, 0))] if v]
    if problems:
        raise SparsityMismatchError("masks do not hold their pattern: " + "; ".join(problems))
