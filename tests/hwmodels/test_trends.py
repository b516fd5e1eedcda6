"""Physical trends the model must show whatever its fitted parameters (issue 3)."""
import numpy as np

from hwmodels.breakeven import break_even
from hwmodels.cost import evaluate

from .conftest import configs


def r_star(cfg, layers):
    return break_even(configs(cfg), layers).ratio[0]


def test_fewer_weight_bits_raise_break_even(smic40, alexnet_layers):
    # the index becomes relatively dearer: (b_w + b) / b_w grows as b_w shrinks
    rs = [r_star(smic40.replace(weight_bits=b), alexnet_layers) for b in (16, 12, 8)]
    assert np.all(rs[0] < rs[1]) and np.all(rs[1] < rs[2])


def test_bitmask_beats_relative_at_low_sparsity_and_loses_at_high(smic40, alexnet_layers):
    alphas = np.array([0.6, 0.02])
    def run(**kw):
        return evaluate(configs(smic40.replace(**kw)), alexnet_layers, alphas)
    rel, bm = run(), run(index_format="bitmask")
    # storage: one bit per position is cheap when most positions hold weights, dear when few do
    # (against the relative index of the best width for storage at each alpha)
    rel_min = np.min([run(index_bits=b).sparse_storage_bits[0] for b in range(1, 11)], axis=0)
    assert np.all(bm.sparse_storage_bits[0, :, 0] < rel_min[:, 0])
    assert np.all(bm.sparse_storage_bits[0, :, 1] > rel_min[:, 1])
    # speed at low sparsity, same decoder fan-in (16): the bitmask frees more SRAM for PEs.
    # (At high sparsity both process >= N/16 positions per fiber, so their speeds converge:
    # the bitmask's loss there is storage, not cycles.)
    conv = slice(1, 5)          # conv2-5; conv1's sparse design barely fits at alpha 0.6
    assert np.all(bm.sparse_speedup[0, conv, 0] > rel.sparse_speedup[0, conv, 0])


def test_a_slower_decoder_raises_break_even(smic40, alexnet_layers):
    rs = [r_star(smic40.replace(decoder_fo4_per_level=f), alexnet_layers) for f in (3.0, 5.0, 8.0)]
    assert np.all(rs[0] < rs[1]) and np.all(rs[1] < rs[2])
    slow_gates = r_star(smic40.replace(fo4_ps=30.0), alexnet_layers)
    assert np.all(slow_gates > rs[1])


def test_a_bigger_decoder_raises_break_even(smic40, alexnet_layers):
    rs = [r_star(smic40.replace(decoder_area_scale=s), alexnet_layers) for s in (0.5, 1.0, 2.0)]
    assert np.all(rs[0] < rs[1]) and np.all(rs[1] < rs[2])


def test_more_compute_area_raises_break_even(smic40, alexnet_layers):
    # spending a bigger budget on PEs makes the weight SRAM a smaller share of the area, so
    # what pruning saves in SRAM buys relatively fewer extra PEs
    # (conv1, 96 filters, is left out: on 2048 PEs its dense mapping wastes a quarter of the
    # array columns, which lowers its r* for a different reason)
    rs = [r_star(smic40.replace(pes=p), alexnet_layers)[1:] for p in (128, 512, 2048)]
    assert np.all(rs[0] < rs[1]) and np.all(rs[1] < rs[2])
