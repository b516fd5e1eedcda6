"""One-shot methods (issue 20 item 1): SparseGPT, Wanda and one-shot magnitude checked against
the papers' algorithms on small matrices, the sequential layer-by-layer driver against a
hand-written replay, and `codesign prune` with each method on LeNet-5 and a dynamo GPT, the
exported ONNX run by onnxruntime."""
import contextlib
import copy
import io
import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn

from codesign.cli import main
from pruning.data import Dataset
from pruning.methods import get_backend
from pruning.methods import oneshot as o
from pruning.methods.options import SparseGptOptions
from pruning.onnx.bridge import from_onnx
from pruning.onnx.qdq import int8_weights
from pruning.patterns import Pattern, expected_units, kept_units, pattern_violations
from pruning.projections import pattern_mask
from pruning.protocol import Targets, prunable_weights
from pruning.quantize import on_grid
from pruning.train import TrainContext

torch.set_num_threads(1)
PATTERNS = [Pattern(), Pattern("nm", n=2, m=4), Pattern("block", k=4, l=4), Pattern("channel")]


def _correlated(seed, out=32, d=64, tokens=512):
    """Weights and inputs whose columns are correlated and of unequal scale (as activations are)."""
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(d, d, generator=g, dtype=torch.float64)
    scale = torch.exp(torch.randn(d, generator=g, dtype=torch.float64))
    x = (torch.randn(tokens, d, generator=g, dtype=torch.float64) @ mix) * scale
    return torch.randn(out, d, generator=g, dtype=torch.float64), x


def _inputs(x):
    return o.LayerInputs((2 * x.T @ x / len(x))[None], (x * x).sum(0)[None], len(x))


def _error(w, pruned, x):
    return float(((w - pruned) @ x.T).norm())


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("pattern", PATTERNS, ids=str)
def test_sparsegpt_reconstructs_better_than_magnitude_and_wanda(seed, pattern):
    w, x = _correlated(seed)
    inputs = _inputs(x)
    magnitude = w * pattern_mask(w, 0.5, pattern)
    wanda = w * o._wanda_mask(w, 0, 0.5, pattern, inputs, "output")
    sparse = w.clone()
    kept, _ = o._sparsegpt_layer(sparse, 0, 0.5, pattern, inputs, None, SparseGptOptions(blocksize=16))
    assert int(kept.sum()) == int(pattern_mask(w, 0.5, pattern).sum())            # the same budget
    assert not pattern_violations(kept, pattern, 0) and not sparse[~kept].any()
    assert _error(w, sparse, x) < _error(w, wanda, x) < _error(w, magnitude, x)


def test_wanda_is_magnitude_when_every_input_column_has_the_same_norm():
    w, x = _correlated(3)
    x = x / x.norm(dim=0)                                   # equal column norms, still correlated
    inputs = _inputs(x)
    for pattern in PATTERNS:
        assert torch.equal(o._wanda_mask(w, 0, 0.3 if pattern.kind != "nm" else 0.5, pattern, inputs, "layer"),
                           pattern_mask(w, 0.3 if pattern.kind != "nm" else 0.5, pattern))
    per_row = o._wanda_mask(w, 0, 0.3, Pattern(), inputs, "output")
    assert torch.equal(per_row, o.row_balanced_mask(w.abs(), 0.3))
    # per output row: every row keeps its share (19 or 20 of 64), the layer exactly its alpha
    assert set(per_row.sum(1).tolist()) == {19, 20} and int(per_row.sum()) == round(0.3 * w.numel())
    assert not torch.equal(per_row, pattern_mask(w, 0.3, Pattern()))


@pytest.mark.parametrize("n,m", [(2, 4), (4, 8), (1, 4)])
def test_nm_masks_hold_with_a_partial_group_and_a_block_size_off_the_group(n, m):
    w, x = _correlated(4, out=12, d=30)                    # 30 columns: a partial last group
    inputs, pattern = _inputs(x), Pattern("nm", n=n, m=m)
    for kept in (o._wanda_mask(w, 0, n / m, pattern, inputs, "output"),
                 o._sparsegpt_layer(w.clone(), 0, n / m, pattern, inputs, None, SparseGptOptions(blocksize=6))[0]):
        assert pattern_violations(kept, pattern, 0) == 0
        assert kept_units(kept, pattern, 0) == expected_units(tuple(w.shape), n / m, pattern, 0)


def test_joint_quantization_keeps_weights_on_the_grid_and_beats_rounding():
    w, x = _correlated(5)
    inputs = _inputs(x)
    joint = w.clone()
    kept, interval = o._sparsegpt_layer(joint, 0, 0.5, Pattern("nm", n=2, m=4), inputs, 4, SparseGptOptions())
    assert on_grid(joint, interval, 4, kept) and not joint[~kept].any()
    assert joint[kept].abs().max() <= 8 * interval * (1 + 1e-9)          # 4 bits: levels +-1..+-8
    rounded = w * pattern_mask(w, 0.5, Pattern("nm", n=2, m=4))
    o._round_to_grid(rounded, rounded != 0, 4)
    assert _error(w, joint, x) < 0.8 * _error(w, rounded, x)


def test_spread_adds_up_to_the_total_in_proportion():
    assert o.spread(10, [1, 1, 1]) == [3, 4, 3] and sum(o.spread(997, [128] * 7 + [3])) == 997
    assert o.spread(0, [5, 5]) == [0, 0]


class _Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc1, self.fc2 = nn.Linear(12, 24), nn.Linear(24, 5)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


def _unlabeled(x, net, n_test=16):
    """Unlabeled samples, judged by agreement with the dense `net` (distillation)."""
    from pruning.tasks import make_task
    data = Dataset(x[:-n_test], None, x[-n_test:], None, tuple(x.shape[1:]), 0, "calibration")
    return Dataset(*[getattr(data, f) for f in ("train_x", "train_y", "test_x", "test_y", "input_shape",
                                                 "num_classes", "name")], make_task("distill", net, data))


def test_each_layer_is_compressed_from_the_outputs_of_the_compressed_layers_before_it():
    net = _Mlp()
    data = _unlabeled(np.random.default_rng(0).normal(size=(80, 12)).astype(np.float32), net)
    replay = copy.deepcopy(net)
    result = get_backend("sparsegpt", calibration=40).compress(
        net, Targets(alphas={"fc1.weight": 0.5, "fc2.weight": 0.5}), TrainContext(data))
    assert result.history[0]["layers"] == {"fc1.weight": "sparsegpt", "fc2.weight": "sparsegpt"}
    assert result.history[0]["calibration_samples"] == 40 and result.epochs_used == 0
    # the replay: the same samples, fc1 from x, then fc2 from the pruned fc1's outputs
    batches, _ = o.calibration_batches(replay, data, 40, 0)
    xs = torch.cat(batches).double()
    options = SparseGptOptions()
    with torch.no_grad():
        o._sparsegpt_layer(replay.fc1.weight, 0, 0.5, Pattern(), _inputs(xs), None, options)
        hidden = F.relu(replay.fc1(xs.float())).double()
        o._sparsegpt_layer(replay.fc2.weight, 0, 0.5, Pattern(), _inputs(hidden), None, options)
    for name in ("fc1", "fc2"):
        torch.testing.assert_close(getattr(net, name).weight, getattr(replay, name).weight, rtol=1e-5, atol=1e-6)


class _TwoHeads(nn.Module):
    """Two layers read the same input (as attention's q, k and v do), a third reads their sum."""
    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.a, self.b, self.c = nn.Linear(10, 16), nn.Linear(10, 16), nn.Linear(16, 4)

    def forward(self, x):
        return self.c(F.relu(self.a(x)) * self.b(x))


def test_layers_that_read_the_same_input_share_one_capture():
    net = _TwoHeads()
    data = _unlabeled(np.random.default_rng(2).normal(size=(60, 10)).astype(np.float32), net)
    batches, _ = o.calibration_batches(net, data, 32, 0)
    groups, reads, unusable = o.survey(net, ["a.weight", "b.weight", "c.weight"],
                                       {"a.weight": 0, "b.weight": 0, "c.weight": 0}, batches[0])
    assert groups == [["a.weight", "b.weight"], ["c.weight"]] and not unusable
    replay = copy.deepcopy(net)
    get_backend("wanda", calibration=32).compress(net, Targets(alphas={"a.weight": 0.5, "b.weight": 0.5,
                                                                       "c.weight": 0.5}), TrainContext(data))
    xs = torch.cat(batches)
    with torch.no_grad():
        for layer in (replay.a, replay.b):
            layer.weight.mul_(o._wanda_mask(layer.weight, 0, 0.5, Pattern(), _inputs(xs.double()), "output"))
        hidden = (F.relu(replay.a(xs)) * replay.b(xs)).double()
        replay.c.weight.mul_(o._wanda_mask(replay.c.weight, 0, 0.5, Pattern(), _inputs(hidden), "output"))
    for name in "abc":
        assert torch.equal(getattr(net, name).weight, getattr(replay, name).weight), name


@pytest.mark.parametrize("conv,shape", [(nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), (3, 4, 9, 9)),
                                        (nn.Conv1d(3, 6, 3, padding="same", dilation=2, groups=3), (3, 3, 11))],
                         ids=["conv2d-groups", "conv1d-depthwise-same"])
def test_a_convolutions_inputs_are_its_im2col_per_group(conv, shape):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    weight = conv.weight
    inputs = o.layer_inputs(conv, weight, 0, [x], 1, hessian=True)
    groups, d = conv.groups, weight[0].numel()
    assert inputs.hessian.shape == (groups, d, d)
    with torch.no_grad():                      # the rows of each group times X^T give the conv's outputs
        y = conv(x) - conv.bias.view(1, -1, *([1] * (x.dim() - 2)))
    for g in range(groups):
        rows = weight[g * (6 // groups):(g + 1) * (6 // groups)].reshape(6 // groups, -1).double()
        h = inputs.hessian[g] * inputs.tokens / 2                       # X^T X of this group
        yg = y[:, g * (6 // groups):(g + 1) * (6 // groups)].movedim(1, -1).reshape(-1, 6 // groups).double()
        torch.testing.assert_close(rows @ h @ rows.T, yg.T @ yg, rtol=1e-5, atol=1e-5)


def test_a_weight_no_product_reads_whole_is_pruned_by_magnitude_and_said_so():
    net = nn.Sequential(nn.ConvTranspose2d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 7 * 7, 3))
    x = np.random.default_rng(1).normal(size=(40, 2, 5, 5)).astype(np.float32)
    weights = prunable_weights(net)
    before = {n: w.detach().clone() for n, w in weights.items()}
    result = get_backend("wanda", calibration=16).compress(
        net, Targets(alphas={n: 0.5 for n in weights}), TrainContext(_unlabeled(x, net)))
    how = result.history[0]["layers"]
    assert how["0.weight"].startswith("magnitude (conv_transpose2d") and how["3.weight"] == "wanda"
    assert list(how) == ["0.weight", "3.weight"]                       # magnitude first: no inputs needed
    assert torch.equal(result.masks["0.weight"], pattern_mask(before["0.weight"], 0.5))


def test_the_registry_lists_the_one_shot_methods_and_their_options_without_torch():
    code = ("import sys; from codesign.cli import main\n"
            "try:\n    main(['prune', '--method', 'sparsegpt', '--help'])\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "--calibration" in out and "--sparsegpt-blocksize" in out and "--sparsegpt-percdamp" in out
    assert "epoch budget is not used" in " ".join(out.split()) and out.strip().endswith("False")


@pytest.mark.parametrize("method", ["oneshot", "wanda", "sparsegpt"])
def test_prune_lenet5_one_shot_exports_what_onnxruntime_runs(method, tmp_path, capsys):
    out = tmp_path / "out"
    extra = ["--calibration", "64"] if method != "oneshot" else []
    assert main(["prune", "lenet5", "--data", "digits", "--method", method, "--alpha", "0.4", "--quiet",
                 "--out", str(out), *extra]) == 0
    totals = json.loads((out / "layers.json").read_text())
    assert totals["onnxruntime_max_diff"] < 1e-4 and totals["overall_ratio"] == pytest.approx(2.5, rel=0.01)
    assert totals["onnxruntime_accuracy"] == pytest.approx(totals["accuracy_after"], abs=0.01)
    assert totals["accuracy_after"] > 0.3                               # chance is 0.1


def test_sparsegpt_with_4_bits_exports_a_qdq_model(tmp_path):
    out = tmp_path / "out"
    assert main(["prune", "lenet5", "--data", "digits", "--method", "sparsegpt", "--alpha", "0.5", "--bits", "4",
                 "--export", "qdq", "--calibration", "64", "--quiet", "--out", str(out)]) == 0
    totals = json.loads((out / "layers.json").read_text())
    assert totals["qdq_max_diff"] < 1e-4 and totals["qdq_accuracy"] == pytest.approx(totals["accuracy_after"], abs=0.01)
    levels = int8_weights(onnx.load(out / "model-qdq.onnx"))
    assert levels and all(0 < np.abs(k).max() <= 8 for k in levels.values())        # a 4-bit grid in int8
    assert all(r["interval"] for r in totals["layers"])


@pytest.fixture(scope="module")
def gpt(tmp_path_factory):
    from zoo.any_models import export
    folder = tmp_path_factory.mktemp("gpt")
    with contextlib.redirect_stdout(io.StringIO()):
        onnx.save(export("gpt"), folder / "gpt.onnx")
    rng = np.random.default_rng(0)
    np.savez(folder / "tokens.npz", ids=(np.arange(12)[None] + rng.integers(0, 64, (120, 1))) % 64)
    return folder


@pytest.mark.parametrize("method", ["oneshot", "wanda", "sparsegpt"])
def test_prune_a_dynamo_gpt_2_of_4_one_shot_on_tokens(method, gpt, tmp_path):
    out = tmp_path / "out"
    extra = ["--calibration", "16"] if method != "oneshot" else []
    assert main(["prune", str(gpt / "gpt.onnx"), "--data", str(gpt / "tokens.npz"), "--task", "lm", "--method",
                 method, "--pattern", "2:4", "--quiet", "--out", str(out), *extra]) == 0
    totals = json.loads((out / "layers.json").read_text())
    assert totals["onnxruntime_accuracy"] == pytest.approx(totals["accuracy_after"], rel=1e-4)
    after = onnx.load(out / "model.onnx")
    stored = {t.name: numpy_helper.to_array(t) for t in after.graph.initializer}
    layouts = from_onnx(after).onnx_weight_layouts()
    pruned = [r["name"] for r in totals["layers"] if r["pattern"] == "2:4"]
    assert len(pruned) == 6
    for n in pruned:
        w = np.moveaxis(stored[n], layouts[n], 0).reshape(stored[n].shape[layouts[n]], -1)
        assert (np.count_nonzero(w.reshape(w.shape[0], -1, 4), axis=-1) <= 2).all(), n


def test_an_lstm_and_a_bidirectional_gru_prune_one_shot_with_distillation(tmp_path):
    """One direction's LSTM W and R are reconstructed (R from every step's hidden state); the
    bidirectional GRU's, read per direction, are pruned by magnitude, which the history says."""
    from pruning.pipeline import prepare, with_task
    from pruning.prune_job import PruneJob
    from zoo.export import ExportFailed, export
    try:
        path = str(export("lstm_gru", "legacy", 17))
    except ExportFailed as exc:
        pytest.skip(f"zoo export unavailable: {exc}")
    module, data = prepare(path, "synthetic", limit=120, test_limit=40)
    data = with_task(PruneJob(model=path, data="synthetic", task="distill"), module, data)
    weights = prunable_weights(module)
    result = get_backend("sparsegpt", calibration=32).compress(
        module, Targets(alphas={n: 0.5 for n in weights}), TrainContext(data))
    how = result.history[0]["layers"]
    assert {n for n, h in how.items() if h == "sparsegpt"} == {n for n in weights if "GRU" not in n}
    assert all(h.startswith("magnitude (matmul reads it sliced") for n, h in how.items() if "GRU" in n)
    assert 0.5 < result.accuracy < 1.0                       # agreement with the dense model
    assert main(["prune", path, "--data", "synthetic", "--task", "distill", "--method", "sparsegpt", "--alpha", "0.5",
                 "--train-limit", "120", "--test-limit", "40", "--quiet", "--out", str(tmp_path / "out")]) == 0
    totals = json.loads((tmp_path / "out" / "layers.json").read_text())
    assert totals["task"] == "distill" and totals["onnxruntime_max_diff"] < 1e-4
