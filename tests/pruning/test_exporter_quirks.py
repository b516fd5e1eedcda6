"""What other exporters write, as trained models in PyPI wheels have it (Paddle2ONNX's rapidocr,
ddddocr): weights in Constant nodes, a free batch written -1, free spatial dims set with
--input-shape, an output declared with the wrong shape. Each graph is built here."""
import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import codesign
from codesign.cli import main
from pruning.onnx.bridge import from_onnx, onnxruntime_outputs
from pruning.patterns import parse_pattern, pattern_violations


def _paddle_like(path) -> None:
    """x (-1, 2, ?, ?) -> Conv(a Constant node's 8x2x3x3) -> ReduceMean over space -> MatMul(8x4)."""
    rng = np.random.default_rng(0)
    conv = numpy_helper.from_array(rng.normal(size=(8, 2, 3, 3)).astype(np.float32), "cw")
    fc = numpy_helper.from_array(rng.normal(size=(8, 4)).astype(np.float32), "fw")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [-1, 2, "h", "w"])
    x.type.tensor_type.shape.dim[0].dim_value = -1
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["conv_weights"], value=conv),
         helper.make_node("Conv", ["x", "conv_weights"], ["c"], pads=[1, 1, 1, 1]),
         helper.make_node("ReduceMean", ["c"], ["m"], axes=[2, 3], keepdims=0),
         helper.make_node("MatMul", ["m", "fw"], ["y"])],
        "paddle_like", [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [-1, 4])], [fc])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), path)


def test_constant_node_weights_train_and_a_minus_one_batch_is_free(tmp_path):
    _paddle_like(tmp_path / "m.onnx")
    proto = onnx.load(tmp_path / "m.onnx")
    net = from_onnx(proto)
    assert net.static_batch is None                                      # -1: free, not a batch of -1
    assert list(net.onnx_weight_names()) == ["conv_weights", "fw"]
    assert [l.name for l in codesign.load(proto, input_shape="1x2x6x6").layers] == ["conv_weights", "fw"]
    out = tmp_path / "run"
    assert main(["prune", str(tmp_path / "m.onnx"), "--input-shape", "2x6x6", "--data", "synthetic",
                 "--method", "magnitude", "--pattern", "2:4", "--epochs", "0.1", "--limit", "40",
                 "--quiet", "--out", str(out)]) == 0
    pruned = onnx.load(out / "model.onnx")
    assert pruned.graph.input[0].type.tensor_type.shape.dim[0].dim_param       # the batch stays free
    weights = {t.name: numpy_helper.to_array(t) for t in pruned.graph.initializer}
    assert pattern_violations(weights["conv_weights"] != 0, parse_pattern("2:4")) == 0
    assert np.count_nonzero(weights["conv_weights"]) < weights["conv_weights"].size * 0.6
    layers = json.loads((out / "layers.json").read_text())
    assert layers["model"].endswith("m.onnx") and {r["name"] for r in layers["layers"]} == {"conv_weights", "fw"}
    x = np.random.default_rng(1).random((5, 2, 6, 6)).astype(np.float32)
    assert onnxruntime_outputs(pruned, x).shape == (5, 4)


def test_an_output_declared_with_the_wrong_shape_is_read_as_a_run_gives_it():
    """A static batch-1 graph that declares (1, T) and gives (T, 1, C), as ddddocr's OCR model
    does: torch and onnxruntime join samples on the axis that holds the batch."""
    w = numpy_helper.from_array(np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32), "w")
    shape = numpy_helper.from_array(np.array([4, 1, 3], np.int64), "shape")
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["t"]),                   # (1, 12) -> (4, 1, 3): time-major
         helper.make_node("MatMul", ["t", "w"], ["y"])],
        "declared_wrong", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 12])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "T"])], [w, shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    x = np.random.default_rng(1).random((6, 12)).astype(np.float32)
    import torch
    with torch.no_grad():
        got = from_onnx(model)(torch.from_numpy(x)).numpy()
    expected = onnxruntime_outputs(model, x)
    assert got.shape == expected.shape == (4, 6, 5)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[:, 2], (x[2].reshape(4, 3) @ numpy_helper.to_array(w)), rtol=1e-5)


def test_a_state_input_with_its_batch_on_axis_1_prunes(tmp_path):
    """A recurrent state (layers, batch, hidden) as torch's legacy exporter writes it with a
    dynamic batch: data stays batch-first, the bridge and onnxruntime put the batch where the
    graph has it."""
    import io
    import warnings

    import torch

    class Voice(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(8, 16, batch_first=True)
            self.out = torch.nn.Linear(16, 8)

        def forward(self, frames, h0, c0):
            y, _ = self.lstm(frames, (h0, c0))
            return self.out(y)

    torch.manual_seed(0)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Voice().eval(), (torch.rand(2, 5, 8), torch.zeros(1, 2, 16), torch.zeros(1, 2, 16)), buf,
                          dynamo=False, input_names=["frames", "h0", "c0"], output_names=["y"],
                          dynamic_axes={"frames": {0: "batch"}, "h0": {1: "batch"}, "c0": {1: "batch"},
                                        "y": {0: "batch"}})
    path = tmp_path / "voice.onnx"
    path.write_bytes(buf.getvalue())
    from pruning.onnx.bridge import data_spec, input_batch_axes
    proto = onnx.load(path)
    assert input_batch_axes(proto) == {"frames": 0, "h0": 1, "c0": 1}
    assert [i.dims for i in data_spec(proto).inputs] == [(5, 8), (1, 16), (1, 16)]
    out = tmp_path / "run"
    assert main(["prune", str(path), "--data", "synthetic", "--method", "magnitude", "--alpha", "0.5",
                 "--pattern", "2:4", "--epochs", "0.1", "--limit", "40", "--quiet", "--out", str(out)]) == 0
    layers = json.loads((out / "layers.json").read_text())
    assert layers["task"] == "distill" and layers["onnxruntime_max_diff"] < 1e-4
    assert sum(r["pattern"] == "2:4" for r in layers["layers"]) == 3
