"""The importer on the onnx wheel's single-layer fixtures (real weights, reference outputs) and on
small graphs built here, checked against onnxruntime's actual output shapes."""
import os
from math import prod
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from codesign.graph import load_network

DATA = Path(os.path.dirname(onnx.__file__)) / "backend" / "test" / "data"
FIXTURES = sorted(p.name for p in (DATA / "pytorch-converted").iterdir()
                  if p.name.startswith(("test_Conv", "test_Linear")))


def reference_output_shape(fixture: Path) -> tuple[int, ...]:
    tensor = onnx.TensorProto()
    tensor.ParseFromString((fixture / "test_data_set_0" / "output_0.pb").read_bytes())
    return tuple(tensor.dims)


@pytest.mark.parametrize("name", FIXTURES)
def test_wheel_fixture_macs_from_reference_output(name):
    """MACs = elements of the reference output x the weights each output element reads."""
    fixture = DATA / "pytorch-converted" / name
    network = load_network(fixture / "model.onnx")
    assert len(network.layers) == 1
    layer = network.layers[0]
    out_shape = reference_output_shape(fixture)
    assert layer.output_shape == out_shape
    w = layer.weight_shape
    weight = network.weight(layer.name)
    assert weight is not None and weight.shape == w and np.abs(weight).sum() > 0
    if layer.op == "conv_transpose":        # each input element scatters through C_out/g x kernel
        expected = prod(layer.input_shape) * prod(w[1:])
    elif layer.op == "conv":
        expected = prod(out_shape) * prod(w[1:])
    else:                                   # Linear: Gemm with transB, W is (out, in)
        expected = prod(out_shape) * w[1]
    assert layer.macs == expected
    assert layer.params == prod(w)


def test_fixture_list_covers_the_interesting_cases():
    for must in ("test_Conv2d_depthwise", "test_Conv2d_groups", "test_Conv1d_dilated",
                 "test_Conv3d_stride_padding", "test_ConvTranspose2d", "test_Linear_no_bias"):
        assert must in FIXTURES


def run_ort_shape(model: onnx.ModelProto, feed_shape) -> tuple[int, ...]:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal(feed_shape).astype(np.float32)
    return tuple(sess.run(None, {sess.get_inputs()[0].name: x})[0].shape)


def conv_model(x_shape, w_shape, weight_as="initializer", **attrs):
    w = numpy_helper.from_array(np.random.default_rng(1).standard_normal(w_shape).astype(np.float32), "w")
    nodes, inits = [], []
    if weight_as == "initializer":
        inits.append(w)
    elif weight_as == "constant":
        nodes.append(helper.make_node("Constant", [], ["w"], value=w))
    nodes.append(helper.make_node("Conv", ["x", "w"], ["y"], **attrs))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


@pytest.mark.parametrize("x_shape, w_shape, attrs", [
    ((1, 4, 17, 17), (8, 4, 3, 3), {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    ((1, 4, 16, 15), (8, 4, 4, 4), {"auto_pad": "SAME_LOWER", "strides": [3, 2]}),
    ((1, 4, 16, 16), (8, 4, 3, 3), {"auto_pad": "VALID", "dilations": [2, 2]}),
    ((2, 6, 20), (6, 1, 5), {"group": 6, "pads": [2, 1], "strides": [2]}),           # 1-D depthwise
    ((1, 8, 12, 12), (4, 2, 3, 3), {"group": 4, "pads": [1, 0, 2, 1]}),             # asymmetric pads
])
def test_conv_shapes_match_onnxruntime(x_shape, w_shape, attrs):
    model = conv_model(x_shape, w_shape, **attrs)
    layer = load_network(model).layers[0]
    y = run_ort_shape(model, x_shape)
    assert layer.output_shape == y
    assert layer.macs == prod(y) * prod(w_shape[1:])
    assert len(layer.shape.pads) == 2 * (len(x_shape) - 2)


def test_constant_node_weight_is_resolved_with_values():
    model = conv_model((1, 3, 8, 8), (5, 3, 3, 3), weight_as="constant")
    network = load_network(model)
    layer = network.layers[0]
    assert layer.name == "w" and layer.weight_source == "constant"
    assert network.weight("w").shape == (5, 3, 3, 3)


def matmul_model(weight_path_ops=(), gemm=False, **gemm_attrs):
    rng = np.random.default_rng(2)
    w = rng.standard_normal((16, 10)).astype(np.float32)       # stored (out, in)
    inits = [numpy_helper.from_array(w, "fc.weight")]
    nodes, tensor = [], "fc.weight"
    for i, op in enumerate(weight_path_ops):
        nodes.append(helper.make_node(op, [tensor], [f"t{i}"], **({"perm": [1, 0]} if op == "Transpose" else {})))
        tensor = f"t{i}"
    if gemm:
        nodes.append(helper.make_node("Gemm", ["x", tensor], ["y"], **gemm_attrs))
    else:
        nodes.append(helper.make_node("MatMul", ["x", tensor], ["y"]))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 5, 10])
                                           if not gemm else helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 10])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def test_matmul_through_transpose_keeps_root_weight_name():
    layer = load_network(matmul_model(("Transpose",))).layers[0]
    assert layer.name == "fc.weight" and layer.op == "matmul"
    assert (layer.shape.batch, layer.shape.in_channels, layer.shape.out_channels) == (15, 10, 16)
    assert layer.macs == 15 * 10 * 16


def test_gemm_trans_b_and_alpha():
    layer = load_network(matmul_model(gemm=True, transB=1, alpha=0.5)).layers[0]
    assert (layer.shape.batch, layer.shape.in_channels, layer.shape.out_channels) == (3, 10, 16)
    assert layer.macs == 3 * 10 * 16 and layer.attributes["alpha"] == 0.5


def test_matmul_of_two_activations_is_a_dynamic_layer_without_weight():
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"]),
         helper.make_node("Conv", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, [3, 4]),
         helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "w")])
    network = load_network(helper.make_model(graph))
    dynamic, conv = network.layers
    assert (dynamic.name, dynamic.op, dynamic.weight_source) == ("MatMul_0", "dynamic_matmul", "activation")
    assert dynamic.macs == 2 * 3 * 4 and dynamic.params == 0 and not dynamic.shape.prunable
    assert network.weight("MatMul_0") is None and conv.name == "w"


def test_conv_transpose_macs():
    rng = np.random.default_rng(3)
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 5, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    layer = load_network(model).layers[0]
    assert layer.output_shape == run_ort_shape(model, (1, 4, 5, 5)) == (1, 3, 11, 11)
    assert layer.macs == 25 * 4 * 3 * 9


def test_matmul_with_weight_on_the_left_matches_onnxruntime_shape():
    """Y[2, 8, 5] = W[8, 16] @ X[2, 16, 5]: 2 x 5 output columns, each 8 x 16 MACs."""
    w = numpy_helper.from_array(np.ones((8, 16), np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["w", "x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 16, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    layer = load_network(model).layers[0]
    assert layer.output_shape == run_ort_shape(model, (2, 16, 5)) == (2, 8, 5)
    assert layer.macs == 2 * 5 * 8 * 16


def test_dynamic_batch_alone_defaults_to_one():
    dyn = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"])], "g", [dyn],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    network = load_network(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8))
    assert network.input_shape == (1, 3, 8, 8) and network.layers[0].macs == 36 * 4 * 27
