"""Every method end to end on scikit-learn digits (seconds each): registered, same result table,
targets met the way each method promises, masks held through its training loops."""
import copy
import dataclasses

import pytest
import torch

from pruning.protocol import Targets, prunable_weights
from pruning.projections import keep_count
from pruning.support import exclude, layer_macs, shrink_to_budget
from pruning.methods import get_backend
from pruning.models import build_model
from pruning.train import TrainContext, evaluate

METHODS = ("magnitude", "agp", "progressive", "ltp", "asl")
ALPHAS = {"conv2.weight": 0.2, "fc1.weight": 0.1, "fc2.weight": 0.5}


@pytest.fixture
def dense(pretrained):
    return pretrained("lenet5", limit=None, test_limit=None, epochs=6.0, batch_size=64)


def _ctx(data, epochs=2.0):
    return TrainContext(data, epochs=epochs, batch_size=64, lr=1e-3)


@pytest.mark.parametrize("method", METHODS)
def test_method_end_to_end_on_digits(dense, method):
    model, data = dense
    net = copy.deepcopy(model)
    result = get_backend(method).compress(net, Targets(alphas=ALPHAS), _ctx(data))
    assert result.model is net                                # trained in place, like ADMM
    assert result.method == method and result.accuracy_dense == evaluate(model, data)
    weights = prunable_weights(result.model)
    assert [l.name for l in result.layers] == list(weights)
    for layer in result.layers:
        mask = result.masks.get(layer.name)
        w = weights[layer.name].detach()
        if mask is None:
            assert layer.kept == layer.weights
            continue
        assert layer.kept == int(mask.sum())
        assert int((w[~mask] != 0).sum()) == 0           # the mask held through training
        assert layer.alpha_target == pytest.approx(ALPHAS.get(layer.name, 1.0))
    budget = sum(keep_count(weights[n].numel(), a) for n, a in ALPHAS.items())
    kept = sum(int(result.masks[n].sum()) for n in ALPHAS if n in result.masks)
    if method in ("magnitude", "agp", "progressive"):        # exact per-layer alphas
        assert all(int(result.masks[n].sum()) == keep_count(weights[n].numel(), a)
                   for n, a in ALPHAS.items())
    else:                                                  # learned allocation, total budget
        assert kept <= budget + len(ALPHAS)
    assert result.accuracy > 0.5                           # chance is 0.1
    assert result.epochs_used == pytest.approx(2.0) and result.seconds > 0


def test_global_alpha_targets_work(dense):
    model, data = dense
    result = get_backend("agp", mode="global").compress(copy.deepcopy(model), Targets(global_alpha=0.1), _ctx(data, 1.0))
    total = sum(l.weights for l in result.layers)
    assert sum(l.kept for l in result.layers) == pytest.approx(0.1 * total, rel=0.01)


def test_ltp_lambda_controls_sparsity(dense):
    model, data = dense
    ratios = [get_backend("ltp", lam_n=lam, budget="free", prune_share=1.0)
              .compress(copy.deepcopy(model), Targets(global_alpha=0.5), _ctx(data, 3.0)).overall_ratio
              for lam in (0.0, 10.0)]
    # lambda 10 prunes far past what the loss alone does. Without the L0 term the thresholds only
    # drift with the loss, and where they settle is chaotic: 1.00x with torch's AVX2 kernels,
    # 3.26x with its AVX-512 ones (lambda 10: 7.28x / 7.23x), so no bound on ratios[0] alone
    assert ratios[1] > 5 and ratios[1] > 1.5 * ratios[0]


def test_asl_mac_budget_term_runs_and_reports_both_budgets(dense):
    model, data = dense
    result = get_backend("asl", lam_f=10.0, loss="hinge").compress(
        copy.deepcopy(model), Targets(alphas=ALPHAS), _ctx(data))
    record = next(h for h in result.history if h["phase"] == "asl-budget")
    assert 0 < record["mac_budget"] < 1 and 0 < record["param_budget"] < 1
    assert "conv1.weight" not in result.masks              # 500 weights < min_weights: dense


def test_layer_macs_of_lenet5_on_28x28():
    model = build_model("lenet5", (1, 28, 28), 10)
    macs = layer_macs(model, torch.zeros(1, 1, 28, 28))
    assert macs == {"conv1.weight": 24 * 24 * 20 * 25, "conv2.weight": 8 * 8 * 50 * 500,
                    "fc1.weight": 400_000, "fc2.weight": 5_000}


def test_shrink_to_budget_cuts_every_layer_by_the_same_factor():
    scores = {"a": torch.arange(100.0), "b": -torch.arange(10.0)}       # b's scores all lower
    masks = {"a": scores["a"] >= 50, "b": torch.ones(10, dtype=torch.bool)}
    out = shrink_to_budget(scores, masks, 30)
    assert int(out["a"].sum()) == 25 and int(out["b"].sum()) == 5
    assert out["a"][75:].all() and out["b"][:5].all() and not (out["a"] & ~masks["a"]).any()
    assert shrink_to_budget(scores, masks, 100) == masks


def test_exclusions_first_depthwise_small_and_named():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(8, 8, 3, groups=8),
                                torch.nn.Conv2d(8, 16, 1), torch.nn.Flatten(), torch.nn.Linear(16, 4))
    alphas = {n: 0.5 for n in prunable_weights(model)}
    assert list(exclude(model, alphas, first=True, depthwise=True)) == ["2.weight", "4.weight"]
    assert list(exclude(model, alphas, names=["4.weight"], min_weights=100)) == ["0.weight", "2.weight"]


@pytest.mark.parametrize("method", ["agp", "ltp"])
def test_rerun_with_the_same_checkpoint_dir_resumes_to_the_same_model(dense, method, tmp_path):
    model, data = dense
    ctx = dataclasses.replace(_ctx(data, 1.0), checkpoint_dir=tmp_path)
    first = get_backend(method).compress(copy.deepcopy(model), Targets(alphas=ALPHAS), ctx)
    again = get_backend(method).compress(copy.deepcopy(model), Targets(alphas=ALPHAS), ctx)
    assert all(torch.equal(first.masks[n], again.masks[n]) for n in first.masks)
    w1, w2 = prunable_weights(first.model), prunable_weights(again.model)
    assert all(torch.equal(w1[n], w2[n]) for n in w1)


def test_layer_macs_through_the_onnx_bridge_and_transposed_convs():
    from pruning.onnx.bridge import from_onnx
    from pruning.onnx.torch_export import export_torch
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 6, 5), nn.MaxPool2d(2), nn.Conv2d(6, 8, 3, stride=2),
                          nn.Flatten(), nn.Linear(8 * 5 * 5, 10))
    example = torch.zeros(1, 1, 28, 28)
    via_onnx = layer_macs(from_onnx(export_torch(model, (1, 28, 28))), example)
    assert via_onnx == layer_macs(model, example) == {
        "0.weight": 24 * 24 * 6 * 25, "2.weight": 5 * 5 * 8 * 54, "4.weight": 2000}
    up = torch.nn.Sequential(torch.nn.ConvTranspose2d(4, 6, 3, stride=2))
    assert layer_macs(up, torch.zeros(1, 4, 5, 5)) == {"0.weight": 5 * 5 * 4 * 6 * 9}


def test_ltp_trail_keeps_the_most_accurate_checkpoint_within_budget(dense):
    model, data = dense
    result = get_backend("ltp", lam_n=3.0).compress(copy.deepcopy(model), Targets(global_alpha=0.99), _ctx(data, 2.0))
    trail = [h for h in result.history if h["phase"] == "ltp-trail"]
    select = next(h for h in result.history if h["phase"] == "ltp-select")
    best = max(range(len(trail)), key=lambda i: (trail[i]["val_accuracy"], -i))
    assert select["trail_index"] == best and not select["cut_to_budget"]
    assert select["kept_learned"] == trail[best]["kept"]          # that checkpoint's masks
    assert sum(int(m.sum()) for m in result.masks.values()) == trail[best]["kept"]
