"""ONNX conventions that both readers of a graph share (codesign.graph, which costs it, and the
bridge, which trains it): pure Python, no torch.

- WEIGHT_PATH_OPS: ops that pass a constant weight on unchanged in value and count on its way
  to a compute node (exporters often reshape, transpose or cast a Gemm weight, and QDQ graphs
  dequantize it), so a layer is named by the initializer that is stored.
- same_pads: ONNX auto_pad SAME_UPPER / SAME_LOWER, the pads that give out = ceil(in / stride),
  the odd pad at the end (UPPER) or the beginning (LOWER).
- dtype_bits: bits per element of an ONNX tensor type.
"""
from __future__ import annotations

import math
import re
from typing import Sequence

import onnx

WEIGHT_PATH_OPS = frozenset({"Identity", "Cast", "Transpose", "Reshape", "Squeeze", "Unsqueeze",
                             "Flatten", "DequantizeLinear"})


def auto_pad_mode(value) -> str:
    """The auto_pad attribute as text (onnx.helper gives bytes)."""
    if value is None:
        return "NOTSET"
    return value.decode() if isinstance(value, bytes) else str(value)


def same_pads(in_sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
              dilations: Sequence[int], upper: bool) -> list[int]:
    """[x1_begin, x2_begin, ..., x1_end, x2_end, ...] as ONNX lists pads."""
    begin, end = [], []
    for size, k, s, d in zip(in_sizes, kernel, strides, dilations):
        total = max((math.ceil(int(size) / s) - 1) * s + (k - 1) * d + 1 - int(size), 0)
        small, big = total // 2, total - total // 2
        begin.append(small if upper else big)
        end.append(big if upper else small)
    return begin + end


def spatial_pads(attrs: dict, in_sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                 dilations: Sequence[int]) -> list[int]:
    """A Conv/Pool node's pads from its attributes (explicit pads, SAME_*, VALID)."""
    n = len(kernel)
    auto = auto_pad_mode(attrs.get("auto_pad"))
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        return same_pads(in_sizes, kernel, strides, dilations, auto == "SAME_UPPER")
    if auto == "VALID":
        return [0] * (2 * n)
    pads = attrs.get("pads")
    return [int(p) for p in pads] if pads else [0] * (2 * n)


_NAMED_WIDTHS = {"FLOAT": 32, "DOUBLE": 64, "BOOL": 8}


def dtype_bits(elem_type: int) -> int | None:
    """Bits per element of an ONNX tensor type: the width in its name (INT8, FLOAT16, INT4,
    FLOAT8E4M3FN, ...) or FLOAT/DOUBLE/BOOL; None for strings and unknown codes."""
    try:
        name = onnx.TensorProto.DataType.Name(elem_type)
    except ValueError:
        return None
    if name in _NAMED_WIDTHS:
        return _NAMED_WIDTHS[name]
    match = re.search(r"\d+", name)
    return int(match.group()) if match and name != "UNDEFINED" else None
