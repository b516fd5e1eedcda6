import numpy as np
import pytest

from hwmodels.breakeven import break_even, speedup_curves
from hwmodels.cost import LayerArray
from hwmodels.paper001 import ALEXNET_CONV

from .conftest import configs


def test_break_even_is_the_first_crossing(smic40, alexnet_layers):
    c = configs(smic40, smic40.replace(weight_bits=8))
    r = break_even(c, alexnet_layers).ratio
    assert np.all(np.isfinite(r)) and np.all(r > 1)
    below = speedup_curves(c, alexnet_layers, r[..., None] * (1 - 1e-4))[..., 0]
    above = speedup_curves(c, alexnet_layers, r[..., None] * (1 + 1e-4))[..., 0]
    assert np.all(below < 1) and np.all(above >= 1)
    grid = np.geomspace(1, r.max(), 400)
    s = speedup_curves(c, alexnet_layers, grid)
    for ci in range(2):
        for li in range(5):
            assert not np.any(s[ci, li][grid < r[ci, li] * (1 - 1e-4)] >= 1)


def test_always_and_never(smic40):
    layers = LayerArray.from_shapes([ALEXNET_CONV[3]])
    never = break_even(configs(smic40.replace(decoder_area_scale=500.0)), layers)
    assert never.never.all() and never.label(0, 0) == "never"
    # a free decoder with a bitmask index on an array wider than the layer's 192 filters per
    # group (16 x 256): unpruned, the sparse array (16 x 246) runs the same folds at the same
    # clock, a tie, so it is "no slower" from r = 1 on
    cheap = smic40.replace(decoder_area_scale=1e-6, decoder_fo4_per_level=0.0,
                           index_format="bitmask", decoder_window=64, pes=4096, array_rows=16)
    always = break_even(configs(cheap), layers)
    assert always.always.all() and always.label(0, 0) == "always"


def test_break_even_for_many_configs_matches_one_by_one(smic40, alexnet_layers):
    from hwmodels.arch import ConfigArray
    pes = np.array([256, 512, 1024, 2048.0])
    many = break_even(ConfigArray.from_base(smic40, {"pes": pes}), alexnet_layers).ratio
    for i, p in enumerate(pes):
        one = break_even(configs(smic40.replace(pes=int(p))), alexnet_layers).ratio[0]
        np.testing.assert_allclose(many[i], one, rtol=1e-12)
