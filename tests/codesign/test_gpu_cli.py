"""GPU targets on the command line: breakeven --batch, hw, calibrate, one-line errors, no torch."""
import json
import subprocess
import sys

import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from codesign.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _bert_like(path, seq=128, hidden=768, ff=3072):
    """One BERT-base encoder's weight GEMMs on [1, seq, hidden] (onnx.helper, no torch)."""
    import numpy as np
    rng = np.random.default_rng(0)
    inits, nodes, x = [], [], "x"
    for name, (k, n) in (("query", (hidden, hidden)), ("ffn_in", (hidden, ff)), ("ffn_out", (ff, hidden))):
        inits.append(numpy_helper.from_array(rng.standard_normal((k, n)).astype("float32"), name))
        nodes.append(helper.make_node("MatMul", [x, name], [f"{name}_y"]))
        x = f"{name}_y"
        if name == "query":          # keep the width: the next layer reads hidden features
            nodes.append(helper.make_node("Identity", [x], ["q_out"]))
            x = "q_out"
    graph = helper.make_graph(nodes, "bert_like",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, seq, hidden])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, seq, hidden])],
                              inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return str(path)


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return _bert_like(tmp_path_factory.mktemp("gpu") / "bert.onnx")


def test_breakeven_json_gives_per_layer_speedup_per_batch(capsys, bert):
    code, out, _ = run(capsys, "breakeven", bert, "--hw", "a100", "--patterns", "2:4",
                       "--batch", "1,16,256", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["target"] == "gpu" and doc["batches"] == [1, 16, 256]
    layers = {l["name"]: l for l in doc["layers"]}
    assert set(layers) == {"query", "ffn_in", "ffn_out"}
    for l in layers.values():
        assert set(l["speedup"]) == {"1", "16", "256"}
        assert all(0 < v <= 2.0 for v in l["speedup"].values())
        assert l["m_per_sample"] == 128
    assert layers["ffn_in"]["speedup"]["256"] > 1.0 and layers["ffn_out"]["runs_sparse"]["256"]
    assert layers["query"]["speedup"]["1"] < 1.0       # 128 x 768 x 768: launch bound, 2:4 loses
    assert layers["ffn_in"]["pays_from_batch"] is not None


def test_breakeven_table_names_the_batch_from_which_each_layer_pays(capsys, bert, tmp_path):
    code, out, _ = run(capsys, "breakeven", bert, "--hw", "h100", "--batch", "1,64",
                       "--csv", str(tmp_path / "t.csv"))
    assert code == 0 and "2:4 pays from" in out and "int8 pays from" in out and "ffn_in" in out
    assert len((tmp_path / "t.csv").read_text().splitlines()) == 1 + 3 * 2


def test_one_token_4096_is_slower_with_2to4_through_pytorch_eager(capsys, tmp_path):
    import numpy as np
    w = numpy_helper.from_array(np.ones((4096, 4096), "float32"), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "tok",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4096])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4096])], [w])
    path = tmp_path / "tok.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    code, out, _ = run(capsys, "breakeven", str(path), "--hw", "a100", "--json", "--path", "torch-eager")
    assert code == 0 and json.loads(out)["layers"][0]["speedup"]["1"] < 0.5


def test_hw_lists_gpu_keys_with_sources_and_ranges(capsys):
    code, out, _ = run(capsys, "hw", "a100")
    assert code == 0 and "GPU target" in out and "fp16_tflops" in out and "a100-specs" in out
    assert "fit-gpu" in out
    code, out, _ = run(capsys, "hw", "l4", "--json")
    assert json.loads(out)["device"]["sms"] == 58
    code, out, _ = run(capsys, "hw", "--keys")
    assert "sparse_math_speedup" in out


def test_calibrate_fits_a_gpu_preset_with_leave_one_out(capsys, tmp_path):
    table = tmp_path / "m.csv"
    table.write_text(
        "id,gpu,comparison,dtype,scope,path,m,n,k,dense_us,other_us,speedup,source\n"
        "a,mygpu,2:4,fp16,gemm,kernel,4096,4096,4096,600,450,,me\n"
        "b,mygpu,2:4,fp16,gemm,kernel,64,4096,4096,30,34,,me\n"
        "c,mygpu,2:4,fp16,gemm,kernel,16384,4096,4096,2300,1500,,me\n")
    out_toml = tmp_path / "fit.toml"
    code, out, _ = run(capsys, "calibrate", str(table), "--hw", "a100", "--out", str(out_toml))
    assert code == 0 and "left out" in out and "eff_fp16_sparse" in out
    text = out_toml.read_text()
    assert 'target = "gpu"' in text and "fitted = true" in text
    code, out, _ = run(capsys, "breakeven", "alexnet", "--hw", str(out_toml), "--batch", "8")
    assert code == 0 and "a100-calibrated" in out


@pytest.mark.parametrize("argv, message", [
    (["breakeven", "alexnet", "--hw", "a100", "--patterns", "unstructured"], "run 2:4 only"),
    (["breakeven", "alexnet", "--hw", "a100", "--dtype", "fp8"], "no fp8 tensor cores"),
    (["breakeven", "alexnet", "--hw", "a100", "--batch", "0,4"], "is not a batch size"),
    (["breakeven", "alexnet", "--hw", "a100", "--batch", "4,4"], "given twice"),
    (["breakeven", "alexnet", "--hw", "a100", "--uncertainty", "10"], "--uncertainty is for ASIC"),
    (["breakeven", "alexnet", "--batch", "4"], "--batch is for GPU targets"),
    (["breakeven", "alexnet", "--hw", "a100", "--set", "pes=4"], "unknown GPU key 'pes'"),
    (["breakeven", "alexnet", "--hw", "a100", "--set", "sms=0"], "'sms' = '0' is outside"),
    (["plan", "alexnet", "--hw", "h100", "--alpha", "0.5"], "is a GPU target"),
])
def test_gpu_errors_are_one_line(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    assert code == 2 and message in err and err.count("\n") == 1, err


def test_gpu_measure_skips_cleanly_without_a_gpu():
    import os
    from pathlib import Path
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_measure.py"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "no CUDA GPU: skipped"
