"""Fit a GPU preset's kernel keys to measured dense / 2:4 / int8 timings, with leave-one-out error.

The fitted keys are the ones that say how well kernels use the chip (achieved fraction of peak
per dtype and kernel family, per-call overheads), each inside the physical range its preset
states; the published [device] numbers are never fitted. Residuals are log errors of the
speedup of every row and of the dense time where the row gives one (so the dense kernel is
anchored to absolute times, not only ratios). A key that no row exercises is not fitted (it
keeps its preset value). Leave-one-out refits without each row in turn and predicts it: the
error a user should expect on a GEMM the table does not hold.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from codesign.errors import CodesignError
from hwmodels.gpu.measured import Measurement, predict
from hwmodels.gpu.spec import GpuSpec, efficiency_key, gpu_key

FIT_KEYS = ("eff_fp16_dense", "eff_fp16_sparse", "eff_int8_dense", "eff_fp8_dense",
            "eff_fp8_sparse", "dense_overhead_us", "sparse_overhead_us", "torch_sparse_overhead_us")
DENSE_TIME_WEIGHT = 0.5      # a dense time's log error counts half a speedup's


@dataclass(frozen=True)
class GpuPointFit:
    id: str
    measured: float              # speedup as published
    predicted: float             # speedup of the model fitted to every row
    loo: float | None            # speedup of the model fitted without this row
    measured_dense_us: float | None
    predicted_dense_us: float

    @property
    def error(self) -> float:
        return self.predicted / self.measured - 1.0

    @property
    def loo_error(self) -> float | None:
        return None if self.loo is None else self.loo / self.measured - 1.0

    @property
    def sign_right(self) -> bool:
        """Faster / slower than dense as measured (leave-one-out prediction where there is one)."""
        value = self.loo if self.loo is not None else self.predicted
        return (value >= 1.0) == (self.measured >= 1.0)


@dataclass(frozen=True)
class GpuFitResult:
    spec: GpuSpec
    params: dict[str, float]
    points: list[GpuPointFit]

    def median_abs_loo_error(self) -> float | None:
        errs = [abs(p.loo_error) for p in self.points if p.loo_error is not None]
        return float(np.median(errs)) if errs else None


def relevant_keys(rows: Sequence[Measurement]) -> tuple[str, ...]:
    """The fit keys some row's prediction depends on."""
    used = {"dense_overhead_us"}
    for r in rows:
        used.add(efficiency_key(r.dtype, "dense"))
        if r.comparison == "int8-vs-fp16":
            used.add("eff_int8_dense")
        else:
            used |= {efficiency_key(r.dtype, "sparse"), "sparse_overhead_us"}
            if r.path == "torch-eager":
                used.add("torch_sparse_overhead_us")
    return tuple(k for k in FIT_KEYS if k in used)


def _bounds(base: GpuSpec, params: Sequence[str]):
    lo, hi = [], []
    for name in params:
        gpu_key(name, "calibration parameter")
        if name not in base.ranges:
            raise CodesignError(f"calibration parameter {name!r} has no physical range in preset "
                                f"{base.name!r}; give it as {{value, min, max, source}}")
        a, b = base.ranges[name]
        lo.append(float(a))
        hi.append(float(b))
    return np.array(lo), np.array(hi)


def _spec_at(base: GpuSpec, params: Sequence[str], x) -> GpuSpec:
    values = dict(zip(params, (float(v) for v in x)))
    for dtype in ("fp16", "int8", "fp8"):   # a 2:4 kernel reaches at most the dense one's share
        dense, sparse = efficiency_key(dtype, "dense"), efficiency_key(dtype, "sparse")
        cap = values.get(dense, getattr(base, dense))
        if values.get(sparse, getattr(base, sparse)) > cap:
            values[sparse] = cap
    spec = base.replace("calibration", **values)
    return dataclasses.replace(spec, ranges=dict(base.ranges))


def _check(rows: Sequence[Measurement]) -> list[Measurement]:
    rows = [r for r in rows if r.fittable]
    if not rows:
        raise CodesignError("GPU calibration needs at least one current GEMM or fwd+bwd row "
                            "(whole-model and superseded rows are not fitted)")
    return rows


def _fit(base: GpuSpec, rows: list[Measurement], params: Sequence[str]) -> GpuSpec:
    from scipy.optimize import least_squares
    lo, hi = _bounds(base, params)
    speedups = np.array([r.speedup for r in rows])
    timed = np.array([r.dense_us is not None for r in rows])
    dense = np.array([r.dense_us or 1.0 for r in rows])

    def residuals(x):
        p = predict(_spec_at(base, params, x), rows)
        return np.concatenate([np.log(p.speedup / speedups),
                               DENSE_TIME_WEIGHT * np.log(p.dense_us[timed] / dense[timed])])

    here = np.clip([getattr(base, k) for k in params], lo, hi)
    best = None
    for x0 in (here, lo + 0.25 * (hi - lo), lo + 0.75 * (hi - lo)):
        sol = least_squares(residuals, x0, bounds=(lo, hi), diff_step=1e-3, max_nfev=300)
        cost = float(np.sum(residuals(sol.x) ** 2))
        if best is None or cost < best[0]:
            best = (cost, sol.x)
    return _spec_at(base, params, best[1])


def fit_gpu(base: GpuSpec, rows: Sequence[Measurement], params: Sequence[str] | None = None,
            leave_one_out: bool = True) -> GpuFitResult:
    """Fit `params` (default: the FIT_KEYS the rows exercise) inside their ranges."""
    rows = _check(rows)
    params = tuple(params) if params is not None else relevant_keys(rows)
    if not params:
        raise CodesignError("calibration needs at least one key to fit")
    _bounds(base, params)
    spec = _fit(base, rows, params)
    full = predict(spec, rows)
    loo: list[float | None] = [None] * len(rows)
    if leave_one_out and len(rows) > 1:
        for i in range(len(rows)):
            rest = rows[:i] + rows[i + 1:]
            loo[i] = float(predict(_fit(base, rest, params), [rows[i]]).speedup[0])
    points = [GpuPointFit(r.id, r.speedup, float(s), l, r.dense_us, float(d))
              for r, s, l, d in zip(rows, full.speedup, loo, full.dense_us)]
    return GpuFitResult(spec, {k: getattr(spec, k) for k in params}, points)


def rows_for(rows: Sequence[Measurement], preset: str) -> list[Measurement]:
    """The rows of one GPU: those naming the preset, or all of a file that names one GPU."""
    mine = [r for r in rows if r.gpu == preset]
    if mine:
        return mine
    names = sorted({r.gpu for r in rows})
    if len(names) == 1:
        return list(rows)
    raise CodesignError(f"the measurements name GPUs {', '.join(n[:30] for n in names[:6])}, none "
                        f"of them {preset!r}; keep one GPU's rows in the file, or name it {preset}")
