"""The one pattern rule (pruning.patterns): a mask's layout as rows x reduction, what it holds
(partial edge blocks and groups included) and what it reads back as, the same for the
projections (torch) and for codesign's reading of pruned files (numpy)."""
import subprocess
import sys

import numpy as np
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pruning.patterns import (BLOCKS, NM_GROUPS, UNSTRUCTURED, Pattern, as_rows, infer_pattern, output_axis,
                              pattern_violations, unit_mask)
from pruning.projections import pattern_mask

torch.set_num_threads(1)

# every pattern inference can name, in the order it tries them
READABLE = ([Pattern("channel")] + [Pattern("block", k=k, l=l) for k, l in BLOCKS]
            + [Pattern("nm", n=n, m=m) for m in NM_GROUPS for n in range(1, m // 2 + 1)])


@settings(max_examples=150, deadline=None)
@given(pattern=st.sampled_from(READABLE + [UNSTRUCTURED]), out=st.integers(2, 40), cols=st.integers(2, 40),
       axis=st.sampled_from([0, 1]), alpha=st.sampled_from([0.25, 0.4, 0.6]), seed=st.integers(0, 2 ** 16))
def test_a_projected_mask_reads_back_as_its_pattern(pattern, out, cols, axis, alpha, seed):
    """Over shapes divisible by the pattern's units or not: the mask reads as its own pattern,
    or as one tried earlier that the same mask holds too (a 4x1 mask whose blocks pair up is also
    8x1; a random mask can hold 1:2 by chance): never as a pattern it breaks."""
    shape = (out, cols) if axis == 0 else (cols, out)
    weight = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    mask = pattern_mask(weight, alpha, pattern, axis).numpy()
    assume(not mask.all())                       # one unit kept whole: the layer stays dense
    read = infer_pattern(mask, axis)
    assert pattern_violations(mask, read, axis) == 0
    if read != pattern:
        assert read != UNSTRUCTURED
        assert pattern == UNSTRUCTURED or READABLE.index(read) < READABLE.index(pattern)


def test_partial_blocks_hold_and_read_back():
    """A 4x1 mask on a 10-row classifier: blocks of rows 0-3, 4-7 and 8-9 (issue 22)."""
    units = np.array([[1, 0, 1, 1, 0], [0, 1, 1, 0, 0], [1, 1, 0, 0, 1]], bool)
    mask = np.repeat(units, 4, axis=0)[:10]
    four_by_one = Pattern("block", k=4, l=1)
    assert pattern_violations(mask, four_by_one) == 0
    assert infer_pattern(mask) == four_by_one
    assert unit_mask(mask, four_by_one).tolist() == units.tolist()
    broken = mask.copy()
    broken[9, 2] = True                          # the partial block of rows 8-9 now half kept
    assert pattern_violations(broken, four_by_one) == 1 and infer_pattern(broken) != four_by_one


def test_nm_reads_with_a_partial_tail_and_channels_need_a_removed_row():
    rows = np.array([[1, 1, 0, 0, 0, 1, 1], [0, 0, 1, 1, 1, 0, 0]], bool)      # 2:4, tail of 3 keeps <= 2
    assert infer_pattern(rows) == Pattern("nm", n=2, m=4)
    assert infer_pattern(rows.T, out_axis=1) == Pattern("nm", n=2, m=4)
    channels = np.ones((8, 16), bool)
    channels[[1, 5]] = False
    assert infer_pattern(channels) == Pattern("channel")
    assert infer_pattern(np.ones((4, 4), bool)) == UNSTRUCTURED


def test_output_axis_is_one_rule_for_onnx_ops_and_layouts():
    assert output_axis("Conv") == 0 and output_axis("ConvTranspose") == 1 and output_axis("LSTM", 2) == 1
    assert output_axis("Gemm", 1, {"transB": 1}) == 0 and output_axis("MatMul", 1) == 1
    assert output_axis("MatMul", 0) == 0 and output_axis("Gemm", 0, {"transA": 1}) == 1
    assert output_axis("MatMul", 1, transposes=1) == 0                    # (out, in) stored, then Transpose
    assert output_axis("MatMul", 1, ndim=3) == 2                          # batched: (groups, in, out)
    w = np.arange(24).reshape(2, 3, 4)
    assert as_rows(w, 1).shape == (3, 8) and as_rows(w, 1)[1].tolist() == [4, 5, 6, 7, 16, 17, 18, 19]


def test_the_rule_imports_no_torch_and_no_onnx():
    code = ("import sys, pruning.patterns; "
            "assert 'torch' not in sys.modules and 'onnx' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)
