"""Cartesian sweeps of hardware keys: break-even per layer and network totals per config.

Configs are built as one struct of arrays (no HwConfig per config) and evaluated in chunks so
memory stays bounded; each chunk is one vectorized call over configs x layers.
"""
from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from codesign.errors import CodesignError
from hwmodels.arch import CHOICE_KEYS, KEY_TYPES, ConfigArray, HwConfig, coerce
from hwmodels.breakeven import break_even
from hwmodels.cost import LayerArray, evaluate
from hwmodels.workload import LayerShape

DEFAULT_CHUNK = 2000


def parse_vary(items: Sequence[str]) -> dict[str, list]:
    """["pes=64,128", "index_bits=4,5"] -> {"pes": [64, 128], "index_bits": [4, 5]}."""
    out: dict[str, list] = {}
    for item in items:
        if "=" not in item:
            raise CodesignError(f"--vary {item!r}: expected key=v1,v2,... e.g. --vary pes=64,128,256")
        key, values = (s.strip() for s in item.split("=", 1))
        if key not in KEY_TYPES or key == "name":
            raise CodesignError(f"--vary: unknown hardware key {key!r}; known keys: "
                                f"{', '.join(k for k in KEY_TYPES if k != 'name')}")
        if key == "mode":
            raise CodesignError("--vary: 'mode' cannot be swept; run one sweep per mode")
        vals = [coerce(key, v, where="--vary") for v in values.split(",") if v.strip()]
        if not vals:
            raise CodesignError(f"--vary {item!r}: no values")
        out[key] = vals
    if not out:
        raise CodesignError("give at least one --vary key=v1,v2,...")
    return out


@dataclass(frozen=True)
class SweepResult:
    keys: tuple[str, ...]
    grid: dict[str, np.ndarray]     # key -> (C,) values (strings for choice keys)
    layer_names: tuple[str, ...]
    break_even: np.ndarray          # (C, L); inf = never
    dense_latency_ns: np.ndarray    # (C,) sum over layers
    plan_speedup: np.ndarray        # (C,) network speedup at `alpha`, dense below break-even
    dense_area_mm2: np.ndarray      # (C,) largest per-layer design (isoarea) or the chip (fixed)
    alpha: float

    @property
    def median_break_even(self) -> np.ndarray:
        return np.median(self.break_even, axis=1)

    def grid_mean(self, values) -> tuple[list, list, np.ndarray]:
        """A per-config metric over the first two varied keys: (x values, y values, (Y, X) means
        over any further keys, NaN where a cell has no finite value)."""
        kx = self.keys[0]
        ky = self.keys[1] if len(self.keys) > 1 else None
        xs = list(dict.fromkeys(self.grid[kx].tolist()))
        ys = list(dict.fromkeys(self.grid[ky].tolist())) if ky else [""]
        values = np.asarray(values, dtype=float)
        img = np.full((len(ys), len(xs)), np.nan)
        for i, y in enumerate(ys):
            for j, x in enumerate(xs):
                sel = (self.grid[kx] == x) & ((self.grid[ky] == y) if ky else True)
                v = values[sel]
                v = v[np.isfinite(v)]
                if v.size:
                    img[i, j] = v.mean()
        return xs, ys, img


def config_grid(base: HwConfig, varied: Mapping[str, list]) -> tuple[ConfigArray, dict[str, np.ndarray]]:
    keys = list(varied)
    combos = list(itertools.product(*(varied[k] for k in keys)))
    columns = {k: np.array([c[i] for c in combos], dtype=object) for i, k in enumerate(keys)}
    arrays = {k: (col if k in CHOICE_KEYS else col.astype(float)) for k, col in columns.items()}
    return ConfigArray.from_base(base, arrays), columns


def run_sweep(shapes: Sequence[LayerShape], base: HwConfig, varied: Mapping[str, list],
              alpha: float = 0.1, chunk: int = DEFAULT_CHUNK,
              progress: Callable[[int, int], None] | None = None) -> SweepResult:
    if not 0 < alpha <= 1:
        raise CodesignError(f"--alpha {alpha}: a keep fraction must be in (0, 1]")
    configs, columns = config_grid(base, varied)
    layers = LayerArray.from_shapes(list(shapes))
    n = len(configs)
    r_star = np.empty((n, len(layers)))
    dense_lat = np.empty(n)
    speed = np.empty(n)
    area = np.empty(n)
    for start in range(0, n, chunk):
        idx = slice(start, min(n, start + chunk))
        part = configs.take(idx)
        r_star[idx] = break_even(part, layers).ratio
        res = evaluate(part, layers, np.array([alpha]))
        t_dense = res.dense_time_ns[..., 0]
        t_plan = np.where(res.sparse_time_ns[..., 0] <= res.dense_mode_time_ns[..., 0],
                          res.sparse_time_ns[..., 0], res.dense_mode_time_ns[..., 0])
        dense_lat[idx] = t_dense.sum(axis=1)
        speed[idx] = t_dense.sum(axis=1) / t_plan.sum(axis=1)
        area[idx] = res.dense_area_um2[..., 0].max(axis=1) / 1e6
        if progress is not None:
            progress(idx.stop, n)
    return SweepResult(tuple(varied), columns, layers.names, r_star, dense_lat, speed, area, alpha)


def write_csv(result: SweepResult, out_dir: Path) -> tuple[Path, Path]:
    """configs.csv: one row per config with the network totals; break_even.csv: one row per
    config, one r* column per layer ("never" when sparse never wins)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg_path, be_path = out_dir / "configs.csv", out_dir / "break_even.csv"
    keys = [np.asarray(result.grid[k]).astype(str) for k in result.keys]
    with cfg_path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["config", *result.keys, "median_break_even", "dense_latency_us",
                    f"speedup_at_alpha_{result.alpha:g}", "dense_area_mm2"])
        columns = [np.arange(len(result.dense_latency_ns)).astype(str), *keys,
                   _fmt(result.median_break_even), _fmt(result.dense_latency_ns / 1e3),
                   _fmt(result.plan_speedup), _fmt(result.dense_area_mm2)]
        w.writerows(zip(*columns))
    with be_path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["config", *result.keys, *result.layer_names])
        per_layer = [_fmt(result.break_even[:, j]) for j in range(len(result.layer_names))]
        w.writerows(zip(np.arange(len(result.dense_latency_ns)).astype(str), *keys, *per_layer))
    return cfg_path, be_path


def _fmt(values: np.ndarray) -> np.ndarray:
    """4 significant digits; "never" for an infinite break-even."""
    out = np.char.mod("%.4g", np.where(np.isfinite(values), values, 0.0))
    return np.where(np.isfinite(values), out, "never")


def plot_heatmaps(result: SweepResult, path: Path) -> Path:
    """Median r* and network speedup over the first two varied keys (mean over the others)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kx = result.keys[0]
    ky = result.keys[1] if len(result.keys) > 1 else None
    metrics = (("median break-even r*", result.median_break_even),
               (f"network speedup at alpha={result.alpha:g}", result.plan_speedup))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, (title, values) in zip(axes, metrics):
        xs, ys, img = result.grid_mean(values)
        im = ax.imshow(img, origin="lower", aspect="auto", cmap="viridis")
        ax.set_xticks(range(len(xs)), [str(x) for x in xs], rotation=45, fontsize=7)
        ax.set_yticks(range(len(ys)), [str(y) for y in ys], fontsize=7)
        ax.set_xlabel(kx)
        ax.set_ylabel(ky or "")
        ax.set_title(title, fontsize=9)
        if len(xs) * len(ys) <= 64:
            for i in range(len(ys)):
                for j in range(len(xs)):
                    if np.isfinite(img[i, j]):
                        ax.text(j, i, f"{img[i, j]:.2f}", ha="center", va="center", fontsize=6, color="w")
        fig.colorbar(im, ax=ax)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
