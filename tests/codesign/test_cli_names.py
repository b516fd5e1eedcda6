"""Small rules written once: built-in model names resolve the same in every command."""
from __future__ import annotations

import pytest

from codesign.cli import main
from pruning.models import builtin_name, pretrain_epochs


@pytest.mark.parametrize("text, name", [("lenet5", "lenet5"), ("LeNet5", "lenet5"), ("VGG7", "vgg7"),
                                        ("alexnet", None), ("lenet5.onnx", None), (None, None)])
def test_one_resolver_of_built_in_names(text, name):
    assert builtin_name(text) == name


def test_a_file_of_that_name_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "LeNet5").write_bytes(b"")
    assert builtin_name("LeNet5") is None and builtin_name("lenet300") == "lenet300"


def test_pretraining_default_by_kind():
    assert pretrain_epochs("LeNet5", None) == 10.0
    assert pretrain_epochs("model.onnx", None) == 0.0
    assert pretrain_epochs("lenet5", 2.5) == 2.5


def test_prune_and_inspect_agree_on_LeNet5(capsys):
    import torch
    torch.set_num_threads(1)
    from pruning.pipeline import check_trainable, prepare
    assert main(["inspect", "LeNet5"]) == 0
    assert capsys.readouterr().out.startswith("lenet5:")
    check_trainable("LeNet5")                       # what `codesign prune LeNet5` asks first
    module, data = prepare("LeNet5", "digits", limit=50, test_limit=20)
    assert data.input_shape == (1, 8, 8) and module.to_onnx().graph.node
