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
        expected = mask.size * st.density * formats.relative_entries_per_nonzero(st.density, bits)
        np.testing.assert_allclose(st.relative_entries(bits), expected, rtol=0.01)


def test_mask_stats_gaps_on_a_hand_example():
    mask = np.array([[0, 0, 0, 1, 0, 1, 1, 0],
                     [1, 0, 0, 0, 0, 0, 0, 1]])
    st = MaskStats.from_mask(mask)
    assert st.gaps.tolist() == [3, 1, 0, 0, 6]
    assert st.fibers.tolist() == [0, 0, 0, 1, 1]
    # 1-bit index: a gap g needs g // 2 padding entries -> 1 + 0 + 0 + 0 + 3
    assert st.relative_entries([1])[0] == 5 + 4
    assert st.fiber_entries(1, relative=True).tolist() == [4, 5]
    assert st.fiber_entries(1, relative=False).tolist() == [3, 2]
    assert st.relative_entries([3])[0] == 5        # every gap < 8
    # 2-bit codes: remainders 3, 1, 0, 0, 2 and one padding entry (gap 6 -> one full jump of 4)
    assert st.code_counts(2).tolist() == [2, 1, 1, 1 + 1]


def test_index_storage_formulas():
    kept, fibers, flen = 1_000.0, 10, 1_000
    n = fibers * flen
    units, index = formats.index_storage(np.array([0, 1, 2, 3, 4]), kept, 1_100.0, n, fibers, flen,
                                         20, 4)
    assert units.tolist() == [1_100, 1_000, 1_000, 1_000, 1_000]
    assert index[0] == 1_100 * 4 + fibers * np.ceil(np.log2(1_101))       # relative
    assert index[1] == n + fibers * np.ceil(np.log2(1_001))               # bitmask
    assert index[2] == kept * 10 + (fibers + 1) * np.ceil(np.log2(1_001))  # CSR
    assert index[3] == kept * 4 + (flen + 1) * np.ceil(np.log2(1_001))    # CSC
    assert index[4] == kept * 20                                          # COO


def test_nm_counts_and_compatibility():
    assert formats.nm_kept(25, 2, 4) == 13               # 6 full groups + min(2, 1)
    assert formats.nm_kept(8, 1, 4) == 2
    ok = formats.nm_compatible(np.array([2, 1, 1, 2, 4, 3]), np.array([4, 4, 2, 8, 8, 4]), 2, 4)
    assert ok.tolist() == [True, True, True, True, False, False]


def test_huffman_matches_hand_codes_and_beats_fixed_width_on_skewed_gaps():
    assert formats.huffman_bits([5, 3, 1, 1]) == 5 * 1 + 3 * 2 + 1 * 3 + 1 * 3
    assert formats.huffman_bits([7]) == 7
    counts = formats.relative_code_counts(0.3, 4, 10_000)
    assert counts.sum() == pytest.approx(10_000 * formats.relative_entries_per_nonzero(0.3, 4))
    assert formats.huffman_bits(counts) < 4 * counts.sum()


def test_exact_balance_efficiency():
    work = np.array([4.0, 2.0, 2.0, 4.0])
    # one wave of 4 lanes: mean/max = 3/4; waves of 2: (4 + 4) * 2 lanes = 16 vs 12 of work
    assert formats.balance_exact(work, [4, 2, 1]).tolist() == [0.75, 0.75, 1.0]
    # a partial last wave waits only for its own fibers: waves [4, 2] and [2] take 4 and 2
    assert formats.balance_exact(work[:3], [2])[0] == pytest.approx((8 / 3) / 3)
