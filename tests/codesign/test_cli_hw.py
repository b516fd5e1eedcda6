import json

import pytest

from codesign.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_breakeven_table_json_and_plot(capsys, tmp_path):
    code, out, _ = run(capsys, "breakeven", "alexnet", "--plot", str(tmp_path / "be.png"))
    assert code == 0 and "conv4_w_0" in out and "r*" in out
    assert (tmp_path / "be.png").stat().st_size > 10_000
    code, out, _ = run(capsys, "breakeven", "alexnet", "--json", "--set", "weight_bits=8")
    doc = json.loads(out)
    assert doc["hw"]["weight_bits"] == 8 and len(doc["layers"]) == 8
    assert all(l["break_even"] is None or l["break_even"] >= 1 for l in doc["layers"])


def test_plan_sources(capsys, tmp_path):
    code, out, _ = run(capsys, "plan", "alexnet", "--alpha", "0.2", "--out", str(tmp_path / "p.json"))
    assert code == 0 and "total" in out and (tmp_path / "p.json").exists()
    sp = tmp_path / "sp.json"
    sp.write_text(json.dumps({"alphas": {"conv3_w_0": 0.25}}))
    code, out, _ = run(capsys, "plan", "alexnet", "--sparsity", str(sp), "--json")
    doc = json.loads(out)
    impl = {l["name"]: l["implementation"] for l in doc["layers"]}
    assert impl["conv3_w_0"] == "sparse" and impl["conv1_w_0"] == "dense"
    assert set(doc["totals"]) >= {"latency_ns", "speedup", "storage_bits", "index_bits"}


def test_sweep_writes_csv_and_heatmap(capsys, tmp_path):
    code, out, _ = run(capsys, "sweep", "alexnet", "--vary", "pes=256,512", "--vary",
                       "index_bits=3,4,5", "--out", str(tmp_path), "--chunk", "2")
    assert code == 0
    rows = (tmp_path / "configs.csv").read_text().splitlines()
    assert len(rows) == 1 + 6 and rows[0].startswith("config,pes,index_bits")
    be = (tmp_path / "break_even.csv").read_text().splitlines()
    assert len(be) == 1 + 6 and be[0].split(",")[3:] == [f"{n}_w_0" for n in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")]
    assert (tmp_path / "heatmaps.png").stat().st_size > 10_000


def test_calibrate_writes_a_usable_preset(capsys, tmp_path):
    pts = tmp_path / "points.csv"
    pts.write_text("layer,pruning_ratio,speedup\nconv4_w_0,2.7,1.5\nconv4_w_0,5.3,3.8\n")
    out_toml = tmp_path / "mine.toml"
    code, out, _ = run(capsys, "calibrate", str(pts), "--hw", "smic40", "--params",
                       "decoder_area_scale", "--out", str(out_toml))
    assert code == 0 and "decoder_area_scale" in out
    text = out_toml.read_text()
    assert 'name = "smic40-calibrated"' in text and "FITTED" in text
    code, out, _ = run(capsys, "breakeven", "alexnet", "--hw", str(out_toml))
    assert code == 0 and "smic40-calibrated" in out


@pytest.mark.parametrize("argv, message", [
    (["breakeven", "alexnet", "--set", "bogus_key=1"], "unknown key 'bogus_key'"),
    (["breakeven", "alexnet", "--set", "pes=0"], "'pes' must be positive"),
    (["breakeven", "alexnet", "--set", "sram_macro_kb=-64"], "'sram_macro_kb' must be positive"),
    (["breakeven", "alexnet", "--set", "weight_bits=eight"], "'weight_bits' needs an integer"),
    (["breakeven", "alexnet", "--set", "pes"], "expected key=value"),
    (["breakeven", "alexnet", "--hw", "no-such-preset"], "unknown hardware preset"),
    (["breakeven", "alexnet", "--set", "index_format=zip"], "index_format"),
    (["plan", "alexnet", "--alpha", "0.2", "--set", "mode=fixed", "--set", "weight_sram_kb=0.1"],
     "does not fit the fixed chip even from DRAM"),
    (["plan", "alexnet", "--alpha", "1.5"], "keep fraction"),
    (["plan", "alexnet", "--sparsity", "missing.json"], "does not exist"),
    (["plan", "alexnet", "--from-pruned", "missing.onnx"], "does not exist"),
    (["sweep", "alexnet", "--vary", "wat=1,2", "--out", "x"], "unknown hardware key 'wat'"),
    (["sweep", "alexnet", "--vary", "pes", "--out", "x"], "expected key=v1,v2"),
    (["sweep", "alexnet", "--vary", "pes=100", "--out", "x"], "multiple of 'array_rows'"),
    (["calibrate", "missing.csv"], "does not exist"),
])
def test_error_paths_name_the_key(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert message in err and err.count("\n") == 1, err


def test_bad_toml_files(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('pes = 256\nmystery = 3\n')
    code, _, err = run(capsys, "breakeven", "alexnet", "--hw", str(bad))
    assert code == 2 and "unknown key 'mystery'" in err
    bad.write_text('pes = [\n')
    code, _, err = run(capsys, "breakeven", "alexnet", "--hw", str(bad))
    assert code == 2 and "not valid TOML" in err


def test_plan_needs_a_source(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["plan", "alexnet"])
    assert exc.value.code == 2
