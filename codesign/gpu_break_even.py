"""Per-layer 2:4 and int8 speedups of a network on a tensor-core GPU target, per batch, and the
batch from which each pays (the GPU side of `codesign breakeven`)."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from codesign.errors import CodesignError
from hwmodels.gpu.model import BATCH_GRID, GemmArray, evaluate
from hwmodels.gpu.spec import GpuSpec
from hwmodels.workload import LayerShape

MAX_BATCH = 1 << 20


@dataclass(frozen=True)
class GpuLayerBreakEven:
    name: str
    op: str
    m_per_sample: int               # GEMM rows per sample (tokens, output pixels)
    n: int
    k: int
    groups: int
    speedup: dict[str, float | None]         # batch -> dense over 2:4 time (None: 2:4 cannot run)
    dense_us: dict[str, float]
    sparse_us: dict[str, float | None]
    runs_sparse: dict[str, bool]             # the one rule (hwmodels.decide)
    pays_from_batch: int | None              # smallest batch from which 2:4 pays at every larger one
    int8_speedup: dict[str, float] | None    # fp16 over int8 time (None: no int8 comparison)
    int8_pays_from_batch: int | None


@dataclass(frozen=True)
class GpuBreakEvenResult:
    model: str
    hardware: dict[str, Any]
    dtype: str
    path: str
    batches: list[int]
    layers: list[GpuLayerBreakEven]
    network_speedup: dict[str, float]        # sum of dense over sum of chosen times, per batch

    @property
    def totals(self) -> dict[str, Any]:
        return {"layers": len(self.layers), "network_speedup": self.network_speedup,
                "pay_at_largest_batch": sum(l.runs_sparse[str(self.batches[-1])] for l in self.layers)}

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "target": "gpu", "hardware": self.hardware, "dtype": self.dtype,
                "path": self.path, "batches": self.batches,
                "layers": [asdict(l) for l in self.layers], "totals": self.totals}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False)

    def to_csv(self, path: str | Path) -> Path:
        path = Path(path)
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["layer", "op", "m_per_sample", "n", "k", "groups", "batch", "dense_us",
                    "sparse_us", "speedup", "runs_sparse", "pays_from_batch", "int8_speedup"])
        for l in self.layers:
            for b in map(str, self.batches):
                w.writerow([l.name, l.op, l.m_per_sample, l.n, l.k, l.groups, b, l.dense_us[b],
                            l.sparse_us[b], l.speedup[b], l.runs_sparse[b], l.pays_from_batch,
                            None if l.int8_speedup is None else l.int8_speedup[b]])
        path.write_text(buf.getvalue(), encoding="utf-8")
        return path


def parse_batches(text: str, where: str = "--batch") -> list[int]:
    """'1,16,256' -> [1, 16, 256]: positive integers up to MAX_BATCH, each once."""
    items = [t.strip() for t in str(text).split(",")]
    if not items or any(not t for t in items):
        raise CodesignError(f"{where} {str(text)[:60]!r}: give batch sizes separated by commas, e.g. "
                            f"{where} 1,16,256")
    out = []
    for t in items:
        if not t.isdigit() or not 1 <= int(t) <= MAX_BATCH:
            raise CodesignError(f"{where}: {t[:20]!r} is not a batch size (an integer 1..{MAX_BATCH:,})")
        out.append(int(t))
    if len(set(out)) != len(out):
        raise CodesignError(f"{where}: batch {next(b for b in out if out.count(b) > 1)} is given twice")
    return sorted(out)


def _r(x) -> float | None:
    return float(x) if np.isfinite(x) else None


def gpu_break_even_table(shapes: Sequence[LayerShape], hw: GpuSpec, model: str = "model",
                         batches: Sequence[int] = (1,), dtype: str = "fp16", model_batch: int = 1,
                         path: str = "kernel") -> GpuBreakEvenResult:
    """Every prunable layer's dense, 2:4 and int8 times at each batch (`batches` samples; the
    shapes are at `model_batch` samples). "Pays from" is read on the given batches and powers
    of two up to 65,536, so a coarse list still shows where the crossing lies."""
    shapes = [s for s in shapes if s.prunable]
    if not shapes:
        raise CodesignError(f"{model} has no layer with a weight to prune")
    batches = sorted(set(int(b) for b in batches))
    hw.check_dtype(dtype)
    gemms = GemmArray.from_shapes(shapes, model_batch=model_batch)
    lowbit = "int8" if dtype in ("fp16", "bf16") else None
    shown = evaluate(hw, gemms, batches, dtype, lowbit, path)
    grid = sorted(set(batches) | set(BATCH_GRID))
    wide = evaluate(hw, gemms, grid, dtype, lowbit, path)
    sparse_from = wide.pays_from("sparse")
    low_from = wide.pays_from("lowbit") if wide.lowbit is not None else [None] * len(shapes)
    keys = [str(b) for b in batches]
    speedup, sparse_us, runs = shown.sparse_speedup, shown.sparse_us, shown.runs_sparse
    low = shown.lowbit_speedup
    rows = []
    for j, s in enumerate(shapes):
        col = lambda a: {k: _r(a[i, j]) for i, k in enumerate(keys)}   # noqa: E731
        rows.append(GpuLayerBreakEven(
            name=s.name, op=s.op, m_per_sample=int(round(gemms.m[j] / model_batch)),
            n=int(gemms.n[j]), k=int(gemms.k[j]), groups=int(gemms.groups[j]),
            speedup={k: (_r(speedup[i, j]) if shown.supported[j] else None) for i, k in enumerate(keys)},
            dense_us=col(shown.dense.time_us), sparse_us=col(sparse_us),
            runs_sparse={k: bool(runs[i, j]) for i, k in enumerate(keys)},
            pays_from_batch=sparse_from[j],
            int8_speedup=None if low is None else col(low), int8_pays_from_batch=low_from[j]))
    network = shown.dense.time_us.sum(axis=1) / shown.chosen_us.sum(axis=1)
    return GpuBreakEvenResult(model, hw.to_dict(), dtype, path, batches, rows,
                              {k: float(v) for k, v in zip(keys, network)})
