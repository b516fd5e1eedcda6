
import pytest
import torch

from pruning.data import load_dataset
from pruning.errors import PruningError
from pruning.models import build_model
from pruning.protocol import prunable_weights
from pruning.pipeline import PruneJob, load_module, resolve_bits, targets_for


def test_bits_spec_by_kind_name_and_all():
    w = prunable_weights(build_model("lenet5", (1, 28, 28), 10))
    assert resolve_bits("conv=3,fc=2", w) == {"conv1.weight": 3, "conv2.weight": 3, "fc1.weight": 2, "fc2.weight": 2}
    assert resolve_bits("4", w) == dict.fromkeys(w, 4)
    assert resolve_bits("fc=2,fc1.weight=5", w)["fc1.weight"] == 5
    with pytest.raises(PruningError, match="neither conv, fc"):
        resolve_bits("dense=3", w)
    with pytest.raises(PruningError, match="expected e.g."):
        resolve_bits("conv=three", w)


def test_targets_uniform_and_global():
    w = prunable_weights(build_model("lenet5", (1, 28, 28), 10))
    t = targets_for(PruneJob("lenet5", alpha=0.2, alphas={"conv1.weight": 1.0}), w)
    assert t.alphas == {"conv1.weight": 1.0, "conv2.weight": 0.2, "fc1.weight": 0.2, "fc2.weight": 0.2}
    g = targets_for(PruneJob("lenet5", alpha=0.2, allocation="global"), w)
    assert g.global_alpha == 0.2 and not g.alphas
    p = targets_for(PruneJob("lenet5", alpha=0.3, pattern="4x1", patterns={"fc2.weight": "2:4"}), w)
    assert str(p.patterns["conv1.weight"]) == "4x1" and str(p.patterns["fc2.weight"]) == "2:4"
    with pytest.raises(PruningError, match="cannot keep per-layer patterns"):
        targets_for(PruneJob("lenet5", alpha=0.2, allocation="global", pattern="2:4"), w)
    with pytest.raises(PruningError, match="allocation 'spread'"):
        targets_for(PruneJob("lenet5", alpha=0.2, allocation="spread"), w)


def test_model_must_fit_the_data(tmp_path):
    digits = load_dataset("digits")
    module = load_module("lenet5", digits)
    assert module(torch.from_numpy(digits.test_x[:2])).shape == (2, 10)
    import onnx
    from pruning.models import builtin_onnx
    path = tmp_path / "m.onnx"
    onnx.save(builtin_onnx("lenet5", (1, 28, 28)), str(path))
    with pytest.raises(PruningError, match="input"):
        load_module(str(path), digits)
    with pytest.raises(PruningError, match="cannot be trained: training needs an ONNX file with real weights"):
        load_module("resnet9000", digits)
