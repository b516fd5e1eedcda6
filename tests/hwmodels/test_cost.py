"""Cost model invariants: same-area designs, storage, masks, patterns, the fixed chip, bounds."""
import numpy as np
import pytest

from hwmodels import decide
from hwmodels.configs import single
from hwmodels.cost import MaskArrays, baseline, evaluate
from hwmodels.errors import ConfigError, FitError
from hwmodels.formats import MaskStats
from hwmodels.workload import LayerArray, LayerShape, Structure
from network_shapes import read_shapes

from .conftest import configs

ALPHAS = np.array([0.1, 0.3, 0.5, 1.0])


@pytest.mark.parametrize("changes", [{}, {"pes": 1024}, {"index_format": "bitmask"},
                                     {"dataflow": "auto"}, {"weight_bits": 8}])
def test_isoarea_sparse_designs_have_the_dense_designs_area(smic40, alexnet_layers, changes):
    res = evaluate(single(smic40.replace(**changes)), alexnet_layers, ALPHAS)
    fits = res.sparse.pes > 0
    np.testing.assert_allclose(res.sparse.area_um2[fits], np.broadcast_to(res.dense.area_um2, fits.shape)[fits],
                               rtol=1e-9)


def test_dense_cost_does_not_depend_on_alpha_and_sparse_storage_shrinks(smic40, alexnet_layers):
    res = evaluate(single(smic40), alexnet_layers, np.array([0.05, 0.1, 0.3, 0.6]))
    assert res.dense.time_ns.shape[-1] == 1
    assert np.all(np.diff(res.storage.total_bits, axis=-1) > 0)
    assert np.all(res.storage.weight_bits_total <= res.dense_storage.weight_bits_total)


def test_a_passed_baseline_is_the_same_and_a_foreign_one_is_refused(smic40, admmnn, alexnet_layers):
    cfg = single(smic40)
    base = baseline(cfg, alexnet_layers)
    a = evaluate(cfg, alexnet_layers, ALPHAS)
    b = evaluate(cfg, alexnet_layers, ALPHAS, base=base)
    np.testing.assert_array_equal(a.sparse.time_ns, b.sparse.time_ns)
    with pytest.raises(ConfigError, match="baseline"):
        evaluate(single(admmnn), alexnet_layers, ALPHAS, base=base)


def test_exact_masks_change_only_the_masked_layer_and_agree_with_random_statistics(smic40, alexnet_layers):
    rng = np.random.default_rng(0)
    conv4 = alexnet_layers.take([3])
    mask = rng.random((384, 1728)) < 0.2
    stats = (None, None, None, MaskStats.from_mask(mask), None)
    cfg = single(smic40)
    plain = evaluate(cfg, alexnet_layers, np.array([0.2]))
    exact = evaluate(cfg, alexnet_layers, np.array([0.2]), MaskArrays(stats))
    others = [0, 1, 2, 4]
    np.testing.assert_array_equal(plain.sparse.time_ns[:, others], exact.sparse.time_ns[:, others])
    assert exact.sparse.time_ns[0, 3, 0] == pytest.approx(plain.sparse.time_ns[0, 3, 0], rel=0.03)
    assert conv4.names == ("conv4",)


def test_weights_above_the_isoarea_buffer_stream_from_dram(smic40):
    fc = LayerShape("fc6", "gemm", 1, 9216, 4096)
    res = evaluate(single(smic40), LayerArray.from_shapes([fc]), np.array([0.1, 1.0]))
    assert np.all(res.dense.dram_bits == 9216 * 4096 * 16)
    np.testing.assert_allclose(res.sparse.dram_bits[0, 0], res.storage.total_bits[0, 0])


def test_nm_layers_need_no_pointers_and_are_perfectly_balanced(smic40, alexnet_layers):
    nm = alexnet_layers.with_plan(structures=[Structure(nm_keep=2, nm_group=4)] * 5)
    res = evaluate(single(smic40), nm, np.array([0.5]))
    assert np.all(res.balance == 1.0)
    np.testing.assert_allclose(res.storage.index_bits_total, res.storage.entries * 2)
    assert np.all(res.index_width_bits == 2)


def test_channel_pruning_is_a_smaller_dense_layer(smic40, alexnet_layers):
    ch = alexnet_layers.with_plan(structures=[Structure(channel=True)] * 5)
    res = evaluate(single(smic40), ch, np.array([0.5]))
    assert np.all(res.storage.index_bits_total == 0)
    np.testing.assert_allclose(res.sparse_pe.total, np.broadcast_to(res.dense.pe_area_um2, res.shape))
    assert np.all(decide.runs_sparse(res))          # fewer filters always pay on the same area
    # a block as long as the whole reduction removes whole channels too: the same cost
    spans = alexnet_layers.with_plan(structures=[Structure(block_in=int(n))
                                                 for n in alexnet_layers.fiber_len[0, :, 0]])
    np.testing.assert_array_equal(evaluate(single(smic40), spans, np.array([0.5])).sparse.time_ns, res.sparse.time_ns)


def test_a_structure_is_one_kind():
    for mixed in (dict(channel=True, nm_keep=2, nm_group=4), dict(channel=True, block_out=4),
                  dict(nm_keep=2, nm_group=4, block_in=4)):
        with pytest.raises(ConfigError, match="one of"):
            Structure(**mixed)


def test_blocks_store_one_index_per_block(smic40):
    layer = LayerShape("w", "conv", 1, 64, 64, (3, 3), (14, 14), (14, 14))
    unstructured = LayerArray.from_shapes([layer])
    block = unstructured.with_plan(structures=[Structure(block_out=4, block_in=4)])
    u = evaluate(single(smic40), unstructured, np.array([0.25]))
    b = evaluate(single(smic40), block, np.array([0.25]))
    assert b.storage.index_bits_total[0, 0, 0] < u.storage.index_bits_total[0, 0, 0] / 8


def test_the_nm_engine_runs_only_compatible_nm_layers(smic40, alexnet_layers):
    spec = smic40.replace(sparse_engine="nm", nm_keep=2, nm_group=4, mode="fixed")
    structures = [Structure(), Structure(nm_keep=2, nm_group=4), Structure(nm_keep=1, nm_group=4),
                  Structure(nm_keep=4, nm_group=8), Structure(block_out=4, block_in=1)]
    res = evaluate(single(spec), alexnet_layers.with_plan(structures=structures), np.array([0.5]))
    assert res.supported[0, :, 0].tolist() == [False, True, True, False, False]
    assert np.all(np.isinf(res.sparse.time_ns[0, [0, 3, 4], 0]))


def test_fixed_chip_sparse_capable_twin_is_physical(admmnn):
    spec = admmnn.replace(mode="fixed")
    layers = LayerArray.from_shapes(read_shapes("alexnet"))
    res = evaluate(single(spec), layers, ALPHAS)
    twin = res.dense_mode
    assert np.all(twin.area_um2 == res.dense.area_um2)
    assert np.all(twin.pes < spec.pes) and np.all(twin.pes % spec.array_rows == 0)
    used = twin.pes * twin.pe_area_um2
    assert np.all(used <= spec.pes * res.dense.pe_area_um2 + 1e-6)
    # the speedup of any layer over the dense chip is at most r x the clock ratio: the twin has
    # fewer PEs, and a DRAM-bound layer gains at most its storage ratio
    clock = np.maximum(1.0, res.dense.clock_ns / twin.clock_ns)
    s = res.dense.time_ns / res.sparse.time_ns
    assert np.all(s <= clock / ALPHAS * (1 + 1e-9))


def test_fixed_chip_errors(smic40):
    layers = LayerArray.from_shapes([LayerShape("w", "conv", 1, 64, 64, (3, 3), (8, 8), (8, 8))])
    with pytest.raises(FitError, match="weight_sram_kb"):
        evaluate(single(smic40.replace(mode="fixed", pes=1024, weight_sram_kb=1.0)), layers, np.array([0.5]))
    wide = layers.with_plan(weight_bits=[32])
    with pytest.raises(ConfigError, match="32-bit weights"):
        evaluate(single(smic40.replace(mode="fixed")), wide, np.array([0.5]))


def test_bad_alphas_and_mixed_modes(smic40, alexnet_layers):
    for bad in (0.0, 1.5, -0.1, float("nan")):
        with pytest.raises(ConfigError, match="alpha"):
            evaluate(single(smic40), alexnet_layers, np.array([bad]))
    with pytest.raises(ConfigError, match="mode"):
        configs(smic40, smic40.replace(mode="fixed"))


@pytest.mark.parametrize("network", ("alexnet", "vgg19", "resnet50", "shufflenet", "squeezenet"))
def test_speedups_stay_physical_on_real_networks(admmnn, network):
    """Per layer: speedup <= r x max(1, P_s/P_d) x max(1, f_d/f_s) (the sparse design walks at
    least 1/r of the dense walk on P_s PEs at clock f_s; padding, imbalance and stalls only
    add), and unpruned the sparse design (indices on every weight, bigger PEs, a slower clock)
    is slower than dense."""
    res = evaluate(single(admmnn), LayerArray.from_shapes(read_shapes(network)), ALPHAS)
    s = decide.sparse_speedup(res)[0]
    pes = np.maximum(1.0, res.sparse.pes[0] / admmnn.pes)
    clock = np.maximum(1.0, res.dense.clock_ns[0] / res.sparse.clock_ns[0])
    assert np.all(s <= (1.0 / ALPHAS) * pes * clock * (1 + 1e-9))
    assert np.all(s[:, -1] < 1.0)
