"""Iterative magnitude pruning (Han et al. 2015): schedules and monotone top-k masks."""
import pytest
import torch

from pruning.errors import PruningError
from pruning.methods.magnitude import cycle_alphas, mac_weighted_alpha
from pruning.projections import global_masks, pattern_masks


def test_cycle_schedules_end_at_the_target():
    geo = cycle_alphas(0.01, 4)
    assert geo[-1] == pytest.approx(0.01)
    ratios = [a / b for a, b in zip([1.0] + geo[:-1], geo)]
    assert ratios == pytest.approx([10 ** 0.5] * 4)               # equal ratio per cycle
    assert cycle_alphas(0.2, 4, "linear") == pytest.approx([0.8, 0.6, 0.4, 0.2])
    with pytest.raises(PruningError):
        cycle_alphas(0.2, 0)
    with pytest.raises(PruningError, match="geometric"):
        cycle_alphas(0.2, 2, "cosine")


def test_layerwise_masks_keep_exact_counts_of_the_largest_live_weights():
    w = {"a": torch.tensor([0.5, -3.0, 0.1, 2.0, -0.2, 1.0])}
    first = pattern_masks(w, {"a": 0.5})
    assert first["a"].tolist() == [False, True, False, True, False, True]
    # weights move: the pruned 0.5 grows, but pruned weights never come back
    w2 = {"a": torch.tensor([9.0, -3.0, 0.1, 2.0, -0.2, 0.05])}
    second = pattern_masks(w2, {"a": 2 / 6}, live=first)
    assert second["a"].tolist() == [False, True, False, True, False, False]


def test_global_masks_rank_across_layers():
    w = {"big": torch.full((10,), 2.0), "small": torch.linspace(0.1, 1.0, 10)}
    m = global_masks(w, 0.6)
    assert int(m["big"].sum()) == 10 and int(m["small"].sum()) == 2
    again = global_masks({"big": w["big"], "small": torch.full((10,), 5.0)}, 0.3, m)
    assert not (again["small"] & ~m["small"]).any()
    assert int(again["big"].sum() + again["small"].sum()) == 6


def test_mac_weighted_alpha():
    assert mac_weighted_alpha({"a": 0.5, "b": 0.1}, {"a": 900, "b": 100}) == pytest.approx(0.46)
