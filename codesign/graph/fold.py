"""Constant folding once input shapes are fixed, by onnxruntime's basic graph optimizer.

Exporters compute Reshape targets, Pad amounts, gate-reordered LSTM weights or If conditions
at run time from `Shape` of an activation; with static inputs these are constants, but onnx
shape inference does not evaluate them all. The folded copy is only read: shapes of tensors
the original graph leaves unknown and values of the `probes` (made graph outputs so that the
optimizer keeps their names). The layers come from the original graph: the optimizer also
fuses and de-duplicates nodes and weights, which would rename and drop real work.
"""
from __future__ import annotations

import os
import tempfile

import onnx
from onnx import shape_inference


def fold(model: onnx.ModelProto, probes: set[str]) -> tuple[onnx.ModelProto | None, str | None]:
    """(the folded copy with inferred shapes, None) or (None, why folding failed)."""
    try:
        import onnxruntime as ort
    except ImportError as exc:                   # pragma: no cover - a dependency of the package
        return None, f"onnxruntime is not installed ({exc})"
    probed = onnx.ModelProto.FromString(model.SerializeToString())
    outputs = {o.name for o in probed.graph.output}
    for name in sorted(probes - outputs):
        probed.graph.output.add().name = name        # no type: onnxruntime infers it
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 4
    with tempfile.TemporaryDirectory(prefix="codesign-fold-") as tmp:
        options.optimized_model_filepath = os.path.join(tmp, "folded.onnx")
        try:
            ort.InferenceSession(probed.SerializeToString(), options, providers=["CPUExecutionProvider"])
            folded = onnx.load(options.optimized_model_filepath)
        except Exception as exc:                 # unknown custom ops, > 2 GB, invalid graphs
            return None, " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
    try:
        return shape_inference.infer_shapes(folded, data_prop=True), None
    except Exception:                            # the folded graph's own shapes still help
        return folded, None
