"""Output shapes of onnxruntime's own ops (domain com.microsoft), which onnx shape inference does
not know: without them every shape below a MatMulNBits, a fused Attention or a
SkipLayerNormalization is unknown, and so is every layer there.

Each rule maps the node's input shapes, types and attributes to its output shapes, as
onnxruntime's kernels define them (docs/ContribOperators.md of onnxruntime). `contrib_shapes()`
registers them with onnx as schemas only while the importer's shape inference runs (so that onnx
propagates through them, data propagation included) and takes them out again: onnx.checker
elsewhere in the process must not validate these ops against a schema that lists no attributes.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np
import onnx
import onnx.defs
from onnx import TensorProto, helper

from codesign.graph.protos import all_graphs

MS = "com.microsoft"
Shape = tuple[int, ...]
Out = dict[int, tuple[int, Shape]]           # output position -> (element type, shape)


class Node:
    """The node as a rule sees it: static input shapes (None where unknown), element types,
    attributes and constant input values."""

    def __init__(self, ctx):
        self._ctx = ctx

    def has(self, i: int) -> bool:
        return i < self._ctx.get_num_inputs() and self._ctx.has_input(i)

    def shape(self, i: int) -> Shape | None:
        if not self.has(i):
            return None
        t = self._ctx.get_input_type(i)
        if t is None or not t.tensor_type.HasField("shape"):
            return None
        dims = t.tensor_type.shape.dim
        return tuple(d.dim_value for d in dims) if all(d.HasField("dim_value") for d in dims) else None

    def type(self, i: int) -> int:
        t = self._ctx.get_input_type(i) if self.has(i) else None
        return t.tensor_type.elem_type if t is not None else TensorProto.UNDEFINED

    def attr(self, name: str, default=None):
        a = self._ctx.get_attribute(name)
        return default if a is None else helper.get_attribute_value(a)

    def scalar(self, i: int) -> int | None:
        """A constant input's single integer value (total_sequence_length), None when unknown."""
        data = self._ctx.get_input_data(i) if self.has(i) else None
        if data is None:
            return None
        values = onnx.numpy_helper.to_array(data).reshape(-1)
        return int(values[0]) if values.size == 1 else None


def _same(node: Node) -> Out:
    """Element-wise ops (Gelu family, bias add, rotary embedding): the first input's shape."""
    x = node.shape(0)
    return {} if x is None else {0: (node.type(0), x)}


def _skip_norm(node: Node) -> Out:
    """SkipLayerNormalization: output and input+skip+bias sum as the input; mean and inverse
    std per row."""
    x = node.shape(0)
    if x is None:
        return {}
    stats = x[:-1] + (1,)
    return {0: (node.type(0), x), 1: (TensorProto.FLOAT, stats), 2: (TensorProto.FLOAT, stats),
            3: (node.type(0), x)}


def _embed_norm(node: Node) -> Out:
    """EmbedLayerNormalization: ids [B, S] and a word table [V, D] give [B, S, D], a mask index
    per batch row and the embedding sum."""
    ids, table = node.shape(0), node.shape(2)
    if ids is None or table is None or len(ids) != 2 or len(table) != 2:
        return {}
    out = ids + (table[1],)
    return {0: (node.type(2), out), 1: (TensorProto.INT32, ids[:1]), 2: (node.type(2), out)}


def _block_matmul(node: Node) -> Out:
    """MatMulNBits / MatMulBnb4: A [..., K] times a block-quantized [K, N] gives [..., N]."""
    a, n = node.shape(0), node.attr("N")
    return {} if a is None or not n else {0: (node.type(0), a[:-1] + (int(n),))}


def _fused_matmul(node: Node) -> Out:
    """FusedMatMul: alpha * op(A) @ op(B) with optional transposes of the last two axes."""
    a, b = node.shape(0), node.shape(1)
    if a is None or b is None or len(a) < 2 or len(b) < 2 or node.attr("transBatchA") or node.attr("transBatchB"):
        return {}
    if node.attr("transA"):
        a = a[:-2] + (a[-1], a[-2])
    if node.attr("transB"):
        b = b[:-2] + (b[-1], b[-2])
    if a[-1] != b[-2]:
        return {}
    batch = tuple(np.broadcast_shapes(a[:-2], b[:-2]))     # ValueError: no output shape
    return {0: (node.type(0), batch + (a[-2], b[-1]))}


def _attention(node: Node) -> Out:
    """Attention: x [B, S, D_in] and packed Q/K/V weights give [B, S, D_v]; present keys and
    values [2, B, heads, past + S, head size] when a past is given."""
    x, w = node.shape(0), node.shape(1)
    heads = int(node.attr("num_heads", 0))
    if x is None or w is None or len(x) != 3 or len(w) != 2 or heads <= 0:
        return {}
    sizes = list(node.attr("qkv_hidden_sizes") or [w[1] // 3] * 3)
    out = {0: (node.type(0), (x[0], x[1], sizes[2]))}
    past = node.shape(4)
    if past is not None and len(past) == 5:
        out[1] = (node.type(0), (2, x[0], heads, past[3] + x[1], sizes[2] // heads))
    return out


def mha_dims(q: Shape | None, k: Shape | None, v: Shape | None, past: Shape | None, heads: int
             ) -> tuple[int, int, int, int, int] | None:
    """(batch, query length, key length incl. past, key head size, value head size) of a
    MultiHeadAttention in each of its layouts: 3-D query with key/value [B, L, D] or
    [B, heads, L, H]; packed Q/K/V [B, S, heads, 3, H]; packed K/V [B, L, heads, 2, H]."""
    if q is None or heads <= 0:
        return None
    if len(q) == 5 and k is None:                    # packed Q, K and V
        return q[0], q[1], q[1], q[4], q[4]
    if len(q) != 3 or k is None or q[2] % heads:
        return None
    b, s, h = q[0], q[1], q[2] // heads
    if len(k) == 5 and v is None:                    # packed K and V
        return b, s, k[1], k[4], k[4]
    if v is None or len(v) != len(k):
        return None
    if len(k) == 4:                                  # [B, heads, L, H]: the whole key, past included
        return b, s, k[2], k[3], v[3]
    if len(k) != 3 or v[2] % heads:
        return None
    extra = past[2] if past is not None and len(past) == 4 else 0
    return b, s, k[1] + extra, h, v[2] // heads


def _mha(node: Node) -> Out:
    heads = int(node.attr("num_heads", 0))
    dims = mha_dims(node.shape(0), node.shape(1), node.shape(2), node.shape(6), heads)
    if dims is None:
        return {}
    b, s, length, hk, hv = dims
    t = node.type(0)
    return {0: (t, (b, s, heads * hv)), 1: (t, (b, heads, length, hk)), 2: (t, (b, heads, length, hv))}


def gqa_dims(q: Shape | None, k: Shape | None, past: Shape | None, total: int | None, heads: int,
             kv_heads: int) -> tuple[int, int, int, int] | None:
    """(batch, query length, keys attended, head size) of a GroupQueryAttention: query [B, S, D]
    with key/value [B, S, D_kv], or Q, K and V packed in the query [B, S, D + 2 D_kv]; the keys
    are total_sequence_length when it is a constant, else the past's length plus S."""
    if q is None or len(q) != 3 or heads <= 0 or kv_heads <= 0:
        return None
    packed = k is None
    width = heads + 2 * kv_heads if packed else heads
    if q[2] % width:
        return None
    b, s, h = q[0], q[1], q[2] // width
    past_len = past[2] if past is not None and len(past) == 4 else 0
    return b, s, total if total else past_len + s, h


def _gqa(node: Node) -> Out:
    heads, kv_heads = int(node.attr("num_heads", 0)), int(node.attr("kv_num_heads", 0))
    dims = gqa_dims(node.shape(0), node.shape(1), node.shape(3), node.scalar(6), heads, kv_heads)
    if dims is None:
        return {}
    b, s, length, h = dims
    past = node.shape(3)
    present = max(length, past[2]) if past is not None and len(past) == 4 else length
    t = node.type(0)
    return {0: (t, (b, s, heads * h)), 1: (t, (b, kv_heads, present, h)), 2: (t, (b, kv_heads, present, h))}


def _gather_block_quantized(node: Node) -> Out:
    """GatherBlockQuantized (a 4-bit embedding table): indices' shape, then the table's rows,
    two 4-bit values to a byte of uint8 data."""
    data, idx = node.shape(0), node.shape(1)
    if data is None or idx is None or int(node.attr("gather_axis", 0)) != 0:
        return {}
    per_byte = 8 // int(node.attr("bits", 4)) if node.type(0) == TensorProto.UINT8 else 1
    row = data[1:-1] + (data[-1] * per_byte,) if len(data) > 1 else ()
    return {0: (node.type(2), idx + row)}


RULES: dict[tuple[str, str], Callable[[Node], Out]] = {
    **{(MS, op): _same for op in ("FastGelu", "BiasGelu", "Gelu", "QuickGelu", "BiasAdd", "BiasSoftmax",
                                  "BiasDropout", "RotaryEmbedding", "SimplifiedLayerNormalization",
                                  "LayerNormalization")},
    ("", "SimplifiedLayerNormalization"): _same,
    (MS, "SkipLayerNormalization"): _skip_norm, (MS, "SkipSimplifiedLayerNormalization"): _skip_norm,
    (MS, "EmbedLayerNormalization"): _embed_norm,
    (MS, "MatMulNBits"): _block_matmul, (MS, "MatMulBnb4"): _block_matmul,
    (MS, "FusedMatMul"): _fused_matmul,
    (MS, "Attention"): _attention, (MS, "MultiHeadAttention"): _mha, (MS, "GroupQueryAttention"): _gqa,
    (MS, "GatherBlockQuantized"): _gather_block_quantized,
}


def _infer(rule: Callable[[Node], Out]):
    def infer(ctx) -> None:
        try:
            outputs = rule(Node(ctx))
        except Exception:                        # a malformed node: its outputs stay unknown
            return
        for i, (elem, shape) in outputs.items():
            if i < ctx.get_num_outputs() and ctx.has_output(i) and elem and all(d >= 0 for d in shape):
                ctx.set_output_type(i, helper.make_tensor_type_proto(elem, list(shape)))
    return infer


def _schema(domain: str, op: str, rule) -> onnx.defs.OpSchema:
    any_type = onnx.defs.get_schema("Identity").type_constraints[0].allowed_type_strs
    option = onnx.defs.OpSchema.FormalParameterOption.Variadic

    def param(name: str):
        return onnx.defs.OpSchema.FormalParameter(name, "T", param_option=option, is_homogeneous=False,
                                                  min_arity=0)
    schema = onnx.defs.OpSchema(op, domain, 1, inputs=[param("inputs")], outputs=[param("outputs")],
                                type_constraints=[("T", list(any_type), "any tensor")])
    schema.set_type_and_shape_inference_function(_infer(rule))
    return schema


_LOCK = threading.RLock()


@contextmanager
def contrib_shapes(model: onnx.ModelProto) -> Iterator[None]:
    """onnx shape inference inside knows the output shapes of the model's ops of RULES (those
    that onnx does not define itself); the registry is as before afterwards."""
    used = {(node.domain if node.domain != "ai.onnx" else "", node.op_type)
            for graph in all_graphs(model.graph) for node in graph.node} & RULES.keys()
    with _LOCK:
        added = []
        try:
            for domain, op in sorted(used):
                if not onnx.defs.has(op, domain):
                    try:
                        onnx.defs.register_schema(_schema(domain, op, RULES[domain, op]))
                    except (AttributeError, TypeError):   # an onnx without Python shape functions
                        break
                    added.append((domain, op))
            yield
        finally:
            for domain, op in added:
                onnx.defs.deregister_schema(op, 1, domain)
