"""Sparsity patterns: how a layer's zeros are arranged, and THE rule of what a mask holds.
numpy only (no torch), so cost-only commands read masks with the same rule the projections
(pruning.projections, torch) keep them by.

Weights are seen as a matrix of out_channels rows x reduction positions, the ONNX weight
layout flattened after the output axis (C_in x kh x kw for a conv, the input dimension for
Gemm/MatMul):
- unstructured: any entries;
- N:M (e.g. 2:4): at most N non-zeros in every group of M consecutive reduction positions of a
  row, groups aligned to the row start; a trailing partial group keeps at most N (NVIDIA's
  convention: N is the number kept);
- block KxL (e.g. 4x1): blocks of K output channels x L reduction positions are kept or zeroed
  whole (Intel Neural Compressor's NxM: N output channels x M input ones);
- channel: whole output channels (rows) are kept or zeroed.

One padding rule: a block or group that runs past the edge of the matrix is partial and holds
when its real entries do (a 4x1 mask on a 10-row layer is valid: blocks of rows 0-3, 4-7, 8-9).
`output_axis` is the one rule for which axis of a stored weight holds its output channels.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from pruning.errors import PruningError

KINDS = ("unstructured", "nm", "block", "channel")
# what a mask is read as (infer_pattern), most structured first
NM_GROUPS = (2, 4, 8, 16)
BLOCKS = ((4, 1), (1, 4), (2, 2), (8, 1), (1, 8), (4, 4), (8, 8), (16, 1), (1, 16))
MAX_GROUP = 64
MAX_BLOCK = 4096
_NM = re.compile(r"^\s*(\d{1,3})\s*:\s*(\d{1,3})\s*$")
_BLOCK = re.compile(r"^\s*(\d{1,5})\s*[xX]\s*(\d{1,5})\s*$")


@dataclass(frozen=True)
class Pattern:
    kind: str = "unstructured"
    n: int = 0          # N:M: kept per group
    m: int = 0          # N:M: group size
    k: int = 1          # block: output channels
    l: int = 1          # block: reduction positions

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise PruningError(f"pattern kind {self.kind!r} is not one of {', '.join(KINDS)}")

    @property
    def name(self) -> str:
        if self.kind == "nm":
            return f"{self.n}:{self.m}"
        if self.kind == "block":
            return f"{self.k}x{self.l}"
        return self.kind

    def __str__(self) -> str:
        return self.name

    @property
    def fixed_alpha(self) -> float | None:
        """The keep fraction an N:M pattern implies (None: any alpha)."""
        return self.n / self.m if self.kind == "nm" else None


UNSTRUCTURED = Pattern()


def parse_pattern(text: str) -> Pattern:
    """'unstructured' | 'N:M' | 'KxL' | 'channel' (case-insensitive)."""
    if isinstance(text, Pattern):
        return text
    if not isinstance(text, str):
        raise PruningError(f"a pattern must be a string such as 2:4, 4x1, channel or unstructured; "
                           f"got {type(text).__name__}")
    raw = text.strip().lower()
    shown = text if len(text) <= 40 else text[:37] + "..."
    if raw in ("unstructured", "channel"):
        return Pattern(raw)
    match = _NM.match(raw)
    if match:
        n, m = int(match.group(1)), int(match.group(2))
        if not 0 < n < m <= MAX_GROUP:
            raise PruningError(f"pattern {shown!r}: N:M needs 0 < N < M <= {MAX_GROUP} (N kept of M)")
        return Pattern("nm", n=n, m=m)
    match = _BLOCK.match(raw)
    if match:
        k, l = int(match.group(1)), int(match.group(2))
        if not (1 <= k <= MAX_BLOCK and 1 <= l <= MAX_BLOCK) or (k, l) == (1, 1):
            raise PruningError(f"pattern {shown!r}: a block KxL needs 1 <= K, L <= {MAX_BLOCK}, not 1x1 "
                               "(that is unstructured)")
        return Pattern("block", k=k, l=l)
    raise PruningError(f"unknown pattern {shown!r}; use unstructured, N:M (e.g. 2:4), KxL blocks "
                       "(e.g. 4x1: 4 output channels x 1 input position) or channel")


def parse_pattern_list(text: str) -> list[Pattern]:
    """'unstructured,2:4,channel' -> patterns (duplicates removed, order kept)."""
    items = [p for p in str(text).split(",") if p.strip()]
    if not items:
        raise PruningError("give at least one pattern, e.g. unstructured,2:4,channel")
    out: list[Pattern] = []
    for item in items:
        p = parse_pattern(item)
        if p not in out:
            out.append(p)
    return out


# ---- layout: a weight as rows (output channels) x reduction ---------------------------------
# ONNX op types by where they keep the output channels of a weight operand
_OUTPUT_FIRST = frozenset({"Conv", "ConvInteger", "QLinearConv", "FusedConv", "DeformConv"})
_OUTPUT_SECOND = frozenset({"ConvTranspose", "LSTM", "GRU", "RNN"})    # W, R: [dirs, gates*H, in]


def output_axis(op_type: str, position: int = 1, attrs: Mapping | None = None, transposes: int = 0,
                ndim: int = 2) -> int:
    """Which axis of a stored weight holds the output channels, for an ONNX `op_type` node that
    takes it at input `position` (0: Y = W @ X, otherwise Y = X @ W for a matrix product) after
    `transposes` Transpose nodes (each swaps the two axes of a 2-D weight). Conv: (K, C/g, ...);
    ConvTranspose: (C, K/g, ...); recurrent W and R: (dirs, gates x hidden, in); Gemm/MatMul:
    (in, out), or (out, in) with transB; a left operand (out, in), or (in, out) with transA
    (the last two axes of a batched weight, whose leading axes are groups)."""
    attrs = attrs or {}
    if op_type in _OUTPUT_FIRST:
        return 0
    if op_type in _OUTPUT_SECOND:
        return 1
    if position == 0:
        from_end = 1 if attrs.get("transA", 0) else 2
    else:
        from_end = 2 if attrs.get("transB", 0) else 1
    if ndim == 2 and transposes % 2:
        from_end = 3 - from_end
    return max(ndim - from_end, 0)


def as_rows(weight, out_axis: int = 0) -> np.ndarray:
    """The (out, reduction) matrix of a weight or mask: a numpy array, or a torch tensor on any
    device (read through .detach().cpu(), so this module needs no torch)."""
    w = np.asarray(weight.detach().cpu() if hasattr(weight, "detach") else weight)
    if w.ndim < 2:
        return w.reshape(1, -1)                 # a vector weight: one output
    return np.moveaxis(w, out_axis, 0).reshape(w.shape[out_axis], -1)


def _per_block(rows: np.ndarray, k: int, l: int) -> np.ndarray:
    """Sums over blocks of k rows x l positions, the edge blocks partial (zero padding)."""
    out, cols = rows.shape
    padded = np.pad(rows, ((0, (-out) % k), (0, (-cols) % l)))
    return padded.reshape(padded.shape[0] // k, k, padded.shape[1] // l, l).sum(axis=(1, 3))


def unit_mask(mask, pattern: Pattern, out_axis: int = 0) -> np.ndarray:
    """The kept units of a mask that holds `pattern`, as a matrix: kept blocks for a block
    pattern (partial edge blocks count as blocks), the (out, reduction) mask otherwise."""
    rows = as_rows(mask, out_axis).astype(bool)
    if pattern.kind == "block":
        return _per_block(rows.astype(np.int64), pattern.k, pattern.l) > 0
    return rows


def pattern_violations(mask, pattern: Pattern, out_axis: int = 0) -> int:
    """How many groups / blocks / rows of `mask` break `pattern` (0: it holds)."""
    if pattern.kind == "unstructured":
        return 0
    rows = as_rows(mask, out_axis).astype(np.int64)
    out, cols = rows.shape
    if pattern.kind == "nm":
        counts = _per_block(rows, 1, pattern.m)
        return int((counts > pattern.n).sum())
    if pattern.kind == "channel":
        kept = rows.sum(axis=1)
        return int(((kept > 0) & (kept < cols)).sum())
    kept = _per_block(rows, pattern.k, pattern.l)
    size = _per_block(np.ones_like(rows), pattern.k, pattern.l)
    return int(((kept > 0) & (kept < size)).sum())


def kept_units(mask, pattern: Pattern, out_axis: int = 0) -> int:
    """Kept entries (unstructured, N:M), kept blocks (block) or kept rows (channel)."""
    if pattern.kind in ("unstructured", "nm"):
        return int(np.count_nonzero(np.asarray(mask)))
    if pattern.kind == "channel":
        return int(as_rows(mask, out_axis).any(axis=1).sum())
    return int(unit_mask(mask, pattern, out_axis).sum())


def keep_count(numel: int, alpha: float) -> int:
    """Number of units kept at keep fraction `alpha` (round half up, at least one)."""
    if not 0.0 < alpha <= 1.0:
        raise PruningError(f"keep fraction alpha must be in (0, 1], got {alpha}")
    return min(numel, max(1, math.floor(alpha * numel + 0.5)))


def expected_units(shape: tuple[int, ...], alpha: float, pattern: Pattern, out_axis: int = 0) -> int:
    """What the projection onto `pattern` keeps of a weight of `shape` with every entry alive,
    in the units of `kept_units`."""
    out = shape[out_axis]
    cols = math.prod(shape) // out
    if pattern.kind == "unstructured":
        return keep_count(math.prod(shape), alpha)
    if pattern.kind == "nm":
        full, rest = divmod(cols, pattern.m)
        return out * (pattern.n * full + min(pattern.n, rest))
    if pattern.kind == "channel":
        return keep_count(out, alpha)
    blocks = -(-out // pattern.k) * -(-cols // pattern.l)
    return keep_count(blocks, alpha)


def _nm_keep(rows: np.ndarray, group: int) -> int | None:
    """N when every full aligned group of `group` positions of every row holds exactly N kept,
    0 < N <= group / 2 (as the projection keeps them), and a partial tail at most N (a row
    shorter than one group: exactly N)."""
    counts = _per_block(rows, 1, group)
    whole = counts[:, :rows.shape[1] // group] if rows.shape[1] >= group else counts
    keep = int(whole.max())
    if 0 < keep <= group // 2 and np.all(whole == keep) and np.all(counts <= keep):
        return keep
    return None


def infer_pattern(mask, out_axis: int = 0) -> Pattern:
    """The most structured pattern a pruned mask holds (the padding rule of
    `pattern_violations`): whole channels, then BLOCKS, then N:M over NM_GROUPS, else
    unstructured. A mask that holds several (a 4x1 mask whose blocks pair up is also 8x1)
    reads as the first."""
    rows = as_rows(mask, out_axis).astype(bool)
    if rows.all() or not rows.any():
        return UNSTRUCTURED
    channel = Pattern("channel")
    if pattern_violations(rows, channel) == 0:
        return channel
    for k, l in BLOCKS:
        block = Pattern("block", k=k, l=l)
        if pattern_violations(rows, block) == 0:
            return block
    counts = rows.astype(np.int64)
    for group in NM_GROUPS:
        keep = _nm_keep(counts, group)
        if keep is not None:
            return Pattern("nm", n=keep, m=group)
    return UNSTRUCTURED
