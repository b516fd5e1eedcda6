"""The one rule: a layer runs sparse exactly when its planned ratio reaches its r*."""
import numpy as np
import pytest

from hwmodels import decide
from hwmodels.configs import ConfigArray, single
from hwmodels.cost import evaluate
from hwmodels.presets import read_preset
from hwmodels.workload import LayerArray, LayerShape, Structure
from network_shapes import read_shapes

GRID = np.array([0.9, 0.7, 0.5, 0.4, 0.3, 0.2, 0.12, 0.08, 0.05, 0.03])


@pytest.mark.parametrize("preset", ("smic40", "smic40-admmnn"))
@pytest.mark.parametrize("mode", ("isoarea", "fixed"))
@pytest.mark.parametrize("network", ("alexnet", "resnet50", "shufflenet"))
def test_runs_sparse_exactly_when_the_ratio_reaches_r_star(preset, mode, network):
    spec = read_preset(preset).replace(mode=mode)
    layers = LayerArray.from_shapes(read_shapes(network))
    cfg = single(spec)
    runs = decide.runs_sparse(evaluate(cfg, layers, GRID, energy=False))[0]
    r_star = decide.break_even(cfg, layers).ratio[0]
    reaches = (1.0 / GRID)[None, :] >= r_star[:, None] * (1 - 1e-6)
    near = np.abs(np.log((1.0 / GRID)[None, :] / np.where(np.isfinite(r_star), r_star, 1e9)[:, None])) < 1e-3
    assert np.array_equal(runs | near, reaches | near), np.argwhere(runs != reaches)[:5]


def test_break_even_is_the_first_crossing(admmnn, alexnet_layers):
    cfg = single(admmnn)
    r = decide.break_even(cfg, alexnet_layers).ratio[0]
    for j, rj in enumerate(r):
        s_at, s_below = decide.speedup_curves(cfg, alexnet_layers.take([j]), np.array([rj * 1.001, rj / 1.01]))[0, 0]
        assert s_at >= 1.0 > s_below


def test_always_and_never(smic40):
    fc = LayerShape("fc", "gemm", 1, 4096, 4096)
    assert np.isfinite(decide.break_even(single(smic40), LayerArray.from_shapes([fc])).ratio[0, 0])
    dense_only = decide.break_even(single(smic40.replace(sparse_engine="none")), LayerArray.from_shapes([fc]))
    assert dense_only.never[0, 0] and dense_only.label(0, 0) == "never"
    channel = LayerArray.from_shapes([fc], structures=[Structure(channel=True)])
    assert decide.break_even(single(smic40), channel).always[0, 0]


def test_nm_layers_have_one_ratio_that_pays_or_not(smic40, alexnet_layers):
    nm = alexnet_layers.with_plan(structures=[Structure(nm_keep=2, nm_group=4)] * 5)
    r = decide.break_even(single(smic40.replace(sparse_engine="nm", mode="fixed")), nm).ratio[0]
    assert set(np.unique(r)) <= {2.0, np.inf} and np.any(r == 2.0)


def test_many_configs_at_once_equal_one_by_one(admmnn, alexnet_layers):
    varied = ConfigArray.from_base(admmnn, {"pes": [128, 256, 512], "index_width_bits": [3, 4, 6]})
    together = decide.break_even(varied, alexnet_layers).ratio
    for i, (p, b) in enumerate(zip([128, 256, 512], [3, 4, 6])):
        alone = decide.break_even(single(admmnn.replace(pes=p, index_width_bits=b)), alexnet_layers).ratio[0]
        np.testing.assert_allclose(together[i], alone, rtol=1e-9)


@pytest.mark.parametrize("mode", ("isoarea", "fixed"))
def test_r_star_is_the_first_crossing_at_the_grids_resolution(mode):
    """The module docstring's rule for curves that cross 1 twice, against a fine grid: r* is
    within one fine cell of the first paying ratio, and a curve read as "never" pays only
    between two grid ratios."""
    base = read_preset("smic40-admmnn").replace(mode=mode)
    configs = ConfigArray.from_base(base, {"pes": [128, 512, 2048] * 3,
                                           "index_width_bits": [2] * 3 + [4] * 3 + [6] * 3})
    layers = LayerArray.from_shapes(read_shapes("resnet50"))
    r = decide.break_even(configs, layers).ratio
    fine = np.geomspace(1.0, decide.R_MAX, 1500)
    paying = decide.pays(decide.speedup_curves(configs, layers, fine))
    first = np.where(paying.any(-1), fine[np.argmax(paying, -1)], np.inf)
    both = np.isfinite(r) & np.isfinite(first)
    assert np.all(np.abs(np.log(r[both] / first[both])) <= 1.01 * np.log(fine[1] / fine[0]))
    cell = np.searchsorted(decide.ratio_grid(), fine)          # the grid cell of each fine ratio
    for c, l in np.argwhere(~np.isfinite(r) & np.isfinite(first)):
        inside = fine[paying[c, l]]
        assert len(set(cell[paying[c, l]])) == 1 and not np.isin(inside, decide.ratio_grid()).any()
    assert np.mean(np.abs(np.diff(paying.astype(int), axis=-1)).sum(-1) >= 2) > 0.01   # there are such curves
