"""Pruners in the user's own training loop (codesign.pruner, pruning.pruners): a plain torch loop
with AGP and with ADMM gives the masks the CLI backend gives at the same seed and settings (the
backend drives the same pruner object); finalize() feeds codesign.plan; the README's loop runs
as written."""
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import codesign
from codesign.plans import PlanError
from pruning.data import load_dataset
from pruning.errors import PruningError
from pruning.methods import get_backend
from pruning.protocol import Targets, prunable_weights
from pruning.train import TrainContext, _seed_for, channels_last

torch.set_num_threads(1)
BATCH, LR, SEED = 50, 1e-2, 0
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", limit=300, test_limit=100)


def cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 6, 3), nn.ReLU(), nn.Conv2d(6, 12, 3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(12 * 4 * 4, 10))


def plain_loop(model, data, p, phases):
    """A plain torch loop over the batches pruning.train's loop draws in each (phase, epochs):
    one Adam for the whole loop, cross-entropy plus the pruner's penalty, p.step() after each
    optimizer step."""
    x, y = channels_last(torch.from_numpy(data.train_x)), torch.from_numpy(data.train_y)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    for phase, epochs in phases:
        for epoch in range(epochs):
            order = torch.from_numpy(np.random.default_rng(_seed_for(SEED, phase, epoch)).permutation(len(x)))
            for b in range(0, len(x), BATCH):
                idx = order[b:b + BATCH]
                loss = nn.functional.cross_entropy(model(x[idx]), y[idx]) + p.penalty()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                p.step()
    return p.finalize()


def cli_masks(method, data, epochs, alpha, **options):
    model = cnn()
    targets = Targets(alphas={n: alpha for n in prunable_weights(model)})
    ctx = TrainContext(data, epochs=epochs, batch_size=BATCH, lr=LR, seed=SEED)
    return model, get_backend(method, **options).compress(model, targets, ctx).masks


def test_agp_in_a_plain_loop_gives_the_cli_backends_masks_and_weights(digits):
    steps = 2 * -(-len(digits.train_x) // BATCH)
    cli_model, expected = cli_masks("agp", digits, 2, 0.3, updates=4)
    model = cnn()
    masks = plain_loop(model, digits, codesign.pruner("agp", model, alpha=0.3, steps=steps, updates=4),
                       [("agp", 2)])
    assert masks.keys() == expected.keys() == prunable_weights(model).keys()
    for name, mask in masks.items():
        assert torch.equal(mask, expected[name]), name
        assert int(mask.sum()) == round(0.3 * mask.numel())
    # the kept weights trained alike: the backend's mask enforcement and the loop's p.step() agree
    for (name, w), w_cli in zip(prunable_weights(model).items(), prunable_weights(cli_model).values()):
        assert torch.equal(w, w_cli), name


def test_admm_in_a_plain_loop_gives_the_cli_backends_masks(digits):
    """The backend's ADMM phase is half the budget (retrain_share 0.5) with a fresh optimizer,
    then the hard prune; the loop's pruner hard-prunes at the same step."""
    steps = 2 * -(-len(digits.train_x) // BATCH)
    options = dict(update_every=3, update_unit="steps", rho=0.05)
    _, expected = cli_masks("admm", digits, 2, 0.25, **options)
    model = cnn()
    p = codesign.pruner("admm", model, alpha=0.25, steps=steps, **options)
    assert p.penalty().item() > 0                                # rho/2 ||W - Z + U||^2 before the prune
    masks = plain_loop(model, digits, p, [("admm-prune", 1), ("retrain-prune", 1)])
    assert p.penalty().item() == 0 and p.admm.iterations == steps // 2 // 3
    for name, mask in masks.items():
        assert torch.equal(mask, expected[name]), name
        assert not prunable_weights(model)[name].detach()[~mask].any()         # hard-pruned


def test_finalize_feeds_plan_like_the_pruned_module_does():
    model = cnn()
    p = codesign.pruner("magnitude", model, alpha=0.5, pattern="2:4", steps=6, cycles=2)
    before = {n: m.clone() for n, m in p.masks.items()}             # cycle 1 pruned before training
    rows = before["5.weight"].reshape(10, -1, 4)                     # 3:4 on the way to 2:4
    assert rows.sum(dim=2).eq(3).all()
    for _ in range(6):
        p.step()
    masks = p.finalize()
    assert masks["5.weight"].reshape(10, -1, 4).sum(dim=2).eq(2).all()
    assert all(not (m & ~before[n]).any() for n, m in masks.items())         # monotone
    net = codesign.load(model, example_input=torch.zeros(1, 1, 8, 8))
    plan = codesign.plan(net, "nm-2of4", pruned=masks)
    assert [(l.name, l.alpha, str(l.pattern)) for l in plan.layers] == \
        [(n, m.sum().item() / m.numel(), "2:4") for n, m in masks.items()]
    assert plan.totals.speedup > 1.2                                 # the 2:4 engine skips half
    assert codesign.plan(net, "nm-2of4", pruned=model).to_dict()["layers"] == plan.to_dict()["layers"]
    with pytest.raises(PlanError, match="not a prunable layer"):
        codesign.plan(net, "nm-2of4", pruned={"conv9.weight": masks["0.weight"]})


def test_an_onnx_bridge_module_pruned_in_a_loop_costs_as_its_exported_file():
    from pruning.models import builtin_onnx
    from pruning.onnx.bridge import OnnxModule
    proto = builtin_onnx("lenet5", (1, 8, 8))
    module = OnnxModule(proto)
    p = codesign.pruner("agp", module, alpha=0.3, pattern="2:4", steps=3)
    optimizer = torch.optim.Adam(module.parameters(), lr=LR)
    torch.manual_seed(0)
    for _ in range(3):
        loss = nn.functional.cross_entropy(module(torch.rand(8, 1, 8, 8)), torch.arange(8))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        p.step()
    masks = p.finalize()
    assert list(masks) == ["conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight"]     # ONNX names
    net = codesign.load(proto)
    from_masks = codesign.plan(net, "nm-2of4", pruned=masks)
    assert {l.pattern for l in from_masks.layers} == {"2:4"}
    assert from_masks.to_dict()["layers"] == codesign.plan(net, "nm-2of4", pruned=module.to_onnx()).to_dict()["layers"]


def test_a_loop_that_stops_early_is_pruned_to_the_targets_at_finalize():
    model = cnn()
    p = codesign.pruner("agp", model, alpha=0.2, steps=100)
    p.step()
    masks = p.finalize()
    assert [int(m.sum()) for m in masks.values()] == [round(0.2 * m.numel()) for m in masks.values()]
    with pytest.raises(PruningError, match="after finalize"):
        p.step()


@pytest.mark.parametrize("method, kwargs, message", [
    ("ltp", {}, "no pruner for your own training loop"),
    ("admm", {}, "needs steps_per_epoch"),
    ("admm", {"update_unit": "steps", "retrain_lr": 0.1}, "own training phases"),
    ("agp", {"alphas": {"alphas": {"0.weight": 0.5}, "bits": {"0.weight": 4}}}, "does not quantize"),
    ("agp", {"nothing": 1}, "has no option"),
])
def test_what_a_pruner_refuses(method, kwargs, message):
    with pytest.raises((PruningError, codesign.CodesignError), match=message):
        codesign.pruner(method, cnn(), steps=10, **({"alpha": 0.5} | kwargs if "alphas" not in kwargs else kwargs))


def test_the_readme_loop_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (example,) = re.findall(r"```py\n(.*?)```", README.read_text(), flags=re.S)
    exec(compile(example, "README.md", "exec"), {})
    kept, speedup = capsys.readouterr().out.split()
    assert float(kept) == pytest.approx(0.25, abs=0.01) and float(speedup) > 1.0
