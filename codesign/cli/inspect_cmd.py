"""`codesign inspect MODEL`: per-layer table of shapes, weights and MACs, and the coverage."""
from __future__ import annotations

import json
import sys

from codesign.cli.common import add_model_args, check_outputs, dims, format_table, load_model_arg, one_line


def register(sub) -> None:
    from codesign.inspect import MAC_CONVENTION
    p = sub.add_parser("inspect", help="per-layer shapes, weights and MACs of a model",
                       description="Import an ONNX model and print every op that multiplies (Conv, "
                                   "ConvTranspose, Gemm, MatMul, Einsum, LSTM/GRU/RNN gates, "
                                   "attention products, quantized convs and matmuls, onnxruntime's "
                                   "MatMulNBits and fused attention): weight shape, "
                                   "groups, output shape, weights, MACs, MAC share, and the share of "
                                   "the model's MACs that is modeled. "
                                   + MAC_CONVENTION[0].upper() + MAC_CONVENTION[1:] + ".")
    add_model_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    p.add_argument("--csv", metavar="PATH", help="also write the table as CSV to PATH")
    p.set_defaults(func=run)


def warn_coverage(network) -> None:
    """One line on stderr when part of the model's arithmetic is not modeled (every command
    that reports costs calls this)."""
    from codesign.inspect import coverage_warning
    warning = coverage_warning(network.coverage_dict())
    if warning:
        print(f"codesign: warning: {one_line(warning)}", file=sys.stderr)


def coverage_lines(network) -> list[str]:
    """The coverage sentence and the importer's notes (If branches, loops, shared weights)."""
    from codesign.inspect import coverage_text
    return [coverage_text(network.coverage_dict())] + [f"note: {n}" for n in network.notes]


def run(args) -> int:
    from codesign.inspect import MAC_CONVENTION, network_summary, write_csv
    check_outputs(args, files=("csv",))
    network = load_model_arg(args)
    warn_coverage(network)
    summary = network_summary(network)
    if args.csv:
        write_csv(args.csv, summary["layers"])
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    rows = [[r["name"], r["op"], _weight_cell(r), r["groups"], dims(r["output_shape"]),
             f"{r['params']:,}" if r["prunable"] else "-", f"{r['macs']:,}", f"{100 * r['mac_share']:.1f}%"]
            for r in summary["layers"]]
    t = summary["totals"]
    rows.append(["total", "", "", "", "", f"{t['params']:,}", f"{t['macs']:,}", "100.0%"])
    shapes = ", ".join(f"{k} {dims(v) or 'scalar'}" for k, v in summary["inputs"].items())
    print(f"{summary['model']}: {t['layers']} compute layers, inputs {shapes}")
    print(format_table(["layer (weight)", "op", "weight shape", "groups", "output", "weights",
                        "MACs", "share"], rows, right={3, 5, 6, 7}))
    marks = _legend(summary["layers"])
    print("\n".join(marks + coverage_lines(network) + [f"MACs: {MAC_CONVENTION}."]))
    if args.csv:
        print(f"table: {args.csv}")
    return 0


def _weight_cell(record: dict) -> str:
    if not record["prunable"]:
        return "(activations)"
    cell = dims(record["weight_shape"]) or "-"
    if len(record["uses"]) > 1:
        cell += f" x{len(record['uses'])} uses"
    if record["repeat"] != 1:
        cell += f" x{record['repeat']:,} iter"
    return cell


def _legend(records: list[dict]) -> list[str]:
    from codesign.inspect import NO_WEIGHT
    lines = []
    if any(not r["prunable"] for r in records):
        lines.append(f"(activations): {NO_WEIGHT}; costed as dense work")
    if any(len(r["uses"]) > 1 for r in records):
        lines.append("xN uses: one stored weight serving N nodes: stored once, costed per use")
    if any(r["repeat"] != 1 for r in records):
        lines.append("xN iter: inside a Loop/Scan body: costed once per iteration")
    return lines
