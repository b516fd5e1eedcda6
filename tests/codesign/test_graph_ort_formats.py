"""onnxruntime's own formats on graphs built here (nothing downloaded): a Llama-style block
quantized to MatMulNBits by onnxruntime's own quantizer, fused attention ops, com.microsoft ops
in the path of the shapes, unknown ops that multiply, folding's second route and one-line
refusals. Each fused graph runs in onnxruntime, so it is what onnxruntime accepts."""
import json
from math import ceil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from codesign.cli import main
from codesign.errors import ModelImportError
from codesign.graph import load_network
from codesign.graph.blockwise import dequantize
from codesign.graph.fold import cause_text
from codesign.inspect import network_summary

F, I32 = TensorProto.FLOAT, TensorProto.INT32
RNG = np.random.default_rng(0)


def make(nodes, inputs, inits=(), outputs=("y",), domains=("com.microsoft",), opset=17):
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info(o, F, None) for o in outputs],
                              list(inits))
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    return helper.make_model(graph, opset_imports=opsets, ir_version=8)


def vi(name, shape, dtype=F):
    return helper.make_tensor_value_info(name, dtype, list(shape))


def init(name, shape, dtype=np.float32):
    return numpy_helper.from_array((RNG.standard_normal(shape) * 0.1).astype(dtype), name)


def run(m: onnx.ModelProto, feed: dict) -> list[np.ndarray]:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"]).run(None, feed)


def random_feed(inputs) -> dict:
    return {v.name: RNG.standard_normal([d.dim_value for d in v.type.tensor_type.shape.dim]).astype(np.float32)
            for v in inputs}


def llama_block(b=1, s=8, d=64, ff=128, vocab=96) -> onnx.ModelProto:
    """Q/K/V/O projections, q k^T and attention x v, a SwiGLU MLP and an LM head, float MatMuls."""
    def proj(a, w, out):
        return helper.make_node("MatMul", [a, w], [out], name=f"{w}_proj")
    nodes = [proj("x", "wq", "q"), proj("x", "wk", "k"), proj("x", "wv", "v"),
             helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
             helper.make_node("MatMul", ["q", "kt"], ["sc"], name="qk"),
             helper.make_node("Softmax", ["sc"], ["p"], axis=-1),
             helper.make_node("MatMul", ["p", "v"], ["a"], name="av"),
             proj("a", "wo", "o"), helper.make_node("Add", ["x", "o"], ["h"]),
             proj("h", "wg", "g"), proj("h", "wu", "u"),
             helper.make_node("Sigmoid", ["g"], ["gs"]), helper.make_node("Mul", ["g", "gs"], ["silu"]),
             helper.make_node("Mul", ["silu", "u"], ["m"]), proj("m", "wd", "dn"),
             helper.make_node("Add", ["h", "dn"], ["h2"]), proj("h2", "lm", "y")]
    inits = [init(w, (d, d)) for w in ("wq", "wk", "wv", "wo")] + [init("wg", (d, ff)), init("wu", (d, ff)),
                                                                  init("wd", (ff, d)), init("lm", (d, vocab))]
    return make(nodes, [vi("x", (b, s, d))], inits, domains=())


def quantized(m: onnx.ModelProto, block: int = 32) -> onnx.ModelProto:
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    copy = onnx.ModelProto()
    copy.CopyFrom(m)                                  # the quantizer rewrites the model it is given
    quantizer = MatMulNBitsQuantizer(copy, block_size=block, is_symmetric=False)
    quantizer.process()
    return quantizer.model.model


def test_matmulnbits_from_onnxruntimes_quantizer_costs_the_float_graphs_macs():
    flt = llama_block()
    q = quantized(flt)
    assert sum(n.op_type == "MatMulNBits" for n in q.graph.node) == 8
    assert run(q, random_feed(q.graph.input))[0].shape == (1, 8, 96)
    f_net, q_net = load_network(flt), load_network(q)
    assert q_net.total_macs == f_net.total_macs == 385_024       # 8 x 64 x (4 x 64 + 3 x 128 + 96) + 2 x 4,096
    assert q_net.coverage_dict()["complete"] and q_net.coverage_dict()["share"] == 1.0
    by_weight = {l.name: l for l in q_net.layers if l.shape.prunable}
    assert sorted(by_weight) == sorted(f"{w}_Q4" for w in ("wq", "wk", "wv", "wo", "wg", "wu", "wd", "lm"))
    assert [l.macs for l in q_net.layers] == [l.macs for l in f_net.layers]
    assert {q_net.weight_bits()[name] for name in by_weight} == {4}
    down = by_weight["wd_Q4"]                           # K 128, N 64: 4 blocks of 32 per output
    assert down.weight_shape == (128, 64) and down.params == 128 * 64
    record = next(r for r in network_summary(q_net)["layers"] if r["name"] == "wd_Q4")
    assert record["stored_bits"] == 4 * 128 * 64 + 32 * 64 * 4 + 8 * 64 * 2    # values, scales, 2 bytes of zps


def test_an_onnxruntime_genai_style_block_quantized_to_4_bits_keeps_its_macs():
    """onnxruntime-genai's layout: a Gather embedding, (Skip)SimplifiedLayerNormalization, packed
    Q/K/V into GroupQueryAttention with rotary caches, FastGelu; every MatMul then 4-bit."""
    b, s, d, heads, kv, h, ff, vocab = 1, 6, 64, 4, 2, 16, 128, 100
    nodes = [helper.make_node("Gather", ["embed", "ids"], ["e"]),
             helper.make_node("SimplifiedLayerNormalization", ["e", "g1"], ["n1"], epsilon=1e-5, axis=-1),
             helper.make_node("MatMul", ["n1", "wqkv"], ["qkv"], name="qkv_proj"),
             helper.make_node("GroupQueryAttention", ["qkv", "", "", "", "", "seqlens", "total", "cos", "sin"], ["a"],
                              domain="com.microsoft", num_heads=heads, kv_num_heads=kv, do_rotary=1, name="gqa"),
             helper.make_node("MatMul", ["a", "wo"], ["o"], name="o_proj"),
             helper.make_node("SkipSimplifiedLayerNormalization", ["o", "e", "g2"], ["n2", "", "", "r"],
                              domain="com.microsoft", epsilon=1e-5),
             helper.make_node("MatMul", ["n2", "wgu"], ["gu"], name="gate_up"),
             helper.make_node("FastGelu", ["gu"], ["act"], domain="com.microsoft"),
             helper.make_node("MatMul", ["act", "wd"], ["dn"], name="down"),
             helper.make_node("SkipSimplifiedLayerNormalization", ["dn", "r", "g3"], ["n3"], domain="com.microsoft",
                              epsilon=1e-5),
             helper.make_node("MatMul", ["n3", "lm"], ["y"], name="lm_head")]
    inits = [init("embed", (vocab, d)), init("g1", (d,)), init("wqkv", (d, (heads + 2 * kv) * h)),
             init("wo", (heads * h, d)), init("g2", (d,)), init("wgu", (d, ff)), init("wd", (ff, d)), init("g3", (d,)),
             init("lm", (d, vocab)), init("cos", (32, h // 2)), init("sin", (32, h // 2)),
             numpy_helper.from_array(np.array(s, np.int32), "total")]
    flt = make(nodes, [vi("ids", (b, s), TensorProto.INT64), vi("seqlens", (b,), I32)], inits)
    q = quantized(flt)
    feed = {"ids": np.arange(b * s).reshape(b, s), "seqlens": np.full(b, s - 1, np.int32)}
    assert run(flt, feed)[0].shape == run(q, feed)[0].shape == (b, s, vocab)
    f_net, q_net = load_network(flt), load_network(q)
    products = 2 * b * heads * s * s * h
    assert q_net.total_macs == f_net.total_macs == b * s * d * ((heads + 2 * kv) * h + 2 * ff + vocab) \
        + b * s * heads * h * d + products
    assert [l.op for l in q_net.layers].count("dynamic_matmul") == 2
    assert q_net.coverage_dict()["complete"] and not q_net.notes


@pytest.mark.parametrize("zero_points", ["packed", "float", None])
def test_matmulnbits_weight_reads_back_as_onnxruntime_multiplies_it(zero_points):
    """x = identity: onnxruntime's product is the K x N weight itself (K 40: a partial block); the
    layer's values are its integer levels (or, with float zero points, the weight)."""
    k, n, block = 40, 6, 16
    blocks = ceil(k / block)
    inits = [numpy_helper.from_array(RNG.integers(0, 256, (n, blocks, block // 2), dtype=np.uint8), "B"),
             numpy_helper.from_array(RNG.uniform(0.5, 2, n * blocks).astype(np.float32), "scales")]
    if zero_points == "packed":
        inits.append(numpy_helper.from_array(RNG.integers(0, 256, n * ceil(blocks / 2), dtype=np.uint8), "zp"))
    elif zero_points == "float":
        inits.append(numpy_helper.from_array(RNG.uniform(0, 15, n * blocks).astype(np.float32), "zp"))
    node = helper.make_node("MatMulNBits", ["x", "B", "scales"] + (["zp"] if zero_points else []), ["y"],
                            domain="com.microsoft", K=k, N=n, bits=4, block_size=block, name="nbits")
    m = make([node], [vi("x", (k, k))], inits)
    expected, = run(m, {"x": np.eye(k, dtype=np.float32)})
    net = load_network(m)
    assert net.layers[0].macs == k * k * n
    arrays = {t.name: numpy_helper.to_array(t) for t in inits}
    np.testing.assert_allclose(dequantize(arrays["B"], arrays["scales"], arrays.get("zp"), None, k, n, 4, block),
                               expected, rtol=1e-5, atol=1e-5)
    levels = net.weight("B")              # integer levels where zero points are: what a pruned file's zeros are
    if zero_points == "float":
        np.testing.assert_allclose(levels, expected, rtol=1e-5, atol=1e-5)
    else:
        scales = np.repeat(arrays["scales"].reshape(n, blocks), block, axis=1)[:, :k].T
        assert levels.dtype.kind == "i" and np.abs(levels).max() <= 15
        np.testing.assert_allclose(levels * scales, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("block, b_shape, problem", [
    (12, (6, 4, 6), "block_size is not a power of two of at least 16"),
    (16, (6, 3, 4), r"B has shape \[6, 3, 4\], not \[6, 3, 8\]")])
def test_a_corrupted_block_quantized_weight_is_refused_in_one_line(block, b_shape, problem):
    node = helper.make_node("MatMulNBits", ["x", "B", "scales"], ["y"], domain="com.microsoft", K=40, N=6, bits=4,
                            block_size=block, name="nbits")
    inits = [numpy_helper.from_array(np.zeros(b_shape, np.uint8), "B"),
             numpy_helper.from_array(np.ones(6 * b_shape[1], np.float32), "scales")]
    with pytest.raises(ModelImportError, match=f"node 'nbits' \\(MatMulNBits\\) with K 40, N 6, bits 4, "
                                               f"block_size {block}: {problem}; the file is corrupted$"):
        load_network(make([node], [vi("x", (3, 40))], inits))


def test_fused_multi_head_attention_counts_both_products_and_passes_shapes_on():
    b, s, length, d, dv, heads = 2, 5, 7, 32, 48, 4
    inputs = [vi("q", (b, s, d)), vi("k", (b, length, d)), vi("v", (b, length, dv))]
    nodes = [helper.make_node("MultiHeadAttention", ["q", "k", "v"], ["a"], domain="com.microsoft",
                              num_heads=heads, name="mha"),
             helper.make_node("MatMul", ["a", "wo"], ["y"], name="out_proj")]
    m = make(nodes, inputs, [init("wo", (dv, 8))])
    assert run(m, random_feed(inputs))[0].shape == (b, s, 8)
    net = load_network(m)
    assert [(l.name, l.op, l.macs) for l in net.layers] == [
        ("mha/qk", "dynamic_matmul", b * heads * s * length * (d // heads)),
        ("mha/av", "dynamic_matmul", b * heads * s * length * (dv // heads)),
        ("wo", "matmul", b * s * dv * 8)]
    assert net.coverage_dict()["complete"]


@pytest.mark.parametrize("packed", [False, True], ids=["q-k-v", "packed-qkv"])
def test_group_query_attention_counts_every_query_head_over_past_and_new_keys(packed):
    b, s, past, heads, kv_heads, h = 1, 5, 4, 4, 2, 8
    qkv = [vi("qkv", (b, s, (heads + 2 * kv_heads) * h))] if packed else \
        [vi("q", (b, s, heads * h)), vi("k", (b, s, kv_heads * h)), vi("v", (b, s, kv_heads * h))]
    inputs = qkv + [vi("past_k", (b, kv_heads, past, h)), vi("past_v", (b, kv_heads, past, h)), vi("seqlens", (b,), I32)]
    names = ["qkv", "", ""] if packed else ["q", "k", "v"]
    nodes = [helper.make_node("GroupQueryAttention", names + ["past_k", "past_v", "seqlens", "total"],
                              ["a", "present_k", "present_v"], domain="com.microsoft", num_heads=heads,
                              kv_num_heads=kv_heads, name="gqa"),
             helper.make_node("MatMul", ["a", "wo"], ["y"])]
    m = make(nodes, inputs, [init("wo", (heads * h, 8)), numpy_helper.from_array(np.array(past + s, np.int32), "total")])
    feed = {**random_feed(inputs[:-1]), "seqlens": np.full(b, past + s - 1, np.int32)}
    assert run(m, feed)[0].shape == (b, s, 8)
    net = load_network(m)
    qk, av, out = net.layers
    assert qk.macs == av.macs == b * heads * s * (past + s) * h and out.macs == b * s * heads * h * 8


def test_onnx_attention_of_opset_23_counts_both_products():
    """ONNX's own Attention (no weights) on 3-D inputs, grouped keys: 4 query heads, 2 key heads."""
    b, s, length, heads, kv_heads, h = 2, 5, 7, 4, 2, 8
    inputs = [vi("q", (b, s, heads * h)), vi("k", (b, length, kv_heads * h)), vi("v", (b, length, kv_heads * h))]
    nodes = [helper.make_node("Attention", ["q", "k", "v"], ["a"], q_num_heads=heads, kv_num_heads=kv_heads,
                              name="att"),
             helper.make_node("MatMul", ["a", "wo"], ["y"])]
    m = make(nodes, inputs, [init("wo", (heads * h, 3))], domains=(), opset=23)
    m.ir_version = 10
    assert run(m, random_feed(inputs))[0].shape == (b, s, 3)
    qk, av, out = load_network(m).layers
    assert qk.macs == av.macs == b * heads * s * length * h and out.macs == b * s * heads * h * 3


def test_bert_style_fused_ops_keep_the_shapes_of_the_layers_below_them():
    """SkipLayerNormalization, FusedMatMul, BiasGelu, FastGelu and a Gemm on a flattened input
    (onnxruntime's MatMul+Add fusion): onnx infers none of the contrib outputs itself."""
    b, s, d, ff = 2, 8, 32, 64
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"], name="attn_out"),
             helper.make_node("SkipLayerNormalization", ["h", "x", "gamma", "beta"], ["n"], domain="com.microsoft",
                              epsilon=1e-5),
             helper.make_node("FusedMatMul", ["n", "w2"], ["f"], domain="com.microsoft", transB=1, alpha=1.0),
             helper.make_node("BiasGelu", ["f", "b2"], ["g"], domain="com.microsoft"),
             helper.make_node("FastGelu", ["g"], ["g2"], domain="com.microsoft"),
             helper.make_node("Reshape", ["g2", "rows"], ["r"]),
             helper.make_node("Gemm", ["r", "w3", "b3"], ["y"], name="MatMulAddFusion")]
    inits = [init("w1", (d, d)), init("gamma", (d,)), init("beta", (d,)), init("w2", (ff, d)), init("b2", (ff,)),
             numpy_helper.from_array(np.array([b * s, ff], np.int64), "rows"), init("w3", (ff, d)), init("b3", (d,))]
    m = make(nodes, [vi("x", (b, s, d))], inits)
    assert run(m, random_feed(m.graph.input))[0].shape == (b * s, d)
    net = load_network(m)
    assert [(l.name, l.macs) for l in net.layers] == [("w1", b * s * d * d), ("w2", b * s * d * ff),
                                                      ("w3", b * s * ff * d)]
    assert net.coverage_dict()["complete"] and not net.notes


@pytest.mark.parametrize("op", ["EmbedLayerNormalization", "GatherBlockQuantized"])
def test_onnxruntimes_embedding_ops_pass_their_shapes_on(op):
    """BERT's fused embedding and onnxruntime-genai's 4-bit embedding table, each before a MatMul."""
    vocab, d, b, s, block = 50, 32, 2, 6, 16
    if op == "EmbedLayerNormalization":
        node = helper.make_node(op, ["ids", "", "table", "positions", "", "gamma", "beta"], ["e", "mask_index"],
                                domain="com.microsoft", epsilon=1e-5)
        inits = [init("table", (vocab, d)), init("positions", (16, d)), init("gamma", (d,)), init("beta", (d,))]
        ids = vi("ids", (b, s), I32)
    else:
        node = helper.make_node(op, ["packed", "ids", "scales"], ["e"], domain="com.microsoft", bits=4,
                                block_size=block, gather_axis=0, quantize_axis=1)
        inits = [numpy_helper.from_array(RNG.integers(0, 256, (vocab, d // 2), dtype=np.uint8), "packed"),
                 numpy_helper.from_array(np.ones((vocab, d // block), np.float32), "scales")]
        ids = vi("ids", (b, s), TensorProto.INT64)
    m = make([node, helper.make_node("MatMul", ["e", "w"], ["y"])], [ids], inits + [init("w", (d, 5))])
    dtype = np.int32 if op == "EmbedLayerNormalization" else np.int64
    assert run(m, {"ids": np.ones((b, s), dtype)})[0].shape == (b, s, 5)
    net = load_network(m)
    assert [(l.name, l.macs) for l in net.layers] == [("w", b * s * d * 5)] and net.coverage_dict()["complete"]


def partial_model() -> onnx.ModelProto:
    """A custom MatMul onnxruntime does not know, between two MatMuls: it and the MatMul below
    it (whose input shape it hides) are gaps of unknown cost."""
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"], name="first"),
             helper.make_node("MatMulQuantizedFoo", ["h", "packed"], ["c"], domain="vendor.ops", name="custom_mm"),
             helper.make_node("MatMul", ["c", "w2"], ["y"], name="below")]
    return make(nodes, [vi("x", (4, 16))], [init("w1", (16, 16)), init("packed", (16, 16)), init("w2", (16, 8))],
                domains=("vendor.ops",))


def test_an_unknown_op_that_multiplies_makes_coverage_partial_and_names_the_gap():
    net = load_network(partial_model())
    cov = net.coverage_dict()
    assert [l.name for l in net.layers] == ["w1"]
    assert cov["share"] is None and not cov["complete"]
    custom, below = cov["unmodeled"]
    assert (custom["op"], custom["node"], custom["macs"], custom["multiplies"]) == ("MatMulQuantizedFoo",
                                                                                    "custom_mm", None, True)
    assert "name says it multiplies" in custom["reason"]
    assert below["node"] == "below" and "'c' could not be inferred" in below["reason"]
    assert "'custom_mm' (MatMulQuantizedFoo) computes it at run time" in below["reason"]


def test_a_branch_of_unknown_cost_behind_a_run_time_condition_stays_a_gap():
    """Which branch costs more is unknown when one holds an unknown product: it is not dropped."""
    then = helper.make_graph([helper.make_node("MatMulFoo", ["x", "w"], ["t"], domain="vendor.ops", name="foo")],
                             "then", [], [helper.make_tensor_value_info("t", F, None)])
    other = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["e"])], "else", [],
                              [helper.make_tensor_value_info("e", F, None)])
    nodes = [helper.make_node("If", ["flag"], ["y"], then_branch=then, else_branch=other, name="branch")]
    net = load_network(make(nodes, [vi("x", (1, 8)), vi("flag", (), TensorProto.BOOL)], [init("w", (8, 4))],
                            domains=("vendor.ops",)))
    cov = net.coverage_dict()
    assert net.total_macs == 32 and not cov["complete"]
    assert [g["node"] for g in cov["unmodeled"]] == ["branch/then_branch/foo"]
    assert net.notes == ["If node 'branch': its condition is known only at run time; counted the costlier branch: "
                         "the else branch (32 MACs; the other has 0 and 1 node that multiplies at an unknown cost)"]


def test_plan_says_its_totals_are_partial(tmp_path, capsys):
    path = tmp_path / "partial.onnx"
    path.write_bytes(partial_model().SerializeToString())
    assert main(["plan", str(path), "--alpha", "0.5"]) == 0
    out, err = capsys.readouterr()
    assert "totals are partial: 2 nodes that multiply (MACs of unknown number, e.g. MatMulQuantizedFoo " \
           "'custom_mm') are not modeled" in out
    assert "coverage: below 100% of the model's MACs modeled (1,024 modeled; 2 nodes that multiply at an " \
           "unknown cost)" in out
    assert err.startswith("codesign: warning: only part of the model's MACs are modeled") and err.count("\n") == 1
    assert main(["plan", str(path), "--alpha", "0.5", "--json"]) == 0
    coverage = json.loads(capsys.readouterr().out)["coverage"]
    assert coverage["complete"] is False and coverage["share"] is None
    assert main(["inspect", "alexnet"]) == 0 and "totals are partial" not in capsys.readouterr().out


def branch_model(custom_op: bool) -> onnx.ModelProto:
    """An If on a scalar input whose then branch multiplies by a weight reshaped to a target
    computed from Shape (ReduceMax: onnx's data propagation does not evaluate it); with
    `custom_op`, a node onnxruntime does not know makes its folding fail."""
    then_nodes = [helper.make_node("Shape", ["x"], ["sx"]),
                  helper.make_node("ReduceMax", ["sx"], ["mx"], keepdims=1),
                  helper.make_node("Concat", ["mx", "four"], ["target"], axis=0),
                  helper.make_node("Reshape", ["w_flat", "target"], ["w"]),
                  helper.make_node("MatMul", ["x", "w"], ["t"], name="then_mm")]
    then = helper.make_graph(then_nodes, "then", [], [helper.make_tensor_value_info("t", F, None)])
    other = helper.make_graph([helper.make_node("MatMul", ["x", "w2"], ["e"], name="else_mm")], "else", [],
                              [helper.make_tensor_value_info("e", F, None)])
    nodes = [helper.make_node("If", ["flag"], ["y"], then_branch=then, else_branch=other, name="branch")]
    nodes += [helper.make_node("Mystery", ["x"], ["z"], domain="vendor.ops")] if custom_op else []
    inits = [init("w_flat", (32,)), numpy_helper.from_array(np.array([4], np.int64), "four"), init("w2", (8, 4))]
    return make(nodes, [vi("x", (1, 8)), vi("flag", (), TensorProto.BOOL)], inits, domains=("vendor.ops",))


@pytest.mark.parametrize("custom_op", [False, True], ids=["onnxruntime", "onnxscript"])
def test_a_weight_computed_inside_a_branch_is_folded(custom_op):
    """onnxruntime folds the branch's weight (its tensors are no graph outputs); where it
    refuses the graph, onnxscript's folding does."""
    m = branch_model(custom_op)
    if not custom_op:
        assert run(m, {"x": np.ones((1, 8), np.float32), "flag": np.array(True)})[0].shape == (1, 4)
    net = load_network(m)
    assert [(l.name, l.weight_source, l.macs) for l in net.layers] == [("w_flat", "folded", 32)]
    assert not any("folding" in note for note in net.notes)


def test_onnxruntime_errors_read_as_one_whole_line():
    """onnxruntime's message without its source paths and C++ signatures, nothing cut."""
    m = branch_model(False)
    m.graph.output.add().name = "w"                   # a branch's tensor as a graph output: refused
    with pytest.raises(Exception) as info:
        ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    text = cause_text(info.value)
    assert "\n" not in text and "onnxruntime_src" not in text and "::" not in text
    assert text.endswith(str(info.value).strip().splitlines()[-1].split(") ", 1)[-1].strip())


def test_a_refusal_is_one_line_with_its_whole_cause(tmp_path, capsys):
    nodes = [helper.make_node("Mystery", ["x"], ["c"], domain="vendor.ops", name="custom"),
             helper.make_node("MatMul", ["c", "w"], ["y"], name="only")]
    m = make(nodes, [vi("x", (4, 16))], [init("w", (16, 8))], domains=("vendor.ops",))
    with pytest.raises(ModelImportError) as info:
        load_network(m)
    message = str(info.value)
    assert "\n" not in message
    assert message.endswith("no compute layer can be modeled; node 'only' (MatMul): the shape of its first "
                            "operand 'c' could not be inferred: node 'custom' (Mystery) computes it at run time")
    path = tmp_path / "m.onnx"
    path.write_bytes(m.SerializeToString())
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.rstrip().endswith("node 'custom' (Mystery) computes it at run time")
