"""Raw Hugging Face modules prune through the API (issue 19 item 5): data as a DataLoader of
dicts (input_ids, attention_mask, decoder_input_ids), exported with keyword inputs, trained on
the task they serve, and the exported file runs in onnxruntime with the module's MACs."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers", reason="transformers is a dev extra: pip install -e '.[dev]'")

import codesign  # noqa: E402
from pruning.data import Inputs  # noqa: E402
from pruning.onnx.bridge import onnxruntime_outputs  # noqa: E402

torch.set_num_threads(1)
VOCAB, SEQ = 100, 12


def _rows(keys, n=200):
    ids = torch.randint(0, VOCAB, (n, SEQ), generator=torch.Generator().manual_seed(0))
    make = {"input_ids": lambda i: ids[i], "attention_mask": lambda i: torch.ones(SEQ, dtype=torch.long),
            "decoder_input_ids": lambda i: ids[i].flip(0)}
    return [{k: make[k](i) for k in keys} for i in range(n)]


def _gpt2():
    return transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=VOCAB, n_positions=32, n_embd=32, n_layer=2, n_head=2, bos_token_id=0, eos_token_id=0))


def _t5():
    return transformers.T5ForConditionalGeneration(transformers.T5Config(
        vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, decoder_start_token_id=0))


@pytest.mark.parametrize("make,keys,task", [(_gpt2, ("input_ids", "attention_mask"), "lm"),
                                            (_t5, ("input_ids", "decoder_input_ids"), "distill")])
def test_hf_module_prunes_on_dict_data(make, keys, task):
    torch.manual_seed(0)
    module = make().eval()
    loader = torch.utils.data.DataLoader(_rows(keys), batch_size=50)
    result = codesign.prune(module, loader, task=task, method="magnitude", alpha=0.5, pattern="2:4", epochs=0.2)
    t = result.totals
    assert t.task == task and t.drop_low <= t.drop <= t.drop_high
    assert sum(r.pattern == "2:4" for r in result.layers) >= 4
    inputs = [i.name for i in result.onnx.graph.input]
    assert inputs == list(keys)                                   # named by the dict's keys
    x = Inputs({k: np.stack([r[k].numpy() for r in _rows(keys, 3)]) for k in keys})
    logits = onnxruntime_outputs(result.onnx, x)
    assert logits.shape == (3, SEQ, VOCAB) and np.isfinite(logits).all()
    example = {k: torch.from_numpy(v[:1]) for k, v in x.arrays.items()}
    assert codesign.load(result.onnx).total_macs == codesign.load(module, example_input=example).total_macs > 0
