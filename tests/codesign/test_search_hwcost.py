"""The search's cost view and codesign.plans decide every layer the same way, on AlexNet,
ResNet-50 and ShuffleNet, over an alpha grid, in both modes and on both presets."""
import numpy as np
import pytest

from codesign.graph import load_network
from codesign.specs import hardware
from codesign.plans import build_plan
from codesign.loop import effective_alphas, network_speedup
from codesign.loop.hwcost import HwCostModel
from pruning.patterns import Pattern

ALPHAS = (0.6, 0.3, 0.12, 0.05)


@pytest.fixture(scope="module", params=["alexnet", "resnet50", "shufflenet"])
def network(request):
    return load_network(request.param)


@pytest.mark.parametrize("preset", ["smic40", "smic40-admmnn"])
@pytest.mark.parametrize("mode", ["isoarea", "fixed"])
def test_search_and_plan_agree_on_every_layer(network, preset, mode):
    hw = hardware(preset, mode=mode)
    cost = HwCostModel(network.shapes, hw)
    for alpha in ALPHAS:
        alphas = {l.name: alpha for l in network.layers}
        p = build_plan(network.shapes, hw, {"alphas": alphas})
        deployed = effective_alphas(cost, alphas)
        assert {n: ("sparse" if a < 1 else "dense") for n, a in deployed.items()} == \
            {l.name: l.implementation for l in p.layers}
        assert network_speedup(cost, deployed) == pytest.approx(p.totals["speedup"], rel=1e-9)


def test_cost_model_answers_are_consistent():
    alexnet = load_network("alexnet", "1x3x227x227")
    hw = hardware("smic40-admmnn")
    cost = HwCostModel(alexnet.shapes, hw, weight_bits={"conv4_w_0": 8})
    name = "conv4_w_0"
    r_star = cost.break_even(name)
    below, above = 1 / (r_star * 0.97), 1 / (r_star * 1.03)
    assert cost.runs_sparse(name, np.array([below, above])).tolist() == [False, True]
    lat = cost.latency(name, np.array([1.0, below, above]))
    assert lat[0] == lat[1] > lat[2]
    bits = cost.storage_bits(name, np.array([1.0, 0.1]))
    assert bits[0] == alexnet.layer(name).params * 8 and bits[1] < bits[0]
    assert cost.break_even(name, Pattern("channel")) == 1.0
