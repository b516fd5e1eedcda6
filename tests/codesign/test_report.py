"""Reports: files that parse back to the numbers they were made from, hostile names escaped,
and the HTML of a plan, a sweep and a search report in a real headless Chromium: every inline
figure decodes, no console error, the numbers on screen, nothing wider than the window."""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from codesign import api
from codesign.report import load, render, rerender
from codesign.report.build import search_report, search_trace
from codesign.loop.records import IterationRecord, SearchResult
from codesign.loop.verdict import DropEstimate
from codesign.plans import layer_curves

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WIDTH = 1400


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    base = tmp_path_factory.mktemp("reports")
    net = api.load("alexnet", "1x3x227x227")
    hw = api.hardware("smic40-admmnn")
    plan = api.plan(net, hw, alpha=0.15, uncertainty=50)
    out = {"plan": plan.report(base / "plan")}
    sweep = api.sweep(net, hw, vary={"pes": [128, 256, 512], "sram_macro_kb": [32, 64], "weight_bits": [8, 16]})
    out["sweep"] = sweep.report(base / "sweep", network=net, base=hw)
    history = [IterationRecord(i, ph, {"conv4_w_0": a}, acc, d, s, s, ok, ci_low=d - 0.3, ci_high=d + 0.3,
                               measured_speedup=s * 0.98)
               for i, (ph, a, acc, d, s, ok) in enumerate([
                   ("confirm", 0.2, 0.55, 0.4, 1.8, True), ("confirm", 0.1, 0.53, 2.4, 2.6, False),
                   ("refine", 0.15, 0.548, 0.6, 2.1, True), ("final", 0.15, 0.549, 0.5, 2.1, True)])]
    result = SearchResult("dp", {"conv4_w_0": 0.15}, 0.554, 0.549, 2.06, 2.1, history, {"train": 3, "final": 1},
                          verdict=DropEstimate(0.5, 0.2, 0.8, 2000), speedup_estimate=2.1)
    rep = search_report(plan, [search_trace(result, 12.0, 1.0)], curves=layer_curves(plan),
                        title="Search: alexnet", meta={"model": "alexnet"},
                        summary={"constraint met (validation)": "yes"}, notes=["synthetic history"])
    out["search"] = render(rep, base / "search")
    return plan, out


def test_files_parse_back_to_the_plan(reports):
    plan, out = reports
    paths = out["plan"]
    rows = list(csv.DictReader(Path(paths["layers.csv"]).open()))
    assert [r["name"] for r in rows] == [l.name for l in plan.layers]
    for row, layer in zip(rows, plan.layers):
        assert float(row["speedup"]) == pytest.approx(layer.speedup, rel=1e-12)
        assert row["implementation"] == layer.implementation
    saved = json.loads(Path(paths["plan.json"]).read_text())
    assert saved["totals"]["speedup"] == pytest.approx(plan.totals["speedup"])
    back = load(Path(paths["report.html"]).parent)
    assert back.title and len(back.layers) == len(plan.layers)


def test_rerender_reproduces_the_report(reports, tmp_path):
    _, out = reports
    for kind in ("plan", "sweep", "search"):
        src = Path(out[kind]["report.md"]).parent
        rerender(src, tmp_path / kind)
        assert (tmp_path / kind / "report.md").read_text() == (src / "report.md").read_text()


def test_html_is_self_contained(reports):
    _, out = reports
    for kind in ("plan", "sweep", "search"):
        html = Path(out[kind]["report.html"]).read_text()
        assert not re.search(r'(src|href)\s*=\s*"(?!data:|#)', html), kind    # nothing to fetch


def test_hostile_layer_names_are_escaped_in_markdown_and_html(tmp_path):
    from onnx import TensorProto, helper, numpy_helper
    import numpy as np
    evil = "w|<script>alert(1)</script>\n## pwned"
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", evil], ["y"], transB=1)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 32])],
        [numpy_helper.from_array(np.ones((32, 64), np.float32), evil)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    paths = api.plan(api.load(model), "smic40-admmnn", alpha=0.3).report(tmp_path)
    md, html = Path(paths["report.md"]).read_text(), Path(paths["report.html"]).read_text()
    assert "<script>alert" not in md and "<script>alert" not in html
    assert "\n## pwned" not in md


def _open(path: Path, shot: Path):
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing: install the Debian package `chromium` (.ci/setup "
                    "does it as root) to run the browser check")
    from playwright.sync_api import sync_playwright
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(path.as_uri(), wait_until="load")
            text = page.inner_text("body")
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => [e.complete && e.naturalWidth > 0, e.getBoundingClientRect().width])")
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    return text, images, overflow, errors


@pytest.mark.parametrize("kind", ["plan", "sweep", "search"])
def test_reports_render_in_headless_chromium(reports, kind, tmp_path):
    plan, out = reports
    text, images, overflow, errors = _open(Path(out[kind]["report.html"]), tmp_path / f"{kind}.png")
    assert errors == []
    assert images and all(ok for ok, _ in images)                  # every inline PNG decoded
    assert all(w >= 0.6 * (WIDTH - 100) for _, w in images)         # figures at (nearly) full width
    assert overflow <= 0                                            # nothing hides behind a scroll
    assert (tmp_path / f"{kind}.png").stat().st_size > 10_000
    if kind == "plan":
        for layer in plan.layers[:3]:
            assert layer.name in text
    if kind == "search":
        assert "2.06" in text and "constraint met" in text.lower()
