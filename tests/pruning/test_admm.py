import numpy as np
import pytest
import torch
from torch import nn

from pruning.admm_core import AdmmPenalty, sparse_projection
from pruning.methods.admm import AdmmBackend
from pruning.protocol import Targets, prunable_weights
from pruning.masks import check_sparsity
from pruning.projections import keep_count
from pruning.methods import get_backend
from pruning.patterns import parse_pattern
from pruning.train import TrainContext


def test_penalty_is_half_rho_times_squared_frobenius_norm():
    """Pins eq. (5): rho/2 * ||W - Z + U||_F^2, not ||.||_F and not rho * ||.||^2."""
    w = nn.Parameter(torch.tensor([[3.0, 0.5], [-1.0, 2.0]]))
    admm = AdmmPenalty({"w": w}, sparse_projection({"w": 0.5}), rho=0.2)
    admm.U["w"] = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    r = w.detach() - admm.Z["w"] + admm.U["w"]          # Z keeps 3.0 and 2.0
    assert torch.equal(admm.Z["w"], torch.tensor([[3.0, 0.0], [0.0, 2.0]]))
    value = admm.penalty()
    assert value.item() == pytest.approx(0.1 * float((r ** 2).sum()))   # 0.1 * (1.5^2 + 1) = 0.325
    assert value.item() == pytest.approx(0.325)
    value.backward()
    assert torch.allclose(w.grad, 0.2 * r)              # gradient rho * (W - Z + U)


def test_z_and_u_updates_follow_eq_7():
    w = nn.Parameter(torch.tensor([1.0, -4.0, 2.0, 0.1]))
    admm = AdmmPenalty({"w": w}, sparse_projection({"w": 0.5}), rho=1.0, rho_growth=2.0, rho_max=3.0)
    admm.U["w"] = torch.tensor([0.0, 0.0, -1.5, 1.0])
    admm.update()                                        # W + U = [1, -4, 0.5, 1.1]
    assert torch.equal(admm.Z["w"], torch.tensor([0.0, -4.0, 0.0, 1.1]))
    assert torch.allclose(admm.U["w"], torch.tensor([1.0, 0.0, 0.5, 0.0]))
    admm.update(); admm.update()
    assert admm.rho == 3.0 and admm.iterations == 3      # growth capped by rho_max


def test_admm_sparse_least_squares_finds_the_true_support():
    """min 0.5||Ax - b||^2 s.t. card(x) <= 5, b = A x*: a well-posed problem whose answer is
    x*. Plain magnitude thresholding of the least-squares solution picks a wrong support
    (correlated columns + noise) ; ADMM must find the true one."""
    rng = np.random.default_rng(0)
    n, d, k = 60, 40, 5
    A = rng.standard_normal((n, d))
    A[:, 10:20] += 1.5 * A[:, :10]                      # correlated columns mislead thresholding
    x_true = np.zeros(d)
    support = np.array([0, 3, 7, 21, 33])
    x_true[support] = rng.choice([-1, 1], k) * rng.uniform(1.0, 2.0, k)
    b = A @ x_true
    At, bt = torch.tensor(A, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    x = nn.Parameter(torch.linalg.lstsq(At, bt[:, None]).solution[:, 0] + 0.3 * torch.tensor(rng.standard_normal(d)))
    admm = AdmmPenalty({"x": x}, sparse_projection({"x": k / d}), rho=5.0, rho_growth=1.1, rho_max=200.0)
    lr = 1.0 / (torch.linalg.matrix_norm(At, 2) ** 2 + 200.0).item()
    for _ in range(200):                                  # ADMM iterations
        for _ in range(50):                               # W-step: gradient descent on eq. (5)
            loss = 0.5 * ((At @ x - bt) ** 2).sum() + admm.penalty()
            x.grad = None
            loss.backward()
            with torch.no_grad():
                x -= lr * x.grad
        admm.update()
    found = torch.nonzero(admm.Z["x"]).flatten().numpy()
    assert sorted(found.tolist()) == support.tolist()
    assert admm.residuals[-1] < 1e-3
    assert np.allclose(admm.Z["x"].numpy(), x_true, atol=1e-2)


def test_backend_prunes_exactly_and_keeps_accuracy(pretrained):
    model, digits = pretrained()
    alphas = {"fc1.weight": 0.1, "fc2.weight": 0.2, "fc3.weight": 0.5}
    backend = get_backend("admm", update_every=10, update_unit="steps", rho=0.1)
    ctx = TrainContext(digits, epochs=8, batch_size=32, lr=1e-2)
    res = backend.compress(model, Targets(alphas=alphas), ctx)
    check_sparsity(res.masks and {n: res.masks[n] for n in alphas}, alphas, prunable_weights(model))
    assert [l.kept for l in res.layers] == [keep_count(l.weights, alphas[l.name]) for l in res.layers]
    assert res.accuracy > res.accuracy_dense - 0.1 and res.accuracy > 0.8
    admm_record = next(h for h in res.history if h["phase"] == "admm-prune")
    residuals = admm_record["residuals"]          # ||W - Z|| / ||W|| shrinks: W approaches the sparse set
    assert admm_record["admm_iterations"] == ctx.steps(8 * (1 - backend.options.retrain_share)) // 10
    assert residuals[-1] < 0.7 * residuals[0]
    assert admm_record["accuracy_hard_pruned"] > 0.5          # ADMM made W nearly sparse already


def test_global_alpha_is_resolved_per_layer(pretrained):
    model, digits = pretrained()
    res = AdmmBackend(AdmmBackend.Options(update_every=0.5)).compress(
        model, Targets(global_alpha=0.2), TrainContext(digits, epochs=1, batch_size=64))
    kept = sum(l.kept for l in res.layers)
    assert kept == keep_count(sum(l.weights for l in res.layers), 0.2)


def test_backend_reaches_an_nm_pattern_and_a_block_pattern(pretrained):
    model, digits = pretrained()
    patterns = {"fc1.weight": parse_pattern("2:4"), "fc2.weight": parse_pattern("4x1")}
    targets = Targets(alphas={"fc2.weight": 0.25}, patterns=patterns)
    res = get_backend("admm", update_every=10, update_unit="steps").compress(
        model, targets, TrainContext(digits, epochs=2, batch_size=32, lr=1e-2))
    weights = prunable_weights(model)
    check_sparsity({n: res.masks[n] for n in patterns}, {"fc1.weight": 0.5, "fc2.weight": 0.25},
                   weights, patterns)
    rows = weights["fc1.weight"].detach().reshape(weights["fc1.weight"].shape[0], -1, 4)
    assert int((rows != 0).sum(dim=2).max()) <= 2          # at most 2 of every 4 inputs
    by_name = {l.name: l for l in res.layers}
    assert by_name["fc1.weight"].pattern == "2:4" and by_name["fc2.weight"].pattern == "4x1"
    assert res.accuracy > 0.7


def test_w_step_optimizer_choices_are_validated():
    from pruning.errors import PruningError
    with pytest.raises(PruningError, match="w_step_optimizer\\)? = 'lbfgs' is not one of run, sgd"):
        get_backend("admm", w_step_optimizer="lbfgs")
