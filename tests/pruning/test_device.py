"""Devices (pruning.device): `auto` takes a GPU when torch sees one, `cuda` without one is one
error before any work, and a run on the CPU is the same bit for bit whether or not it names the
device. Where torch sees a GPU, a prune and a search there match the CPU's within tolerance."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from onnx import numpy_helper

from pruning.data import load_dataset
from pruning.device import resolve_device
from pruning.errors import PruningError
from pruning.models import builtin_onnx
from pruning.pipeline import run_job
from pruning.prune_job import PruneJob
from pruning.train import TrainContext

CUDA = torch.cuda.is_available()
needs_no_gpu = pytest.mark.skipif(CUDA, reason="torch sees a GPU here: 'cuda' is not refused")
needs_gpu = pytest.mark.skipif(not CUDA, reason="no CUDA device: the GPU path is checked where torch sees one")


@pytest.fixture(scope="module")
def digits():
    torch.set_num_threads(1)
    return load_dataset("digits", limit=300, test_limit=100)


def _job(data, device=None, **settings):
    """A short magnitude prune of an MLP built for `data` (ADMM, ASL, distillation by `settings`)."""
    options = {"model": builtin_onnx("lenet300", data.input_shape, 10, 0), "data": data.name, "alpha": 0.5,
               "epochs": 0.3, "batch_size": 50, "method": "magnitude", **settings}
    return PruneJob(**options) if device is None else PruneJob(**options, device=device)


def _weights(result) -> dict[str, bytes]:
    return {t.name: numpy_helper.to_array(t).tobytes() for t in result.onnx_model.graph.initializer}


def _unlabeled(data):
    return dataclasses.replace(data, train_y=None, test_y=None, num_classes=0)


def test_auto_takes_cuda_when_torch_sees_a_gpu_else_the_cpu():
    assert resolve_device("auto").type == ("cuda" if CUDA else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")      # resolved once, kept
    assert TrainContext(data=None, device="cpu").device == torch.device("cpu")


def test_an_unknown_device_is_refused_naming_the_choices():
    for make in (lambda: resolve_device("gpu"), lambda: PruneJob("lenet5", device="gpu")):
        with pytest.raises(PruningError, match="not one of auto, cpu, cuda"):
            make()


@needs_no_gpu
def test_cuda_without_a_gpu_is_one_error_naming_the_fix_before_any_work(tmp_path, capsys):
    with pytest.raises(PruningError, match=r"device 'cuda': .*device cpu or auto") as caught:
        resolve_device("cuda")
    assert "\n" not in str(caught.value)
    with pytest.raises(PruningError, match="device 'cuda'"):
        TrainContext(data=None, device="cuda")
    import codesign
    from codesign.cli import main
    for command in (["prune", "lenet300", "--alpha", "0.5"], ["search", "lenet5"]):
        out = tmp_path / command[0]
        assert main(command + ["--data", "digits", "--device", "cuda", "--quiet", "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "device 'cuda'" in err[0] and "--device" in err[0], err
        assert not out.exists()
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    for api in (codesign.prune, codesign.search):        # an nn.Module: nothing saved into out
        with pytest.raises(PruningError, match="device 'cuda'"):
            api(module, "digits", alpha=0.5, out=tmp_path / "api", device="cuda") if api is codesign.prune \
                else api(module, "digits", out=tmp_path / "api", device="cuda")
        assert not (tmp_path / "api").exists()
    with pytest.raises(codesign.CodesignError, match="device='gpu' is not one of auto, cpu, cuda"):
        codesign.prune(module, "digits", alpha=0.5, device="gpu")


def test_cuda_with_ray_is_refused_before_any_work(tmp_path, capsys):
    """Ray's evaluation tasks ask for no GPU, so Ray hides the GPUs from them."""
    from codesign.cli import main
    out = tmp_path / "never"
    assert main(["search", "lenet5", "--data", "digits", "--device", "cuda", "--executor", "ray", "--quiet",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--device auto" in err[0] and "--executor local" in err[0], err
    assert not out.exists()
    import codesign
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    with pytest.raises(codesign.CodesignError, match="Ray hides GPUs"):     # before model.onnx is saved
        codesign.search(module, "digits", out=out, device="cuda", executor="ray")
    assert not out.exists()


@pytest.mark.parametrize("settings", [{}, {"method": "admm", "method_options": {"update_every": 2.0,
                                                                                 "update_unit": "steps"}},
                                      {"method": "asl"}])
def test_a_prune_on_the_cpu_is_the_same_bit_for_bit_with_device_cpu_or_without(digits, settings):
    """The device is not in the fingerprint either: a run folder resumes on another device."""
    default = run_job(_job(digits, **settings), data=digits)
    named = run_job(_job(digits, device="cpu", **settings), data=digits)
    assert _weights(default) == _weights(named)
    assert default.result.accuracy == named.result.accuracy
    assert _job(digits, device="cpu").fingerprint() == _job(digits).fingerprint()


def test_distillation_on_the_cpu_is_the_same_bit_for_bit_with_device_cpu_or_without(digits):
    data = _unlabeled(digits)
    default = run_job(_job(data, task="distill"), data=data)
    named = run_job(_job(data, task="distill", device="cpu"), data=data)
    assert default.task == "distill" and _weights(default) == _weights(named)


@needs_gpu
@pytest.mark.parametrize("settings", [{}, {"method": "admm"}, {"method": "asl"}, {"method": "ltp"},
                                      {"method": "agp"}, {"method": "progressive"}])
def test_a_prune_on_the_gpu_matches_the_cpu_within_tolerance(digits, settings):
    """Every method on cuda: the same kept counts (magnitude's exact targets), accuracy within a
    few points, and the exported model checked in onnxruntime (run_job's verify)."""
    on_cpu = run_job(_job(digits, device="cpu", **settings), data=digits)
    on_gpu = run_job(_job(digits, device="cuda", **settings), data=digits)
    assert {m.device.type for m in on_gpu.result.masks.values()} == {"cuda"}
    assert on_gpu.verify_max_diff <= 1e-4
    assert abs(on_gpu.result.accuracy - on_cpu.result.accuracy) <= 0.1
    if not settings:
        assert [l.kept for l in on_gpu.result.layers] == [l.kept for l in on_cpu.result.layers]


@needs_gpu
def test_distillation_on_the_gpu_matches_the_cpu_within_tolerance(digits):
    data = _unlabeled(digits)
    on_cpu = run_job(_job(data, task="distill", device="cpu"), data=data)
    on_gpu = run_job(_job(data, task="distill", device="cuda"), data=data)
    assert abs(on_gpu.result.accuracy - on_cpu.result.accuracy) <= 0.1


@needs_gpu
def test_a_search_on_the_gpu_matches_the_cpu_within_tolerance(tmp_path):
    import json

    from codesign.cli import main
    args = ["search", "lenet5", "--data", "digits", "--allocator", "dp", "--train-limit", "600",
            "--test-limit", "300", "--validation", "200", "--pretrain-epochs", "2", "--train-epochs", "0.3",
            "--final-epochs", "0.3", "--max-drop", "100", "--patterns", "unstructured,2:4", "--quiet"]
    summaries = {}
    for device in ("cpu", "cuda"):
        assert main(args + ["--device", device, "--out", str(tmp_path / device)]) == 0
        summaries[device] = json.loads((tmp_path / device / "summary.json").read_text())
    cpu, gpu = summaries["cpu"], summaries["cuda"]
    assert gpu["constraint"]["met"]
    assert abs(gpu["onnxruntime_test_accuracy"] - cpu["onnxruntime_test_accuracy"]) <= 0.1
    assert np.isfinite(gpu["onnxruntime_max_abs_diff"]) and gpu["onnxruntime_max_abs_diff"] <= 1e-4
