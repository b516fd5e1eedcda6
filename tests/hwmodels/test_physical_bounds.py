"""Sparse speedups stay physical on every layer type of five real networks."""
import numpy as np
import pytest

from codesign.graph import load_network
from codesign.hwconfig import load_hw
from hwmodels.arch import ConfigArray
from hwmodels.cost import LayerArray, evaluate

NETWORKS = ("alexnet", "vgg19", "resnet50", "shufflenet", "squeezenet")
ALPHAS = np.array([0.1, 0.3, 0.5, 1.0])


@pytest.mark.parametrize("network", NETWORKS)
def test_sparse_speedup_is_bounded_by_work_pes_and_clock(network):
    """Bounds on smic40-admmnn (OS): speedup <= r x max(1, P_s / P_d) x max(1, f_d / f_s), and
    speedup < 3 r on every layer.

    Why: the sparse design is the dense array (same rows, same mapping, the dense design's fold
    rounding, the same fill/drain) with decoders, on P_s PEs at clock f_s. Per fold a PE walks
    at least alpha = 1/r of the dense walk (padding and imbalance only add), so the walk shrinks
    at most r-fold. Its column folds shrink at most by its extra columns P_s/P_d, and when it
    has fewer columns than the dense array, the fill/drain it saves is no more than the folds it
    adds. The clock ratio enters once. So neither a mapping wasted on the dense array (FC layers
    at batch 1 use one row of the OS array, depthwise layers one column) nor a fill/drain
    artifact can make a layer look better than "r times less work on P_s/P_d times the PEs".
    A DRAM-bound layer gains at most its storage ratio (< r). P_s/P_d can exceed 1 only where
    the design is mostly weight SRAM, which onchip_weight_kb caps (2 MB: FC layers stream from
    DRAM), so P_s/P_d x f_d/f_s stays below 3 on the preset and 3 r bounds every layer. (Without
    the cap, fc6's dense design is 75 MB of SRAM and 256 PEs, and pruning 3.3x would buy
    ~80x the PEs.) Unpruned (alpha = 1) the
    sparse design stores indices on top of every weight, so it has fewer PEs, a slower clock
    (decoder on the MAC path) and no less walk: it must be slower than dense."""
    hw = load_hw("smic40-admmnn")
    assert hw.dataflow == "os"
    shapes = load_network(network).shapes
    res = evaluate(ConfigArray.from_configs([hw]), LayerArray.from_shapes(shapes), ALPHAS)
    speedup = res.sparse_speedup[0]
    pes = np.maximum(1.0, res.sparse_pes[0] / hw.pes)
    clock = np.maximum(1.0, res.dense_clock_ns[0] / res.sparse_clock_ns[0])
    bound = (1.0 / ALPHAS) * pes * clock
    worst = np.unravel_index(np.argmax(speedup / bound), speedup.shape)
    assert np.all(speedup <= bound * (1 + 1e-9)), (shapes[worst[0]].name, ALPHAS[worst[1]],
                                                    speedup[worst], bound[worst])
    assert np.all(speedup[:, -1] < 1.0), shapes[int(np.argmax(speedup[:, -1]))].name
    assert np.all(pes * clock < 3.0)
    assert np.all(speedup < 3.0 / ALPHAS)


@pytest.mark.parametrize("dataflow", ["ws", "auto"])
def test_other_dataflows_keep_unpruned_layers_slower(dataflow):
    hw = load_hw("smic40-admmnn").replace(dataflow=dataflow)
    for network in ("alexnet", "shufflenet"):
        layers = LayerArray.from_shapes(load_network(network).shapes)
        res = evaluate(ConfigArray.from_configs([hw]), layers, np.array([1.0]))
        assert np.all(res.sparse_speedup < 1.0), network


def test_fixed_chip_sparse_speedup_is_bounded_by_work_and_clock():
    """On one fixed chip the sparse-capable array has fewer PEs (decoders take area) and the
    same SRAM, so with the same argument its speedup over the dense chip is at most
    r x max(1, f_d / f_s); a DRAM-bound layer gains at most its storage ratio (< r)."""
    hw = load_hw("smic40-admmnn").replace(mode="fixed")
    for network in ("alexnet", "shufflenet"):
        res = evaluate(ConfigArray.from_configs([hw]),
                       LayerArray.from_shapes(load_network(network).shapes), ALPHAS)
        assert np.all(res.sparse_pes < hw.pes)
        clock = np.maximum(1.0, res.dense_clock_ns / res.sparse_clock_ns)
        assert np.all(res.sparse_speedup <= clock / ALPHAS * (1 + 1e-9)), network
        assert np.all(res.sparse_speedup[..., -1] < 1.0), network
