"""`codesign breakeven MODEL`: per-layer break-even pruning ratio r*, per sparsity pattern."""
from __future__ import annotations

from codesign.cli.common import (add_hw_args, add_model_args, add_uncertainty_arg, check_outputs,
                                 format_table, hw_from_args, load_model_arg, ratio)
from codesign.cli.inspect_cmd import coverage_lines, warn_coverage


def register(sub) -> None:
    p = sub.add_parser("breakeven", help="per-layer break-even pruning ratio r* on a hardware config",
                       description="For every prunable layer, the smallest pruning ratio r = 1/alpha "
                                   "at which its sparse implementation is no slower than the dense "
                                   "one on the same hardware (same area per layer, or the same chip), "
                                   "and the speedup at a few ratios. 'always': sparse wins even "
                                   "unpruned; 'never': it loses at every r up to 1000.")
    add_model_args(p)
    add_hw_args(p)
    p.add_argument("--patterns", default="unstructured", metavar="P1,P2,...",
                   help="sparsity patterns to compare: unstructured, N:M (e.g. 2:4), KxL blocks "
                        "(e.g. 4x1), channel (default unstructured)")
    add_uncertainty_arg(p)
    p.add_argument("--json", action="store_true",
                   help="print one JSON document (per layer: r*, its range, speedups, and the "
                        "dense and sparse designs: PEs, PE area, clock, area)")
    p.add_argument("--csv", metavar="PATH", help="also write the table as CSV to PATH")
    p.add_argument("--plot", metavar="PATH", help="write the speedup-vs-r figure (.png, .svg or .pdf)")
    p.set_defaults(func=run)


def run(args) -> int:
    from codesign.api import breakeven
    from codesign.report.figures import check_figure_path
    from pruning.patterns import parse_pattern_list
    patterns = parse_pattern_list(args.patterns)
    check_outputs(args, files=("csv", "plot"))
    if args.plot:
        check_figure_path(args.plot, "--plot")
    hw = hw_from_args(args)
    network = load_model_arg(args)
    warn_coverage(network)
    result = breakeven(network, hw, patterns=patterns, uncertainty=args.uncertainty, seed=args.seed)
    if args.csv:
        result.to_csv(args.csv)
    if args.plot:
        from codesign.report.figures import breakeven_figure
        breakeven_figure(result, args.plot)
    if args.json:
        import json
        doc = result.to_dict()
        doc["totals"]["coverage"] = network.coverage_dict()
        print(json.dumps(doc, indent=1, allow_nan=False))
        return 0
    rows = []
    for l in result.layers:
        rng = "" if l.break_even_range is None else f"{ratio(l.break_even_range[0])}-{ratio(l.break_even_range[1])}"
        portion = "-" if l.break_even is None else f"{100 * (1 - 1 / l.break_even):.0f}%"
        rows.append([l.name, l.op, l.pattern, f"{l.weights:,}", f"{l.macs:,}", l.label]
                    + ([rng] if result.uncertainty else []) + [portion]
                    + ["-" if v is None else f"{v:.3g}x" for v in l.speedup_at.values()])
    head = ["layer", "op", "pattern", "weights", "MACs", "r*"] + (["r* range"] if result.uncertainty else []) \
        + ["prune >="] + [f"x at r={r}" for r in result.layers[0].speedup_at] if result.layers else []
    arch = result.hardware["architecture"]
    print(f"{network.name} on {hw.name} ({hw.mode}; {arch['weight_bits']}-bit weights; "
          f"{hw.index_format} index, {hw.index_width_bits}-bit width; sparse engine {hw.sparse_engine})")
    print(format_table(head, rows))
    print("\n".join(coverage_lines(network)))
    if result.uncertainty:
        print(f"r* range: {100 * (result.uncertainty['quantiles'][1] - result.uncertainty['quantiles'][0]):.0f}% "
              f"of {result.uncertainty['samples']} samples of the preset's ranges (seed {args.seed})")
    for path, what in ((args.csv, "table"), (args.plot, "figure")):
        if path:
            print(f"{what}: {path}")
    return 0
