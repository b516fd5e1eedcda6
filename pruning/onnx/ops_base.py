"""What every op family of the bridge shares: the error type, attribute and input reading, and
the few conversions between ONNX and torch conventions.

An op is a function (module, node, attrs, inputs) -> tensor or tuple of tensors; `module` is
the running OnnxModule (its `opset` and `training` matter to some ops), `inputs` has None for
an omitted optional input. Where ONNX moved an argument from an attribute to an input between
opsets (axes, split, pads, clip bounds, dropout ratio), the op reads whichever the node has: a
valid node carries exactly one of them.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import onnx
import torch
from onnx import helper

from pruning.errors import PruningError

Op = Callable  # (module, node, attrs, inputs) -> torch.Tensor | tuple[torch.Tensor, ...]


class OnnxBridgeError(PruningError):
    """An ONNX graph cannot be turned into a trainable module (or back)."""


def attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def text(value) -> str:
    """A string attribute as text (onnx.helper gives bytes)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def ints(t: torch.Tensor | None) -> list[int]:
    return [] if t is None else [int(v) for v in t.reshape(-1).tolist()]


def given(xs: Sequence, i: int) -> torch.Tensor | None:
    """Input i, or None when the node omits it (missing or named "")."""
    return xs[i] if len(xs) > i and xs[i] is not None else None


def scalar(xs: Sequence, i: int, a: dict, name: str, default=None):
    """A number given as input i (newer opsets) or as attribute `name` (older ones)."""
    t = given(xs, i)
    if t is not None:
        return t.reshape(-1)[0].item()
    return a.get(name, default)


def axes_of(a: dict, xs: Sequence, index: int = 1) -> list[int] | None:
    """The axes of a node: input `index` (opset 13 / 18 on) or the `axes` attribute; None when
    the node gives neither."""
    t = given(xs, index)
    if t is not None:
        return ints(t)
    return list(a["axes"]) if "axes" in a else None


def torch_pad(pads: Sequence[int]) -> list[int]:
    """ONNX [b1, b2, ..., e1, e2, ...] (first axis first) -> F.pad order (last axis first)."""
    n = len(pads) // 2
    out: list[int] = []
    for i in reversed(range(n)):
        out += [int(pads[i]), int(pads[i + n])]
    return out


def torch_dtype(onnx_type: int) -> torch.dtype:
    """The torch dtype of an ONNX TensorProto element type."""
    try:
        np_type = helper.tensor_dtype_to_np_dtype(onnx_type)
        return torch.from_numpy(np.zeros(0, np_type)).dtype
    except (KeyError, TypeError, ValueError) as exc:
        raise OnnxBridgeError(f"ONNX element type {onnx_type} has no torch counterpart") from exc


def unary(fn: Callable[[torch.Tensor], torch.Tensor]) -> Op:
    return lambda m, node, a, xs: fn(xs[0])


def binary(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Op:
    return lambda m, node, a, xs: fn(xs[0], xs[1])


def variadic(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Op:
    """An op over any number of broadcast inputs (Sum, Max, ...), folded left to right."""
    def op(m, node, a, xs):
        out = xs[0]
        for x in xs[1:]:
            out = fn(out, x)
        return out
    return op
