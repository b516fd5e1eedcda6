"""`codesign plan --from-pruned` reads the weight width of a quantized model from its values."""
import json

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from codesign.cli import main
from codesign.graph import load_network
from codesign.plan import quantized_bits_from_network


def two_layer_model(path):
    rng = np.random.default_rng(0)
    # 3-bit grid +-q..+-4q without a zero level, only levels 2q..4q used, then pruned
    k = rng.integers(2, 5, size=(32, 64)) * rng.choice([-1, 1], size=(32, 64))
    quantized = (k * 0.0125 * (rng.random((32, 64)) < 0.3)).astype(np.float32)
    floats = (rng.standard_normal((10, 32)) * (rng.random((10, 32)) < 0.5)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "fc1"], ["h"], transB=1),
         helper.make_node("Gemm", ["h", "fc2"], ["y"], transB=1)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        [numpy_helper.from_array(quantized, "fc1"), numpy_helper.from_array(floats, "fc2")])
    path.write_bytes(helper.make_model(graph, ir_version=8,
                                       opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())
    return path


def test_grid_width_is_read_from_values(tmp_path):
    network = load_network(two_layer_model(tmp_path / "q.onnx"))
    assert quantized_bits_from_network(network) == {"fc1": 3}      # fc2 holds float values


def test_plan_uses_the_quantized_width(tmp_path, capsys):
    path = str(two_layer_model(tmp_path / "q.onnx"))
    assert main(["plan", path, "--from-pruned", path, "--json"]) == 0
    layers = {l["name"]: l for l in json.loads(capsys.readouterr().out)["layers"]}
    assert layers["fc1"]["weight_bits"] == 3 and layers["fc2"]["weight_bits"] == 16
    assert abs(layers["fc1"]["alpha"] - 0.3) < 0.05
