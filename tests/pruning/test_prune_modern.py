"""`codesign prune` on nets that are not image CNNs (issue 11): the TransformerEncoder with token
input, the ViT and the 1-D conv audio net of tests/zoo, exported by torch's legacy (opset 17)
and dynamo (opset 18, static batch 1) exporters (and the LSTM/GRU text net, whose W and R are
pruned), with `--data synthetic` (shaped, typed and
labelled from the model) and with NPZ files in the layout a user has (token ids, uint8 images,
signals without a channel axis). The pipeline checks every exported model against
onnxruntime; these runs are short (a few hundred samples, half an epoch)."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from codesign.cli import main
from codesign.compress import prune
from pruning.data import Dataset, DataSpec, load_dataset
from pruning.errors import PruningError
from pruning.onnx.bridge import data_spec
from pruning.pipeline import model_spec, prepare
from zoo.export import ExportFailed, export

MODELS = [("transformer_distinct", "legacy", 17), ("transformer_distinct", "dynamo", 18),
          ("vit", "legacy", 17), ("vit", "dynamo", 18),
          ("conv1d_audio", "legacy", 17), ("conv1d_audio", "dynamo", 18),
          ("lstm_gru", "legacy", 17)]
SHORT = dict(method="magnitude", alpha=0.5, epochs=0.5, limit=300, test_limit=100, batch_size=32, lr=3e-3)
CHANCE = {"transformer_distinct": 0.25, "vit": 0.1, "conv1d_audio": 0.125, "lstm_gru": 0.2}


def _exported(name, exporter, opset) -> str:
    try:
        return str(export(name, exporter, opset))
    except ExportFailed as exc:
        pytest.skip(f"zoo export unavailable: {exc}")


@pytest.mark.parametrize("name,exporter,opset", MODELS, ids=[f"{n}-{e}{o}" for n, e, o in MODELS])
def test_prune_with_synthetic_data_shaped_from_the_model(name, exporter, opset):
    result = prune(_exported(name, exporter, opset), "synthetic", **SHORT)
    t = result.totals
    assert t["onnxruntime_max_diff"] < 1e-4
    assert t["onnxruntime_accuracy"] == pytest.approx(t["accuracy_after"], abs=0.02)
    assert t["overall_ratio"] == pytest.approx(2.0, rel=0.01)
    assert all(r["alpha"] == pytest.approx(0.5, abs=0.01) for r in result.layers)
    assert t["accuracy_after"] > CHANCE[name]         # the labels reach the model: it learns


def _npz_like_a_users(name, path, n=300):
    """Data as people store it, not as the model takes it: int64 token ids (N, L), uint8 images,
    signals (N, L) without the channel axis."""
    spec = data_spec(onnx.load(path))
    ds = load_dataset("synthetic", spec=spec, limit=n, test_limit=100)
    x_train, x_test = ds.train_x, ds.test_x
    if name == "vit":
        x_train, x_test = (np.round(x * 255).astype(np.uint8) for x in (x_train, x_test))
    if name == "conv1d_audio":
        x_train, x_test = x_train[:, 0], x_test[:, 0]
    return dict(x_train=x_train, y_train=ds.train_y, x_test=x_test, y_test=ds.test_y)


@pytest.mark.parametrize("name", ["transformer_distinct", "vit", "conv1d_audio"])
def test_prune_cli_with_an_npz_file(tmp_path, capsys, name):
    path = _exported(name, "legacy", 17)
    data = tmp_path / "data.npz"
    np.savez(data, **_npz_like_a_users(name, path))
    out = tmp_path / "out"
    code = main(["prune", path, "--data", str(data), "--method", "magnitude", "--alpha", "0.5",
                 "--epochs", "0.5", "--batch-size", "32", "--lr", "3e-3", "--no-progress", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "layers.json").read_text())
    assert summary["onnxruntime_max_diff"] < 1e-4 and summary["data"] == "data"
    weights = {t.name: numpy_helper.to_array(t) for t in onnx.load(out / "model.onnx").graph.initializer}
    for row in summary["layers"]:
        assert int(np.count_nonzero(weights[row["name"]])) <= row["kept"]


def test_data_that_does_not_fit_the_model_is_one_line(tmp_path, capsys):
    path = _exported("conv1d_audio", "legacy", 17)
    data = tmp_path / "images.npz"
    np.savez(data, x_train=np.zeros((4, 28, 28), np.uint8), y_train=np.arange(4) % 2,
             x_test=np.zeros((2, 28, 28), np.uint8), y_test=np.arange(2))
    code = main(["prune", path, "--data", str(data), "--alpha", "0.5", "--no-progress",
                 "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "(28, 28)" in err and "(batch, 1, 1600)" in err


def test_token_ids_beyond_the_vocabulary_are_refused():
    path = _exported("transformer_distinct", "legacy", 17)
    bad = np.full((8, 16), 100, np.int64)                # the embedding has rows 0..99
    with pytest.raises(PruningError, match=r"ids 0\.\.99"):
        prepare(path, Dataset(bad, np.arange(8) % 4, bad, np.arange(8) % 4, (16,), 4, "bad"))


def test_the_models_spec_reads_tokens_vocabulary_and_classes():
    spec = model_spec(_exported("transformer_distinct", "dynamo", 18))
    assert (spec.name, spec.dims, spec.dtype, spec.vocab, spec.classes, spec.role) == (
        "tokens", (16,), "int64", 100, 4, "tokens")
    assert spec.others == () and spec.output.dims == (1, 4) and spec.output.class_like


def test_the_api_prunes_a_torch_token_model_on_torch_data():
    import torch
    from torch import nn
    from torch.utils.data import TensorDataset

    class BagOfTokens(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed, self.head = nn.Embedding(30, 8), nn.Linear(8, 3)

        def forward(self, ids):
            return self.head(self.embed(ids).mean(1))

    torch.manual_seed(0)
    ds = load_dataset("synthetic", spec=DataSpec("t", (12,), "int64", vocab=30, classes=3), limit=240, test_limit=60)
    train, test = (TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
                   for x, y in ((ds.train_x, ds.train_y), (ds.test_x, ds.test_y)))
    result = prune(BagOfTokens(), (train, test), method="magnitude", alpha=0.5, epochs=2, batch_size=32, lr=3e-2)
    assert result.totals["onnxruntime_max_diff"] < 1e-4 and result.totals["accuracy_after"] > 0.6
