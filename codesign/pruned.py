"""What a pruned (and quantized) ONNX model carries: per layer its exact mask, the pattern the
mask follows, its keep fraction and the width its values are quantized to."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codesign.plans import PlanError, Sparsity
from hwmodels.formats import MaskStats
from hwmodels.workload import LayerShape
from pruning.patterns import Pattern

NM_CANDIDATES = (2, 4, 8, 16)            # group sizes M tried when reading N:M from a mask
BLOCK_CANDIDATES = ((4, 1), (1, 4), (2, 2), (8, 1), (1, 8), (4, 4), (8, 8), (16, 1), (1, 16))


def rows_by_output(mask: np.ndarray, shape: LayerShape, outputs_first: bool = False) -> np.ndarray:
    """A weight (or mask) as (out_channels, reduction): one row per output channel in ONNX
    layout. Conv (K, C/g, ...); ConvTranspose (C, K/g, ...); Gemm with transB=1 (out, in);
    MatMul and Gemm without transB (in, out)."""
    m = np.asarray(mask)
    if shape.op == "conv":
        return m.reshape(m.shape[0], -1)
    if shape.op == "conv_transpose":
        return np.moveaxis(m, 1, 0).reshape(m.shape[1], -1)
    m = m.reshape(m.shape[0], -1)
    if outputs_first or m.shape != (shape.in_channels, shape.out_channels):
        return m
    return m.T


def infer_pattern(rows: np.ndarray) -> Pattern:
    """The most specific pattern a (out, reduction) mask follows: whole channels, blocks, N:M
    groups (every full aligned group of M holds exactly N, N <= M/2, as the projection keeps
    them), else unstructured."""
    m = np.asarray(rows, dtype=bool)
    per_row = m.sum(axis=1)
    if np.all((per_row == 0) | (per_row == m.shape[1])) and np.any(per_row == 0):
        return Pattern("channel")
    out, cols = m.shape
    for k, l in BLOCK_CANDIDATES:
        if out % k or cols % l:
            continue
        blocks = m.reshape(out // k, k, cols // l, l)
        any_, all_ = blocks.any(axis=(1, 3)), blocks.all(axis=(1, 3))
        if np.array_equal(any_, all_) and not any_.all():
            return Pattern("block", k=k, l=l)
    for group in NM_CANDIDATES:
        full = cols // group
        if full == 0:
            break
        counts = m[:, :full * group].reshape(out, full, group).sum(axis=2)
        keep = int(counts.max())
        if 0 < keep <= group // 2 and np.all(counts == keep) and \
                np.all(m[:, full * group:].sum(axis=1) <= keep):
            return Pattern("nm", n=keep, m=group)
    return Pattern()


def mask_stats(rows: np.ndarray, pattern: Pattern) -> MaskStats:
    """Exact statistics in the units the hardware stores: blocks for a block pattern."""
    m = np.asarray(rows, dtype=bool)
    if pattern.kind == "block":
        m = m.reshape(m.shape[0] // pattern.k, pattern.k, m.shape[1] // pattern.l, pattern.l).any(axis=(1, 3))
    return MaskStats.from_mask(m)


def quantized_bits(values: np.ndarray, max_bits: int = 8) -> int | None:
    """Bits per stored weight of a quantized layer, None for float values. On a uniform grid
    without a zero level (as pruning.quantize writes: +-q .. +-(M/2)q, M = 2^n) the width is
    n = log2(2 k_max), k_max the largest level index used; q is the largest interval that puts
    every magnitude on the grid; otherwise at most 2^max_bits distinct values read as a codebook."""
    w = np.asarray(values, dtype=np.float64)
    nonzero = np.abs(w[w != 0])
    if nonzero.size < 4:
        return None
    levels = np.unique(nonzero).size
    if nonzero.size < 4 * levels:
        return None                              # as many values as weights: float
    ratio = nonzero / nonzero.min()
    k_max = next((np.round(ratio * m).max() for m in range(1, 2 ** (max_bits - 1) + 1)
                  if np.allclose(ratio * m, np.round(ratio * m), rtol=0, atol=1e-3 * m)), None)
    if k_max is not None and 2 * k_max <= 2 ** max_bits:
        return max(1, int(np.ceil(np.log2(2 * k_max))))
    if 2 * levels <= 2 ** max_bits:
        return max(1, int(np.ceil(np.log2(2 * levels))))
    return None


def layer_mask(shape: LayerShape, mask: np.ndarray, outputs_first: bool = False) -> tuple[Pattern, MaskStats]:
    """The pattern a layer's mask follows and its exact statistics (the one reading of a mask,
    for pruned files and for trained candidates alike)."""
    rows = rows_by_output(mask, shape, outputs_first)
    pattern = infer_pattern(rows)
    return pattern, mask_stats(rows, pattern)


@dataclass(frozen=True)
class PrunedModel:
    sparsity: Sparsity
    masks: dict[str, MaskStats]


def read_pruned(network, reference=None) -> PrunedModel:
    """Masks, patterns, keep fractions and quantized widths of `network`'s layers; layers
    must belong to `reference` (the model the pruned file was made from) when it is given."""
    if reference is not None:
        # only weights identify a layer: activation products are named by their node, which a
        # re-export may rename
        names = {l.name for l in reference.layers}
        foreign = [l.name for l in network.layers if l.shape.prunable and l.name not in names]
        if foreign:
            raise PlanError(f"pruned model layer {foreign[0][:60]!r} is not in {reference.name}; give "
                            "the same model the pruned file was made from")
    alphas, patterns, bits, masks = {}, {}, {}, {}
    for layer in network.layers:
        if not layer.shape.prunable or layer.weight_source == "constant_of_shape":
            continue
        w = network.weight(layer.name)
        if w is None or w.size != layer.shape.weight_count:
            continue
        width = quantized_bits(w)
        if width is not None:
            bits[layer.name] = width
        mask = np.asarray(w) != 0
        if mask.all():
            continue
        if not mask.any():
            raise PlanError(f"layer {layer.name[:60]!r} of the pruned model has only zero weights; "
                            "it cannot be evaluated (restore it or remove it)")
        outputs_first = layer.op == "gemm" and bool(layer.attributes.get("transB", 0))
        pattern, masks[layer.name] = layer_mask(layer.shape, mask, outputs_first)
        alphas[layer.name] = float(mask.mean())
        if pattern.kind != "unstructured":
            patterns[layer.name] = pattern
    return PrunedModel(Sparsity(alphas, patterns, bits), masks)
