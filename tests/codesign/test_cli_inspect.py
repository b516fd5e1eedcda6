"""`codesign inspect` as a user runs it: table, JSON document, CSV file."""
import csv
import json
import subprocess
import sys
from pathlib import Path

from codesign.cli import main
from golden import ALEXNET_224_MACS, ALEXNET_224_PARAMS, ALEXNET_227_MACS


def test_table(capsys):
    assert main(["inspect", "alexnet"]) == 0
    out = capsys.readouterr().out
    assert "8 compute layers" in out and "conv1_w_0" in out and "101,616,768" in out
    assert "one multiply-add = one MAC" in out
    assert "654,560,384" in out                               # the total row


def test_json_document(capsys):
    assert main(["inspect", "alexnet", "--input-shape", "1x3x227x227", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["model"] == "alexnet" and doc["input_shape"] == [1, 3, 227, 227]
    assert [l["macs"] for l in doc["layers"]] == ALEXNET_227_MACS
    assert {"name", "op", "weight_shape", "groups", "output_shape", "params", "macs"} <= set(doc["layers"][0])
    assert doc["totals"]["params"] == sum(ALEXNET_224_PARAMS)
    assert doc["totals"]["macs"] == sum(ALEXNET_227_MACS)


def test_csv(tmp_path, capsys):
    path = tmp_path / "out" / "alexnet.csv"
    assert main(["inspect", "alexnet", "--csv", str(path)]) == 0
    rows = list(csv.DictReader(path.open()))
    assert [int(r["macs"]) for r in rows] == ALEXNET_224_MACS
    assert rows[1]["weight_shape"] == "256x48x5x5" and rows[1]["groups"] == "2"


def test_console_script_runs():
    script = Path(sys.executable).parent / "codesign"          # installed by pyproject's [project.scripts]
    proc = subprocess.run([str(script), "inspect", "squeezenet"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "26 compute layers" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "codesign", "inspect", "missing.onnx"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("codesign: error: model 'missing.onnx' not found")


def partial_model(tmp_path) -> Path:
    """A Conv with a constant weight, one whose weight is a run-time tensor, and a custom op."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    wd = helper.make_tensor_value_info("wd", TensorProto.FLOAT, [4, 3, 3, 3])
    nodes = [helper.make_node("Conv", ["x", "wd"], ["y1"], name="dynamic_conv"),
             helper.make_node("Conv", ["x", "w"], ["y2"], name="conv"),
             helper.make_node("Mystery", ["y2"], ["y3"], domain="my.ops", name="mystery")]
    graph = helper.make_graph(nodes, "partial", [x, wd], [helper.make_tensor_value_info(o, TensorProto.FLOAT, None)
                                                        for o in ("y1", "y3")],
                              [numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("my.ops", 1)],
                              ir_version=8)
    path = tmp_path / "partial.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def test_full_coverage_is_stated_without_a_warning(capsys):
    assert main(["inspect", "alexnet"]) == 0
    captured = capsys.readouterr()
    assert "coverage: 100% of the model's 654,560,384 MACs modeled" in captured.out and captured.err == ""
    assert main(["inspect", "alexnet", "--json"]) == 0
    coverage = json.loads(capsys.readouterr().out)["totals"]["coverage"]
    assert coverage == {"macs_modeled": 654_560_384, "macs_total": 654_560_384, "share": 1.0, "complete": True,
                        "unmodeled": [], "notes": []}


def test_partial_coverage_is_listed_and_warned_by_every_cost_command(tmp_path, capsys):
    path = str(partial_model(tmp_path))
    for argv in (["inspect", path], ["breakeven", path], ["plan", path, "--alpha", "0.5"]):
        assert main(argv) == 0
        captured = capsys.readouterr()
        assert "coverage: 50.0% of the model's 7,776 MACs modeled; not modeled: Conv 'dynamic_conv'" in captured.out
        assert "Mystery 'mystery' (MACs unknown" in captured.out
        warning, = captured.err.splitlines()
        assert warning.startswith("codesign: warning: only 50.0% of the model's MACs are modeled: 2 nodes")
    assert main(["inspect", path, "--json"]) == 0
    coverage = json.loads(capsys.readouterr().out)["totals"]["coverage"]
    assert coverage["share"] == 0.5 and [g["node"] for g in coverage["unmodeled"]] == ["dynamic_conv", "mystery"]
    assert main(["breakeven", path, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["coverage"]["share"] == 0.5
    assert main(["plan", path, "--alpha", "0.5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["coverage"]["macs_total"] == 7776


def test_table_marks_activation_products_and_shared_weights(tmp_path, capsys):
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 8])
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="first"),
             helper.make_node("MatMul", ["h", "w"], ["g"], name="second"),
             helper.make_node("Transpose", ["g"], ["gt"]),
             helper.make_node("MatMul", ["g", "gt"], ["y"], name="gram")]
    graph = helper.make_graph(nodes, "shared", [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.ones((8, 8), np.float32), "w")])
    path = tmp_path / "shared.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "8x8 x2 uses" in out and "(activations)" in out
    assert "stored once, costed per use" in out and "no weight to prune" in out


def test_static_graphs_import_without_onnxruntime():
    """Folding (onnxruntime) is loaded only for a graph that needs it."""
    code = ("import sys, contextlib, io\nfrom codesign.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    main(['inspect', 'resnet50']); main(['plan', 'lenet5', '--alpha', '0.5'])\n"
            "print('onnxruntime' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_vgg7_is_conv_heavy_and_its_convs_can_pay(capsys):
    """Issue 12's acceptance: >= 5 conv layers with > 90% of the MACs, >= 3 with a finite r* <= 10."""
    assert main(["inspect", "vgg7", "--json"]) == 0
    layers = json.loads(capsys.readouterr().out)["layers"]
    convs = [l for l in layers if l["op"] == "conv"]
    assert len(convs) >= 5 and sum(l["macs"] for l in convs) > 0.9 * sum(l["macs"] for l in layers)
    assert main(["breakeven", "vgg7", "--hw", "smic40-admmnn", "--json"]) == 0
    r = [l["break_even"] for l in json.loads(capsys.readouterr().out)["layers"] if l["op"] == "conv"]
    assert sum(1 for x in r if x is not None and x <= 10) >= 3
