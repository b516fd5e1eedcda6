"""`codesign plan MODEL`: evaluate a sparsity plan on a hardware config, layer by layer."""
from __future__ import annotations

from pathlib import Path

from codesign.cli.common import add_model_args, format_table
from codesign.errors import CodesignError
from codesign.graph import load_network
from codesign.hwconfig import add_hw_args, hw_from_args
from codesign.plan import (PlanError, build_plan, load_sparsity, masks_from_network,
                           quantized_bits_from_network)


def register(sub) -> None:
    p = sub.add_parser("plan", help="evaluate a sparsity plan: dense/sparse per layer, speedup, storage",
                       description="Per layer: keep fraction alpha, implementation (dense when its "
                                   "pruning ratio is below break-even, as in paper 001), speedup, "
                                   "storage with indices, energy; totals for the network.")
    add_model_args(p)
    add_hw_args(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--alpha", type=float, metavar="A", help="one keep fraction for every layer")
    src.add_argument("--sparsity", metavar="PLAN.json",
                     help='per-layer keep fractions: {"alphas": {"<layer>": 0.38, ...}}, '
                          'optionally "bits": {"<layer>": 8, ...} for quantized layers; '
                          "layers not named stay dense at the preset's weight_bits")
    src.add_argument("--from-pruned", metavar="PRUNED.onnx",
                     help="read the exact masks (weights != 0) of a pruned ONNX model, and the "
                          "weight width of its quantized layers (from their values)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON instead of the table")
    p.add_argument("--out", metavar="PATH", help="also write the plan JSON to PATH")
    from codesign.report.hooks import add_report_arg   # the report is issue 6's (codesign.report)
    add_report_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    network = load_network(args.model, args.input_shape)
    hw = hw_from_args(args)
    masks, bits = None, None
    if args.alpha is not None:
        alphas, source = args.alpha, "alpha"
    elif args.sparsity:
        (alphas, bits), source = load_sparsity(args.sparsity), "sparsity"
    else:
        (alphas, masks, bits), source = _pruned(args.from_pruned, network), "pruned"
    plan = build_plan(network.shapes, hw, alphas, model=network.name, source=source, masks=masks,
                      input_shape=network.input_shape, weight_bits=bits)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        plan.save(args.out)
    if args.report:
        from codesign.report.hooks import write_plan_report
        write_plan_report(plan, network, hw, args.report)
    if args.json:
        print(plan.to_json())
        return 0
    ev = plan.evaluation
    rows = []
    for lp, le in zip(plan.layers, ev.layers):
        be = "never" if le.break_even is None else "always" if le.break_even <= 1 else f"{le.break_even:.2f}"
        rows.append([le.name, f"{le.alpha:.3f}", f"{1 / le.alpha:.2f}", be, le.implementation,
                     f"{le.speedup:.2f}x", f"{le.sparse_speedup:.2f}x", f"{le.latency_ns / 1e3:,.1f}",
                     f"{le.storage_bits / 8192:,.1f}", f"{le.index_bits / 8192:,.1f}",
                     f"{le.energy_pj / 1e6:,.2f}"])
    t = ev.totals
    rows.append(["total", "", "", "", f"{t['sparse_layers']}/{t['layers']} sparse", f"{t['speedup']:.2f}x",
                 "", f"{t['latency_ns'] / 1e3:,.1f}", f"{t['storage_bits'] / 8192:,.1f}",
                 f"{t['index_bits'] / 8192:,.1f}", f"{t['energy_pj'] / 1e6:,.2f}"])
    print(f"{network.name} on {hw.name} ({hw.mode}; plan from {source})")
    print(format_table(["layer", "alpha", "r", "r*", "impl", "speedup", "sparse x", "latency us",
                        "storage KB", "index KB", "energy uJ"], rows))
    print(f"dense: {t['dense_latency_ns'] / 1e3:,.1f} us, {t['dense_storage_bits'] / 8192:,.1f} KB, "
          f"{t['dense_energy_pj'] / 1e6:,.2f} uJ; storage compression {t['compression']:.2f}x"
          + (" (isoarea mode: each layer on its own same-area design; latencies add up)"
             if hw.mode == "isoarea" else ""))
    if args.out:
        print(f"plan: {args.out}")
    return 0


def _pruned(path: str, network):
    if not Path(path).is_file():
        raise PlanError(f"pruned model {path!r} does not exist")
    pruned = load_network(path, network.input_shape)
    names = {l.name for l in network.layers}
    foreign = [l.name for l in pruned.layers if l.name not in names]
    if foreign:
        raise CodesignError(f"pruned model layer {foreign[0]!r} is not in {network.name}; give the "
                            "same model the pruned file was made from")
    masks = masks_from_network(pruned)
    alphas = {name: st.density for name, st in masks.items()}
    return alphas, masks, quantized_bits_from_network(pruned)
