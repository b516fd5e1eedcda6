"""Fit a hardware preset's free parameters to measured (layer, pruning ratio, speedup) points.

The physically sourced numbers stay fixed; only `params` (default: the dense PE count, which
sets the PE-to-SRAM area share, and the decoder area scale, which lumps the sparse PE's
area x clock x efficiency penalty) are fitted, in log space, by least squares on log(speedup)
errors plus optional break-even targets. In the per-layer iso-area model the decoder area,
decoder delay and sparse efficiency act on the speedup almost only through their product
(efficiency scales the entry walk but not the fill/drain), so fitting more than one of them is
close to degenerate; that is why one stands for all three by default.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from codesign.errors import CodesignError
from hwmodels.arch import KEY_TYPES, ConfigArray, HwConfig
from hwmodels.breakeven import break_even
from hwmodels.cost import LayerArray, evaluate
from hwmodels.errors import ConfigError
from hwmodels.workload import LayerShape

DEFAULT_PARAMS = ("pes", "decoder_area_scale")
INTEGER_PARAMS = {k for k, t in KEY_TYPES.items() if t is int}


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
    config: HwConfig
    params: dict[str, float]
    points: list[PointFit]
    break_even: list[PointFit] = field(default_factory=list)
    cost: float = 0.0


def _config(base: HwConfig, params: Sequence[str], x: np.ndarray) -> HwConfig:
    changes = {}
    for key, value in zip(params, np.exp(x)):
        if key in INTEGER_PARAMS:
            step = base.array_rows if key == "pes" else 1
            changes[key] = int(step * max(1, round(value / step)))
        else:
            changes[key] = float(value)
    if "sparse_efficiency" in changes:
        changes["sparse_efficiency"] = min(1.0, changes["sparse_efficiency"])
    return base.replace(**changes)


def predict(cfg: HwConfig, points: Sequence[CalibrationPoint]) -> np.ndarray:
    """Model sparse speedup at each point (each layer on its own same-area design)."""
    if not points:
        return np.zeros(0)
    layers = LayerArray.from_shapes([p.layer for p in points])
    alphas = np.array([1.0 / p.ratio for p in points]).reshape(1, -1, 1)
    return evaluate(ConfigArray.from_configs([cfg]), layers, alphas).sparse_speedup[0, :, 0]


def predict_break_even(cfg: HwConfig, targets: Sequence[BreakEvenTarget]) -> np.ndarray:
    if not targets:
        return np.zeros(0)
    layers = LayerArray.from_shapes([t.layer for t in targets])
    return break_even(ConfigArray.from_configs([cfg]), layers).ratio[0]


def fit(base: HwConfig, points: Sequence[CalibrationPoint],
        targets: Sequence[BreakEvenTarget] = (), params: Sequence[str] = DEFAULT_PARAMS,
        starts: Sequence[Sequence[float]] | None = None) -> FitResult:
    from scipy.optimize import least_squares

    if not points and not targets:
        raise CodesignError("calibration needs at least one (layer, ratio, speedup) point")
    for key in params:
        if key not in KEY_TYPES or KEY_TYPES[key] not in (int, float):
            raise ConfigError(f"calibration parameter {key!r} is not a numeric hardware key")
    for p in points:
        if p.ratio < 1 or p.speedup <= 0:
            raise CodesignError(f"calibration point {p.label or p.layer.name}: pruning ratio must "
                                f"be >= 1 and speedup > 0, got {p.ratio}, {p.speedup}")
    target_s = np.array([p.speedup for p in points])
    target_r = np.array([t.ratio for t in targets])
    weights = np.array([t.weight for t in targets])

    def residuals(x):
        cfg = _config(base, params, x)
        s = np.maximum(predict(cfg, points), 1e-6)
        r = predict_break_even(cfg, targets)
        r = np.where(np.isfinite(r), r, 1e3)
        return np.concatenate([np.log(s / target_s), weights * np.log(r / target_r)])

    if starts is None:
        base_x = [float(getattr(base, k)) for k in params]
        starts = [base_x] + [[v * f for v in base_x] for f in (0.25, 4.0)]
    best = None
    for x0 in starts:
        x0 = np.log(np.maximum(np.asarray(x0, dtype=float), 1e-9))
        sol = least_squares(residuals, x0, diff_step=0.05, max_nfev=200)
        cost = float(np.sum(residuals(sol.x) ** 2))
        if best is None or cost < best[0]:
            best = (cost, sol.x)
    cost, x = best
    cfg = _config(base, params, x)
    pred = predict(cfg, points)
    pred_r = predict_break_even(cfg, targets)
    return FitResult(
        config=cfg, params={k: getattr(cfg, k) for k in params},
        points=[PointFit(p.label, p.layer.name, p.ratio, p.speedup, float(v)) for p, v in zip(points, pred)],
        break_even=[PointFit("break-even", t.layer.name, t.ratio, t.ratio, float(v))
                    for t, v in zip(targets, pred_r)],
        cost=cost)


def read_points(path: str | Path, shapes: Sequence[LayerShape]) -> list[CalibrationPoint]:
    """POINTS.csv with columns layer, pruning_ratio, speedup (one row per measurement);
    `layer` must name a layer of the model."""
    path = Path(path)
    if not path.is_file():
        raise CodesignError(f"points file {str(path)!r} does not exist")
    by_name = {s.name: s for s in shapes}
    points = []
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"layer", "pruning_ratio", "speedup"} - set(reader.fieldnames or ())
        if missing:
            raise CodesignError(f"{path}: missing column(s) {', '.join(sorted(missing))}; "
                                "expected header: layer,pruning_ratio,speedup")
        for line, row in enumerate(reader, start=2):
            name = row["layer"].strip()
            if name not in by_name:
                raise CodesignError(f"{path}:{line}: layer {name!r} is not in the model; layers: "
                                    f"{', '.join(list(by_name)[:8])}...")
            try:
                ratio, speed = float(row["pruning_ratio"]), float(row["speedup"])
            except (TypeError, ValueError):      # TypeError: a short row leaves the field None
                raise CodesignError(f"{path}:{line}: pruning_ratio and speedup must be numbers") from None
            points.append(CalibrationPoint(by_name[name], ratio, speed, f"line {line}"))
    if not points:
        raise CodesignError(f"{path}: no points")
    return points
