"""ONNX graph <-> trainable torch module, keyed by ONNX initializer names.

`OnnxModule` is a small interpreter: it runs the graph's nodes in order with torch functions,
and every float initializer is an nn.Parameter (BatchNormalization running statistics are
buffers: fine-tuning keeps them frozen, so the exported graph computes exactly what was
trained). `onnx_weight_names()` maps the weight tensor names of Conv/ConvTranspose/Gemm/MatMul
to their parameters, which is what `pruning.backend.prunable_weights` uses. `to_onnx()` writes
the current values back into a copy of the same graph (nodes untouched), and
`verify_onnx()` checks the result with onnxruntime.

Why an in-house interpreter instead of onnx2torch: onnx2torch is unmaintained, requires
torchvision (which would replace our pinned CPU torch), renames parameters (so masks and plans
could not be keyed by ONNX names without a fragile mapping), has no converter for Dropout-7
or auto_pad SAME_*, and fails on the asymmetric AveragePool pads of inception_v1. The ops a
CNN needs are a few lines each on top of torch.nn.functional, and writing back is trivial
when parameters keep their ONNX names.
"""
from __future__ import annotations

import copy
import json
import math
import re
import warnings
from typing import Callable, Mapping

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper
from torch import nn

from pruning.errors import PruningError

WEIGHT_OPS = {"Conv": (1,), "ConvTranspose": (1,), "Gemm": (0, 1), "MatMul": (0, 1)}
METADATA_KEY = "codesign.compression"


class OnnxBridgeError(PruningError):
    """An ONNX graph cannot be turned into a trainable module (or back)."""


class ExportMismatchError(PruningError):
    """The written-back ONNX model does not compute what the torch module computes."""


# ---- small helpers ------------------------------------------------------------------------

def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _s(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _ints(t: torch.Tensor | None) -> list[int]:
    return [] if t is None else [int(v) for v in t.reshape(-1).tolist()]


def _same_pads(in_sizes, kernel, strides, dilations, upper: bool) -> list[int]:
    """ONNX auto_pad SAME_*: output = ceil(in / stride); the odd pad goes to the end (UPPER)."""
    begin, end = [], []
    for size, k, s, d in zip(in_sizes, kernel, strides, dilations):
        total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
        small, big = total // 2, total - total // 2
        begin.append(small if upper else big)
        end.append(big if upper else small)
    return begin + end


def _spatial_pads(attrs: dict, x: torch.Tensor, kernel, strides, dilations) -> list[int]:
    """Pads as ONNX lists them: [x1_begin, x2_begin, ..., x1_end, x2_end, ...]."""
    n = len(kernel)
    auto = _s(attrs.get("auto_pad", "NOTSET"))
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        return _same_pads(x.shape[2:], kernel, strides, dilations, auto == "SAME_UPPER")
    if auto == "VALID":
        return [0] * (2 * n)
    return list(attrs.get("pads", [0] * (2 * n)))


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


# ---- the module ---------------------------------------------------------------------------

# Ops that pass a weight through unchanged in value (converters often reshape a Gemm weight).
WEIGHT_PATH_OPS = ("Reshape", "Transpose", "Identity", "Unsqueeze", "Squeeze", "Flatten", "Cast")


def _root_initializer(tensor: str, producers: dict) -> str:
    """Follow a weight input back through value-preserving ops to the tensor that holds it, so
    layers are named by the initializer that is stored (as codesign.graph names them)."""
    for _ in range(16):
        node = producers.get(tensor)
        if node is None or node.op_type not in WEIGHT_PATH_OPS:
            return tensor
        tensor = node.input[0]
    return tensor


def _param_key(name: str, taken: set[str]) -> str:
    key = re.sub(r"[^A-Za-z0-9_]", "_", name) or "w"
    base, i = key, 1
    while key in taken:
        key, i = f"{base}_{i}", i + 1
    taken.add(key)
    return key


class OnnxModule(nn.Module):
    """A trainable torch module that executes an ONNX graph; see the module docstring."""

    def __init__(self, model: onnx.ModelProto):
        super().__init__()
        graph = model.graph
        unsupported = sorted({n.op_type for n in graph.node if n.op_type not in OPS})
        if unsupported:
            raise OnnxBridgeError(f"ONNX ops not supported by the bridge: {', '.join(unsupported)}; "
                                  f"supported: {', '.join(sorted(OPS))}")
        if model.functions or any(n.domain not in ("", "ai.onnx") for n in graph.node):
            raise OnnxBridgeError("the graph uses custom domains or functions; export it with "
                                  "standard ONNX ops only")
        self.model = model
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
        inits = {t.name: t for t in graph.initializer}
        self.input_names = [i.name for i in graph.input if i.name not in inits]
        if len(self.input_names) != 1:
            raise OnnxBridgeError(f"the bridge needs exactly one graph input, found {self.input_names}")
        dims = graph.input[[i.name for i in graph.input].index(self.input_names[0])].type.tensor_type.shape.dim
        self.static_batch = dims[0].dim_value if dims and dims[0].HasField("dim_value") else None
        self.output_names = [o.name for o in graph.output]
        self.nodes = [(n, _attrs(n)) for n in graph.node]
        # Training needs logits: a final Softmax is skipped by forward() (argmax is unchanged)
        # and stays in the exported graph; `output_activation` tells verify_onnx to apply it.
        self.output_activation = None
        last = self.nodes[-1][0] if self.nodes else None
        if last is not None and last.op_type == "Softmax" and last.output[0] == self.output_names[0]:
            self.output_activation = self.nodes.pop()
            self.output_names[0] = last.input[0]
        stats = {n.input[i] for n in graph.node if n.op_type == "BatchNormalization" for i in (3, 4)
                 if len(n.input) > i}
        self.params = nn.ParameterDict()
        self._keys: dict[str, str] = {}          # ONNX initializer name -> ParameterDict / buffer key
        self.constant_names: set[str] = set()
        taken: set[str] = set()
        for name, tensor in inits.items():
            array = numpy_helper.to_array(tensor).copy()
            key = _param_key(name, taken)
            self._keys[name] = key
            if array.dtype.kind == "f" and name not in stats:
                self.params[key] = nn.Parameter(torch.from_numpy(array.astype(np.float32)))
            else:
                self.register_buffer("c_" + key, torch.from_numpy(array))
                self.constant_names.add(name)
        self.constant_names |= {o for n in graph.node if n.op_type == "Constant" for o in n.output}
        params = self.params_by_onnx_name()
        producers = {o: n for n in graph.node for o in n.output}
        self._weights = {}
        for node in graph.node:
            for i in WEIGHT_OPS.get(node.op_type, ()):
                root = _root_initializer(node.input[i], producers) if len(node.input) > i else None
                if root in params and params[root].dim() >= 2:
                    self._weights[root] = params[root]

    def params_by_onnx_name(self) -> dict[str, nn.Parameter]:
        return {n: self.params[k] for n, k in self._keys.items() if k in self.params}

    def onnx_weight_names(self) -> dict[str, nn.Parameter]:
        """Conv/ConvTranspose/Gemm/MatMul weight tensors keyed by their ONNX names."""
        return dict(self._weights)

    def _value(self, name: str) -> torch.Tensor:
        key = self._keys[name]
        return self.params[key] if key in self.params else getattr(self, "c_" + key)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        env: dict[str, torch.Tensor | None] = {self.input_names[0]: x, "": None}
        for name in self._keys:
            env[name] = self._value(name)
        for node, a in self.nodes:
            ins = [env[i] if i else None for i in node.input]
            try:
                out = OPS[node.op_type](self, node, a, ins)
            except OnnxBridgeError:
                raise
            except Exception as exc:
                raise OnnxBridgeError(f"node {node.name or node.output[0]!r} ({node.op_type}) failed: "
                                      f"{exc}") from exc
            outs = out if isinstance(out, tuple) else (out,)
            for name, value in zip(node.output, outs):
                env[name] = value
        return env[self.output_names[0]]

    def to_onnx(self, metadata: Mapping | None = None) -> onnx.ModelProto:
        """A copy of the source graph with the current parameter values as initializers
        (float32; exact zeros stay exact) and, optionally, compression metadata as JSON."""
        out = copy.deepcopy(self.model)
        params = self.params_by_onnx_name()
        for i, tensor in enumerate(out.graph.initializer):
            if tensor.name in params:
                array = params[tensor.name].detach().cpu().numpy().astype(np.float32)
                out.graph.initializer[i].CopyFrom(numpy_helper.from_array(array, tensor.name))
        if metadata is not None:
            kept = [p for p in out.metadata_props if p.key != METADATA_KEY]
            del out.metadata_props[:]
            out.metadata_props.extend(kept)
            out.metadata_props.add(key=METADATA_KEY, value=json.dumps(metadata, sort_keys=True))
        return out


def from_onnx(model: onnx.ModelProto | str, *, materialize_seed: int | None = None) -> OnnxModule:
    """Load an ONNX model (proto or path) as a trainable module. Placeholder weights made by
    ConstantOfShape (the onnx wheel's light models) are replaced by seeded random ones when
    `materialize_seed` is given; otherwise such a graph is refused, as it has no real weights."""
    if not isinstance(model, onnx.ModelProto):
        try:
            model = onnx.load(str(model))
        except Exception as exc:
            raise OnnxBridgeError(f"cannot read ONNX file {model} ({exc})") from exc
    if materialize_seed is not None:
        model = materialize(model, materialize_seed)
    elif _placeholder_weights(model):
        raise OnnxBridgeError("the graph's weights are ConstantOfShape placeholders (no real "
                              "values); pass materialize_seed to fill them with seeded random weights")
    return OnnxModule(model)


def _placeholder_weights(model: onnx.ModelProto) -> list[str]:
    consumers = {i for n in model.graph.node if n.op_type in WEIGHT_OPS for i in n.input[1:2]}
    return [o for n in model.graph.node if n.op_type == "ConstantOfShape" for o in n.output if o in consumers]


def materialize(model: onnx.ModelProto, seed: int = 0, bn_variance: float = 0.5) -> onnx.ModelProto:
    """Replace ConstantOfShape weight placeholders fed by constant shapes with seeded random
    initializers (He-scaled for >= 2-D tensors; 1-D ones, i.e. biases and BN parameters, get
    a constant positive fill so BN variances are valid)."""
    model = copy.deepcopy(model)
    g = model.graph
    rng = np.random.default_rng(seed)
    inits = {t.name: t for t in g.initializer}
    keep, new, dead = [], [], set()
    for n in g.node:
        if n.op_type == "ConstantOfShape" and n.input and n.input[0] in inits:
            shape = numpy_helper.to_array(inits[n.input[0]]).astype(int).tolist()
            fan_in = max(int(np.prod(shape[1:])), 1)
            array = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in) if len(shape) >= 2
                     else np.full(shape, bn_variance))
            new.append(numpy_helper.from_array(array.astype(np.float32), n.output[0]))
            dead.add(n.input[0])
        else:
            keep.append(n)
    del g.node[:]
    g.node.extend(keep)
    rest = [t for t in g.initializer if t.name not in dead]
    del g.initializer[:]
    g.initializer.extend(rest + new)
    live = {i for n in g.node for i in n.input}
    inputs = [i for i in g.input if i.name in live and i.name not in dead]
    del g.input[:]
    g.input.extend(inputs)
    model.ir_version = max(model.ir_version, 4)   # IR >= 4: initializers need not be inputs
    return model


def export_torch(model: nn.Module, input_shape: tuple[int, ...], opset: int = 13) -> onnx.ModelProto:
    """Export a torch model to ONNX with a dynamic batch axis, keeping parameter names as
    initializer names (so `conv1.weight` names the same tensor in torch, ONNX and plans)."""
    import io
    buf = io.BytesIO()
    was_training = model.training
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # the legacy exporter's deprecation notice
        torch.onnx.export(model, torch.zeros((1,) + tuple(input_shape)), buf, dynamo=False,
                          input_names=["input"], output_names=["logits"], opset_version=opset,
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                          do_constant_folding=False)
    model.train(was_training)
    return onnx.load_from_string(buf.getvalue())


def with_static_batch(model: onnx.ModelProto, batch: int = 1) -> onnx.ModelProto:
    """A copy whose graph input and outputs have a fixed batch dimension (shape tools such as
    codesign.graph need static shapes; the weights and nodes are unchanged)."""
    out = copy.deepcopy(model)
    inits = {t.name for t in out.graph.initializer}
    for value in [i for i in out.graph.input if i.name not in inits] + list(out.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].Clear()
            dims[0].dim_value = batch
    return out


def onnxruntime_outputs(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    """Run with onnxruntime (one thread); a graph with a static batch runs in chunks of it."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    step = inp.shape[0] if inp.shape and isinstance(inp.shape[0], int) else len(x)
    x = x.astype(np.float32)
    return np.concatenate([session.run(None, {inp.name: x[i:i + step]})[0] for i in range(0, len(x), max(step, 1))])


def verify_onnx(module: OnnxModule, exported: onnx.ModelProto, x: np.ndarray,
                masks: Mapping[str, torch.Tensor] | None = None, atol: float = 1e-4,
                rtol: float = 0.0) -> float:
    """Check an exported model with onnxruntime: outputs equal the module's within
    atol + rtol * max|output| (float32 sums over thousands of terms differ by summation order),
    and initializers are exactly zero where `masks` are False. Returns the max abs difference;
    raises ExportMismatchError otherwise."""
    was_training = module.training
    module.eval()
    with torch.no_grad():
        expected = module(torch.from_numpy(x.astype(np.float32)))
        if module.output_activation is not None:
            node, a = module.output_activation
            expected = OPS[node.op_type](module, node, a, [expected])
        expected = expected.numpy()
    module.train(was_training)
    got = onnxruntime_outputs(exported, x)
    diff = float(np.max(np.abs(got - expected))) if got.size else 0.0
    bound = atol + rtol * (float(np.max(np.abs(expected))) if expected.size else 0.0)
    if got.shape != expected.shape or not diff <= bound:
        raise ExportMismatchError(f"onnxruntime output differs from torch by {diff:.3g} (> {bound:.3g}) "
                                  f"or in shape {got.shape} vs {expected.shape}")
    inits = {t.name: t for t in exported.graph.initializer}
    for name, mask in (masks or {}).items():
        w = numpy_helper.to_array(inits[name])
        m = mask.cpu().numpy().astype(bool)
        if np.any(w[~m] != 0):
            raise ExportMismatchError(f"{name}: {int(np.sum(w[~m] != 0))} pruned weights are nonzero "
                                      "in the exported graph")
    return diff


def weight_names(model: onnx.ModelProto) -> list[str]:
    """Names of the weight initializers the bridge would prune, in graph order."""
    return list(OnnxModule(model).onnx_weight_names())
