"""Published (or measured) GPU timings as typed rows, and the model's prediction of each.

A row compares a dense fp16/bf16 GEMM with its 2:4 version (`comparison` "2:4") or with an int8
one ("int8-vs-fp16"), for one GEMM (`scope` "gemm"), one linear's forward and backward pass
("fwd+bwd": the forward, the input gradient and the weight gradient GEMMs; 2:4 speeds up the
first two, as torchao's semi-sparse training does), or a whole model ("model": listed with its
source, not predicted: the model prices GEMMs, not a framework's whole network). `path` says
whether the sparse call went through PyTorch's eager 2:4 path ("torch-eager", which costs
`torch_sparse_overhead_us` per call) or called the kernel directly ("kernel"). `status` "superseded" marks a row whose software has
since been replaced (its maintainers said so): it is predicted for today's kernels and listed,
never fitted.

The shipped table is hwmodels/data/gpu_measurements.csv; benchmarks/gpu_measure.py writes rows
of the same form on a real GPU.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from hwmodels.errors import ConfigError
from hwmodels.gpu.model import PATHS, GemmArray, kernel_times
from hwmodels.gpu.spec import DTYPES, GpuSpec

MEASUREMENTS_FILE = Path(__file__).resolve().parent.parent / "data" / "gpu_measurements.csv"
COMPARISONS = ("2:4", "int8-vs-fp16")
SCOPES = ("gemm", "fwd+bwd", "model")
STATUSES = ("current", "superseded")   # superseded: software since replaced (predicted, not fitted)
COLUMNS = ("id", "gpu", "comparison", "dtype", "scope", "path", "m", "n", "k", "dense_us",
           "other_us", "speedup", "source")
MAX_ROWS = 100_000


@dataclass(frozen=True)
class Measurement:
    id: str
    gpu: str                    # a GPU preset name
    comparison: str
    dtype: str                  # the dense baseline's dtype (int8 rows: fp16 baseline)
    scope: str
    path: str
    m: int | None
    n: int | None
    k: int | None
    dense_us: float | None
    other_us: float | None      # the 2:4 (or int8) time
    speedup: float              # dense over other, as published
    sparse_extra_us: float = 0.0   # measured work outside the GEMMs on the sparse side
    status: str = "current"
    source: str = ""
    where: str = ""
    note: str = ""

    @property
    def predictable(self) -> bool:
        return self.scope != "model" and self.dtype in DTYPES

    @property
    def fittable(self) -> bool:
        return self.predictable and self.status == "current"


def _number(row: dict, column: str, where: str, positive: bool = True) -> float | None:
    text = (row.get(column) or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{where}: {column} = {text[:30]!r} is not a number") from None
    if not math.isfinite(value) or (value <= 0 if positive else value < 0):
        raise ConfigError(f"{where}: {column} = {text[:30]!r} must be a finite "
                          f"{'positive' if positive else 'non-negative'} number")
    return value


def _choice(row: dict, column: str, choices: Sequence[str], where: str) -> str:
    value = (row.get(column) or "").strip()
    if value not in choices:
        raise ConfigError(f"{where}: {column} = {value[:30]!r} is not one of {', '.join(choices)}")
    return value


def read_measurements(path: str | Path = MEASUREMENTS_FILE) -> list[Measurement]:
    """Rows of a measurement CSV (header as the shipped table's), checked: every GEMM row has
    M, N, K and either both times or a speedup."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"measurement file {str(path)[:200]!r} does not exist")
    rows: list[Measurement] = []
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise ConfigError(f"{path}: missing column(s) {', '.join(missing)}; expected the "
                                  f"header of hwmodels/data/gpu_measurements.csv")
            for line, row in enumerate(reader, start=2):
                if line > MAX_ROWS:
                    raise ConfigError(f"{path}: more than {MAX_ROWS:,} rows")
                rows.append(_row(row, f"{path}:{line}"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None
    except csv.Error as exc:
        raise ConfigError(f"{path}: not a CSV file ({exc})") from None
    if not rows:
        raise ConfigError(f"{path}: no measurements")
    return rows


def _row(row: dict, where: str) -> Measurement:
    scope = _choice(row, "scope", SCOPES, where)
    dims = [_number(row, c, where) for c in ("m", "n", "k")]
    if scope != "model":
        if None in dims or any(d != int(d) for d in dims):
            raise ConfigError(f"{where}: a {scope} row needs integer m, n and k")
    dense, other = _number(row, "dense_us", where), _number(row, "other_us", where)
    speedup = _number(row, "speedup", where)
    if speedup is None:
        if dense is None or other is None:
            raise ConfigError(f"{where}: give dense_us and other_us, or speedup")
        speedup = dense / other
    dtype = (row.get("dtype") or "").strip()
    comparison = _choice(row, "comparison", COMPARISONS, where)
    if scope != "model" and dtype not in DTYPES:
        raise ConfigError(f"{where}: dtype {dtype[:20]!r} is not one of {', '.join(DTYPES)}")
    gpu = (row.get("gpu") or "").strip()
    if not gpu:
        raise ConfigError(f"{where}: gpu is empty; name a GPU preset (a100, h100, l4)")
    return Measurement(
        id=(row.get("id") or "").strip() or where, gpu=gpu, comparison=comparison,
        dtype="fp16" if comparison == "int8-vs-fp16" else dtype, scope=scope,
        path=_choice(row, "path", PATHS, where),
        m=None if dims[0] is None else int(dims[0]), n=None if dims[1] is None else int(dims[1]),
        k=None if dims[2] is None else int(dims[2]), dense_us=dense, other_us=other,
        speedup=speedup, sparse_extra_us=_number(row, "sparse_extra_us", where, positive=False) or 0.0,
        status=_choice(row, "status", STATUSES, where) if (row.get("status") or "").strip() else "current",
        source=(row.get("source") or "").strip(), where=(row.get("where") or "").strip(),
        note=(row.get("note") or "").strip())


@dataclass(frozen=True)
class Prediction:
    dense_us: np.ndarray
    other_us: np.ndarray

    @property
    def speedup(self) -> np.ndarray:
        return self.dense_us / self.other_us


def _time(spec: GpuSpec, m, n, k, dtype: str, sparse: bool) -> np.ndarray:
    gemms = GemmArray.from_dims(m, n, k)
    return kernel_times(spec, gemms, [1], dtype, sparse=sparse).time_us[0]


def predict(spec: GpuSpec, rows: Sequence[Measurement]) -> Prediction:
    """Model times of predictable rows (GEMM and fwd+bwd scope), in the rows' order."""
    rows = list(rows)
    if not rows or not all(r.predictable for r in rows):
        raise ConfigError("predict() takes GEMM or fwd+bwd rows (whole-model rows are not modelled)")
    dense = np.zeros(len(rows))
    other = np.zeros(len(rows))
    for dtype in sorted({r.dtype for r in rows}):
        for scope in ("gemm", "fwd+bwd"):
            idx = [i for i, r in enumerate(rows) if r.dtype == dtype and r.scope == scope]
            if not idx:
                continue
            m, n, k = (np.array([getattr(rows[i], d) for i in idx], float) for d in "mnk")
            parts = [(m, n, k, True)]
            if scope == "fwd+bwd":     # dX = dY W (reduce over N), dW = dY^T X (rows N, reduce M)
                parts += [(m, k, n, True), (n, k, m, False)]
            d = sum(_time(spec, a, b, c, dtype, False) for a, b, c, _ in parts)
            s = sum(_time(spec, a, b, c, dtype, sp) for a, b, c, sp in parts)
            low = _time(spec, m, n, k, "int8", False) if spec.supports("int8") else np.full(len(idx), np.inf)
            for j, i in enumerate(idx):
                r = rows[i]
                dense[i] = d[j]
                if r.comparison == "int8-vs-fp16":
                    other[i] = low[j]
                else:
                    calls = 2 if r.scope == "fwd+bwd" else 1
                    eager = spec.torch_sparse_overhead_us * calls if r.path == "torch-eager" else 0.0
                    other[i] = s[j] + eager + r.sparse_extra_us
    return Prediction(dense, other)
