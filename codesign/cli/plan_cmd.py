"""`codesign plan MODEL`: evaluate a sparsity plan on a hardware config, layer by layer."""
from __future__ import annotations


from codesign.cli.common import (add_hw_args, add_model_args, add_sparsity_arg, add_uncertainty_arg,
                                 check_outputs, format_table, hw_from_args, load_model_arg)
from codesign.cli.inspect_cmd import coverage_lines, warn_coverage
from hwmodels import uncertainty
from hwmodels.decide import ratio_label
from hwmodels.arch import KB_BITS


def register(sub) -> None:
    p = sub.add_parser("plan", help="evaluate a sparsity plan: dense/sparse per layer, speedup, storage",
                       description="Per layer: keep fraction alpha, pattern, weight width, the "
                                   "implementation the hardware chooses (sparse exactly when it is no "
                                   "slower than dense on the same hardware, i.e. when the pruning "
                                   "ratio reaches r*), speedup, storage (weights, indices, features), "
                                   "energy; totals for the network.")
    add_model_args(p)
    add_hw_args(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--alpha", type=float, metavar="A", help="one keep fraction for every layer")
    add_sparsity_arg(src, 'per-layer plan: {"alphas": {"<layer>": 0.38, ...}, "patterns": {"<layer>": '
                          '"2:4", ...}, "bits": {"<layer>": 8, ...}}; layers not named stay dense at '
                          "the preset's weight_bits (a `plan --json` output works too)")
    src.add_argument("--from-pruned", metavar="PRUNED.onnx",
                     help="read the exact masks (weights != 0) and patterns of a pruned ONNX model, "
                          "and the weight width of its quantized layers")
    p.add_argument("--pattern", default="unstructured",
                   help="with --alpha: the pattern of every layer (unstructured, N:M, KxL, channel)")
    add_uncertainty_arg(p)
    p.add_argument("--json", action="store_true", help="print the plan as JSON instead of the table")
    p.add_argument("--out", metavar="FILE", help="also write the plan JSON to FILE (a file here; the "
                                                 "commands that write run folders take --out DIR)")
    p.add_argument("--csv", metavar="PATH", help="also write the per-layer table as CSV to PATH")
    p.add_argument("--report", metavar="DIR",
                   help="also write the report (HTML, Markdown, plan.json, layers.csv, figures) to DIR")
    p.set_defaults(func=run)


def run(args) -> int:
    from codesign.api import plan
    from codesign.inspect import partial_totals
    from codesign.report.renderer import REPORT_NAMES
    from pruning.patterns import parse_pattern
    check_outputs(args, folders={"report": REPORT_NAMES}, files=("out", "csv"))
    pattern = parse_pattern(args.pattern)
    hw = hw_from_args(args)
    network = load_model_arg(args)
    warn_coverage(network)
    if args.alpha is not None:
        result = plan(network, hw, alpha=args.alpha, pattern=pattern, uncertainty=args.uncertainty,
                      seed=args.seed)
    elif args.sparsity:
        result = plan(network, hw, alphas=args.sparsity, uncertainty=args.uncertainty, seed=args.seed)
    else:
        result = plan(network, hw, pruned=args.from_pruned, uncertainty=args.uncertainty, seed=args.seed)
    written = []
    if args.out:
        written.append(("plan", result.save(args.out)))
    if args.csv:
        written.append(("table", result.to_csv(args.csv)))
    if args.report:
        written.append(("report", result.report(args.report)["report.html"]))
    if args.json:
        print(result.to_json())
        return 0
    print(summary_text(result, network.name, hw))
    partial = partial_totals(network.coverage_dict())
    print("\n".join(([partial] if partial else []) + coverage_lines(network)))
    for what, path in written:
        print(f"{what}: {path}")
    return 0


def summary_text(result, model: str, hw) -> str:
    band = result.uncertainty is not None
    rows = []
    for l in result.layers:
        rng = ""
        if band and l.speedup_range:
            rng = f"{l.speedup_range[0]:.3g}-{l.speedup_range[1]:.3g}"
        flip = " (flips)" if band and uncertainty.flips(l.decision_agreement) else ""
        rows.append([l.name, l.pattern, f"{l.alpha:.3g}", f"{1 / l.alpha:.3g}", ratio_label(l.break_even),
                     l.implementation + flip, f"{l.speedup:.3g}x"] + ([rng] if band else [])
                    + [f"{l.latency_ns / 1e3:,.1f}", f"{l.weight_bits_total / KB_BITS:,.1f}",
                       f"{l.index_bits_total / KB_BITS:,.1f}", f"{l.energy_pj / 1e6:,.3g}"])
    t = result.totals
    rng = f"{t['speedup_range'][0]:.3g}-{t['speedup_range'][1]:.3g}" if band else ""
    rows.append(["total", "", "", f"{t['pruning_ratio']:.3g}", "", f"{t['sparse_layers']}/{t['layers']} sparse",
                 f"{t['speedup']:.3g}x"] + ([rng] if band else [])
                + [f"{t['latency_ns'] / 1e3:,.1f}", f"{t['weight_bits_total'] / KB_BITS:,.1f}",
                   f"{t['index_bits_total'] / KB_BITS:,.1f}", f"{t['energy_pj'] / 1e6:,.3g}"])
    head = ["layer", "pattern", "alpha", "r", "r*", "impl", "speedup"] + (["range"] if band else []) \
        + ["latency us", "weights KB", "indices KB", "energy uJ"]
    lines = [f"{model} on {hw.name} ({hw.mode}; plan from {result.source})", format_table(head, rows)]
    comp = t["compression"]
    lines.append(f"dense baseline: {t['dense_latency_ns'] / 1e3:,.1f} us, weights "
                 f"{t['dense_weight_bits_total'] / KB_BITS:,.1f} KB at the hardware's width; features "
                 f"{t['feature_bits_total'] / KB_BITS:,.1f} KB; weights + indices compress "
                 f"{comp['dense_hardware_width']:.3g}x vs that, {comp['dense_32bit']:.3g}x vs 32-bit float")
    if hw.mode == "fixed":
        d = result.layers[0].designs
        lines.append(f"fixed chip: dense chip {d['dense']['pes']:.0f} PEs at {d['dense']['clock_ns']:.3g} ns; "
                     f"the sparse-capable chip of the same area {d['sparse']['area_um2'] / 1e6:.3g} mm^2 has "
                     f"{d['sparse']['pes']:.0f} PEs of {d['sparse']['pe_area_um2']:,.0f} um^2 at "
                     f"{d['sparse']['clock_ns']:.3g} ns and runs each layer dense or sparse; speedups are "
                     "against the dense chip")
    else:
        lines.append("isoarea: each layer on its own same-area dense/sparse pair; latencies add up")
    if band:
        flips = t.get("flipping_layers") or []
        lines.append(f"uncertainty: {result.uncertainty['samples']} samples; decisions that flip inside "
                     f"the ranges: {', '.join(flips) if flips else 'none'}")
    notes = [f"{l.name}: {l.note}" for l in result.layers if l.note]
    lines += notes[:5] + ([f"... {len(notes) - 5} more notes in --json"] if len(notes) > 5 else [])
    return "\n".join(lines)
