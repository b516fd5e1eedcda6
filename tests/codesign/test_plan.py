"""Plans: the one decision rule, sparsity files (the one parser), pruned models, storage names."""
import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from codesign.api import load, plan
from codesign.specs import hardware
from codesign.plans import (SCHEMA_VERSION, PlanError, Sparsity, build_plan, read_sparsity,
                           uniform_sparsity)
from codesign.pruned import quantized_bits, read_pruned
from hwmodels.paper001 import ALEXNET_CONV

HW = hardware("smic40-admmnn")


def tiny_model(path, conv_w, fc_w):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])
    nodes = [helper.make_node("Conv", ["x", "conv_w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Flatten", ["r"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "fc_w"], ["y"], transB=1, name="fc")]
    graph = helper.make_graph(nodes, "tiny", [x], [y], [numpy_helper.from_array(conv_w, "conv_w"),
                                                        numpy_helper.from_array(fc_w, "fc_w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
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


def test_a_layer_runs_sparse_exactly_when_its_ratio_reaches_r_star():
    p = build_plan(ALEXNET_CONV, HW, 0.45, model="alexnet-conv")
    for l in p.layers:
        assert l.sparse == (1 / l.alpha >= l.break_even * (1 - 1e-9))
        assert l.sparse == (l.sparse_speedup >= 1)
        if l.sparse:
            assert 0 < l.index_bits_total and l.weight_bits_total < l.dense_weight_bits_total
            assert l.deployed_alpha == l.alpha and l.index_width_bits == HW.index_width_bits
        else:
            assert l.index_bits_total == 0 and l.deployed_alpha == 1.0 and l.index_width_bits == 0
            assert l.weight_bits_total == l.dense_weight_bits_total
    t = p.totals
    assert t["latency_ns"] == pytest.approx(sum(l.latency_ns for l in p.layers))
    assert t["speedup"] == pytest.approx(t["dense_latency_ns"] / t["latency_ns"])


def test_json_feeds_back_as_a_sparsity_file(tmp_path):
    p = build_plan(ALEXNET_CONV, HW, {"alphas": {"conv2": 0.2, "conv4": 0.5}, "bits": {"conv3": 8}},
                   model="a", source="sparsity")
    doc = json.loads(p.to_json())
    assert doc["schema_version"] == SCHEMA_VERSION
    row = doc["layers"][1]
    for key in ("name", "alpha", "pattern", "weight_bits", "implementation", "break_even", "speedup",
                "weight_bits_total", "index_bits_total", "feature_bits_total", "index_width_bits",
                "smallest_index_width_bits", "designs"):
        assert key in row
    assert set(row["designs"]["sparse"]) == {"pes", "pe_area_um2", "clock_ns", "area_um2"}
    again = read_sparsity(doc)
    assert again.alphas == {l.name: l.deployed_alpha for l in p.layers if l.sparse}
    assert again.bits == {"conv3": 8}
    path = tmp_path / "p.json"
    p.save(path)
    assert read_sparsity(path).alphas == again.alphas


@pytest.mark.parametrize("doc, message", [
    ({"conv1": 0.5}, "names no layer"),
    ({"alphas": {"conv1": 1.5}}, "keep fraction"),
    ({"alphas": {"conv1": "x"}}, "keep fraction"),
    ({"alphas": {"conv1": float("nan")}}, "keep fraction"),
    ({"alphas": []}, "must be an object"),
    ({"patterns": {"conv1": "3:2"}}, "N:M"),
    ({"patterns": {"conv1": "2:4"}, "alphas": {"conv1": 0.2}}, "agree"),
    ({"bits": {"conv1": 0}}, "weight bits"),
    ({"bits": {"conv1": True}}, "weight bits"),
    ({"schema_version": 9, "alphas": {"conv1": 0.5}}, "schema_version"),
    ([1, 2], "JSON object"),
])
def test_bad_sparsity_documents_name_the_problem(doc, message):
    with pytest.raises(PlanError, match=message):
        read_sparsity(doc) if isinstance(doc, dict) else Sparsity.from_dict(doc)


def test_bad_sparsity_files(tmp_path):
    for content, message in ((b"{", "not valid JSON"), (b"\xff\xfe", "UTF-8"),
                             (b"[" * 100_000 + b"]" * 100_000, "cannot be read"),
                             (b'{"alphas": {"a": ' + b"9" * 5000 + b"}}", "cannot be read")):
        path = tmp_path / "bad.json"
        path.write_bytes(content)
        with pytest.raises(PlanError, match=message):
            read_sparsity(path)
    with pytest.raises(PlanError, match="does not exist"):
        read_sparsity(tmp_path / "missing.json")
    with pytest.raises(PlanError, match="'nope'.*not in the model"):
        build_plan(ALEXNET_CONV, HW, {"alphas": {"nope": 0.5}})


def test_nm_patterns_set_their_alpha_and_unsupported_patterns_say_so():
    p = build_plan(ALEXNET_CONV, hardware("nm-2of4"), {"patterns": {"conv2": "2:4", "conv3": "4x1"},
                                                        "alphas": {"conv3": 0.5}})
    assert p.layer("conv2").alpha == 0.5 and p.layer("conv2").sparse
    assert p.layer("conv2").index_format == "nm-metadata"
    assert not p.layer("conv3").sparse and "cannot run sparse" in p.layer("conv3").note
    assert 1.5 <= p.layer("conv2").speedup <= 2.0


def test_plan_from_a_pruned_model_uses_its_exact_masks(pruned):
    dense_path, pruned_path, conv_mask, fc_mask = pruned
    found = read_pruned(load(pruned_path))
    assert set(found.masks) == {"conv_w", "fc_w"}
    assert found.masks["conv_w"].nnz == conv_mask.sum() and found.masks["conv_w"].n_fibers == 32
    assert found.masks["fc_w"].n_fibers == 10            # Gemm transB: one fiber per output
    p = plan(load(dense_path), HW, pruned=pruned_path)
    fc = p.layer("fc_w")
    assert fc.exact_mask and fc.alpha == pytest.approx(fc_mask.mean())
    expected = plan(load(dense_path), HW, alphas={"alphas": {"conv_w": conv_mask.mean(), "fc_w": fc_mask.mean()}})
    assert fc.sparse_speedup == pytest.approx(expected.layer("fc_w").sparse_speedup, rel=0.1)
    assert read_pruned(load(dense_path)).masks == {}


def test_quantized_widths_are_read_from_values():
    """Fake-quantized float values (pruning.quantize's grid); patterns: tests/pruning/test_patterns."""
    rng = np.random.default_rng(1)
    k = rng.integers(2, 5, size=(32, 64)) * rng.choice([-1, 1], size=(32, 64))
    assert quantized_bits(k * 0.0125 * (rng.random((32, 64)) < 0.3)) == 3
    assert quantized_bits(rng.standard_normal((10, 32))) is None


def test_storage_baselines_are_named(tmp_path):
    p = build_plan(ALEXNET_CONV, HW, uniform_sparsity(ALEXNET_CONV, 0.1), model_bits={s.name: 32 for s in ALEXNET_CONV})
    t = p.totals
    stored = t["weight_bits_total"] + t["index_bits_total"]
    assert t["compression"]["dense_32bit"] == pytest.approx(t["storage_baselines_bits"]["dense_32bit"] / stored)
    assert t["storage_baselines_bits"]["dense_hardware_width"] == sum(s.weight_count * 16 for s in ALEXNET_CONV)
    assert t["smallest_storage_bits_total"] <= stored
    for l in p.layers:
        assert l.smallest_index_width_bits is None or 1 <= l.smallest_index_width_bits <= 10
        if l.huffman_index_bits_total is not None:
            assert l.huffman_index_bits_total < l.index_bits_total


def test_uncertainty_gives_ranges_around_the_nominal_numbers():
    p = build_plan(ALEXNET_CONV, HW, 0.3, samples=100)
    for l in p.layers:
        lo, hi = l.break_even_range
        assert lo <= l.break_even <= hi
        assert l.speedup_range[0] <= l.speedup <= l.speedup_range[1]
        assert 0 <= l.decision_agreement <= 1
    lo, hi = p.totals["speedup_range"]
    assert lo <= p.totals["speedup"] <= hi and p.uncertainty["samples"] == 100


def test_uncertainty_samples_in_chunks_give_the_numbers_of_one_evaluation(monkeypatch):
    whole = build_plan(ALEXNET_CONV, HW, 0.3, samples=50)
    monkeypatch.setattr("hwmodels.uncertainty.CHUNK_ELEMENTS", 3 * len(ALEXNET_CONV))   # 17 chunks
    chunked = build_plan(ALEXNET_CONV, HW, 0.3, samples=50)
    assert chunked.totals["speedup_range"] == whole.totals["speedup_range"]
    for a, b in zip(chunked.layers, whole.layers):
        assert (a.speedup_range, a.break_even_range, a.decision_agreement) == \
            (b.speedup_range, b.break_even_range, b.decision_agreement)
