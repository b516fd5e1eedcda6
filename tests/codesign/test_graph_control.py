"""Graphs as exporters write them: If/Loop/Scan bodies, shapes and conditions computed at run
time from `Shape`, local functions, and weights shared by several nodes."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from codesign.graph import load_network

F = TensorProto.FLOAT


def const(name, value, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)


def ones(name, shape):
    return const(name, np.ones(shape))


def model(nodes, inputs, inits=(), outputs=("y",), opset=17, functions=()):
    graph = helper.make_graph(nodes, "g", inputs, [onnx.ValueInfoProto(name=o) for o in outputs], list(inits))
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(f.domain, 1) for f in functions]
    return helper.make_model(graph, opset_imports=opsets, ir_version=8, functions=list(functions))


def body(nodes, outputs, inputs=()):
    return helper.make_graph(nodes, "body", list(inputs), [onnx.ValueInfoProto(name=o) for o in outputs])


def run(m, feed):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"]).run(None, feed)


X = helper.make_tensor_value_info("x", F, [1, 8])
CONV_X = helper.make_tensor_value_info("x", F, [1, 3, 8, 8])


def if_model(cond_nodes, cond_inits=(), extra_inputs=()):
    """then: x @ w1 (8x4, 32 MACs); else: x @ w2 (8x16, 128 MACs) then a slice to 4 columns."""
    then_g = body([helper.make_node("MatMul", ["x", "w1"], ["t"])], ["t"])
    else_g = body([helper.make_node("MatMul", ["x", "w2"], ["e"]),
                   helper.make_node("Slice", ["e", "s0", "s1", "ax"], ["e2"])], ["e2"])
    nodes = cond_nodes + [helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g,
                                           name="branch")]
    inits = [ones("w1", (8, 4)), ones("w2", (8, 16)), const("s0", [0], np.int64), const("s1", [4], np.int64),
             const("ax", [1], np.int64)] + list(cond_inits)
    return model(nodes, [X] + list(extra_inputs), inits)


def test_if_with_a_constant_condition_takes_its_branch():
    net = load_network(if_model([], [const("cond", False, np.bool_)]))
    assert [l.name for l in net.layers] == ["w2"]
    assert net.layers[0].node == "branch/else_branch/MatMul_0"
    assert "constant (False)" in net.notes[0]


def test_if_condition_computed_from_shapes_is_folded():
    """cond = sum(shape(x)) > 5 = (1 + 8 > 5): known once the input shape is fixed."""
    nodes = [helper.make_node("Shape", ["x"], ["sh"]),
             helper.make_node("ReduceSum", ["sh"], ["total"], keepdims=0),
             helper.make_node("Greater", ["total", "five"], ["cond"])]
    m = if_model(nodes, [const("five", 5, np.int64)])
    assert run(m, {"x": np.ones((1, 8), np.float32)})[0].shape == (1, 4)
    net = load_network(m)
    assert [l.name for l in net.layers] == ["w1"] and net.total_macs == 32


def test_if_with_a_run_time_condition_counts_the_costlier_branch_and_says_so():
    flag = helper.make_tensor_value_info("flag", TensorProto.BOOL, [])
    net = load_network(if_model([helper.make_node("Identity", ["flag"], ["cond"])], extra_inputs=[flag]))
    assert [l.name for l in net.layers] == ["w2"] and net.total_macs == 128
    assert "known only at run time" in net.notes[0] and "else branch (128 MACs; the other has 32)" in net.notes[0]
    assert net.coverage_dict()["notes"] == net.notes


def loop_model(trip_count_input=None):
    """h <- h @ w (8x8) for M steps: 64 MACs per iteration."""
    loop_body = body([helper.make_node("Identity", ["c_in"], ["c_out"]),
                      helper.make_node("MatMul", ["h_in", "w"], ["h_out"])], ["c_out", "h_out"],
                     [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                      helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
                      helper.make_tensor_value_info("h_in", F, [1, 8])])
    inits = [ones("w", (8, 8)), const("keep", True, np.bool_)]
    inputs = [X]
    if trip_count_input:
        inputs.append(helper.make_tensor_value_info("M", TensorProto.INT64, []))
    else:
        inits.append(const("M", 3, np.int64))
    return model([helper.make_node("Loop", ["M", "keep", "x"], ["y"], body=loop_body, name="loop")], inputs, inits)


def test_loop_with_a_constant_trip_count_costs_every_iteration():
    m = loop_model()
    assert run(m, {"x": np.ones((1, 8), np.float32)})[0].shape == (1, 8)
    net = load_network(m)
    layer = net.layers[0]
    assert layer.macs == 3 * 64 and layer.params == 64 and layer.attributes["repeat"] == 3
    assert net.coverage_dict()["unmodeled"] == []


def test_loop_with_a_run_time_trip_count_is_a_named_gap():
    net = load_network(loop_model(trip_count_input=True))
    assert net.total_macs == 64
    gap = net.coverage_dict()["unmodeled"][0]
    assert (gap["op"], gap["node"], gap["macs"]) == ("Loop", "loop", None) and "trip count" in gap["reason"]


def test_scan_body_runs_once_per_step():
    """A Scan over 5 steps of x[t] @ w (8x4)."""
    scan_body = body([helper.make_node("MatMul", ["xt", "w"], ["yt"])], ["yt"],
                     [helper.make_tensor_value_info("xt", F, [1, 8])])
    xs = helper.make_tensor_value_info("xs", F, [5, 1, 8])
    m = model([helper.make_node("Scan", ["xs"], ["y"], body=scan_body, num_scan_inputs=1)], [xs],
              [ones("w", (8, 4))], opset=16)
    assert run(m, {"xs": np.ones((5, 1, 8), np.float32)})[0].shape == (5, 1, 4)
    assert load_network(m).layers[0].macs == 5 * 32


def test_local_functions_are_inlined_and_their_compute_counts():
    fn = helper.make_function("local", "Proj", ["a", "b"], ["c"], [helper.make_node("MatMul", ["a", "b"], ["c"])],
                              [helper.make_opsetid("", 17)])
    m = model([helper.make_node("Proj", ["x", "w"], ["y"], domain="local")], [X], [ones("w", (8, 4))],
              functions=[fn])
    net = load_network(m)
    assert [(l.name, l.macs) for l in net.layers] == [("w", 32)]


def test_weight_shared_by_two_nodes_is_stored_once_and_costed_per_use():
    """The legacy exporter merges identical initial weights of an untrained TransformerEncoder."""
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="first"),
             helper.make_node("Identity", ["w"], ["w_again"]),
             helper.make_node("MatMul", ["h", "w_again"], ["y"], name="second")]
    net = load_network(model(nodes, [X], [ones("w", (8, 8))]))
    layer, = net.layers
    assert layer.uses == ("first", "second") and layer.params == 64 and layer.macs == 2 * 64
    assert net.total_params == 64


def test_weight_shared_by_convolutions_of_different_sizes_stays_one_layer_per_use():
    big, small = (helper.make_tensor_value_info(n, F, s) for n, s in (("a", [1, 2, 8, 8]), ("b", [1, 2, 4, 4])))
    nodes = [helper.make_node("Conv", ["a", "w"], ["y"]), helper.make_node("Conv", ["b", "w"], ["z"])]
    net = load_network(model(nodes, [big, small], [ones("w", (3, 2, 3, 3))], outputs=("y", "z")))
    assert [l.name for l in net.layers] == ["w", "w#2"]
    assert net.total_macs == (36 + 4) * 3 * 18 and "storage is counted per use" in net.notes[0]


@pytest.mark.parametrize("opset", [13, 17])
def test_reshape_target_computed_from_shape_is_folded(opset):
    """Reshape(x, Concat(Shape(x)[0], -1)) feeding a MatMul: the exporters' flatten."""
    x = helper.make_tensor_value_info("x", F, ["batch", 2, 4])
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["flat"]),
             helper.make_node("MatMul", ["flat", "w"], ["y"])]
    inits = [const("zero", 0, np.int64), const("axes", [0], np.int64), const("minus1", [-1], np.int64),
             ones("w", (8, 3))]
    net = load_network(model(nodes, [x], inits, opset=opset), "3x2x4")
    assert net.layers[0].macs == 3 * 8 * 3


def test_weight_computed_from_constants_is_folded_and_keeps_the_stored_name():
    nodes = [helper.make_node("Mul", ["w", "s"], ["w2"]), helper.make_node("Conv", ["x", "w2"], ["y"])]
    scale = numpy_helper.from_array(np.full((1,), 0.5, np.float32), "s")
    network = load_network(model(nodes, [CONV_X], [ones("w", (4, 3, 3, 3)), scale]))
    layer = network.layers[0]
    assert (layer.name, layer.weight_source) == ("w", "folded")
    assert np.allclose(network.weight("w"), 0.5) and network.weight("w").shape == (4, 3, 3, 3)


def test_two_weights_folded_from_one_stored_tensor_stay_apart():
    nodes = [helper.make_node("Mul", ["w", "s"], ["w2"]), helper.make_node("Conv", ["x", "w2"], ["y"]),
             helper.make_node("Mul", ["w", "t"], ["w3"]), helper.make_node("Conv", ["x", "w3"], ["z"])]
    scales = [numpy_helper.from_array(np.full((1,), v, np.float32), n) for n, v in (("s", 0.5), ("t", 2.0))]
    network = load_network(model(nodes, [CONV_X], [ones("w", (4, 3, 3, 3))] + scales, outputs=("y", "z")))
    assert [l.name for l in network.layers] == ["w", "w3"]
    assert np.allclose(network.weight("w3"), 2.0)
