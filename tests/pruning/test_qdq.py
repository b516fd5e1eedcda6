"""The int8 QDQ export: standard DequantizeLinear form, integer levels, exact zeros, and
onnxruntime computing what the float model computes."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from pruning.errors import PruningError
from pruning.onnx.qdq import int8_weights, to_qdq


def _gemm_model(w: np.ndarray, opset: int = 13) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, w.shape[1]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, w.shape[0]])],
        [numpy_helper.from_array(w.astype(np.float32), "w")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def _run(model, x):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_qdq_holds_the_grid_as_int8_and_matches_the_float_model(bits):
    rng = np.random.default_rng(0)
    q = 0.0123
    half = 2 ** (bits - 1) - 1 if bits > 1 else 1
    levels = rng.integers(-half, half + 1, size=(6, 10))
    levels[rng.random(levels.shape) < 0.6] = 0                   # pruned entries
    w = (levels * q).astype(np.float32)
    model = _gemm_model(w)
    qdq = to_qdq(model, {"w": q}, {"w": bits})
    onnx.checker.check_model(qdq)
    ints = int8_weights(qdq)
    assert ints["w"].dtype == np.int8 and np.array_equal(ints["w"], levels)
    assert [n.op_type for n in qdq.graph.node] == ["DequantizeLinear", "Gemm"]
    x = rng.standard_normal((5, 10)).astype(np.float32)
    assert np.allclose(_run(qdq, x), _run(model, x), atol=1e-5)


def test_qdq_refuses_what_it_cannot_store():
    w = np.array([[0.1, 0.2]], dtype=np.float32)
    with pytest.raises(PruningError, match="not on its quantization grid"):
        to_qdq(_gemm_model(w * 1.37), {"w": 0.1}, {"w": 4})
    with pytest.raises(PruningError, match="at most 8 bits"):
        to_qdq(_gemm_model(w), {"w": 0.1}, {"w": 9})
    with pytest.raises(PruningError, match="opset >= 13"):
        to_qdq(_gemm_model(w, opset=11), {"w": 0.1}, {"w": 4})
    with pytest.raises(PruningError, match="needs quantized layers"):
        to_qdq(_gemm_model(w), {}, {})
    with pytest.raises(PruningError, match="not an initializer"):
        to_qdq(_gemm_model(w), {"nope": 0.1}, {"nope": 4})
