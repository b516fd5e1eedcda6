"""`codesign search` end to end on a tiny budget (real training on sklearn digits, real ONNX
export checked in onnxruntime): the verdict file, the exported model's own speedup, resume,
the lock on --out, and `codesign report`."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from codesign.cli import main

ARGS = ["search", "lenet5", "--data", "digits", "--allocator", "fig5,dp", "--train-limit", "600",
        "--test-limit", "300", "--validation", "200", "--pretrain-epochs", "2",
        "--train-epochs", "0.3", "--final-epochs", "0.3", "--max-drop", "100",
        "--patterns", "unstructured,2:4", "--quiet"]
# max drop 100 points: every candidate passes, so the run surely prunes and the mechanics
# (verdict, export, sparsity in the ONNX file, resume) are tested independently of training
# noise; the searches' decisions are tested on synthetic oracles in test_search_algorithms.py.


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("search")
    assert main(ARGS + ["--out", str(out)]) == 0
    return out


def test_search_writes_the_verdict_plan_model_history_and_report(run_dir):
    for name in ("summary.json", "plan.json", "search-history.json", "compressed.onnx", "report.html",
                 "report.md", "evaluations.jsonl", "figures/search.png", "job.json"):
        assert (run_dir / name).exists(), name
    s = json.loads((run_dir / "summary.json").read_text())
    c = s["constraint"]
    assert c["max_drop"] == 100 and c["confidence"] == 0.95 and c["met"] is True
    for split, n in (("validation", 200), ("test", 300)):
        v = c[split]
        assert v["n"] == n and v["ci_low"] <= v["drop"] <= v["ci_high"]
    assert set(s["speedup"]) == {"search_estimate", "exported"} and s["speedup"]["exported"] > 1
    assert s["executor"] == {"name": "local", "workers": 1}
    assert s["reference_accuracy"] == max(s["given_accuracy"], s["trained_reference_accuracy"])
    assert s["training_runs"] >= 1
    history = json.loads((run_dir / "search-history.json").read_text())
    assert set(history["results"]) == {"fig5", "dp"} and history["chosen"] == s["chosen"]
    chosen = history["results"][history["chosen"]]
    assert chosen["history"][-1]["phase"] == "final"
    assert chosen["speedup"] == pytest.approx(s["speedup"]["exported"], rel=1e-9)  # the exported model's


def test_the_exported_model_holds_the_plan_and_its_own_plan_is_written(run_dir):
    s = json.loads((run_dir / "summary.json").read_text())
    assert s["alphas"], "an unconstrained run must prune"
    model = onnx.load(str(run_dir / "compressed.onnx"))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for name, alpha in s["alphas"].items():
        w = inits[name]
        assert np.count_nonzero(w) / w.size == pytest.approx(alpha, abs=1.5 / w.size + 1e-3)
        if s["patterns"].get(name) == "2:4":
            groups = (w.reshape(w.shape[0], -1)[:, : w[0].size // 4 * 4] != 0).reshape(w.shape[0], -1, 4)
            assert groups.sum(axis=2).max() <= 2
    plan = json.loads((run_dir / "plan.json").read_text())
    assert plan["totals"]["speedup"] == pytest.approx(s["speedup"]["exported"], rel=1e-9)


def test_the_final_run_continues_from_the_candidate_the_search_judged(run_dir):
    records = [json.loads(line) for line in (run_dir / "evaluations.jsonl").read_text().splitlines()]
    plan = lambda r: json.dumps([r["alphas"], r["patterns"]], sort_keys=True)   # noqa: E731
    trained = {plan(r): r for r in records if r["kind"] == "train"}
    finals = [r for r in records if r["kind"] == "final"]
    assert finals and all(f["start"]["test_correct"] for f in finals)
    same = [(f, trained[plan(f)]) for f in finals if plan(f) in trained]
    assert same, "the searches' plans were trained during the search"
    for final, run in same:
        # recomputed from its own seed: bit for bit the model the search judged
        assert final["start"]["correct"] == run["correct"] and final["start"]["accuracy"] == run["accuracy"]
        assert final["epochs"] == pytest.approx(run["epochs"] + 0.3)            # then 0.3 epoch more
    s = json.loads((run_dir / "summary.json").read_text())
    assert s["shipped"] == "final run" and s["final_run"]["met"] is True


def test_the_exported_model_keeps_the_source_graphs_batch_dimension(run_dir):
    import onnxruntime as ort
    model = onnx.load(str(run_dir / "compressed.onnx"))
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    session = ort.InferenceSession(str(run_dir / "compressed.onnx"), providers=["CPUExecutionProvider"])
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:]]
    out = session.run(None, {session.get_inputs()[0].name: np.zeros([7] + shape, np.float32)})[0]
    assert out.shape == (7, 10)                                 # deployable with any batch


def test_rerun_resumes_without_new_evaluations_and_says_so(run_dir, capsys):
    before = (run_dir / "evaluations.jsonl").read_text()
    summary = (run_dir / "summary.json").read_text()
    capsys.readouterr()
    assert main([a for a in ARGS if a != "--quiet"] + ["--out", str(run_dir)]) == 0
    n = len(before.splitlines())
    assert f"codesign search: resuming {run_dir}: {n} evaluation(s) recorded" in capsys.readouterr().err
    assert (run_dir / "evaluations.jsonl").read_text() == before
    assert json.loads((run_dir / "summary.json").read_text())["alphas"] == json.loads(summary)["alphas"]


def test_other_settings_in_the_same_run_dir_are_refused(run_dir, capsys):
    args = [a if a != "100" else "1" for a in ARGS]
    assert main(args + ["--out", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "holds a run with other settings (max_drop)" in err
    assert "loading data" not in err            # refused before any work


def test_a_model_file_rewritten_in_place_is_another_model_but_another_path_to_it_is_not(tmp_path, capsys,
                                                                                       monkeypatch):
    from pruning.models import builtin_onnx
    onnx.save(builtin_onnx("lenet5", (1, 8, 8), 10, 0), str(tmp_path / "net.onnx"))
    args = ["search", str(tmp_path / "net.onnx")] + ARGS[2:] + ["--out", str(tmp_path / "run")]
    from codesign.loop.job import SearchJob
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "job.json").write_text(json.dumps(
        SearchJob(model=str(tmp_path / "net.onnx"), data="digits", out="", max_drop=100).fingerprint()))
    monkeypatch.chdir(tmp_path)                                  # a relative path: the same file
    assert SearchJob(model="net.onnx", data="digits", out="", max_drop=100).fingerprint() == \
        json.loads((tmp_path / "run" / "job.json").read_text())
    onnx.save(builtin_onnx("lenet5", (1, 8, 8), 10, 1), str(tmp_path / "net.onnx"))   # retrained in place
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "holds a run with other settings" in err and "model" in err and "loading data" not in err


def test_a_busy_run_dir_is_refused_with_one_line(run_dir, capsys):
    from codesign.runlock import run_lock
    with run_lock(run_dir, "codesign search"):
        assert main(ARGS + ["--out", str(run_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is in use by another codesign search run" in err[0]
    assert main(ARGS + ["--out", str(run_dir)]) == 0          # released: the next run goes ahead


def test_report_command_rerenders(run_dir, tmp_path):
    assert main(["report", str(run_dir), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "report.md").read_text() == (run_dir / "report.md").read_text()


@pytest.mark.parametrize("extra,message", [
    (["--allocator", "magic"], "unknown allocator"),
    (["--patterns", "3:2"], "0 < N < M"),
    (["--max-drop", "nan"], "--max-drop"),
    (["--lr", "-1"], "--lr"),
    (["--executor", "ray", "--workers", "0"], "--workers"),
    (["--agp-updates", "3"], "is an option of method 'agp'"),
])
def test_bad_settings_are_one_line_before_any_file(tmp_path, capsys, extra, message):
    out = tmp_path / "never"
    assert main(ARGS[:4] + ["--quiet", "--out", str(out)] + extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not out.exists()


def test_a_logged_search_says_what_it_does_line_by_line(tmp_path, capsys):
    """stderr is not a terminal here: one line per phase and evaluation, none silent for long."""
    args = [a for a in ARGS if a != "--quiet"]
    args[args.index("fig5,dp")] = "dp"
    assert main(args + ["--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert all(line.startswith(("codesign search: ", "pretrain: ")) for line in err), err[:5]
    text = "\n".join(err)
    assert "pretrain: " in text or "pretrained earlier" in text      # trained now, or cached
    for expected in ("loading data 'digits'", "reference dense: accuracy", "like every candidate", ": probe ",
                     "[dp] #", " confirm: ",
                     "final run at the chosen plan", " final: ", "exporting the compressed model"):
        assert expected in text, expected


def test_with_bits_the_final_run_quantizes_the_candidate_and_exports_qdq(tmp_path):
    out = tmp_path / "q"
    args = ARGS[:ARGS.index("--allocator")] + ["--allocator", "dp"] + ARGS[ARGS.index("--train-limit"):]
    assert main(args + ["--bits", "8", "--export", "qdq", "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["shipped"] == "final run" and s["qdq_test_accuracy"] is not None
    final = [json.loads(line) for line in (out / "evaluations.jsonl").read_text().splitlines()
             if json.loads(line)["kind"] == "final"]
    assert len(final) == 1 and "start" not in final[0]      # an unquantized candidate is no answer
    qdq = onnx.load(str(out / "compressed-qdq.onnx"))
    int8 = {t.name: numpy_helper.to_array(t) for t in qdq.graph.initializer if t.data_type == onnx.TensorProto.INT8}
    assert int8
    for name, alpha in s["alphas"].items():
        w = next(v for k, v in int8.items() if k.startswith(name))
        assert np.count_nonzero(w) / w.size == pytest.approx(alpha, abs=1.5 / w.size + 1e-3)   # sparsity kept


def test_the_python_api_searches_a_torch_module_and_resumes_into_the_same_out(tmp_path):
    """codesign.search with an nn.Module and a DataLoader: the inputs it saves into OUT are kept
    by a rerun (which replays every evaluation), and another module is refused there."""
    import codesign
    from sklearn.datasets import load_digits
    torch.manual_seed(0)
    x, y = load_digits(return_X_y=True)
    data = torch.utils.data.TensorDataset(torch.tensor(x[:700], dtype=torch.float32).reshape(-1, 1, 8, 8) / 16,
                                          torch.tensor(y[:700]))
    loader = torch.utils.data.DataLoader(data, batch_size=128)

    def net():
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(),
                                   torch.nn.Linear(32, 10))
    model = net()
    options = dict(out=tmp_path / "api", max_drop=100.0, allocators="dp", validation=100,
                   train_epochs=0.2, final_epochs=0.2, probe_epochs=0.2)
    first = codesign.search(model, loader, **options)
    assert first.summary.constraint.met and (tmp_path / "api" / "compressed.onnx").exists()
    # a Result: the exported model's plan as layers and CSV, the verdict as totals (it reads back
    # from summary.json), the report rendered again elsewhere
    from codesign.loop.summary import SearchSummary
    from codesign.results import Result
    assert isinstance(first, Result) and first.layers == first.plan.layers
    saved = json.loads((tmp_path / "api" / "summary.json").read_text())
    assert SearchSummary.from_dict(saved) == first.totals and saved == first.to_dict()
    assert first.to_csv(tmp_path / "layers.csv").read_text().count("\n") == len(first.layers) + 1
    assert first.report(tmp_path / "again")["report.html"].exists()
    log = (tmp_path / "api" / "evaluations.jsonl").read_text()
    again = codesign.search(model, loader, **options)
    assert (tmp_path / "api" / "evaluations.jsonl").read_text() == log        # replayed, not recomputed
    assert again.summary["alphas"] == first.summary["alphas"]
    with pytest.raises(codesign.CodesignError, match="holds a run of another model"):
        codesign.search(net(), loader, **options)
    assert (tmp_path / "api" / "evaluations.jsonl").read_text() == log
