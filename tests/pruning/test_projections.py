"""Projections onto the sparsity patterns: each keeps what its definition says, is the
Euclidean projection (no other mask of the pattern keeps more energy), respects layouts and
live masks, and agrees with the counting functions that check_sparsity uses."""
import itertools

import numpy as np
import pytest
import torch

from pruning.errors import PruningError
from pruning.patterns import parse_pattern, parse_pattern_list
from pruning.projections import (expected_units, global_masks, kept_units, pattern_mask,
                                 pattern_violations)

PATTERNS = ["unstructured", "2:4", "1:4", "3:8", "4x1", "2x2", "1x8", "channel"]


@pytest.mark.parametrize("text", PATTERNS)
@pytest.mark.parametrize("shape,axis", [((8, 16), 0), ((6, 3, 3, 3), 0), ((10, 7), 1), ((4, 6, 5, 5), 1)])
def test_every_pattern_holds_and_keeps_the_expected_units(text, shape, axis):
    pattern = parse_pattern(text)
    w = torch.randn(shape, generator=torch.Generator().manual_seed(3))
    mask = pattern_mask(w, 0.4, pattern, axis)
    assert mask.shape == w.shape and mask.dtype == torch.bool
    assert pattern_violations(mask, pattern, axis) == 0
    assert kept_units(mask, pattern, axis) == expected_units(shape, 0.4, pattern, axis)


def test_nm_keeps_the_largest_n_of_every_aligned_group_and_a_partial_tail():
    w = torch.tensor([[1.0, -5.0, 3.0, 0.5, 9.0, -8.0, 0.1, 7.0, 2.0, -3.0]])
    mask = pattern_mask(w, 1.0, parse_pattern("2:4"))          # alpha is implied by N:M
    assert mask.int().tolist() == [[0, 1, 1, 0, 1, 1, 0, 0, 1, 1]]


def test_nm_mask_along_the_input_axis_of_a_matmul_weight():
    """A MatMul weight is stored (in, out): groups run along axis 0 within each column."""
    w = torch.tensor([[1.0, 4.0], [2.0, 3.0], [3.0, 2.0], [4.0, 1.0]])
    mask = pattern_mask(w, 0.5, parse_pattern("2:4"), out_axis=1)
    assert mask.int().tolist() == [[0, 1], [0, 1], [1, 0], [1, 0]]


@pytest.mark.parametrize("text", ["unstructured", "2:4", "2x2", "channel"])
def test_projection_keeps_the_most_energy_of_any_mask_of_the_pattern(text):
    """Exhaustive over a 4x4 weight: the projection is the best mask of its pattern and size."""
    pattern = parse_pattern(text)
    w = torch.randn(4, 4, generator=torch.Generator().manual_seed(1))
    mask = pattern_mask(w, 0.5, pattern)
    kept, units = int(mask.sum()), kept_units(mask, pattern)
    best = 0.0
    for chosen in itertools.combinations(range(16), kept):
        m = torch.zeros(16, dtype=torch.bool)
        m[list(chosen)] = True
        m = m.reshape(4, 4)
        if pattern_violations(m, pattern) == 0 and kept_units(m, pattern) == units:
            best = max(best, float((w[m] ** 2).sum()))
    assert float((w[mask] ** 2).sum()) == pytest.approx(best)


def test_block_and_channel_keep_whole_units_by_norm():
    w = torch.tensor([[1.0, 1.0, 9.0, 9.0], [1.0, 1.0, 9.0, 9.0], [5.0, 5.0, 0.0, 0.0], [5.0, 5.0, 0.0, 0.0]])
    block = pattern_mask(w, 0.5, parse_pattern("2x2"))
    assert block.int().tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [1, 1, 0, 0], [1, 1, 0, 0]]
    channel = pattern_mask(w, 0.5, parse_pattern("channel"))
    assert channel.all(dim=1).tolist() == [True, True, False, False]


@pytest.mark.parametrize("text", ["unstructured", "4x1", "channel"])
def test_live_masks_are_monotone(text):
    pattern = parse_pattern(text)
    w = torch.randn(8, 12, generator=torch.Generator().manual_seed(5))
    first = pattern_mask(w, 0.5, pattern)
    regrown = w + 10 * (~first)                  # pruned weights grow large: still never revived
    second = pattern_mask(regrown, 0.25, pattern, live=first)
    assert not (second & ~first).any()
    assert kept_units(second, pattern) == expected_units(tuple(w.shape), 0.25, pattern)


def test_global_masks_rank_all_layers_by_one_threshold():
    w = {"a": torch.tensor([5.0, 4.0, 0.1, 0.1]), "b": torch.tensor([3.0, 0.2, 0.2, 0.2])}
    masks = global_masks(w, 3 / 8)
    assert masks["a"].tolist() == [True, True, False, False] and masks["b"].tolist() == [True, False, False, False]


def test_the_torch_global_unstructured_baseline_agrees():
    """One threshold across layers, as torch.nn.utils.prune.global_unstructured."""
    from torch import nn
    from torch.nn.utils import prune
    torch.manual_seed(0)
    layers = [nn.Linear(30, 20), nn.Linear(20, 10)]
    ours = global_masks({str(i): l.weight for i, l in enumerate(layers)}, 0.3)
    prune.global_unstructured([(l, "weight") for l in layers], pruning_method=prune.L1Unstructured, amount=0.7)
    for i, l in enumerate(layers):
        assert torch.equal(ours[str(i)], l.weight_mask.bool())


@pytest.mark.parametrize("text,message", [
    ("4:2", "0 < N < M"), ("0:4", "0 < N < M"), ("1x1", "not 1x1"), ("2:99", "M <= 64"),
    ("diagonal", "unknown pattern"), ("9" * 200, "unknown pattern")])
def test_bad_patterns_name_the_fix(text, message):
    with pytest.raises(PruningError, match=message):
        parse_pattern(text)


def test_pattern_lists_keep_order_and_drop_duplicates():
    assert [p.name for p in parse_pattern_list("2:4, channel,2:4,4X1")] == ["2:4", "channel", "4x1"]
    with pytest.raises(PruningError, match="at least one"):
        parse_pattern_list(" , ")


def test_alpha_out_of_range_is_refused():
    with pytest.raises(PruningError, match=r"\(0, 1\]"):
        pattern_mask(torch.ones(4), 0.0)
    assert np.isclose(float(pattern_mask(torch.arange(10.0), 1.0).float().mean()), 1.0)
