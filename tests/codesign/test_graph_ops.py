"""Every op that multiplies, on small graphs built here: each graph runs in onnxruntime (so it is
valid ONNX) and the importer's MACs equal the multiply-adds written out by hand."""
from math import prod

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from codesign.graph import load_network

RNG = np.random.default_rng(0)


def model(nodes, inputs, inits=(), outputs=("y",), opset=17, domains=()):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                              [onnx.ValueInfoProto(name=o) for o in outputs],     # types inferred
                              list(inits))
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    return helper.make_model(graph, opset_imports=opsets, ir_version=8)


def init(name, shape, dtype=np.float32):
    values = RNG.standard_normal(shape) * 10 if np.issubdtype(dtype, np.floating) else RNG.integers(-8, 8, shape)
    return numpy_helper.from_array(values.astype(dtype), name)


def run(m, inputs) -> list[tuple]:
    """onnxruntime's output shapes on random inputs of the declared shapes."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    feed = {}
    for name, dtype, shape in inputs:
        np_type = {TensorProto.FLOAT: np.float32, TensorProto.UINT8: np.uint8, TensorProto.INT64: np.int64}[dtype]
        feed[name] = RNG.integers(0, 4, shape).astype(np_type) if np_type != np.float32 \
            else RNG.standard_normal(shape).astype(np_type)
    return [o.shape for o in sess.run(None, feed)]


F = TensorProto.FLOAT


def test_attention_products_are_dynamic_matmuls_with_heads_as_groups():
    """q @ k^T and softmax @ v on (batch 2, 4 heads, 10 tokens, 16 dims)."""
    inputs = [("q", F, [2, 4, 10, 16]), ("k", F, [2, 4, 16, 10]), ("v", F, [2, 4, 10, 16])]
    nodes = [helper.make_node("MatMul", ["q", "k"], ["s"], name="qk"),
             helper.make_node("Softmax", ["s"], ["p"], axis=-1),
             helper.make_node("MatMul", ["p", "v"], ["y"], name="av")]
    m = model(nodes, inputs)
    assert run(m, inputs) == [(2, 4, 10, 16)]
    net = load_network(m)
    qk, av = net.layers
    assert (qk.op, qk.groups, qk.params) == ("dynamic_matmul", 8, 0)
    assert qk.macs == 2 * 4 * 10 * 10 * 16 and av.macs == 2 * 4 * 10 * 16 * 10
    assert net.coverage_dict()["share"] == 1.0 and net.weight_bits() == {"qk": 32, "av": 32}


def test_batched_weight_matmul_and_broadcast_activation():
    """X[3, 4, 5, 8] @ W[4, 8, 6]: one 8x6 matrix per head (groups 4), rows 3 x 5 per group."""
    inputs = [("x", F, [3, 4, 5, 8])]
    m = model([helper.make_node("MatMul", ["x", "w"], ["y"])], inputs, [init("w", (4, 8, 6))])
    assert run(m, inputs) == [(3, 4, 5, 6)]
    layer = load_network(m).layers[0]
    assert (layer.groups, layer.params, layer.macs) == (4, 4 * 8 * 6, 3 * 4 * 5 * 6 * 8)


def test_gemm_trans_a_with_constant_left_operand():
    """Y = W^T X with W stored (K=8, M=5) and transA: weight on the left, X columns are rows."""
    inputs = [("x", F, [8, 3])]
    m = model([helper.make_node("Gemm", ["w", "x"], ["y"], transA=1)], inputs, [init("w", (8, 5))])
    assert run(m, inputs) == [(5, 3)]
    layer = load_network(m).layers[0]
    assert (layer.shape.batch, layer.shape.in_channels, layer.shape.out_channels) == (3, 8, 5)


@pytest.mark.parametrize("equation, a_shape, b_shape, weight, macs", [
    ("bhqd,bhkd->bhqk", (2, 4, 10, 16), (2, 4, 12, 16), False, 2 * 4 * 10 * 12 * 16),   # attention
    ("bnd,de->bne", (2, 7, 16), (16, 32), True, 2 * 7 * 32 * 16),                     # a weight
    ("...d,de->...e", (2, 3, 7, 16), (16, 32), True, 2 * 3 * 7 * 32 * 16),            # ellipsis
    ("ij,jk", (5, 6), (6, 7), False, 5 * 6 * 7),                                      # implicit output
])
def test_einsum_contractions(equation, a_shape, b_shape, weight, macs):
    inputs = [("a", F, list(a_shape))] + ([] if weight else [("b", F, list(b_shape))])
    m = model([helper.make_node("Einsum", ["a", "b"], ["y"], equation=equation)], inputs,
              [init("b", b_shape)] if weight else [], opset=13)
    run(m, inputs)
    layer = load_network(m).layers[0]
    assert layer.macs == macs
    assert layer.op == ("matmul" if weight else "dynamic_matmul")
    assert layer.params == (prod(b_shape) if weight else 0)


def test_einsum_of_three_operands_is_listed_with_an_estimate():
    inputs = [("a", F, [4, 5]), ("b", F, [5, 6]), ("c", F, [6, 7]), ("x", F, [1, 5])]
    nodes = [helper.make_node("Einsum", ["a", "b", "c"], ["e"], equation="ij,jk,kl->il", name="e3"),
             helper.make_node("MatMul", ["x", "w"], ["y"])]
    net = load_network(model(nodes, inputs, [init("w", (5, 3))], outputs=("e", "y"), opset=13))
    gap = net.coverage_dict()["unmodeled"][0]
    assert (gap["op"], gap["node"], gap["macs"]) == ("Einsum", "e3", 4 * 5 * 6 * 7)
    assert net.coverage_dict()["share"] == pytest.approx(15 / (15 + 840))


@pytest.mark.parametrize("op, gates, direction, layout", [
    ("LSTM", 4, "forward", 0), ("GRU", 3, "bidirectional", 0), ("RNN", 1, "reverse", 0),
    ("LSTM", 4, "bidirectional", 1)])      # batch-first: onnxruntime's CPU kernels refuse it
def test_recurrent_gate_matrices(op, gates, direction, layout):
    """W [dirs, G*H, I] and R [dirs, G*H, H] applied at every step: T*N*dirs*G*H*(I + H)."""
    t, n, i, h = 7, 2, 12, 5
    dirs = 2 if direction == "bidirectional" else 1
    x_shape = [t, n, i] if layout == 0 else [n, t, i]
    inputs = [("x", F, x_shape)]
    node = helper.make_node(op, ["x", "W", "R", "B"], ["y"], hidden_size=h, direction=direction,
                            layout=layout, name="rnn")
    m = model([node], inputs, [init("W", (dirs, gates * h, i)), init("R", (dirs, gates * h, h)),
                               init("B", (dirs, 2 * gates * h))], opset=14)
    if layout == 0:
        run(m, inputs)
    net = load_network(m)
    w, r = net.layers
    assert (w.name, r.name, w.op, w.groups) == ("W", "R", "recurrent", dirs)
    assert w.macs == t * n * dirs * gates * h * i and r.macs == t * n * dirs * gates * h * h
    assert (w.params, r.params) == (dirs * gates * h * i, dirs * gates * h * h)
    assert net.weight("R").shape == (dirs, gates * h, h)


def qlinear_conv():
    inputs = [("x", TensorProto.UINT8, [1, 4, 9, 9])]
    scalars = [numpy_helper.from_array(np.array(v, dtype=d), n) for n, v, d in (
        ("xs", 0.1, np.float32), ("xz", 128, np.uint8), ("ws", 0.05, np.float32), ("wz", 0, np.int8),
        ("ys", 0.2, np.float32), ("yz", 128, np.uint8))]
    node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["y"],
                            pads=[1, 1, 1, 1], strides=[2, 2])
    return model([node], inputs, [init("w", (6, 4, 3, 3), np.int8), init("b", (6,), np.int32)] + scalars), inputs


def conv_integer():
    inputs = [("x", TensorProto.UINT8, [1, 4, 9, 9])]
    node = helper.make_node("ConvInteger", ["x", "w"], ["y"], pads=[1, 1, 1, 1], strides=[2, 2])
    return model([node], inputs, [init("w", (6, 4, 3, 3), np.int8)]), inputs


def matmul_integer():
    inputs = [("x", TensorProto.UINT8, [5, 4])]
    return model([helper.make_node("MatMulInteger", ["x", "w"], ["y"])], inputs,
                 [init("w", (4, 6), np.int8)]), inputs


def qlinear_matmul():
    inputs = [("x", TensorProto.UINT8, [5, 4])]
    scalars = [numpy_helper.from_array(np.array(v, dtype=d), n) for n, v, d in (
        ("xs", 0.1, np.float32), ("xz", 128, np.uint8), ("ws", 0.05, np.float32), ("wz", 0, np.int8),
        ("ys", 0.2, np.float32), ("yz", 128, np.uint8))]
    node = helper.make_node("QLinearMatMul", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["y"])
    return model([node], inputs, [init("w", (4, 6), np.int8)] + scalars), inputs


def qdq_conv():
    """A QDQ graph: the stored weight is int8, dequantized on its way to a float Conv."""
    inputs = [("x", F, [1, 4, 9, 9])]
    scalars = [numpy_helper.from_array(np.array(0.05, np.float32), "ws"),
               numpy_helper.from_array(np.array(0, np.int8), "wz")]
    nodes = [helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wf"]),
             helper.make_node("Conv", ["x", "wf"], ["y"], pads=[1, 1, 1, 1], strides=[2, 2])]
    return model(nodes, inputs, [init("w", (6, 4, 3, 3), np.int8)] + scalars), inputs


def fp16_conv():
    inputs = [("x", F, [1, 4, 9, 9])]
    nodes = [helper.make_node("Cast", ["w"], ["wf"], to=TensorProto.FLOAT),
             helper.make_node("Conv", ["x", "wf"], ["y"], pads=[1, 1, 1, 1], strides=[2, 2])]
    return model(nodes, inputs, [init("w", (6, 4, 3, 3), np.float16)]), inputs


@pytest.mark.parametrize("build, bits, conv", [
    (qlinear_conv, 8, True), (conv_integer, 8, True), (qdq_conv, 8, True), (fp16_conv, 16, True),
    (matmul_integer, 8, False), (qlinear_matmul, 8, False)])
def test_quantized_and_half_precision_layers_report_their_width(build, bits, conv):
    m, inputs = build()
    out = run(m, inputs)[0]
    net = load_network(m)
    layer = net.layers[0]
    assert net.weight_bits() == {"w": bits}
    if conv:
        assert out == (1, 6, 5, 5) and layer.macs == prod(out) * 4 * 9
    else:
        assert out == (5, 6) and layer.macs == 5 * 4 * 6


def test_fused_attention_contrib_op_is_its_projection_and_two_products():
    b, s, d, heads = 2, 10, 32, 4
    inputs = [("x", F, [b, s, d])]
    node = helper.make_node("Attention", ["x", "w", "bias"], ["y"], domain="com.microsoft", num_heads=heads,
                            name="att")
    m = model([node], inputs, [init("w", (d, 3 * d)), init("bias", (3 * d,))], domains=("com.microsoft",))
    assert run(m, inputs) == [(b, s, d)]
    net = load_network(m)
    proj, qk, av = net.layers
    assert (proj.name, proj.macs) == ("w", b * s * d * 3 * d)
    assert (qk.name, qk.op, qk.macs) == ("att/qk", "dynamic_matmul", b * heads * s * s * (d // heads))
    assert av.macs == qk.macs


def test_unknown_custom_op_is_listed_with_unknown_cost():
    inputs = [("x", F, [1, 8])]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]),
             helper.make_node("Mystery", ["h"], ["y"], domain="my.domain", name="m")]
    net = load_network(model(nodes, inputs, [init("w", (8, 4))], domains=("my.domain",)))
    cov = net.coverage_dict()
    assert cov["share"] == 1.0 and cov["unmodeled"] == [{"op": "Mystery", "node": "m", "macs": None,
                                                         "reason": "an op of domain 'my.domain': its arithmetic "
                                                                   "is unknown", "multiplies": False}]
    assert cov["complete"]                  # its name does not say it multiplies
