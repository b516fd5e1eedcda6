"""`codesign sweep MODEL --vary key=v1,v2 ...`: cartesian sweep of hardware keys."""
from __future__ import annotations

from pathlib import Path

from codesign.cli.common import (add_hw_args, add_model_args, add_quiet_arg, add_run_folder_arg, check_outputs,
                                 hw_from_args, load_model_arg, progress)


def register(sub) -> None:
    from codesign.sweeps import DEFAULT_CHUNK
    p = sub.add_parser("sweep", help="sweep hardware keys: break-even, latency, speedup, area per config",
                       description="Evaluate every combination of the --vary values (any hardware "
                                   "key): per-layer break-even ratios, the network's planned latency "
                                   "at --alpha (the ranking objective: fastest design first), its "
                                   "speedup over the same config's dense design, and the area. Writes "
                                   "configs.csv (ranked) and break_even.csv to --out, and sweep.png "
                                   "with --plot.")
    add_model_args(p)
    add_hw_args(p)
    p.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2,...", required=True,
                   help="a key and its values, e.g. --vary pes=64,128,256 (repeatable, one per key)")
    p.add_argument("--alpha", type=float, default=0.1,
                   help="keep fraction of every layer for the latency and speedup columns (default 0.1)")
    add_run_folder_arg(p, "output directory", required=True)
    p.add_argument("--chunk", type=int, default=DEFAULT_CHUNK,
                   help=f"config x layer pairs per vectorized chunk (memory bound; default {DEFAULT_CHUNK:,})")
    p.add_argument("--plot", action="store_true", help="also draw sweep.png (the report's panels) in --out")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="run chunks here (local) or as Ray tasks (ray; pip install .[ray])")
    p.add_argument("--address", help="with --executor ray: an existing cluster (default: start a local one)")
    p.add_argument("--workers", type=int, default=2, help="with --executor ray: local Ray CPUs (default 2)")
    p.add_argument("--report", metavar="DIR", help="also write the sweep report (HTML, Markdown, figures) to DIR")
    add_quiet_arg(p, "no progress lines")
    p.set_defaults(func=run)


def run(args) -> int:
    from codesign.api import sweep
    from codesign.errors import CodesignError
    from codesign.report.renderer import REPORT_NAMES
    from codesign.sweeps import OUT_NAMES, parse_vary, write_csv
    varied = parse_vary(args.vary)
    if args.chunk <= 0:
        raise CodesignError("--chunk must be a positive number of config x layer pairs")
    check_outputs(args, folders={"out": OUT_NAMES, "report": REPORT_NAMES})
    out = Path(args.out)
    hw = hw_from_args(args)
    network = load_model_arg(args)
    with progress("sweep", enabled=not args.quiet) as update:
        result = sweep(network, hw, vary=varied, alpha=args.alpha, chunk=args.chunk,
                       executor=args.executor, address=args.address, workers=args.workers,
                       progress=lambda done, total: update(done, total))
    cfg_csv, layer_csv = write_csv(result, out)
    written = [cfg_csv, layer_csv]
    if args.plot:                        # matplotlib and the drawing: a quarter of a big sweep
        from codesign.report.figures import sweep_figure
        written.append(sweep_figure(result, out / "sweep.png", within=out))
    best = result.to_dict()
    print(f"{result.configs} configs x {len(result.layer_names)} layers of {network.name} around {hw.name} "
          f"({hw.mode}), alpha {args.alpha:g}")
    b = best["best"]
    print("fastest design: {:.4g} us ({:.3g}x over its dense twin) with {}".format(
        b["latency_ns"] / 1e3, b["speedup"], ", ".join(f"{k}={b[k]}" for k in result.keys)))
    s = best["best_speedup"]
    print("largest sparse/dense ratio: {:.3g}x with {}".format(
        s["speedup"], ", ".join(f"{k}={s[k]}" for k in result.keys)))
    print(f"wrote {', '.join(map(str, written))}")
    if args.report:
        print(f"report: {result.report(args.report, network=network, base=hw)['report.html']}")
    return 0
