"""Small models of every signature the compression side must serve (issue 19), written in plain
torch and exported by torch's dynamo exporter, so their constants (a causal mask, rotary
tables, initial states) become initializers as in real exports. Built in seconds, no download.

- gpt: token ids -> (batch, seq, vocab) logits; learned positions, a causal mask buffer.
- llama: token ids -> logits; RMSNorm written out, rotary cos/sin tables, GQA-style heads.
- seq2seq: (source ids, target ids) -> (batch, target seq, vocab): an encoder-decoder.
- lstm_state: (features, initial state) -> (batch, time, classes): a state input.
- ctc: (batch, 1, 32, 64) images -> (time, batch, classes) log-probabilities (time-major).
"""
from __future__ import annotations

import io
import math
import warnings

import torch
from torch import nn

VOCAB, SEQ, D = 64, 12, 32


class Block(nn.Module):
    """Pre-norm attention + MLP; `rope` tables and `rms` norms for the Llama style."""

    def __init__(self, rms: bool = False, kv_heads: int = 2, heads: int = 4):
        super().__init__()
        self.heads, self.kv_heads, self.hd = heads, kv_heads, D // heads
        self.q = nn.Linear(D, D)
        self.kv = nn.Linear(D, 2 * kv_heads * self.hd)
        self.o = nn.Linear(D, D)
        self.up = nn.Linear(D, 2 * D)
        self.down = nn.Linear(2 * D, D)
        self.rms = rms
        if rms:
            self.n1, self.n2 = nn.Parameter(torch.ones(D) * 1.1), nn.Parameter(torch.ones(D) * 0.9)
        else:
            self.n1, self.n2 = nn.LayerNorm(D), nn.LayerNorm(D)

    def norm(self, x, which):
        if not self.rms:
            return which(x)
        return which * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6))

    def forward(self, x, mask, rope=None, memory=None):
        b, t, _ = x.shape
        h = self.norm(x, self.n1)
        q = self.q(h).view(b, t, self.heads, self.hd).transpose(1, 2)
        src = h if memory is None else memory
        k, v = self.kv(src).view(b, src.shape[1], 2, self.kv_heads, self.hd).unbind(2)
        k, v = (z.transpose(1, 2).repeat_interleave(self.heads // self.kv_heads, 1) for z in (k, v))
        if rope is not None:
            cos, sin = rope
            rot = lambda z: torch.cat([-z[..., self.hd // 2:], z[..., :self.hd // 2]], -1)
            q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd) + (mask if memory is None else 0.0)
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(b, t, D)
        x = x + self.o(y)
        return x + self.down(torch.relu(self.up(self.norm(x, self.n2))))


def _causal() -> torch.Tensor:
    return torch.triu(torch.full((SEQ, SEQ), -1e4), 1)


class Gpt(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok, self.pos = nn.Embedding(VOCAB, D), nn.Embedding(SEQ, D)
        self.block = Block()
        self.norm = nn.LayerNorm(D)
        self.head = nn.Linear(D, VOCAB, bias=False)
        self.register_buffer("mask", _causal())
        self.register_buffer("positions", torch.arange(SEQ))

    def forward(self, ids):
        x = self.tok(ids) + self.pos(self.positions)
        return self.head(self.norm(self.block(x, self.mask)))


class Llama(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, D)
        self.block = Block(rms=True)
        self.head = nn.Linear(D, VOCAB, bias=False)
        self.register_buffer("mask", _causal())
        hd = D // 4
        angle = torch.arange(SEQ)[:, None] / (10000 ** (torch.arange(hd // 2) / (hd // 2)))
        angle = torch.cat([angle, angle], -1)
        self.register_buffer("cos", angle.cos())
        self.register_buffer("sin", angle.sin())

    def forward(self, ids):
        return self.head(self.block(self.tok(ids), self.mask, (self.cos, self.sin)))


class Seq2Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.src, self.tgt = nn.Embedding(VOCAB, D), nn.Embedding(VOCAB, D)
        self.enc, self.dec = Block(), Block()
        self.head = nn.Linear(D, VOCAB)
        self.register_buffer("mask", _causal())

    def forward(self, source_ids, decoder_input_ids):
        memory = self.enc(self.src(source_ids), torch.zeros(SEQ, SEQ))
        x = self.dec(self.tgt(decoder_input_ids), self.mask)
        return self.head(x + self.dec(x, self.mask, memory=memory))


class LstmState(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(16, 24, batch_first=True)
        self.out = nn.Linear(24, 5)

    def forward(self, features, state):
        y, _ = self.lstm(features, (state[None], torch.zeros_like(state)[None]))
        return self.out(y)


class Ctc(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d((1, 16)))
        self.fc = nn.Linear(16, 11)

    def forward(self, image):
        f = self.conv(image).squeeze(2).permute(2, 0, 1)          # (time, batch, channels)
        return self.fc(f).log_softmax(-1)


def _ids(seed: int) -> torch.Tensor:
    return torch.randint(0, VOCAB, (1, SEQ), generator=torch.Generator().manual_seed(seed))


EXAMPLES = {
    "gpt": (Gpt, lambda: (_ids(1),), ("ids",)),
    "llama": (Llama, lambda: (_ids(2),), ("ids",)),
    "seq2seq": (Seq2Seq, lambda: (_ids(3), _ids(4)), ("source_ids", "decoder_input_ids")),
    "lstm_state": (LstmState, lambda: (torch.rand(1, 10, 16), torch.zeros(1, 24)), ("features", "state")),
    "ctc": (Ctc, lambda: (torch.rand(1, 1, 32, 64),), ("image",)),
}


def export(name: str):
    """The model `name` (seeded, eval mode) exported by the dynamo exporter (static batch 1), as
    an onnx.ModelProto."""
    import onnx
    make, example, names = EXAMPLES[name]
    torch.manual_seed(0)
    model = make().eval()
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, example(), dynamo=True, input_names=list(names), verbose=False)
    program.save(buf) if hasattr(program, "save") else None
    return onnx.load_from_string(buf.getvalue())
