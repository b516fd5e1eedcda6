"""How ``counts.OCR_COUNTS`` was obtained (kept for reproducibility; NOT run by the tests).

Run it with a separate interpreter that has ``onnx-tool==1.0.1`` (never the project venv):

    python3 -m venv /tmp/onnxtool_venv && /tmp/onnxtool_venv/bin/pip install onnx-tool==1.0.1
    /tmp/onnxtool_venv/bin/python tests/zoo/ocr_onnxtool_count.py [model_dir]

It imports nothing from the project (``model_dir`` defaults to ``<repo>/.cache/zoo/rapidocr``,
which ``python -m tests.zoo.ocr`` fills) and prints one JSON object.

Method
* onnx-tool shape-infers each graph at the fixed input shape and profiles every node.  Its
  per-node MACs cover *all* ops (Relu, Add, HardSigmoid, ... get MACs too), so only the
  multiplying node kinds are summed: Conv, ConvTranspose, Gemm, MatMul.
* onnx-tool adds one MAC per output element for a bias input (Conv/ConvTranspose with a 3rd
  input, Gemm with C).  That is subtracted: ``macs = onnx_tool_macs - volume(output)`` for each
  such node, where ``volume(output)`` is onnx-tool's own inferred output shape.
* onnx-tool 1.0.1 counts ConvTranspose as ``volume(out) * prod(W.shape[1:])``, i.e.
  out_elems * (Cout/g) * kH * kW, which is not the multiply count unless Cin == Cout * s^2 ...;
  ConvTranspose is therefore recounted from onnx-tool's shapes with the scatter formula
  ``N * Hin * Win * Cin * (Cout/g) * kH * kW`` (the same convention as torch's FlopCounter).
* Weights (PaddlePaddle stores them as Constant nodes, so onnx-tool's own param count is 0):
  element counts of the constant inputs of the multiplying nodes (Conv/ConvT/Gemm
  input 1, MatMul's constant operand); biases: Conv/ConvT/Gemm input 2, plus the constant 1-D
  operand (possibly through Reshape/Unsqueeze) of an Add that directly consumes a bias-less multiplying node with a constant weight
  and holds one value per output channel (PaddlePaddle writes Linear as MatMul + Add, and the
  opset-11 cls model writes its SE-block convs as Conv + Add).  Standalone BatchNormalization and SE-block Mul are
  elementwise and not counted.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnx_tool

FILES = {"det": "ch_PP-OCRv4_det_infer.onnx", "rec": "ch_PP-OCRv4_rec_infer.onnx",
         "cls": "ch_ppocr_mobile_v2.0_cls_infer.onnx"}
SHAPES = {"det": (1, 3, 640, 640), "rec": (1, 3, 48, 320), "cls": (1, 3, 48, 192)}
MULT = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def vol(s):
    return int(np.prod([int(d) for d in s])) if len(s) else 1


def count(path: Path, shape) -> dict:
    proto = onnx.load(str(path))
    in_name = proto.graph.input[0].name
    m = onnx_tool.Model(str(path), {"verbose": False})
    g = m.graph
    g.graph_reorder_nodes()
    g.shape_infer({in_name: np.zeros(shape, np.float32)})
    g.profile()
    # PaddlePaddle's exporter stores weights in Constant nodes, not initializers
    const = set(g.initials) | {t for nd in g.nodemap.values() if nd.op_type == "Constant"
                               for t in nd.output}
    for nd in g.nodemap.values():  # topological: fold shape-only ops of constants
        if nd.op_type in ("Reshape", "Unsqueeze", "Squeeze", "Flatten", "Identity", "Cast",
                          "Transpose") and all(t in const for t in nd.input if t):
            const.update(nd.output)
    consumers: dict[str, list] = {}
    for nd in g.nodemap.values():
        for t in nd.input:
            consumers.setdefault(t, []).append(nd)
    per_node, by_kind = [], {}
    raw_mult = bias_adds = 0
    weights = biases = add_biases = 0
    for key in g.nodemap:  # graph_reorder_nodes() made this topological order
        nd = g.nodemap[key]
        if nd.op_type not in MULT:
            continue
        raw = int(round(nd.macs[0]))
        out_shape = list(g.tensormap[nd.output[0]].get_shape())
        in_shape = list(g.tensormap[nd.input[0]].get_shape())
        has_bias = nd.op_type != "MatMul" and len(nd.input) > 2 and nd.input[2] != ""
        badd = vol(out_shape) if has_bias else 0
        macs = raw - badd
        w_shape = list(g.tensormap[nd.input[1]].get_shape())
        if nd.op_type == "ConvTranspose":
            cin, cout_g = w_shape[0], w_shape[1]  # ConvTranspose W is (Cin, Cout/g, k...)
            macs = vol(in_shape[:1]) * vol(in_shape[2:]) * cin * cout_g * vol(w_shape[2:])
        kind = nd.op_type
        w = 0
        if nd.op_type == "MatMul":
            cst = [t for t in nd.input[:2] if t in const]
            if cst:
                w = vol(g.tensormap[cst[0]].get_shape())
            else:
                kind = "MatMul(act x act)"
        else:
            w = vol(w_shape) if nd.input[1] in const else 0
            if has_bias and nd.input[2] in const:
                biases += vol(g.tensormap[nd.input[2]].get_shape())
        if w and not has_bias:
            # a bias written as a separate Add of a constant with one value per output channel
            channels = out_shape[-1] if nd.op_type in ("MatMul", "Gemm") else out_shape[1]
            for c in consumers.get(nd.output[0], []):
                if c.op_type == "Add":
                    other = [t for t in c.input if t != nd.output[0] and t in const]
                    if other and vol(g.tensormap[other[0]].get_shape()) == channels:
                        add_biases += channels
        weights += w
        raw_mult += raw
        bias_adds += badd
        by_kind[kind] = by_kind.get(kind, 0) + macs
        per_node.append({"op": kind, "name": nd.name, "macs": macs, "onnx_tool_macs": raw,
                         "in": in_shape, "out": out_shape, "weight_shape": w_shape})
    return {
        "input": {"name": in_name, "shape": list(shape), "dtype": "float32"},
        "macs": sum(p["macs"] for p in per_node),
        "macs_by_kind": by_kind,
        "onnx_tool_macs_multiplying_nodes": raw_mult,
        "onnx_tool_bias_adds_subtracted": bias_adds,
        "onnx_tool_macs_all_nodes": int(round(g.macs[0])),
        "onnx_tool_params_all": int(g.params),
        "weights": weights,
        "biases_in_node": biases,
        "biases_as_add": add_biases,
        "biases": biases + add_biases,
        "n_multiplying_nodes": len(per_node),
        "per_node": [(p["op"], p["macs"]) for p in per_node],
    }


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else \
        Path(__file__).resolve().parents[2] / ".cache" / "zoo" / "rapidocr"
    out = {k: count(folder / f, SHAPES[k]) for k, f in FILES.items()}
    out["_tool"] = f"onnx-tool {getattr(onnx_tool, '__version__', '1.0.1')}, onnx {onnx.__version__}"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
