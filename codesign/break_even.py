"""Break-even ratios of a network's layers on one hardware spec, per sparsity pattern, with the
designs behind them and (optionally) their uncertainty range."""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from codesign import arguments
from codesign.plans import Design, structure_of
from codesign.report.model import RStar, never_to_json
from hwmodels import decide, uncertainty
from hwmodels.configs import single
from hwmodels.cost import evaluate
from hwmodels.spec import HardwareSpec
from hwmodels.workload import LayerArray, LayerShape
from pruning.patterns import UNSTRUCTURED, Pattern
from pruning.safe_files import write_file

TABLE_RATIOS = (2.0, 4.0, 10.0)
CURVE_RATIOS = np.geomspace(1.0, 100.0, 31)
DESIGN_RATIO = 2.0          # where r* is never/always, the sparse design is shown at this r


@dataclass(frozen=True)
class LayerBreakEven:
    name: str
    op: str
    pattern: str
    weights: int
    macs: int
    break_even: RStar                 # inf: never; 1.0: always
    label: str
    speedup_at: dict[str, float | None]   # sparse over dense-mode speedup at TABLE_RATIOS; None:
    curve: dict[str, list[float | None]]  # the engine cannot run the pattern, or not at that r
    designs: dict[str, dict[str, float]]
    design_ratio: float               # the pruning ratio of the sparse design shown
    break_even_range: list[RStar] | None = None
    sparse_pe_parts_um2: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class BreakEvenResult:
    model: str
    hardware: dict[str, Any]
    layers: list[LayerBreakEven]
    uncertainty: dict[str, Any] | None = None

    @property
    def totals(self) -> dict[str, Any]:
        finite = [l.break_even for l in self.layers if 1 < l.break_even < math.inf]
        return {"layers": len(self.layers),
                "always": sum(l.break_even <= 1 for l in self.layers),
                "never": sum(l.break_even == math.inf for l in self.layers),
                "median_finite": float(np.median(finite)) if finite else None}

    def to_dict(self) -> dict[str, Any]:
        out = {"model": self.model, "hardware": self.hardware, "layers": [never_to_json(asdict(l)) for l in self.layers],
               "totals": self.totals}
        if self.uncertainty is not None:
            out["uncertainty"] = self.uncertainty
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False)

    def report(self, out_dir, *, title: str | None = None) -> dict[str, Path]:
        """The break-even report (HTML, Markdown, figures) in out_dir."""
        from codesign.report import breakeven_report, render
        out_dir = arguments.report_dir("out_dir", out_dir)
        title = arguments.text("title", title, optional=True)
        return render(breakeven_report(self, title=title), out_dir)

    def to_csv(self, path: str | Path) -> Path:
        path = arguments.output_file("path", path)
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["layer", "op", "pattern", "weights", "macs", "break_even", "label",
                    "range_lo", "range_hi"] + [f"speedup_at_{r:g}" for r in TABLE_RATIOS])
        for l in self.layers:
            row = never_to_json(asdict(l))
            lo, hi = row["break_even_range"] or (None, None)
            w.writerow([l.name, l.op, l.pattern, l.weights, l.macs, row["break_even"], l.label, lo, hi]
                       + list(l.speedup_at.values()))
        return write_file(path, buf.getvalue())


def _achievable(pattern: Pattern, ratios: Sequence[float], speedups: Sequence[float]) -> list[float | None]:
    """The speedups a pattern can really have: none where the sparse engine cannot run it (the
    cost model gives 0) and none below an N:M pattern's own ratio (1:8 cannot prune by only 2x;
    above it the engine skips its N:M zeros and the extra zeros cost nothing, hence the same value)."""
    floor = pattern.m / pattern.n if pattern.kind == "nm" else 1.0
    return [float(v) if v > 0 and np.isfinite(v) and r >= floor - 1e-9 else None
            for r, v in zip(ratios, speedups)]


def break_even_table(shapes: Sequence[LayerShape], hw: HardwareSpec, model: str = "model",
                     patterns: Sequence[Pattern] = (UNSTRUCTURED,), samples: int = 0,
                     seed: int = 0) -> BreakEvenResult:
    """r* of every prunable layer under each pattern (rows grouped by pattern)."""
    shapes = [s for s in shapes if s.prunable]
    cfg = single(hw)
    rows: list[LayerBreakEven] = []
    for pattern in patterns:
        layers = LayerArray.from_shapes(shapes, structures=[structure_of(pattern)] * len(shapes))
        r_star = decide.break_even(cfg, layers).ratio[0]
        table = decide.speedup_curves(cfg, layers, TABLE_RATIOS)[0]
        curves = decide.speedup_curves(cfg, layers, CURVE_RATIOS)[0]
        shown = np.where(np.isfinite(r_star) & (r_star > 1), r_star, DESIGN_RATIO)
        if pattern.kind == "nm":
            shown = np.full(len(shapes), pattern.m / pattern.n)
        at = evaluate(cfg, layers, (1.0 / shown).reshape(1, -1, 1))
        band = None
        if samples:
            sampled = decide.break_even(uncertainty.sample_configs(hw, samples, seed), layers).ratio
            band = uncertainty.interval(sampled, r_star)
        for j, s in enumerate(shapes):
            def design(d):
                b = lambda a: float(np.broadcast_to(a, at.shape)[0, j, 0])   # noqa: E731
                return asdict(Design(b(d.pes), b(d.pe_area_um2), b(d.clock_ns), b(d.area_um2)))
            rows.append(LayerBreakEven(
                name=s.name, op=s.op, pattern=str(pattern), weights=s.weight_count, macs=s.macs,
                break_even=float(r_star[j]), label=decide.ratio_label(float(r_star[j])),
                speedup_at=dict(zip((f"{r:g}" for r in TABLE_RATIOS),
                                    _achievable(pattern, TABLE_RATIOS, table[j]))),
                curve={"ratio": CURVE_RATIOS.round(4).tolist(),
                       "speedup": _achievable(pattern, CURVE_RATIOS, curves[j])},
                designs={"dense": design(at.dense), "sparse": design(at.sparse)},
                design_ratio=float(shown[j]),
                break_even_range=None if band is None else [float(band.lo[j]), float(band.hi[j])],
                sparse_pe_parts_um2={k: float(v[0, j, 0]) for k, v in at.sparse_pe.parts().items()}))
    return BreakEvenResult(model, hw.to_dict(), rows,
                           None if not samples else {"samples": samples, "seed": seed,
                                                     "quantiles": list(uncertainty.QUANTILES)})
