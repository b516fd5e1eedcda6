"""Speed of the vectorized hardware model (issue 9 targets):
1. ResNet-50, all compute layers, dense + sparse at 100 pruning ratios on one config: < 50 ms.
2. >= 10,000 hardware configs x all ResNet-50 layers with break-even solves: < 10 s, peak
   memory < 2 GB (peak RSS of the whole process, imports included); solves per second.
3. The cost of uncertainty: ResNet-50 plan and break-even with 1,000 seeded samples of the
   preset's ranges.
4. Memory flat in samples and layers (issue 23), each measured in its own process (peak RSS,
   imports included): a ResNet-50 plan with 30,000 uncertainty samples (< 300 MB) and a
   1,000-layer x 10,000-config sweep with its CSV files (< 500 MB).

Run: .venv/bin/python benchmarks/hw_speed.py
"""
from __future__ import annotations

import itertools
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import record  # noqa: E402
from codesign import api  # noqa: E402
from codesign.graph import load_network  # noqa: E402
from codesign.specs import hardware  # noqa: E402
from hwmodels import decide  # noqa: E402
from hwmodels.configs import ConfigArray, single  # noqa: E402
from hwmodels.cost import evaluate  # noqa: E402
from hwmodels.workload import LayerArray  # noqa: E402

REPEATS = 7
GRID = {"pes": [128, 256, 512, 1024, 2048], "index_width_bits": [2, 3, 4, 5, 6],
        "weight_bits": [4, 8, 12, 16], "sram_macro_kb": [16, 32, 64, 128, 256],
        "decoder_fo4_per_level": [2, 3, 4, 5], "fo4_ps": [15, 18, 20, 25, 30]}


def timed(fn, repeats=REPEATS):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, float(np.median(times)), float(np.min(times))


# each run in a fresh process: ru_maxrss is the peak of that process alone
UNCERTAINTY_RUN = """
import resource, sys
from codesign import api
net = api.load("resnet50")
api.plan(net, "smic40-admmnn", alpha=0.1, uncertainty=30000, seed=0)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""
SWEEP_RUN = """
import dataclasses, resource, tempfile
from pathlib import Path
from codesign.graph import load_network
from codesign.specs import hardware
from codesign.sweeps import run_sweep, write_csv
shapes = load_network("resnet50").shapes
layers = [dataclasses.replace(s, name=f"{s.name}_{k}") for k in range(19) for s in shapes][:1000]
vary = {"pes": list(range(64, 64 + 16 * 100, 16)), "sram_macro_kb": [16 * i for i in range(1, 101)]}
result = run_sweep(layers, hardware("smic40-admmnn"), vary)
with tempfile.TemporaryDirectory() as d:
    write_csv(result, Path(d))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def peak_mb(code: str) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of `code` run in a fresh Python process."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    return float(out.stdout.split()[-1]), time.perf_counter() - t0


def main() -> int:
    net = load_network("resnet50")
    shapes = net.shapes
    hw = hardware("smic40-admmnn")
    cfg = single(hw)
    alphas = 1.0 / np.geomspace(1.0, 100.0, 100)
    rows = ["| benchmark | size | median | best | target |", "|---|---|---|---|---|"]

    def one_config():
        return evaluate(cfg, LayerArray.from_shapes(shapes), alphas)
    res, med, best = timed(one_config)
    rows.append(f"| ResNet-50 dense + sparse, 1 config x {len(shapes)} layers x 100 ratios (layer table "
                f"included) | {res.sparse.time_ns.size:,} points | {med * 1e3:.1f} ms | {best * 1e3:.1f} ms | < 50 ms |")
    layers = LayerArray.from_shapes(shapes)
    _, med, best = timed(lambda: decide.break_even(cfg, layers))
    rows.append(f"| ResNet-50 break-even, 1 config x {len(shapes)} layers | {len(shapes)} solves | "
                f"{med * 1e3:.1f} ms | {best * 1e3:.1f} ms | - |")
    _, med, best = timed(lambda: api.plan(net, hw, alpha=0.1), repeats=3)
    rows.append(f"| `codesign.plan(resnet50, alpha=0.1)` (one plan, every layer record) | {len(shapes)} layers | "
                f"{med * 1e3:.0f} ms | {best * 1e3:.0f} ms | - |")

    combos = list(itertools.product(*GRID.values()))
    varied = {k: [c[i] for c in combos] for i, k in enumerate(GRID)}
    t0 = time.perf_counter()
    configs = ConfigArray.from_base(hw, varied)
    t_build = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    be = decide.break_even(configs, layers)
    t_solve, cpu_solve = time.perf_counter() - t0, time.process_time() - c0
    rate = be.ratio.size / t_solve
    rows.append(f"| {len(configs):,} configs x {len(shapes)} ResNet-50 layers, break-even | "
                f"{be.ratio.size:,} solves | {t_solve:.2f} s wall, {cpu_solve:.2f} s CPU (+{t_build:.2f} s "
                f"building configs) | {rate:,.0f} solves/s ({be.ratio.size / cpu_solve:,.0f} per CPU s) | "
                f"< 10 s; >= 250,000 solves/s |")

    t0 = time.perf_counter()
    p = api.plan(net, hw, alpha=0.1, uncertainty=1000, seed=0)
    t_plan_u = time.perf_counter() - t0
    t0 = time.perf_counter()
    b = api.breakeven(net, hw, uncertainty=1000, seed=0)
    t_be_u = time.perf_counter() - t0
    flips = len(p.totals.get("flipping_layers", []))
    rows.append(f"| ResNet-50 plan at alpha 0.1 with 1,000 uncertainty samples | {len(shapes)} layers x 1,000 | "
                f"{t_plan_u:.2f} s | - | - |")
    rows.append(f"| ResNet-50 break-even with 1,000 uncertainty samples | {len(shapes) * 1000:,} solves | "
                f"{t_be_u:.2f} s | - | - |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append(f"| peak RSS of this process (after all of the above) | - | {peak:,.0f} MB | - | < 2048 MB |")
    mb, wall = peak_mb(UNCERTAINTY_RUN)
    rows.append(f"| peak RSS of a ResNet-50 plan with 30,000 uncertainty samples (own process) | "
                f"{len(shapes)} layers x 30,000 | {mb:,.0f} MB ({wall:.1f} s) | - | < 300 MB |")
    mb, wall = peak_mb(SWEEP_RUN)
    rows.append(f"| peak RSS of a 1,000-layer x 10,000-config sweep and its CSV files (own process) | "
                f"10,000,000 solves | {mb:,.0f} MB ({wall:.1f} s) | - | < 500 MB |")
    finite = np.isfinite(be.ratio)
    lo, hi = p.totals["speedup_range"]
    load = open("/proc/loadavg").read().split()[0]
    notes = (f"Load average at the end: {load} (2 cores shared with other jobs). Preset smic40-admmnn "
             f"(isoarea). Sweep grid: {', '.join(f'{k} x{len(v)}' for k, v in GRID.items())}. Break-even: "
             f"a log grid on r in [1, 1000] then Illinois (regula falsi) steps per (config, layer), "
             f"chunked over configs. {finite.mean():.1%} of the {be.ratio.size:,} (config, layer) pairs "
             f"have a finite r*; median r* {np.median(be.ratio[finite]):.2f}. Uncertainty: ResNet-50 at "
             f"alpha 0.1 runs {p.totals['speedup']:.2f}x, range [{lo:.2f}, {hi:.2f}] over the preset's "
             f"ranges; {flips} layer(s) flip between dense and sparse inside them "
             f"({len(b.layers)} layers with r* ranges).")
    record("hw_speed.py", "hw_speed.py: hardware model speed (issues 9 and 23)", "\n".join(rows), notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
