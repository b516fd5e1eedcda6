"""Second, independent check of ``counts.OCR_COUNTS`` (kept for reproducibility; not run by tests).

It converts each PaddleOCR graph to torch with onnx2torch and counts its MACs with
``torch.utils.flop_counter.FlopCounterMode`` (flops // 2).  onnx2torch is not a project
dependency, so install it into a side directory and leave the venv alone:

    .venv/bin/pip install --no-deps --target /tmp/o2t onnx2torch==1.5.15
    PYTHONPATH=/tmp/o2t .venv/bin/python tests/zoo/ocr_torch_crosscheck.py

First the weights, which PaddlePaddle stores in Constant nodes, become initializers, and the
input shape is fixed.  rec computes its Reshape shapes at run time, so it is folded first by
onnxruntime's basic optimizer.  torchvision is stubbed, because onnx2torch imports it only for
NMS/RoiAlign.  Result on 2026-12-01: det 2,301,935,744, rec 702,469,440 and cls 16,315,376 MACs,
equal to the onnx-tool-derived constants; max|torch - ORT| <= 4.3e-6.
"""
from __future__ import annotations

import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper as nh
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ -> package "zoo"
from zoo.counts import OCR_COUNTS  # noqa: E402
from zoo.ocr import INPUT_SHAPES, locate_ocr_models  # noqa: E402


def _onnx2torch():
    tv = types.ModuleType("torchvision")
    tv.ops = types.ModuleType("torchvision.ops")
    tv.ops.roi_align = None
    sys.modules.setdefault("torchvision", tv)
    sys.modules.setdefault("torchvision.ops", tv.ops)
    import onnx2torch
    return onnx2torch


def prepare(path: Path, shape, fold: bool, tmpdir: Path) -> onnx.ModelProto:
    m = onnx.load(str(path))
    g = m.graph
    keep = []
    for n in g.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            g.initializer.append(nh.from_array(nh.to_array(n.attribute[0].t), n.output[0]))
        else:
            keep.append(n)
    del g.node[:]
    g.node.extend(keep)
    for d, v in zip(g.input[0].type.tensor_type.shape.dim, shape):
        d.Clear()
        d.dim_value = v
    m = onnx.shape_inference.infer_shapes(m)
    if fold:
        src, dst = tmpdir / "static.onnx", tmpdir / "folded.onnx"
        onnx.save(m, str(src))
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        so.optimized_model_filepath = str(dst)
        ort.InferenceSession(str(src), so, providers=["CPUExecutionProvider"])
        m = onnx.shape_inference.infer_shapes(onnx.load(str(dst)))
    return m


def main() -> int:
    torch.set_num_threads(1)
    paths, why = locate_ocr_models()
    if paths is None:
        print("skipped:", why)
        return 0
    o2t = _onnx2torch()
    bad = 0
    with tempfile.TemporaryDirectory() as td:
        for key in ("det", "rec", "cls"):
            shape = INPUT_SHAPES[key]
            tm = o2t.convert(prepare(paths[key], shape, key == "rec", Path(td))).eval()
            x = torch.randn(*shape)
            with torch.no_grad(), FlopCounterMode(display=False) as fc:
                y = tm(x)
            sess = ort.InferenceSession(str(paths[key]), providers=["CPUExecutionProvider"])
            ref = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
            macs = fc.get_total_flops() // 2
            ok = macs == OCR_COUNTS[key]["macs"]
            bad += not ok
            print(f"{key}: FlopCounter {macs:,} vs recorded {OCR_COUNTS[key]['macs']:,} "
                  f"{'OK' if ok else 'MISMATCH'}; max|torch-ORT| {np.abs(y.numpy() - ref).max():.2e}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
