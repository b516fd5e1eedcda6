import numpy as np
import pytest
import torch

from pruning.data import load_dataset
from pruning.errors import PruningError
from pruning.masks import check_sparsity
from pruning.projections import pattern_masks
from pruning.models import build_model
from pruning.protocol import prunable_weights
from pruning.train import TrainContext, evaluate, split_budget, train_epochs


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", limit=400, test_limit=200)


def _fresh(ds, seed=0):
    torch.manual_seed(seed)
    return build_model("lenet300", ds.input_shape, ds.num_classes)


def test_lenet5_has_430_5k_weights():
    assert sum(w.numel() for w in prunable_weights(build_model("lenet5", (1, 28, 28), 10)).values()) == 430_500


def test_training_learns_and_is_deterministic(digits):
    ctx = TrainContext(digits, batch_size=32, seed=4)
    a, b = _fresh(digits), _fresh(digits)
    ha = train_epochs(a, ctx, 3)
    train_epochs(b, ctx, 3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert ha[-1]["accuracy"] > 0.8 and evaluate(a, digits) == ha[-1]["accuracy"]


def test_fractional_epochs_and_hooks(digits):
    ctx = TrainContext(digits, batch_size=32)
    steps, calls = [], []
    model = _fresh(digits)
    hist = train_epochs(model, ctx, 0.5, after_step=steps.append,
                        loss_extra=lambda m: calls.append(1) or prunable_weights(m)["fc1.weight"].pow(2).sum() * 0)
    assert ctx.steps_per_epoch == 13 and ctx.steps(0.5) == 6
    assert steps == list(range(1, 7)) and len(calls) == 6 and hist[0]["steps"] == 6


def test_masks_enforced_during_training(digits):
    model = _fresh(digits)
    masks = pattern_masks(prunable_weights(model), {"fc1.weight": 0.1, "fc2.weight": 0.3})
    train_epochs(model, TrainContext(digits, batch_size=32, optimizer="sgd"), 1, masks=masks)
    check_sparsity(masks, {"fc1.weight": 0.1, "fc2.weight": 0.3}, prunable_weights(model))


def test_resume_matches_uninterrupted_run(digits, tmp_path):
    full = _fresh(digits)
    train_epochs(full, TrainContext(digits, batch_size=32), 3, phase="p")

    class Stop(Exception):
        pass

    def stop_in_epoch_3(step):
        if step == 30:                     # 13 steps per epoch: inside the third epoch
            raise Stop

    ctx = TrainContext(digits, batch_size=32, checkpoint_dir=tmp_path)
    part = _fresh(digits)
    with pytest.raises(Stop):
        train_epochs(part, ctx, 3, phase="p", after_step=stop_in_epoch_3)
    resumed = _fresh(digits, seed=99)      # different init: everything must come from the checkpoint
    hist = train_epochs(resumed, ctx, 3, phase="p")
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    assert all(torch.allclose(p, q) for p, q in zip(full.parameters(), resumed.parameters()))
    again = _fresh(digits, seed=5)         # a finished phase is loaded, not retrained
    train_epochs(again, ctx, 3, phase="p", after_step=lambda s: pytest.fail("retrained"))
    assert all(torch.equal(p, q) for p, q in zip(resumed.parameters(), again.parameters()))


def test_other_settings_refuse_to_resume(digits, tmp_path):
    train_epochs(_fresh(digits), TrainContext(digits, checkpoint_dir=tmp_path, fingerprint="a"), 0.2)
    with pytest.raises(PruningError, match="other settings"):
        train_epochs(_fresh(digits), TrainContext(digits, checkpoint_dir=tmp_path, fingerprint="b"), 0.2)


def test_bad_settings_and_budget_split(digits):
    with pytest.raises(PruningError, match="optimizer"):
        TrainContext(digits, optimizer="rmsprop")
    assert split_budget(10, {"admm": 3, "retrain": 2}) == {"admm": 6.0, "retrain": 4.0}


def test_nonfinite_loss_stops_with_a_clear_error(digits):
    from pruning.train import TrainingDivergedError
    model = _fresh(digits)
    with pytest.raises(TrainingDivergedError, match="lower the learning rate"):
        train_epochs(model, TrainContext(digits, batch_size=32), 0.2,
                     loss_extra=lambda m: torch.tensor(float("nan")))


def test_clip_grad_norm_bounds_the_update(digits):
    model = _fresh(digits)
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    train_epochs(model, TrainContext(digits, batch_size=400), 0.01, optimizer=opt, clip_grad_norm=1e-3,
                 loss_extra=lambda m: 1e3 * prunable_weights(m)["fc1.weight"].sum())
    moved = torch.sqrt(sum(((p.detach() - b) ** 2).sum() for p, b in zip(model.parameters(), before)))
    assert float(moved) <= 1e-3 * 1.001                  # float32 rounding


def test_the_same_images_train_and_evaluate_bit_for_bit_alike_whatever_their_strides():
    """numpy's strides of a one-channel batch depend on how it was made (the loaders give some
    of these; a pickled copy, as a Ray task gets, has standard ones), and torch picks conv
    kernels by strides: the one layout of pruning.train must hide that."""
    import dataclasses
    import pickle
    from pruning.train import channels_last, sample_scores
    rng = np.random.default_rng(0)
    flat = rng.random((300, 28, 28), dtype=np.float32)
    variants = {"channel axis added": flat[:, None],                                   # stride 0
                "channels last": np.copy(flat[..., None], order="C").transpose(0, 3, 1, 2),
                "pickled": pickle.loads(pickle.dumps(flat[:, None]))}
    assert len({v.strides for v in variants.values()}) == 3      # the hazard is real
    tensors = [channels_last(torch.from_numpy(v)) for v in variants.values()]
    assert all(t.stride() == tensors[0].stride() and torch.equal(t, tensors[0]) for t in tensors)
    base = load_dataset("digits", limit=10, test_limit=10)
    labels = rng.integers(0, 10, 300)
    results = []
    for images in variants.values():
        data = dataclasses.replace(base, train_x=images, train_y=labels, test_x=images, test_y=labels,
                                   input_shape=(1, 28, 28))
        torch.manual_seed(0)
        model = build_model("lenet5", (1, 28, 28), 10)
        train_epochs(model, TrainContext(data, batch_size=32, seed=1), 0.5)
        results.append((list(model.parameters()), sample_scores(model, data)))
    for params, correct in results[1:]:
        assert all(torch.equal(p, q) for p, q in zip(params, results[0][0]))
        assert np.array_equal(correct, results[0][1])


def test_batches_are_sized_by_the_activations_they_hold(monkeypatch):
    """An evaluation batch holds at most EVAL_MEMORY of activations (the same scores in smaller
    batches); a training batch whose activations would exceed half the machine's memory is
    refused before the first step, naming a batch size that fits."""
    import pruning.train as train
    from pruning.data import load_dataset
    from pruning.errors import PruningError
    from pruning.models import build_model
    torch.set_num_threads(1)
    data = load_dataset("digits", limit=64, test_limit=64)
    model = build_model("lenet5", data.input_shape, data.num_classes)
    whole = train.sample_scores(model, data)
    per_sample = model.activation_bytes(train.as_batch(data.test_x[:2]))[0] / 2
    monkeypatch.setattr(train, "EVAL_MEMORY", int(per_sample * 5))
    assert train._within_memory(model, data.test_x, 1000, torch.device("cpu")) == 5
    np.testing.assert_array_equal(train.sample_scores(model, data), whole)
    total = model.activation_bytes(train.as_batch(data.train_x[:2]))[1] / 2
    pages = {"SC_PAGE_SIZE": 1, "SC_PHYS_PAGES": int(2 * total * 10)}       # half of it: 10 samples
    monkeypatch.setattr(train.os, "sysconf", lambda name: pages[name])
    ctx = TrainContext(data=data, epochs=0.1, batch_size=32)
    with pytest.raises(PruningError, match=r"batch of 32 samples .* pass --batch-size 10 or less"):
        train.train_epochs(model, ctx, 0.1)
