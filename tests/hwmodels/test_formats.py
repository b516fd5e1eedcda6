import numpy as np
import pytest

from hwmodels import formats
from hwmodels.formats import MaskStats


def test_relative_padding_formula_matches_monte_carlo():
    rng = np.random.default_rng(0)
    for d, b in ((0.1, 4), (0.05, 4), (0.3, 2), (0.02, 6)):
        mask = rng.random(2_000_000) < d
        gaps = np.diff(np.concatenate([[-1], np.flatnonzero(mask)])) - 1
        stored = mask.sum() + (gaps >> b).sum()
        expected = formats.relative_entries_per_nonzero(d, b) * mask.sum()
        assert stored == pytest.approx(expected, rel=0.01)


def test_exact_from_mask_matches_expected_on_large_random_masks():
    rng = np.random.default_rng(1)
    for d in (0.5, 0.2, 0.08):
        mask = rng.random((256, 4608)) < d
        st = MaskStats.from_mask(mask)
        bits = np.arange(1, 9)
        exact = st.relative_entries(bits)
        expected = formats.expected_relative_entries(mask.size, st.density, bits)
        np.testing.assert_allclose(exact, expected, rtol=0.01)


def test_mask_stats_gaps_on_a_hand_example():
    mask = np.array([[0, 0, 0, 1, 0, 1, 1, 0],
                     [1, 0, 0, 0, 0, 0, 0, 1]])
    st = MaskStats.from_mask(mask)
    assert st.gaps.tolist() == [3, 1, 0, 0, 6]
    assert st.fibers.tolist() == [0, 0, 0, 1, 1]
    # 1-bit index: a gap g needs g // 2 padding entries -> 1 + 0 + 0 + 0 + 3
    assert st.relative_entries([1])[0] == 5 + 4
    assert st.fiber_entries(1).tolist() == [4, 5]
    assert st.relative_entries([3])[0] == 5        # every gap < 8


def test_storage_formulas():
    n, nnz, fibers, flen = 10_000, 1_000.0, 10, 1_000
    s = formats.storage(np.array([0, 1, 2, 3, 4]), nnz, 1_100.0, n, fibers, flen, 20, 8, 4)
    ptr = np.ceil(np.log2(1_100 + 1))
    assert s.index_bits[0] == 1_100 * 4 + fibers * np.ceil(np.log2(1_101))     # relative
    assert s.index_bits[1] == n + fibers * np.ceil(np.log2(1_001))             # bitmask
    assert s.index_bits[2] == nnz * 10 + (fibers + 1) * np.ceil(np.log2(1_001))  # CSR
    assert s.index_bits[4] == nnz * 20                                          # COO
    assert s.value_bits[0] == 1_100 * 8 and s.value_bits[1] == nnz * 8
    assert ptr > 0


def test_best_index_width_is_the_brute_force_minimum():
    for d in (0.5, 0.3, 0.1, 0.03, 0.01):
        for bw in (4, 8, 16):
            costs = [(bw + b) * d * formats.relative_entries_per_nonzero(d, b) for b in range(1, 11)]
            assert formats.best_relative_bits(d, bw) == 1 + int(np.argmin(costs))
    # sparser layers want wider gaps (notes section 3.2 table)
    widths = formats.best_relative_bits(np.array([0.5, 0.2, 0.05, 0.01]), 8)
    assert np.all(np.diff(widths) > 0)


def test_bitmask_beats_relative_storage_at_low_sparsity_and_loses_at_high():
    def bits_per_position(d, fmt, b):
        n = 1_000_000
        s = formats.storage(fmt, n * d, formats.expected_relative_entries(n, d, b), n, 1, n, 20, 8, b)
        return float(s.total_bits) / n
    for d in (0.6, 0.5):
        best_rel = min(bits_per_position(d, formats.RELATIVE, b) for b in range(1, 11))
        assert bits_per_position(d, formats.BITMASK, 4) < best_rel
    for d in (0.1, 0.02):
        best_rel = min(bits_per_position(d, formats.RELATIVE, b) for b in range(1, 11))
        assert bits_per_position(d, formats.BITMASK, 4) > best_rel


def test_exact_balance_efficiency():
    work = np.array([4.0, 2.0, 2.0, 4.0])
    # one wave of 4 lanes: mean/max = 3/4; waves of 2: (4 + 4) * 2 lanes = 16 vs 12 of work
    assert formats.balance_efficiency_exact(work, [4, 2, 1]).tolist() == [0.75, 0.75, 1.0]
    # a partial last wave waits only for its own fibers: waves [4, 2] and [2] take 4 and 2
    assert formats.balance_efficiency_exact(work[:3], [2])[0] == pytest.approx((8 / 3) / 3)
