"""smic40-admmnn against paper 001: Fig. 4's r* on CONV4 and Table 9 on CONV4's design."""
import numpy as np
import pytest

from codesign.calibrate import BreakEvenTarget, CalibrationPoint, fit, predict, predict_break_even
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


def test_the_fit_stays_inside_the_physical_range_and_recovers_a_known_value(smic40):
    layer = paper001.ALEXNET_CONV[3]
    truth = smic40.replace(sparse_utilization=0.8)
    ratios = [2.0, 4.0, 8.0]
    points = [CalibrationPoint(layer, r, float(s)) for r, s in zip(ratios, predict(truth, [
        CalibrationPoint(layer, r, 1.0) for r in ratios]))]
    result = fit(smic40, points, params=("sparse_utilization",))
    assert result.params["sparse_utilization"] == pytest.approx(0.8, rel=0.02)
    lo, hi = smic40.ranges["sparse_utilization"]
    impossible = [CalibrationPoint(layer, 2.0, 100.0)]         # would need utilization >> 1
    clipped = fit(smic40, impossible, params=("sparse_utilization",))
    assert lo <= clipped.params["sparse_utilization"] <= hi
    assert predict_break_even(result.spec, [BreakEvenTarget(layer, 1.0)])[0] > 1
