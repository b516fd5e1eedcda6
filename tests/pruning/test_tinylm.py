"""tinylm (pruning.models: a Llama-style decoder built as ONNX without torch) and text as byte
tokens (pruning.text: the Debian package fortunes, any .txt file)."""
import json
import math
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from onnx import numpy_helper

from codesign.cli import main
from pruning import data as data_module
from pruning.data import DataSpec, load_dataset
from pruning.errors import DatasetError, PruningError
from pruning.models import DECODERS, builtin_onnx
from pruning.onnx.bridge import from_onnx
from pruning.text import FORTUNES_DIR, FORTUNE_FILES, split_sequences

torch.set_num_threads(1)
CFG = DECODERS["tinylm"]
fortunes = pytest.mark.skipif(not (FORTUNES_DIR / FORTUNE_FILES[0]).is_file(),
                              reason="needs the Debian package fortunes (`apt-get install fortunes` as root, "
                                     "or `bash .ci/setup`)")


def tokens_spec(length: int, dtype: str = "int64", vocab: int = 256) -> DataSpec:
    return DataSpec("input_ids", (length,), dtype, vocab=vocab, role="tokens")


def reference_logits(weights: dict[str, np.ndarray], ids: torch.Tensor) -> torch.Tensor:
    """tinylm written with torch's own pieces: embedding, RMSNorm by rsqrt, rotary positions
    (rotate-half convention) from the config, fused causal attention, F.silu."""
    w = {k: torch.tensor(v) for k, v in weights.items()}
    batch, length = ids.shape
    hd = CFG.head_dim
    angles = np.outer(np.arange(length), CFG.rope_base ** (-np.arange(0, hd, 2) / hd))
    angles = torch.from_numpy(np.concatenate([angles, angles], 1).astype(np.float32))
    cos, sin = angles.cos(), angles.sin()

    def rms(x, scale):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + CFG.eps) * scale

    def heads(x):
        return x.view(batch, length, CFG.heads, hd).transpose(1, 2)

    def rope(x):
        x1, x2 = x.chunk(2, dim=-1)
        return x * cos + torch.cat([-x2, x1], -1) * sin

    x = F.embedding(ids, w["embed.weight"])
    for i in range(CFG.layers):
        p = f"layers.{i}"
        h = rms(x, w[f"{p}.attn_norm.weight"])
        q, k, v = (heads(h @ w[f"{p}.attn.{n}.weight"]) for n in "qkv")
        att = F.scaled_dot_product_attention(rope(q), rope(k), v, is_causal=True)
        x = x + att.transpose(1, 2).reshape(batch, length, CFG.dim) @ w[f"{p}.attn.o.weight"]
        h = rms(x, w[f"{p}.mlp_norm.weight"])
        x = x + (F.silu(h @ w[f"{p}.mlp.gate.weight"]) * (h @ w[f"{p}.mlp.up.weight"])) @ w[f"{p}.mlp.down.weight"]
    return rms(x, w["norm.weight"]) @ w["lm_head.weight"]


def randomized(model: onnx.ModelProto, seed: int = 1) -> onnx.ModelProto:
    """The graph with every weight and norm scale redrawn at a trained net's scale (weights of
    std 1/sqrt(fan_in), scales around 1), so attention is far from uniform."""
    rng = np.random.default_rng(seed)
    for t in model.graph.initializer:
        if t.name.endswith(".weight"):
            a = numpy_helper.to_array(t)
            b = (rng.standard_normal(a.shape) / math.sqrt(a.shape[0]) if a.ndim == 2 else
                 1 + 0.3 * rng.standard_normal(a.shape))
            t.CopyFrom(numpy_helper.from_array(b.astype(np.float32), t.name))
    return model


def test_the_graph_equals_a_torch_llama_in_onnxruntime_and_through_the_bridge():
    model = randomized(builtin_onnx("tinylm", (32,)))
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer if t.name.endswith(".weight")}
    assert sum(w.size for w in weights.values()) == (2 * CFG.vocab * CFG.dim + CFG.dim + CFG.layers * (
        4 * CFG.dim ** 2 + 3 * CFG.dim * CFG.ff + 2 * CFG.dim))
    ids = np.random.default_rng(0).integers(0, 256, (3, 32))
    expected = reference_logits(weights, torch.from_numpy(ids)).numpy()
    assert expected.std() > 1.0                                   # not a near-constant output
    got = ort.InferenceSession(model.SerializeToString()).run(None, {"input_ids": ids})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        bridged = from_onnx(model)(torch.from_numpy(ids)).numpy()
    np.testing.assert_allclose(bridged, expected, rtol=1e-5, atol=1e-5)
    changed = ids.copy()
    changed[:, 20] = (changed[:, 20] + 1) % 256                   # causal: earlier positions unchanged
    later = ort.InferenceSession(model.SerializeToString()).run(None, {"input_ids": changed})[0]
    assert np.array_equal(later[:, :20], got[:, :20]) and not np.allclose(later[:, 20:], got[:, 20:])


def test_built_in_nets_name_the_data_they_need():
    with pytest.raises(PruningError, match=r"tinylm takes sequences of byte token ids.*\(1, 28, 28\)"):
        builtin_onnx("tinylm", (1, 28, 28))
    with pytest.raises(PruningError, match="2 <= L <= 1024"):
        builtin_onnx("tinylm", (4096,))
    with pytest.raises(PruningError, match="lenet5 is a classifier: .* got 0; unlabeled text .* trains tinylm"):
        builtin_onnx("lenet5", (128,), num_classes=0)


def test_inspect_counts_the_macs_of_the_config_and_cost_commands_import_no_torch():
    length, d = 128, CFG.dim
    per_layer = length * (4 * d * d + 3 * d * CFG.ff) + 2 * CFG.heads * length * length * CFG.head_dim
    macs = CFG.layers * per_layer + length * d * CFG.vocab          # blocks, then the LM head
    code = ("import sys, contextlib, io\nfrom codesign.cli import main\nout = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n"
            "    assert main(['inspect', 'tinylm']) == 0\n"
            "    assert main(['plan', 'tinylm', '--alpha', '0.5']) == 0\n"
            "    assert main(['breakeven', 'tinylm']) == 0\n"
            "total = next(l for l in out.getvalue().splitlines() if l.startswith('total'))\n"
            "print(total.split()[2], 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    total, torch_imported = done.stdout.split()
    assert int(total.replace(",", "")) == macs == 122_159_104 and torch_imported == "False"


def test_split_sequences_keeps_each_document_on_one_side_seeded():
    documents = [bytes([i]) * (20 + i) for i in range(200)]       # each document its own byte value
    train, test = split_sequences("docs", documents, 16, seed=3)
    assert train.dtype == np.int64 and train.shape[1] == test.shape[1] == 16
    assert not set(np.unique(train)) & set(np.unique(test))
    assert 0.05 < test.size / (train.size + test.size) < 0.2
    again, _ = split_sequences("docs", documents, 16, seed=3)
    other, _ = split_sequences("docs", documents, 16, seed=4)
    assert np.array_equal(again, train) and not np.array_equal(other[: len(train)], train[: len(other)])
    with pytest.raises(DatasetError, match="do not make a train and a test sequence of 16 bytes"):
        split_sequences("docs", [b"x" * 20, b"y" * 10], 16, seed=0)


def test_a_txt_file_reads_as_unlabeled_byte_sequences_of_the_models_length(tmp_path):
    blocks = [f"block {i:03d} ".encode().ljust(64, b"abcdefgh"[i % 8:i % 8 + 1]) for i in range(50)]
    path = tmp_path / "story.txt"
    path.write_bytes(b"".join(blocks) + b"tail shorter than a block")
    ds = load_dataset(str(path), spec=tokens_spec(64), seed=2)
    assert ds.train_y is None and ds.num_classes == 0 and ds.input_shape == (64,)
    rows = lambda x: {bytes(r.astype(np.uint8)) for r in x}        # noqa: E731
    assert not rows(ds.train_x) & rows(ds.test_x)                  # split by position: whole blocks
    assert rows(ds.train_x) | rows(ds.test_x) == set(blocks) and len(ds.test_x) == 5
    assert load_dataset(str(path)).input_shape == (128,)          # no model: 128 bytes a sequence
    with pytest.raises(DatasetError, match="token ids span 32..111 but the model's input 'input_ids'"):
        load_dataset(str(path), spec=tokens_spec(64, vocab=100))
    with pytest.raises(DatasetError, match="is text .* not a sequence of token ids; use a language model"):
        load_dataset(str(path), spec=DataSpec("x", (64,), "float32"))


def test_text_is_sized_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "big.txt"
    path.write_bytes(b"x" * 100_000)
    monkeypatch.setattr(data_module, "MAX_DATA_BYTES", 100_000)  # 8 bytes a token held: 800 kB
    monkeypatch.setattr(data_module.text, "read_bytes", lambda p: pytest.fail("read before it was sized"))
    with pytest.raises(DatasetError, match="'big': its arrays take .* beyond"):
        load_dataset(str(path))


@fortunes
def test_fortunes_is_english_split_by_cookie():
    ds = load_dataset("fortunes", spec=tokens_spec(96, "int32"), seed=0)
    assert ds.train_y is None and ds.train_x.dtype == np.int32 and ds.train_x.shape[1:] == (96,)
    text = bytes(ds.train_x[:200].reshape(-1).astype(np.uint8)).decode("latin-1")
    assert text.count("\n%\n") > 20 and " the " in text
    held = len(ds.test_x) / (len(ds.train_x) + len(ds.test_x))
    assert 0.07 < held < 0.13                                      # text.TEST_SHARE of the cookies
    assert np.array_equal(load_dataset("fortunes", spec=tokens_spec(96), seed=0).test_x, ds.test_x)
    assert not np.array_equal(load_dataset("fortunes", spec=tokens_spec(96), seed=1).test_x[:50], ds.test_x[:50])


@fortunes
def test_a_short_lm_prune_of_tinylm_exports_a_model_onnxruntime_runs(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["prune", "tinylm", "--data", "fortunes", "--task", "lm", "--method", "magnitude",
                 "--alpha", "0.5", "--pretrain-epochs", "0.02", "--epochs", "0.02", "--train-limit", "1024",
                 "--test-limit", "32", "--batch-size", "32", "--quiet", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "layers.json").read_text())
    assert summary["task"] == "lm" and summary["metric"] == "perplexity"
    assert summary["accuracy_before"] < 256                        # pretrained: better than uniform bytes
    model = onnx.load(str(out / "model.onnx"))
    gate = next(numpy_helper.to_array(t) for t in model.graph.initializer if t.name == "layers.0.mlp.gate.weight")
    assert (gate != 0).mean() == pytest.approx(0.5, abs=0.01)
    ids = load_dataset("fortunes", limit=4).test_x[:4]
    logits = ort.InferenceSession(model.SerializeToString()).run(None, {"input_ids": ids})[0]
    assert logits.shape == (4, 128, 256) and np.isfinite(logits).all()
