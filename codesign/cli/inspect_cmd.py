"""`codesign inspect MODEL`: per-layer table of shapes, weights and MACs, and the coverage."""
from __future__ import annotations

import json

from codesign.cli.common import add_model_args, dims, format_table, load_model_arg


def register(sub) -> None:
    from codesign.inspect import MAC_CONVENTION
    p = sub.add_parser("inspect", help="per-layer shapes, weights and MACs of a model",
                       description="Import an ONNX model and print every op that multiplies (Conv, "
                                   "ConvTranspose, Gemm, MatMul, Einsum, LSTM/GRU/RNN gates, "
                                   "attention products, quantized convs and matmuls): weight shape, "
                                   "groups, output shape, weights, MACs, MAC share, and the share of "
                                   "the model's MACs that is modeled. "
                                   + MAC_CONVENTION[0].upper() + MAC_CONVENTION[1:] + ".")
    add_model_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    p.add_argument("--csv", metavar="PATH", help="also write the table as CSV to PATH")
    p.set_defaults(func=run)


def run(args) -> int:
    from codesign.inspect import MAC_CONVENTION, network_summary, write_csv
    network = load_model_arg(args)
    summary = network_summary(network)
    if args.csv:
        write_csv(args.csv, summary["layers"])
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    rows = [[r["name"], r["op"], dims(r["weight_shape"]) or "-", r["groups"], dims(r["output_shape"]),
             f"{r['params']:,}", f"{r['macs']:,}", f"{100 * r['mac_share']:.1f}%"]
            for r in summary["layers"]]
    t = summary["totals"]
    rows.append(["total", "", "", "", "", f"{t['params']:,}", f"{t['macs']:,}", "100.0%"])
    shapes = ", ".join(f"{k} {dims(v)}" for k, v in summary["inputs"].items())
    print(f"{summary['model']}: {t['layers']} compute layers, inputs {shapes}")
    print(format_table(["layer (weight)", "op", "weight shape", "groups", "output", "weights",
                        "MACs", "share"], rows, right={3, 5, 6, 7}))
    print(f"MACs: {MAC_CONVENTION}.")
    if args.csv:
        print(f"table: {args.csv}")
    return 0
