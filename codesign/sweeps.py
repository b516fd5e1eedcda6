"""Cartesian sweeps of hardware keys: break-even per layer and network totals per config.

Configs are one struct of arrays (no spec per config) evaluated in chunks of at most `chunk`
config x layer pairs, so memory stays flat in configs and layers; a chunk is a pure function of (base spec, its slice of the grid, layers, alpha), which
is what an executor (local, or Ray tasks) runs. Configs are ranked by an explicit objective:
the planned network latency (the fastest design), with the sparse-over-dense speedup of each
config on its own dense twin reported beside it.
"""
from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from codesign import arguments
from codesign.errors import CodesignError
from codesign.keep_fraction import KEEP_FRACTION_RANGE, is_keep_fraction
from hwmodels import decide
from hwmodels.arch import UM2_PER_MM2
from hwmodels.configs import ConfigArray
from hwmodels.cost import evaluate
from hwmodels.spec import CHOICE_KEYS, KEYS, HardwareSpec, coerce, key as spec_key
from hwmodels.ties import rank
from hwmodels.workload import LayerArray, LayerShape
from pruning.safe_files import write_file

DEFAULT_CHUNK = 100_000          # config x layer pairs per chunk (~50 MB of cost arrays)
CSV_ROWS = 1000                  # configs formatted at a time while break_even.csv is written
MAX_CONFIGS = 1_000_000
# Results held for the tables and the report grow with configs x layers (about 35 bytes a pair
# measured: 384 MB for 200,000 configs x 54 ResNet-50 layers), so a sweep's size is capped there
# too, keeping its peak memory under 1 GB
MAX_RESULTS = 20_000_000
OUT_NAMES = ("configs.csv", "break_even.csv", "sweep.png")     # what `codesign sweep` writes in --out
MAX_VALUES_PER_KEY = 100_000
OBJECTIVES = ("latency", "speedup")


def parse_vary(items: Sequence[str]) -> dict[str, list]:
    """["pes=64,128", "index_width_bits=4,5"] -> {"pes": [64, 128], "index_width_bits": [4, 5]};
    a key given twice, a repeated value or an empty list is an error."""
    out: dict[str, list] = {}
    for item in items:
        if "=" not in item:
            raise CodesignError(f"--vary {item[:60]!r}: expected KEY=V1,V2,... e.g. --vary pes=64,128,256")
        name, values = (s.strip() for s in item.split("=", 1))
        k = spec_key(name, "--vary")
        if k.name == "mode":
            raise CodesignError("--vary: 'mode' cannot be swept; run one sweep per mode")
        if k.name in out:
            raise CodesignError(f"--vary {k.name} is given twice; list all its values once, "
                                f"e.g. --vary {k.name}=V1,V2")
        raw = [v for v in values.split(",") if v.strip()]
        if not raw:
            raise CodesignError(f"--vary {item[:60]!r}: no values")
        if len(raw) > MAX_VALUES_PER_KEY:
            raise CodesignError(f"--vary {k.name}: {len(raw):,} values; at most {MAX_VALUES_PER_KEY:,}")
        vals = [coerce(k.name, v, where="--vary") for v in raw]
        if len(set(vals)) != len(vals):
            raise CodesignError(f"--vary {k.name}: a value is listed twice")
        out[k.name] = vals
    if not out:
        raise CodesignError("give at least one --vary KEY=V1,V2,...")
    total = int(np.prod([len(v) for v in out.values()], dtype=float))
    if total > MAX_CONFIGS:
        raise CodesignError(f"--vary: {total:,} configs; at most {MAX_CONFIGS:,} per sweep (split it)")
    return out


@dataclass(frozen=True)
class SweepResult:
    keys: tuple[str, ...]
    grid: dict[str, np.ndarray]     # key -> (C,) values (strings for choice keys)
    layer_names: tuple[str, ...]
    break_even: np.ndarray          # (C, L); inf = never
    dense_latency_ns: np.ndarray    # (C,) sum over layers, each config's dense baseline
    latency_ns: np.ndarray          # (C,) planned at `alpha` (the rule per layer)
    speedup: np.ndarray             # (C,) dense_latency_ns / latency_ns
    area_mm2: np.ndarray            # (C,) largest per-layer design (isoarea) or the chip (fixed)
    alpha: float
    base: dict[str, Any] = field(default_factory=dict)
    model: str = "model"                    # the network swept (its name and input shape)
    input_shape: tuple[int, ...] | None = None

    @property
    def configs(self) -> int:
        return len(self.latency_ns)

    @property
    def median_break_even(self) -> np.ndarray:
        return np.median(self.break_even, axis=1)

    def ranking(self, objective: str = "latency") -> np.ndarray:
        """Config indices, best first: the fastest planned design ("latency") or the largest
        sparse-over-dense speedup ("speedup")."""
        arguments.choice("objective", objective, OBJECTIVES)
        return rank(self.latency_ns if objective == "latency" else -self.speedup)

    def config(self, i: int) -> dict[str, Any]:
        i = arguments.whole("i", i, arguments.Range(0, self.configs - 1, whole=True))
        return {k: self.grid[k][i].item() if hasattr(self.grid[k][i], "item") else self.grid[k][i]
                for k in self.keys}

    def slice(self, values, fixed: Mapping[str, Any] | None = None) -> tuple[list, list, np.ndarray, dict]:
        """A per-config metric over the first two varied keys at one named value of every other
        key (default: the best config's): (x values, y values, (Y, X) grid, the fixed values)."""
        values = arguments.floats("values", values, self.configs)
        fixed = arguments.mapping("fixed", fixed, optional=True)
        kx = self.keys[0]
        ky = self.keys[1] if len(self.keys) > 1 else None
        best = int(self.ranking()[0])
        fixed = {k: (fixed or {}).get(k, self.grid[k][best]) for k in self.keys[2:]}
        sel = np.ones(self.configs, dtype=bool)
        for k, v in fixed.items():
            sel &= self.grid[k] == v
        xs = list(dict.fromkeys(self.grid[kx][sel].tolist()))
        ys = list(dict.fromkeys(self.grid[ky][sel].tolist())) if ky else [""]
        img = np.full((len(ys), len(xs)), np.nan)
        for i in np.flatnonzero(sel):
            x = xs.index(self.grid[kx][i].item() if hasattr(self.grid[kx][i], "item") else self.grid[kx][i])
            y = ys.index(self.grid[ky][i].item() if ky and hasattr(self.grid[ky][i], "item")
                         else (self.grid[ky][i] if ky else ""))
            img[y, x] = values[i]
        return xs, ys, img, {k: (v.item() if hasattr(v, "item") else v) for k, v in fixed.items()}

    def report(self, out_dir, *, network=None, base: HardwareSpec | None = None,
               title: str | None = None) -> dict[str, Path]:
        """The sweep's report in out_dir (`network`, `base`: name them otherwise than the sweep
        recorded: its model and base hardware)."""
        from codesign.report import render, sweep_report
        from codesign.specs import hardware
        out_dir = arguments.report_dir("out_dir", out_dir)
        model, input_shape = self.model, self.input_shape
        if network is not None:
            network = arguments.network("network", network)
            model, input_shape = network.name, network.input_shape
        base_name = (hardware(arguments.hardware("base", base)).name if base is not None
                     else str(self.base.get("name", "custom")))
        title = arguments.text("title", title, optional=True)
        return render(sweep_report(self, model=model, input_shape=input_shape, base_name=base_name, title=title),
                      out_dir)

    def to_csv(self, path) -> Path:
        """configs.csv and break_even.csv in the folder of `path`; returns configs.csv."""
        out = arguments.output_file("path", path)
        write_csv(self, out.parent)
        return out.parent / "configs.csv"

    @property
    def layers(self) -> list[dict]:
        return [{"name": n, "median_break_even": float(np.median(self.break_even[:, j]))}
                for j, n in enumerate(self.layer_names)]

    @property
    def totals(self) -> dict[str, Any]:
        return self.to_dict()["best"]

    def to_dict(self) -> dict[str, Any]:
        order = self.ranking()
        return {"keys": list(self.keys), "alpha": self.alpha, "configs": self.configs,
                "base": self.base, "objective": "latency",
                "best": {**self.config(int(order[0])), "latency_ns": float(self.latency_ns[order[0]]),
                         "speedup": float(self.speedup[order[0]])},
                "best_speedup": {**self.config(int(self.ranking("speedup")[0])),
                                 "speedup": float(self.speedup.max())}}


def config_grid(base: HardwareSpec, varied: Mapping[str, list]) -> dict[str, np.ndarray]:
    keys = list(varied)
    combos = list(itertools.product(*(varied[k] for k in keys)))
    kinds = {k: object if k in CHOICE_KEYS else KEYS[k].kind for k in keys}
    return {k: np.array([c[i] for c in combos], dtype=kinds[k]) for i, k in enumerate(keys)}


def sweep_chunk(base: HardwareSpec, columns: Mapping[str, np.ndarray], layers: LayerArray,
                alpha: float) -> dict[str, np.ndarray]:
    """One chunk of configs: r* per layer and the network totals. Pure, so it can run anywhere."""
    configs = ConfigArray.from_base(base, columns)
    costs = evaluate(configs, layers, np.array([alpha]), energy=False)
    dense = costs.dense.time_ns[..., 0].sum(axis=1)
    planned = decide.chosen_time_ns(costs)[..., 0].sum(axis=1)
    return {"break_even": decide.break_even(configs, layers).ratio, "dense_latency_ns": dense,
            "latency_ns": planned, "area_mm2": costs.dense.area_um2[..., 0].max(axis=1) / UM2_PER_MM2}


ChunkRunner = Callable[[list[tuple]], list[dict]]


def run_sweep(shapes: Sequence[LayerShape], base: HardwareSpec, varied: Mapping[str, list],
              alpha: float = 0.1, chunk: int = DEFAULT_CHUNK,
              progress: Callable[[int, int], None] | None = None,
              run_chunks: ChunkRunner | None = None, model: str = "model",
              input_shape: tuple[int, ...] | None = None) -> SweepResult:
    """`chunk`: config x layer pairs per chunk (each chunk holds at least one config).
    `run_chunks`: evaluates a list of sweep_chunk argument tuples (default: here, in order); a
    Ray executor passes its own. `model`, `input_shape`: what the report names."""
    if not is_keep_fraction(alpha):
        raise CodesignError(f"--alpha {alpha}: a keep fraction must be in {KEEP_FRACTION_RANGE}")
    if chunk < 1:
        raise CodesignError("--chunk must be a positive number of config x layer pairs")
    for k, v in varied.items():          # every value against the base, before any work
        ConfigArray.from_base(base, {k: v})
    n = int(np.prod([len(v) for v in varied.values()], dtype=float))
    if n * len(shapes) > MAX_RESULTS:
        raise CodesignError(f"--vary: {n:,} configs x {len(shapes):,} layers = {n * len(shapes):,} results; "
                            f"at most {MAX_RESULTS:,} per sweep (about 700 MB held): split it")
    grid = config_grid(base, varied)
    layers = LayerArray.from_shapes(list(shapes))
    per = max(1, chunk // len(layers))
    tasks = [(base, {k: v[s:s + per] for k, v in grid.items()}, layers, alpha)
             for s in range(0, n, per)]
    if run_chunks is None:
        parts = []
        for i, task in enumerate(tasks):
            parts.append(sweep_chunk(*task))
            if progress is not None:
                progress(min(n, (i + 1) * per), n)
    else:
        parts = run_chunks(tasks)
    joined = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return SweepResult(tuple(varied), grid, layers.names, joined["break_even"],
                       joined["dense_latency_ns"], joined["latency_ns"],
                       joined["dense_latency_ns"] / joined["latency_ns"], joined["area_mm2"], alpha,
                       base.to_dict(), model, tuple(input_shape) if input_shape else None)


def _fmt(values: np.ndarray) -> np.ndarray:
    """4 significant digits; "never" for an infinite break-even."""
    out = np.char.mod("%.4g", np.where(np.isfinite(values), values, 0.0))
    return np.where(np.isfinite(values), out, "never")


def write_csv(result: SweepResult, out_dir: Path) -> tuple[Path, Path]:
    """configs.csv: one row per config with the network totals, ranked by planned latency;
    break_even.csv: one row per config, one r* column per layer ("never": sparse never wins).
    `out_dir` is the sweep's run folder (pruning.safe_files: no link in it is followed)."""
    order = result.ranking()
    keys = [np.asarray(result.grid[k]).astype(str)[order] for k in result.keys]
    configs = io.StringIO()
    w = csv.writer(configs)
    w.writerow(["rank", "config", *result.keys, "latency_us", "dense_latency_us",
                f"speedup_at_alpha_{result.alpha:g}", "median_break_even", "dense_area_mm2"])
    w.writerows(zip(np.arange(1, result.configs + 1).astype(str), order.astype(str), *keys,
                    _fmt(result.latency_ns[order] / 1e3), _fmt(result.dense_latency_ns[order] / 1e3),
                    _fmt(result.speedup[order]), _fmt(result.median_break_even[order]),
                    _fmt(result.area_mm2[order])))

    def break_even(fh) -> None:          # in blocks of rows: all configs x layers as text is GBs
        for s in range(-CSV_ROWS, result.configs, CSV_ROWS):
            block = io.StringIO()
            w = csv.writer(block)
            if s < 0:
                w.writerow(["config", *result.keys, *result.layer_names])
            else:
                rows = order[s:s + CSV_ROWS]
                w.writerows(zip(rows.astype(str), *(k[s:s + CSV_ROWS] for k in keys),
                                *_fmt(result.break_even[rows]).T))
            fh.write(block.getvalue().encode("utf-8"))

    return (write_file(out_dir / "configs.csv", configs.getvalue(), within=out_dir),
            write_file(out_dir / "break_even.csv", break_even, within=out_dir))


__all__ = ["DEFAULT_CHUNK", "OBJECTIVES", "SweepResult", "parse_vary", "run_sweep", "sweep_chunk",
           "write_csv", "KEYS"]
