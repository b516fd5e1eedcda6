"""The ONNX ops the bridge runs: one small function per op, on torch functions, registered in
`OPS` (op type -> function(module, node, attrs, inputs) -> tensor or tuple). Each op is checked
against onnxruntime by tests/pruning/test_onnx_ops.py."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper

from pruning.errors import PruningError
from pruning.onnx.conventions import spatial_pads


class OnnxBridgeError(PruningError):
    """An ONNX graph cannot be turned into a trainable module (or back)."""


# ---- small helpers ------------------------------------------------------------------------

def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _s(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _ints(t: torch.Tensor | None) -> list[int]:
    return [] if t is None else [int(v) for v in t.reshape(-1).tolist()]


def _spatial_pads(attrs: dict, x: torch.Tensor, kernel, strides, dilations) -> list[int]:
    """Pads as ONNX lists them: [x1_begin, x2_begin, ..., x1_end, x2_end, ...]."""
    return spatial_pads(attrs, x.shape[2:], kernel, strides, dilations)


def _torch_pad(pads: list[int]) -> list[int]:
    """ONNX [b1, b2, e1, e2] -> F.pad order (last dim first): [b2, e2, b1, e1]."""
    n = len(pads) // 2
    out = []
    for i in reversed(range(n)):
        out += [pads[i], pads[i + n]]
    return out


# ---- op implementations -------------------------------------------------------------------
# Each takes (module, node, attrs, inputs) and returns one tensor or a tuple of tensors.

def _conv(m, node, a, xs):
    x, w = xs[0], xs[1]
    b = xs[2] if len(xs) > 2 else None
    nsp = w.dim() - 2
    kernel = list(a.get("kernel_shape", w.shape[2:]))
    strides = list(a.get("strides", [1] * nsp))
    dil = list(a.get("dilations", [1] * nsp))
    pads = _spatial_pads(a, x, kernel, strides, dil)
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nsp]
    if pads[:nsp] == pads[nsp:]:
        return conv(x, w, b, strides, pads[:nsp], dil, a.get("group", 1))
    return conv(F.pad(x, _torch_pad(pads)), w, b, strides, 0, dil, a.get("group", 1))


def _conv_transpose(m, node, a, xs):
    x, w = xs[0], xs[1]
    b = xs[2] if len(xs) > 2 else None
    nsp = w.dim() - 2
    if "output_shape" in a or _s(a.get("auto_pad", "NOTSET")) != "NOTSET":
        raise OnnxBridgeError(f"ConvTranspose {node.name!r}: output_shape/auto_pad are not "
                              "supported; give explicit pads")
    pads = list(a.get("pads", [0] * 2 * nsp))
    if pads[:nsp] != pads[nsp:]:
        raise OnnxBridgeError(f"ConvTranspose {node.name!r}: asymmetric pads are not supported")
    conv = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[nsp]
    return conv(x, w, b, list(a.get("strides", [1] * nsp)), pads[:nsp],
                list(a.get("output_padding", [0] * nsp)), a.get("group", 1),
                list(a.get("dilations", [1] * nsp)))


def _gemm(m, node, a, xs):
    A = xs[0].transpose(0, 1) if a.get("transA", 0) else xs[0]
    B = xs[1].transpose(0, 1) if a.get("transB", 0) else xs[1]
    y = a.get("alpha", 1.0) * (A @ B)
    if len(xs) > 2 and xs[2] is not None:
        y = y + a.get("beta", 1.0) * xs[2]
    return y


def _pool_geometry(a, x):
    kernel = list(a["kernel_shape"])
    n = len(kernel)
    strides = list(a.get("strides", [1] * n))
    dil = list(a.get("dilations", [1] * n))
    return kernel, strides, dil, _spatial_pads(a, x, kernel, strides, dil)


def _max_pool(m, node, a, xs):
    x = xs[0]
    kernel, strides, dil, pads = _pool_geometry(a, x)
    if any(pads):
        x = F.pad(x, _torch_pad(pads), value=float("-inf"))
    pool = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[len(kernel)]
    return pool(x, kernel, strides, 0, dil, ceil_mode=bool(a.get("ceil_mode", 0)))


def _avg_pool(m, node, a, xs):
    """Average pooling with any (also asymmetric) pads: sum pooling of the zero-padded input
    divided by sum pooling of a mask of the cells that count (count_include_pad decides
    whether pad cells count; cells beyond the pads, from ceil_mode, never do)."""
    x = xs[0]
    kernel, strides, dil, pads = _pool_geometry(a, x)
    if any(d != 1 for d in dil):
        raise OnnxBridgeError(f"AveragePool {node.name!r}: dilations are not supported")
    nsp, squeeze = len(kernel), False
    if nsp == 1:                                   # avg_pool1d has no divisor_override
        x, kernel, strides, pads, nsp, squeeze = (x.unsqueeze(-1), kernel + [1], strides + [1],
                                                  [pads[0], 0, pads[1], 0], 2, True)
    pool = {2: F.avg_pool2d, 3: F.avg_pool3d}[nsp]
    ceil = bool(a.get("ceil_mode", 0))
    ones = torch.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype)
    tp = _torch_pad(pads)
    xp = F.pad(x, tp)
    count = F.pad(ones, tp, value=1.0 if a.get("count_include_pad", 0) else 0.0)
    total = pool(xp, kernel, strides, 0, ceil_mode=ceil, divisor_override=1)
    cells = pool(count, kernel, strides, 0, ceil_mode=ceil, divisor_override=1)
    y = total / cells
    return y.squeeze(-1) if squeeze else y


def _batch_norm(m, node, a, xs):
    x, scale, bias, mean, var = xs[:5]
    shape = (1, -1) + (1,) * (x.dim() - 2)
    inv = torch.rsqrt(var + a.get("epsilon", 1e-5)).reshape(shape)
    return (x - mean.reshape(shape)) * inv * scale.reshape(shape) + bias.reshape(shape)


def _lrn(m, node, a, xs):
    x, size = xs[0], int(a["size"])
    sq = F.pad((x * x).unsqueeze(1), (0,) * (2 * (x.dim() - 2)) + ((size - 1) // 2, size // 2))
    window = sq.squeeze(1).unfold(1, size, 1).sum(-1)
    return x / (a.get("bias", 1.0) + a.get("alpha", 1e-4) / size * window) ** a.get("beta", 0.75)


def _softmax(fn):
    def op(m, node, a, xs):
        x = xs[0]
        axis = a.get("axis", -1 if m.opset >= 13 else 1)
        if m.opset >= 13:
            return fn(x, dim=axis)
        axis = axis % x.dim()                      # opset < 13: softmax of the 2-D flattening
        return fn(x.reshape(math.prod(x.shape[:axis]), -1), dim=1).reshape(x.shape)
    return op


def _reshape(m, node, a, xs):
    x, shape = xs[0], _ints(xs[1])
    if not a.get("allowzero", 0):
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    # A constant shape that hard-codes the exported batch size (common in converted graphs)
    # follows the actual batch: we train with other batch sizes than the file's batch 1.
    if node.input[1] in m.constant_names and shape and shape[0] == m.static_batch != x.shape[0]:
        shape[0] = x.shape[0]
    return x.reshape(shape)


def _axes(m, a, xs, index=1):
    if len(xs) > index and xs[index] is not None:
        return _ints(xs[index])
    return list(a.get("axes", []))


def _unsqueeze(m, node, a, xs):
    x = xs[0]
    axes = sorted(ax % (x.dim() + len(_axes(m, a, xs))) for ax in _axes(m, a, xs))
    for ax in axes:
        x = x.unsqueeze(ax)
    return x


def _squeeze(m, node, a, xs):
    x, axes = xs[0], _axes(m, a, xs)
    axes = [ax % x.dim() for ax in axes] if axes else [i for i, s in enumerate(x.shape) if s == 1]
    return x.squeeze(tuple(axes)) if axes else x


def _dropout(m, node, a, xs):
    ratio = float(xs[1]) if len(xs) > 1 and xs[1] is not None else a.get("ratio", 0.5)
    y = F.dropout(xs[0], ratio, training=m.training)
    return (y, torch.ones_like(xs[0], dtype=torch.bool)) if len(node.output) > 1 else y


def _clip(m, node, a, xs):
    lo = xs[1] if len(xs) > 1 and xs[1] is not None else a.get("min")
    hi = xs[2] if len(xs) > 2 and xs[2] is not None else a.get("max")
    return torch.clamp(xs[0], None if lo is None else float(lo), None if hi is None else float(hi))


def _pad(m, node, a, xs):
    pads = _ints(xs[1]) if len(xs) > 1 else list(a["pads"])
    mode = _s(a.get("mode", "constant"))
    value = float(xs[2]) if len(xs) > 2 and xs[2] is not None else a.get("value", 0.0)
    tp = _torch_pad(pads)
    while len(tp) and tp[-2:] == [0, 0]:          # F.pad cannot pad batch/channel in reflect mode
        tp = tp[:-2]
    return F.pad(xs[0], tp, mode=mode, value=value) if mode == "constant" else F.pad(xs[0], tp, mode=mode)


def _constant(m, node, a, xs):
    if "value" not in a:
        raise OnnxBridgeError(f"Constant {node.name!r}: only the 'value' attribute is supported")
    return torch.from_numpy(numpy_helper.to_array(a["value"]).copy())


def _constant_of_shape(m, node, a, xs):
    value = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
    return torch.full(_ints(xs[0]), float(value.reshape(-1)[0]), dtype=torch.from_numpy(value).dtype)


def _variadic(fn):
    def op(m, node, a, xs):
        out = xs[0]
        for x in xs[1:]:
            out = fn(out, x)
        return out
    return op


def _reduce_mean(m, node, a, xs):
    axes = _axes(m, a, xs) or list(range(xs[0].dim()))
    return xs[0].mean(dim=axes, keepdim=bool(a.get("keepdims", 1)))


OPS: dict[str, Callable] = {
    "Conv": _conv, "ConvTranspose": _conv_transpose, "Gemm": _gemm,
    "MatMul": lambda m, n, a, xs: torch.matmul(xs[0], xs[1]),
    "Relu": lambda m, n, a, xs: F.relu(xs[0]),
    "LeakyRelu": lambda m, n, a, xs: F.leaky_relu(xs[0], a.get("alpha", 0.01)),
    "Sigmoid": lambda m, n, a, xs: torch.sigmoid(xs[0]),
    "Tanh": lambda m, n, a, xs: torch.tanh(xs[0]),
    "Clip": _clip,
    "MaxPool": _max_pool, "AveragePool": _avg_pool,
    "GlobalAveragePool": lambda m, n, a, xs: xs[0].mean(dim=tuple(range(2, xs[0].dim())), keepdim=True),
    "GlobalMaxPool": lambda m, n, a, xs: xs[0].amax(dim=tuple(range(2, xs[0].dim())), keepdim=True),
    "BatchNormalization": _batch_norm, "LRN": _lrn,
    "Add": _variadic(torch.add), "Sum": _variadic(torch.add), "Sub": _variadic(torch.sub),
    "Mul": _variadic(torch.mul), "Div": _variadic(torch.div),
    "Max": _variadic(torch.maximum), "Min": _variadic(torch.minimum),
    "Concat": lambda m, n, a, xs: torch.cat(xs, dim=a["axis"]),
    "Flatten": lambda m, n, a, xs: xs[0].reshape(math.prod(xs[0].shape[:a.get("axis", 1)]), -1),
    "Reshape": _reshape,
    "Transpose": lambda m, n, a, xs: xs[0].permute(a.get("perm", list(reversed(range(xs[0].dim()))))),
    "Unsqueeze": _unsqueeze, "Squeeze": _squeeze,
    "Dropout": _dropout, "Identity": lambda m, n, a, xs: xs[0],
    "Softmax": _softmax(torch.softmax), "LogSoftmax": _softmax(torch.log_softmax),
    "Constant": _constant, "ConstantOfShape": _constant_of_shape,
    "Shape": lambda m, n, a, xs: torch.tensor(xs[0].shape, dtype=torch.int64),
    "Gather": lambda m, n, a, xs: torch.index_select(
        xs[0], a.get("axis", 0), xs[1].reshape(-1).long()).reshape(
        xs[0].shape[:a.get("axis", 0) % xs[0].dim()] + xs[1].shape + xs[0].shape[a.get("axis", 0) % xs[0].dim() + 1:]),
    "Cast": lambda m, n, a, xs: xs[0].to(torch.from_numpy(np.zeros(0, helper.tensor_dtype_to_np_dtype(a["to"]))).dtype),
    "Pad": _pad, "ReduceMean": _reduce_mean,
}


