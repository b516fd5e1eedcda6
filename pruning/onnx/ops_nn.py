"""Neural-network ops of the bridge: convolutions, pooling, normalizations, activations,
softmax and dropout, each a small function on torch.nn.functional."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from pruning.onnx.conventions import spatial_pads
from pruning.onnx.ops_base import OnnxBridgeError, given, scalar, text, torch_pad, unary


def _pads(a: dict, x: torch.Tensor, kernel, strides, dilations) -> list[int]:
    return spatial_pads(a, x.shape[2:], kernel, strides, dilations)


# ---- convolution and dense ------------------------------------------------------------------

def _conv(m, node, a, xs):
    x, w, b = xs[0], xs[1], given(xs, 2)
    nsp = w.dim() - 2
    kernel = list(a.get("kernel_shape", w.shape[2:]))
    strides = list(a.get("strides", [1] * nsp))
    dil = list(a.get("dilations", [1] * nsp))
    pads = _pads(a, x, kernel, strides, dil)
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nsp]
    if pads[:nsp] == pads[nsp:]:
        return conv(x, w, b, strides, pads[:nsp], dil, a.get("group", 1))
    return conv(F.pad(x, torch_pad(pads)), w, b, strides, 0, dil, a.get("group", 1))


def _conv_transpose(m, node, a, xs):
    x, w, b = xs[0], xs[1], given(xs, 2)
    nsp = w.dim() - 2
    if "output_shape" in a or text(a.get("auto_pad", "NOTSET")) != "NOTSET":
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
    c = given(xs, 2)
    return y if c is None else y + a.get("beta", 1.0) * c


# ---- pooling --------------------------------------------------------------------------------

def _pool_geometry(a, x):
    kernel = list(a["kernel_shape"])
    n = len(kernel)
    strides = list(a.get("strides", [1] * n))
    dil = list(a.get("dilations", [1] * n))
    return kernel, strides, dil, _pads(a, x, kernel, strides, dil)


def _max_pool(m, node, a, xs):
    if len(node.output) > 1 and node.output[1]:
        raise OnnxBridgeError(f"MaxPool {node.name!r}: the Indices output is not supported")
    x = xs[0]
    kernel, strides, dil, pads = _pool_geometry(a, x)
    if any(pads):
        x = F.pad(x, torch_pad(pads), value=float("-inf"))
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
    ones = torch.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype, device=x.device)
    tp = torch_pad(pads)
    count = F.pad(ones, tp, value=1.0 if a.get("count_include_pad", 0) else 0.0)
    total = pool(F.pad(x, tp), kernel, strides, 0, ceil_mode=ceil, divisor_override=1)
    cells = pool(count, kernel, strides, 0, ceil_mode=ceil, divisor_override=1)
    y = total / cells
    return y.squeeze(-1) if squeeze else y


def _spatial(x: torch.Tensor) -> tuple[int, ...]:
    return tuple(range(2, x.dim()))


# ---- normalization --------------------------------------------------------------------------

def _channel_shape(x: torch.Tensor) -> tuple[int, ...]:
    return (1, -1) + (1,) * (x.dim() - 2)


def _batch_norm(m, node, a, xs):
    """Inference form with the stored statistics (the bridge keeps them frozen)."""
    x, scale, bias, mean, var = xs[:5]
    shape = _channel_shape(x)
    inv = torch.rsqrt(var + a.get("epsilon", 1e-5)).reshape(shape)
    return (x - mean.reshape(shape)) * inv * scale.reshape(shape) + bias.reshape(shape)


def _instance_norm(m, node, a, xs):
    return F.instance_norm(xs[0], weight=xs[1], bias=xs[2], eps=a.get("epsilon", 1e-5))


def _layer_norm(m, node, a, xs):
    """Normalizes over the axes from `axis` on; the optional Mean and InvStdDev outputs are
    given when the node asks for them."""
    x, scale, bias = xs[0], xs[1], given(xs, 2)
    axis = a.get("axis", -1) % x.dim()
    shape, eps = x.shape[axis:], a.get("epsilon", 1e-5)
    y = F.layer_norm(x, shape, scale.expand(shape), None if bias is None else bias.expand(shape), eps)
    if len(node.output) == 1:
        return y
    dims = tuple(range(axis, x.dim()))
    mean = x.mean(dims, keepdim=True)
    inv_std = torch.rsqrt(x.var(dims, unbiased=False, keepdim=True) + eps)
    return y, mean, inv_std


def _lrn(m, node, a, xs):
    x, size = xs[0], int(a["size"])
    sq = F.pad((x * x).unsqueeze(1), (0,) * (2 * (x.dim() - 2)) + ((size - 1) // 2, size // 2))
    window = sq.squeeze(1).unfold(1, size, 1).sum(-1)
    return x / (a.get("bias", 1.0) + a.get("alpha", 1e-4) / size * window) ** a.get("beta", 0.75)


# ---- activations ----------------------------------------------------------------------------

def _softmax(fn):
    """Softmax / LogSoftmax: from opset 13 along one axis (default -1); before, over the 2-D
    flattening at `axis` (default 1)."""
    def op(m, node, a, xs):
        x = xs[0]
        axis = a.get("axis", -1 if m.opset >= 13 else 1)
        if m.opset >= 13:
            return fn(x, dim=axis)
        axis = axis % x.dim()
        return fn(x.reshape(math.prod(x.shape[:axis]), -1), dim=1).reshape(x.shape)
    return op


def _clip(m, node, a, xs):
    """Clip bounds: attributes before opset 11, optional inputs from then on."""
    lo = scalar(xs, 1, a, "min")
    hi = scalar(xs, 2, a, "max")
    return xs[0] if lo is None and hi is None else torch.clamp(xs[0], lo, hi)


def _hard_sigmoid(m, node, a, xs):
    return torch.clamp(a.get("alpha", 0.2) * xs[0] + a.get("beta", 0.5), 0.0, 1.0)


def _selu(m, node, a, xs):
    x = xs[0]
    alpha, gamma = a.get("alpha", 1.67326319217681884765625), a.get("gamma", 1.05070102214813232421875)
    return gamma * torch.where(x > 0, x, alpha * (torch.exp(x) - 1))


def _dropout(m, node, a, xs):
    """Identity at inference, torch dropout while training; the ratio is an attribute before
    opset 12 and an input from then on."""
    ratio = scalar(xs, 1, a, "ratio", 0.5)
    y = F.dropout(xs[0], ratio, training=m.training)
    return (y, torch.ones_like(xs[0], dtype=torch.bool)) if len(node.output) > 1 else y


NN_OPS = {
    "Conv": _conv, "ConvTranspose": _conv_transpose, "Gemm": _gemm,
    "MaxPool": _max_pool, "AveragePool": _avg_pool,
    "GlobalAveragePool": unary(lambda x: x.mean(dim=_spatial(x), keepdim=True)),
    "GlobalMaxPool": unary(lambda x: x.amax(dim=_spatial(x), keepdim=True)),
    "BatchNormalization": _batch_norm, "InstanceNormalization": _instance_norm,
    "LayerNormalization": _layer_norm, "LRN": _lrn,
    "Relu": unary(F.relu),
    "LeakyRelu": lambda m, n, a, xs: F.leaky_relu(xs[0], a.get("alpha", 0.01)),
    "PRelu": lambda m, n, a, xs: torch.where(xs[0] < 0, xs[1] * xs[0], xs[0]),
    "Elu": lambda m, n, a, xs: F.elu(xs[0], a.get("alpha", 1.0)),
    "Celu": lambda m, n, a, xs: F.celu(xs[0], a.get("alpha", 1.0)),
    "Selu": _selu,
    "ThresholdedRelu": lambda m, n, a, xs: torch.where(xs[0] > a.get("alpha", 1.0), xs[0], 0.0),
    "Sigmoid": unary(torch.sigmoid), "Tanh": unary(torch.tanh),
    "HardSigmoid": _hard_sigmoid, "HardSwish": unary(F.hardswish),
    "Softplus": unary(F.softplus), "Softsign": unary(F.softsign), "Mish": unary(F.mish),
    "Gelu": lambda m, n, a, xs: F.gelu(xs[0], approximate=text(a.get("approximate", "none"))),
    "Clip": _clip,
    "Softmax": _softmax(torch.softmax), "LogSoftmax": _softmax(torch.log_softmax),
    "Dropout": _dropout,
}
