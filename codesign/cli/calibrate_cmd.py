"""`codesign calibrate POINTS.csv`: fit a preset's ranged parameters to measured speedups; with
a GPU target (--hw a100), fit its kernel keys to measured dense / 2:4 / int8 GEMM times."""
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
                        "named as in --model. GPU targets: a table like "
                        "hwmodels/data/gpu_measurements.csv (benchmarks/gpu_measure.py writes one)")
    p.add_argument("--model", default="alexnet",
                   help="the model whose layers POINTS.csv names (file or bundled name; default alexnet)")
    add_model_args(p, positional=False)
    add_hw_args(p)
    p.add_argument("--params", default=None,
                   help=f"comma-separated ranged keys to fit (default {','.join(DEFAULT_PARAMS)}; "
                        "GPU targets: the efficiency and overhead keys the rows exercise)")
    p.add_argument("--name", help="name of the new preset (default: <preset>-calibrated)")
    p.add_argument("--out", metavar="PRESET.toml", help="where to write it (default ./<name>.toml)")
    p.set_defaults(func=run)


def run(args) -> int:
    import dataclasses

    from codesign.calibrate import DEFAULT_PARAMS, fit, read_points
    from codesign.errors import CodesignError
    from hwmodels.gpu.spec import GpuSpec
    from hwmodels.presets import dump
    from pruning.safe_files import check_out_file, write_file
    params = tuple(p.strip() for p in (args.params or ",".join(DEFAULT_PARAMS)).split(",") if p.strip())
    if not params:
        raise CodesignError("--params: give at least one key to fit")
    base = hw_from_args(args, gpu=True)
    name = args.name or f"{base.name}-calibrated"
    out = check_out_file(args.out if args.out is not None else f"{name}.toml", "--out")
    if isinstance(base, GpuSpec):
        return run_gpu(args, base, name, out, None if args.params is None else params)
    network = load_model_arg(args)
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


def run_gpu(args, base, name: str, out, params) -> int:
    """Fit a GPU target's kernel keys to a measurement table; print leave-one-out errors."""
    import dataclasses

    from codesign.gpu_calibrate import fit_gpu, rows_for
    from hwmodels.gpu.measured import read_measurements
    from hwmodels.presets import dump
    from pruning.safe_files import write_file
    rows = rows_for(read_measurements(args.points), base.name)
    result = fit_gpu(base, rows, params)
    sources = dict(result.spec.sources)
    for key in result.params:
        sources[key] = f"fitted by `codesign calibrate {Path(args.points).name}` ({len(result.points)} rows)"
    spec = dataclasses.replace(result.spec, name=name, sources=sources)
    write_file(out, dump(spec, f"{name}: {base.name} with {', '.join(result.params)} fitted to "
                               f"{args.points}", fitted=tuple(result.params)))
    table = [[p.id, f"{p.measured:.3g}x", f"{p.predicted:.3g}x", "-" if p.loo is None else f"{p.loo:.3g}x",
              "-" if p.loo_error is None else f"{p.loo_error:+.0%}", "yes" if p.sign_right else "NO"]
             for p in result.points]
    print(format_table(["row", "measured", "fitted", "left out", "error left out", "sign"], table))
    median = result.median_abs_loo_error()
    print(f"median |error| left out: {'-' if median is None else f'{median:.0%}'}; faster/slower "
          f"than dense right for {sum(p.sign_right for p in result.points)} of {len(result.points)} rows")
    print("fitted (inside their ranges): " + ", ".join(
        f"{k} = {v:.4g} in [{spec.ranges[k][0]:g}, {spec.ranges[k][1]:g}]" for k, v in result.params.items()))
    print(f"wrote {out} (use it with --hw {out})")
    return 0
