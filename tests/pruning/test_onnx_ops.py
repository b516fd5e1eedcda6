"""Every op the bridge registers (pruning.onnx.ops.OPS) matches onnxruntime: each case is a
one-node graph on seeded random inputs, with the attributes and opsets that change what the op
means. The first test enumerates OPS, so an op registered without a case fails it."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from pruning.onnx.bridge import OnnxModule
from pruning.onnx.ops import OPS

RNG = np.random.default_rng(0)
INT_MAX = np.iinfo(np.int64).max


def f(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def pos(*shape):
    return (RNG.random(shape) + 0.1).astype(np.float32)


def i64(*values):
    return np.array(values, dtype=np.int64)


def b(*shape):
    return RNG.random(shape) < 0.5


@dataclass(frozen=True)
class Case:
    op: str
    inputs: tuple                       # arrays; None omits an optional input
    attrs: dict = field(default_factory=dict)
    opset: int = 17
    feed: int | None = 0                # the graph input (None: a dummy); the rest are initializers
    outputs: int = 1                    # how many outputs the node has
    output: int = 0                     # the one compared


def c(op, *inputs, opset=17, feed=0, outputs=1, output=0, **attrs):
    return Case(op, inputs, attrs, opset, feed, outputs, output)


CASES: dict[str, list[Case]] = {
    # ---- convolution, dense, pooling ----
    "Conv": [c("Conv", f(2, 4, 9, 9), f(6, 2, 3, 3), f(6), group=2, strides=[2, 2], auto_pad="SAME_UPPER"),
             c("Conv", f(1, 3, 10, 10), f(5, 3, 3, 3), pads=[0, 1, 2, 0], dilations=[2, 1]),
             c("Conv", f(2, 2, 30), f(4, 2, 5), f(4), strides=[3], auto_pad="SAME_LOWER")],
    "ConvTranspose": [c("ConvTranspose", f(1, 4, 5, 5), f(4, 3, 2, 2), f(3), strides=[2, 2]),
                      c("ConvTranspose", f(1, 4, 6), f(4, 1, 3), group=2, strides=[2], pads=[1, 1],
                        output_padding=[1])],
    "Gemm": [c("Gemm", f(5, 4), f(3, 4), f(3), transB=1, alpha=0.5, beta=2.0),
             c("Gemm", f(4, 5), f(4, 3), transA=1)],
    "MaxPool": [c("MaxPool", f(2, 3, 7, 7), kernel_shape=[3, 3], strides=[2, 2], pads=[0, 1, 1, 2]),
                c("MaxPool", f(1, 2, 9, 9), kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_UPPER"),
                c("MaxPool", f(1, 2, 10), kernel_shape=[3], strides=[2], ceil_mode=1)],
    "AveragePool": [c("AveragePool", f(2, 3, 7, 7), kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 1, 1]),
                    c("AveragePool", f(2, 3, 7, 7), kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 2, 1],
                      count_include_pad=1),
                    c("AveragePool", f(1, 2, 8, 8), kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
                    c("AveragePool", f(1, 2, 11), kernel_shape=[4], strides=[2], pads=[1, 2])],
    "GlobalAveragePool": [c("GlobalAveragePool", f(2, 3, 5, 5)), c("GlobalAveragePool", f(2, 3, 7))],
    "GlobalMaxPool": [c("GlobalMaxPool", f(2, 3, 5, 5))],
    # ---- normalization ----
    "BatchNormalization": [c("BatchNormalization", f(2, 3, 4, 4), f(3), f(3), f(3), pos(3), epsilon=1e-3)],
    "InstanceNormalization": [c("InstanceNormalization", f(2, 3, 4, 5), f(3), f(3))],
    "LayerNormalization": [c("LayerNormalization", f(2, 5, 8), f(8), f(8)),
                           c("LayerNormalization", f(2, 3, 4), f(3, 4), axis=1, epsilon=1e-3),
                           c("LayerNormalization", f(2, 5, 8), f(8), outputs=3, output=2)],
    "LRN": [c("LRN", f(2, 7, 4, 4), size=5, alpha=1e-2, beta=0.75, bias=2.0)],
    # ---- activations ----
    "Relu": [c("Relu", f(3, 4))],
    "LeakyRelu": [c("LeakyRelu", f(3, 4), alpha=0.2)],
    "PRelu": [c("PRelu", f(2, 3, 4, 4), f(3, 1, 1))],
    "Elu": [c("Elu", f(3, 4), alpha=0.7)],
    "Celu": [c("Celu", f(3, 4), alpha=1.5)],
    "Selu": [c("Selu", f(3, 4))],
    "ThresholdedRelu": [c("ThresholdedRelu", f(3, 4), alpha=0.5)],
    "Sigmoid": [c("Sigmoid", f(3, 4))],
    "Tanh": [c("Tanh", f(3, 4))],
    "HardSigmoid": [c("HardSigmoid", f(3, 4) * 4, alpha=0.3, beta=0.4), c("HardSigmoid", f(3, 4) * 4)],
    "HardSwish": [c("HardSwish", f(3, 8) * 4)],
    "Softplus": [c("Softplus", f(3, 4) * 3)],
    "Softsign": [c("Softsign", f(3, 4))],
    "Mish": [c("Mish", f(3, 4), opset=18)],
    "Gelu": [c("Gelu", f(3, 4), opset=20), c("Gelu", f(3, 4), opset=20, approximate="tanh")],
    "Erf": [c("Erf", f(3, 4))],
    "Clip": [c("Clip", f(3, 4), np.float32(-0.5), np.float32(0.5), opset=13),
             c("Clip", f(3, 4), None, np.float32(0.2), opset=13),
             c("Clip", f(3, 4), opset=6, min=-0.3, max=0.1),
             c("Clip", i64(-5, 0, 3, 9), np.int64(-1), np.int64(4), opset=13)],
    "Softmax": [c("Softmax", f(2, 3, 4), opset=11, axis=1), c("Softmax", f(2, 3, 4), opset=11),
                c("Softmax", f(2, 3, 4), opset=13, axis=1), c("Softmax", f(2, 3, 4), opset=13)],
    "LogSoftmax": [c("LogSoftmax", f(2, 3, 4), opset=11, axis=1), c("LogSoftmax", f(2, 3, 4), opset=13, axis=-2)],
    "Dropout": [c("Dropout", f(2, 3), opset=10, ratio=0.3), c("Dropout", f(2, 3), np.float32(0.3), opset=13),
                c("Dropout", f(2, 3), opset=13, outputs=2, output=1)],
    # ---- elementwise arithmetic (float and the int64 of shape arithmetic) ----
    "Add": [c("Add", f(2, 3, 4), f(3, 1)), c("Add", i64(3, 4), i64(1))],
    "Sub": [c("Sub", f(2, 3), f(3)), c("Sub", i64(3, 4), i64(5, 1))],
    "Mul": [c("Mul", f(2, 3), f(2, 1)), c("Mul", i64(3, 4), np.int64(4))],
    "Div": [c("Div", f(2, 3), pos(3)), c("Div", i64(-7, 7, -3, 8), i64(2, -2, 2, 4))],
    "Mod": [c("Mod", i64(-7, 7, -3, 8), i64(3, -3, 2, 5)), c("Mod", f(6) * 5, pos(6), fmod=1)],
    "Pow": [c("Pow", pos(3, 4), f(3, 4)), c("Pow", f(3, 4), np.float32(2.0)),
            c("Pow", f(3, 4), np.int64(3), opset=15)],
    "Sum": [c("Sum", f(2, 3), f(2, 3), f(3))],
    "Mean": [c("Mean", f(2, 3), f(2, 3), f(3))],
    "Max": [c("Max", f(2, 3), f(3)), c("Max", i64(1, 5), i64(4, 2), i64(3, 3))],
    "Min": [c("Min", f(2, 3), f(3)), c("Min", i64(1, 5), i64(4, 2))],
    "Neg": [c("Neg", f(3, 4)), c("Neg", i64(3, -4))],
    "Abs": [c("Abs", f(3, 4)), c("Abs", i64(3, -4))],
    "Sign": [c("Sign", np.array([-2.0, 0.0, 3.0], np.float32))],
    "Sqrt": [c("Sqrt", pos(3, 4))],
    "Reciprocal": [c("Reciprocal", pos(3, 4))],
    "Exp": [c("Exp", f(3, 4))],
    "Log": [c("Log", pos(3, 4))],
    "Sin": [c("Sin", f(3, 4))],
    "Cos": [c("Cos", f(3, 4))],
    "Floor": [c("Floor", f(3, 4) * 3)],
    "Ceil": [c("Ceil", f(3, 4) * 3)],
    "Round": [c("Round", np.array([0.5, 1.5, 2.5, -0.5, -1.5, 1.2, -2.7], np.float32))],
    # ---- comparisons and logic ----
    "Equal": [c("Equal", i64(1, 2, 3), i64(1, 0, 3)), c("Equal", np.array([1.0, 2.0], np.float32), np.float32(2.0))],
    "Less": [c("Less", f(2, 3), f(3))],
    "Greater": [c("Greater", f(2, 3), f(3))],
    "LessOrEqual": [c("LessOrEqual", np.array([1.0, 2.0, 3.0], np.float32), np.float32(2.0))],
    "GreaterOrEqual": [c("GreaterOrEqual", np.array([1.0, 2.0, 3.0], np.float32), np.float32(2.0))],
    "Not": [c("Not", b(3, 4))],
    "And": [c("And", b(3, 4), b(4))],
    "Or": [c("Or", b(3, 4), b(4))],
    "Xor": [c("Xor", b(3, 4), b(4))],
    "Where": [c("Where", b(3, 4), f(3, 4), f(4)), c("Where", b(3), i64(1, 2, 3), i64(-1), feed=0)],
    # ---- matrix products ----
    "MatMul": [c("MatMul", f(5, 4), f(4, 3)), c("MatMul", f(2, 3, 4), f(2, 4, 5)),
               c("MatMul", f(2, 1, 4, 5), f(3, 5, 6)), c("MatMul", f(4), f(4, 3)), c("MatMul", f(2, 3, 4), f(4))],
    "Einsum": [c("Einsum", f(2, 3, 4), f(2, 4, 5), equation="bij,bjk->bik"),
               c("Einsum", f(2, 2, 3, 4), f(2, 2, 5, 4), equation="bhqd,bhkd->bhqk"),
               c("Einsum", f(3, 4), equation="ij->ji")],
    # ---- reductions ----
    "ReduceMean": [c("ReduceMean", f(2, 3, 4), opset=13, axes=[1]),
                   c("ReduceMean", f(2, 3, 4), i64(-1, 0), opset=18, keepdims=0),
                   c("ReduceMean", f(2, 3, 4), opset=13)],
    "ReduceSum": [c("ReduceSum", f(2, 3, 4), i64(1), opset=13),
                  c("ReduceSum", f(2, 3, 4), opset=11, axes=[0, 2], keepdims=0),
                  c("ReduceSum", f(2, 3, 4), i64(), opset=13, noop_with_empty_axes=1),
                  c("ReduceSum", f(2, 3, 4), opset=13)],
    "ReduceMax": [c("ReduceMax", f(2, 3, 4), opset=13, axes=[2])],
    "ReduceMin": [c("ReduceMin", f(2, 3, 4), i64(0), opset=18, keepdims=0)],
    "ReduceProd": [c("ReduceProd", pos(2, 3, 4), opset=13, axes=[1, 2])],
    "ReduceL1": [c("ReduceL1", f(2, 3, 4), opset=13, axes=[1])],
    "ReduceL2": [c("ReduceL2", f(2, 3, 4), i64(2), opset=18)],
    "ReduceSumSquare": [c("ReduceSumSquare", f(2, 3, 4), opset=13, axes=[0])],
    "ReduceLogSumExp": [c("ReduceLogSumExp", f(2, 3, 4), opset=13, axes=[1], keepdims=0)],
    "ArgMax": [c("ArgMax", f(3, 5), axis=1, keepdims=0),
               c("ArgMax", i64(1, 3, 3, 0).reshape(1, 4), axis=1, select_last_index=1)],
    "ArgMin": [c("ArgMin", f(3, 5), axis=0), c("ArgMin", i64(1, 0, 3, 0).reshape(1, 4), axis=-1, select_last_index=1)],
    "CumSum": [c("CumSum", f(3, 4), np.int64(1)), c("CumSum", f(3, 4), np.int64(0), exclusive=1, reverse=1),
               c("CumSum", i64(1, 2, 3, 4), np.int64(0), exclusive=1)],
    # ---- constants, shapes, casts ----
    "Constant": [c("Constant", feed=None, value=numpy_helper.from_array(f(2, 3))),
                 c("Constant", feed=None, value_float=2.5), c("Constant", feed=None, value_ints=[3, -1])],
    "ConstantOfShape": [c("ConstantOfShape", i64(2, 3)),
                        c("ConstantOfShape", i64(3), value=numpy_helper.from_array(i64(7)))],
    "Range": [c("Range", np.int64(2), np.int64(11), np.int64(3)),
              c("Range", np.float32(1.0), np.float32(-2.0), np.float32(-0.5)),
              c("Range", np.int64(5), np.int64(0), np.int64(1))],
    "Shape": [c("Shape", f(2, 3, 4)), c("Shape", f(2, 3, 4, 5), opset=15, start=1, end=-1)],
    "Size": [c("Size", f(2, 3, 4))],
    "Cast": [c("Cast", f(3, 4) * 3, to=TensorProto.INT64), c("Cast", i64(3, -4), to=TensorProto.FLOAT),
             c("Cast", np.array([0.0, 1.5, -2.0], np.float32), to=TensorProto.BOOL)],
    "CastLike": [c("CastLike", f(3, 4) * 3, i64(0), opset=15)],
    "Identity": [c("Identity", f(3, 4))],
    # ---- views ----
    "Reshape": [c("Reshape", f(2, 3, 4), i64(0, -1)), c("Reshape", f(2, 3, 4), i64(4, 1, -1, 2))],
    "Flatten": [c("Flatten", f(2, 3, 4, 5), axis=2), c("Flatten", f(2, 3, 4), axis=0),
                c("Flatten", f(2, 3, 4), axis=-1)],
    "Transpose": [c("Transpose", f(2, 3, 4), perm=[0, 2, 1]), c("Transpose", f(2, 3, 4))],
    "Unsqueeze": [c("Unsqueeze", f(2, 3), opset=11, axes=[0, 3]), c("Unsqueeze", f(2, 3), i64(-1), opset=13),
                  c("Unsqueeze", np.float32(3.0), i64(0), opset=13)],
    "Squeeze": [c("Squeeze", f(2, 1, 3, 1), opset=11, axes=[1]), c("Squeeze", f(2, 1, 3, 1), i64(-1), opset=13),
                c("Squeeze", f(2, 1, 3, 1), opset=13)],
    "DepthToSpace": [c("DepthToSpace", f(1, 8, 2, 3), blocksize=2),
                     c("DepthToSpace", f(1, 8, 2, 3), blocksize=2, mode="CRD")],
    "SpaceToDepth": [c("SpaceToDepth", f(1, 2, 4, 6), blocksize=2)],
    "Concat": [c("Concat", f(2, 3), f(2, 4), axis=1), c("Concat", f(2, 3), f(2, 3), f(2, 3), axis=-2),
               c("Concat", i64(2, 3), i64(-1), axis=0)],
    # ---- indexing ----
    "Gather": [c("Gather", f(10, 4), i64(1, -1, 3, 0, 9, -10).reshape(2, 3), feed=1),    # embedding lookup
               c("Gather", f(3, 5, 2), np.int64(-2), axis=1),
               c("Gather", i64(4, 16, 64), np.int64(-1))],                                  # a dim of a shape
    "GatherND": [c("GatherND", f(3, 4, 5), i64(0, 1, 2, 3, -1, 0).reshape(3, 2)),               # pairs of leading axes
                 c("GatherND", f(2, 6, 4), i64(5, -1).reshape(2, 1), batch_dims=1),          # each sequence's last token
                 c("GatherND", f(3, 4), i64(2, 0, 1).reshape(3, 1))],
    "IsNaN": [c("IsNaN", np.array([1.0, np.nan, -np.inf, 0.0], np.float32))],
    "IsInf": [c("IsInf", np.array([1.0, np.nan, -np.inf, np.inf], np.float32)),
              c("IsInf", np.array([1.0, np.nan, -np.inf, np.inf], np.float32), detect_negative=0)],
    "GatherElements": [c("GatherElements", f(3, 4), i64(0, -1, 2, 1, 3, 0).reshape(3, 2) % 3, axis=0),
                       c("GatherElements", f(3, 4), i64(0, -1, 2, 1, 3, 0).reshape(3, 2), axis=1)],
    "Slice": [c("Slice", f(4, 6), opset=9, starts=[1, 0], ends=[3, -1]),
              c("Slice", f(4, 6), opset=9, starts=[-3], ends=[INT_MAX], axes=[1]),
              c("Slice", f(4, 6, 5), i64(-1, 1), i64(-INT_MAX, 5), i64(1, -1), i64(-1, 2), opset=13),
              c("Slice", f(5, 7), i64(4, 0), i64(0, INT_MAX), i64(0, 1), i64(-2, 3), opset=13),
              c("Slice", i64(2, 16, 4, 16), i64(0), i64(-1), i64(0), opset=13)],
    "Split": [c("Split", f(5, 4), opset=11, outputs=2, output=1, axis=0, split=[2, 3]),
              c("Split", f(2, 6), i64(1, 5), opset=13, outputs=2, output=1, axis=1),
              c("Split", f(6, 2), opset=13, outputs=3, output=2),
              c("Split", f(7, 2), opset=18, outputs=3, output=2, num_outputs=3)],
    "Trilu": [c("Trilu", f(4, 5), np.int64(1), opset=14), c("Trilu", f(2, 4, 5), np.int64(-1), opset=14, upper=0),
              c("Trilu", f(4, 4), opset=14)],
    # ---- padding, tiling, broadcasting ----
    "Pad": [c("Pad", f(1, 2, 3, 4), opset=10, pads=[0, 0, 1, 2, 0, 0, 2, 1], value=1.5),
            c("Pad", f(1, 2, 3, 4), i64(0, 0, 1, 2, 0, 0, 2, 1), opset=13, mode="reflect"),
            c("Pad", f(1, 2, 3, 4), i64(0, 0, 1, 2, 0, 0, 2, 1), opset=13, mode="edge"),
            c("Pad", f(1, 2, 3, 4), i64(0, 1, 0, -1, 0, 2, 0, -2), np.float32(-1.0), opset=13),
            c("Pad", f(1, 2, 3, 4), i64(1, 2, 2, 1), None, i64(-2, 3), opset=18),
            c("Pad", f(1, 2, 3, 4), i64(0, 0, 1, 2, 0, 0, 2, 1), opset=19, mode="wrap")],
    "Expand": [c("Expand", f(3, 1), i64(2, 3, 4)), c("Expand", f(2, 3), i64(1, 1)),
               c("Expand", i64(5, 6).reshape(1, 2), i64(3, 1))],
    "Tile": [c("Tile", f(2, 3, 1), i64(2, 1, 3))],
    # ---- recurrent (seq 5, batch 2, input 3, hidden 4; onnxruntime has no layout 1) ----
    "LSTM": [c("LSTM", f(5, 2, 3), f(1, 16, 3), f(1, 16, 4), hidden_size=4, outputs=3, output=j) for j in range(3)]
    + [c("LSTM", f(5, 2, 3), f(2, 16, 3), f(2, 16, 4), f(2, 32), np.array([5, 5], np.int32), f(2, 2, 4),
         f(2, 2, 4), f(2, 12),
         hidden_size=4, direction="bidirectional", outputs=3, output=j) for j in (0, 2)]
    + [c("LSTM", f(5, 2, 3) * 3, f(1, 16, 3), f(1, 16, 4), hidden_size=4, direction="reverse", clip=0.5)],
    "GRU": [c("GRU", f(5, 2, 3), f(1, 12, 3), f(1, 12, 4), f(1, 24), hidden_size=4),
            c("GRU", f(5, 2, 3), f(2, 12, 3), f(2, 12, 4), f(2, 24), None, f(2, 2, 4), hidden_size=4,
              direction="bidirectional", linear_before_reset=1, outputs=2, output=1),
            c("GRU", f(5, 2, 3) * 3, f(1, 12, 3), f(1, 12, 4), hidden_size=4, clip=0.5)],
    "RNN": [c("RNN", f(5, 2, 3), f(1, 4, 3), f(1, 4, 4), hidden_size=4, direction="reverse", activations=["Relu"]),
            c("RNN", f(5, 2, 3), f(2, 4, 3), f(2, 4, 4), f(2, 8), hidden_size=4, direction="bidirectional",
              outputs=2, output=1),
            c("RNN", f(5, 2, 3) * 3, f(1, 4, 3), f(1, 4, 4), hidden_size=4, clip=0.5)],
    # ---- resizing (the forms torch's exporters write, and the rounding rules) ----
    "Resize": [
        c("Resize", f(1, 2, 3, 4), None, np.array([1, 1, 2, 2], np.float32), opset=13,
          mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
        c("Resize", f(1, 2, 3, 4), None, np.array([1, 1, 2, 2], np.float32), opset=13, mode="linear"),
        c("Resize", f(1, 2, 3, 4), None, None, i64(1, 2, 5, 7), opset=13, mode="linear",
          coordinate_transformation_mode="align_corners"),
        c("Resize", f(1, 2, 6, 8), None, np.array([1, 1, 0.5, 0.5], np.float32), opset=13, mode="linear",
          coordinate_transformation_mode="pytorch_half_pixel"),
        c("Resize", f(1, 2, 3, 4), None, None, i64(1, 2, 7, 5), opset=13, mode="nearest",
          nearest_mode="round_prefer_ceil"),
        c("Resize", f(1, 2, 3, 4), None, None, i64(1, 2, 7, 5), opset=13, mode="nearest"),
        c("Resize", f(1, 2, 5, 4), None, None, i64(3, 9), opset=18, mode="nearest", axes=[2, 3],
          nearest_mode="ceil"),
        c("Resize", f(1, 2, 3, 4), None, np.array([1, 1, 1.5, 2.5], np.float32), opset=19, mode="linear",
          coordinate_transformation_mode="half_pixel_symmetric"),
        c("Resize", f(1, 2, 3, 4), np.array([1, 1, 2, 2], np.float32), opset=10, mode="nearest"),
        c("Resize", f(1, 2, 3, 4), np.array([1, 1, 2, 3], np.float32), opset=10, mode="linear"),
    ],
}

CASE_IDS = [(op, i) for op in sorted(CASES) for i in range(len(CASES[op]))]


# Sequence ops (their values are lists of tensors): each a chain ending in a tensor, as exporters
# write them; (nodes, input) where the nodes map "x" to "y".
SEQUENCE_CASES = {
    "SplitToSequence": [([("SplitToSequence", ["x"], ["s"], {"axis": 1}), ("SequenceAt", ["s", "two"], ["y"], {})], f(2, 4, 3)),
                        ([("SplitToSequence", ["x", "sizes"], ["s"], {"axis": 2}), ("SequenceAt", ["s", "minus1"], ["y"], {})], f(2, 4, 5)),
                        ([("SplitToSequence", ["x"], ["s"], {"axis": 0, "keepdims": 0}),
                          ("ConcatFromSequence", ["s"], ["y"], {"axis": 1, "new_axis": 1})], f(3, 4))],
    "SequenceConstruct": [([("SequenceConstruct", ["x", "x"], ["s"], {}),
                            ("ConcatFromSequence", ["s"], ["y"], {"axis": 0})], f(2, 3))],
}
SEQUENCE_CONSTANTS = {"two": np.int64(2), "minus1": np.int64(-1), "sizes": i64(2, 3)}
SEQUENCE_OPS = {"SplitToSequence", "SequenceAt", "SequenceConstruct", "ConcatFromSequence"}


def test_every_registered_op_has_a_case():
    covered = set(CASES) | SEQUENCE_OPS
    assert not set(OPS) - covered, f"registered ops without an onnxruntime case: {sorted(set(OPS) - covered)}"
    assert not set(CASES) - set(OPS), f"cases for unregistered ops: {sorted(set(CASES) - set(OPS))}"
    assert {op for cases in SEQUENCE_CASES.values() for nodes, _ in cases for op, *_ in nodes} == SEQUENCE_OPS
    assert all(case.op == op for op, cases in CASES.items() for case in cases)


def _value(name: str, array: np.ndarray) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(array.dtype), array.shape)


def _model(case: Case, out_type: int) -> tuple[onnx.ModelProto, np.ndarray]:
    """The one-node graph of `case` and its graph input's value (a dummy when it has none)."""
    names, inits = [], []
    for i, array in enumerate(case.inputs):
        names.append("" if array is None else f"in{i}")
        if array is not None and i != case.feed:
            inits.append(numpy_helper.from_array(np.asarray(array), f"in{i}"))
    x = np.asarray(case.inputs[case.feed]) if case.feed is not None else np.zeros(1, np.float32)
    feed_name = f"in{case.feed}" if case.feed is not None else "unused"
    node = helper.make_node(case.op, names, [f"out{j}" for j in range(case.outputs)], **case.attrs)
    graph = helper.make_graph([node], "case", [_value(feed_name, x)],
                              [helper.make_tensor_value_info(f"out{case.output}", out_type, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", case.opset)], ir_version=8)
    return model, x


def _onnxruntime(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@pytest.mark.parametrize("op,index", CASE_IDS, ids=[f"{op}-{i}" for op, i in CASE_IDS])
def test_op_matches_onnxruntime(op, index):
    case = CASES[op][index]
    model, x = _model(case, TensorProto.FLOAT)
    module = OnnxModule(model).eval()
    with torch.no_grad():
        got = module.outputs(torch.from_numpy(np.array(x))).numpy()
    # Declaring the torch result's element type makes onnxruntime refuse a type mismatch.
    model, _ = _model(case, helper.np_dtype_to_tensor_dtype(got.dtype))
    expected = _onnxruntime(model, x)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_allclose(got.astype(np.float64), expected.astype(np.float64), rtol=1e-5, atol=1e-5)


SEQUENCE_IDS = [(op, i) for op in sorted(SEQUENCE_CASES) for i in range(len(SEQUENCE_CASES[op]))]


@pytest.mark.parametrize("op,index", SEQUENCE_IDS, ids=[f"{op}-{i}" for op, i in SEQUENCE_IDS])
def test_sequence_ops_match_onnxruntime(op, index):
    nodes, x = SEQUENCE_CASES[op][index]
    used = {i for _, ins, _, _ in nodes for i in ins}
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in SEQUENCE_CONSTANTS.items() if k in used]
    graph = helper.make_graph([helper.make_node(t, i, o, **a) for t, i, o, a in nodes], "seq", [_value("x", x)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    with torch.no_grad():
        got = OnnxModule(model).eval().outputs(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, _onnxruntime(model, x), rtol=1e-6, atol=1e-6)
