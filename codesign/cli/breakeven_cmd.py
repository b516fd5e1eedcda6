"""`codesign breakeven MODEL`: per-layer break-even pruning ratio r* and speedup-vs-r curves."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from codesign.cli.common import add_model_args, format_table
from codesign.errors import CodesignError
from codesign.graph import load_network
from codesign.hwconfig import add_hw_args, hw_from_args
from hwmodels.arch import ConfigArray
from hwmodels.breakeven import break_even, speedup_curves
from hwmodels.cost import LayerArray

TABLE_RATIOS = (2.0, 4.0, 10.0)
CURVE_RATIOS = np.geomspace(1.0, 100.0, 31)       # the speedup-vs-r curve in --json


def register(sub) -> None:
    p = sub.add_parser("breakeven", help="per-layer break-even pruning ratio on a hardware config",
                       description="For every compute layer, the smallest pruning ratio r = 1/alpha "
                                   "at which its sparse implementation is no slower than the dense "
                                   "one of the same area (paper 001 section 5.1), and the sparse "
                                   "speedup at a few ratios. 'always': sparse wins even unpruned; "
                                   "'never': it loses at every r up to 1000.")
    add_model_args(p)
    add_hw_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    p.add_argument("--plot", metavar="PATH", help="write the speedup-vs-r figure (PNG/SVG/PDF) to PATH")
    p.set_defaults(func=run)


def run(args) -> int:
    network = load_network(args.model, args.input_shape)
    hw = hw_from_args(args)
    shapes = network.shapes
    cfgs = ConfigArray.from_configs([hw])
    layers = LayerArray.from_shapes(shapes)
    be = break_even(cfgs, layers)
    table_s = speedup_curves(cfgs, layers, TABLE_RATIOS)[0]
    curves = speedup_curves(cfgs, layers, CURVE_RATIOS)[0]
    if args.plot:
        write_plot(args.plot, network.name, hw.name, shapes, cfgs, layers, be.ratio[0])
    records = []
    for j, s in enumerate(shapes):
        r = float(be.ratio[0, j])
        records.append({"name": s.name, "op": s.op, "macs": s.macs, "weights": s.weight_count,
                        "break_even": r if np.isfinite(r) else None, "label": be.label(0, j),
                        "speedup_at": {f"{k:g}": float(v) for k, v in zip(TABLE_RATIOS, table_s[j])},
                        "curve": {"ratio": CURVE_RATIOS.round(4).tolist(), "speedup": curves[j].tolist()}})
    if args.json:
        print(json.dumps({"model": network.name, "hw": hw.to_dict(), "layers": records}, indent=1))
        return 0
    rows = []
    for rec in records:
        r = rec["break_even"]
        portion = "-" if r is None else f"{100 * (1 - 1 / r):.0f}%"
        rows.append([rec["name"], rec["op"], f"{rec['weights']:,}", f"{rec['macs']:,}", rec["label"],
                     portion] + [f"{v:.2f}x" for v in rec["speedup_at"].values()])
    print(f"{network.name} on {hw.name} ({hw.mode}, {hw.weight_bits}-bit weights, "
          f"{hw.index_format} index, {hw.index_bits} bits)")
    print(format_table(["layer", "op", "weights", "MACs", "r*", "prune >="]
                       + [f"x at r={r:g}" for r in TABLE_RATIOS], rows))
    if args.plot:
        print(f"figure: {args.plot}")
    return 0


def write_plot(path, model, hw_name, shapes, cfgs, layers, r_star) -> None:
    if Path(path).suffix.lower() not in (".png", ".svg", ".pdf"):
        raise CodesignError(f"--plot {path}: give a .png, .svg or .pdf file name")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ratios = np.geomspace(1.0, 50.0, 80)
    s = speedup_curves(cfgs, layers, ratios)[0]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for j, shape in enumerate(shapes):
        ax.plot(ratios, s[j], lw=1.2, label=shape.name if len(shapes) <= 12 else None)
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    finite = r_star[np.isfinite(r_star) & (r_star > 1)]
    if finite.size:
        ax.scatter(finite, np.ones_like(finite), color="k", s=12, zorder=3, label="break-even r*")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("pruning ratio r = 1/alpha")
    ax.set_ylabel("sparse speedup over dense (same area)")
    ax.set_title(f"{model} on {hw_name}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
