"""The registry of the ONNX ops the bridge runs: op type -> function(module, node, attrs,
inputs) -> tensor or tuple of tensors, one small function per op, grouped by family
(ops_nn: convolutions, pooling, normalization, activations; ops_math: arithmetic, logic,
reductions, MatMul/Einsum; ops_tensor: constants, shapes, views, indexing, padding;
ops_resize: Resize; ops_rnn: LSTM, GRU, RNN). tests/pruning/test_onnx_ops.py checks every registered op against
onnxruntime and fails for an op without a case."""
from __future__ import annotations

from typing import Callable

from pruning.onnx.ops_base import OnnxBridgeError, attrs
from pruning.onnx.ops_math import MATH_OPS
from pruning.onnx.ops_nn import NN_OPS
from pruning.onnx.ops_resize import RESIZE_OPS
from pruning.onnx.ops_rnn import RNN_OPS
from pruning.onnx.ops_tensor import TENSOR_OPS


def _merge(*families: dict) -> dict[str, Callable]:
    merged: dict[str, Callable] = {}
    for family in families:
        clash = merged.keys() & family.keys()
        assert not clash, f"ops registered twice: {sorted(clash)}"
        merged.update(family)
    return merged


OPS: dict[str, Callable] = _merge(NN_OPS, MATH_OPS, TENSOR_OPS, RESIZE_OPS, RNN_OPS)

__all__ = ["OPS", "OnnxBridgeError", "attrs"]
