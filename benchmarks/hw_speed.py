"""Speed of the vectorized hardware model (issue 3 targets):
1. ResNet-50, all compute layers, dense + sparse at 100 pruning ratios on one config: < 50 ms.
2. >= 10,000 hardware configs x all ResNet-50 layers with break-even solves: < 10 s, peak
   memory < 2 GB (peak RSS of the whole process, imports included).

Run: .venv/bin/python benchmarks/hw_speed.py
"""
from __future__ import annotations

import itertools
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import record  # noqa: E402
from codesign.graph import load_network  # noqa: E402
from codesign.hwconfig import load_hw  # noqa: E402
from hwmodels.arch import ConfigArray  # noqa: E402
from hwmodels.breakeven import break_even  # noqa: E402
from hwmodels.cost import LayerArray, evaluate  # noqa: E402

REPEATS = 7


def timed(fn, repeats=REPEATS):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, float(np.median(times)), float(np.min(times))


def main() -> int:
    shapes = load_network("resnet50").shapes
    hw = load_hw("smic40-admmnn")
    cfg = ConfigArray.from_configs([hw])
    ratios = np.geomspace(1.0, 100.0, 100)
    rows = ["| benchmark | size | median | best | target |", "|---|---|---|---|---|"]

    def one_config():
        layers = LayerArray.from_shapes(shapes)
        return evaluate(cfg, layers, 1.0 / ratios)
    res, med, best = timed(one_config)
    rows.append(f"| ResNet-50 dense + sparse, 1 config x {len(shapes)} layers x 100 ratios (incl. "
                f"layer table) | {res.sparse_time_ns.size:,} points | {med * 1e3:.1f} ms | "
                f"{best * 1e3:.1f} ms | < 50 ms |")

    layers = LayerArray.from_shapes(shapes)
    _, med, best = timed(lambda: break_even(cfg, layers))
    rows.append(f"| ResNet-50 break-even, 1 config x {len(shapes)} layers | {len(shapes)} solves | "
                f"{med * 1e3:.1f} ms | {best * 1e3:.1f} ms | - |")

    grid = {"pes": [128, 256, 512, 1024, 2048], "index_bits": [2, 3, 4, 5, 6],
            "weight_bits": [4, 8, 12, 16], "sram_macro_kb": [16, 32, 64, 128, 256],
            "decoder_fo4_per_level": [3, 4, 5, 6], "fo4_ps": [15, 18, 20, 25, 30]}
    combos = list(itertools.product(*grid.values()))
    varied = {k: np.array([c[i] for c in combos], dtype=float) for i, k in enumerate(grid)}
    t0 = time.perf_counter()
    configs = ConfigArray.from_base(hw, varied)
    t_build = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    be = break_even(configs, layers)
    t_solve, cpu_solve = time.perf_counter() - t0, time.process_time() - c0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    finite = np.isfinite(be.ratio)
    rows.append(f"| {len(configs):,} configs x {len(shapes)} ResNet-50 layers, break-even | "
                f"{be.ratio.size:,} solves | {t_solve:.2f} s wall, {cpu_solve:.2f} s CPU (+{t_build:.2f} s building configs) | - | "
                f"< 10 s |")
    rows.append(f"| peak RSS of this process (after all of the above) | - | {peak_mb:,.0f} MB | - | < 2048 MB |")
    load = open("/proc/loadavg").read().split()[0]
    notes = (f"Load average at the end: {load} (2 cores shared with other jobs). Preset smic40-admmnn (isoarea mode). Sweep grid: {', '.join(f'{k} x{len(v)}' for k, v in grid.items())}. "
             f"Break-even: 24-point log grid on r in [1, 1000] + 14 Illinois (regula falsi) steps per (config, layer), "
             f"chunked over configs. {finite.mean():.1%} of the {be.ratio.size:,} (config, layer) pairs "
             f"have a finite r*; median r* {np.median(be.ratio[finite]):.2f}.")
    record("hw_speed.py", "Hardware model speed (issue 3)", "\n".join(rows), notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
