import pytest
import torch
from torch import nn

from pruning.errors import SparsityMismatchError
from pruning.masks import MaskEnforcer, check_sparsity, load_masks, save_masks
from pruning.patterns import parse_pattern
from pruning.projections import global_alphas, keep_count, pattern_masks, topk_mask


def test_topk_ties_break_to_lower_index():
    w = torch.tensor([1.0, -2.0, 2.0, 2.0, 0.5])
    assert topk_mask(w.abs(), 2).tolist() == [False, True, True, False, False]
    assert torch.equal(topk_mask(w, 2), topk_mask(w.clone(), 2))


def test_keep_count_rounds_and_keeps_one():
    assert keep_count(1000, 0.0254) == 25 and keep_count(10, 0.01) == 1 and keep_count(7, 1.0) == 7


@pytest.mark.parametrize("opt_cls", [torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW])
def test_masks_hold_through_momentum_and_adam(opt_cls):
    torch.manual_seed(0)
    lin = nn.Linear(20, 10)
    kw = {"momentum": 0.9} if opt_cls is torch.optim.SGD else {}
    opt = opt_cls(lin.parameters(), lr=0.1, weight_decay=0.01, **kw)
    for _ in range(3):                       # build up momentum before pruning
        opt.zero_grad(); lin(torch.randn(8, 20)).pow(2).sum().backward(); opt.step()
    masks = pattern_masks({"weight": lin.weight}, {"weight": 0.25})
    enforcer = MaskEnforcer({"weight": lin.weight}, masks)
    enforcer.after_step(opt)
    for _ in range(5):
        opt.zero_grad(); lin(torch.randn(8, 20)).pow(2).sum().backward()
        enforcer.before_step(); opt.step(); enforcer.after_step(opt)
        check_sparsity(masks, {"weight": 0.25}, {"weight": lin.weight})
        for value in opt.state[lin.weight].values():
            if torch.is_tensor(value) and value.shape == lin.weight.shape:
                assert not value[~masks["weight"]].any()


def test_check_sparsity_fails_loudly():
    masks = {"a": torch.tensor([True, True, False, False]), "b": torch.ones(4, dtype=torch.bool)}
    check_sparsity(masks, {"a": 0.5})
    with pytest.raises(SparsityMismatchError, match="b: kept 4 unstructured units, requested 2"):
        check_sparsity(masks, {"a": 0.5, "b": 0.5})
    with pytest.raises(SparsityMismatchError, match="a: 1 pruned weights are nonzero"):
        check_sparsity(masks, {"a": 0.5}, {"a": torch.tensor([1.0, 1.0, 0.0, 3.0])})


def test_save_load_roundtrip(tmp_path):
    masks = {"conv/w.0": torch.rand(3, 4) > 0.5, "fc.weight": torch.rand(5) > 0.5}
    save_masks(masks, tmp_path / "m.npz")
    back = load_masks(tmp_path / "m.npz")
    assert list(back) == list(masks) and all(torch.equal(back[k], masks[k]) for k in masks)


def test_global_alphas_rank_all_layers_together():
    w = {"a": torch.tensor([5.0, 4.0, 0.1, 0.1]), "b": torch.tensor([3.0, 0.2, 0.2, 0.2])}
    assert global_alphas(w, 3 / 8) == {"a": 0.5, "b": 0.25}


def test_check_sparsity_checks_the_pattern_too():
    m = torch.tensor([[True, True, False, False], [True, False, True, False]])
    nm = {"w": parse_pattern("2:4")}
    check_sparsity({"w": m}, {"w": 0.5}, patterns=nm)
    broken = m.clone()
    broken[0, 2] = True
    broken[1, 1] = False                     # same count, but row 0 keeps 3 of its group of 4
    with pytest.raises(SparsityMismatchError, match="1 groups break pattern 2:4"):
        check_sparsity({"w": broken}, {"w": 0.5}, patterns=nm)
