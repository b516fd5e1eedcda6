"""Tensor-manipulation ops of the bridge: constants, shapes and the shape arithmetic exporters
write (Shape, Gather, Concat, Range, ...), views (Reshape, Transpose, Squeeze, ...), indexing
(Gather as embedding lookup, Slice, Split) and padding/tiling. Resize is in ops_resize."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from onnx import numpy_helper

from pruning.onnx.ops_base import (OnnxBridgeError, axes_of, given, ints, scalar, text, torch_dtype,
                                   torch_pad, unary)

# ---- constants and casts --------------------------------------------------------------------

CONSTANT_FORMS = {"value_float": torch.float32, "value_floats": torch.float32,
                  "value_int": torch.int64, "value_ints": torch.int64}


def _constant(m, node, a, xs):
    if "value" in a:
        return torch.from_numpy(numpy_helper.to_array(a["value"]).copy())
    for key, dtype in CONSTANT_FORMS.items():
        if key in a:
            return torch.tensor(a[key], dtype=dtype)
    raise OnnxBridgeError(f"Constant {node.name!r}: only numeric values are supported "
                          f"(attributes {', '.join(a) or 'none'})")


def _constant_of_shape(m, node, a, xs):
    value = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
    fill = torch.from_numpy(value.reshape(-1)[:1].copy())
    return fill.reshape(()).expand(ints(xs[0])).clone()


def _range(m, node, a, xs):
    """start + i * delta for i < max(ceil((limit - start) / delta), 0): empty, not an error,
    when the bounds disagree with the step's sign (torch.arange refuses that)."""
    start, limit, delta = (x.reshape(()).item() for x in xs[:3])
    n = max(math.ceil((limit - start) / delta), 0)
    return start + torch.arange(n, dtype=xs[0].dtype) * delta


def _shape(m, node, a, xs):
    """The input's shape (opset 15: the dims from `start` to `end`, Python slice rules)."""
    dims = list(xs[0].shape)[a.get("start", 0):a.get("end", None)]
    return torch.tensor(dims, dtype=torch.int64)


# ---- views ----------------------------------------------------------------------------------

def _reshape(m, node, a, xs):
    x, shape = xs[0], ints(xs[1])
    if not a.get("allowzero", 0):                   # 0 copies the input's dim
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


def _flatten(m, node, a, xs):
    x = xs[0]
    axis = a.get("axis", 1)
    axis = axis + x.dim() if axis < 0 else axis
    return x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))


def _transpose(m, node, a, xs):
    return xs[0].permute(a.get("perm", list(reversed(range(xs[0].dim())))))


def _unsqueeze(m, node, a, xs):
    x, axes = xs[0], axes_of(a, xs)
    rank = x.dim() + len(axes)
    for ax in sorted(ax % rank for ax in axes):
        x = x.unsqueeze(ax)
    return x


def _squeeze(m, node, a, xs):
    x, axes = xs[0], axes_of(a, xs)
    axes = [ax % x.dim() for ax in axes] if axes else [i for i, s in enumerate(x.shape) if s == 1]
    return x.squeeze(tuple(axes)) if axes else x


def _depth_to_space(m, node, a, xs):
    """DCR (default): depth is (block, block, channels); CRD: (channels, block, block)."""
    x, b = xs[0], int(a["blocksize"])
    n, c, h, w = x.shape
    if text(a.get("mode", "DCR")) == "CRD":
        y = x.reshape(n, c // b ** 2, b, b, h, w).permute(0, 1, 4, 2, 5, 3)
    else:
        y = x.reshape(n, b, b, c // b ** 2, h, w).permute(0, 3, 4, 1, 5, 2)
    return y.reshape(n, c // b ** 2, h * b, w * b)


def _space_to_depth(m, node, a, xs):
    x, b = xs[0], int(a["blocksize"])
    n, c, h, w = x.shape
    y = x.reshape(n, c, h // b, b, w // b, b).permute(0, 3, 5, 1, 2, 4)
    return y.reshape(n, c * b * b, h // b, w // b)


# ---- indexing -------------------------------------------------------------------------------

def _positive(index: torch.Tensor, size: int) -> torch.Tensor:
    """ONNX indices may count from the end (-1 is the last)."""
    index = index.long()
    return torch.where(index < 0, index + size, index)


def _gather(m, node, a, xs):
    """Gather along `axis`; with a constant table and token ids this is an embedding lookup."""
    data = xs[0]
    axis = a.get("axis", 0) % data.dim()
    index = _positive(xs[1], data.shape[axis])
    out = torch.index_select(data, axis, index.reshape(-1))
    return out.reshape(data.shape[:axis] + index.shape + data.shape[axis + 1:])


def _gather_elements(m, node, a, xs):
    axis = a.get("axis", 0) % xs[0].dim()
    return torch.gather(xs[0], axis, _positive(xs[1], xs[0].shape[axis]))


def _gather_nd(m, node, a, xs):
    """GatherND: the last axis of `indices` indexes the leading axes of `data` (after
    `batch_dims` shared batch axes); HF exporters use it to pick each sequence's last token."""
    data, index = xs[0], xs[1].long()
    b, k = a.get("batch_dims", 0), index.shape[-1]
    sizes = data.shape[b:b + k]
    batches = math.prod(data.shape[:b])
    flat = torch.zeros(index.shape[:-1], dtype=torch.long, device=index.device).reshape(batches, -1)
    for j, size in enumerate(sizes):
        i = index[..., j].reshape(batches, -1)
        flat = flat * size + torch.where(i < 0, i + size, i)
    table = data.reshape(batches, math.prod(sizes), *data.shape[b + k:])
    out = table[torch.arange(batches, device=data.device)[:, None], flat]
    return out.reshape(*index.shape[:-1], *data.shape[b + k:])


def _split_to_sequence(m, node, a, xs):
    """A sequence (a Python list) of chunks along `axis`: of the given sizes, of one size, or
    of size 1 with the axis dropped unless keepdims."""
    x, split, axis = xs[0], given(xs, 1), a.get("axis", 0)
    if split is None:
        parts = torch.split(x, 1, dim=axis)
        return list(parts) if a.get("keepdims", 1) else [p.squeeze(axis) for p in parts]
    sizes = ints(split)
    return list(torch.split(x, sizes[0] if split.dim() == 0 else sizes, dim=axis))


def _slice_arguments(a, xs) -> tuple[list[int], list[int], list[int] | None, list[int] | None]:
    """(starts, ends, axes, steps): attributes before opset 10, inputs from then on."""
    if len(xs) > 1:
        steps = given(xs, 4)
        return ints(xs[1]), ints(xs[2]), axes_of(a, xs, 3), None if steps is None else ints(steps)
    return list(a["starts"]), list(a["ends"]), a.get("axes"), None


def _slice(m, node, a, xs):
    """Python slice rules are ONNX's (negative bounds count from the end and are clamped);
    negative steps, which torch indexing lacks, gather explicit indices."""
    x = xs[0]
    starts, ends, axes, steps = _slice_arguments(a, xs)
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    for ax, start, end, step in zip(axes, starts, ends, steps):
        ax %= x.dim()
        bounds = slice(start, end, step).indices(x.shape[ax])
        if step > 0:
            x = x[(slice(None),) * ax + (slice(*bounds),)]
        else:
            x = torch.index_select(x, ax, torch.arange(*bounds, device=x.device))
    return x


def _split(m, node, a, xs):
    """Sizes from the `split` input (opset 13 on) or attribute (before); without them, equal
    parts, one per output (the last smaller when uneven, as opset 18 says)."""
    x, axis = xs[0], a.get("axis", 0)
    sizes = given(xs, 1)
    sizes = ints(sizes) if sizes is not None else list(a.get("split", []))
    if not sizes:
        sizes = -(-x.shape[axis] // len(node.output))
    return tuple(torch.split(x, sizes, dim=axis))


def _trilu(m, node, a, xs):
    k = given(xs, 1)
    k = int(k.item()) if k is not None else 0
    return torch.triu(xs[0], k) if a.get("upper", 1) else torch.tril(xs[0], k)


# ---- padding and tiling ---------------------------------------------------------------------

PAD_MODES = {"reflect": "reflect", "edge": "replicate", "wrap": "circular"}


def _pad_arguments(a, xs, rank: int) -> tuple[list[int], float]:
    """ONNX pads for every axis and the fill value: attributes before opset 11, inputs from
    then on (opset 18 adds `axes`, naming the axes the pads are for)."""
    if len(xs) == 1:
        return list(a["pads"]), a.get("value", 0.0)
    pads, axes = ints(xs[1]), axes_of(a, xs, 3)
    value = scalar(xs, 2, a, "value", 0)
    if axes is None:
        return pads, value
    full = [0] * (2 * rank)
    for i, ax in enumerate(axes):
        full[ax % rank], full[ax % rank + rank] = pads[i], pads[i + len(axes)]
    return full, value


def _pad(m, node, a, xs):
    x = xs[0]
    pads, value = _pad_arguments(a, xs, x.dim())
    tp, mode = torch_pad(pads), text(a.get("mode", "constant"))
    if mode == "constant":
        return F.pad(x, tp, value=value)
    while tp and tp[-2:] == [0, 0]:          # F.pad pads only trailing axes in these modes
        tp = tp[:-2]
    return F.pad(x, tp, mode=PAD_MODES[mode])


def _expand(m, node, a, xs):
    """Bidirectional broadcast of the input against the given shape."""
    return xs[0].expand(torch.broadcast_shapes(xs[0].shape, tuple(ints(xs[1]))))


TENSOR_OPS = {
    "Constant": _constant, "ConstantOfShape": _constant_of_shape, "Range": _range,
    "Shape": _shape,
    "Size": unary(lambda x: torch.tensor(x.numel(), dtype=torch.int64)),
    "Cast": lambda m, n, a, xs: xs[0].to(torch_dtype(a["to"])),
    "CastLike": lambda m, n, a, xs: xs[0].to(xs[1].dtype),
    "Identity": unary(lambda x: x),
    "Reshape": _reshape, "Flatten": _flatten, "Transpose": _transpose,
    "Unsqueeze": _unsqueeze, "Squeeze": _squeeze,
    "DepthToSpace": _depth_to_space, "SpaceToDepth": _space_to_depth,
    "Concat": lambda m, n, a, xs: torch.cat(xs, dim=a["axis"]),
    "Gather": _gather, "GatherElements": _gather_elements, "GatherND": _gather_nd,
    "Slice": _slice, "Split": _split,
    "SplitToSequence": _split_to_sequence,
    "SequenceAt": lambda m, n, a, xs: xs[0][int(xs[1])],
    "SequenceConstruct": lambda m, n, a, xs: list(xs),
    "ConcatFromSequence": lambda m, n, a, xs: (torch.stack if a.get("new_axis", 0) else torch.cat)(xs[0], a["axis"]),
    "Trilu": _trilu, "Pad": _pad, "Expand": _expand,
    "Tile": lambda m, n, a, xs: xs[0].repeat(ints(xs[1])),
}
