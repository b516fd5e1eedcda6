"""No decision hinges on a floating-point tie: values a few ulps apart (as another CPU's SIMD
kernels round them) give the same dense/sparse choice, r*, index width, cheapest choice and rank."""
import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from hwmodels import decide
from hwmodels.configs import single
from hwmodels.cost import evaluate
from hwmodels.paper001 import ALEXNET_CONV
from hwmodels.ties import REL_TOL, clearly_less, first_min, no_slower, rank
from hwmodels.workload import LayerArray, Structure

CHANNEL = Structure(channel=True)
POSITIVE = st.floats(min_value=1e-30, max_value=1e30, allow_nan=False, allow_infinity=False)


def ulps(x: float, k: int) -> float:
    """x moved k units in the last place (the size of a SIMD rounding difference)."""
    for _ in range(abs(k)):
        x = np.nextafter(x, np.inf if k > 0 else -np.inf)
    return float(x)


@settings(max_examples=200, deadline=None)
@given(POSITIVE, st.integers(-16, 16))
def test_a_few_ulps_never_flip_a_comparison(x, k):
    assert no_slower(ulps(x, k), x) and no_slower(x, ulps(x, k))
    assert not clearly_less(ulps(x, k), x)
    assert not no_slower(x * (1 + 10 * REL_TOL), x) and clearly_less(x, x * (1 + 10 * REL_TOL))


@settings(max_examples=100, deadline=None)
@given(st.lists(POSITIVE, min_size=2, max_size=8), st.data())
def test_first_min_and_rank_ignore_last_bits(values, data):
    v = np.array(values)
    shaken = np.array([ulps(x, data.draw(st.integers(-8, 8))) for x in values])
    assert first_min(v) == first_min(shaken)
    for w in (v, shaken):
        ordered = w[rank(w)]
        assert np.all(no_slower(ordered[:-1], ordered[1:]))          # ascending up to REL_TOL


def test_rank_keeps_near_equal_values_in_their_given_order():
    one = 1.0
    v = np.array([3.0, ulps(one, 3), one, ulps(one, -3), -2.0, 0.0, np.inf, -np.inf])
    assert rank(v).tolist() == [7, 4, 5, 1, 2, 3, 0, 6]
    assert first_min(np.array([2.0, ulps(one, 2), one, ulps(one, -2)])) == 1


def test_runs_sparse_holds_its_answer_under_rounding(admmnn):
    """A sparse design equal to the dense one runs sparse (equal is no slower) whichever way
    its time rounds."""
    layers = LayerArray.from_shapes(ALEXNET_CONV, [8.0] * 5, [CHANNEL] * 5)
    costs = evaluate(single(admmnn), layers, np.array([0.999]), energy=False)
    equal = costs.sparse.time_ns
    for k in (-4, -1, 0, 1, 4):
        moved = np.vectorize(lambda t: ulps(t, k))(costs.dense_mode.time_ns)
        shaken = dataclasses.replace(costs, sparse=dataclasses.replace(costs.sparse, time_ns=moved))
        assert np.array_equal(decide.runs_sparse(shaken), decide.runs_sparse(costs))
    assert np.allclose(equal, costs.dense_mode.time_ns, rtol=1e-12)     # the case is a real tie
    assert decide.runs_sparse(costs).all()


def test_channel_pruning_is_always_worth_it_at_every_width(admmnn):
    """The tie that failed on an Intel Xeon: AlexNet conv4 at 8 bits, channel pattern."""
    for bits in (4.0, 8.0, 16.0):
        layers = LayerArray.from_shapes(ALEXNET_CONV, [bits] * 5, [CHANNEL] * 5)
        assert decide.break_even(single(admmnn), layers).always[0].all()


R_STAR_TABLE = """
import json, sys
import numpy as np
from hwmodels import decide
from hwmodels.configs import single
from hwmodels.paper001 import ALEXNET_CONV
from hwmodels.presets import read_preset
from hwmodels.workload import LayerArray, Structure
from numpy._core._multiarray_umath import __cpu_features__
out = {"x86_v4": bool(__cpu_features__.get("X86_V4"))}
for preset in ("smic40", "smic40-admmnn"):
    for mode in ("isoarea", "fixed"):
        spec = read_preset(preset).replace(mode=mode)
        for bits in (4.0, 8.0, 16.0):
            for name, s in (("unstructured", Structure()), ("channel", Structure(channel=True))):
                layers = LayerArray.from_shapes(ALEXNET_CONV, [bits] * 5, [s] * 5)
                r = decide.break_even(single(spec), layers).ratio[0]
                out[f"{preset}/{mode}/{int(bits)}/{name}"] = [decide.ratio_label(float(x)) for x in r]
print(json.dumps(out))
"""


def _r_star_table(env_extra: dict) -> dict:
    env = {**os.environ, **env_extra}
    done = subprocess.run([sys.executable, "-c", R_STAR_TABLE], env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    return json.loads(done.stdout)


def test_r_star_labels_are_the_same_with_and_without_avx512():
    """numpy's AVX-512 dispatch (X86_V4) on and off round sums differently; every r* label
    ("always", "never", or 3 significant digits) must agree. On a CPU without AVX-512 both runs
    take the same path and the test checks determinism only."""
    on = _r_star_table({})
    off = _r_star_table({"NPY_DISABLE_CPU_FEATURES": "X86_V4"})
    assert off.pop("x86_v4") is False
    on.pop("x86_v4")
    assert on == off
