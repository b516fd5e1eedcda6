"""Every ONNX op that multiplies, as compute layers: one small builder per kind of op.

`SPECS` says where each op keeps its operands; a builder turns one node into Layers (an
LSTM/GRU/RNN gives two: its input and recurrent gate matrices) or raises NotModeled with
the MACs it estimates. MACs are always LayerShape.macs (hwmodels.workload): a matrix product
is batch rows x out_channels x (in_channels / groups), one group per independent product.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from math import prod

import numpy as np
import onnx

from codesign.errors import ModelImportError
from codesign.graph.blockwise import nbits_weight
from codesign.graph.contrib import gqa_dims, mha_dims
from codesign.graph.index import GraphIndex, Weight
from codesign.graph.limits import shown
from codesign.graph.network import Layer
from codesign.graph.protos import attributes, op_key
from hwmodels.errors import HardwareModelError
from hwmodels.workload import LayerShape
from pruning.onnx.conventions import spatial_pads


@dataclass(frozen=True)
class OpSpec:
    kind: str                      # a key of BUILDERS
    operands: tuple[int, ...]      # input positions: (x, w) conv; (a, b) matrix; (x, W, R) recurrent
    bias: int | None = None
    gates: int = 0                 # recurrent: gate matrices per step (LSTM 4, GRU 3, RNN 1)
    weights_transposed: bool = False   # DynamicQuantizeLSTM keeps W as [dirs, I, G*H]


MS = "com.microsoft."
SPECS: dict[str, OpSpec] = {
    "Conv": OpSpec("conv", (0, 1), 2), "ConvInteger": OpSpec("conv", (0, 1)),
    "QLinearConv": OpSpec("conv", (0, 3), 8), "DeformConv": OpSpec("conv", (0, 1), 3),
    MS + "FusedConv": OpSpec("conv", (0, 1), 2),
    "ConvTranspose": OpSpec("conv_transpose", (0, 1), 2),
    "MatMul": OpSpec("matrix", (0, 1)), "Gemm": OpSpec("matrix", (0, 1), 2),
    "MatMulInteger": OpSpec("matrix", (0, 1)), "QLinearMatMul": OpSpec("matrix", (0, 3)),
    MS + "FusedMatMul": OpSpec("matrix", (0, 1)), MS + "FusedGemm": OpSpec("matrix", (0, 1), 2),
    MS + "MatMulIntegerToFloat": OpSpec("matrix", (0, 1), 6),
    MS + "DynamicQuantizeMatMul": OpSpec("matrix", (0, 1), 4), MS + "QGemm": OpSpec("matrix", (0, 3), 6),
    MS + "MatMulNBits": OpSpec("block_matmul", (0, 1), 5),
    MS + "Attention": OpSpec("attention", (0, 1), 2), MS + "QAttention": OpSpec("attention", (0, 1), 2),
    MS + "MultiHeadAttention": OpSpec("multi_head_attention", (0,)),
    MS + "GroupQueryAttention": OpSpec("grouped_query_attention", (0,)),
    "Attention": OpSpec("onnx_attention", (0, 1, 2)),
    "Einsum": OpSpec("einsum", ()),
    "LSTM": OpSpec("recurrent", (0, 1, 2), 3, gates=4), "GRU": OpSpec("recurrent", (0, 1, 2), 3, gates=3),
    "RNN": OpSpec("recurrent", (0, 1, 2), 3, gates=1),
    MS + "DynamicQuantizeLSTM": OpSpec("recurrent", (0, 1, 2), 3, gates=4, weights_transposed=True),
}
GEMM_LIKE = {"Gemm", MS + "FusedGemm", MS + "QGemm"}
# An op outside SPECS whose type names a product (a custom MatMul*, Conv*, *Attention, a fused
# mixture of experts) multiplies, at a cost the importer does not know: a gap in the coverage.
PRODUCT_NAME = re.compile(r"matmul|gemm|gemv|conv(?!ert)|attention|einsum|lstm|gru|rnn|fullyconnected|moe",
                          re.IGNORECASE)


def multiplies(node: onnx.NodeProto) -> bool:
    """Whether a node does multiply-add work: an op of SPECS, or one whose name says so."""
    return op_key(node) in SPECS or PRODUCT_NAME.search(node.op_type) is not None


class NotModeled(Exception):
    """A node that multiplies but cannot be a layer; `macs` is the estimate (None: unknown)."""

    def __init__(self, reason: str, macs: int | None = None):
        super().__init__(reason)
        self.reason, self.macs = reason, macs


@dataclass(frozen=True)
class Site:
    """A compute node where the walk found it: its display name and how often it runs."""
    node: onnx.NodeProto
    name: str
    repeat: int = 1


def build(site: Site, index: GraphIndex) -> list[Layer]:
    spec = SPECS[op_key(site.node)]
    needed = max(spec.operands, default=0) + 1
    real = [i for i in site.node.input[:needed] if i]
    if len(site.node.input) < needed or len(real) < len(spec.operands):
        raise ModelImportError(f"node {shown(site.name)} ({site.node.op_type}) has {len(real)} of the "
                               f"{len(spec.operands) or 2} operands it multiplies: the file is corrupted")
    if spec.kind != "recurrent" and not (site.node.output and site.node.output[0]):   # LSTM outputs are optional
        raise ModelImportError(f"node {shown(site.name)} ({site.node.op_type}) has no output: the file is "
                               "corrupted")
    return BUILDERS[spec.kind](site, spec, index)


# ------------------------------------------------------------------------------ helpers

def _shape(index: GraphIndex, site: Site, tensor: str, what: str) -> tuple[int, ...]:
    """An operand's static shape; an unknown one leaves the node a named gap of unknown cost."""
    shape = index.shape(tensor)
    if shape is None:
        raise NotModeled(index.unknown_shape(tensor, what))
    return shape


def _bias(node: onnx.NodeProto, spec: OpSpec) -> str | None:
    i = spec.bias
    return node.input[i] if i is not None and len(node.input) > i and node.input[i] else None


def _layer_shape(site: Site, **dims) -> LayerShape:
    """A LayerShape, its validation errors turned into an import error naming the node."""
    try:
        return LayerShape(**dims)
    except HardwareModelError as exc:
        raise ModelImportError(f"node {shown(site.name)} ({site.node.op_type}): {exc}") from exc


def _layer(site: Site, shape: LayerShape, weight: Weight | None, x, y, bias, attrs) -> Layer:
    attrs = dict(attrs)
    if site.repeat != 1:
        attrs["repeat"] = site.repeat
    return Layer(name=shape.name, op=shape.op, node=site.name,
                 weight_shape=weight.shape if weight else (),
                 weight_source=weight.source if weight else "activation", bias=bias,
                 input_shape=tuple(x), output_shape=tuple(y), shape=shape, attributes=attrs, stored=weight)


def _positive(site: Site, tensor: str, shape: tuple[int, ...], what: str) -> None:
    if not shape or any(d <= 0 for d in shape):
        raise ModelImportError(f"node {shown(site.name)} ({site.node.op_type}): its {what} {shown(tensor)} "
                               f"has shape {list(shape)[:8]}; a compute layer needs positive dimensions")


def _ints(values, n: int, default: int) -> tuple[int, ...]:
    return tuple(int(v) for v in values) if values else (default,) * n


# ------------------------------------------------------------------------------ convolutions

def conv_layers(site: Site, spec: OpSpec, index: GraphIndex) -> list[Layer]:
    node, attrs = site.node, attributes(site.node)
    x_t, w_t = node.input[spec.operands[0]], node.input[spec.operands[1]]
    x = _shape(index, site, x_t, "input")
    weight = index.weight(w_t)
    w = index.shape(w_t) or (weight.shape if weight else None) or _shape(index, site, w_t, "weight")
    _positive(site, x_t, x, "input")
    _positive(site, w_t, w, "weight")
    if len(x) < 3 or len(w) != len(x):
        raise ModelImportError(f"node {shown(site.name)}: input rank {len(x)} and weight rank {len(w)} "
                               f"do not form a {node.op_type}")
    n_sp = len(x) - 2
    groups = int(attrs.get("group", 1))
    kernel = tuple(int(k) for k in (attrs.get("kernel_shape") or w[2:]))
    stride, dilation = _ints(attrs.get("strides"), n_sp, 1), _ints(attrs.get("dilations"), n_sp, 1)
    if groups <= 0 or len(kernel) != n_sp or min(stride + dilation + kernel) <= 0:
        raise ModelImportError(f"node {shown(site.name)} ({node.op_type}): group {groups}, kernel {kernel}, "
                               f"strides {stride} or dilations {dilation} are not valid for a "
                               f"{n_sp}-D input")
    in_spatial = tuple(x[2:])
    y = index.shape(node.output[0])
    if spec.kind == "conv":
        pads = tuple(spatial_pads(attrs, in_spatial, kernel, stride, dilation))
        out_ch, in_ch = w[0], w[1] * groups
        y = y or (x[0], out_ch) + tuple((in_spatial[i] + pads[i] + pads[i + n_sp] - dilation[i] * (kernel[i] - 1)
                                         - 1) // stride[i] + 1 for i in range(n_sp))
    else:
        pads = _ints(attrs.get("pads"), 2 * n_sp, 0)
        in_ch, out_ch = w[0], w[1] * groups
        y = y or _shape(index, site, node.output[0], "output")
    if in_ch != x[1]:
        raise ModelImportError(f"node {shown(site.name)} ({node.op_type}): weight {tuple(w)} with group="
                               f"{groups} expects {in_ch} input channels, the input has {x[1]}")
    _positive(site, node.output[0], y, "output")
    bias = _bias(node, spec)
    shape = _layer_shape(site, name=weight.name if weight else site.name, op=spec.kind,
                         batch=x[0] * site.repeat, in_channels=in_ch, out_channels=out_ch, kernel=kernel,
                         in_spatial=in_spatial, out_spatial=tuple(y[2:]), groups=groups, stride=stride,
                         dilation=dilation, pads=pads, has_bias=bias is not None)
    if weight is None:
        raise NotModeled(f"its weight {shown(w_t)} is a run-time tensor: only constant weights are "
                         "modeled", shape.macs)
    return [_layer(site, shape, weight, x, y, bias, attrs)]


# ------------------------------------------------------------------------------ matrix products

def matrix_layers(site: Site, spec: OpSpec, index: GraphIndex) -> list[Layer]:
    node, attrs = site.node, attributes(site.node)
    a_t, b_t = node.input[spec.operands[0]], node.input[spec.operands[1]]
    a, b = _shape(index, site, a_t, "first operand"), _shape(index, site, b_t, "second operand")
    a, b = _transposed(a, attrs, "A", site), _transposed(b, attrs, "B", site)
    a2 = (1,) + a if len(a) == 1 else a               # MatMul's 1-D promotion
    b2 = b + (1,) if len(b) == 1 else b
    if len(a2) < 2 or len(b2) < 2 or a2[-1] != b2[-2]:
        raise ModelImportError(f"node {shown(site.name)} ({node.op_type}): operands {list(a)} and {list(b)} "
                               "cannot be multiplied")
    try:
        batch = tuple(np.broadcast_shapes(a2[:-2], b2[:-2]))
    except ValueError as exc:
        raise ModelImportError(f"node {shown(site.name)} ({node.op_type}): batch dims of {list(a)} and "
                               f"{list(b)} do not broadcast") from exc
    dims = _MatDims(groups=prod(batch), m=a2[-2], k=a2[-1], n=b2[-1], out=batch + (a2[-2], b2[-1]))
    bias = _bias(node, spec) if op_key(node) not in GEMM_LIKE or attrs.get("beta", 1.0) != 0 else None
    op = "gemm" if op_key(node) in GEMM_LIKE else "matmul"
    y = index.shape(node.output[0])
    return _product_layers(site, index, (a_t, b_t), (a, b), dims, (prod(a2[:-2]), prod(b2[:-2])), op, bias,
                           attrs, y or dims.out)


def _transposed(shape, attrs, which: str, site: Site) -> tuple[int, ...]:
    if not attrs.get(f"trans{which}", 0):
        return tuple(shape)
    if attrs.get(f"transBatch{which}", 0):
        raise NotModeled(f"transBatch{which} is not modeled")
    if len(shape) < 2:
        raise ModelImportError(f"node {shown(site.name)}: trans{which} on a {len(shape)}-D operand")
    return tuple(shape[:-2]) + (shape[-1], shape[-2])


@dataclass(frozen=True)
class _MatDims:
    """Y[batch..., m, n] = sum over k of A[batch..., m, k] B[batch..., k, n]; groups = prod(batch)."""
    groups: int
    m: int
    k: int
    n: int
    out: tuple[int, ...]


def _product_layers(site, index, tensors, shapes, dims: _MatDims, weight_groups: tuple[int, int],
                    op, bias, attrs, y) -> list[Layer]:
    """The layer of a matrix product: a constant operand is the weight (its leading dims are
    groups); two activations are a dynamic matmul (no weight); two constants are computed once
    at load, not at run time."""
    for t, s in zip(tensors, shapes):
        _positive(site, t, s, "operand")
    weights = [index.weight(t) for t in tensors]
    if all(weights):
        return []
    if not any(weights):
        g = dims.groups
        shape = _layer_shape(site, name=site.name, op="dynamic_matmul", batch=dims.m * site.repeat,
                             in_channels=g * dims.k, out_channels=g * dims.n, groups=g)
        return [_layer(site, shape, None, shapes[0], y, None, attrs)]
    right = weights[1] is not None                   # Y = X W (else Y = W X)
    weight, g = (weights[1], weight_groups[1]) if right else (weights[0], weight_groups[0])
    out_f = dims.n if right else dims.m
    shape = _layer_shape(site, name=weight.name, op=op, batch=prod(dims.out) // (g * out_f) * site.repeat,
                         in_channels=g * dims.k, out_channels=g * out_f, groups=g, has_bias=bias is not None)
    return [_layer(site, shape, weight, shapes[0] if right else shapes[1], y, bias, attrs)]


def einsum_layers(site: Site, spec: OpSpec, index: GraphIndex) -> list[Layer]:
    node, attrs = site.node, attributes(site.node)
    tensors = [t for t in node.input if t]
    shapes = [_shape(index, site, t, f"operand {i}") for i, t in enumerate(tensors)]
    terms, out_term, sizes = _einsum_terms(site, str(_text(attrs.get("equation", ""))), shapes)
    if len(terms) == 1:
        return []                                  # a transpose, trace or sum: no products
    if len(terms) != 2:
        raise NotModeled(f"an Einsum of {len(terms)} operands is not modeled (2-operand contractions are)",
                         prod(sizes.values()))
    a, b = terms

    def size(letters) -> int:
        return prod(sizes[c] for c in letters)
    batch = [c for c in a if c in b and c in out_term]
    contracted = [c for c in a if c in b and c not in out_term]
    free_a = [c for c in a if c not in b and c in out_term]
    free_b = [c for c in b if c not in a and c in out_term]
    g, m, k, n = size(batch), size(free_a), size(contracted), size(free_b)
    dims = _MatDims(groups=g, m=m, k=k, n=n, out=(g, m, n))
    y = index.shape(node.output[0])
    return _product_layers(site, index, tensors, shapes, dims, (g, g), "matmul", None, attrs,
                           y or tuple(sizes[c] for c in out_term))


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _einsum_terms(site, equation: str, shapes) -> tuple[list[str], str, dict[str, int]]:
    """Operand and output subscripts with '...' spelled out as digits, and each letter's size."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",") if lhs else []
    if len(terms) != len(shapes):
        raise ModelImportError(f"node {shown(site.name)} (Einsum): equation {shown(equation, 60)} names "
                               f"{len(terms)} operands, the node has {len(shapes)}")
    ell = max((len(s) - len(t.replace("...", "")) for t, s in zip(terms, shapes) if "..." in t), default=0)
    digits = "".join(str(i) for i in range(ell))
    spelled = [t.replace("...", digits[ell - (len(s) - len(t.replace('...', ''))):]) for t, s in zip(terms, shapes)]
    sizes: dict[str, int] = {}
    for term, shape in zip(spelled, shapes):
        if len(term) != len(shape):
            raise ModelImportError(f"node {shown(site.name)} (Einsum): subscripts {shown(term, 40)} do not "
                                   f"match an operand of shape {list(shape)[:8]}")
        for c, d in zip(term, shape):
            sizes[c] = max(sizes.get(c, 1), int(d))
    if arrow:
        out = rhs.replace("...", digits)
    else:                                            # implicit output: letters used once, sorted
        letters = "".join(spelled)
        out = digits + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and not c.isdigit()))
    return spelled, out, sizes


# ------------------------------------------------------------------------------ recurrent

def recurrent_layers(site: Site, spec: OpSpec, index: GraphIndex) -> list[Layer]:
    """W (input) and R (recurrent) gate matrices of an LSTM/GRU/RNN, applied at every step of
    the sequence in every direction: one layer each, a group per direction."""
    node, attrs = site.node, attributes(site.node)
    x_t, w_t, r_t = (node.input[i] for i in spec.operands)
    x = _shape(index, site, x_t, "input")
    if len(x) != 3:
        raise ModelImportError(f"node {shown(site.name)} ({node.op_type}): input of shape {list(x)}; "
                               "a recurrent op takes [seq, batch, features]")
    steps, batch = (x[1], x[0]) if attrs.get("layout", 0) else (x[0], x[1])
    dirs = 2 if _text(attrs.get("direction", "forward")) == "bidirectional" else 1
    r = index.shape(r_t)
    hidden = int(attrs.get("hidden_size") or (r[-1] if r else 0))
    gates = spec.gates * hidden
    bias = _bias(node, spec)
    y = (index.shape(node.output[0]) if node.output and node.output[0] else None) or (steps, dirs, batch, hidden)
    found = []
    for role, tensor, width in (("input", w_t, x[2]), ("recurrent", r_t, hidden)):
        weight = index.weight(tensor)
        stored = index.shape(tensor) or (weight.shape if weight else None) or _shape(index, site, tensor, "weight")
        expected = (dirs, width, gates) if spec.weights_transposed else (dirs, gates, width)
        if tuple(stored) != expected:
            raise ModelImportError(f"node {shown(site.name)} ({node.op_type}): {role} weight {shown(tensor)} "
                                   f"has shape {list(stored)[:8]}, expected {list(expected)} (directions, "
                                   "gates x hidden, features)")
        shape = _layer_shape(site, name=weight.name if weight else tensor, op="recurrent",
                             batch=steps * batch * site.repeat, in_channels=dirs * width,
                             out_channels=dirs * gates, groups=dirs, has_bias=bias is not None)
        found.append((shape, weight, role, tensor))
    dynamic = [tensor for _, weight, _, tensor in found if weight is None]
    if dynamic:
        raise NotModeled(f"its weight {shown(dynamic[0])} is a run-time tensor: only constant weights are "
                         "modeled",
                         sum(shape.macs for shape, *_ in found))
    return [_layer(site, shape, weight, x, y, bias, {**attrs, "gate_matrix": role})
            for shape, weight, role, _ in found]


# ------------------------------------------------------------------------------ onnxruntime's formats

def block_matmul_layers(site: Site, spec: OpSpec, index: GraphIndex) -> list[Layer]:
    """MatMulNBits: A [..., K] times a K x N weight stored block-quantized (its width the `bits`
    attribute, its storage the packed values with their block scales and zero points)."""
    node, attrs = site.node, attributes(site.node)
    a_t, b_t = node.input[0], node.input[1]
    a = _shape(index, site, a_t, "input")
    k, n = int(attrs.get("K", 0)), int(attrs.get("N", 0))
    if not a or a[-1] != k or n <= 0:
        raise ModelImportError(f"node {shown(site.name)} ({node.op_type}): its input {list(a)[:8]} and attributes "
                               f"K {k}, N {n} do not form a product (the input ends in K; N is positive)")
    bias = _bias(node, spec)
    stored = index.weight(b_t)
    shape = _layer_shape(site, name=stored.name if stored else site.name, op="matmul",
                         batch=prod(a[:-1]) * site.repeat, in_channels=k, out_channels=n, has_bias=bias is not None)
    if stored is None:
        raise NotModeled(f"its weight {shown(b_t)} is a run-time tensor: only constant weights are modeled",
                         shape.macs)
    weight = nbits_weight(index, node, site.name, attrs, stored)
    return [_layer(site, shape, weight, a, index.shape(node.output[0]) or a[:-1] + (n,), bias, attrs)]


def attention_layers(site: Site, spec: OpSpec, index: GraphIndex) -> list[Layer]:
    """onnxruntime's fused self-attention: the packed Q/K/V projection (a weight) and the two
    products per head, q k^T and attention x v (dynamic matmuls)."""
    node, attrs = site.node, attributes(site.node)
    x_t, w_t = node.input[0], node.input[1]
    x, w = _shape(index, site, x_t, "input"), _shape(index, site, w_t, "weight")
    heads = int(attrs.get("num_heads", 0))
    sizes = list(attrs.get("qkv_hidden_sizes") or ([w[-1] // 3] * 3 if w else []))
    if len(x) != 3 or len(w) != 2 or heads <= 0 or len(sizes) != 3 or sum(sizes) != w[1] \
            or sizes[0] != sizes[1] or sizes[0] % heads or sizes[2] % heads:
        raise ModelImportError(f"node {shown(site.name)} ({node.op_type}): input {list(x)}, weight {list(w)}, "
                               f"num_heads {heads}, qkv_hidden_sizes {sizes} do not form an attention")
    batch, seq, _ = x
    past = index.shape(node.input[4]) if len(node.input) > 4 and node.input[4] else None
    keys = seq + (past[3] if past and len(past) == 5 else 0)
    weight = index.weight(w_t)
    bias = _bias(node, spec)
    projection = _layer_shape(site, name=weight.name if weight else w_t, op="matmul",
                              batch=batch * seq * site.repeat, in_channels=w[0], out_channels=w[1],
                              has_bias=bias is not None)
    y = index.shape(node.output[0]) or x
    products = _attention_products(site, x, y, attrs, batch * heads, seq, keys, sizes[0] // heads,
                                   sizes[2] // heads)
    if weight is None:
        raise NotModeled(f"its weight {shown(w_t)} is a run-time tensor: only constant weights are modeled",
                         projection.macs + sum(p.macs for p in products))
    return [_layer(site, projection, weight, x, y, bias, attrs)] + products


def mha_layers(site: Site, spec: OpSpec, index: GraphIndex) -> list[Layer]:
    """onnxruntime's MultiHeadAttention on projected query, key and value (any of its layouts):
    the two products per head."""
    node, attrs = site.node, attributes(site.node)
    heads = int(attrs.get("num_heads", 0))
    q = _shape(index, site, node.input[0], "query")
    k, v, past = (_optional_shape(index, site, i, what) for i, what in ((1, "key"), (2, "value"), (6, "past key")))
    dims = mha_dims(q, k, v, past, heads)
    if dims is None:
        raise ModelImportError(f"node {shown(site.name)} ({node.op_type}): query {list(q)[:8]}, key "
                               f"{list(k or ())[:8]}, value {list(v or ())[:8]} and num_heads {heads} do "
                               "not form a multi-head attention")
    b, s, length, hk, hv = dims
    return _attention_products(site, q, index.shape(node.output[0]) or (b, s, heads * hv), attrs, b * heads, s,
                               length, hk, hv)


def gqa_layers(site: Site, spec: OpSpec, index: GraphIndex) -> list[Layer]:
    """onnxruntime's GroupQueryAttention: every query head's two products over the keys of its
    group (past and new)."""
    node, attrs = site.node, attributes(site.node)
    heads, kv_heads = int(attrs.get("num_heads", 0)), int(attrs.get("kv_num_heads", 0))
    q = _shape(index, site, node.input[0], "query")
    total = index.scalar(node.input[6]) if len(node.input) > 6 else None
    dims = gqa_dims(q, _optional_shape(index, site, 1, "key"), _optional_shape(index, site, 3, "past key"),
                    int(total) if total is not None else None, heads, kv_heads)
    if dims is None:
        raise ModelImportError(f"node {shown(site.name)} ({node.op_type}): query {list(q)[:8]} with num_heads "
                               f"{heads} and kv_num_heads {kv_heads} does not form a grouped-query attention")
    b, s, length, h = dims
    return _attention_products(site, q, index.shape(node.output[0]) or (b, s, heads * h), attrs, b * heads, s,
                               length, h, h)


def onnx_attention_layers(site: Site, spec: OpSpec, index: GraphIndex) -> list[Layer]:
    """ONNX's own Attention (opset 23): Q [B, heads, S, H] (or [B, S, heads x H]) against K and
    V of kv_num_heads, past keys appended."""
    node, attrs = site.node, attributes(site.node)
    q, k, v = (_shape(index, site, node.input[i], what) for i, what in enumerate(("query", "key", "value")))
    past = _optional_shape(index, site, 4, "past key")
    heads = int(attrs.get("q_num_heads", 0)) if len(q) == 3 else q[1] if len(q) == 4 else 0
    kv_heads = int(attrs.get("kv_num_heads", 0)) if len(k) == 3 else k[1] if len(k) == 4 else 0
    if heads <= 0 or kv_heads <= 0 or len(k) != len(q) or len(v) != len(q) \
            or (len(q) == 3 and (q[2] % heads or k[2] % kv_heads or v[2] % kv_heads)):
        raise ModelImportError(f"node {shown(site.name)} ({node.op_type}): query {list(q)[:8]}, key {list(k)[:8]} "
                               f"and value {list(v)[:8]} do not form an attention")
    if len(q) == 3:
        b, s, length, hk, hv = q[0], q[1], k[1], q[2] // heads, v[2] // kv_heads
    else:
        b, s, length, hk, hv = q[0], q[2], k[2], q[3], v[3]
    length += past[2] if past is not None and len(past) == 4 else 0
    return _attention_products(site, q, index.shape(node.output[0]) or q, attrs, b * heads, s, length, hk, hv)


def _attention_products(site: Site, x, y, attrs, groups: int, rows: int, keys: int, hk: int, hv: int
                        ) -> list[Layer]:
    """q k^T and attention x v of `groups` (batch x heads) independent heads: dynamic matmuls."""
    shapes = [_layer_shape(site, name=f"{site.name}/{part}", op="dynamic_matmul", batch=rows * site.repeat,
                           in_channels=groups * k, out_channels=groups * n, groups=groups)
              for part, k, n in (("qk", hk, keys), ("av", keys, hv))]
    return [_layer(site, shape, None, x, y, None, attrs) for shape in shapes]


def _optional_shape(index: GraphIndex, site: Site, i: int, what: str) -> tuple[int, ...] | None:
    """An optional input's shape: None when it is not given."""
    node = site.node
    return _shape(index, site, node.input[i], what) if len(node.input) > i and node.input[i] else None


BUILDERS = {"conv": conv_layers, "conv_transpose": conv_layers, "matrix": matrix_layers,
            "einsum": einsum_layers, "recurrent": recurrent_layers, "block_matmul": block_matmul_layers,
            "attention": attention_layers, "multi_head_attention": mha_layers,
            "grouped_query_attention": gqa_layers, "onnx_attention": onnx_attention_layers}
