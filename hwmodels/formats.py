"""How a pruned weight tensor is stored and walked: entries, weight and index bits, and the
per-fiber work a sparse PE does, for every sparsity structure (hwmodels.workload.Structure).

A weight tensor is `fibers` output channels of `fiber_len` reduction positions. Formats of
unstructured and block sparsity (notes on each: eie16, scnn17, and the Sparseloop taxonomy):
- relative: a b-bit gap before each stored entry; a gap of g zeros needs floor(g / 2^b)
  padding entries (stored zeros that still cost a cycle); one pointer per fiber;
- bitmask: one bit per position plus one pointer per fiber;
- csr: a ceil(log2 fiber_len)-bit column index per non-zero, fibers + 1 pointers;
- csc: the same with the roles swapped; coo: the full coordinate per non-zero.
A block KxL layer uses the format over blocks (one index per kept block, shared by its K
filters and L positions). N:M layers store log2(M) metadata bits per kept weight and need no
pointers (nm-metadata); a layer whose blocks span the whole reduction (channel pruning) is a
smaller dense layer: no index at all.

Two ways in: expected values from a density (an i.i.d. Bernoulli mask: gaps are geometric,
per-fiber counts binomial) and exact values from a real mask (`MaskStats`, O(nnz)).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from hwmodels.errors import ConfigError
from hwmodels.spec import INDEX_FORMATS

RELATIVE, BITMASK, CSR, CSC, COO = range(len(INDEX_FORMATS))
WIDTH_CANDIDATES = np.arange(1, 11)     # relative index widths searched for the best one


def ceil_log2(x):
    return np.ceil(np.log2(np.maximum(np.asarray(x, dtype=float), 1.0)))


def relative_entries_per_nonzero(density, bits):
    """Expected stored entries per non-zero with b-bit relative indices: 1/(1-(1-d)^(2^b)).

    Gaps of an i.i.d. mask are geometric, so E[padding per non-zero] = q^L / (1 - q^L) with
    q = 1-d, L = 2^b (matches Monte Carlo to 0.2%)."""
    d = np.clip(np.asarray(density, dtype=float), 1e-300, 1.0)
    span = np.exp2(np.asarray(bits, dtype=float))
    # -expm1(L*log1p(-d)) = 1-(1-d)^L, accurate for tiny d
    return 1.0 / -np.expm1(span * np.log1p(-np.minimum(d, 1 - 1e-16)))


@dataclass(frozen=True)
class Storage:
    """Per layer (arrays broadcast together)."""
    entries: np.ndarray            # stored weight values, padding included
    weight_bits_total: np.ndarray  # entries x bits per weight
    index_bits_total: np.ndarray   # indices / metadata / bitmask + pointers

    @property
    def total_bits(self) -> np.ndarray:
        return self.weight_bits_total + self.index_bits_total


def index_storage(fmt, kept_units, rel_units, n_units, unit_fibers, fiber_units, coord_bits,
                  width) -> tuple[np.ndarray, np.ndarray]:
    """(stored units, index bits) of format code(s) `fmt` over units (weights, or blocks),
    given the kept units and the relative-index unit count (padding included) at `width`."""
    fmt = np.asarray(fmt)
    kept = np.asarray(kept_units, dtype=float)
    entries = np.where(fmt == RELATIVE, rel_units, kept)
    ptr = ceil_log2(entries + 1)
    index_of = {    # only the formats present are computed (sweeps are mostly one format)
        RELATIVE: lambda: entries * width + unit_fibers * ptr,
        BITMASK: lambda: n_units + unit_fibers * ptr,
        CSR: lambda: kept * ceil_log2(fiber_units) + (unit_fibers + 1) * ptr,
        CSC: lambda: kept * ceil_log2(unit_fibers) + (fiber_units + 1) * ptr,
        COO: lambda: kept * coord_bits,
    }
    present = [int(f) for f in np.unique(fmt)]
    index = index_of[present[0]]()
    for f in present[1:]:
        index = np.where(fmt == f, index_of[f](), index)
    shape = np.broadcast_shapes(np.shape(entries), np.shape(index))
    return np.broadcast_to(entries, shape), np.broadcast_to(index, shape)


def nm_kept(fiber_len, keep, group):
    """Kept weights per fiber of an N:M layer; a trailing partial group keeps at most N."""
    fiber_len = np.asarray(fiber_len, dtype=float)
    full = np.floor(fiber_len / np.maximum(group, 1))
    return keep * full + np.minimum(keep, fiber_len - full * group)


def nm_compatible(keep, group, hw_keep, hw_group):
    """An N:M layer runs on an Nh:Mh engine when no aligned Mh-group can hold more than Nh
    non-zeros: groups nest (M | Mh or Mh | M) and N*Mh <= Nh*M (M <= Mh) or N <= Nh (M > Mh)."""
    keep, group = np.asarray(keep, dtype=float), np.asarray(group, dtype=float)
    nest = (np.mod(hw_group, np.maximum(group, 1)) == 0) | (np.mod(group, hw_group) == 0)
    fits = np.where(group <= hw_group, keep * hw_group <= hw_keep * group, keep <= hw_keep)
    return (group > 0) & nest & fits


def huffman_bits(counts) -> float:
    """Bits of a Huffman code for symbols occurring `counts` times (Deep Compression codes its
    relative indices this way for storage; a decoder would need the table, not counted)."""
    counts = [float(c) for c in np.asarray(counts, dtype=float).ravel() if c > 0]
    if len(counts) <= 1:
        return float(sum(counts))           # one symbol: one bit each
    heap = list(counts)
    heapq.heapify(heap)
    total = 0.0
    while len(heap) > 1:                    # total code length = sum of merged weights
        merged = heapq.heappop(heap) + heapq.heappop(heap)
        total += merged
        heapq.heappush(heap, merged)
    return total


def relative_code_counts(density: float, width: int, n_nonzero: float) -> np.ndarray:
    """Expected occurrences of each b-bit gap code (0 .. 2^b - 1) for an i.i.d. mask: an entry
    codes the gap remainder r = g mod 2^b; each padding entry codes a full jump (2^b - 1)."""
    span = 2 ** int(width)
    q = 1.0 - float(density)
    r = np.arange(span)
    # P(G = qL + r) summed over q: d (1-d)^r / (1 - (1-d)^L)
    tail = 1.0 - q ** span
    p_rem = density * q ** r / tail if tail > 0 else np.full(span, 1.0 / span)
    counts = n_nonzero * p_rem
    counts[-1] += n_nonzero * (q ** span / tail if tail > 0 else 0.0)   # padding entries
    return counts


@dataclass(frozen=True)
class MaskStats:
    """Exact statistics of one layer's mask, in units (weights, or blocks of a block-pruned
    layer), computed once in O(nnz). `gaps[i]` is the number of zero units before the i-th kept
    unit within its fiber; `fibers[i]` is that unit's fiber."""
    n_units: int
    n_fibers: int
    fiber_units: int
    gaps: np.ndarray
    fibers: np.ndarray

    @classmethod
    def from_mask(cls, mask: np.ndarray) -> "MaskStats":
        """`mask`: one row per fiber (output channel or block row), any trailing shape."""
        mask = np.asarray(mask)
        if mask.ndim == 0 or mask.size == 0:
            raise ConfigError("a sparsity mask must be a non-empty array (one row per output channel)")
        m2 = mask.reshape(mask.shape[0], -1) != 0
        n_fibers, fiber_units = m2.shape
        flat = np.flatnonzero(m2)
        rows = (flat // fiber_units).astype(np.int64)
        cols = (flat % fiber_units).astype(np.int64)
        prev = np.concatenate([[-1], cols[:-1]])
        new_row = np.concatenate([[True], rows[1:] != rows[:-1]])
        prev = np.where(new_row, -1, prev)
        return cls(int(m2.size), int(n_fibers), int(fiber_units), (cols - prev - 1).astype(np.int64), rows)

    @property
    def nnz(self) -> int:
        return int(self.gaps.size)

    @property
    def density(self) -> float:
        return self.nnz / self.n_units

    def relative_entries(self, bits) -> np.ndarray:
        """Exact stored entries (kept + padding) for each index width in `bits`."""
        bits = np.atleast_1d(np.asarray(bits, dtype=np.int64))
        if self.nnz == 0:
            return np.zeros(bits.shape)
        hist = np.bincount(self.gaps)
        g = np.arange(hist.size)
        pads = (hist[None, :] * (g[None, :] >> bits[:, None])).sum(axis=1)
        return self.nnz + pads.astype(float)

    def fiber_entries(self, bits: int, relative: bool) -> np.ndarray:
        """Entries each fiber stores (drives load imbalance across PEs)."""
        weights = 1 + (self.gaps >> int(bits)) if relative else np.ones(self.nnz)
        return np.bincount(self.fibers, weights=weights, minlength=self.n_fibers)

    def code_counts(self, bits: int) -> np.ndarray:
        """Occurrences of each b-bit relative code (for a Huffman-coded index)."""
        span = 1 << int(bits)
        counts = np.bincount(self.gaps % span, minlength=span).astype(float)
        counts[-1] += float((self.gaps >> int(bits)).sum())
        return counts


def balance_exact(fiber_work: np.ndarray, lanes) -> np.ndarray:
    """mean work / mean wave time when fibers run in waves of `lanes` consecutive fibers, each
    wave waiting for its slowest. A partial last wave is one wave: its idle lanes are counted by
    the array's fold count, not as imbalance. `lanes` may be an array."""
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


def expected_max_normal(n):
    """E[max of n standard normals] by Blom's formula Phi^-1((n - 0.375) / (n + 0.25)), with
    the Abramowitz-Stegun 26.2.23 inverse normal (error < 5e-4); 0 for one lane."""
    n = np.maximum(np.asarray(n, dtype=float), 1.0)
    tail = 1.0 - (n - 0.375) / (n + 0.25)              # upper-tail probability, <= 0.5
    t = np.sqrt(-2.0 * np.log(tail))
    z = t - (2.515517 + 0.802853 * t + 0.010328 * t * t) / (
        1.0 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t)
    return np.maximum(z, 0.0)


_LOG2_LANES = np.linspace(0.0, 24.0, 2401)
_EMAX_TABLE = expected_max_normal(np.exp2(_LOG2_LANES))


def expected_max_lookup(n):
    """expected_max_normal by table interpolation in log2(n) (error < 1e-5; hot path)."""
    return np.interp(np.log2(np.maximum(n, 1.0)), _LOG2_LANES, _EMAX_TABLE)
