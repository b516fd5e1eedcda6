import json
import re

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from codesign.cli import main
from pruning import train as train_module

ARGS = ["lenet300", "--data", "digits", "--train-limit", "500", "--test-limit", "200", "--alpha", "0.1",
        "--bits", "fc=3", "--epochs", "2", "--pretrain-epochs", "2", "--batch-size", "50",
        "--admm-update-every", "4", "--admm-update-unit", "steps", "--quiet"]


ORIGINAL_REPORT = train_module.TrainContext.report


def _run(out, monkeypatch=None, interrupt_phase=None, seen=None):
    if monkeypatch is not None:
        original = ORIGINAL_REPORT

        def report(self, phase, step, total, message=""):
            if seen is not None:
                seen.add(phase)
            if phase == interrupt_phase and step >= 3:
                raise KeyboardInterrupt
            return original(self, phase, step, total, message)
        monkeypatch.setattr(train_module.TrainContext, "report", report)
    return main(["prune"] + ARGS + ["--out", str(out)])


def test_prune_writes_model_table_alphas_and_resumes(tmp_path, monkeypatch, capsys):
    reference = tmp_path / "uninterrupted"
    assert _run(reference) == 0
    table = capsys.readouterr().out
    assert "fc1.weight" in table and "samples, 95% Wilson intervals): before" in table
    before = re.search(r"before (\d+\.\d+)% \[(\d+\.\d), (\d+\.\d)\]", table)
    assert before and float(before[2]) <= float(before[1]) <= float(before[3])

    run = tmp_path / "interrupted"
    assert _run(run, monkeypatch, interrupt_phase="retrain-prune") == 130
    seen: set[str] = set()
    assert _run(run, monkeypatch, seen=seen) == 0
    assert "pretrain" not in seen and "admm-prune" not in seen     # finished phases were loaded
    assert "retrain-prune" in seen
    assert "resuming" in capsys.readouterr().err

    a = {t.name: numpy_helper.to_array(t) for t in onnx.load(reference / "model.onnx").graph.initializer}
    b = {t.name: numpy_helper.to_array(t) for t in onnx.load(run / "model.onnx").graph.initializer}
    assert all(np.allclose(a[k], b[k], atol=1e-6) for k in a)       # resume = uninterrupted run

    summary = json.loads((run / "layers.json").read_text())
    fc1 = next(r for r in summary["layers"] if r["name"] == "fc1.weight")
    assert fc1["kept"] == round(0.1 * fc1["weights"]) and fc1["bits"] == 3
    assert int((b["fc1.weight"] != 0).sum()) == fc1["kept"]
    assert len(np.unique(b["fc1.weight"][b["fc1.weight"] != 0])) <= 8
    alphas = json.loads((run / "sparsity.json").read_text())["alphas"]
    assert alphas["fc1.weight"] == pytest.approx(0.1)
    assert (run / "layers.csv").read_text().startswith("name,pattern,weights,kept")


def test_prune_user_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "plan.json"
    bad.write_text('{"alphas": {"nope.weight": 0.5}}')
    code = main(["prune", "lenet300", "--data", "digits", "--sparsity", str(bad), "--epochs", "0.1",
                 "--pretrain-epochs", "0", "--no-progress", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "nope.weight" in err and "fc1.weight" in err
    code = main(["prune", "lenet5", "--data", "cifar", "--alpha", "0.5", "--out", str(tmp_path / "o2")])
    assert code == 2 and "fashion-mnist" in capsys.readouterr().err


def _one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


@pytest.mark.parametrize("flag,value", [("--epochs", "nan"), ("--epochs", "inf"), ("--epochs", "-1"),
                                        ("--pretrain-epochs", "nan"), ("--lr", "nan"), ("--lr", "inf"),
                                        ("--lr", "-0.1"), ("--lr", "0"), ("--batch-size", "0"),
                                        ("--seed", "-1"), ("--limit", "0"), ("--test-limit", "-3")])
def test_bad_training_numbers_are_one_line_before_any_work(tmp_path, capsys, flag, value):
    out = tmp_path / "o"
    err = _one_line_error(capsys, ["prune", "lenet300", "--data", "digits", "--alpha", "0.5", flag, value,
                                   "--no-progress", "--out", str(out)])
    assert flag.lstrip("-") in err and value in err and not out.exists()


def test_bad_data_files_are_one_line(tmp_path, capsys):
    good = dict(x_train=np.zeros((40, 4, 4), np.uint8), y_train=np.arange(40) % 10,
                x_test=np.zeros((10, 4, 4), np.uint8), y_test=np.arange(10))
    stray = dict(good, y_train=np.where(np.arange(40) == 3, 250, np.arange(40) % 10))
    nan = dict(good, x_test=np.full((10, 4, 4), np.nan))
    for arrays, expected in ((stray, "labels must be 0..K-1"), (nan, "NaN")):
        np.savez(tmp_path / "d.npz", **arrays)
        err = _one_line_error(capsys, ["prune", "lenet5", "--data", str(tmp_path / "d.npz"), "--alpha", "0.5",
                                       "--no-progress", "--out", str(tmp_path / "o")])
        assert expected in err
    np.savez(tmp_path / "d.npz", **good)
    data = bytearray((tmp_path / "d.npz").read_bytes())
    (tmp_path / "d.npz").write_bytes(bytes(data[: len(data) // 2]))
    assert "d.npz" in _one_line_error(capsys, ["prune", "lenet5", "--data", str(tmp_path / "d.npz"),
                                               "--alpha", "0.5", "--out", str(tmp_path / "o")])


def _weights(path):
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}


def test_prune_to_a_pattern_holds_it_in_the_exported_model(tmp_path):
    out = tmp_path / "nm"
    assert main(["prune", "lenet5", "--data", "digits", "--method", "admm", "--pattern", "2:4", "--alpha", "0.5",
                 "--epochs", "0.3", "--pretrain-epochs", "1", "--no-progress", "--out", str(out)]) == 0
    w = _weights(out / "model.onnx")
    for name in ("conv2.weight", "fc1.weight"):
        rows = w[name].reshape(w[name].shape[0], -1)
        full = rows[:, : rows.shape[1] // 4 * 4].reshape(rows.shape[0], -1, 4)
        assert (full != 0).sum(axis=2).max() <= 2, name
    out = tmp_path / "channel"
    assert main(["prune", "lenet5", "--data", "digits", "--pattern", "channel", "--alpha", "0.5",
                 "--epochs", "0.3", "--pretrain-epochs", "1", "--no-progress", "--out", str(out)]) == 0
    w = _weights(out / "model.onnx")
    rows = w["conv2.weight"].reshape(w["conv2.weight"].shape[0], -1)
    kept = (rows != 0).any(axis=1)
    assert kept.sum() == 25 and np.all((rows[kept] != 0).all(axis=1))   # whole output channels
    assert np.count_nonzero(w["fc2.weight"]) == w["fc2.weight"].size       # the classifier stays dense


def test_qdq_export_holds_int8_weights_that_onnxruntime_runs(tmp_path, capsys):
    out = tmp_path / "q"
    assert main(["prune", "lenet5", "--data", "digits", "--alpha", "0.2", "--bits", "8", "--export", "qdq",
                 "--epochs", "0.5", "--pretrain-epochs", "1", "--no-progress", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "int8 QDQ model: onnxruntime" in printed
    model = onnx.load(str(out / "model-qdq.onnx"))
    ints = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8}
    assert {"conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight"} <= set(ints)
    assert sum(n.op_type == "DequantizeLinear" for n in model.graph.node) >= 4
    for name, k in ints.items():
        if name.endswith(".weight"):
            assert np.count_nonzero(k) / k.size == pytest.approx(0.2, abs=2 / k.size + 1e-3)
    summary = json.loads((out / "layers.json").read_text())
    assert summary["qdq_accuracy"] == pytest.approx(summary["onnxruntime_accuracy"], abs=0.02)


def test_a_busy_out_is_refused(tmp_path, capsys):
    from codesign.runlock import run_lock
    with run_lock(tmp_path / "busy", "codesign prune"):
        code = main(["prune", "lenet5", "--data", "digits", "--alpha", "0.5", "--epochs", "0.1",
                     "--pretrain-epochs", "0", "--no-progress", "--out", str(tmp_path / "busy")])
    assert code == 2 and "is in use by another codesign prune run" in capsys.readouterr().err


def test_a_built_in_name_in_any_case_prunes_as_inspect_reads_it(tmp_path, capsys):
    """`codesign prune LeNet5` and `codesign inspect LeNet5` agree (pruning.models.builtin_name)."""
    out = tmp_path / "o"
    assert main(["prune", "LeNet5", "--data", "digits", "--train-limit", "100", "--test-limit", "50",
                 "--alpha", "0.5", "--epochs", "0.05", "--pretrain-epochs", "0", "--quiet", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "conv1.weight" in table and (out / "model.onnx").exists()
