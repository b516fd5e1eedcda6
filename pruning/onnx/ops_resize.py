"""Resize, as the exporters write it (nearest and linear; the coordinate rules half_pixel,
pytorch_half_pixel, align_corners, asymmetric, half_pixel_symmetric), done axis by axis with
index arithmetic so the result follows onnxruntime's rounding and edge clamping exactly (torch's
interpolate covers only some of these combinations)."""
from __future__ import annotations

import math

import torch

from pruning.onnx.ops_base import OnnxBridgeError, given, text


def _source_coordinates(rule: str, out_len: int, in_len: int, scale: float) -> torch.Tensor:
    """Where each output index samples the input, in input index units (float32 like ORT)."""
    o = torch.arange(out_len, dtype=torch.float32)
    if rule == "half_pixel" or (rule == "pytorch_half_pixel" and out_len > 1):
        return (o + 0.5) / scale - 0.5
    if rule == "pytorch_half_pixel":
        return torch.zeros(out_len)
    if rule == "align_corners":
        return o * (in_len - 1) / (out_len - 1) if out_len > 1 else torch.zeros(out_len)
    if rule == "asymmetric":
        return o / scale
    if rule == "half_pixel_symmetric":
        adjustment = out_len / (scale * in_len)
        offset = in_len / 2 * (1 - adjustment)
        return offset + (o + 0.5) / scale - 0.5
    raise OnnxBridgeError(f"Resize coordinate_transformation_mode {rule!r} is not supported")


def _half_to(direction):
    """Round to nearest, with exact halves going `direction` (torch.floor or torch.ceil)."""
    return lambda c: torch.where(c - c.floor() == 0.5, direction(c), torch.round(c))


NEAREST_RULES = {"round_prefer_floor": _half_to(torch.floor), "round_prefer_ceil": _half_to(torch.ceil),
                 "floor": torch.floor, "ceil": torch.ceil}


def _along(x: torch.Tensor, axis: int, index: torch.Tensor) -> torch.Tensor:
    return torch.index_select(x, axis, index)


def _nearest(x, axis, coords, a):
    rule = text(a.get("nearest_mode", "round_prefer_floor"))
    if rule not in NEAREST_RULES:
        raise OnnxBridgeError(f"Resize nearest_mode {rule!r} is not supported")
    index = NEAREST_RULES[rule](coords).clamp(0, x.shape[axis] - 1).long()
    return _along(x, axis, index)


def _linear(x, axis, coords, a):
    coords = coords.clamp(0, x.shape[axis] - 1)
    low = coords.floor().long()
    high = (low + 1).clamp(max=x.shape[axis] - 1)
    shape = [1] * x.dim()
    shape[axis] = -1
    weight = (coords - low).reshape(shape).to(x.dtype)
    lo = _along(x, axis, low)
    return lo + (_along(x, axis, high) - lo) * weight


MODES = {"nearest": _nearest, "linear": _linear}


def _targets(m, a, xs, x) -> tuple[list[int], list[float]]:
    """Output sizes and scales of every axis: from `sizes` (scale = out / in) or from `scales`
    (size = floor(in * scale)); inputs (X, scales) at opset 10, (X, roi, scales, sizes) after,
    for the axes of the opset-18 `axes` attribute (default all)."""
    scales, sizes = (given(xs, 1), None) if m.opset < 11 else (given(xs, 2), given(xs, 3))
    axes = [ax % x.dim() for ax in a.get("axes", range(x.dim()))]
    out, factor = list(x.shape), [1.0] * x.dim()
    if sizes is not None and sizes.numel():
        for ax, size in zip(axes, sizes.tolist()):
            out[ax], factor[ax] = int(size), int(size) / x.shape[ax]
    elif scales is not None and scales.numel():
        for ax, s in zip(axes, scales.tolist()):
            out[ax], factor[ax] = int(math.floor(x.shape[ax] * s)), float(s)
    else:
        raise OnnxBridgeError("Resize needs scales or sizes")
    return out, factor


def _resize(m, node, a, xs):
    x = xs[0]
    mode = text(a.get("mode", "nearest"))
    if mode not in MODES:
        raise OnnxBridgeError(f"Resize {node.name!r}: mode {mode!r} is not supported (nearest, linear)")
    if a.get("antialias", 0) or text(a.get("keep_aspect_ratio_policy", "stretch")) != "stretch":
        raise OnnxBridgeError(f"Resize {node.name!r}: antialias and keep_aspect_ratio_policy are "
                              "not supported")
    rule = text(a.get("coordinate_transformation_mode", "half_pixel" if m.opset >= 11 else "asymmetric"))
    out, factor = _targets(m, a, xs, x)
    for axis in range(x.dim()):
        if out[axis] != x.shape[axis] or factor[axis] != 1.0:
            coords = _source_coordinates(rule, out[axis], x.shape[axis], factor[axis]).to(x.device)
            x = MODES[mode](x, axis, coords, a)
    return x


RESIZE_OPS = {"Resize": _resize}
