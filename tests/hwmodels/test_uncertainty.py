import numpy as np

from hwmodels import uncertainty
from hwmodels.configs import single
from hwmodels.decide import break_even


def test_samples_are_seeded_inside_the_ranges_and_mode_at_the_value(admmnn):
    a = uncertainty.sample_configs(admmnn, 500, seed=3)
    b = uncertainty.sample_configs(admmnn, 500, seed=3)
    for key, (lo, hi) in admmnn.ranges.items():
        col = a.values[key]
        assert np.array_equal(col, b.values[key])
        assert col.min() >= lo and col.max() <= hi
        if hi > lo:
            assert col.std() > 0
    assert not np.array_equal(a.values["fo4_ps"], uncertainty.sample_configs(admmnn, 500, seed=4).values["fo4_ps"])


def test_break_even_ranges_contain_the_nominal_value(admmnn, alexnet_layers):
    nominal = break_even(single(admmnn), alexnet_layers).ratio[0]
    sampled = break_even(uncertainty.sample_configs(admmnn, 200), alexnet_layers).ratio
    band = uncertainty.interval(sampled, nominal)
    assert np.all(band.lo <= nominal) and np.all(nominal <= band.hi)
    assert np.all(band.hi > band.lo)                    # the ranges do move r*


def test_agreement_counts_matching_decisions():
    samples = np.array([[True, False], [True, True], [True, False], [False, False]])
    np.testing.assert_allclose(uncertainty.agreement(samples, np.array([True, False])), [0.75, 0.75])


def test_chunks_cover_the_samples_in_order_and_bound_samples_x_layers(admmnn):
    samples = uncertainty.sample_configs(admmnn, 500, seed=1)
    parts = list(uncertainty.chunks(samples, layers=54, elements=1000))
    assert len(parts) == 28 and max(len(p) for p in parts) * 54 <= 1000
    joined = np.concatenate([p.values["fo4_ps"] for p in parts])
    assert np.array_equal(joined, samples.values["fo4_ps"])
    assert len(list(uncertainty.chunks(samples, layers=5000, elements=1000))) == 500   # one sample at least


def test_break_even_does_not_depend_on_its_chunks(admmnn, alexnet_layers, monkeypatch):
    samples = uncertainty.sample_configs(admmnn, 60, seed=2)
    whole = break_even(samples, alexnet_layers).ratio
    monkeypatch.setattr("hwmodels.decide.CHUNK_ELEMENTS", 7 * len(alexnet_layers) * 12)
    assert np.array_equal(break_even(samples, alexnet_layers).ratio, whole)
