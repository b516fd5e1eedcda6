"""Index formats for a pruned weight tensor: how many entries and bits a layer stores.

A weight tensor is viewed as `n_fibers` fibers (one per output channel / filter) of `fiber_len`
positions (the reduction: C/groups x kernel). Formats (notes/hardware.md section 3.2):
- relative: EIE / Deep Compression / paper 001 run-length index of b bits; a gap of g zeros
  before a non-zero needs floor(g / 2^b) padding entries (stored zeros that still cost a cycle);
  plus one entry pointer per fiber.
- bitmask: one bit per position plus the non-zero values and one pointer per fiber.
- csr: per non-zero a column index of ceil(log2 fiber_len) bits, plus n_fibers+1 row pointers.
- csc: the same with the roles swapped (index across fibers, pointers per reduction position).
- coo: per non-zero the full coordinate (sum of ceil(log2 dim) over the weight's dims).

Two ways in: expected values from a density (i.i.d. Bernoulli mask: gaps are geometric) and
exact values from a real mask (`MaskStats`: gap histogram and per-fiber counts, O(nnz)).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwmodels.errors import ConfigError

FORMATS = ("relative", "bitmask", "csr", "csc", "coo")
RELATIVE, BITMASK, CSR, CSC, COO = range(len(FORMATS))
INDEX_BITS_CANDIDATES = np.arange(1, 11)     # widths searched for the best relative index


def format_code(name: str) -> int:
    try:
        return FORMATS.index(name)
    except ValueError:
        raise ConfigError(f"index_format {name!r} is not one of {', '.join(FORMATS)}") from None


def ceil_log2(x):
    return np.ceil(np.log2(np.maximum(np.asarray(x, dtype=float), 1.0)))


def relative_entries_per_nonzero(density, bits):
    """Expected stored entries per non-zero with b-bit relative indices: 1/(1-(1-d)^(2^b)).

    Gaps of an i.i.d. mask are geometric, so E[padding per non-zero] = q^L / (1 - q^L) with
    q = 1-d, L = 2^b (notes section 3.2; matches Monte Carlo to 0.2%)."""
    d = np.clip(np.asarray(density, dtype=float), 1e-300, 1.0)
    span = np.exp2(np.asarray(bits, dtype=float))
    # -expm1(L*log1p(-d)) = 1-(1-d)^L, accurate for tiny d
    return 1.0 / -np.expm1(span * np.log1p(-np.minimum(d, 1 - 1e-16)))


@dataclass(frozen=True)
class Storage:
    """Per-layer storage of a sparse layer (arrays broadcast together)."""
    entries: np.ndarray        # stored value entries, padding included
    value_bits: np.ndarray     # entries x weight bits
    index_bits: np.ndarray     # indices + pointers (+ bitmask)
    scan_positions: np.ndarray  # positions a decoder walks (bitmask: all of them; others: 0)

    @property
    def total_bits(self) -> np.ndarray:
        return self.value_bits + self.index_bits


def storage(fmt, nnz, entries_relative, n_weights, n_fibers, fiber_len, coord_bits,
            weight_bits, index_bits) -> Storage:
    """Storage for format code(s) `fmt` given the non-zero count and the relative-index entry
    count (expected or exact, computed by the caller for the same `index_bits`). Vectorized."""
    fmt = np.asarray(fmt)
    nnz = np.asarray(nnz, dtype=float)
    is_rel = fmt == RELATIVE
    entries = np.where(is_rel, entries_relative, nnz)
    ptr_bits = ceil_log2(entries + 1)
    index_of = {   # only the formats present are computed (sweeps are mostly one format)
        RELATIVE: lambda: entries * index_bits + n_fibers * ptr_bits,
        BITMASK: lambda: n_weights + n_fibers * ptr_bits,
        CSR: lambda: nnz * ceil_log2(fiber_len) + (n_fibers + 1) * ptr_bits,
        CSC: lambda: nnz * ceil_log2(n_fibers) + (fiber_len + 1) * ptr_bits,
        COO: lambda: nnz * coord_bits,
    }
    present = [int(f) for f in np.unique(fmt)]
    idx = index_of[present[0]]()
    for f in present[1:]:
        idx = np.where(fmt == f, index_of[f](), idx)
    idx = np.broadcast_to(idx, np.broadcast(entries, fmt).shape)
    scan = np.where(fmt == BITMASK, n_weights * np.ones_like(nnz), 0.0)
    return Storage(entries=np.asarray(entries, dtype=float),
                   value_bits=entries * weight_bits,
                   index_bits=np.asarray(idx, dtype=float), scan_positions=scan)


def expected_relative_entries(n_weights, density, bits):
    return np.asarray(n_weights, dtype=float) * density * relative_entries_per_nonzero(density, bits)


def best_relative_bits(density, weight_bits, candidates=INDEX_BITS_CANDIDATES):
    """Index width minimizing expected bits per position: (b_w + b) d / (1-(1-d)^(2^b))."""
    d = np.asarray(density, dtype=float)[..., None]
    b = np.asarray(candidates, dtype=float)
    cost = (np.asarray(weight_bits, dtype=float)[..., None] + b) * d * relative_entries_per_nonzero(d, b)
    return b[np.argmin(cost, axis=-1)]


@dataclass(frozen=True)
class MaskStats:
    """Exact sparsity statistics of one layer's mask, computed once in O(nnz).

    `gaps[i]` is the number of zeros before the i-th non-zero within its fiber (counted from the
    fiber start for the first one); `fibers[i]` is that non-zero's fiber."""
    n_weights: int
    n_fibers: int
    fiber_len: int
    gaps: np.ndarray
    fibers: np.ndarray

    @classmethod
    def from_mask(cls, mask: np.ndarray) -> "MaskStats":
        mask = np.asarray(mask)
        if mask.ndim == 0 or mask.size == 0:
            raise ConfigError("a sparsity mask must be a non-empty array (one row per output channel)")
        m2 = mask.reshape(mask.shape[0], -1) != 0
        n_fibers, fiber_len = m2.shape
        flat = np.flatnonzero(m2)
        rows = (flat // fiber_len).astype(np.int64)
        cols = (flat % fiber_len).astype(np.int64)
        prev = np.concatenate([[-1], cols[:-1]])
        new_row = np.concatenate([[True], rows[1:] != rows[:-1]])
        prev = np.where(new_row, -1, prev)
        gaps = (cols - prev - 1).astype(np.int64)
        return cls(int(m2.size), int(n_fibers), int(fiber_len), gaps, rows)

    @property
    def nnz(self) -> int:
        return int(self.gaps.size)

    @property
    def density(self) -> float:
        return self.nnz / self.n_weights

    def relative_entries(self, bits) -> np.ndarray:
        """Exact stored entries (non-zeros + padding) for each index width in `bits`."""
        bits = np.atleast_1d(np.asarray(bits, dtype=np.int64))
        if self.nnz == 0:
            return np.zeros(bits.shape)
        hist = np.bincount(self.gaps)
        g = np.arange(hist.size)
        pads = (hist[None, :] * (g[None, :] >> bits[:, None])).sum(axis=1)
        return self.nnz + pads.astype(float)

    def fiber_entries(self, bits: int, fmt: int = RELATIVE) -> np.ndarray:
        """Entries each fiber stores (drives load imbalance across PEs)."""
        weights = 1 + (self.gaps >> int(bits)) if fmt == RELATIVE else np.ones(self.nnz)
        return np.bincount(self.fibers, weights=weights, minlength=self.n_fibers)


def balance_efficiency_exact(fiber_work: np.ndarray, lanes) -> np.ndarray:
    """mean work / mean wave time when fibers run in waves of `lanes` consecutive fibers, each
    wave waiting for its slowest fiber. A partial last wave is one wave: its idle lanes are
    counted by the array's fold count, not as imbalance. `lanes` may be an array."""
    lanes = np.atleast_1d(np.asarray(lanes, dtype=float))
    work = np.asarray(fiber_work, dtype=float)
    out = np.ones(lanes.shape)
    if work.size == 0 or work.sum() == 0:
        return out
    width = np.clip(np.floor(lanes), 1, work.size)
    for w in np.unique(width):
        w = int(w)
        waves = np.concatenate([work, np.zeros((-work.size) % w)]).reshape(-1, w)
        out[width == w] = work.mean() / waves.max(axis=1).mean()
    return out
