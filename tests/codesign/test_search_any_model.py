"""The search serves models of any signature and their tasks (issue 19): a GPT-style model with
no labels is searched by distillation, and on token data by perplexity; summary.json says the
task, what was left dense and the MAC share compressed."""
import contextlib
import io
import json

import numpy as np
import onnx
import pytest
import torch

from codesign.cli import main
from zoo.any_models import export

torch.set_num_threads(1)
BUDGET = ["--train-epochs", "0.3", "--final-epochs", "0.3", "--probe-epochs", "0", "--method", "magnitude",
          "--quiet"]


@pytest.fixture(scope="module")
def gpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("gpt") / "gpt.onnx"
    with contextlib.redirect_stdout(io.StringIO()):
        onnx.save(export("gpt"), path)
    return path


def test_search_distills_a_model_without_labels(gpt, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["search", str(gpt), "--data", "synthetic", "--max-drop", "10", "--train-limit", "600",
                 "--test-limit", "200", "--patterns", "2:4,unstructured", "--out", str(out)] + BUDGET) == 0
    printed = capsys.readouterr().out
    assert "max drop 10 agreement points" in printed and "of the MACs" in printed
    s = json.loads((out / "summary.json").read_text())
    assert s["task"] == "distill" and s["constraint"]["met"] and s["constraint"]["test_met"]
    kinds = {d["kind"] for d in s["left_dense"]}
    assert {"embedding", "activation product"} <= kinds and 0 < s["compressed_mac_share"] < 1
    exported = onnx.load(out / "compressed.onnx")
    assert [i.name for i in exported.graph.input] == ["ids"]


def test_search_judges_a_language_model_by_perplexity(gpt, tmp_path, capsys):
    ids = (np.arange(12)[None] + np.random.default_rng(0).integers(0, 64, (400, 1))) % 64
    np.savez(tmp_path / "tokens.npz", ids=ids)
    out = tmp_path / "run"
    assert main(["search", str(gpt), "--data", str(tmp_path / "tokens.npz"), "--task", "lm", "--max-drop", "50",
                 "--patterns", "unstructured", "--out", str(out)] + BUDGET) == 0
    assert "% perplexity increase" in capsys.readouterr().out
    s = json.loads((out / "summary.json").read_text())
    c = s["constraint"]
    assert s["task"] == "lm" and c["validation"]["ci_low"] <= c["validation"]["drop"] <= c["validation"]["ci_high"]
    assert s["reference_accuracy"] > 1 and s["onnxruntime_test_accuracy"] > 1        # perplexities


def test_search_refuses_to_pretrain_for_distillation(gpt, tmp_path, capsys):
    """Pretraining without labels: a language model learns the next token (auto means lm then),
    distillation would learn nothing (the teacher is the model being pretrained)."""
    assert main(["search", str(gpt), "--data", "synthetic", "--task", "distill", "--pretrain-epochs", "1",
                 "--out", str(tmp_path / "run")] + BUDGET) == 2
    assert "nothing to learn from" in capsys.readouterr().err


def test_a_one_shot_search_judges_against_the_untrained_dense_model(gpt, tmp_path):
    """A one-shot method's candidates are not trained, so neither is the bar they are judged
    against (a dense copy trained like a candidate would be trained for nothing)."""
    out = tmp_path / "run"
    assert main(["search", str(gpt), "--data", "synthetic", "--max-drop", "50", "--method", "wanda",
                 "--calibration", "16", "--train-limit", "300", "--test-limit", "100", "--patterns", "2:4",
                 "--final-epochs", "0", "--quiet", "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["trained_reference_accuracy"] is None and s["given_accuracy"] == s["reference_accuracy"]
