"""Quiet success (issue 26): a cost command that exits 0 writes nothing to stderr but its
progress lines: no numpy RuntimeWarning from the hardware model, no matplotlib glyph warning
or mathtext failure from a layer name drawn in a figure.

The model is built with onnx.helper (no torch): one attention block at real widths (its
QK^T and AV products multiply two activations, so they store no weight; plans of such models
overflowed in hwmodels.cost), with plain names and with hostile ones (control, CJK, non-BMP
and mathtext characters, in the file name too)."""
import json
import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

SEQ, WIDTH, HEADS = 512, 64, 4
PLAIN = {"q": "q.weight", "k": "k.weight", "v": "v.weight", "o": "out.weight",
         "qk": "attn/qk", "av": "attn/av", "file": "attention.onnx"}
HOSTILE = {"q": "注意力.q", "k": "ctl\x07bell\ttab\x1b[31m", "v": "emoji\U0001F600\U00020000",
           "o": "$\\foo$", "qk": "ノード\x00qk\u2028", "av": "math$\\alpha_{x}$",
           "file": "模型\U0001F600.onnx"}
# the CLI's progress lines on a non-terminal stderr (codesign.cli.common.progress)
PROGRESS = re.compile(r"^[\w .-]+: \d+/\d+")


def attention_onnx(path, names) -> None:
    """x [1, SEQ, WIDTH] -> per-head Q K^T, softmax, times V -> output projection."""
    from onnx import TensorProto, checker, helper, numpy_helper, save
    rng = np.random.default_rng(0)
    hd = WIDTH // HEADS
    inits = [numpy_helper.from_array(rng.standard_normal((WIDTH, WIDTH)).astype(np.float32), names[k])
             for k in ("q", "k", "v", "o")]
    inits += [numpy_helper.from_array(np.array(s, np.int64), n) for n, s in
              (("heads", [1, SEQ, HEADS, hd]), ("flat", [1, SEQ, WIDTH]))]
    nodes = []
    for k, perm in (("q", [0, 2, 1, 3]), ("k", [0, 2, 3, 1]), ("v", [0, 2, 1, 3])):
        nodes += [helper.make_node("MatMul", ["x", names[k]], [f"{k}_p"]),
                  helper.make_node("Reshape", [f"{k}_p", "heads"], [f"{k}_h"]),
                  helper.make_node("Transpose", [f"{k}_h"], [f"{k}_t"], perm=perm)]
    nodes += [helper.make_node("MatMul", ["q_t", "k_t"], ["s"], name=names["qk"]),
              helper.make_node("Softmax", ["s"], ["p"], axis=-1),
              helper.make_node("MatMul", ["p", "v_t"], ["a"], name=names["av"]),
              helper.make_node("Transpose", ["a"], ["a_t"], perm=[0, 2, 1, 3]),
              helper.make_node("Reshape", ["a_t", "flat"], ["a_f"]),
              helper.make_node("MatMul", ["a_f", names["o"]], ["y"])]
    graph = helper.make_graph(
        nodes, "attention", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, SEQ, WIDTH])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, SEQ, WIDTH])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    checker.check_model(model)
    save(model, str(path))


def commands(model, d):
    return [["inspect", model],
            ["breakeven", model, "--patterns", "2:4,channel,4x1,unstructured", "--plot", f"{d}/be.png"],
            ["plan", model, "--alpha", "0.1", "--pattern", "4x1", "--report", f"{d}/plan"],
            ["plan", model, "--hw", "smic40", "--set", "mode=fixed", "--alpha", "0.01",
             "--pattern", "channel", "--json"],
            ["plan", model, "--hw", "nm-2of4", "--alpha", "0.5", "--pattern", "2:4", "--uncertainty", "20"],
            ["sweep", model, "--vary", "pes=64,256", "--alpha", "0.01", "--out", f"{d}/sweep",
             "--report", f"{d}/sweep-report"],
            ["report", f"{d}/plan", "--out", f"{d}/plan-again"]]


# one interpreter runs every command in turn, as `codesign` would; stops at the first failure
DRIVER = ("import json, sys\nfrom codesign.cli import main\n"
          "for argv in json.loads(sys.argv[1]):\n"
          "    if main(argv):\n"
          "        sys.exit(f'exit code != 0: {argv}')\n")


@pytest.mark.parametrize("names", [PLAIN, HOSTILE], ids=["attention", "hostile-names"])
def test_cost_commands_exit_0_with_a_quiet_stderr(tmp_path, names):
    model = tmp_path / names["file"]
    attention_onnx(model, names)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    done = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(commands(str(model), tmp_path))],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    noise = [ln for ln in done.stderr.splitlines() if ln.strip() and not PROGRESS.match(ln)]
    assert done.returncode == 0 and noise == [], done.stderr[-3000:]
    assert (tmp_path / "be.png").stat().st_size > 10_000
    assert (tmp_path / "plan-again" / "report.html").is_file()
    assert (tmp_path / "sweep-report" / "report.html").is_file()


def test_attention_products_cost_finite_without_numpy_warnings():
    """The sparse design of a layer that stores no weight (Q K^T at 512 tokens, 4 heads):
    its MACs used to be MACs x entries / 1e-300, an overflow on every plan."""
    from hwmodels import configs, cost
    from hwmodels.presets import load
    from hwmodels.workload import LayerArray, LayerShape
    hd = WIDTH // HEADS
    qk = LayerShape("qk", "dynamic_matmul", batch=SEQ, in_channels=hd * HEADS,
                    out_channels=SEQ * HEADS, groups=HEADS)
    dense = LayerShape("w", "matmul", batch=SEQ, in_channels=WIDTH, out_channels=WIDTH)
    layers = LayerArray.from_shapes([qk, dense])
    for mode in ("isoarea", "fixed"):
        spec = load("smic40").replace("test", mode=mode)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            c = cost.evaluate(configs.ConfigArray.from_specs([spec]), layers, [0.1, 1.0])
        assert np.all(np.isfinite(c.sparse.energy_pj[:, 0])), mode


def test_a_layer_named_with_a_leading_underscore_keeps_its_legend_entry():
    """matplotlib leaves labels starting with "_" out of legends: a layer "_conv" vanished."""
    from codesign.report.figures import _label
    assert not _label("_conv").startswith("_") and _label("_conv").strip() == "_conv"
    assert _label("conv_1") == "conv_1"
