"""What a pruned (and quantized) ONNX model carries: per layer its exact mask, the pattern the
mask follows, its keep fraction and the width its values are quantized to."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from codesign.graph.protos import all_graphs
from codesign.plans import PlanError, Sparsity
from hwmodels.formats import MaskStats
from pruning.onnx.layouts import weight_layouts
from pruning.patterns import Pattern, infer_pattern, output_axis, unit_mask

# a layer's ONNX op where the graph scan does not see its weight (a folded weight, an op the
# bridge does not train): the default output axis of the layer's kind
_KIND_OP = {"conv": "Conv", "conv_transpose": "ConvTranspose", "recurrent": "LSTM", "gemm": "Gemm",
            "matmul": "MatMul"}


def output_axes(network) -> dict[str, int]:
    """The output-channel axis of each prunable layer's stored weight, by the rule the bridge
    trains and masks it with (pruning.onnx.layouts), so a mask reads back as it was made."""
    ranks = {l.name: len(l.weight_shape) for l in network.layers if l.shape.prunable}
    found: dict[str, int] = {}
    for graph in all_graphs(network.model.graph):
        for name, axis in weight_layouts(graph.node, ranks).items():
            found.setdefault(name, axis)
    return {l.name: found.get(l.name, output_axis(_KIND_OP.get(l.op, "MatMul"), 1, l.attributes, 0,
                                                  len(l.weight_shape)))
            for l in network.layers if l.shape.prunable}


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


def layer_mask(mask, out_axis: int = 0) -> tuple[Pattern, MaskStats]:
    """The pattern a layer's mask follows (pruning.patterns.infer_pattern) and its exact
    statistics in the units the hardware stores (blocks for a block pattern): the one reading
    of a mask, for pruned files and for trained candidates alike."""
    pattern = infer_pattern(mask, out_axis)
    return pattern, MaskStats.from_mask(unit_mask(mask, pattern, out_axis))


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
    axes, stored_bits = output_axes(network), network.weight_bits()
    for layer in network.layers:
        if not layer.shape.prunable or layer.weight_source == "constant_of_shape":
            continue
        w = network.weight(layer.name)
        if w is None or w.size != layer.shape.weight_count:
            continue
        # an integer tensor (a QDQ layer's int8) has the width of its type; float values may be
        # quantized in value only (fake quantization)
        width = stored_bits[layer.name] if np.asarray(w).dtype.kind in "iu" else quantized_bits(w)
        if width is not None:
            bits[layer.name] = width
        _read_mask(layer.name, np.asarray(w) != 0, axes[layer.name], alphas, patterns, masks)
    return PrunedModel(Sparsity(alphas, patterns, bits), masks)


def _read_mask(name: str, mask: np.ndarray, axis: int, alphas: dict, patterns: dict, masks: dict) -> None:
    """One layer's mask (True = kept) into the keep fractions, patterns and statistics; a
    layer that keeps everything is dense and adds nothing."""
    if mask.all():
        return
    if not mask.any():
        raise PlanError(f"layer {name[:60]!r} of the pruned model has only zero weights; "
                        "it cannot be evaluated (restore it or remove it)")
    pattern, masks[name] = layer_mask(mask, axis)
    alphas[name] = float(mask.mean())
    if pattern.kind != "unstructured":
        patterns[name] = pattern


def read_masks(found: Mapping, network) -> PrunedModel:
    """Masks by weight name (bool numpy arrays or torch tensors, True = kept: what a pruner's
    finalize() returns) read as read_pruned reads a pruned file of `network`; a layer without
    a mask is dense."""
    layers = {l.name: l for l in network.layers if l.shape.prunable}
    axes = output_axes(network)
    alphas, patterns, masks = {}, {}, {}
    for name, value in found.items():
        if name not in layers:
            shown = ", ".join(list(layers)[:5]) + (", ..." if len(layers) > 5 else "")
            raise PlanError(f"masks name {str(name)[:60]!r}, which is not a prunable layer of {network.name} "
                            f"({shown}); give the masks of the model it was loaded from")
        mask = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
        want = tuple(layers[name].weight_shape)
        if mask.dtype != np.bool_ or mask.shape != want:
            raise PlanError(f"the mask of layer {name[:60]!r} is {mask.dtype} {mask.shape}; it must be boolean of "
                            f"the weight's shape {want} (True = kept)")
        _read_mask(name, mask, axes[name], alphas, patterns, masks)
    return PrunedModel(Sparsity(alphas, patterns, {}), masks)
