"""Every result of the Python API is a codesign.results.Result (layers, totals, to_dict, to_csv,
report), frozen once built; its typed records read back from the JSON they write."""
from __future__ import annotations

import csv
import dataclasses
import json

import pytest
import torch

import codesign
from codesign.break_even import BreakEvenResult
from codesign.compress import PrunedLayer, PruneResult, PruneTotals
from codesign.loop.job import JobResult
from codesign.loop.records import SearchResult
from codesign.plans import Plan, PlanTotals
from codesign.results import Result
from codesign.sweeps import SweepResult

torch.set_num_threads(1)

# What the API returns: load is a Network, hardware a HardwareSpec; every other function a Result.
API_RESULTS = {"breakeven": BreakEvenResult, "plan": Plan, "sweep": SweepResult, "prune": PruneResult,
               "search": JobResult}


@pytest.fixture(scope="module")
def results():
    net = codesign.load("lenet5")
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 16), torch.nn.ReLU(),
                                 torch.nn.Linear(16, 10))
    data = torch.utils.data.TensorDataset(torch.rand(40, 1, 8, 8), torch.arange(40) % 10)
    return {"breakeven": codesign.breakeven(net, patterns=("unstructured", "2:4")),
            "plan": codesign.plan(net, alpha=0.2, uncertainty=8),
            "sweep": codesign.sweep(net, vary={"pes": [128, 256]}),
            "prune": codesign.prune(module, data, method="magnitude", alpha=0.5, epochs=0.0)}


def test_the_api_functions_are_the_ones_enumerated():
    assert set(API_RESULTS) == set(codesign.__all__) - {"load", "hardware", "HardwareSpec", "CodesignError",
                                                        "pruner"}      # a pruner is no result: it drives a loop
    assert all(dataclasses.is_dataclass(t) and t.__dataclass_params__.frozen for t in API_RESULTS.values())
    assert SearchResult.__dataclass_params__.frozen


@pytest.mark.parametrize("name", ["breakeven", "plan", "sweep", "prune"])
def test_every_api_result_is_a_frozen_result(results, name, tmp_path):
    result = results[name]
    assert isinstance(result, Result) and isinstance(result, API_RESULTS[name])
    assert len(result.layers) > 0 and result.totals is not None
    json.dumps(result.to_dict(), allow_nan=True)
    rows = list(csv.reader(result.to_csv(tmp_path / "rows.csv").open()))
    assert len(rows) >= 2
    files = result.report(tmp_path / "report")
    assert files["report.html"].stat().st_size > 1000
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.layers = ()


def test_typed_records_round_trip_through_the_json_they_write(results):
    plan, pruned = results["plan"], results["prune"]
    assert isinstance(plan.totals, PlanTotals) and plan.totals.schema_version == 1
    again = Plan.from_dict(json.loads(plan.to_json()))
    assert again == plan and again.to_dict() == plan.to_dict()
    assert plan.totals.speedup_range is not None and plan.totals["speedup"] == plan.totals.speedup
    saved = json.loads(json.dumps(pruned.to_dict(), allow_nan=True))
    rows = saved.pop("layers")
    assert PruneTotals.from_dict(saved) == pruned.totals
    assert tuple(PrunedLayer.from_dict(r) for r in rows) == pruned.layers


def test_optional_fields_stay_out_of_the_json_until_set():
    plan = codesign.plan("lenet5", alpha=0.2)
    assert "speedup_range" not in plan.to_dict()["totals"] and plan.totals.speedup_range is None
    assert "speedup_range" not in plan.totals and plan.totals.get("flipping_layers") is None


def test_a_record_refuses_a_key_it_does_not_have():
    data = codesign.plan("lenet5", alpha=0.2).totals.to_dict()
    with pytest.raises(TypeError):
        PlanTotals.from_dict({**data, "speedup_typo": 1.0})

