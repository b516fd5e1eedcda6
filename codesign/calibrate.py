"""Fit a hardware spec's free parameters to measured (layer, pruning ratio, speedup) points.

Only keys that carry a physical range in the spec may be fitted, and the fit stays inside it
(bounded least squares on log(speedup) errors plus optional break-even targets): a fitted
number acts only through the effect its key names (sparse_utilization: stalled sparse-PE
cycles; decoder_fo4_per_level: the sparse clock). Design choices that are not measurements
(array size, buffer sizes) can be searched over a small grid of `choices`; each combination is
fitted and the best one is kept.
"""
from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from codesign.errors import CodesignError
from hwmodels import decide
from hwmodels.configs import single
from hwmodels.errors import ConfigError
from hwmodels.spec import HardwareSpec, key as spec_key
from hwmodels.workload import LayerArray, LayerShape

DEFAULT_PARAMS = ("sparse_utilization",)


@dataclass(frozen=True)
class CalibrationPoint:
    layer: LayerShape
    ratio: float
    speedup: float
    label: str = ""


@dataclass(frozen=True)
class BreakEvenTarget:
    layer: LayerShape
    ratio: float
    weight: float = 5.0


@dataclass(frozen=True)
class PointFit:
    label: str
    layer: str
    ratio: float
    target: float
    predicted: float

    @property
    def rel_error(self) -> float:
        return self.predicted / self.target - 1.0


@dataclass(frozen=True)
class FitResult:
    spec: HardwareSpec
    params: dict[str, float]
    choices: dict[str, object]
    points: list[PointFit]
    break_even: list[PointFit] = field(default_factory=list)
    cost: float = 0.0


def predict(spec: HardwareSpec, points: Sequence[CalibrationPoint]) -> np.ndarray:
    """Model speedup (sparse over dense on the same hardware) at each point."""
    if not points:
        return np.zeros(0)
    layers = LayerArray.from_shapes([p.layer for p in points])
    alphas = np.array([1.0 / p.ratio for p in points]).reshape(1, -1, 1)
    from hwmodels.cost import evaluate
    return decide.sparse_speedup(evaluate(single(spec), layers, alphas, energy=False))[0, :, 0]


def predict_break_even(spec: HardwareSpec, targets: Sequence[BreakEvenTarget]) -> np.ndarray:
    if not targets:
        return np.zeros(0)
    return decide.break_even(single(spec), LayerArray.from_shapes([t.layer for t in targets])).ratio[0]


def _bounds(base: HardwareSpec, params: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = [], []
    for name in params:
        k = spec_key(name, "calibration parameter")
        if not k.numeric:
            raise ConfigError(f"calibration parameter {name!r} is a choice, not a number")
        if name not in base.ranges:
            raise ConfigError(f"calibration parameter {name!r} has no physical range in preset "
                              f"{base.name!r}; give it as {{value, min, max, source}} so the fit "
                              "stays inside it")
        a, b = base.ranges[name]
        lo.append(float(a))
        hi.append(float(b))
    return np.array(lo), np.array(hi)


def _fit_params(base, points, targets, params, starts):
    from scipy.optimize import least_squares

    lo, hi = _bounds(base, params)
    target_s = np.array([p.speedup for p in points])
    target_r = np.array([t.ratio for t in targets])
    weights = np.array([t.weight for t in targets])
    ranges = [base.ranges[p] for p in params]

    def spec_at(x):
        return base.replace("calibration", **{p: float(v) for p, v in zip(params, x)})

    def residuals(x):
        spec = spec_at(x)
        s = np.maximum(predict(spec, points), 1e-6)
        r = predict_break_even(spec, targets)
        r = np.where(np.isfinite(r), r, 1e3)
        return np.concatenate([np.log(s / target_s), weights * np.log(r / target_r)])

    best = None
    for x0 in starts(lo, hi):
        sol = least_squares(residuals, x0, bounds=(lo, hi), diff_step=1e-3, max_nfev=200)
        cost = float(np.sum(residuals(sol.x) ** 2))
        if best is None or cost < best[0]:
            best = (cost, sol.x)
    spec = spec_at(best[1])
    # a fitted key keeps its physical range (replace() drops ranges of changed keys)
    import dataclasses
    spec = dataclasses.replace(spec, ranges={**spec.ranges, **dict(zip(params, ranges))})
    return best[0], spec


def _starts(lo, hi):
    return [lo + (hi - lo) * f for f in (0.25, 0.5, 0.75)]


def fit(base: HardwareSpec, points: Sequence[CalibrationPoint],
        targets: Sequence[BreakEvenTarget] = (), params: Sequence[str] = DEFAULT_PARAMS,
        choices: Mapping[str, Sequence] | None = None) -> FitResult:
    if not points and not targets:
        raise CodesignError("calibration needs at least one (layer, ratio, speedup) point")
    if not params:
        raise CodesignError("calibration needs at least one parameter to fit")
    for p in points:
        if not (np.isfinite(p.ratio) and np.isfinite(p.speedup)) or p.ratio < 1 or p.speedup <= 0:
            raise CodesignError(f"calibration point {p.label or p.layer.name}: pruning ratio must "
                                f"be >= 1 and speedup > 0, got {p.ratio}, {p.speedup}")
    _bounds(base, params)
    choices = dict(choices or {})
    best = None
    for combo in itertools.product(*choices.values()) if choices else [()]:
        picked = dict(zip(choices, combo))
        try:
            start = base.replace("calibration choices", **picked) if picked else base
        except ConfigError:
            continue                              # e.g. pes not a multiple of array_rows
        cost, spec = _fit_params(start, points, targets, params, _starts)
        if best is None or cost < best[0]:
            best = (cost, spec, picked)
    if best is None:
        raise CodesignError("no combination of the calibration choices is a valid config")
    cost, spec, picked = best
    pred = predict(spec, points)
    pred_r = predict_break_even(spec, targets)
    return FitResult(
        spec=spec, params={k: getattr(spec, k) for k in params}, choices=picked,
        points=[PointFit(p.label, p.layer.name, p.ratio, p.speedup, float(v)) for p, v in zip(points, pred)],
        break_even=[PointFit("break-even", t.layer.name, t.ratio, t.ratio, float(v))
                    for t, v in zip(targets, pred_r)],
        cost=cost)


def read_points(path: str | Path, shapes: Sequence[LayerShape]) -> list[CalibrationPoint]:
    """POINTS.csv with columns layer, pruning_ratio, speedup (one row per measurement);
    `layer` must name a layer of the model."""
    path = Path(path)
    if not path.is_file():
        raise CodesignError(f"points file {str(path)[:200]!r} does not exist")
    by_name = {s.name: s for s in shapes}
    points = []
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = {"layer", "pruning_ratio", "speedup"} - set(reader.fieldnames or ())
            if missing:
                raise CodesignError(f"{path}: missing column(s) {', '.join(sorted(missing))}; "
                                    "expected header: layer,pruning_ratio,speedup")
            for line, row in enumerate(reader, start=2):
                name = (row["layer"] or "").strip()
                if name not in by_name:
                    raise CodesignError(f"{path}:{line}: layer {name[:60]!r} is not in the model; "
                                        f"layers: {', '.join(list(by_name)[:8])}...")
                try:
                    ratio, speed = float(row["pruning_ratio"]), float(row["speedup"])
                except (TypeError, ValueError):      # TypeError: a short row leaves the field None
                    raise CodesignError(f"{path}:{line}: pruning_ratio and speedup must be numbers") from None
                points.append(CalibrationPoint(by_name[name], ratio, speed, f"line {line}"))
    except UnicodeDecodeError:
        raise CodesignError(f"{path} is not UTF-8 text") from None
    if not points:
        raise CodesignError(f"{path}: no points")
    return points
