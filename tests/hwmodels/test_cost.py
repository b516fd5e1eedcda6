import numpy as np
import pytest

from hwmodels.arch import ConfigArray, HwConfig
from hwmodels.cost import LayerArray, MaskArrays, evaluate, systolic_cycles
from hwmodels.errors import ConfigError, FitError
from hwmodels.formats import MaskStats
from hwmodels.paper001 import ALEXNET_CONV

from .conftest import configs

ALPHAS = np.geomspace(1.0, 1 / 50, 40)


def test_systolic_closed_forms_by_hand(alexnet_layers):
    # conv4 on 16x16 OS: per group Sr = 169 px, Sc = 192 filters, T = 1728
    os_ = systolic_cycles(alexnet_layers, 16.0, 16.0, 0.0)[0][0, :, 0]
    assert os_[3] == ((1728 + 16 + 16 - 2) * np.ceil(169 / 16) * np.ceil(192 / 16) - 1) * 2
    ws = systolic_cycles(alexnet_layers, 16.0, 16.0, 1.0)[0][0, :, 0]
    assert ws[3] == ((2 * 16 + 16 + 169 - 2) * np.ceil(1728 / 16) * np.ceil(192 / 16) - 1) * 2
    # a full array never beats the ideal MAC count
    macs = alexnet_layers.macs[0, :, 0]
    assert np.all(os_ * 256 >= macs) and np.all(ws * 256 >= macs)


def test_golden_alexnet_numbers_on_smic40(smic40, alexnet_layers):
    """Regression numbers for the unfitted smic40 preset (227x227 AlexNet CONV1-5, alpha 0.25),
    and conv4's sparse cycles by hand from the array model."""
    r = evaluate(configs(smic40), alexnet_layers, np.array([0.25]))
    np.testing.assert_array_equal(r.dense_cycles[0, :, 0], [448019, 905278, 616175, 464110, 309406])
    np.testing.assert_allclose(r.dense_clock_ns[0, :, 0], 1.75)
    np.testing.assert_allclose(r.sparse_clock_ns[0, :, 0], 2.15)
    np.testing.assert_allclose(r.sparse_speedup[0, :, 0],
                               [1.1520668514, 3.6416678542, 8.8038974977, 6.7490385505, 4.9315610140],
                               rtol=1e-6)     # the expected max is a table lookup (error < 1e-5)
    np.testing.assert_allclose(r.entries[0, :, 0],
                               [8800.2008557632, 77577.5282050747, 223423.2812306152,
                                167567.4609229614, 111711.6406153076], rtol=1e-9)
    # conv4: 16 rows x C_s columns; 169 px over the rows, 192 filters per group over the
    # columns (192 = 12 whole dense folds, so no padding), each fold walks its slowest fiber
    cols = r.sparse_pes[0, 3, 0] / 16
    walk = r.entries[0, 3, 0] / 384 / r.balance[0, 3, 0]
    by_hand = ((walk + 16 + cols - 2) * np.ceil(169 / 16) * (192 / cols) - 1) * 2
    assert r.sparse_cycles[0, 3, 0] == pytest.approx(by_hand, rel=1e-12)


@pytest.mark.parametrize("overrides", [{}, {"index_format": "bitmask"}, {"index_format": "csr"},
                                       {"weight_bits": 8, "auto_index_bits": True},
                                       {"dataflow": "ws", "sram_cell": "hp"}])
def test_dense_and_sparse_designs_have_equal_area(smic40, alexnet_layers, overrides):
    r = evaluate(configs(smic40.replace(**overrides)), alexnet_layers, ALPHAS)
    fits = r.sparse_pes > 0
    assert fits.sum() > 0.8 * fits.size
    rel = np.abs(r.sparse_area_um2 - r.dense_area_um2) / r.dense_area_um2
    assert rel[fits].max() < 1e-9


def test_dense_cost_does_not_depend_on_alpha_and_sparse_storage_shrinks(smic40, alexnet_layers):
    r = evaluate(configs(smic40), alexnet_layers, ALPHAS)
    assert np.all(r.dense_time_ns == r.dense_time_ns[..., :1])
    assert np.all(np.diff(r.sparse_storage_bits, axis=-1) < 0)
    assert np.all(np.diff(r.value_bits, axis=-1) < 0)


def test_speedup_is_monotone_in_r_where_padding_is_negligible(smic40, alexnet_layers):
    # with a wide enough index (no padding growth) and r <= 50 the sparse design only gains:
    # fewer stored entries, less SRAM, more PEs
    cfg = smic40.replace(index_bits=8)
    s = evaluate(configs(cfg), alexnet_layers, ALPHAS).sparse_speedup[0]
    fits = s > 0                       # near r = 1 the sparse SRAM alone exceeds the area
    assert fits[:, -1].all() and (~fits).any()
    step = np.diff(s, axis=-1)
    assert np.all(step[fits[:, :-1]] > 0)


def test_exact_masks_change_only_the_masked_layer(smic40, alexnet_layers):
    rng = np.random.default_rng(0)
    shape = ALEXNET_CONV[3]
    mask = rng.random((shape.out_channels, shape.weight_count // shape.out_channels)) < 0.2
    st = MaskStats.from_mask(mask)
    alphas = np.array([1.0, 1.0, 1.0, st.density, 1.0]).reshape(1, -1, 1)
    expected = evaluate(configs(smic40), alexnet_layers, alphas)
    exact = evaluate(configs(smic40), alexnet_layers, alphas,
                     MaskArrays((None, None, None, st, None)))
    assert exact.entries[0, 3, 0] == st.relative_entries([smic40.index_bits])[0]
    assert exact.entries[0, 3, 0] == pytest.approx(expected.entries[0, 3, 0], rel=0.01)
    assert exact.sparse_speedup[0, 3, 0] == pytest.approx(expected.sparse_speedup[0, 3, 0], rel=0.05)
    np.testing.assert_array_equal(exact.sparse_time_ns[0, [0, 1, 2, 4]], expected.sparse_time_ns[0, [0, 1, 2, 4]])


def test_fixed_chip_roofline_and_fit_errors(smic40):
    fc = LayerArray.from_shapes([ALEXNET_CONV[3]])
    cfg = smic40.replace(mode="fixed", weight_sram_kb=64, feature_sram_kb=64)
    r = evaluate(configs(cfg), fc, np.array([1.0, 0.1]))
    # weights stream in from DRAM: dense time is at least the DRAM time of the weights
    dram_ns = ALEXNET_CONV[3].weight_count * 16 / (cfg.dram_gbps * 8)
    assert r.dense_time_ns[0, 0, 0] >= dram_ns
    assert r.sparse_dram_bits[0, 0, 1] < r.dense_dram_bits[0, 0, 0]
    with pytest.raises(FitError, match="conv4.*weight_sram_kb"):
        evaluate(configs(cfg.replace(weight_sram_kb=0.1)), fc, np.array([0.5]))
    with pytest.raises(FitError, match="feature_sram_kb"):
        evaluate(configs(cfg.replace(feature_sram_kb=0.1)), fc, np.array([0.5]))


def test_bad_alphas_and_mixed_modes(smic40, alexnet_layers):
    with pytest.raises(ConfigError, match="alpha"):
        evaluate(configs(smic40), alexnet_layers, np.array([0.0]))
    with pytest.raises(ConfigError, match="mode"):
        evaluate(configs(smic40, smic40.replace(mode="fixed")), alexnet_layers, np.array([0.5]))


def test_auto_dataflow_takes_the_faster_mapping_per_layer_and_design(smic40, alexnet_layers):
    runs = {df: evaluate(configs(smic40.replace(dataflow=df)), alexnet_layers, ALPHAS)
            for df in ("os", "ws", "auto")}
    for field in ("dense_cycles", "sparse_cycles"):
        os_, ws, auto = (getattr(runs[df], field) for df in ("os", "ws", "auto"))
        np.testing.assert_array_equal(auto, np.minimum(os_, ws))
        assert np.any(os_ != ws)             # an explicit dataflow is honoured


def test_isoarea_weights_above_the_onchip_buffer_stream_from_dram(smic40):
    from codesign.graph import load_network
    fc6 = LayerArray.from_shapes([s for s in load_network("alexnet").shapes if s.name == "fc6_w_0"])
    capped = evaluate(configs(smic40), fc6, np.array([1.0, 0.3]))
    bits = fc6.weights[0, 0, 0] * smic40.weight_bits
    assert capped.dense_dram_bits[0, 0, 0] == bits
    assert capped.dense_time_ns[0, 0, 0] >= bits / (smic40.dram_gbps * 8)
    assert np.all(capped.sparse_dram_bits[0, 0] == capped.sparse_storage_bits[0, 0])
    # both designs hold a buffer of the same size, so pruning buys no SRAM area for PEs
    assert np.all(capped.sparse_pes[0, 0] < smic40.pes)
    unlimited = evaluate(configs(smic40.replace(onchip_weight_kb=0)), fc6, np.array([0.3]))
    assert unlimited.dense_dram_bits[0, 0, 0] == 0 and unlimited.sparse_pes[0, 0, 0] > 10 * smic40.pes
