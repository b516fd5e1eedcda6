"""Deployable quantized ONNX: the standard QDQ form with int8 weights.

Every quantized weight (on the grid k * q of pruning.quantize, k in +-1..+-(M/2), pruned
entries 0) is stored as an int8 initializer of the integers k under the weight's own name, and
a DequantizeLinear node (per-tensor scale q, zero point 0) feeds the original consumer with
k * q: exactly the float values the torch model holds, so onnxruntime computes what torch
computes up to summation order, and the pruned zeros stay exact zeros in the int8 tensor. A
grid of fewer bits is stored as int8 carrying its grid: only |k| <= 2^(bits-1) occur (the
layer's `bits` are in the model's metadata). Activations stay float (weight-only QDQ, what
onnxruntime's and accelerator toolchains' weight-quantized graphs look like).
"""
from __future__ import annotations

import copy
from typing import Mapping

import numpy as np
import onnx
from onnx import helper, numpy_helper

from pruning.errors import PruningError

MIN_OPSET = 13


def to_qdq(model: onnx.ModelProto, intervals: Mapping[str, float], bits: Mapping[str, int]) -> onnx.ModelProto:
    """A copy of `model` whose weights in `intervals` are int8 + DequantizeLinear."""
    if not intervals:
        raise PruningError("a QDQ export needs quantized layers: give --bits (e.g. --bits 8)")
    too_wide = sorted(n for n, b in bits.items() if n in intervals and b > 8)
    if too_wide:
        raise PruningError(f"int8 QDQ holds grids of at most 8 bits; {too_wide[0]!r} has {bits[too_wide[0]]}")
    out = copy.deepcopy(model)
    opset = next((o for o in out.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None or opset.version < MIN_OPSET:
        raise PruningError(f"a QDQ export needs opset >= {MIN_OPSET}; the model has "
                           f"{opset.version if opset else 'none'} (re-export it at a newer opset)")
    graph = out.graph
    inits = {t.name: i for i, t in enumerate(graph.initializer)}
    missing = sorted(set(intervals) - set(inits))
    if missing:
        raise PruningError(f"QDQ export: weight {missing[0]!r} is not an initializer of the graph")
    new_nodes = []
    for name, q in intervals.items():
        tensor = graph.initializer[inits[name]]
        w = numpy_helper.to_array(tensor).astype(np.float64)
        k = np.rint(w / q)
        if np.abs(k).max() > 127:
            raise PruningError(f"QDQ export: {name!r} has levels beyond int8 ({int(np.abs(k).max())})")
        if not np.allclose(k * q, w, rtol=0, atol=1e-6 * max(abs(q), 1e-12) * 128):
            raise PruningError(f"QDQ export: {name!r} is not on its quantization grid (q = {q:g})")
        graph.initializer[inits[name]].CopyFrom(numpy_helper.from_array(k.astype(np.int8), name))
        scale, zero, deq = f"{name}_scale", f"{name}_zero_point", f"{name}_dequantized"
        graph.initializer.extend([numpy_helper.from_array(np.array(q, dtype=np.float32), scale),
                                  numpy_helper.from_array(np.array(0, dtype=np.int8), zero)])
        new_nodes.append(helper.make_node("DequantizeLinear", [name, scale, zero], [deq],
                                          name=f"{name}_DequantizeLinear"))
        for node in graph.node:
            for i, inp in enumerate(node.input):
                if inp == name:
                    node.input[i] = deq
    nodes = new_nodes + list(graph.node)        # dequantize first: a valid topological order
    del graph.node[:]
    graph.node.extend(nodes)
    for vi in list(graph.input):                # an initializer listed as an input keeps its float type
        if vi.name in intervals:
            graph.input.remove(vi)
    onnx.checker.check_model(out)
    return out


def int8_weights(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """The int8 weight initializers of a QDQ model (name -> integer levels)."""
    deq_inputs = {n.input[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer
            if t.name in deq_inputs and t.data_type == onnx.TensorProto.INT8}
