"""Initializers a plain torch.onnx.export leaves unnamed (`onnx::Conv_16`: a Conv with its
BatchNorm folded in) are named after the node that reads them, the same way by the importer, the
bridge and the pruned file (pruning.onnx.names)."""
import io
import json
import warnings

import numpy as np
import onnx
import torch
from torch import nn

import codesign
from pruning.onnx.bridge import from_onnx
from pruning.onnx.names import readable_names

torch.set_num_threads(1)


def _legacy_export() -> onnx.ModelProto:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(144, 10)).eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 1, 8, 8),), buf, dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "b"}})
    return onnx.load_from_string(buf.getvalue())


def test_generated_names_become_their_consumers_and_agree_everywhere(tmp_path):
    proto = _legacy_export()
    assert any(t.name.startswith("onnx::Conv_") for t in proto.graph.initializer)
    layers = [l.name for l in codesign.load(proto).layers]
    assert layers == ["/0/Conv.weight", "4.weight"]
    assert list(from_onnx(proto).onnx_weight_names()) == layers
    path = tmp_path / "m.onnx"
    onnx.save(proto, path)
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"alphas": {"/0/Conv.weight": 0.5}}))
    result = codesign.prune(str(path), "digits", alphas=str(plan), method="magnitude", epochs=0.1)
    assert [r.name for r in result.layers if r.alpha < 1] == ["/0/Conv.weight"]
    assert "/0/Conv.weight" in {t.name for t in result.onnx.graph.initializer}
    assert [l.name for l in codesign.load(result.onnx).layers] == layers           # idempotent


def test_renaming_keeps_what_the_graph_computes():
    import onnxruntime as ort
    proto = _legacy_export()
    x = np.random.default_rng(0).random((3, 1, 8, 8)).astype(np.float32)
    run = lambda m: ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_array_equal(run(proto), run(readable_names(proto)))
    named = _legacy_export()
    for t in named.graph.initializer:
        t.name = t.name.replace("onnx::", "kept::")
    for n in named.graph.node:
        n.input[:] = [i.replace("onnx::", "kept::") for i in n.input]
    assert readable_names(named) is named                                           # nothing generated
