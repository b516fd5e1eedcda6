"""Measure SCALE-Sim v3 (PyPI `scalesim` 3.0.0) compute cycles on a fixed set of small layer
shapes and rewrite tests/hwmodels/data/scalesim_v3_cycles.csv with the measured values.

Rerun by hand (not by CI); it needs a network or a pip cache the first time:
    python3 benchmarks/scalesim_crosscheck.py              # 181 runs, ~3.5 min, 1 GB peak
    python3 benchmarks/scalesim_crosscheck.py --out X.csv  # write elsewhere

It creates a separate venv (/tmp/ssv: scalesim==3.0.0, numpy<2.3 -- numpy 2.4 breaks
scalesim) if missing and re-executes itself inside it. The runs go one after the other in that
single process, through SCALE-Sim's Python API with save_disk_space=True (no traces). Config,
topology and layout files are written to a temp dir. Nothing from the project is imported.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VENV = Path("/tmp/ssv")
PINS = ["scalesim==3.0.0", "numpy<2.3"]
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "tests/hwmodels/data/scalesim_v3_cycles.csv"

# name, ifmap_h, ifmap_w, filt_h, filt_w, channels, filters, stride
# (names must not contain "DP": SCALE-Sim splits such layers per channel)
LAYERS = [
    ("few_filters", 13, 13, 3, 3, 64, 4, 1),
    ("fc", 1, 1, 1, 1, 512, 100, 1),
    ("fc_batch4", 4, 1, 1, 1, 256, 10, 1),
    ("dw_like", 14, 14, 3, 3, 1, 1, 1),
    ("short_red", 28, 28, 1, 1, 3, 32, 1),
    ("tiny", 5, 5, 3, 3, 2, 3, 1),
    ("stride2", 15, 15, 3, 3, 16, 24, 2),
    ("kern1x3", 10, 10, 1, 3, 8, 16, 1),
    ("array_sized", 6, 6, 3, 3, 16, 16, 1),
    # extra narrow cases
    ("unit", 1, 1, 1, 1, 1, 1, 1),            # npix = K = nfilt = 1
    ("rem17", 17, 1, 1, 1, 17, 17, 1),        # every dimension 17: one leftover row/col per fold
    ("ceil_stride", 8, 8, 3, 3, 4, 8, 2),     # (8-3)/2 not integral: ceil gives 4x4, floor 3x3
]
BIG = ("alexnet_conv3", 13, 13, 3, 3, 256, 384, 1)
ARRAYS = [(16, 16), (8, 8), (32, 32), (32, 8), (8, 32)]  # (rows, cols)
DATAFLOWS = ["os", "ws", "is"]

COLUMNS = ["layer", "ifmap_h", "ifmap_w", "filt_h", "filt_w", "channels", "filters", "stride",
           "array_rows", "array_cols", "dataflow", "total_cycles", "total_cycles_incl_prefetch",
           "ofmap_px"]

CFG = """[general]
run_name = {run}

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: 64
FilterSramSzkB: 64
OfmapSramSzkB: 64
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth : 10
Dataflow : {df}
MemoryBanks: 1
ReadRequestBuffer: 512
WriteRequestBuffer: 512

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""
TOPO_HEAD = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
             "Num Filter, Strides,\n")
LAYOUT_HEAD = ("Layer name,IFMAP Height Intraline Factor,IFMAP Width Intraline Factor,"
               "Filter Height "
               "Intraline Factor,Filter Width Intraline Factor,Channel Intraline Factor,Num Filter "
               "Intraline Factor,IFMAP Height Intraline Order,IFMAP Width Intraline Order,Channel "
               "Intraline Order,IFMAP Height Interline Order,IFMAP Width Interline Order,Channel "
               "Interline Order,Num Filter Intraline Order,Channel Intraline Order,Filter Height "
               "Intraline Order,Filter Width Intraline Order,Num Filter Interline Order,Channel "
               "Interline Order,Filter Height Interline Order,Filter Width Interline Order,\n")
LAYOUT_ROW = "1,1,1,1,16,1,0,1,2,0,1,2,0,1,2,3,0,1,2,3,"  # unused (custom layout off), but required


def ensure_venv_and_reexec() -> None:
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    py = VENV / "bin/python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    ok = subprocess.run([str(py), "-c", "import scalesim, numpy as n; "
                         "assert tuple(map(int, n.__version__.split('.')[:2])) < (2, 3)"],
                        capture_output=True).returncode == 0
    if not ok:
        subprocess.run([str(py), "-m", "pip", "install", "-q", *PINS], check=True)
    os.execv(str(py), [str(py), os.path.abspath(__file__), *sys.argv[1:]])


def ofmap_px(h, w, fh, fw, s):
    # SCALE-Sim's convention (topology_utils): ceil((H - R + s) / s) per dim
    return -(-(h - fh + s) // s) * -(-(w - fw + s) // s)


def run_one(tmp: Path, layer, rows, cols, df):
    from scalesim.scale_sim import scalesim
    name = layer[0]
    run = f"{name}_{rows}x{cols}_{df}"
    cfg, topo, lay = tmp / f"{run}.cfg", tmp / f"{run}_topo.csv", tmp / f"{run}_layout.csv"
    cfg.write_text(CFG.format(run=run, rows=rows, cols=cols, df=df))
    topo.write_text(TOPO_HEAD + ", ".join(str(v) for v in layer) + ",\n")
    lay.write_text(LAYOUT_HEAD + f"{name},{LAYOUT_ROW}\n")
    t0, c0 = time.perf_counter(), time.process_time()
    sim = scalesim(save_disk_space=True, verbose=False, config=str(cfg), topology=str(topo),
                   layout=str(lay), input_type_gemm=False)
    sim.run_scale(top_path=str(tmp / "out"))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    oh, ow = sim.topo.get_layer_ofmap_dims(layer_id=0)  # SCALE-Sim's own ofmap size
    with open(tmp / "out" / run / "COMPUTE_REPORT.csv") as f:
        rep = [{k.strip(): v.strip() for k, v in r.items() if k and k.strip()}
               for r in csv.DictReader(f)]
    assert len(rep) == 1, rep
    r = rep[0]
    return (int(float(r["Total Cycles"])), int(float(r["Total Cycles (incl. prefetch)"])),
            int(float(r["Stall Cycles"])), int(oh) * int(ow), wall, cpu)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    ensure_venv_and_reexec()
    import resource
    import numpy
    from importlib.metadata import version

    jobs = [(l, r, c, df) for (r, c) in ARRAYS for l in LAYERS for df in DATAFLOWS]
    jobs.append((BIG, 16, 16, "os"))
    rows, stalls, t_all = [], 0, time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="scalesim_xc_") as d:
        for i, (layer, r, c, df) in enumerate(jobs, 1):
            tot, pre, stall, px, wall, cpu = run_one(Path(d), layer, r, c, df)
            stalls += stall
            assert px == ofmap_px(*layer[1:5], layer[7]), (layer, px)
            rows.append([*layer, r, c, df, tot, pre, px])
            print(f"[{i}/{len(jobs)}] {layer[0]:14s} {r:2d}x{c:<2d} {df}: total {tot:8d} "
                  f"incl_prefetch {pre:8d} stall {stall} | wall {wall:5.1f} s cpu {cpu:5.1f} s "
                  f"maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB",
                  flush=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as f:
        f.write(f"# measured {stamp} with SCALE-Sim {version('scalesim')} (PyPI scalesim), numpy "
                f"{numpy.__version__}, Python {sys.version.split()[0]}, through its Python API "
                f"(save_disk_space=True), by benchmarks/scalesim_crosscheck.py; SRAM 64 KB per "
                f"operand, InterfaceBandwidth CALC; stall cycles summed over all rows = {stalls}; "
                f"ofmap_px is SCALE-Sim's ofmap H*W = ceil((H-R+s)/s)*ceil((W-S+s)/s)\n")
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        w.writerows(rows)
    print(f"wrote {len(rows)} rows to {args.out} in {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
