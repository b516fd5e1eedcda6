"""Reading a pruned model back (codesign.pruned): the pattern rule of pruning.patterns, the
bridge's layout, and the stored weight width of the file's types (issue 22)."""
import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from codesign.api import load
from codesign.cli import main
from codesign.loop.hwcost import MaskCost
from codesign.pruned import read_pruned
from codesign.specs import hardware
from pruning.patterns import Pattern, pattern_violations

HW = hardware("smic40-admmnn")
FOUR_BY_ONE = Pattern("block", k=4, l=1)


def classifier(path, fc_w, transposed=False):
    """x [1, 64] -> Gemm -> 10 classes; the weight (10, 64) with transB, else stored (64, 10)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])
    weight = fc_w.T.copy() if transposed else fc_w
    node = helper.make_node("Gemm", ["x", "fc_w"], ["y"], name="fc", **({} if transposed else {"transB": 1}))
    graph = helper.make_graph([node], "cls", [x], [y], [numpy_helper.from_array(weight, "fc_w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return str(path)


def four_by_one_mask(rows=10, cols=64, seed=0) -> np.ndarray:
    """Blocks of 4 outputs x 1 input on 10 rows: rows 0-3, 4-7 and the partial block 8-9."""
    units = np.random.default_rng(seed).random((-(-rows // 4), cols)) < 0.4
    return np.repeat(units, 4, axis=0)[:rows]


@pytest.mark.parametrize("transposed", [False, True])
def test_a_4x1_pruned_classifier_with_10_outputs_reads_back_as_4x1(tmp_path, capsys, transposed):
    w = np.random.default_rng(1).standard_normal((10, 64)).astype(np.float32)
    mask = four_by_one_mask()
    assert pattern_violations(mask, FOUR_BY_ONE) == 0
    dense = classifier(tmp_path / "dense.onnx", w, transposed)
    pruned = classifier(tmp_path / "pruned.onnx", w * mask, transposed)
    assert read_pruned(load(pruned)).sparsity.patterns == {"fc_w": FOUR_BY_ONE}
    assert main(["plan", dense, "--from-pruned", pruned, "--json"]) == 0
    layer = json.loads(capsys.readouterr().out)["layers"][0]
    assert layer["pattern"] == "4x1" and layer["alpha"] == pytest.approx(mask.mean())


@pytest.mark.parametrize("transposed", [False, True])
def test_a_mask_the_bridge_projects_reads_back_as_its_pattern(tmp_path, transposed):
    """Bridge -> projection in the bridge's layout -> exported file -> plan's reading: 4x1 on
    the 10 classes of a Gemm stored (out, in) or (in, out)."""
    import torch

    from pruning.onnx.bridge import from_onnx
    from pruning.projections import pattern_masks
    torch.set_num_threads(1)
    w = np.random.default_rng(4).standard_normal((10, 64)).astype(np.float32)
    module = from_onnx(classifier(tmp_path / "dense.onnx", w, transposed))
    weights = module.onnx_weight_names()
    masks = pattern_masks(weights, {"fc_w": 0.4}, {"fc_w": FOUR_BY_ONE}, module.onnx_weight_layouts())
    with torch.no_grad():
        weights["fc_w"].mul_(masks["fc_w"])
    onnx.save(module.to_onnx(), tmp_path / "pruned.onnx")
    found = read_pruned(load(str(tmp_path / "pruned.onnx")))
    assert found.sparsity.patterns == {"fc_w": FOUR_BY_ONE}
    assert found.masks["fc_w"].n_fibers == 3                  # blocks of rows 0-3, 4-7, 8-9


def test_the_search_costs_a_4x1_candidate_as_4x1(tmp_path):
    """MaskCost (the search's verdict on a trained candidate) reads the mask in the bridge's
    layout with the same rule as `plan --from-pruned`."""
    w = np.random.default_rng(1).standard_normal((10, 64)).astype(np.float32)
    network = load(classifier(tmp_path / "dense.onnx", w))
    mask = four_by_one_mask()
    cost = MaskCost(network.shapes, HW, layouts={"fc_w": 0})
    assert cost({"fc_w": mask})["layers"]["fc_w"]["pattern"] == "4x1"
    # the same mask stored (in, out): rows are then the columns
    assert MaskCost(network.shapes, HW, layouts={"fc_w": 1})({"fc_w": mask.T})["layers"]["fc_w"][
        "pattern"] == "4x1"


def qdq_conv(path, w_int8: np.ndarray):
    """A QDQ conv: an INT8 initializer through DequantizeLinear (144 weights: 16 x 1 x 3 x 3)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 6, 6])
    inits = [numpy_helper.from_array(w_int8, "w_q"), numpy_helper.from_array(np.float32(0.02), "scale"),
             numpy_helper.from_array(np.int8(0), "zero")]
    nodes = [helper.make_node("DequantizeLinear", ["w_q", "scale", "zero"], ["w"], name="dq"),
             helper.make_node("Conv", ["x", "w"], ["y"], name="conv")]
    graph = helper.make_graph(nodes, "qdq", [x], [y], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return str(path)


def test_an_int8_qdq_layer_reads_as_8_bit(tmp_path):
    rng = np.random.default_rng(2)
    w = (rng.integers(-127, 128, size=(16, 1, 3, 3)) * (rng.random((16, 1, 3, 3)) < 0.5)).astype(np.int8)
    found = read_pruned(load(qdq_conv(tmp_path / "q.onnx", w)))
    assert found.sparsity.bits == {"w_q": 8}
    assert found.sparsity.alphas["w_q"] == pytest.approx((w != 0).mean())


def layouts_graph(path):
    """One weight per layout case: Conv, ConvTranspose, Gemm with transB, MatMul (in, out), a
    square MatMul weight stored (out, in) behind a Transpose, an LSTM's W and R."""
    rng = np.random.default_rng(3)

    def init(name, *shape):
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 6, 6])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])
    # shapes: 1x2x6x6 -> conv 1x4x4x4 -> deconv 1x3x6x6 -> 108 -> fc 12 -> mm 12 -> sq 12 -> lstm 2
    nodes = [helper.make_node("Conv", ["x", "conv_w"], ["c"], name="conv"),
             helper.make_node("ConvTranspose", ["c", "deconv_w"], ["d"], name="deconv"),
             helper.make_node("Flatten", ["d"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "fc_w"], ["g"], transB=1, name="fc"),
             helper.make_node("MatMul", ["g", "mm_w"], ["m"], name="mm"),
             helper.make_node("Transpose", ["sq_stored"], ["sq_t"], perm=[1, 0], name="t"),
             helper.make_node("MatMul", ["m", "sq_t"], ["s"], name="sq"),
             helper.make_node("Unsqueeze", ["s", "axes"], ["seq"], name="u"),
             helper.make_node("LSTM", ["seq", "lstm_w", "lstm_r"], ["h", "h_last"], hidden_size=2,
                              name="lstm"),
             helper.make_node("Reshape", ["h_last", "shape"], ["y"], name="r")]
    inits = [init("conv_w", 4, 2, 3, 3), init("deconv_w", 4, 3, 3, 3), init("fc_w", 12, 108),
             init("mm_w", 12, 12), init("sq_stored", 12, 12), init("lstm_w", 1, 8, 12),
             init("lstm_r", 1, 8, 2), numpy_helper.from_array(np.array([0], np.int64), "axes"),
             numpy_helper.from_array(np.array([1, -1], np.int64), "shape")]
    graph = helper.make_graph(nodes, "layouts", [x], [y], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return str(path)


def test_the_bridge_and_the_pruned_reader_see_every_weight_in_the_same_layout(tmp_path):
    import torch

    from codesign.pruned import output_axes
    from pruning.onnx.bridge import from_onnx
    torch.set_num_threads(1)
    path = layouts_graph(tmp_path / "layouts.onnx")
    trained = from_onnx(path).onnx_weight_layouts()
    read = output_axes(load(path))
    assert trained == {n: read[n] for n in trained}
    assert trained == {"conv_w": 0, "deconv_w": 1, "fc_w": 0, "mm_w": 1, "sq_stored": 0, "lstm_w": 1,
                       "lstm_r": 1}
