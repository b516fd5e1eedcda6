"""Recurrent ops of the bridge (LSTM, GRU, RNN) in ONNX's formulation: gate order i, o, f, c
(LSTM) and z, r, h (GRU), weights W [directions, gates * hidden, input] and R [directions,
gates * hidden, hidden], biases B = [Wb, Rb], forward / reverse / bidirectional, sequence-first
layout, optional initial states and LSTM peepholes. Batch-first layout (opset 14's layout=1)
is refused, as onnxruntime refuses it: the exported model could not be checked. The input
projection of all steps is one matmul; the recurrence is a loop over steps."""
from __future__ import annotations

import torch

from pruning.onnx.ops_base import OnnxBridgeError, given, ints, text

ACTIVATIONS = {"Sigmoid": torch.sigmoid, "Tanh": torch.tanh, "Relu": torch.relu}
DEFAULT_ACTIVATIONS = {"LSTM": ("Sigmoid", "Tanh", "Tanh"), "GRU": ("Sigmoid", "Tanh"), "RNN": ("Tanh",)}
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def _activations(node, a, direction: int):
    names = [text(n) for n in a.get("activations", [])] or list(DEFAULT_ACTIVATIONS[node.op_type]) * 2
    per = len(DEFAULT_ACTIVATIONS[node.op_type])
    chosen = names[direction * per:(direction + 1) * per] or names[:per]
    unknown = [n for n in chosen if n not in ACTIVATIONS]
    if unknown or a.get("activation_alpha") or a.get("activation_beta"):
        raise OnnxBridgeError(f"{node.op_type} {node.name!r}: activations {chosen} are not supported "
                              f"(supported: {', '.join(ACTIVATIONS)}, without alpha/beta)")
    fns = [ACTIVATIONS[n] for n in chosen]
    clip = a.get("clip")
    if clip is None:
        return fns
    # The cell clip bounds the gates' pre-activations (onnxruntime: not the cell state's h(C)).
    clipped = [lambda x, fn=fn: fn(x.clamp(-clip, clip)) for fn in fns]
    return clipped[:2] + fns[2:] if node.op_type == "LSTM" else clipped


def _lstm_step(acts, r, rb, p):
    f, g, h_act = acts

    def step(xw, state):
        h, c = state
        i, o, fo, cc = (xw + h @ r.T + rb).chunk(4, -1)
        if p is not None:
            pi, po, pf = p.chunk(3)
            i, fo = i + pi * c, fo + pf * c
        c = f(fo) * c + f(i) * g(cc)
        o = o + po * c if p is not None else o
        h = f(o) * h_act(c)
        return h, (h, c)
    return step


def _gru_step(acts, r, rb, linear_before_reset: bool):
    f, g = acts
    hidden = r.shape[-1]

    def step(xw, state):
        h = state[0]
        xz, xr, xh = xw.split(hidden, -1)
        hz, hr = (h @ r[:2 * hidden].T + rb[:2 * hidden]).split(hidden, -1)
        z, reset = f(xz + hz), f(xr + hr)
        rh, rbh = r[2 * hidden:], rb[2 * hidden:]
        if linear_before_reset:
            candidate = g(xh + reset * (h @ rh.T + rbh))
        else:
            candidate = g(xh + (reset * h) @ rh.T + rbh)
        h = (1 - z) * candidate + z * h
        return h, (h,)
    return step


def _rnn_step(acts, r, rb):
    def step(xw, state):
        h = acts[0](xw + state[0] @ r.T + rb)
        return h, (h,)
    return step


def _step(node, a, acts, r, rb, p):
    if node.op_type == "LSTM":
        return _lstm_step(acts, r, rb, p)
    if node.op_type == "GRU":
        return _gru_step(acts, r, rb, bool(a.get("linear_before_reset", 0)))
    return _rnn_step(acts, r, rb)


def _check(node, a, x, lengths):
    if a.get("input_forget", 0) or a.get("layout", 0):
        raise OnnxBridgeError(f"{node.op_type} {node.name!r}: input_forget and layout=1 are not "
                              "supported (nor by onnxruntime)")
    if lengths is not None and any(n != x.shape[0] for n in ints(lengths)):
        raise OnnxBridgeError(f"{node.op_type} {node.name!r}: sequence_lens shorter than the sequence "
                              "are not supported")


def _recurrent(m, node, a, xs):
    """Outputs Y [seq, directions, batch, hidden], Y_h and, for LSTM, Y_c [directions, batch,
    hidden]."""
    x, w, r, bias = xs[0], xs[1], xs[2], given(xs, 3)
    _check(node, a, x, given(xs, 4))
    gates, hidden = GATES[node.op_type], r.shape[-1]
    initial = [given(xs, 5)] + ([given(xs, 6)] if node.op_type == "LSTM" else [])
    peepholes = given(xs, 7) if node.op_type == "LSTM" else None
    reverse_all = text(a.get("direction", "forward")) == "reverse"
    ys, finals = [], []
    for d in range(w.shape[0]):
        wb, rb = (bias[d].split(gates * hidden) if bias is not None
                  else (torch.zeros(gates * hidden, dtype=x.dtype, device=x.device),) * 2)
        step = _step(node, a, _activations(node, a, d), r[d], rb, None if peepholes is None else peepholes[d])
        xw = x @ w[d].T + wb
        state = tuple(s[d] if s is not None else torch.zeros(x.shape[1], hidden, dtype=x.dtype, device=x.device)
                      for s in initial)
        order = range(x.shape[0] - 1, -1, -1) if reverse_all or d == 1 else range(x.shape[0])
        out = [None] * x.shape[0]
        for t in order:
            out[t], state = step(xw[t], state)
        ys.append(torch.stack(out))
        finals.append(state)
    last = [torch.stack([s[k] for s in finals]) for k in range(len(finals[0]))]
    return (torch.stack(ys, 1), *last)


RNN_OPS = {"LSTM": _recurrent, "GRU": _recurrent, "RNN": _recurrent}
