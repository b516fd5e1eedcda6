import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from codesign.graph import load_network
from codesign.hwconfig import load_hw
from codesign.plan import (SCHEMA_VERSION, Plan, PlanError, build_plan, layer_curves,
                           masks_from_network, read_sparsity_file)
from hwmodels.paper001 import ALEXNET_CONV

HW = load_hw("smic40-admmnn")


def tiny_model(path, conv_w, fc_w):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])
    nodes = [helper.make_node("Conv", ["x", "conv_w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Flatten", ["r"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "fc_w"], ["y"], transB=1, name="fc")]
    graph = helper.make_graph(nodes, "tiny", [x], [y],
                              [numpy_helper.from_array(conv_w, "conv_w"),
                               numpy_helper.from_array(fc_w, "fc_w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def pruned(tmp_path_factory):
    rng = np.random.default_rng(0)
    conv = rng.standard_normal((32, 3, 3, 3)).astype(np.float32)
    fc = rng.standard_normal((10, 32 * 16 * 16)).astype(np.float32)
    conv_mask = rng.random(conv.shape) < 0.3
    fc_mask = rng.random(fc.shape) < 0.1
    d = tmp_path_factory.mktemp("pruned")
    dense = tiny_model(str(d / "dense.onnx"), conv, fc)
    sparse = tiny_model(str(d / "pruned.onnx"), conv * conv_mask, fc * fc_mask)
    return dense, sparse, conv_mask, fc_mask


def test_plan_from_alpha_decides_by_break_even():
    plan = build_plan(ALEXNET_CONV, HW, 0.3, model="alexnet-conv")
    ev = plan.evaluation
    for lp, le in zip(plan.layers, ev.layers):
        assert le.alpha == 0.3
        r = 1 / 0.3
        assert (lp.implementation == "sparse") == (r >= le.break_even)
        assert (lp.implementation == "sparse") == (le.sparse_speedup >= 1)
        if lp.implementation == "dense":
            assert le.speedup == 1.0 and le.index_bits == 0 and lp.index_width == 0
            assert le.storage_bits == le.dense_storage_bits
        else:
            assert le.speedup == pytest.approx(le.sparse_speedup)
            assert 0 < le.index_bits < le.storage_bits < le.dense_storage_bits
    assert [l.implementation for l in plan.layers] == ["dense"] + ["sparse"] * 4
    t = ev.totals
    assert t["latency_ns"] == pytest.approx(sum(l.latency_ns for l in ev.layers))
    assert t["speedup"] == pytest.approx(t["dense_latency_ns"] / t["latency_ns"])
    assert t["speedup"] > 1


def test_json_round_trip_and_schema(tmp_path):
    plan = build_plan(ALEXNET_CONV, HW, {"conv2": 0.2, "conv4": 0.5}, model="a", source="sparsity")
    path = tmp_path / "plan.json"
    plan.save(path)
    again = Plan.load(path)
    assert again == plan
    data = json.loads(path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    row = data["layers"][1]
    for key in ("name", "alpha", "implementation", "break_even", "speedup", "sparse_speedup",
                "storage_bits", "index_bits"):
        assert key in row
    assert data["layers"][0]["alpha"] == 1.0 and data["layers"][0]["implementation"] == "dense"
    data["schema_version"] = 99
    with pytest.raises(PlanError, match="schema_version"):
        Plan.from_dict(data)


def test_sparsity_file_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"conv1": 0.5}')
    with pytest.raises(PlanError, match="alphas"):
        read_sparsity_file(bad)
    with pytest.raises(PlanError, match="does not exist"):
        read_sparsity_file(tmp_path / "missing.json")
    with pytest.raises(PlanError, match="'nope'.*not in the model"):
        build_plan(ALEXNET_CONV, HW, {"nope": 0.5})
    with pytest.raises(PlanError, match="keep fractions"):
        build_plan(ALEXNET_CONV, HW, {"conv2": 1.5})


def test_plan_from_pruned_onnx_uses_exact_masks(pruned):
    dense_path, pruned_path, conv_mask, fc_mask = pruned
    net = load_network(pruned_path)
    masks = masks_from_network(net)
    assert set(masks) == {"conv_w", "fc_w"}
    assert masks["conv_w"].nnz == conv_mask.sum() and masks["conv_w"].n_fibers == 32
    assert masks["fc_w"].n_fibers == 10            # Gemm transB: one fiber per output
    alphas = {k: v.density for k, v in masks.items()}
    plan = build_plan(net.shapes, HW, alphas, source="pruned", masks=masks)
    ev = {l.name: l for l in plan.evaluation.layers}
    assert ev["fc_w"].exact_mask and ev["fc_w"].alpha == pytest.approx(fc_mask.mean())
    # exact masks: the stored entries equal the mask's own gap count
    expected_plan = build_plan(net.shapes, HW, alphas)
    e2 = {l.name: l for l in expected_plan.evaluation.layers}
    assert ev["fc_w"].sparse_speedup == pytest.approx(e2["fc_w"].sparse_speedup, rel=0.1)
    assert masks_from_network(load_network(dense_path)) == {}


def test_layer_curves_for_reports():
    ratios, curves = layer_curves(ALEXNET_CONV, HW, [1.5, 3.0, 10.0])
    assert list(curves) == [s.name for s in ALEXNET_CONV]
    assert all(c.shape == (3,) and np.all(np.diff(c) > 0) for c in curves.values())


def test_per_layer_weight_bits(tmp_path):
    from hwmodels.arch import ConfigArray
    from hwmodels.breakeven import break_even
    from hwmodels.cost import LayerArray
    from hwmodels.errors import ConfigError
    from codesign.plan import load_sparsity

    sp = tmp_path / "sp.json"
    sp.write_text(json.dumps({"alphas": {"conv2": 0.3, "conv3": 0.3}, "bits": {"conv2": 8}}))
    alphas, bits = load_sparsity(sp)
    plan = build_plan(ALEXNET_CONV, HW, alphas, weight_bits=bits)
    ev = {l.name: l for l in plan.evaluation.layers}
    assert plan.layer("conv2").weight_bits == 8 and plan.layer("conv3").weight_bits == 16
    assert ev["conv2"].dense_storage_bits == ALEXNET_CONV[1].weight_count * 8
    # in isoarea mode conv2 gets the same r* as on an 8-bit design
    r8 = break_even(ConfigArray.from_configs([HW.replace(weight_bits=8)]),
                    LayerArray.from_shapes([ALEXNET_CONV[1]])).ratio[0, 0]
    assert ev["conv2"].break_even == pytest.approx(r8, rel=1e-9)
    assert ev["conv2"].break_even > ev["conv3"].break_even      # fewer bits, dearer index
    with pytest.raises(PlanError, match="weight bits of layer 'conv2'"):
        build_plan(ALEXNET_CONV, HW, alphas, weight_bits={"conv2": 0})
    with pytest.raises(ConfigError, match="fixed chip"):
        build_plan(ALEXNET_CONV, HW.replace(mode="fixed", weight_bits=8), alphas,
                   weight_bits={"conv3": 16})
