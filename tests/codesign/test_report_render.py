"""Report files parse back to the numbers they were made from; the HTML is self-contained and
loads in a real headless Chromium without console errors, showing the plan's numbers."""
from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import pytest

from codesign.report import (Curve, Heatmap, LayerRow, Report, ReportError, SearchTrace, load,
                             render, rerender)
from codesign.report import fmt
from codesign.report.renderer import LAYER_HEADERS, layer_rows

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def sample_report() -> Report:
    layers = [
        LayerRow("conv1.weight", "conv", 288_000, 500, 1.0, 2.31, "dense", 1.0, 0.62, 2.4e-4,
                 2.4e-4, 16_000, 92_160, 16_000, 0, 1.1e-6, 1.1e-6),
        LayerRow("conv2.weight", "conv", 1_600_000, 25_000, 0.08, 2.18, "sparse", 5.73, 5.73,
                 1.3e-3, 2.27e-4, 800_000, 36_800, 64_000, 10_500, 5.2e-6, 1.0e-6),
        LayerRow("fc1.weight", "gemm", 400_000, 400_000, 0.035, float("inf"), "dense", 1.0, 0.4,
                 3.3e-4, 3.3e-4, 12_800_000, 12_800, 12_800_000, 0),
    ]
    curves = [Curve("conv2.weight", [1.0, 2.0, 4.0, 8.0, 16.0], [0.46, 0.92, 1.84, 3.5, 6.1],
                    2.18, 12.5)]
    search = SearchTrace("dp", [0, 1, 2], ["confirm", "confirm", "final"], [88.9, 89.2, 89.1],
                         [3.2, 2.9, 2.9], [False, True, True],
                         {"speedup": 2.9, "accuracy %": 89.1, "training runs": 3})
    heat = Heatmap("speedup", "pes", [64, 128], "index bits", [4, 5, 6],
                   [[1.1, 1.2], [1.3, 1.4], [1.2, 1.25]], "speedup ×")
    plan = {"schema_version": 1, "alphas": {"conv2.weight": 0.08}}
    return Report(title="LeNet-5 on smic40-admmnn", meta={"model": "lenet5", "hardware": "smic40"},
                  summary={"whole-network speedup": 2.9, "accuracy": "89.10%",
                           "model size with indices": "1.6 MiB"},
                  layers=layers, curves=curves, searches=[search], heatmaps=[heat], plan=plan,
                  notes=["numbers are simulated"])


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    report = sample_report()
    paths = render(report, out)
    return report, out, paths


def test_all_files_are_written(rendered):
    _, out, paths = rendered
    for name in ("report.html", "report.md", "plan.json", "layers.csv", "report-data.json",
                 "figures/speedup.png", "figures/storage.png", "figures/speedup_vs_r.png",
                 "figures/search.png", "figures/heatmap_0.png"):
        assert (out / name).exists(), name
        assert (out / name).stat().st_size > 0
    assert (out / "figures/speedup.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_layers_csv_parses_back_to_the_plan_numbers(rendered):
    report, out, _ = rendered
    with (out / "layers.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["name"] for r in rows] == [l.name for l in report.layers]
    for row, layer in zip(rows, report.layers):
        assert float(row["alpha"]) == layer.alpha
        assert float(row["speedup"]) == layer.speedup
        assert float(row["r_star"]) == layer.r_star          # includes inf
        assert int(row["index_bits_after"]) == layer.index_bits_after
        assert row["implementation"] == layer.implementation


def test_plan_json_and_report_data_round_trip(rendered):
    report, out, _ = rendered
    assert json.loads((out / "plan.json").read_text()) == report.plan
    back = load(out)
    assert back == report
    assert math.isinf(back.layers[2].r_star)


def test_markdown_holds_the_same_layer_table(rendered):
    report, out, _ = rendered
    md = (out / "report.md").read_text()
    assert "| " + " | ".join(LAYER_HEADERS) + " |" in md
    for row in layer_rows(report):
        assert "| " + " | ".join(row) + " |" in md
    assert "](figures/speedup.png)" in md


def test_html_is_self_contained(rendered):
    _, out, _ = rendered
    html = (out / "report.html").read_text()
    assert not re.search(r'(src|href)\s*=\s*"(?!data:)', html)   # nothing to fetch
    assert html.count("data:image/png;base64,") == 5


def test_rerender_reproduces_the_report(rendered, tmp_path):
    _, out, _ = rendered
    rerender(out, tmp_path)
    assert (tmp_path / "report.md").read_text() == (out / "report.md").read_text()
    assert (tmp_path / "layers.csv").read_text() == (out / "layers.csv").read_text()


def test_loading_a_directory_without_report_data_says_what_to_do(tmp_path):
    with pytest.raises(ReportError, match="holds no report-data.json"):
        load(tmp_path)


def test_html_loads_in_headless_chromium_without_errors(rendered):
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing: install the Debian package `chromium` "
                    "(.ci/setup does it as root) to run the browser check")
    playwright = pytest.importorskip("playwright.sync_api")
    report, out, _ = rendered
    errors: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            failed: list[str] = []
            page.on("requestfailed", lambda r: failed.append(r.url))
            page.goto((out / "report.html").as_uri(), wait_until="load")
            text = page.inner_text("body")
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => e.complete && e.naturalWidth > 0)")
        finally:
            browser.close()
    assert errors == [] and failed == []
    assert images and all(images)                       # every inline PNG decoded
    for layer, row in zip(report.layers, layer_rows(report)):
        assert layer.name in text
        assert fmt.num(layer.speedup) in text and fmt.num(layer.alpha) in text
    assert fmt.num(report.summary["whole-network speedup"]) in text
