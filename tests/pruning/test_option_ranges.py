"""Every numeric training setting and method option is range-checked where it enters (the CLI
flags and the Python API alike): one line naming it and its range, before any data is read,
anything pretrained or any file written."""
from __future__ import annotations

import contextlib
import dataclasses
import io
import time

import numpy as np
import pytest

import codesign
from codesign.cli import main
from codesign.errors import CodesignError
from codesign.loop.records import SearchError
from pruning.errors import PruningError
from pruning.methods import METHODS, make_options
from pruning.methods.options import _scalar_type
from pruning.ranges import LEARNING_RATE, TRAINING, Range

FLOAT32_MAX = float(np.finfo(np.float32).max)
PRUNE = ["prune", "lenet5", "--data", "digits", "--alpha", "0.5"]

# flag, value, extra flags: out of range, not finite, or of the wrong kind
BAD_FLAGS = [
    ("--lr", "1e39", []), ("--lr", "1e300", []), ("--lr", "-0.001", []), ("--lr", "nan", []),
    ("--lr", "inf", []), ("--lr", "11", []), ("--lr", "1e39", ["--method", "agp"]),
    ("--admm-retrain-lr", "1e39", []), ("--admm-retrain-lr", "0", []),
    ("--admm-w-step-lr", "1e300", ["--admm-w-step-optimizer", "sgd"]),
    ("--progressive-w-step-lr", "1e39", ["--method", "progressive"]),
    ("--epochs", "-1", []), ("--epochs", "1e6", []), ("--pretrain-epochs", "inf", []),
    ("--batch-size", "0", []), ("--seed", "-1", []), ("--threads", "0", []),
    ("--admm-rho", "0", []), ("--admm-rho", "nan", []), ("--admm-rho-growth", "0.5", []),
    ("--admm-retrain-share", "1", []), ("--admm-update-every", "0", []), ("--admm-w-step-clip", "0", []),
    ("--magnitude-cycles", "0", ["--method", "magnitude"]),
    ("--progressive-admm-iterations", "0", ["--method", "progressive"]),
    ("--agp-updates", "0", ["--method", "agp"]), ("--agp-exponent", "-3", ["--method", "agp"]),
    ("--agp-s-initial", "1", ["--method", "agp"]),
    ("--ltp-t0", "inf", ["--method", "ltp"]), ("--ltp-trail-points", "0", ["--method", "ltp"]),
    ("--ltp-prune-share", "0", ["--method", "ltp"]), ("--asl-lam-p", "-1", ["--method", "asl"]),
    ("--asl-finetune-share", "1", ["--method", "asl"]),
]


def _refused(argv) -> tuple[str, float]:
    """(the one error line, seconds) of a command that must exit 2 at once."""
    err = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    seconds = time.perf_counter() - start
    lines = err.getvalue().strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err.getvalue(), err.getvalue()
    return lines[0], seconds


@pytest.mark.parametrize("flag,value,extra", BAD_FLAGS)
def test_prune_refuses_a_setting_out_of_range_before_pretraining(tmp_path, flag, value, extra):
    out = tmp_path / "o"
    line, seconds = _refused(PRUNE + [flag, value, *extra, "--out", str(out)])
    assert line.startswith("codesign: error: ") and flag.lstrip("-") in line and "must be" in line  # no pretrain
    assert seconds < 2.5 and not out.exists()


@pytest.mark.parametrize("flag,value", [("--lr", "1e39"), ("--train-epochs", "nan"), ("--seed", "-1"),
                                        ("--admm-w-step-lr", "1e300"), ("--threads", "0")])
def test_search_refuses_a_setting_out_of_range_before_any_file(tmp_path, flag, value):
    out = tmp_path / "s"
    line, seconds = _refused(["search", "lenet5", "--data", "digits", "--quiet", "--out", str(out), flag, value])
    assert flag in line and "must be" in line
    assert seconds < 5 and not out.exists()


@pytest.mark.parametrize("settings", [
    dict(lr=1e39), dict(lr=1e300), dict(lr=float("nan")), dict(lr="0.1"), dict(epochs=-1.0),
    dict(batch_size=0), dict(batch_size=2.5), dict(seed=-1), dict(threads=0), dict(limit=True),
    dict(method_options={"w_step_lr": 1e300}), dict(method_options={"retrain_lr": 1e39}),
    dict(method_options={"rho": "x"}), dict(method_options={"rho": None}),
    dict(method_options={"mask_source": 1}), dict(method_options={"update_every": float("inf")}),
    dict(method="magnitude", method_options={"cycles": 2.5}), dict(method="agp", method_options={"updates": 0}),
    dict(method="asl", method_options={"ste": "yes"}), dict(method_options=[("rho", 1.0)]),
])
def test_the_api_raises_the_projects_error_before_any_work(tmp_path, settings):
    out = tmp_path / "o"
    start = time.perf_counter()
    with pytest.raises((PruningError, CodesignError)) as info:
        codesign.prune("lenet5", "digits", alpha=0.5, out=out, **settings)
    assert not isinstance(info.value, (TypeError, ValueError))
    assert time.perf_counter() - start < 2.5 and not out.exists()
    assert len(str(info.value).splitlines()) == 1


def test_the_search_api_checks_before_saving_a_module_and_its_data(tmp_path):
    import torch
    torch.set_num_threads(1)
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    data = torch.utils.data.TensorDataset(torch.zeros(30, 1, 4, 4), torch.arange(30) % 3)
    for bad in (dict(lr=1e39), dict(train_epochs=float("inf")), dict(method_options={"rho": -1.0})):
        with pytest.raises((SearchError, PruningError)):
            codesign.search(module, data, out=tmp_path / "s", **bad)
        assert not (tmp_path / "s").exists()


def test_every_numeric_option_has_a_range_holding_its_default():
    for name, m in METHODS.items():
        for f in dataclasses.fields(m.options):
            kind = _scalar_type(f.type, f.default)
            if kind in (int, float):
                allowed = f.metadata.get("range")
                assert isinstance(allowed, Range), (name, f.name)
                assert f.default is None or f.default in allowed, (name, f.name, f.default)
                assert allowed.whole == (kind is int), (name, f.name)
    make_options("admm", {"rho": 1, "retrain_lr": None})        # an int where a float goes; None: optional


def test_float32_max_is_only_a_floor_of_the_ranges():
    """Every float a range admits fits torch's float32 with room to spare (counts and seeds are
    whole numbers, never a tensor's value); learning rates end at 10."""
    ranges = list(TRAINING.values()) + [f.metadata["range"] for m in METHODS.values()
                                         for f in dataclasses.fields(m.options) if "range" in f.metadata]
    assert all(r.high < FLOAT32_MAX / 1e30 for r in ranges if not r.whole)
    lrs = [f.metadata["range"] for m in METHODS.values() for f in dataclasses.fields(m.options)
           if f.name.endswith("lr")] + [TRAINING["lr"]]
    assert all(r.high <= LEARNING_RATE.high == 10 for r in lrs) and 1e39 not in TRAINING["lr"]


def _help(capsys, *argv) -> str:
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_help_shows_the_ranges(capsys):
    assert "learning rate (range [1e-12, 10]; default 0.001)" in _help(capsys, "prune")
    text = _help(capsys, "prune", "--method", "admm")
    assert "--admm-w-step-lr W_STEP_LR learning rate of the ADMM W-step with sgd (range [1e-12, 10]" in text
    assert "(range [1, 1,000]; default 3)" in _help(capsys, "prune", "--method=magnitude")   # --magnitude-cycles
