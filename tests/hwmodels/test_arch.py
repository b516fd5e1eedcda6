"""The sparse PE from its parts, the clock, and the published anchors."""
import numpy as np

from hwmodels import arch
from hwmodels.configs import single

from .conftest import configs

# Published sparse/dense PE area ratios (hwmodels/data/sources.toml): SCNN's whole accelerator
# 1.34x its dense twin (scnn17), Eyeriss v2's sparse support ~1.5x and its PE 1.73x (eyeriss-v2).
PUBLISHED_RATIO = (1.34, 1.73)


def val(x) -> float:
    return float(np.asarray(x).reshape(-1)[0])


def ratio(spec, bits=16, width=4):
    cfg = single(spec.replace(weight_bits=bits, act_bits=bits, index_width_bits=width)).expanded()
    return val(arch.sparse_pe(cfg, bits, bits, width).total / arch.dense_pe(cfg, bits).total)


def test_sparse_pe_area_ratio_at_16_bits_and_a_4_bit_index_is_inside_the_published_range(admmnn, smic40):
    for spec in (admmnn, smic40):
        assert PUBLISHED_RATIO[0] <= ratio(spec) <= PUBLISHED_RATIO[1]


def test_parts_come_from_cells_and_counts(smic40):
    cfg = single(smic40).expanded()
    pe = arch.index_pe(cfg, 16, 16, 4)
    reg, mux = smic40.register_um2_per_bit, smic40.mux2_um2_per_bit
    assert val(pe.select) == (smic40.decoder_window - 1) * 16 * mux
    assert val(pe.queue) == smic40.queue_depth * (16 + 4) * reg
    assert val(pe.window) == 0.0                      # banked: no per-PE window
    window = arch.index_pe(single(smic40.replace(operand_select="window")).expanded(), 16, 16, 4)
    assert val(window.window) == 2 ** 4 * 16 * reg
    assert val(window.total) > val(pe.total)


def test_the_window_design_grows_with_the_index_width_and_the_banked_one_barely(smic40):
    banked = [ratio(smic40, width=b) for b in range(2, 9)]
    window = [ratio(smic40.replace(operand_select="window"), width=b) for b in range(2, 9)]
    assert np.all(np.diff(window) > 0) and window[-1] > 10
    assert banked[-1] / banked[0] < 1.1


def test_an_nm_pe_adds_a_mux_and_one_register_per_extra_position(smic40):
    spec = smic40.replace(sparse_engine="nm", nm_keep=2, nm_group=4)
    cfg = single(spec).expanded()
    pe = arch.sparse_pe(cfg, 16, 16, 4)
    assert val(pe.window) == (4 / 2 - 1) * 16 * spec.register_um2_per_bit
    assert 1.0 < val(pe.total / arch.dense_pe(cfg, 16).total) < PUBLISHED_RATIO[0]


def test_the_sparse_clock_adds_the_select_mux_to_the_mac_path(smic40):
    cfg = configs(smic40, smic40.replace(decoder_fo4_per_level=6.0)).expanded()
    access = np.array(0.0)
    dense = arch.clock_ns(cfg, 16, access)
    sparse = arch.clock_ns(cfg, 16, access, arch.select_levels(cfg, 4))
    levels = np.log2(smic40.decoder_window)
    np.testing.assert_allclose(sparse - dense, levels * np.array([4.0, 6.0]).reshape(-1, 1, 1)
                               * smic40.fo4_ps * 1e-3)


def test_bank_conflicts_cap_a_row_at_its_banks(smic40):
    cfg = single(smic40).expanded()
    cols = np.array([1.0, 8.0, 16.0, 64.0, 256.0])
    served = (arch.operand_rate(cfg, cols) / smic40.sparse_utilization).ravel()
    assert served[0] == 1.0 and np.all(np.diff(served) <= 0) and served[-1] < 0.1
    assert np.all(served * cols <= smic40.decoder_window + 1e-9)
