"""Per-layer description of a Network as plain records (the inspect command's data), and the
coverage statement every command prints: the share of the model's MACs that is modeled."""
from __future__ import annotations

from typing import TYPE_CHECKING

from codesign.report.fmt import percent

if TYPE_CHECKING:                       # the CLI reads MAC_CONVENTION before any model is loaded
    from codesign.graph import Network

MAC_CONVENTION = ("one multiply-add = one MAC (paper 001 Table 8 counts the multiply and the add "
                  "separately: multiply by 2 to compare)")
NO_WEIGHT = "multiplies two activations: no weight to prune"


def layer_records(network: Network) -> list[dict]:
    total = network.total_macs or 1
    bits = network.weight_bits()
    records = []
    for layer in network.layers:
        s = layer.shape
        records.append({
            "name": layer.name, "op": layer.op, "node": layer.node, "uses": list(layer.uses),
            "prunable": s.prunable, "weight_shape": list(layer.weight_shape),
            "weight_source": layer.weight_source, "weight_bits": bits[layer.name] if s.prunable else None,
            "stored_bits": layer.stored_bits,
            "groups": s.groups, "depthwise": s.is_depthwise, "repeat": layer.attributes.get("repeat", 1),
            "kernel": list(s.kernel), "stride": list(s.stride), "dilation": list(s.dilation),
            "pads": list(s.pads), "bias": layer.bias,
            "input_shape": list(layer.input_shape), "output_shape": list(layer.output_shape),
            "params": layer.params, "macs": layer.macs, "mac_share": layer.macs / total,
            "input_elements": s.in_elements, "output_elements": s.out_elements,
        })
    return records


def write_csv(path, records: list[dict]) -> None:
    import csv
    import io

    from pruning.safe_files import write_file
    fields = ["name", "op", "weight_shape", "groups", "input_shape", "output_shape", "params",
              "macs", "mac_share", "input_elements", "output_elements", "prunable", "weight_bits"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows({k: "x".join(map(str, v)) if isinstance(v, list) else v for k, v in r.items()}
                     for r in records)               # shapes as 256x48x5x5, as on screen
    write_file(path, buf.getvalue())


def network_summary(network: Network) -> dict:
    return {
        "model": network.name,
        "inputs": {name: list(shape) for name, shape in network.inputs.items()},
        "input_shape": list(network.input_shape),
        "mac_convention": MAC_CONVENTION,
        "layers": layer_records(network),
        "totals": {"layers": len(network.layers), "params": network.total_params,
                   "macs": network.total_macs, "coverage": network.coverage_dict()},
    }


def share_text(coverage: dict) -> str:
    """The share of the model's MACs modeled, for people: 100% only when every node that
    multiplies is modeled; 'below 100%' when some of them cost an unknown number of MACs."""
    share = coverage["share"]
    if share is None or (share >= 1 and not coverage.get("complete", True)):
        return "below 100%"
    return percent(share)


def coverage_text(coverage: dict) -> str:
    """One sentence: how much of the model is modeled and what is not."""
    if coverage["share"] is None:
        text = (f"coverage: {share_text(coverage)} of the model's MACs modeled ({coverage['macs_modeled']:,} "
                f"modeled; {_unknown(coverage)} at an unknown cost)")
    else:
        text = f"coverage: {share_text(coverage)} of the model's {coverage['macs_total']:,} MACs modeled"
    gaps = coverage["unmodeled"]
    if gaps:
        shown = "; ".join(f"{g['op']} {g['node']!r} ({_macs(g['macs'])}: {g['reason']})" for g in gaps[:3])
        text += f"; not modeled: {shown}" + (f"; ... {len(gaps) - 3} more" if len(gaps) > 3 else "")
    return text


def coverage_warning(coverage: dict) -> str | None:
    """The warning when part of the model's arithmetic is missing from the numbers, else None."""
    gaps = coverage["unmodeled"]
    if not gaps:
        return None
    unknown = sum(g["macs"] is None for g in gaps)
    first = gaps[0]
    if coverage["share"] is None:
        what = "only part of the model's MACs are modeled"
    elif coverage["share"] < 1:
        what = f"only {share_text(coverage)} of the model's MACs are modeled"
    else:
        what = "the model's MACs may be under-counted"
    return (f"{what}: {len(gaps)} node{'s' * (len(gaps) > 1)} not modeled"
            + (f" ({unknown} of unknown cost)" if unknown else "")
            + f", e.g. {first['op']} {first['node']!r}: {first['reason']} (`codesign inspect` lists them)")


def partial_totals(coverage: dict) -> str | None:
    """The line a cost command prints under its totals when they leave out work that
    multiplies, else None."""
    if coverage.get("complete", True):
        return None
    gaps = [g for g in coverage["unmodeled"] if g.get("multiplies", True)]
    known = sum(g["macs"] or 0 for g in gaps)
    cost = f"~{known:,} MACs" + (" and more of unknown number" if any(g["macs"] is None for g in gaps) else "") \
        if known else "MACs of unknown number"
    return (f"totals are partial: {len(gaps)} node{'s' * (len(gaps) > 1)} that multipl{'ies' if len(gaps) == 1 else 'y'} "
            f"({cost}, e.g. {gaps[0]['op']} {gaps[0]['node']!r}) are not modeled, and their latency, energy "
            "and storage are not in the totals")


def _unknown(coverage: dict) -> str:
    n = sum(g["macs"] is None and g.get("multiplies", True) for g in coverage["unmodeled"])
    return f"{n} node{'s' * (n > 1)} that multipl{'ies' if n == 1 else 'y'}"


def _macs(macs) -> str:
    return "MACs unknown" if macs is None else f"~{macs:,} MACs"
