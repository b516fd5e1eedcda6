"""Cost-only plan reports on the real hardware model: paper 001 Table 8 'Ours' on AlexNet."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from codesign.errors import CodesignError
from codesign.graph import load_network
from codesign.hwconfig import load_hw
from codesign.plan import build_plan
from codesign.report.build import plan_report
from codesign.report.hooks import write_plan_report

TABLE8 = Path(__file__).resolve().parents[2] / "reports" / "alexnet-smic40" / "table8-ours.json"


@pytest.fixture(scope="module")
def alexnet_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("alexnet")
    net = load_network("alexnet", (1, 3, 227, 227))
    alphas = json.loads(TABLE8.read_text())["alphas"]
    hw = load_hw("smic40-admmnn")
    plan = build_plan(net.shapes, hw, alphas, model=net.name, source="sparsity")
    paths = write_plan_report(plan, net, hw, out)
    return alphas, out, paths


def _csv(out: Path) -> list[dict]:
    with (out / "layers.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_table8_ratios_keep_conv1_dense(alexnet_report):
    alphas, out, _ = alexnet_report
    rows = {r["name"]: r for r in _csv(out)}
    conv1 = rows["conv1_w_0"]
    assert 1 / alphas["conv1_w_0"] < float(conv1["r_star"])       # r = 1.59 below r*
    assert conv1["implementation"] == "dense" and float(conv1["alpha"]) == 1.0
    assert float(conv1["alpha_planned"]) == alphas["conv1_w_0"]
    for n in ("conv2_w_0", "conv3_w_0", "conv4_w_0", "conv5_w_0"):
        assert rows[n]["implementation"] == "sparse" and float(rows[n]["speedup"]) > 1


def test_plan_json_totals_match_the_layer_rows(alexnet_report):
    _, out, _ = alexnet_report
    plan = json.loads((out / "plan.json").read_text())
    rows = _csv(out)
    dense = sum(float(r["latency_dense"]) for r in rows)
    planned = sum(float(r["latency"]) for r in rows)
    assert plan["totals"]["speedup"] == pytest.approx(dense / planned, rel=1e-9)
    data = json.loads((out / "report-data.json").read_text())
    assert data["summary"]["whole-network speedup"] == pytest.approx(plan["totals"]["speedup"],
                                                                     rel=1e-9)
    assert "conv1_w_0" not in plan["alphas"]                      # dense layers are not pruned
    assert {l["name"] for l in plan["layers"]} == {r["name"] for r in rows}
    for l, r in zip(plan["layers"], rows):
        assert l["storage_bits"] == pytest.approx(
            int(r["weight_bits_after"]) + int(r["index_bits_after"]), abs=1)


def test_plan_report_rejects_unknown_layers():
    net = load_network("alexnet", (1, 3, 227, 227))
    with pytest.raises(CodesignError, match="not in the model"):
        plan_report(net.shapes, load_hw("smic40-admmnn"), {"conv9": 0.5}, title="t", meta={})


def test_plan_command_writes_the_report(tmp_path, capsys):
    from codesign.cli import main
    rc = main(["plan", "alexnet", "--input-shape", "1x3x227x227", "--hw", "smic40-admmnn",
               "--sparsity", str(TABLE8), "--report", str(tmp_path)])
    assert rc == 0
    rows = {r["name"]: r for r in _csv(tmp_path)}
    assert rows["conv1_w_0"]["implementation"] == "dense"
    assert json.loads((tmp_path / "plan.json").read_text())["source"] == "sparsity"


def test_sweep_report_heatmaps_hold_the_sweep_numbers(tmp_path, capsys):
    from codesign.cli import main
    assert main(["sweep", "alexnet", "--hw", "smic40-admmnn", "--vary", "pes=256,512",
                 "--vary", "index_bits=3,4,5", "--out", str(tmp_path / "sweep"),
                 "--report", str(tmp_path / "rep")]) == 0
    data = json.loads((tmp_path / "rep" / "report-data.json").read_text())
    with (tmp_path / "sweep" / "configs.csv").open() as fh:
        configs = list(csv.DictReader(fh))
    speed = next(h for h in data["heatmaps"] if h["title"].startswith("network speedup"))
    col = next(k for k in configs[0] if "speedup" in k)
    for cfg in configs:
        x = speed["x_values"].index(int(cfg["pes"]))
        y = speed["y_values"].index(int(cfg["index_bits"]))
        assert speed["z"][y][x] == pytest.approx(float(cfg[col]), abs=6e-4)   # csv: 3 decimals
    assert "## network speedup" in (tmp_path / "rep" / "report.md").read_text()
