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


def _cli(tmp_path, *argv) -> tuple[int, str, float, bool]:
    """Exit code, stderr, seconds and whether torch was imported, of `codesign ARGV` in a fresh
    interpreter (so that 'before any work' is visible as no torch)."""
    import subprocess
    import sys
    import time
    code = ("import sys; from codesign.cli import main; rc = main(sys.argv[1:]); "
            "print('torch' in sys.modules); sys.exit(rc)")
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=tmp_path)
    return p.returncode, p.stderr, time.perf_counter() - t0, p.stdout.strip() == "True"


def test_search_bits_syntax_refused_before_any_data(tmp_path):
    code, err, seconds, torch_imported = _cli(tmp_path, "search", "lenet5", "--data", "fashion-mnist",
                                              "--bits", "conv=x", "--out", str(tmp_path / "run"))
    assert code == 2 and "--bits 'conv=x': expected e.g. conv=3,fc=2" in err
    assert seconds < 5 and not torch_imported and not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", ["prune", "search"])
def test_one_weight_bit_range_checked_before_work(tmp_path, command):
    code, err, _, torch_imported = _cli(tmp_path, command, "lenet5", "--bits", "conv=24",
                                        "--out", str(tmp_path / "run"))
    assert code == 2 and "--bits conv = 24: must be a whole number in [1, 16]" in err
    assert not torch_imported


def test_a_sparsity_file_holds_the_same_bit_range(tmp_path, capsys):
    import json
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"bits": {"conv1": 24}}))
    assert main(["plan", "lenet5", "--sparsity", str(plan)]) == 2
    assert "weight bits of layer 'conv1' is 24; use an integer in [1, 16]" in capsys.readouterr().err


def test_one_flip_threshold_and_one_kb():
    from hwmodels import tech, uncertainty
    from hwmodels.arch import KB_BITS
    assert not uncertainty.flips(None) and not uncertainty.flips(0.99) and uncertainty.flips(0.5)
    assert KB_BITS is tech.KB_BITS


def test_one_default_run_folder_for_the_search():
    from codesign.loop.job_spec import default_out
    assert default_out("lenet5") == "runs/lenet5-search" == default_out("models/lenet5.onnx")
    assert default_out(object()) == "runs/module-search"          # a torch module given to the API
