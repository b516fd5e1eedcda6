"""`codesign calibrate POINTS.csv`: fit a preset's free parameters to measured speedups."""
from __future__ import annotations

from pathlib import Path

from codesign.calibrate import DEFAULT_PARAMS, fit, read_points
from codesign.cli.common import format_table
from codesign.errors import CodesignError
from codesign.graph import load_network
from codesign.hwconfig import add_hw_args, dump_preset, hw_from_args, read_preset


def register(sub) -> None:
    p = sub.add_parser("calibrate", help="fit a hardware preset to your measured (layer, ratio, speedup) points",
                       description="Fit the free parameters of a hardware preset (default: "
                                   f"{', '.join(DEFAULT_PARAMS)}) to measured sparse-over-dense "
                                   "speedups and write a new preset TOML. POINTS.csv has the header "
                                   "layer,pruning_ratio,speedup; layers are named as in MODEL.")
    p.add_argument("points", metavar="POINTS.csv")
    p.add_argument("--model", default="alexnet",
                   help="the model whose layers POINTS.csv names (file or bundled name; default alexnet)")
    p.add_argument("--input-shape", metavar="NxCxHxW", help="input shape of --model")
    add_hw_args(p)
    p.add_argument("--params", default=",".join(DEFAULT_PARAMS),
                   help=f"comma-separated keys to fit (default {','.join(DEFAULT_PARAMS)})")
    p.add_argument("--name", help="name of the new preset (default: <preset>-calibrated)")
    p.add_argument("--out", metavar="PRESET.toml", help="where to write it (default ./<name>.toml)")
    p.set_defaults(func=run)


def run(args) -> int:
    network = load_network(args.model, args.input_shape)
    base = hw_from_args(args)
    _, sources = read_preset(args.hw)
    points = read_points(args.points, network.shapes)
    params = tuple(p.strip() for p in args.params.split(",") if p.strip())
    if not params:
        raise CodesignError("--params: give at least one key to fit")
    result = fit(base, points, params=params)
    name = args.name or f"{base.name}-calibrated"
    cfg = result.config.replace(name=name)
    out = Path(args.out or f"{name}.toml")
    for key in params:
        sources[key] = f"FITTED by `codesign calibrate {args.points}` on {network.name}"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(dump_preset(cfg, sources, f"{name}: {base.name} with {', '.join(params)} fitted "
                                              f"to {args.points}"))
    rows = [[p.layer, f"{p.ratio:.2f}", f"{p.target:.2f}", f"{p.predicted:.2f}", f"{p.rel_error:+.1%}"]
            for p in result.points]
    print(format_table(["layer", "ratio", "measured", "model", "error"], rows))
    print("fitted: " + ", ".join(f"{k} = {v:.4g}" for k, v in result.params.items()))
    print(f"wrote {out} (use it with --hw {out})")
    return 0
