"""`codesign search` end to end on a tiny budget (real training on sklearn digits, real ONNX
export checked in onnxruntime), its resume, and `codesign report`."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from codesign.cli import main

ARGS = ["search", "lenet5", "--data", "synthetic", "--allocator", "fig5,dp", "--train-limit", "400",
        "--test-limit", "100", "--validation", "100", "--pretrain-epochs", "2",
        "--train-epochs", "0.2", "--final-epochs", "0.2", "--max-drop", "100", "--quiet"]
# max drop 100 points: every candidate passes, so the run surely prunes and the mechanics
# (plan, export, sparsity in the ONNX file, resume) are tested independently of training noise;
# the searches' decisions are tested on synthetic oracles in test_search_algorithms.py.


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("search")
    assert main(ARGS + ["--out", str(out)]) == 0
    return out


def test_search_writes_plan_model_history_and_report(run_dir):
    for name in ("plan.json", "search-history.json", "compressed.onnx", "report.html",
                 "report.md", "layers.csv", "evaluations.jsonl", "figures/search.png"):
        assert (run_dir / name).exists(), name
    history = json.loads((run_dir / "search-history.json").read_text())
    chosen = history["results"][history["chosen"]]
    plan = json.loads((run_dir / "plan.json").read_text())
    assert plan["alphas"] == {n: a for n, a in chosen["alphas"].items() if a < 1.0}
    assert set(history["results"]) == {"fig5", "dp"}
    for r in history["results"].values():
        assert r["history"][-1]["phase"] == "final"


def test_compressed_onnx_holds_the_planned_sparsity(run_dir):
    plan = json.loads((run_dir / "plan.json").read_text())
    assert plan["alphas"], "an unconstrained run must prune"
    model = onnx.load(str(run_dir / "compressed.onnx"))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for layer in plan["layers"]:
        w = inits[layer["name"]]
        kept = np.count_nonzero(w) / w.size
        if layer["implementation"] == "dense":
            assert kept > 0.99
        else:
            assert kept == pytest.approx(layer["alpha"], abs=1.5 / w.size + 1e-3)


def test_rerun_resumes_without_new_evaluations(run_dir, capsys):
    before = (run_dir / "evaluations.jsonl").read_text()
    plan = (run_dir / "plan.json").read_text()
    assert main(ARGS + ["--out", str(run_dir)]) == 0
    assert (run_dir / "evaluations.jsonl").read_text() == before
    assert json.loads((run_dir / "plan.json").read_text())["alphas"] == json.loads(plan)["alphas"]


def test_other_settings_in_the_same_run_dir_are_refused(run_dir, capsys):
    assert main(ARGS[:-3] + ["--max-drop", "1", "--quiet", "--out", str(run_dir)]) == 2
    assert "holds a run with other settings (max_drop)" in capsys.readouterr().err


def test_report_command_rerenders(run_dir, tmp_path, capsys):
    assert main(["report", str(run_dir), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "report.md").read_text() == (run_dir / "report.md").read_text()


def test_unknown_allocator_is_a_clear_error(tmp_path, capsys):
    assert main(ARGS[:4] + ["--allocator", "magic", "--out", str(tmp_path)]) == 2
    assert "unknown allocator" in capsys.readouterr().err
