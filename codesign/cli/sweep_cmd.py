"""`codesign sweep MODEL --vary key=v1,v2 ...`: cartesian sweep of hardware keys."""
from __future__ import annotations

from pathlib import Path

from codesign.cli.common import add_model_args, progress_bar
from codesign.graph import load_network
from codesign.hwconfig import add_hw_args, hw_from_args
from codesign.sweep import DEFAULT_CHUNK, parse_vary, plot_heatmaps, run_sweep, write_csv


def register(sub) -> None:
    p = sub.add_parser("sweep", help="sweep hardware keys: break-even, speedup, area per config",
                       description="Evaluate every combination of the --vary values (any preset "
                                   "key): per-layer break-even ratios, total dense latency, network "
                                   "speedup at --alpha and design area. Writes configs.csv, "
                                   "break_even.csv (r* per config and layer) and heatmaps.png to --out.")
    add_model_args(p)
    add_hw_args(p)
    p.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2,...", required=True,
                   help="a key and its values, e.g. --vary pes=64,128,256 (repeatable)")
    p.add_argument("--alpha", type=float, default=0.1,
                   help="keep fraction for the network speedup column (default 0.1)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--chunk", type=int, default=DEFAULT_CHUNK,
                   help=f"configs per vectorized chunk (memory bound; default {DEFAULT_CHUNK})")
    from codesign.report.hooks import add_report_arg   # the report is issue 6's (codesign.report)
    add_report_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    network = load_network(args.model, args.input_shape)
    base = hw_from_args(args)
    varied = parse_vary(args.vary)
    if args.chunk <= 0:
        from codesign.errors import CodesignError
        raise CodesignError("--chunk must be a positive number of configs")
    with progress_bar("sweep") as update:
        result = run_sweep(network.shapes, base, varied, alpha=args.alpha, chunk=args.chunk,
                           progress=lambda done, total: update(done, total))
    out = Path(args.out)
    cfg_csv, layer_csv = write_csv(result, out)
    png = plot_heatmaps(result, out / "heatmaps.png")
    best = int(result.plan_speedup.argmax())
    print(f"{len(result.plan_speedup)} configs x {len(result.layer_names)} layers of {network.name} "
          f"on {base.name}")
    print("best speedup at alpha={:g}: {:.2f}x with {}".format(
        args.alpha, result.plan_speedup[best],
        ", ".join(f"{k}={result.grid[k][best]}" for k in result.keys)))
    print(f"wrote {cfg_csv}, {layer_csv}, {png}")
    if args.report:
        from codesign.report.hooks import write_sweep_report
        print(f"report: {write_sweep_report(result, network, base, args.report)['report.html']}")
    return 0
