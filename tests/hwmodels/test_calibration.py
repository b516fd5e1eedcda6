"""smic40-admmnn against paper 001: Fig. 4's r* on CONV4 and Table 9 on CONV4's design
(the fit itself, codesign.calibrate, is tested in tests/codesign/test_calibrate_fit.py)."""
import numpy as np
import pytest

from hwmodels import paper001
from hwmodels.configs import single
from hwmodels.decide import break_even, speedup_curves
from hwmodels.workload import LayerArray


def test_admmnn_preset_meets_the_paper_targets(admmnn, alexnet_layers):
    r = break_even(single(admmnn), alexnet_layers).ratio[0]
    assert r[3] == pytest.approx(paper001.BREAK_EVEN_CONV4, rel=0.05)
    assert r[0] > 1.59                  # CONV1 stays dense at Ours' ratio, as the paper decided
    conv4 = LayerArray.from_shapes([paper001.ALEXNET_CONV[3]])
    points = [(m, l, rr, s) for m, l, rr, s in paper001.table9_points() if l != "conv1"]
    s = speedup_curves(single(admmnn), conv4, np.array([p[2] for p in points]))[0, 0]
    errors = s / np.array([p[3] for p in points]) - 1
    assert np.all(np.abs(errors) <= 0.25), dict(zip([f"{p[0]} {p[1]}" for p in points], errors.round(3)))
    conv1 = LayerArray.from_shapes([paper001.ALEXNET_CONV[0]])
    low = [p[2] for p in paper001.table9_points() if p[1] == "conv1" and p[0] != "Ours"]
    assert np.all(speedup_curves(single(admmnn), conv1, np.array(low)) < 1.0)

