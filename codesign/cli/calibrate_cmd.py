"""`codesign calibrate POINTS.csv`: fit a preset's ranged parameters to measured speedups."""
from __future__ import annotations

from pathlib import Path

from codesign.cli.common import add_hw_args, add_model_args, format_table, hw_from_args, load_model_arg


def register(sub) -> None:
    from codesign.calibrate import DEFAULT_PARAMS
    p = sub.add_parser("calibrate", help="fit a hardware preset to your measured (layer, ratio, speedup) points",
                       description="Fit keys of a hardware preset that carry a physical range "
                                   f"(default: {', '.join(DEFAULT_PARAMS)}) to measured speedups of "
                                   "sparse over dense implementations, inside those ranges, and write "
                                   "a new preset TOML.")
    p.add_argument("points", metavar="POINTS.csv",
                   help="measurements: a CSV with the header layer,pruning_ratio,speedup; layers are "
                        "named as in --model")
    p.add_argument("--model", default="alexnet",
                   help="the model whose layers POINTS.csv names (file or bundled name; default alexnet)")
    add_model_args(p, positional=False)
    add_hw_args(p)
    p.add_argument("--params", default=",".join(DEFAULT_PARAMS),
                   help=f"comma-separated ranged keys to fit (default {','.join(DEFAULT_PARAMS)})")
    p.add_argument("--name", help="name of the new preset (default: <preset>-calibrated)")
    p.add_argument("--out", metavar="PRESET.toml", help="where to write it (default ./<name>.toml)")
    p.set_defaults(func=run)


def run(args) -> int:
    import dataclasses

    from codesign.calibrate import fit, read_points
    from codesign.errors import CodesignError
    from hwmodels.presets import dump
    from pruning.safe_files import check_out_file, write_file
    params = tuple(p.strip() for p in args.params.split(",") if p.strip())
    if not params:
        raise CodesignError("--params: give at least one key to fit")
    base = hw_from_args(args)
    network = load_model_arg(args)
    name = args.name or f"{base.name}-calibrated"
    out = check_out_file(args.out if args.out is not None else f"{name}.toml", "--out")
    points = read_points(args.points, network.shapes)
    result = fit(base, points, params=params)
    sources = dict(result.spec.sources)
    for key in params:
        sources[key] = f"fitted by `codesign calibrate {Path(args.points).name}` on {network.name}"
    spec = dataclasses.replace(result.spec, name=name, sources=sources)
    write_file(out, dump(spec, f"{name}: {base.name} with {', '.join(params)} fitted to {args.points}",
                         fitted=params))
    rows = [[p.layer, f"{p.ratio:.3g}", f"{p.target:.3g}", f"{p.predicted:.3g}", f"{p.rel_error:+.1%}"]
            for p in result.points]
    print(format_table(["layer", "ratio", "measured", "model", "error"], rows))
    print("fitted (inside their ranges): " + ", ".join(
        f"{k} = {v:.4g} in [{spec.ranges[k][0]:g}, {spec.ranges[k][1]:g}]" for k, v in result.params.items()))
    print(f"wrote {out} (use it with --hw {out})")
    return 0
