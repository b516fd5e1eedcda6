"""codesign.calibrate: fitting hardware keys to measured speedups stays physical."""
import pytest

from codesign.calibrate import BreakEvenTarget, CalibrationPoint, fit, predict, predict_break_even
from hwmodels import paper001
from hwmodels.presets import read_preset


def test_the_fit_stays_inside_the_physical_range_and_recovers_a_known_value():
    smic40 = read_preset("smic40")
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
