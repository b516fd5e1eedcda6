"""`codesign inspect MODEL`: per-layer table of shapes, weights and MACs."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from codesign.cli.common import add_model_args, dims, format_table
from codesign.graph import load_network
from codesign.inspect import MAC_CONVENTION, network_summary

CSV_FIELDS = ["name", "op", "weight_shape", "groups", "input_shape", "output_shape", "params",
              "macs", "mac_share", "input_elements", "output_elements"]


def register(sub) -> None:
    p = sub.add_parser("inspect", help="per-layer shapes, weights and MACs of a model",
                       description="Import an ONNX model and print its compute layers (Conv, "
                                   "ConvTranspose, Gemm, MatMul with constant weights): weight "
                                   "shape, groups, output shape, weights, MACs and MAC share. "
                                   + MAC_CONVENTION[0].upper() + MAC_CONVENTION[1:] + ".")
    add_model_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    p.add_argument("--csv", metavar="PATH", help="also write the table as CSV to PATH")
    p.set_defaults(func=run)


def run(args) -> int:
    network = load_network(args.model, args.input_shape)
    summary = network_summary(network)
    if args.csv:
        write_csv(Path(args.csv), summary["layers"])
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    rows = [[r["name"], r["op"], dims(r["weight_shape"]), r["groups"], dims(r["output_shape"]),
             f"{r['params']:,}", f"{r['macs']:,}", f"{100 * r['mac_share']:.1f}%"]
            for r in summary["layers"]]
    t = summary["totals"]
    rows.append(["total", "", "", "", "", f"{t['params']:,}", f"{t['macs']:,}", "100.0%"])
    print(f"{summary['model']}: {t['layers']} compute layers, input {dims(summary['input_shape'])}")
    print(format_table(["layer (weight)", "op", "weight shape", "groups", "output", "weights",
                        "MACs", "share"], rows, right={3, 5, 6, 7}))
    print(f"MACs: {MAC_CONVENTION}.")
    return 0


def write_csv(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for r in records:
            writer.writerow({**r, **{k: dims(r[k]) for k in ("weight_shape", "input_shape", "output_shape")}})
