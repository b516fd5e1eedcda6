"""The cost-only commands end to end: inspect, breakeven, plan, sweep, hw, calibrate, report."""
import json
import sys

import pytest

from codesign.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_breakeven_table_json_designs_ranges_and_plot(capsys, tmp_path):
    code, out, _ = run(capsys, "breakeven", "alexnet", "--plot", str(tmp_path / "be.png"),
                       "--patterns", "unstructured,2:4,channel")
    assert code == 0 and "conv4_w_0" in out and "2:4" in out and "channel" in out
    assert (tmp_path / "be.png").stat().st_size > 10_000
    code, out, _ = run(capsys, "breakeven", "alexnet", "--json", "--set", "weight_bits=8",
                       "--uncertainty", "50")
    doc = json.loads(out)
    assert doc["hardware"]["architecture"]["weight_bits"] == 8 and len(doc["layers"]) == 8
    for l in doc["layers"]:
        assert set(l["designs"]["dense"]) == set(l["designs"]["sparse"]) == {"pes", "pe_area_um2", "clock_ns", "area_um2"}
        lo, hi = l["break_even_range"]
        assert (lo or 1e9) <= (l["break_even"] or 1e9) <= (hi or 1e9)


def test_breakeven_shows_no_speedup_a_pattern_cannot_have(capsys, tmp_path):
    """An engine that cannot run a pattern, and an N:M pattern below its own ratio, get '-'
    (null in JSON), never a number."""
    code, out, _ = run(capsys, "breakeven", "alexnet", "--set", "sparse_engine=nm", "--json",
                       "--patterns", "unstructured,2:4,1:8")
    layers = json.loads(out)["layers"]
    at = {(l["name"], l["pattern"]): l["speedup_at"] for l in layers}
    assert at[("conv3_w_0", "unstructured")] == {"2": None, "4": None, "10": None}
    assert all(v is not None and v > 1 for v in at[("conv3_w_0", "2:4")].values())
    assert at[("conv3_w_0", "1:8")]["2"] is None and at[("conv3_w_0", "1:8")]["10"] > 1
    code, out, _ = run(capsys, "breakeven", "alexnet", "--set", "sparse_engine=nm")
    assert code == 0 and "0x" not in out and " - " in out
    code, _, err = run(capsys, "breakeven", "alexnet", "--set", "sparse_engine=none",
                       "--plot", str(tmp_path / "be.png"))
    assert code == 2 and "no speedup curve to plot" in err and not (tmp_path / "be.png").exists()


def test_plan_sources_and_outputs(capsys, tmp_path):
    code, out, _ = run(capsys, "plan", "alexnet", "--alpha", "0.2", "--out", str(tmp_path / "p.json"),
                       "--csv", str(tmp_path / "p.csv"), "--report", str(tmp_path / "rep"))
    assert code == 0 and "total" in out and (tmp_path / "p.json").exists()
    assert f"report: {tmp_path / 'rep' / 'report.html'}" in out and (tmp_path / "p.csv").exists()
    code, out, _ = run(capsys, "plan", "alexnet", "--sparsity", str(tmp_path / "p.json"), "--json")
    assert code == 0
    sp = tmp_path / "sp.json"
    sp.write_text(json.dumps({"alphas": {"conv3_w_0": 0.25}, "patterns": {"conv4_w_0": "2:4"}}))
    code, out, _ = run(capsys, "plan", "alexnet", "--sparsity", str(sp), "--json")
    doc = json.loads(out)
    impl = {l["name"]: l["implementation"] for l in doc["layers"]}
    assert impl["conv3_w_0"] == "sparse" and impl["conv1_w_0"] == "dense"
    assert {l["name"]: l["pattern"] for l in doc["layers"]}["conv4_w_0"] == "2:4"
    assert set(doc["totals"]) >= {"latency_ns", "speedup", "weight_bits_total", "index_bits_total",
                                  "feature_bits_total", "compression"}


def test_fixed_chip_resnet50_at_alpha_01_beats_the_dense_chip(capsys):
    code, out, _ = run(capsys, "plan", "resnet50", "--hw", "smic40-admmnn", "--set", "mode=fixed",
                       "--alpha", "0.1", "--json")
    doc = json.loads(out)
    assert doc["totals"]["speedup"] >= 1.5
    for l in doc["layers"]:       # labels agree with numbers: sparse exactly at r >= r*
        r = 1 / l["alpha"]
        assert (l["implementation"] == "sparse") == (l["break_even"] is not None and r >= l["break_even"])


def test_sweep_writes_ranked_csv_and_figures(capsys, tmp_path):
    code, out, _ = run(capsys, "sweep", "alexnet", "--vary", "pes=256,512", "--vary",
                       "index_width_bits=3,4,5", "--out", str(tmp_path), "--chunk", "20", "--plot",
                       "--report", str(tmp_path / "rep"))
    assert code == 0 and "fastest design" in out and "largest sparse/dense ratio" in out
    rows = (tmp_path / "configs.csv").read_text().splitlines()
    assert len(rows) == 1 + 6 and rows[0].startswith("rank,config,pes,index_width_bits,latency_us")
    lat = [float(r.split(",")[4]) for r in rows[1:]]
    assert lat == sorted(lat)
    be = (tmp_path / "break_even.csv").read_text().splitlines()
    assert len(be) == 1 + 6 and be[0].split(",")[3:] == [f"{n}_w_0" for n in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")]
    assert (tmp_path / "sweep.png").stat().st_size > 10_000 and (tmp_path / "rep" / "report.html").exists()


def test_hw_shows_keys_ranges_and_sources(capsys):
    code, out, _ = run(capsys, "hw", "smic40-admmnn")
    assert code == 0 and "sparse_utilization" in out and "fit-admmnn" in out
    code, out, _ = run(capsys, "hw", "--keys")
    assert "decoder_fo4_per_level" in out
    code, out, _ = run(capsys, "hw", "--sources")
    assert "Eyeriss v2" in out


def test_calibrate_writes_a_usable_preset_inside_the_ranges(capsys, tmp_path):
    pts = tmp_path / "points.csv"
    pts.write_text("layer,pruning_ratio,speedup\nconv4_w_0,2.7,1.5\nconv4_w_0,5.3,3.8\n")
    out_toml = tmp_path / "mine.toml"
    code, out, _ = run(capsys, "calibrate", str(pts), "--hw", "smic40", "--out", str(out_toml))
    assert code == 0 and "sparse_utilization" in out and "inside their ranges" in out
    text = out_toml.read_text()
    assert 'name = "smic40-calibrated"' in text and "fitted = true" in text
    code, out, _ = run(capsys, "breakeven", "alexnet", "--hw", str(out_toml))
    assert code == 0 and "smic40-calibrated" in out


@pytest.mark.parametrize("argv, message", [
    (["breakeven", "alexnet", "--set", "bogus_key=1"], "unknown hardware key 'bogus_key'"),
    (["breakeven", "alexnet", "--set", "pes=0"], "'pes' = '0' is outside"),
    (["breakeven", "alexnet", "--set", "sram_macro_kb=-64"], "'sram_macro_kb' = '-64' is outside"),
    (["breakeven", "alexnet", "--set", "weight_bits=eight"], "'weight_bits' needs an integer"),
    (["breakeven", "alexnet", "--set", "dram_gbps=1e-320"], "'dram_gbps'"),
    (["breakeven", "alexnet", "--set", "pes"], "expected KEY=VALUE"),
    (["breakeven", "alexnet", "--hw", "no-such-preset"], "unknown hardware preset"),
    (["breakeven", "alexnet", "--set", "index_format=zip"], "index_format"),
    (["breakeven", "alexnet", "--patterns", "5:4"], "N:M"),
    (["breakeven", "alexnet", "--plot", "x.foo"], ".png"),
    (["plan", "alexnet", "--alpha", "0.2", "--set", "weight_sram_kb=16"], "mode fixed"),
    (["plan", "alexnet", "--alpha", "0.2", "--set", "mode=fixed", "--set", "pes=4096",
      "--set", "weight_sram_kb=1"], "does not fit the fixed chip even from DRAM"),
    (["plan", "alexnet", "--alpha", "1.5"], "keep fraction"),
    (["plan", "alexnet", "--sparsity", "missing.json"], "does not exist"),
    (["plan", "alexnet", "--from-pruned", "missing.onnx"], "does not exist"),
    (["sweep", "alexnet", "--vary", "wat=1,2", "--out", "x"], "unknown hardware key 'wat'"),
    (["sweep", "alexnet", "--vary", "pes", "--out", "x"], "expected KEY=V1,V2"),
    (["sweep", "alexnet", "--vary", "pes=100", "--out", "x"], "multiple of 'array_rows'"),
    (["sweep", "alexnet", "--vary", "pes=256", "--vary", "pes=512", "--out", "x"], "given twice"),
    (["sweep", "alexnet", "--vary", "mode=fixed", "--out", "x"], "cannot be swept"),
    (["calibrate", "missing.csv"], "does not exist"),
    (["report", "no-such-dir"], "not a directory"),
])
def test_error_paths_are_one_line_naming_the_thing(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert message in err and err.count("\n") == 1, err


def test_report_of_an_empty_directory_says_what_it_needs(capsys, tmp_path):
    code, _, err = run(capsys, "report", str(tmp_path))
    assert code == 2 and "not a report directory" in err


def test_bad_argparse_values_are_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["plan", "alexnet"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        main(["breakeven", "alexnet", "--uncertainty", "x"])
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "usage" not in err


def test_cost_only_commands_never_import_torch_matplotlib_or_networkx(capsys):
    import subprocess
    code = ("import sys, contextlib, io\nfrom codesign.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    main(['plan', 'alexnet', '--alpha', '0.2'])\n"
            "    main(['breakeven', 'alexnet', '--uncertainty', '20'])\n"
            "    main(['inspect', 'resnet50'])\n"
            "    main(['breakeven', 'alexnet', '--hw', 'a100', '--batch', '1,16,256'])\n"
            "    main(['hw', 'h100'])\n"
            "    try: main(['--help'])\n    except SystemExit: pass\n"
            "print(' '.join(m for m in ('torch', 'matplotlib', 'networkx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""
