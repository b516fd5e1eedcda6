"""Raw Hugging Face modules (small configs, no download) load through codesign.load with keyword
example inputs (issue 19 item 5): their MACs equal those of the same module exported by torch's
dynamo exporter to a file, and an independent count from the config; layers keep the module's
parameter names. pruning.onnx.torch_export's fallback and failure paths are checked here too.

Counting convention (the importer's): one multiply-add = 1 MAC; Linear / Conv1D layers and the
two attention products (Q K^T and attention x V) count, embeddings (gathers), norms, softmax,
biases and residual adds do not."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers", reason="transformers is a dev extra: pip install -e '.[dev]'")

import onnxruntime as ort
import numpy as np

import codesign
import pruning.onnx.torch_export as torch_export
from codesign.arguments import ArgumentError
from codesign.errors import CodesignError
from pruning.errors import PruningError

BATCH, SEQ, DEC_SEQ, VOCAB = 2, 8, 5, 96


def _ids(length, seed):
    return torch.randint(0, VOCAB, (BATCH, length), generator=torch.Generator().manual_seed(seed))


# ---- the models and their independent counts -------------------------------------------------

def gpt2():
    L, d = 2, 64
    config = transformers.GPT2Config(n_layer=L, n_embd=d, n_head=4, vocab_size=VOCAB, n_positions=32,
                                     bos_token_id=0, eos_token_id=0)
    # A block: c_attn S*d*3d, Q K^T and A V S*S*d each (heads * S*S * d/heads), c_proj S*d*d,
    # the MLP S*d*4d twice: 12*S*d^2 + 2*S^2*d. The LM head: S*d*V (tied to the token table).
    macs = BATCH * (L * (12 * SEQ * d * d + 2 * SEQ * SEQ * d) + SEQ * d * VOCAB)
    return transformers.GPT2LMHeadModel(config), {"input_ids": _ids(SEQ, 1)}, macs


def llama():
    L, d, heads, kv_heads, ff = 2, 64, 4, 2, 128
    config = transformers.LlamaConfig(num_hidden_layers=L, hidden_size=d, intermediate_size=ff,
                                      num_attention_heads=heads, num_key_value_heads=kv_heads,
                                      vocab_size=VOCAB, max_position_embeddings=32)
    kv = kv_heads * d // heads                  # GQA: K and V project to kv_heads heads only
    # A layer: q and o S*d*d, k and v S*d*kv, Q K^T and A V S*S*d each (every query head still
    # multiplies its shared K/V), gate, up and down S*d*ff. The LM head: S*d*V.
    macs = BATCH * (L * (2 * SEQ * d * d + 2 * SEQ * d * kv + 2 * SEQ * SEQ * d + 3 * SEQ * d * ff)
                    + SEQ * d * VOCAB)
    return transformers.LlamaForCausalLM(config), {"input_ids": _ids(SEQ, 2)}, macs


def bert():
    L, d, ff = 2, 64, 128
    config = transformers.BertConfig(num_hidden_layers=L, hidden_size=d, intermediate_size=ff,
                                     num_attention_heads=4, vocab_size=VOCAB, max_position_embeddings=32)
    # A layer: q, k, v and the output projection S*d*d, Q K^T and A V S*S*d, the MLP S*d*ff twice.
    # The pooler: d*d on the first token only.
    macs = BATCH * (L * (4 * SEQ * d * d + 2 * SEQ * SEQ * d + 2 * SEQ * d * ff) + d * d)
    ids = _ids(SEQ, 3)
    example = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}
    return transformers.BertModel(config), example, macs


def t5():
    L, d, heads, d_kv, ff = 2, 64, 4, 8, 128
    config = transformers.T5Config(num_layers=L, num_decoder_layers=L, d_model=d, d_kv=d_kv, d_ff=ff,
                                   num_heads=heads, vocab_size=VOCAB)
    inner, S, T = heads * d_kv, SEQ, DEC_SEQ    # attention width 32 != d: q, k, v, o are d x inner
    encoder = 4 * S * d * inner + 2 * S * S * inner + 2 * S * d * ff
    # Decoder self-attention on T tokens; cross-attention: q and o on T, k and v on the S encoder
    # states, products T*S*inner each; the MLP on T. The LM head: T*d*V.
    decoder = (4 * T * d * inner + 2 * T * T * inner + 2 * T * d * inner + 2 * S * d * inner
               + 2 * T * S * inner + 2 * T * d * ff)
    macs = BATCH * (L * (encoder + decoder) + T * d * VOCAB)
    ids = _ids(S, 4)
    example = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "decoder_input_ids": _ids(T, 5)}
    return transformers.T5ForConditionalGeneration(config), example, macs


MODELS = {"gpt2": gpt2, "llama": llama, "bert": bert, "t5": t5}


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _build(name):
    torch.manual_seed(0)
    module, example, macs = MODELS[name]()
    return module.eval(), example, macs


def _weight_layers(module) -> int:
    """Linear (and GPT-2's Conv1D) modules: each is one layer with a weight."""
    kinds = (torch.nn.Linear, transformers.pytorch_utils.Conv1D)
    return sum(isinstance(m, kinds) for m in module.modules())


# ---- codesign.load ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(MODELS))
def test_module_macs_match_its_dynamo_file_and_the_config(name, tmp_path, capfd):
    module, example, macs = _build(name)
    module.train()                                           # load exports in eval mode, restores this
    capfd.readouterr()
    net = codesign.load(module, example_input=example)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")                            # the exporters' chatter is silenced
    assert module.training

    # The user's own export with torch's defaults: without the KV cache (an output torch.export
    # cannot return) and without autograd (T5's decomposition fails with grad on, torch 2.13).
    path = tmp_path / f"{name}.onnx"
    with torch.no_grad():
        torch.onnx.export(module.eval(), (), str(path), kwargs={**example, "use_cache": False}, dynamo=True,
                          external_data=False)
    from_file = codesign.load(str(path))

    assert net.total_macs == from_file.total_macs == macs
    assert net.coverage_dict()["share"] == 1.0
    params = {n for n, _ in module.named_parameters(remove_duplicate=False)}
    weighted = [layer.name for layer in net.layers if layer.weight_source != "activation"]
    assert len(weighted) == _weight_layers(module) and set(weighted) <= params   # named as in torch
    assert list(net.inputs) == list(example)


@pytest.mark.parametrize("name", ["llama", "t5"])
def test_export_module_names_inputs_outputs_and_weights_and_runs(name):
    """Graph inputs are the dict's keys, outputs the ModelOutput's tensor keys (the KV cache
    left out), every parameter an initializer under one of its names (the dynamo exporter
    unoptimized: its optimizer renames transposed Linear weights `val_<n>`), and onnxruntime
    computes what the module computes."""
    module, example, _ = _build(name)
    model = torch_export.export_module(module, example)
    with torch.no_grad():
        expected = module(**example)
    assert [i.name for i in model.graph.input] == list(example)
    names = [o.name for o in model.graph.output]
    assert names == [k for k, v in expected.items() if torch.is_tensor(v)]
    names_of: dict[int, set[str]] = {}                      # a tied tensor has several names
    for n, p in module.named_parameters(remove_duplicate=False):
        names_of.setdefault(id(p), set()).add(n)
    initializers = {t.name for t in model.graph.initializer}
    assert all(names & initializers for names in names_of.values())
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {k: v.numpy() for k, v in example.items()})
    np.testing.assert_allclose(got[0], expected[names[0]].numpy(), rtol=1e-4, atol=1e-4)


def test_legacy_exporter_takes_over_when_dynamo_fails(monkeypatch):
    """Keyword inputs reach forward() as keywords and name the graph inputs there too."""
    module, example, macs = _build("gpt2")

    def broken(*_args):
        raise RuntimeError("dynamo is out")
    monkeypatch.setattr(torch_export, "_dynamo", broken)
    model = torch_export.export_module(module, example)
    assert [i.name for i in model.graph.input] == ["input_ids"]
    assert [o.name for o in model.graph.output] == ["logits"]
    assert codesign.load(model).total_macs == macs


class _Eigenvalues(torch.nn.Module):
    """aten::linalg_eigh has no ONNX form in either exporter."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 4)

    def forward(self, x):
        y = self.fc(x)
        return torch.linalg.eigh(y @ y.T)[0]


def test_both_exporters_failing_is_one_line_naming_both(capfd):
    capfd.readouterr()
    with pytest.raises(PruningError) as caught:
        codesign.load(_Eigenvalues(), example_input=torch.randn(4, 4))
    message = str(caught.value)
    assert "\n" not in message and "\x1b" not in message
    assert "dynamo exporter: ConversionError" in message and "linalg_eigh" in message
    assert "legacy exporter: UnsupportedOperatorError" in message
    assert capfd.readouterr() == ("", "")                    # no IR dump on the terminal


@pytest.mark.parametrize("example", [{"input_ids": [[1, 2]]}, {}, {0: torch.zeros(1, 2, dtype=torch.long)},
                                     [torch.zeros(1), "x"], None])
def test_bad_keyword_examples_are_refused_before_export(example, monkeypatch):
    module, _, _ = _build("gpt2")
    monkeypatch.setattr(torch_export, "export_module", lambda *a, **k: pytest.fail("exported"))
    error = CodesignError if example is None else ArgumentError
    with pytest.raises(error, match="example_input="):
        codesign.load(module, example_input=example)


def test_a_module_failing_on_its_example_is_named_before_export():
    module, example, _ = _build("gpt2")
    with pytest.raises(PruningError, match="fails on the example inputs .*IndexError"):
        torch_export.export_module(module, {"input_ids": example["input_ids"] + VOCAB})   # ids past the table
