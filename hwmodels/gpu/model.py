"""Time of a layer's GEMM on a tensor-core GPU, dense and 2:4 sparse, per dtype and batch.

A layer is a GEMM per group (a convolution as implicit GEMM): M = batch x output pixels (or
tokens), N = output channels per group, K = input channels per group x kernel area; N is the
weight's rows and K its reduction, along which 2:4 keeps two of every four values. A kernel
covers the output with tiles of tm x tn (M, N and K padded to the tile: tile quantization); the
tiles, times the split of K when the kernel splits it, are spread over the SMs, and the most
loaded SM sets the math time (a partial last wave costs a full one: wave quantization). An SM
runs at the dtype's peak over the SMs times the kernel's achieved efficiency, unless its
operand feed is slower: a tile needs (tm + tn) operand elements per step of K for tm x tn
multiply-adds, so small tiles starve the tensor cores. Memory time is the bytes the GEMM must
move (activations, weights, output, and K-split partial sums) over the device bandwidth, or
over the L2's for the share that stays resident between calls (all of a working set far
below the usable L2, none of one that fills it), and never faster than the active SMs can load. time = max(math, memory) + the kernel's per-call overhead; each kernel runs at its best
tile and split (what cuBLAS heuristics and cuSPARSELt's plan pick).

The 2:4 kernel does half the multiply-adds at `sparse_math_speedup` x the dense rate, stores
half the weights plus 2 metadata bits per kept value (nm-metadata), pads the activation rows to
its tile (PyTorch pads them to 32 fp16 / 64 int8 rows, pytorch#111339) and does not split K. So
its speedup is at most the math speedup where the layer is math bound, and where it is bound by
memory or launch it saves only the weight bytes it does not read.

Everything is numpy over (batch, layer, candidate) and takes its numbers from a `GpuSpec`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from hwmodels import decide
from hwmodels.errors import ConfigError
from hwmodels.gpu.spec import GpuSpec, efficiency_key
from hwmodels.workload import LayerShape

# CTA tiles (rows of M x rows of N) of the kernel families: CUTLASS's sm80/sm90 GEMM
# configurations run 64..256 x 64..256 output tiles, plus cuBLAS's narrow-M kernels for few
# rows (16, 32); at most 128 x 256 outputs per CTA (its accumulator registers).
TILE_M = (16, 32, 64, 128, 256)
TILE_N = (64, 128, 256)
MAX_TILE_OUTPUTS = 128 * 256
SPLITS = (1, 2, 4, 8, 16)           # cuBLAS split-K factors for few tiles and long K
K_STEP_BYTES = 64                   # one mainloop stage reads 64 bytes of K per row (32 fp16, 64 int8)
PIPELINE_STAGES = 3                 # CUTLASS sm80 multistage kernels' default: a tile waits for
                                    # this many K steps of loads before its first MMA
SPARSE_ROW_MULTIPLE = {"fp16": 32, "bf16": 32, "fp8": 64, "int8": 64}   # pytorch#111339
ELEMENT_BYTES = {"fp16": 2, "bf16": 2, "fp8": 1, "int8": 1}
OUT_BYTES = 2                       # fp16/bf16 output (int8 and fp8 GEMMs dequantize in the epilogue)
PARTIAL_BYTES = 4                   # fp32 partial sums of a split K
META_BITS_PER_KEPT = 2              # 2:4 metadata (nm-metadata)


@dataclass(frozen=True)
class GemmArray:
    """Layers as GEMM dimensions at the model's own batch (`model_batch` samples)."""
    names: tuple[str, ...]
    m: np.ndarray            # (L,) activation rows per group at model_batch
    n: np.ndarray            # weight rows (output channels) per group
    k: np.ndarray            # reduction per group
    groups: np.ndarray
    in_elements: np.ndarray  # unique input elements at model_batch (not the im2col copy)
    out_elements: np.ndarray
    weights: np.ndarray      # stored weight elements, all groups
    prunable: np.ndarray     # bool: the layer has a weight 2:4 can prune
    model_batch: int = 1
    one_network: bool = True  # layers run in turn and evict each other's weights from the L2
                              # (False: independent GEMMs, each timed alone in a loop)

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def from_shapes(cls, shapes: Sequence[LayerShape], model_batch: int = 1) -> "GemmArray":
        if not shapes:
            raise ConfigError("no layers to evaluate")
        if int(model_batch) < 1:
            raise ConfigError(f"model batch must be a positive integer, got {model_batch!r}")
        col = lambda f: np.array([f(s) for s in shapes], dtype=float)   # noqa: E731
        return cls(
            names=tuple(s.name for s in shapes),
            m=col(lambda s: s.macs // max(s.out_channels * s.fiber_len, 1)),
            n=col(lambda s: s.out_channels // s.groups), k=col(lambda s: s.fiber_len),
            groups=col(lambda s: s.groups),
            in_elements=col(lambda s: s.in_elements + s.operand_elements),
            out_elements=col(lambda s: s.out_elements),
            weights=col(lambda s: s.weight_count),
            prunable=np.array([s.prunable for s in shapes]), model_batch=int(model_batch))

    @classmethod
    def from_dims(cls, m, n, k, groups=1, names: Sequence[str] | None = None) -> "GemmArray":
        """Plain GEMMs (M x K activations times K x N weights), one sample = M rows."""
        m, n, k, g = (np.atleast_1d(np.asarray(x, dtype=float)) for x in (m, n, k, groups))
        m, n, k, g = np.broadcast_arrays(m, n, k, g)
        if np.any(m < 1) or np.any(n < 1) or np.any(k < 1) or np.any(g < 1):
            raise ConfigError("GEMM dimensions M, N, K and groups must be positive")
        names = tuple(names) if names is not None else tuple(
            f"{int(a)}x{int(b)}x{int(c)}" for a, b, c in zip(m, n, k))
        return cls(names, m.copy(), n.copy(), k.copy(), g.copy(), m * k * g, m * n * g, n * k * g,
                   np.ones(m.shape, bool), model_batch=1, one_network=False)

    def rows(self, batches) -> np.ndarray:
        """(B, L) activation rows per group at each batch (M grows with the batch)."""
        b = _batches(batches)
        return np.maximum(1.0, np.rint(self.m[None, :] * b[:, None] / self.model_batch))


def _batches(batches) -> np.ndarray:
    b = np.atleast_1d(np.asarray(batches, dtype=float))
    if b.ndim != 1 or b.size == 0 or np.any(~np.isfinite(b)) or np.any(b < 1) or np.any(b != np.rint(b)):
        raise ConfigError(f"batches must be positive integers, got {list(np.ravel(batches))[:8]}")
    return b


@dataclass(frozen=True)
class KernelTimes:
    """(B, L) arrays of one kernel at its best tile and split; time in microseconds."""
    time_us: np.ndarray
    math_us: np.ndarray
    memory_us: np.ndarray
    tile_m: np.ndarray
    tile_n: np.ndarray
    split: np.ndarray

    @property
    def math_bound(self) -> np.ndarray:
        return self.math_us >= self.memory_us


def _candidates(dtype: str, sparse: bool, tiles, splits):
    if tiles is None:
        low = SPARSE_ROW_MULTIPLE[dtype] if sparse else TILE_M[0]
        tiles = [(tm, tn) for tm in TILE_M for tn in TILE_N
                 if tm >= low and tm * tn <= MAX_TILE_OUTPUTS]
    splits = (1,) if sparse else (SPLITS if splits is None else tuple(splits))
    pairs = [(tm, tn, s) for tm, tn in tiles for s in splits]
    return tuple(np.array(x, dtype=float) for x in zip(*pairs))


def kernel_times(spec: GpuSpec, gemms: GemmArray, batches, dtype: str = "fp16",
                 sparse: bool = False, tiles: Sequence[tuple[int, int]] | None = None,
                 splits: Sequence[int] | None = None) -> KernelTimes:
    """Time of the dense or 2:4 kernel for every (batch, layer); `tiles` / `splits` restrict the
    candidates (tests force one tile to see wave quantization)."""
    spec.check_dtype(dtype)
    kernel = "sparse" if sparse else "dense"
    tm, tn, split = _candidates(dtype, sparse, tiles, splits)        # (T,)
    ab = ELEMENT_BYTES[dtype]
    wb = ab / 2 + META_BITS_PER_KEPT / 2 / 8 if sparse else ab      # weight bytes per dense element
    clock = spec.boost_clock_mhz * 1e6
    peak_sm = spec.peak_flops(dtype) * (spec.sparse_math_speedup if sparse else 1.0) / spec.sms
    eff = getattr(spec, efficiency_key(dtype, kernel))
    k_step = K_STEP_BYTES / ab * (2 if sparse else 1)               # the sparse MMA's K is doubled

    m = gemms.rows(batches)[..., None]                               # (B, L, 1)
    n, k, g = (x[None, :, None] for x in (gemms.n, gemms.k, gemms.groups))
    tiles_n = np.ceil(m / tm) * np.ceil(n / tn) * g                  # (B, L, T)
    split = np.minimum(split, np.maximum(1.0, np.floor(k / k_step)))
    k_pad = np.ceil(k / (k_step * split)) * k_step                  # K per split, padded
    ctas = tiles_n * split
    feed = spec.sm_feed_bytes_per_clk * clock * 2 * tm * tn / (tm * ab + tn * wb)
    sm_rate = np.minimum(peak_sm * eff, feed)                        # FLOP/s of one busy SM
    math = np.ceil(ctas / spec.sms) * 2 * tm * tn * (k_pad + PIPELINE_STAGES * k_step) / sm_rate

    scale = gemms.rows(batches) / np.maximum(gemms.m, 1.0)[None, :]  # batch over model batch
    unique = ((gemms.in_elements * scale) * ab + gemms.weights * wb
              + gemms.out_elements * scale * OUT_BYTES)[..., None]
    partial = np.where(split > 1, 2 * split * m * n * g * PARTIAL_BYTES, 0.0)
    moved = unique + partial
    others = (gemms.weights.sum() - gemms.weights)[None, :, None] * wb if gemms.one_network else 0.0
    capacity = spec.l2_mb * 1e6 * spec.l2_resident_fraction
    # share of the bytes found in the L2 on the next call: all of a working set far below the
    # usable capacity, none of one that fills it (an LRU cache streamed through thrashes)
    hit = np.clip(1.0 - (unique + others) / max(capacity, 1.0), 0.0, 1.0)
    per_byte = hit / (spec.l2_gbps * 1e9) + (1 - hit) / (spec.hbm_gbps * spec.hbm_efficiency * 1e9)
    active = np.minimum(ctas, spec.sms) * spec.sm_feed_bytes_per_clk * clock   # what busy SMs load
    feed_l2 = tiles_n * (tm * ab + tn * wb) * k_pad * split / (spec.l2_gbps * 1e9)
    memory = np.maximum(np.maximum(moved * per_byte, moved / active), feed_l2)

    overhead = spec.sparse_overhead_us if sparse else spec.dense_overhead_us
    total = np.maximum(math, memory) * 1e6 + overhead
    best = np.argmin(total, axis=-1)[..., None]
    pick = lambda a: np.take_along_axis(np.broadcast_to(a, total.shape), best, -1)[..., 0]  # noqa: E731
    return KernelTimes(pick(total), pick(math) * 1e6, pick(memory) * 1e6, pick(tm), pick(tn),
                       pick(split))


def sparse_supported(gemms: GemmArray) -> np.ndarray:
    """(L,) 2:4 applies to a weight whose reduction holds whole groups of four."""
    return gemms.prunable & (gemms.k % 4 == 0)


@dataclass(frozen=True)
class GpuCosts:
    """Per (batch, layer): the dense and 2:4 kernels of `dtype`, and the dense kernel of
    `lowbit` (int8 or fp8) against the dense one of `dtype`."""
    batches: np.ndarray
    names: tuple[str, ...]
    dtype: str
    dense: KernelTimes
    sparse: KernelTimes
    supported: np.ndarray          # (L,)
    lowbit_dtype: str | None
    lowbit: KernelTimes | None

    @property
    def sparse_us(self) -> np.ndarray:
        return np.where(self.supported[None, :], self.sparse.time_us, np.inf)

    @property
    def runs_sparse(self) -> np.ndarray:
        """(B, L): the one dense/sparse rule (hwmodels.decide) on the two kernels' times."""
        return decide.sparse_no_slower(self.sparse_us, self.dense.time_us, self.supported[None, :])

    @property
    def chosen_us(self) -> np.ndarray:
        return np.where(self.runs_sparse, self.sparse_us, self.dense.time_us)

    @property
    def sparse_speedup(self) -> np.ndarray:
        """Dense time over 2:4 time (0 where 2:4 cannot run): the quantity that crosses 1."""
        with np.errstate(divide="ignore"):
            return np.where(self.supported[None, :], self.dense.time_us / self.sparse_us, 0.0)

    @property
    def lowbit_speedup(self) -> np.ndarray | None:
        return None if self.lowbit is None else self.dense.time_us / self.lowbit.time_us

    def pays_from(self, what: str = "sparse") -> list[int | None]:
        """Per layer, the smallest of `batches` from which 2:4 (or the low-bit kernel) is no
        slower at every larger batch; None where it does not pay at the largest."""
        s = self.sparse_speedup if what == "sparse" else self.lowbit_speedup
        return pays_from(self.batches, decide.pays(s))


def pays_from(batches, pays: np.ndarray) -> list[int | None]:
    """(B, L) booleans over ascending batches -> per layer the first batch of the final run of
    True; None where the largest batch does not pay."""
    order = np.argsort(batches, kind="stable")
    b, p = np.asarray(batches)[order], np.asarray(pays)[order]
    out: list[int | None] = []
    for j in range(p.shape[1]):
        if not p[-1, j]:
            out.append(None)
            continue
        i = len(b) - 1
        while i > 0 and p[i - 1, j]:
            i -= 1
        out.append(int(b[i]))
    return out


PATHS = ("kernel", "torch-eager")


def evaluate(spec: GpuSpec, gemms: GemmArray, batches, dtype: str = "fp16",
             lowbit: str | None = "int8", path: str = "kernel") -> GpuCosts:
    """Dense, 2:4 and low-bit times of every layer at every batch. `path` "kernel": the kernels
    called directly with cached plans (TensorRT, compiled code, PyTorch since its plan cache);
    "torch-eager": PyTorch's eager 2:4 path before it, `torch_sparse_overhead_us` per call."""
    spec.check_dtype(dtype)
    if path not in PATHS:
        raise ConfigError(f"path {str(path)[:30]!r} is not one of {', '.join(PATHS)}")
    b = _batches(batches)
    low = lowbit if lowbit and lowbit != dtype and spec.supports(lowbit) else None
    sparse = kernel_times(spec, gemms, b, dtype, sparse=True)
    if path == "torch-eager":
        sparse = dataclasses.replace(sparse, time_us=sparse.time_us + spec.torch_sparse_overhead_us)
    return GpuCosts(b, gemms.names, dtype, kernel_times(spec, gemms, b, dtype), sparse,
                    sparse_supported(gemms), low,
                    None if low is None else kernel_times(spec, gemms, b, low))


BATCH_GRID = tuple(2 ** i for i in range(17))      # 1 .. 65536: where "pays from batch B" is read
