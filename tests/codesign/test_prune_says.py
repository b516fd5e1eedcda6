"""`prune` says what it compressed (issue 19 item 4): the layers it left dense, why, and the MAC
share they carry (the importer's own per-layer MACs), and a warning when the model is at
chance before or after compression, with the likely fix."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

import codesign
from codesign.at_chance import chance_warnings
from codesign.cli import main
from codesign.compress import PruneTotals
from codesign.graph import load_network
from zoo.any_models import export

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def gpt():
    return export("gpt")


def test_a_gpt_lists_its_embedding_and_attention_products_dense_with_the_importers_macs(gpt):
    result = codesign.prune(gpt, "synthetic", task="lm", method="magnitude", alpha=0.5, pattern="2:4",
                            epochs=0.05, limit=64, test_limit=32)
    totals = result.totals
    network = load_network(gpt)
    macs = {l.name: l.macs for l in network.layers}
    dense = {d.name: d for d in totals.left_dense}
    products = [l.name for l in network.layers if l.op == "dynamic_matmul"]
    assert len(products) == 2 and {dense[n].kind for n in products} == {"activation product"}
    assert dense["tok.weight"].kind == "embedding" and dense["tok.weight"].macs == 0
    for name in products:
        assert dense[name].macs == macs[name]
        assert dense[name].mac_share == pytest.approx(macs[name] / network.total_macs)
    pruned = [r.name for r in result.layers if r.kept < r.weights]
    assert len(pruned) == 6 and not set(pruned) & set(dense)
    assert totals.compressed_mac_share == pytest.approx(sum(macs[n] for n in pruned) / network.total_macs)
    assert totals.compressed_mac_share == pytest.approx(1 - sum(d.mac_share for d in totals.left_dense))
    # an untrained export guesses: its perplexity is near the vocabulary's size
    assert len(totals.warnings) == 1 and "at chance before compression: perplexity" in totals.warnings[0]
    assert "--pretrain-epochs" in totals.warnings[0]
    saved = json.loads(json.dumps(result.to_dict()))
    saved.pop("layers")
    assert PruneTotals.from_dict(saved) == totals


def _untrained():
    """An untrained classifier of 8x8 images (a 64x16 and a 16x10 layer) and random labels."""
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 16), torch.nn.ReLU(),
                                 torch.nn.Linear(16, 10))
    return module, torch.utils.data.TensorDataset(torch.rand(200, 1, 8, 8), torch.arange(200) % 10)


def test_an_untrained_classifier_at_chance_is_warned_and_its_classifier_kept_dense_by_policy(tmp_path):
    result = codesign.prune(*_untrained(), method="magnitude", alpha=0.5, pattern="channel", epochs=0.0)
    totals = result.totals
    assert len(totals.warnings) == 1
    assert "at chance before compression: accuracy" in totals.warnings[0]
    assert "chance is 1/10" in totals.warnings[0] and "untrained export" in totals.warnings[0]
    (head,) = totals.left_dense
    assert head.kind == "policy" and "classifier" in head.why
    assert totals.compressed_mac_share == pytest.approx(1 - head.mac_share) and 0 < head.mac_share < 1
    report = result.report(tmp_path / "report")["report.md"].read_text()
    assert "Left dense" in report and "3.weight \\(policy" in report and "Warning: the model is at chance" in report


def test_a_layer_below_the_methods_size_floor_is_the_methods_choice():
    totals = codesign.prune(*_untrained(), method="asl", alpha=0.5, epochs=0.2).totals
    (small,) = totals.left_dense                                  # 160 weights, asl's floor is 1,000
    assert small.name == "3.weight" and small.kind == "method" and "min_weights=1000" in small.why


def test_a_trained_lenet_is_not_warned_and_leaves_nothing_dense():
    totals = codesign.prune("lenet5", "digits", method="magnitude", alpha=0.5, epochs=0.5, pretrain_epochs=2,
                            limit=500, test_limit=200, batch_size=50).totals
    assert totals.accuracy_before > 0.3 and totals.warnings == ()
    assert totals.left_dense == () and totals.compressed_mac_share == 1.0


def _constant_weight_model(path: Path) -> None:
    """x (N, 8) -> MatMul(stored 8x8) -> Relu -> MatMul(a stored 8x4 times 1.5, computed in the
    graph): the second product's weight is no stored tensor, so the bridge cannot mask it."""
    rng = np.random.default_rng(0)
    stored = numpy_helper.from_array(rng.normal(size=(8, 8)).astype(np.float32), "w1")
    base = numpy_helper.from_array(rng.normal(size=(8, 4)).astype(np.float32), "w2_base")
    scale = numpy_helper.from_array(np.float32(1.5), "scale")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"], name="mm1"), helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("Mul", ["w2_base", "scale"], ["w2"], name="c2"),
         helper.make_node("MatMul", ["r", "w2"], ["y"], name="mm2")],
        "computed_weight", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])], [stored, base, scale])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)


def test_the_cli_lists_an_unreachable_weight_under_the_table_and_warns_on_stderr(tmp_path, capsys):
    _constant_weight_model(tmp_path / "m.onnx")
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "d.npz", x_train=rng.normal(size=(80, 8)).astype(np.float32), y_train=rng.integers(0, 4, 80),
             x_test=rng.normal(size=(40, 8)).astype(np.float32), y_test=rng.integers(0, 4, 40))
    assert main(["prune", str(tmp_path / "m.onnx"), "--data", str(tmp_path / "d.npz"), "--method", "magnitude",
                 "--alpha", "0.5", "--epochs", "0", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "compressed layers carry 66.7% of the MACs; left dense:" in out
    row = next(line for line in out.splitlines() if line.startswith(("w2 ", "w2_base ")))
    assert "unreachable" in row and "computed from constants" in row
    assert "codesign prune: warning: the model is at chance before compression" in err
    saved = json.loads((tmp_path / "run" / "layers.json").read_text())
    assert [d["kind"] for d in saved["left_dense"]] == ["unreachable"] and saved["warnings"]


def test_each_task_has_its_chance_and_its_fix():
    common = dict(samples=400, classes=10, epochs=0.0, pretrain_epochs=0.0, lr=0.01)
    (after,) = chance_warnings(task="classify", before=0.9, after=0.11, **common)
    assert after.startswith("the compressed model is at chance") and "--epochs 0" in after
    (after,) = chance_warnings(task="classify", before=0.9, after=0.11, **{**common, "epochs": 2.0})
    assert "raise --epochs (now 2)" in after and "--lr (now 0.01)" in after
    assert chance_warnings(task="classify", before=0.9, after=0.2, **common) == ()    # above chance
    assert chance_warnings(task="lm", before=20.0, after=9.5, **common)               # >= 0.9 x 10 tokens
    assert chance_warnings(task="lm", before=20.0, after=8.5, **common)[0].startswith("the model is at chance")
    assert chance_warnings(task="lm", before=5.0, after=8.5, **common) == ()
    # a distilled model agrees with itself before; cosine agreement has no chance level
    assert chance_warnings(task="distill", before=1.0, after=0.1, **common)
    assert chance_warnings(task="distill", before=1.0, after=0.1, class_like=False, **common) == ()
    assert chance_warnings(task="classify", before=0.1, after=0.1, **{**common, "classes": None}) == ()
    (before,) = chance_warnings(task="classify", before=0.1, after=0.1, **{**common, "pretrain_epochs": 3.0})
    assert "3 epoch(s) of pretraining did not lift it" in before
