"""Sparsity patterns: how a layer's zeros are arranged. Pure Python (no torch), so cost-only
commands can parse them too; the projections onto each pattern live in pruning.projections.

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
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from pruning.errors import PruningError

KINDS = ("unstructured", "nm", "block", "channel")
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
