"""Physical trends the model shows whatever its fitted parameters (on smic40, sourced only)."""
import numpy as np

from hwmodels.configs import single
from hwmodels.cost import evaluate
from hwmodels.decide import break_even


def r_star(spec, layers):
    return break_even(single(spec), layers).ratio[0]


def test_fewer_weight_bits_raise_break_even(smic40, alexnet_layers):
    # the index becomes relatively dearer: (b_w + b) / b_w grows as b_w shrinks
    rs = [r_star(smic40.replace(weight_bits=b), alexnet_layers)[1:] for b in (16, 12, 8)]
    assert np.all(rs[0] < rs[1]) and np.all(rs[1] < rs[2])


def test_a_slower_select_mux_and_slower_gates_raise_break_even(smic40, alexnet_layers):
    rs = [r_star(smic40.replace(decoder_fo4_per_level=f), alexnet_layers) for f in (2.0, 4.0, 6.0)]
    assert np.all(rs[0] <= rs[1]) and np.all(rs[1] <= rs[2]) and np.any(rs[0] < rs[2])
    assert np.all(r_star(smic40.replace(fo4_ps=25.0), alexnet_layers) >= rs[1])


def test_stalls_raise_break_even(smic40, alexnet_layers):
    rs = [r_star(smic40.replace(sparse_utilization=u), alexnet_layers) for u in (0.96, 0.8, 0.65)]
    assert np.all(rs[0] < rs[1]) and np.all(rs[1] < rs[2])


def test_more_pes_in_front_of_the_same_sram_raise_break_even(smic40, alexnet_layers):
    # a bigger PE budget makes the weight SRAM a smaller share of the area, so what pruning
    # saves in SRAM buys relatively fewer extra PEs
    rs = [r_star(smic40.replace(pes=p), alexnet_layers)[1:] for p in (128, 512, 2048)]
    assert np.all(rs[0] < rs[1]) and np.all(rs[1] < rs[2])


def test_a_register_window_makes_wide_indices_dear(smic40, alexnet_layers):
    window = smic40.replace(operand_select="window")
    rs = [r_star(window.replace(index_width_bits=b), alexnet_layers)[3] for b in (3, 4, 6, 8)]
    assert np.all(np.diff(rs) > 0)


def test_bitmask_stores_less_than_any_relative_width_at_low_sparsity_and_more_at_high(smic40, alexnet_layers):
    alphas = np.array([0.6, 0.02])
    bm = evaluate(single(smic40.replace(index_format="bitmask")), alexnet_layers, alphas)
    rel = np.min([evaluate(single(smic40.replace(index_width_bits=b)), alexnet_layers, alphas)
                  .storage.total_bits[0] for b in range(1, 11)], axis=0)
    assert np.all(bm.storage.total_bits[0, :, 0] < rel[:, 0])
    assert np.all(bm.storage.total_bits[0, :, 1] > rel[:, 1])
