"""The search's cost view (HwCostModel) agrees with codesign.plan, which the reports use."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from codesign.graph import load_network
from codesign.hwconfig import load_hw
from codesign.plan import build_plan
from codesign.search import effective_alphas, network_speedup
from codesign.search.hwcost import HwCostModel

TABLE8 = Path(__file__).resolve().parents[2] / "reports" / "alexnet-smic40" / "table8-ours.json"


@pytest.fixture(scope="module")
def alexnet():
    return load_network("alexnet", (1, 3, 227, 227))


@pytest.mark.parametrize("preset", ["smic40-admmnn", "smic40"])
@pytest.mark.parametrize("which", ["table8", "uniform"])
@pytest.mark.parametrize("quantized", [False, True])
def test_search_speedup_equals_the_plan_speedup(alexnet, preset, which, quantized):
    hw = load_hw(preset)
    bits = {l.name: (4 if l.op == "conv" else 3) for l in alexnet.layers} if quantized else None
    cost = HwCostModel(alexnet.shapes, hw, weight_bits=bits)
    alphas = (json.loads(TABLE8.read_text())["alphas"] if which == "table8"
              else {l.name: 0.15 for l in alexnet.layers})
    plan = build_plan(alexnet.shapes, hw, alphas, weight_bits=bits)
    deployed = effective_alphas(cost, alphas)
    decided = {l.name: l.implementation for l in plan.layers}
    assert {n: ("sparse" if a < 1 else "dense") for n, a in deployed.items()} == decided
    assert network_speedup(cost, deployed) == pytest.approx(plan.evaluation.totals["speedup"],
                                                            rel=1e-9)


def test_cost_model_answers_are_consistent(alexnet):
    hw = load_hw("smic40-admmnn")
    cost = HwCostModel(alexnet.shapes, hw)
    name = "conv4_w_0"
    r_star = cost.breakeven(name)
    below, above = 1 / (r_star * 0.97), 1 / (r_star * 1.03)
    lat = cost.sparse_latency(name, np.array([below, above]))
    assert lat[0] > cost.dense_latency(name) > lat[1]          # r* is where sparse breaks even
    bits = cost.storage_bits(name, np.array([1.0, 0.1]))
    assert bits[0] == alexnet.layer(name).params * hw.weight_bits and bits[1] < bits[0]
