"""Every model compresses (issue 19): models of any signature prune with data of any kind,
constants stay bit-identical, and the tasks (classify, lm, distill) give verdicts with intervals.

The models come from tests/zoo/any_models.py (plain torch, dynamo exports, built here)."""
import contextlib
import io
import json

import numpy as np
import onnx
import pytest
import torch
from onnx import helper, numpy_helper, TensorProto

from zoo.any_models import EXAMPLES, export
from codesign.cli import main
from pruning.data import Inputs, load_dataset
from pruning.errors import DatasetError, PruningError
from pruning.onnx.bridge import data_spec, from_onnx, onnxruntime_outputs

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """name -> (path of the dynamo export, the torch module it came from)."""
    folder = tmp_path_factory.mktemp("any")
    out = {}
    for name, (make, _, _) in EXAMPLES.items():
        with contextlib.redirect_stdout(io.StringIO()):
            proto = export(name)
        path = folder / f"{name}.onnx"
        onnx.save(proto, path)
        torch.manual_seed(0)
        out[name] = (path, make().eval())
    return out


def _parameter_like(array: np.ndarray, module: torch.nn.Module) -> bool:
    """`array` holds the values of one of the module's nn.Parameters (or their transpose, as the
    exporter stores Linear weights): a tensor that training may change."""
    for p in module.parameters():
        p = p.detach().numpy()
        if p.size == array.size and (np.array_equal(p.ravel(), array.ravel())
                                     or p.ndim == 2 and np.array_equal(p.T.ravel(), array.ravel())):
            return True
    return False


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_any_signature_prunes_2_of_4_and_keeps_its_constants(name, exported, tmp_path, capsys):
    path, module = exported[name]
    out = tmp_path / "out"
    assert main(["prune", str(path), "--data", "synthetic", "--method", "magnitude", "--alpha", "0.5",
                 "--pattern", "2:4", "--epochs", "0.2", "--limit", "200", "--quiet", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "task distill" in printed and "95% interval" in printed        # no labels: distillation
    before, after = onnx.load(path), onnx.load(out / "model.onnx")
    # it runs in onnxruntime on data of every input
    spec = data_spec(before)
    ds = load_dataset("synthetic", spec=spec, limit=8)
    y = onnxruntime_outputs(after, ds.test_x)
    assert np.isfinite(y).all() and y.shape[spec.output.batch_axis] == 8
    # every group of 4 along the reduction of a pruned weight holds <= 2 nonzeros
    stored = {t.name: numpy_helper.to_array(t) for t in after.graph.initializer}
    layers = json.loads((out / "layers.json").read_text())["layers"]
    pruned = [r["name"] for r in layers if r["pattern"] == "2:4"]
    assert pruned
    layouts = from_onnx(after).onnx_weight_layouts()
    for n in pruned:
        w = np.moveaxis(stored[n], layouts[n], 0).reshape(stored[n].shape[layouts[n]], -1)
        groups = w[:, : w.shape[1] // 4 * 4].reshape(w.shape[0], -1, 4)
        assert (np.count_nonzero(groups, axis=-1) <= 2).all(), n
    # every initializer that is not one of the module's parameters is exported byte for byte
    changed = [t.name for t in before.graph.initializer
               if t.SerializeToString() != {u.name: u for u in after.graph.initializer}[t.name].SerializeToString()]
    original = {t.name: numpy_helper.to_array(t) for t in before.graph.initializer}
    assert changed and all(original[n].dtype.kind == "f" and original[n].size > 1 for n in changed)
    buffers = [b.numpy() for _, b in module.named_buffers()]
    assert not [n for n in changed if any(b.shape == original[n].shape and np.array_equal(b, original[n])
                                          for b in buffers)]
    if name in STORED_AS_TRAINED:
        assert all(_parameter_like(original[n], module) for n in changed), changed


# exports that store each parameter as it is (the LSTM's gates are reordered and its biases
# summed, and BatchNorm is folded into the convolution before it, in the other two)
STORED_AS_TRAINED = ("gpt", "llama", "seq2seq")


def test_frozen_constants_of_a_hand_made_graph():
    """A causal mask, rotary tables and scalars stay buffers; weights, biases, an embedding
    table and an RMSNorm scale written out in plain ops train."""
    from pruning.onnx.bridge import _learned_initializers
    f = lambda *s: numpy_helper.from_array(np.random.default_rng(0).random(s).astype(np.float32))
    inits = {"table": f(10, 4), "w": f(4, 4), "bias": f(4), "mask": f(3, 3), "cos": f(3, 4),
             "eps": numpy_helper.from_array(np.float32(1e-6)), "scale": f(4)}
    for k, t in inits.items():
        t.name = k
    nodes = [helper.make_node("Gather", ["table", "ids"], ["e"]),
             helper.make_node("Mul", ["e", "e"], ["sq"]),
             helper.make_node("ReduceMean", ["sq"], ["ms"], keepdims=1),
             helper.make_node("Add", ["ms", "eps"], ["mse"]),
             helper.make_node("Sqrt", ["mse"], ["rms"]),
             helper.make_node("Div", ["e", "rms"], ["normed"]),
             helper.make_node("Mul", ["normed", "scale"], ["h"]),
             helper.make_node("Mul", ["h", "cos"], ["rot"]),
             helper.make_node("MatMul", ["rot", "w"], ["mm"]),
             helper.make_node("Add", ["mm", "bias"], ["lin"]),
             helper.make_node("MatMul", ["lin", "lin_t"], ["att"]),
             helper.make_node("Transpose", ["lin"], ["lin_t"], perm=[0, 2, 1]),
             helper.make_node("Add", ["att", "mask"], ["y"])]
    nodes = nodes[:10] + [nodes[11], nodes[10], nodes[12]]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 3])], list(inits.values()))
    assert _learned_initializers(graph) == {"table", "w", "bias", "scale"}


def test_lm_task_reports_perplexity_with_an_interval(exported, tmp_path, capsys):
    path, _ = exported["gpt"]
    rng = np.random.default_rng(0)
    ids = (np.arange(12)[None] + rng.integers(0, 64, (300, 1))) % 64          # counting sequences
    np.savez(tmp_path / "tokens.npz", ids=ids)
    out = tmp_path / "out"
    assert main(["prune", str(path), "--data", str(tmp_path / "tokens.npz"), "--task", "lm", "--method",
                 "magnitude", "--alpha", "0.6", "--epochs", "1", "--quiet", "--out", str(out)]) == 0
    assert "test perplexity" in capsys.readouterr().out
    totals = json.loads((out / "layers.json").read_text())
    assert totals["task"] == "lm" and totals["metric"] == "perplexity"
    assert totals["drop_unit"] == "% perplexity increase"
    assert totals["drop_low"] <= totals["drop"] <= totals["drop_high"]
    # the drop is the perplexity's increase in percent, on the same samples
    expected = 100 * (totals["accuracy_after"] / totals["accuracy_before"] - 1)
    assert totals["drop"] == pytest.approx(expected, rel=1e-6)
    assert totals["onnxruntime_accuracy"] == pytest.approx(totals["accuracy_after"], rel=1e-4)


def test_distill_on_an_unlabeled_file_of_named_inputs(exported, tmp_path):
    import codesign
    path, _ = exported["seq2seq"]
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "pairs.npz", source_ids=rng.integers(0, 64, (200, 12)),
             decoder_input_ids=rng.integers(0, 64, (200, 12)))
    result = codesign.prune(str(path), str(tmp_path / "pairs.npz"), method="magnitude", alpha=0.5, epochs=0.5)
    t = result.totals
    assert (t.task, t.metric, t.drop_unit) == ("distill", "agreement", "agreement points")
    assert t.accuracy_before == 1.0 and 0 < t.accuracy_after < 1
    assert t.drop_low <= t.drop <= t.drop_high and t.drop == pytest.approx(100 * (1 - t.accuracy_after))
    with pytest.raises(PruningError, match="needs labels"):
        codesign.prune(str(path), str(tmp_path / "pairs.npz"), task="classify", method="magnitude", alpha=0.5)


def test_named_data_is_checked_against_the_models_inputs(exported, tmp_path):
    spec = data_spec(onnx.load(exported["seq2seq"][0]))
    np.savez(tmp_path / "wrong.npz", source_ids=np.zeros((10, 12), np.int64), decoder=np.zeros((10, 12), np.int64))
    with pytest.raises(DatasetError, match="lacks decoder_input_ids.*has no input named decoder"):
        load_dataset(str(tmp_path / "wrong.npz"), spec=spec)
    np.savez(tmp_path / "ids.npz", source_ids=np.full((10, 12), 64), decoder_input_ids=np.zeros((10, 12), np.int64))
    with pytest.raises(DatasetError, match="ids 0..63"):
        load_dataset(str(tmp_path / "ids.npz"), spec=spec)
    folder = tmp_path / "npy"
    folder.mkdir()
    np.save(folder / "source_ids.npy", np.ones((10, 12), np.int64))
    np.save(folder / "decoder_input_ids.npy", np.ones((10, 12), np.int64))
    np.save(folder / "labels.npy", np.arange(10) % 2)
    ds = load_dataset(str(folder), spec=spec)
    assert isinstance(ds.train_x, Inputs) and len(ds.train_x) == 8 and len(ds.test_x) == 2
    assert ds.train_x.names == ("source_ids", "decoder_input_ids") and ds.labeled


def test_synthetic_data_fills_every_input_by_its_role(exported):
    spec = data_spec(onnx.load(exported["lstm_state"][0]))
    assert [(i.name, i.role) for i in spec.inputs] == [("features", "values"), ("state", "state")]
    ds = load_dataset("synthetic", spec=spec, limit=6)
    assert not ds.labeled and np.all(ds.train_x["state"] == 0) and ds.train_x["features"].std() > 0.1
    gpt = data_spec(onnx.load(exported["gpt"][0]))
    assert gpt.role == "tokens" and gpt.vocab == 64 and gpt.output.class_like
    tokens = load_dataset("synthetic", spec=gpt, limit=50).train_x
    assert tokens.dtype == np.int64 and 0 <= tokens.min() and tokens.max() < 64 and len(np.unique(tokens)) > 30
    ctc = data_spec(onnx.load(exported["ctc"][0]))
    assert ctc.output.batch_axis == 1 and ctc.output.class_like       # (time, batch, classes)


def test_a_time_major_output_trains_on_batches_of_any_size(exported):
    """A static batch-1 export runs per sample under vmap; the output's batch axis (1) joins the
    samples back in order."""
    path, module = exported["ctc"]
    net = from_onnx(onnx.load(path)).eval()
    x = torch.rand(5, 1, 32, 64)
    with torch.no_grad():
        np.testing.assert_allclose(net(x).numpy(), module(x).numpy(), rtol=1e-4, atol=1e-5)


def test_auto_task_is_distillation_without_labels_and_lm_when_a_language_model_is_pretrained(exported):
    from pruning.tasks import Distill, LanguageModel, make_task
    proto = onnx.load(exported["gpt"][0])
    spec, net = data_spec(proto), from_onnx(proto)
    ds = load_dataset("synthetic", spec=spec, limit=8)
    assert isinstance(make_task("auto", net, ds, spec), Distill)
    assert isinstance(make_task("auto", net, ds, spec, pretraining=True), LanguageModel)
    ctc = onnx.load(exported["ctc"][0])
    with pytest.raises(PruningError, match="nothing to learn from"):
        make_task("auto", from_onnx(ctc), load_dataset("synthetic", spec=data_spec(ctc), limit=8),
                  data_spec(ctc), pretraining=True)
